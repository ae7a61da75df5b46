"""Population engine benchmark (printed, not asserted).

10,000 virtual patients x 180 days of prednisone 1 mg/kg/day x 28 days + 28-day taper and
rhIL-11 50 ug/kg/day x 14 days stopped once platelets >= 100 x 10^9/L.  Prints wall time and ms
per patient for the compiled engine (in this process on every CPU's thread, on one thread, and
over a 2-process pool of one thread each; best of 3 each), the generated kernel against the
hand-written kernel of version 0.1 it replaced (benchmarks/handwritten_kernel.py, on the
version 1 model it implements; same patients, same tolerances, best of 5 alternating runs), for a
per-patient scipy.integrate.solve_ivp loop on a sample of the same patients at the same
tolerances, and the per-patient speed ratio, all measured in this one run.

    python benchmarks/population.py [--n 10000] [--sample 20] [--method RK45] [--memory 100000]

With ``--memory N`` it also simulates N patients keeping only daily platelet counts and prints
the process's peak resident memory (design target: 100,000 patients under 2 GB).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import pdmodel as pm
from pdmodel.solver import process_pool


def _best_of_3(run):  # type: ignore[no-untyped-def]
    """(result, best wall time) of three calls of `run` (a single run of this shared machine
    varied by 1.2x against the best of three)."""
    best, out = float("inf"), None
    for _ in range(3):
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
    return out, best


def _step_savers(pop: pm.Population, reg: pm.Regimen, days: float) -> None:
    """Steps and time with and without the engine's step savers (closed-form effect site,
    output times inside steps), side by side, best of 3 alternating, 1 thread."""
    from pdmodel import solver

    configs = {
        "neither (the engine before issue 21)": (False, False),
        "closed-form effect site": (True, False),
        "closed form + outputs inside steps (default)": (True, True),
    }
    best = dict.fromkeys(configs, float("inf"))
    out: dict[str, pm.SimulationResult] = {}
    pm.set_threads(1)
    try:
        for rnd in range(3):
            for label in list(configs)[:: 1 if rnd % 2 else -1]:
                solver._CLOSED_FORM, solver._DENSE_OUTPUT = configs[label]
                t0 = time.perf_counter()
                out[label] = pm.simulate(pop, reg, days, observables=["platelets"])
                best[label] = min(best[label], time.perf_counter() - t0)
    finally:
        solver._CLOSED_FORM = solver._DENSE_OUTPUT = True
        pm.set_threads(None)
    ref = out["closed form + outputs inside steps (default)"]["platelets"]
    print(f"step savers ({len(pop)} patients, 1 thread, best of 3 alternating):")
    for label in configs:
        d = out[label].diagnostics
        diff = np.max(np.abs(out[label]["platelets"] - ref) / ref)
        print(
            f"  {label}: {d.n_steps.mean():.0f} accepted + {d.n_rejected.mean():.0f} rejected "
            f"steps/patient, {best[label]:.2f} s (platelets within {diff:.1e} of the default)"
        )


def _where_steps_go(pop: pm.Population, reg: pm.Regimen, days: float) -> None:
    """Accepted steps per patient in each part of the regimen, and which state's error sets
    the step size there (issue 21, deliverable 1)."""
    import collections

    from scipy.integrate import RK45

    bounds = [(0.0, 14.0, "prednisone + rhIL-11 (days 0-14)"),
              (14.0, 28.0, "prednisone (days 14-28)"), (28.0, 56.0, "taper (days 28-56)"),
              (56.0, days, f"drug-free (days 56-{days:g})")]  # fmt: skip
    print(f"where the steps go ({len(pop)} patients; accepted steps per patient in each part):")
    before = 0.0
    for _, end, label in bounds:
        steps = pm.simulate(pop, reg, end, observables=["platelets"]).diagnostics.n_steps.mean()
        part = steps - before
        print(f"  {label}: {part:.0f} steps ({part / (end - _):.1f} per day)")
        before = steps
    # Which state's error limits the step: scipy's RK45 (the same Dormand-Prince pair) on a few
    # patients, with the closed-form effect site left out of the error norm as the engine
    # leaves it out; every output a step end, so indicative only.
    model = pop.params.model
    skip = [model.state_names.index(s) for s in model.exact_states]
    counts: collections.Counter[str] = collections.Counter()
    original = RK45._estimate_error_norm

    def norm(self, K, h, scale):  # type: ignore[no-untyped-def]
        ratio = self._estimate_error(K, h) / scale
        ratio[skip] = 0.0
        counts[model.state_names[int(np.argmax(np.abs(ratio)))]] += 1
        return float(np.linalg.norm(ratio) / np.sqrt(ratio.size - len(skip)))

    RK45._estimate_error_norm = norm  # type: ignore[method-assign]
    try:
        pm.simulate(pop[:5], reg, 56.0, observables=["platelets"], method="RK45")
    finally:
        RK45._estimate_error_norm = original  # type: ignore[method-assign]
    total = sum(counts.values())
    shares = ", ".join(f"{k} {v / total:.0%}" for k, v in counts.most_common(4))
    print(f"  state with the largest error in each step, days 0-56 (RK45, 5 patients): {shares}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=10_000, help="patients for the engine")
    ap.add_argument("--sample", type=int, default=20, help="patients for the solve_ivp loop")
    ap.add_argument("--method", default="RK45", help="solve_ivp method of the loop")
    ap.add_argument("--days", type=float, default=180.0)
    ap.add_argument("--memory", type=int, default=0, help="patients for the memory check")
    ap.add_argument("--savers", type=int, default=2000, help="patients for the step savers A/B")
    ap.add_argument(
        "--rr", type=int, default=50, help="patients for the libroadrunner loop (0: skip)"
    )
    ap.add_argument("--jax", type=int, default=200, help="patients for the JAX backend (0: skip)")
    args = ap.parse_args()

    params = pm.default_parameters()
    reg = pm.regimens.prednisone(mg_per_kg=1.0, days=28, taper_days=28) + pm.regimens.il11(
        ug_per_kg=50, days=14, stop_if_platelets_above=100
    )
    pop = pm.Population.sample(args.n, params, seed=2026)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"numpy {np.__version__}"
    )
    print("regimen:\n  " + reg.describe().replace("\n", "\n  "))

    pm.simulate(pop[:50], reg, args.days)  # warm-up (imports, compiled-code cache)
    threads = pm.get_threads()
    res, engine = _best_of_3(lambda: pm.simulate(pop, reg, args.days, observables=["platelets"]))
    d = res.diagnostics
    print(
        f"engine (dopri5, 1 process, {threads} threads): {args.n} patients x {args.days:g} days "
        f"in {engine:.2f} s = {1e3 * engine / args.n:.3f} ms/patient; rtol {d.rtol:g}, "
        f"{d.n_steps.mean():.0f} accepted + {d.n_rejected.mean():.0f} rejected steps/patient"
    )
    pm.set_threads(1)
    try:
        res1, single = _best_of_3(
            lambda: pm.simulate(pop, reg, args.days, observables=["platelets"])
        )
    finally:
        pm.set_threads(None)
    print(
        f"engine (dopri5, 1 process, 1 thread): {single:.2f} s = "
        f"{1e3 * single / args.n:.3f} ms/patient (threads gain {single / engine:.2f}x; results "
        f"identical: {np.array_equal(res['platelets'], res1['platelets'])})"
    )
    with process_pool(2) as ex:
        pm.simulate(pop[:4], reg, 5.0, executor=ex)  # start the workers
        res2, pooled = _best_of_3(
            lambda: pm.simulate(
                pop,
                reg,
                args.days,
                observables=["platelets"],
                executor=ex,
                chunk_size=-(-args.n // 2),
            )
        )
    same = np.array_equal(res["platelets"], res2["platelets"])
    print(
        f"engine (dopri5, 2 processes of 1 thread): {pooled:.2f} s = "
        f"{1e3 * pooled / args.n:.3f} ms/patient (results identical: {same})"
    )
    _step_savers(pop[: args.savers], reg, args.days)
    _where_steps_go(pop[: args.savers], reg, args.days)

    # the generated kernel against the hand-written one it replaced: alternating, each first in
    # every other round (the order of two runs alone biases them by ~10%), best of 5
    from handwritten_kernel import adapter

    from pdmodel.model import kernel as generated

    # the hand-written kernel implements version 1: compare on the version 1 model
    v1 = params.with_model(pm.model.model_v1())
    pop_v1 = pm.Population.sample(args.n, v1, seed=2026)
    model = v1.model
    pm.simulate(pop_v1[:50], reg, args.days)  # compile the version 1 kernel
    kernels = {"generated": generated._COMPILED[model.key], "hand-written": adapter(model)}
    times: dict[str, float] = dict.fromkeys(kernels, float("inf"))
    outs = {}
    from pdmodel import solver

    solver._DENSE_OUTPUT = False  # (the v0.1 kernel ends a step at every output time)
    try:
        for rnd in range(10):
            for label in list(kernels)[:: 1 if rnd % 2 else -1]:
                generated._COMPILED[model.key] = kernels[label]
                t0 = time.perf_counter()
                outs[label] = pm.simulate(pop_v1, reg, args.days, observables=["platelets"])
                times[label] = min(times[label], time.perf_counter() - t0)
    finally:
        generated._COMPILED[model.key] = kernels["generated"]
        solver._DENSE_OUTPUT = True
    diff = np.max(
        np.abs(outs["generated"]["platelets"] - outs["hand-written"]["platelets"])
        / outs["hand-written"]["platelets"]
    )
    print(
        f"generated kernel {times['generated']:.2f} s vs hand-written kernel of v0.1 "
        f"{times['hand-written']:.2f} s ({threads} threads, same patients and tolerances, every "
        f"output a step boundary): "
        f"speed ratio {times['hand-written'] / times['generated']:.3f} (target >= 0.95); max "
        f"relative platelet difference {diff:.1e}"
    )

    sample = pop[: args.sample]
    t0 = time.perf_counter()
    ref = pm.simulate(sample, reg, args.days, observables=["platelets"], method=args.method)
    loop = time.perf_counter() - t0
    per_loop = 1e3 * loop / args.sample
    per_engine = 1e3 * engine / args.n
    err = np.max(np.abs(ref["platelets"] - res["platelets"][:, : args.sample]) / ref["platelets"])
    print(
        f"per-patient solve_ivp loop ({args.method}, same rtol/atol, same event loop): "
        f"{args.sample} patients in {loop:.2f} s = {per_loop:.1f} ms/patient "
        f"(max relative platelet difference to the engine {err:.1e})"
    )
    print(
        f"speed-up per patient: {per_loop / per_engine:.0f}x ({threads} threads), "
        f"{per_loop / (1e3 * single / args.n):.0f}x (1 thread), "
        f"{per_loop / (1e3 * pooled / args.n):.0f}x (2 processes)"
    )
    try:
        from vs_roadrunner import roadrunner_loop
    except ImportError:
        print("libroadrunner: not installed (pip install 'pdmodel[sbml]'), not compared")
    else:
        if args.rr > 0:
            rr_pop = pop[: args.rr]
            rr_time, rr_plt = roadrunner_loop(params, rr_pop, reg, args.days)
            rr_err = np.max(np.abs(rr_plt - res["platelets"][:, : args.rr]) / rr_plt)
            per_rr = 1e3 * rr_time / args.rr
            print(
                f"libroadrunner on the exported SBML, patient by patient (same patients and "
                f"tolerances): {per_rr:.2f} ms/patient; the engine is "
                f"{per_rr / per_engine:.0f}x ({threads} threads), "
                f"{per_rr / (1e3 * single / args.n):.0f}x (1 thread) faster "
                f"(max relative platelet difference {rr_err:.1e})"
            )
    from pdmodel import accel

    if not accel.available():
        print("JAX backend: JAX not installed (pip install 'pdmodel[jax]'), not timed")
    elif args.jax > 0:
        jpop = pop[: args.jax]
        pm.simulate(jpop[:2], reg, 3.0, method="jax")  # compile
        t0 = time.perf_counter()
        jres = pm.simulate(jpop, reg, args.days, observables=["platelets"], method="jax")
        jtime = time.perf_counter() - t0
        jerr = np.max(
            np.abs(jres["platelets"] - res["platelets"][:, : args.jax]) / jres["platelets"]
        )
        per_jax = 1e3 * jtime / args.jax
        print(
            f"JAX backend on {accel.device_kind()} ({args.jax} patients): {per_jax:.2f} "
            f"ms/patient = {per_jax / per_engine:.1f}x the compiled engine's time per patient "
            f"(max relative platelet difference {jerr:.1e})"
        )
    print(
        "target: <= 0.5 s for 10,000 patients on 2 cores; measured "
        f"{engine * 10_000 / args.n:.2f} s ({threads} threads), "
        f"{single * 10_000 / args.n:.2f} s (1 thread), "
        f"{pooled * 10_000 / args.n:.2f} s (2 processes)"
    )
    if args.memory:
        import resource  # Unix only

        big = pm.Population.sample(args.memory, params, seed=2026)
        t0 = time.perf_counter()
        pm.simulate(big, reg, args.days, observables=["platelets"])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
        print(
            f"{args.memory} patients, daily platelets only: {time.perf_counter() - t0:.1f} s, "
            f"peak resident memory of this process {peak:.0f} MB (target < 2 GB)"
        )


if __name__ == "__main__":
    main()
