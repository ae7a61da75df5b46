"""Why Wu 2016's antibody-positivity finding stays in tension (docs/calibration.md).

For the shipped calibrated set, on Wu 2016's virtual patients (its entry criterion, its two
regimens), prints per arm the antibody-positive fraction before treatment and on day 14 (the
trial file's "after treatment" day), the median ratio day 14 / day 0 of the antibody level, of
the antibody per platelet the assay reads, and of the platelet residence time (count over
production: what an assay reading less IgG on younger platelets would follow); then the
probability that a replicate trial of 40 vs 40 finds the day-14 difference significant
(Pearson chi-square, two-sided 0.05) and the control-arm rate's partner that would give 50%.

Then asks how fast the antibody would have to turn over: the same on 1,000 of Wu 2016's patients
(or `--n`, if smaller) with the antibody's elimination half-life shortened from IgG's 21 days
(``ab_kdeg``, sourced) to 10, 5 and 2.5 days, everything else at the shipped values (no refit),
with the arms' median day-14 platelet counts.  The table's upper bound of ``ab_kdeg`` (0.1/day,
a 6.9-day half-life) is widened for this probe only.  Last, the same for a stronger dilution of
antibody among platelets: ``ab_kp`` (assumed, prior log-normal around 50 x10^9/L with log-SD 1,
fixed in the fit) at 25, 10 and 5 x10^9/L.

Last, the one sourced route by which antibody could be eliminated faster than IgG's turnover:
antibody bound to platelets is cleared with them (target-mediated elimination, the antigen sink
of Hansen & Balthasar's rat model).  Its largest possible extra elimination rate is the bound
fraction times the platelets' clearance rate, ``plt / (plt + K) / lifespan``, with ``K`` the
platelet count whose antigen binds half the antibody (from the only sourced affinity and site
density, those of the anti-GPIIb/IIIa monoclonal 7E3 in rats) and every antibody molecule in
plasma (an upper bound: IgG also distributes outside plasma, where platelets are not).  The
script averages that rate over each patient's days 0-14, and reruns each arm with ``ab_kdeg``
raised by its arm's median.

    python analyses/antibody_tension.py [--n 2000]
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from _common import arguments
from scipy.integrate import trapezoid
from scipy.optimize import brentq

import pdmodel as pm
from pdmodel import stats, trials
from pdmodel.parameters import ParameterTable

HALF_LIVES = (21.0, 10.0, 5.0, 2.5)
AB_KP = (25.0, 10.0, 5.0)
#: Affinity (1/M) and sites per platelet of 7E3, anti-GPIIb/IIIa, in rats (Hansen & Balthasar,
#: J Pharmacol Exp Ther: 1.2e7 /M, 3.3e4 sites/platelet).
SINK_AFFINITY = 1.2e7
SINK_SITES = 3.3e4
AVOGADRO = 6.02214076e23


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__, argv, n=2000)
    params = pm.calibrated_parameters()
    wu = trials.load("wu2016")
    day = wu.endpoints.after_day
    pop = trials.enrol(wu, params, args.n, 1)
    observables = ["platelets", "production", "antibody", "paigg", "ab_positive"]
    after: dict[str, float] = {}
    for arm in wu.arms:
        res = pm.simulate(pop, arm.regimen, day, observables=observables)
        last = int(np.flatnonzero(res.times == day)[0])
        residence = (res["platelets"] / res["production"])[[0, last]]
        ratio = {
            name: float(np.median(v[1] / v[0]))
            for name, v in (
                ("antibody", res["antibody"][[0, last]]),
                ("per platelet", res["paigg"][[0, last]]),
                ("residence", residence),
            )
        }
        after[arm.name] = float(res["ab_positive"][last].mean())
        print(
            f"{arm.name}: antibody-positive {res['ab_positive'][0].mean():.3f} before, "
            f"{after[arm.name]:.3f} on day {day:g}; median day-{day:g}/day-0 ratio: antibody "
            f"{ratio['antibody']:.3f}, antibody per platelet {ratio['per platelet']:.3f}, "
            f"platelet residence time {ratio['residence']:.3f}"
        )
    control, treated = (after[a.name] for a in wu.arms)
    n = (wu.arms[0].n, wu.arms[1].n)
    power = stats.power_rates(control, treated, n[0], n[1])
    needed = brentq(lambda p: stats.power_rates(control, p, n[0], n[1]) - 0.5, 1e-6, control)
    print(
        f"replicate trial {n[0]} vs {n[1]}: P(significant, right direction) = {power:.2f}; "
        f"50% needs the treated arm at {needed:.3f} against {control:.3f}"
    )
    n_probe = min(args.n, 1000)
    table = params.table
    rows = [dataclasses.replace(r, upper=1.0) if r.name == "ab_kdeg" else r for r in table.values()]
    probe = params.model.replace(name="itp_v2_ab_turnover_probe", table=ParameterTable(rows))
    base = params.with_model(probe)
    print(f"\nfaster antibody turnover, shipped set otherwise ({n_probe} patients, day {day:g}):")
    for half in HALF_LIVES:
        probe_row(
            base.replace(ab_kdeg=math.log(2.0) / half), wu, n_probe, f"half-life {half:4.1f} d"
        )
    print(
        f"\nstronger dilution among platelets, shipped set otherwise (ab_kp {params['ab_kp']:g}):"
    )
    for kp in AB_KP:
        probe_row(params.replace(ab_kp=kp), wu, n_probe, f"ab_kp {kp:4.1f} x10^9/L")
    antigen_sink(base, wu, n_probe)


def antigen_sink(base: pm.ParameterSet, wu: trials.Trial, n: int) -> None:
    """Print the upper bound of target-mediated antibody elimination and its effect."""
    day = wu.endpoints.after_day
    half_bound = AVOGADRO / (SINK_AFFINITY * SINK_SITES) / 1e9  # 10^9 platelets/L
    pop = trials.enrol(wu, base, n, 1)
    extra: dict[str, float] = {}
    for arm in wu.arms:
        res = pm.simulate(pop, arm.regimen, day, observables=["platelets", "lifespan"])
        keep = res.times <= day
        rate = res["platelets"] / (res["platelets"] + half_bound) / res["lifespan"]
        mean = trapezoid(rate[keep], res.times[keep], axis=0) / day
        extra[arm.name] = float(np.median(mean))
    kdeg = base["ab_kdeg"]
    print(
        f"\nantigen sink (7E3 affinity and sites, all antibody in plasma): half the antibody "
        f"bound at {half_bound:.0f} x10^9/L; median extra elimination over days 0-{day:g}: "
        + ", ".join(f"{a} {r:.4f} /day ({r / kdeg:.0%} of ab_kdeg)" for a, r in extra.items())
    )
    arm_params = {a: base.replace(ab_kdeg=kdeg + r) for a, r in extra.items()}
    probe_row(arm_params, wu, n, "with that sink")


def probe_row(
    p: pm.ParameterSet | dict[str, pm.ParameterSet], wu: trials.Trial, n: int, label: str
) -> None:
    """Print day-14 positivity per arm, the replicate probability and median platelets
    (`p`: one parameter set, or one per arm name; the patients are the same)."""
    day = wu.endpoints.after_day
    by_arm = p if isinstance(p, dict) else {arm.name: p for arm in wu.arms}
    rate, plt = {}, {}
    for arm in wu.arms:
        pop = trials.enrol(wu, by_arm[arm.name], n, 1)
        res = pm.simulate(pop, arm.regimen, day, observables=["platelets", "ab_positive"])
        last = int(np.flatnonzero(res.times == day)[0])
        rate[arm.name] = float(res["ab_positive"][last].mean())
        plt[arm.name] = float(np.median(res["platelets"][last]))
    control, treated = (rate[a.name] for a in wu.arms)
    power = stats.power_rates(control, treated, wu.arms[0].n, wu.arms[1].n)
    print(
        f"  {label}: positive {control:.3f} vs {treated:.3f}, P(replicate) "
        f"{power:.2f}; median platelets {plt[wu.arms[0].name]:.0f} vs "
        f"{plt[wu.arms[1].name]:.0f} x10^9/L"
    )


if __name__ == "__main__":
    main()
