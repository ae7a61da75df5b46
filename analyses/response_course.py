"""How the response to a dexamethasone pulse runs its course in the model (docs/validation.md).

For the shipped calibrated set, on the virtual patients of Cheng 2003 (fitted) and Yu 2020
(validation only; nothing here feeds a fit), takes the patients with a count of at least 50 on
day 7 and prints, on days 7 to the end of follow-up, their median count, the fraction at 50 or
more, and the medians of the two states that carry the effect: the antibody (relative to
untreated, turning over with IgG's 21-day half-life) and the macrophage clearance capacity (the
acute effect, back within days).  Then the fraction of those patients below 50 on day 42 and at
50 or more on day 120 (a dip between the acute and the durable effect), and the fractions at 100
or more on single days, next to the trial's complete and sustained complete response.

    python analyses/response_course.py [--n 2000]
"""

from __future__ import annotations

import numpy as np
from _common import arguments

import pdmodel as pm
from pdmodel import trials

DAYS = (7, 14, 21, 28, 42, 56, 90, 120, 150)
TRIALS = ("cheng2003", "yu2020_dexamethasone")


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__, argv, n=2000)
    params = pm.calibrated_parameters()
    for name in TRIALS:
        report(trials.load(name), params, args.n)


def report(trial: trials.Trial, params: pm.ParameterSet, n: int) -> None:
    """Print the course of one single-arm trial's responders."""
    arm = trial.arms[0]
    end = trial.endpoints.followup
    pop = trials.enrol(trial, params, n, 1)
    res = pm.simulate(pop, arm.regimen, end, observables=["platelets", "antibody", "macrophage"])

    def at(key: str, day: float) -> np.ndarray:
        return np.asarray(res[key][int(np.flatnonzero(res.times == day)[0])])

    responders = at("platelets", 7.0) >= 50.0
    print(f"{trial.id} ({trial.role}), {n} patients: {responders.mean():.3f} at >= 50 on day 7")
    print("  day  median  >= 50  antibody  macrophage")
    for day in (*DAYS, end):
        plt = at("platelets", day)[responders]
        print(
            f"  {day:3g}  {np.median(plt):6.0f}  {np.mean(plt >= 50.0):5.2f}  "
            f"{np.median(at('antibody', day)[responders]):8.2f}  "
            f"{np.median(at('macrophage', day)[responders]):10.2f}"
        )
    dip = (at("platelets", 42.0) < 50.0) & (at("platelets", 120.0) >= 50.0)
    print(
        f"  below 50 on day 42, >= 50 on day 120: {dip[responders].mean():.3f} of them; "
        "at >= 100 on day "
        + ", ".join(f"{d:g}: {np.mean(at('platelets', d) >= 100.0):.3f}" for d in (14, 56, end))
        + " (all patients)"
    )
    summary = trials.simulate_trial(trial, params, n, 1)
    got = summary.summaries[arm.name]
    print(
        f"  complete response {got['complete_response'].value:.3f}, sustained complete "
        f"response {got['sustained_complete_response'].value:.3f}\n"
    )


if __name__ == "__main__":
    main()
