"""Why Wu 2016's antibody-positivity finding stays in tension (docs/calibration.md).

For the shipped calibrated set, on Wu 2016's virtual patients (its entry criterion, its two
regimens), prints per arm the antibody-positive fraction before treatment and on day 14 (the
trial file's "after treatment" day), the median ratio day 14 / day 0 of the antibody level, of
the antibody per platelet the assay reads, and of the platelet residence time (count over
production: what an assay reading less IgG on younger platelets would follow); then the
probability that a replicate trial of 40 vs 40 finds the day-14 difference significant
(Pearson chi-square, two-sided 0.05) and the control-arm rate's partner that would give 50%.

    python analyses/antibody_tension.py [--n 2000]
"""

from __future__ import annotations

import numpy as np
from _common import arguments
from scipy.optimize import brentq

import pdmodel as pm
from pdmodel import stats, trials


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


if __name__ == "__main__":
    main()
