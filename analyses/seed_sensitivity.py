"""Monte-Carlo error of the shipped calibration: how much the virtual population matters.

The fit draws its virtual patients once from a seed (common random numbers, 300 per arm), so
the estimate carries a Monte-Carlo error on top of the statistical one.  This script

1. evaluates the objective at the shipped estimate under other population seeds;
2. refits from the shipped estimate under seeds 2 and 3 (one local fit each, the shipped
   settings otherwise) and compares the estimates with the shipped one, in units of the
   shipped standard error on the log scale;
3. scores each refit on Wu 2016 with 2,000 virtual patients per arm (seed 1, as
   ``pdmodel reproduce``): P(replicate) of every finding.

About 2 minutes on a 2-core machine (docs/calibration.md, "Monte-Carlo error").

    python analyses/seed_sensitivity.py
"""

from __future__ import annotations

import math
import time

import numpy as np
from _common import arguments

from pdmodel import calibration as cal
from pdmodel.parameters import ParameterSet
from pdmodel.shipped import shipped_fit
from pdmodel.trials import load, simulate_trial

REFIT_SEEDS = (2, 3)


def _replicate_probabilities(params: ParameterSet, n: int) -> dict[str, float]:
    result = simulate_trial(load("wu2016"), params, n_per_arm=n, seed=1, progress=False)
    return {
        r.finding.describe(): r.probability
        for r in result.findings
        if r.probability is not None and math.isfinite(r.probability)
    }


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__, argv, n=2000, fit_n=0, max_nfev=400, seeds=8)
    shipped = shipped_fit()
    prov = shipped.provenance
    fit_n = args.fit_n or prov["n_per_arm"]
    objective_seeds = range(1, args.seeds + 1)
    designs = [load(t) for t in cal.DEFAULT_TRIALS]
    print(f"shipped estimate: -2 log posterior {shipped.objective:.2f} at seed {prov['seed']}")

    values = []
    for seed in objective_seeds:
        obj = cal.Objective(designs, shipped.params, shipped.free, n_per_arm=fit_n,
                            seed=seed)  # fmt: skip
        values.append(obj(shipped.params))
    print("objective at the shipped estimate, seeds "
          f"{objective_seeds.start}-{objective_seeds.stop - 1}: "
          + ", ".join(f"{v:.2f}" for v in values)
          + f"  (mean {np.mean(values):.2f}, SD {np.std(values, ddof=1):.2f})")  # fmt: skip

    fits = {}
    for seed in REFIT_SEEDS:
        t0 = time.perf_counter()
        fits[seed] = cal.fit(None, params=shipped.params, free=shipped.free, n_per_arm=fit_n,
                             seed=seed, max_nfev=args.max_nfev, workers=2,
                             progress=False)  # fmt: skip
        print(f"refit at seed {seed}: -2 log posterior {fits[seed].objective:.2f}, "
              f"{fits[seed].nfev} evaluations, {time.perf_counter() - t0:.0f} s")  # fmt: skip

    print("\nparameter        shipped   " + "".join(f"seed {s}".ljust(20) for s in REFIT_SEEDS))
    print(" " * 27 + "estimate (shift / shipped SE of ln estimate)")
    for name in shipped.free:
        est = shipped.params[name]
        se_log = shipped.stderr[name] / est
        cells = []
        for seed in REFIT_SEEDS:
            v = fits[seed].params[name]
            cells.append(f"{v:.3g} ({math.log(v / est) / se_log:+.2f})".ljust(20))
        print(f"{name:<16} {est:<10.3g}" + "".join(cells))

    print("\nP(replicate 40 vs 40), Wu 2016, 2,000 virtual patients per arm")
    rows = {"shipped": _replicate_probabilities(shipped.params, args.n)}
    for seed in REFIT_SEEDS:
        rows[f"seed {seed}"] = _replicate_probabilities(fits[seed].params, args.n)
    print("finding".ljust(60) + "".join(k.ljust(10) for k in rows))
    for label in rows["shipped"]:
        print(label[:58].ljust(60) + "".join(f"{r[label]:<10.2f}" for r in rows.values()))


if __name__ == "__main__":
    main()
