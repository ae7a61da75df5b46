"""Published distributions the model is compared with (one place for each).

So far: the untreated platelet lifespan of ITP patients measured with indium-111-labelled
autologous platelets by Louwes et al. (Am J Med 1999;106:430), two groups of 141 patients:
1.6 +/- 1.4 days (58%, normal or high production) and 3.6 +/- 2.0 days (42%, decreased
production).  The parameter table's prior of the antibody-mediated clearance ``k_ab`` and its
between-patient SD ``omega_k_ab`` are derived from this mixture (docs/parameters.md).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .parameters import ParameterSet
from .population import Population

__all__ = ["LOUWES_GROUPS", "louwes_lifespans", "untreated_lifespans"]

#: Louwes 1999 groups: (fraction of patients, mean lifespan in days, SD in days).
LOUWES_GROUPS: tuple[tuple[float, float, float], ...] = ((0.58, 1.6, 1.4), (0.42, 3.6, 2.0))


def louwes_lifespans(n: int, seed: int = 1) -> NDArray[np.float64]:
    """Draws from the Louwes 1999 two-group lifespan mixture, each group log-normal.

    Parameters
    ----------
    n : int
        Number of draws (patients).
    seed : int, optional
        Seed of the random generator.

    Returns
    -------
    ndarray, shape (n,)
        Untreated platelet lifespans, days.  Each group is log-normal with the published mean
        and SD (the measurements are positive and right-skewed); the groups have their
        published shares, rounded to whole patients.
    """
    rng = np.random.default_rng(seed)
    parts = []
    left = n
    for i, (share, mean, sd) in enumerate(LOUWES_GROUPS):
        k = left if i == len(LOUWES_GROUPS) - 1 else round(share * n)
        left -= k
        s2 = np.log1p((sd / mean) ** 2)
        parts.append(rng.lognormal(np.log(mean) - s2 / 2, np.sqrt(s2), k))
    return np.concatenate(parts)


def untreated_lifespans(params: ParameterSet, n: int, seed: int = 1) -> NDArray[np.float64]:
    """Mean platelet lifespan of each virtual patient at the untreated steady state.

    Parameters
    ----------
    params : ParameterSet
        Parameter values of the model.
    n : int
        Number of virtual patients (drawn from the whole population, no entry criterion, as
        Louwes 1999 measured patients at every count).
    seed : int, optional
        Population seed.

    Returns
    -------
    ndarray, shape (n,)
        ``1 / (plt_ksen + k_ab,i)`` in days: senescent plus antibody-mediated clearance at
        the untreated antibody and macrophage levels (Ab = M = 1).
    """
    ind = Population.sample(n, params, seed=seed).individuals()
    return np.asarray(1.0 / (ind.plt_ksen + ind.k_ab), dtype=np.float64)
