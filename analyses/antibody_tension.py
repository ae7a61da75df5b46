"""Why Wu 2016's antibody-positivity finding stays in tension (docs/calibration.md).

For the shipped calibrated set, on Wu 2016's virtual patients (its entry criterion, its two
regimens), prints per arm the antibody-positive fraction before treatment and on day 14 (the
trial file's "after treatment" day), the median ratio day 14 / day 0 of the antibody level, of
the antibody per platelet the assay reads, and of the platelet residence time (count over
production: what an assay reading less IgG on younger platelets would follow); then the
probability that a replicate trial of 40 vs 40 finds the day-14 difference significant
(Pearson chi-square, two-sided 0.05) and the control-arm rate's partner that would give 50%.

Then asks how fast the antibody would have to turn over: the same on 1,000 of Wu 2016's patients
(or `--n`, if smaller) with the antibody's elimination half-life (``ab_kdeg``, estimated with a
prior centred on IgG's 21 days) set to 21 days, the estimate, 3.5 and 2 days, everything else
at the shipped values (no refit), with the arms' median day-14 platelet counts.  Then the same
for a stronger dilution of antibody among platelets: ``ab_kp`` (assumed, prior log-normal
around 50 x10^9/L with log-SD 1, fixed in the fit) at 25, 10 and 5 x10^9/L.

Last, target-mediated elimination (antibody bound to platelets is cleared with them, Hansen &
Balthasar's model): the ``platelet_sink`` variant of
:func:`pdmodel.model.antibody_elimination_variants`, patient by patient, with the shipped
values, IgG's turnover and the half-binding platelet count ``ab_sink_plt`` at the 7E3 value
and at a tenth and a thirtieth of it (10 and 30 times the affinity; no refit).

    python analyses/antibody_tension.py [--n 2000]
"""

from __future__ import annotations

import math

import numpy as np
from _common import arguments
from scipy.optimize import brentq

import pdmodel as pm
from pdmodel import stats, trials
from pdmodel.model.definition import AB_SINK_PLT_7E3

HALF_LIVES = (21.0, None, 3.5, 2.0)  # None: the estimate
AB_KP = (25.0, 10.0, 5.0)
SINK_AFFINITY_FACTORS = (1.0, 10.0, 30.0)


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
    print(f"\nantibody turnover, shipped set otherwise ({n_probe} patients, day {day:g}):")
    for half in HALF_LIVES:
        kdeg = params["ab_kdeg"] if half is None else math.log(2.0) / half
        label = f"half-life {math.log(2.0) / kdeg:4.1f} d" + (" (estimate)" if half is None else "")
        probe_row(params.replace(ab_kdeg=kdeg), wu, n_probe, label)
    print(
        f"\nstronger dilution among platelets, shipped set otherwise (ab_kp {params['ab_kp']:g}):"
    )
    for kp in AB_KP:
        probe_row(params.replace(ab_kp=kp), wu, n_probe, f"ab_kp {kp:4.1f} x10^9/L")
    sink = params.with_model(pm.model.antibody_elimination_variants()["platelet_sink"])
    igg = sink.table["ab_kdeg"].value
    print(f"\nplatelet sink, IgG's turnover, shipped set otherwise (ab_kdeg {igg:g}):")
    for factor in SINK_AFFINITY_FACTORS:
        k = AB_SINK_PLT_7E3 / factor
        probe_row(
            sink.replace(ab_kdeg=igg, ab_sink_plt=k),
            wu,
            n_probe,
            f"ab_sink_plt {k:6.0f} x10^9/L ({factor:g} x 7E3's affinity)",
        )


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
