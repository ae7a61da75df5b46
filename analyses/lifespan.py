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
from pdmodel.evidence import louwes_lifespans, untreated_lifespans

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__, argv, n=20000)
    rows = {"Louwes 1999 mixture (58% 1.6+/-1.4 d, 42% 3.6+/-2.0 d)": louwes_lifespans(args.n)}
    for label, params in (
        ("shipped calibrated set", pm.calibrated_parameters()),
        ("parameter table", pm.default_parameters()),
    ):
        rows[label] = untreated_lifespans(params, args.n)
    print("untreated platelet lifespan, days: " + "  ".join(f"q{q:g}" for q in QUANTILES))
    for label, x in rows.items():
        q = np.quantile(x, QUANTILES)
        print(f"{label:<56}" + "  ".join(f"{v:5.2f}" for v in q) + f"   mean {x.mean():.2f}")


if __name__ == "__main__":
    main()
