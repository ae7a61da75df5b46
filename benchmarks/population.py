"""Population engine benchmark (printed, not asserted).

10,000 virtual patients x 180 days of prednisone 1 mg/kg/day x 28 days + 28-day taper and
rhIL-11 50 ug/kg/day x 14 days stopped once platelets >= 100 x 10^9/L.  Prints wall time and ms
per patient for the vectorised engine (in this process, and over a 2-process pool), for a
per-patient scipy.integrate.solve_ivp loop on a sample of the same patients at the same
tolerances, and the per-patient speed ratio, all measured in this one run.

    python benchmarks/population.py [--n 10000] [--sample 20] [--method RK45]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import platform
import time

import numpy as np

import pdmodel as pm


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=10_000, help="patients for the engine")
    ap.add_argument("--sample", type=int, default=20, help="patients for the solve_ivp loop")
    ap.add_argument("--method", default="RK45", help="solve_ivp method of the loop")
    ap.add_argument("--days", type=float, default=180.0)
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

    pm.simulate(pop[:50], reg, args.days)  # warm-up (imports, caches)
    t0 = time.perf_counter()
    res = pm.simulate(pop, reg, args.days, observables=["platelets"])
    engine = time.perf_counter() - t0
    d = res.diagnostics
    print(
        f"engine (dopri5, 1 process): {args.n} patients x {args.days:g} days in {engine:.2f} s "
        f"= {1e3 * engine / args.n:.3f} ms/patient; rtol {d.rtol:g}, "
        f"{d.n_steps.mean():.0f} accepted + {d.n_rejected.mean():.0f} rejected steps/patient"
    )
    from pdmodel import solver

    packing, solver._COMPACT_FRACTION = solver._COMPACT_FRACTION, 0.0
    try:
        t0 = time.perf_counter()
        res0 = pm.simulate(pop, reg, args.days, observables=["platelets"])
        unpacked = time.perf_counter() - t0
    finally:
        solver._COMPACT_FRACTION = packing
    print(
        f"  the same without re-packing the patients still stepping: {unpacked:.2f} s "
        f"(re-packing gains {unpacked / engine:.2f}x; results identical: "
        f"{np.array_equal(res['platelets'], res0['platelets'])})"
    )
    with cf.ProcessPoolExecutor(max_workers=2) as ex:
        pm.simulate(pop[:4], reg, 5.0, executor=ex)  # start the workers
        t0 = time.perf_counter()
        res2 = pm.simulate(
            pop, reg, args.days, observables=["platelets"], executor=ex, chunk_size=-(-args.n // 2)
        )
        pooled = time.perf_counter() - t0
    same = np.array_equal(res["platelets"], res2["platelets"])
    print(
        f"engine (dopri5, 2 processes): {pooled:.2f} s = {1e3 * pooled / args.n:.3f} ms/patient "
        f"(results identical to 1 process: {same})"
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
        f"speed-up per patient: {per_loop / per_engine:.0f}x (1 process), "
        f"{per_loop / (1e3 * pooled / args.n):.0f}x (2 processes)"
    )
    print(
        "target: <= 1 s for 10,000 patients; measured "
        f"{engine * 10_000 / args.n:.2f} s (1 process), "
        f"{pooled * 10_000 / args.n:.2f} s (2 processes)"
    )


if __name__ == "__main__":
    main()
