"""Calibration benchmark (printed, not asserted).

Times one objective evaluation (the default trials, all findings, smooth endpoints) at
the fit's default size (300 patients per arm) and at 2,000 per arm, next to the same work done
one arm after another (no batching of arms), reports the wall
time of the shipped calibration run from its provenance, and times one finite-difference
Jacobian of the default fit in one batch with and without arms sharing the solves of points
they cannot tell apart (decision 35).  With ``--fit`` it also runs and times
the default fit (``pdmodel.fit()``, i.e. ``pdmodel fit`` without options: one local fit from
the table's values, one process; a few minutes), with each finite-difference Jacobian
solved in one batched engine call whose arms solve only the points they can tell apart (the
default), in one call without that sharing, and point by point; with ``--emcee`` a
short emcee run on the shipped fit, batched and walker by walker; with ``--sobol`` it
times the Sobol analysis of benchmarks/analyses.py (10 parameters x 3 endpoints, n = 64,
batched).  Targets of the engine-at-the-limit issue: each <= 60 s on 2 cores.

    python benchmarks/calibration.py [--fit] [--emcee] [--sobol]
"""

from __future__ import annotations

import dataclasses
import sys
import time

import pdmodel as pm
from pdmodel import calibration as cal
from pdmodel.shipped import shipped_fit
from pdmodel.trials import load, simulate_trials


def _best_of(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _jacobian(designs: list, params: pm.ParameterSet) -> None:  # type: ignore[type-arg]
    """One finite-difference Jacobian of the default fit (21 points, 300 per arm) in one batch,
    with and without arms sharing the solves of points they cannot tell apart; best of 3,
    alternating."""
    import pdmodel.trials.simulate as sim

    obj = cal.Objective(designs, params, cal.DEFAULT_FREE, n_per_arm=300, seed=1)
    lo_hi = {n: (params.table[n].lower, params.table[n].upper) for n in cal.DEFAULT_FREE}
    points = [
        params.replace(**{n: params[n] * (1.001 if params[n] * 1.001 <= lo_hi[n][1] else 0.999)})
        for n in cal.DEFAULT_FREE
    ]
    solved: dict[bool, int] = {}
    original = sim.simulate_many

    def counting(jobs, *a, **kw):  # type: ignore[no-untyped-def]
        solved[sim._REUSE_ARMS] = sum(len(pop) for pop, _ in jobs)
        return original(jobs, *a, **kw)

    best = {True: float("inf"), False: float("inf")}
    terms = {}
    sim.simulate_many = counting
    try:
        for rnd in range(3):
            for reuse in (True, False)[:: 1 if rnd % 2 else -1]:
                sim._REUSE_ARMS = reuse
                t0 = time.perf_counter()
                terms[reuse] = obj.terms_many(points)
                best[reuse] = min(best[reuse], time.perf_counter() - t0)
    finally:
        sim.simulate_many, sim._REUSE_ARMS = original, True
    same = [[t.value for t in ts] for ts in terms[True]] == [
        [t.value for t in ts] for ts in terms[False]
    ]
    print(f"one Jacobian of the default fit ({len(points)} points, 300 per arm, one batch): "
          f"{best[True]:.2f} s solving {solved[True]:,} patient courses (arms share the points "
          f"they cannot tell apart) vs {best[False]:.2f} s solving {solved[False]:,} "
          f"({best[False] / best[True]:.2f}x; same terms: {same})")  # fmt: skip


def main() -> None:
    params = pm.default_parameters()
    designs = [load(t) for t in cal.DEFAULT_TRIALS]
    for n in (300, 2000):
        obj = cal.Objective(designs, params, cal.DEFAULT_FREE, n_per_arm=n, seed=1)
        value = obj(params)  # warm-up
        t_obj = _best_of(lambda obj=obj: obj(params))

        def one_by_one(n: int = n) -> None:
            for d in designs:
                for arm in d.arms:
                    single = dataclasses.replace(d, arms=(arm,), findings=())
                    simulate_trials([single], params, n, 1, smooth_width=0.05, daily=False,
                                    rtol=cal.CALIBRATION_RTOL, progress=False)  # fmt: skip

        t_sep = _best_of(one_by_one)
        arms = sum(len(d.arms) for d in designs)
        print(f"objective at {n} patients per arm ({len(designs)} trials, {arms} arms): "
              f"{t_obj:.2f} s "
              f"(value {value:.2f}); arms simulated one after another: {t_sep:.2f} s "
              f"(batching gains {t_sep / t_obj:.1f}x)")  # fmt: skip
        with cal.Objective(designs, params, cal.DEFAULT_FREE, n_per_arm=n, seed=1,
                           workers=2) as shared:  # fmt: skip
            same = shared(params) == value
            t_two = _best_of(lambda shared=shared: shared(params))
        print(
            f"  the same with workers=2: {t_two:.2f} s ({t_obj / t_two:.1f}x; same value: {same})"
        )
    print("targets: <= 0.5 s at the fit's default size (issue 4); <= 0.5 s at 2,000 per arm "
          "(design section 7)")  # fmt: skip
    try:
        fit = shipped_fit()
    except cal.CalibrationError:
        fit = None
    if fit is not None:
        shipped = fit.params
        obj = cal.Objective(designs, shipped, cal.DEFAULT_FREE, n_per_arm=300, seed=1)
        value = obj(shipped)
        t_obj = _best_of(lambda: obj(shipped))
        print(f"objective at 300 patients per arm at the shipped estimate (the optimum's "
              f"dynamics): {t_obj:.2f} s (value {value:.2f})")  # fmt: skip
        prov = fit.provenance
        print(
            f"shipped calibration: {prov['evaluations']} evaluations, {prov['starts']} start(s) "
            f"on {prov.get('workers', 1)} worker(s), {prov['n_per_arm']} patients per arm, "
            f"wall time {prov['wall_time_s']} s"
            + (f"; evaluations per start {prov['start_evaluations']}"
               if "start_evaluations" in prov else "")
        )  # fmt: skip
        _jacobian(designs, shipped)
    else:
        print("no shipped calibration to report")
    if "--fit" in sys.argv[1:]:
        import importlib

        fit_module = importlib.import_module("pdmodel.calibration.fit")
        sim = importlib.import_module("pdmodel.trials.simulate")
        runs = {}
        supported = fit_module._JACOBIAN_MAP  # scipy >= 1.16
        # the Jacobian's points in one engine call, sharing the solves of arms that cannot tell
        # them apart (the default); in one call without sharing; one by one
        for label, batched, reuse in (("default", True, True), ("no reuse", True, False),
                                      ("plain", False, False)):  # fmt: skip
            fit_module._JACOBIAN_MAP = batched and supported
            sim._REUSE_ARMS = reuse
            t0 = time.perf_counter()
            runs[label] = (cal.fit(progress=False), time.perf_counter() - t0)
        fit_module._JACOBIAN_MAP, sim._REUSE_ARMS = supported, True
        (default, wall) = runs["default"]
        print(f"default fit (pdmodel fit, 1 start, 1 process): {wall:.0f} s for {default.nfev} "
              f"evaluations incl. standard errors, objective {default.objective:.2f} "
              f"(target <= 60 s)")  # fmt: skip
        for label, text in (("no reuse", "the Jacobian's points in one call, every arm "
                             "solving every point"), ("plain", "the Jacobian's points one by "
                             "one")):  # fmt: skip
            other, t = runs[label]
            print(f"  {text}: {t:.0f} s ({t / wall:.2f}x; same fit: "
                  f"{other.params == default.params})")  # fmt: skip
    if "--emcee" in sys.argv[1:] and fit is not None:
        import importlib

        mcmc = importlib.import_module("pdmodel.calibration.mcmc")
        batch_map = mcmc._BatchMap
        times = {}
        chains = {}
        for label, factory in (("batched", batch_map), ("plain", lambda obj: 1)):
            mcmc._BatchMap = factory  # type: ignore[assignment]
            t0 = time.perf_counter()
            s = cal.sample(fit, steps=3, burn=1, seed=1, progress=False)
            times[label], chains[label] = time.perf_counter() - t0, s.chain.to_numpy()
        mcmc._BatchMap = batch_map
        same = bool((chains["batched"] == chains["plain"]).all())
        print(f"emcee on the shipped fit (3 steps, {2 * len(fit.free)} walkers): "
              f"{times['batched']:.1f} s with each half-ensemble in one engine call, "
              f"{times['plain']:.1f} s walker by walker ({times['plain'] / times['batched']:.2f}x;"
              f" same chain: {same})")  # fmt: skip
    if "--sobol" in sys.argv[1:]:
        import os

        from analyses import ENDPOINTS, PARAMETERS, ROOT
        from pdmodel.analysis import sensitivity

        scenario = os.path.join(ROOT, "examples", "scenarios", "prednisone_il11_50.toml")
        t0 = time.perf_counter()
        s = sensitivity(scenario, PARAMETERS, ENDPOINTS, n=64)
        print(f"Sobol, {len(PARAMETERS)} parameters x {len(ENDPOINTS)} endpoints, n = 64: "
              f"{s.n_evaluations} evaluations of 200 patients in {time.perf_counter() - t0:.1f} s "
              f"(target <= 60 s)")  # fmt: skip


if __name__ == "__main__":
    main()
