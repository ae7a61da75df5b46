"""Untreated platelet lifespan of the virtual population against the indium-111 measurements.

The mean lifespan of a patient's platelets at the untreated steady state is
1 / (k_sen + k_ab,i) days (senescence plus antibody x macrophage clearance at Ab = M = 1).
Louwes et al. (Br J Haematol 1999) measured two groups of ITP patients: 1.6 +/- 1.4 days (58%)
and 3.6 +/- 2.0 days (42%).  Prints the quantiles of the virtual population's lifespan for the
shipped calibrated set and the parameter table, next to the same quantiles of the two-group
mixture (each group log-normal with the published mean and SD).

    python analyses/lifespan.py [--n 20000]
"""

from __future__ import annotations

import numpy as np
from _common import arguments

import pdmodel as pm

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def _lognormal(mean: float, sd: float, n: int, rng: np.random.Generator) -> np.ndarray:
    s2 = np.log1p((sd / mean) ** 2)
    return rng.lognormal(np.log(mean) - s2 / 2, np.sqrt(s2), n)


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__, argv, n=20000)
    rng = np.random.default_rng(1)
    n1 = round(0.58 * args.n)
    louwes = np.concatenate([_lognormal(1.6, 1.4, n1, rng), _lognormal(3.6, 2.0, args.n - n1, rng)])
    rows = {"Louwes 1999 mixture (58% 1.6+/-1.4 d, 42% 3.6+/-2.0 d)": louwes}
    for label, params in (
        ("shipped calibrated set", pm.calibrated_parameters()),
        ("parameter table", pm.default_parameters()),
    ):
        ind = pm.Population.sample(args.n, params, seed=1).individuals()
        rows[label] = 1.0 / (ind.plt_ksen + ind.k_ab)
    print("untreated platelet lifespan, days: " + "  ".join(f"q{q:g}" for q in QUANTILES))
    for label, x in rows.items():
        q = np.quantile(x, QUANTILES)
        print(f"{label:<56}" + "  ".join(f"{v:5.2f}" for v in q) + f"   mean {x.mean():.2f}")


if __name__ == "__main__":
    main()
