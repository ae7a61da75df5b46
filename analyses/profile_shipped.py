"""Profile likelihoods of every free parameter at the shipped calibrated set (docs/calibration.md).

Refits the other free parameters at each grid value (``pdmodel.calibration.profile``, 2 worker
processes, 60 evaluations per refit); about 15 minutes on a 2-core machine with the compiled
engine.

    python analyses/profile_shipped.py
"""

from __future__ import annotations

import time

from _common import arguments

from pdmodel import calibration as cal
from pdmodel.shipped import shipped_fit

#: grid per parameter, as factors of the estimate (None: the values given)
GRIDS: dict[str, list[float] | None] = {
    "il11_smax": [0.4, 0.64, 1.0, 1.6, 2.56],
    "il11_kpol": [0.16, 0.4, 1.0, 2.5, 6.25],
    "th1_k": [0.25, 0.5, 1.0, 2.0, 4.0],
    "gc_imax_mac": None,
    "gc_kill": [0.25, 0.5, 1.0, 2.0, 4.0],
    "k_ab": [0.25, 0.5, 1.0, 2.0, 4.0],
    "omega_k_ab": [0.25, 0.5, 1.0, 2.0, 4.0],
    "gc_ec50": [0.25, 0.5, 1.0, 2.0, 4.0],
    "omega_gc_ec50": [0.5, 0.7, 1.0, 1.4, 2.0],
    "clone_r": [0.25, 0.5, 1.0, 2.0, 4.0],
    "clone_death": [0.25, 0.5, 1.0, 2.0, 4.0],
    "il11_ec50": [0.16, 0.4, 1.0, 2.5, 6.25],
    "teff_k": [0.25, 0.5, 1.0, 2.0, 4.0],
    "ab_assay_sd": [0.25, 0.5, 1.0, 2.0, 4.0],
}
VALUES = {"gc_imax_mac": [0.8, 0.9, 0.95, 0.975]}


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__, argv, points=0, names="", max_nfev=60)
    fit = shipped_fit()
    params, objective = fit.params, fit.objective
    print(f"shipped set: -2 log posterior {objective:.2f}")
    names = args.names.split(",") if args.names else list(GRIDS)
    for name in names:
        factors = GRIDS[name]
        spec = params.table[name]
        if factors is None:
            grid = [*VALUES[name], params[name]]
        else:
            grid = [min(max(params[name] * f, spec.lower), spec.upper) for f in factors]
        t0 = time.perf_counter()
        if args.points:  # a smaller grid (smoke test)
            grid = grid[: args.points]
        rows = cal.profile(fit, name, grid, max_nfev=args.max_nfev, workers=2)
        print(f"{name} ({time.perf_counter() - t0:.0f} s)")
        for v, obj in rows:
            print(f"  {v:10.4g}  {obj:8.2f}  ({obj - objective:+.2f})")


if __name__ == "__main__":
    main()
