"""Hypothesis tests used by ITP trials and analytic power for a replicate trial.

Tests (on observed data): Pearson chi-square and Fisher's exact test for two rates, Student and
Welch t tests for two means, Mann-Whitney U for ordinal grades.

Power (from predicted outcome distributions, smooth in them): the probability that a replicate
trial with ``n1`` and ``n2`` patients reaches a significant result *in a given direction* at
two-sided level ``alpha``:

* rates: normal approximation to the Pearson chi-square (two-proportion z) test,
  ``P = Phi((d - z sigma0) / sigma1)`` with ``sigma0`` the pooled null SE and ``sigma1`` the SE
  under the alternative;
* means: the Welch t test through the noncentral t distribution with Welch-Satterthwaite degrees
  of freedom;
* ordinal grades: the Mann-Whitney test through the probability index
  ``theta = P(X > Y) + P(X = Y) / 2`` with the tie-corrected null variance (Noether's
  approximation, which uses the null variance under the alternative too).

A test in the suite checks every formula against resampled replicate trials.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as _st

from .errors import OptionError

__all__ = [
    "TESTS",
    "compare_grades",
    "compare_means",
    "compare_paired",
    "compare_rates",
    "power_change",
    "power_grades",
    "power_means",
    "power_rates",
    "probability_index",
]

#: Test names accepted in trial files, by kind of endpoint.
TESTS: dict[str, tuple[str, ...]] = {
    "proportion": ("chi2", "fisher"),
    "continuous": ("t", "welch"),
    "change": ("paired_t",),
    "ordinal": ("mannwhitney",),
}


def _z(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise OptionError(f"`alpha` must lie in (0, 1), got {alpha!r}")
    return float(_st.norm.isf(alpha / 2))


def compare_rates(k1: int, n1: int, k2: int, n2: int, method: str = "chi2") -> float:
    """Two-sided p-value comparing rates ``k1/n1`` and ``k2/n2`` (chi-square or Fisher)."""
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]])
    if method == "fisher":
        return float(_st.fisher_exact(table).pvalue)
    if method != "chi2":
        raise OptionError(f"unknown rate test `{method}`; use chi2 or fisher")
    if table.sum(axis=0).min() == 0:
        return 1.0
    return float(_st.chi2_contingency(table, correction=False).pvalue)


def compare_means(x: ArrayLike, y: ArrayLike, method: str = "welch") -> float:
    """Two-sided p-value comparing two means (Student ``t`` or ``welch``)."""
    if method not in ("t", "welch"):
        raise OptionError(f"unknown mean test `{method}`; use t or welch")
    return float(_st.ttest_ind(x, y, equal_var=method == "t").pvalue)


def compare_grades(x: ArrayLike, y: ArrayLike) -> float:
    """Two-sided Mann-Whitney p-value comparing two samples of ordinal grades."""
    return float(_st.mannwhitneyu(x, y, alternative="two-sided").pvalue)


def power_rates(p1: float, p2: float, n1: int, n2: int, alpha: float = 0.05) -> float:
    """P(a replicate trial finds rate 1 significantly *greater* than rate 2).

    Parameters
    ----------
    p1, p2 : float
        True rates in arms 1 and 2 (fractions).
    n1, n2 : int
        Patients per arm of the replicate trial.
    alpha : float
        Two-sided significance level.
    """
    z = _z(alpha)
    p1 = min(max(p1, 0.0), 1.0)
    p2 = min(max(p2, 0.0), 1.0)
    pbar = (n1 * p1 + n2 * p2) / (n1 + n2)
    s0 = math.sqrt(max(pbar * (1 - pbar), 0.0) * (1 / n1 + 1 / n2))
    s1 = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    d = p1 - p2
    if s1 == 0.0:
        return 1.0 if d > z * s0 else 0.0
    return float(_st.norm.cdf((d - z * s0) / s1))


def power_means(
    m1: float, s1: float, n1: int, m2: float, s2: float, n2: int, alpha: float = 0.05
) -> float:
    """P(a replicate trial's Welch t test finds mean 1 significantly *greater* than mean 2).

    Parameters
    ----------
    m1, m2 : float
        True means (any unit).
    s1, s2 : float
        True between-patient SDs (same unit).
    n1, n2 : int
        Patients per arm.
    alpha : float
        Two-sided significance level.
    """
    v1, v2 = s1 * s1 / n1, s2 * s2 / n2
    se = math.sqrt(v1 + v2)
    d = m1 - m2
    if se == 0.0:
        return 1.0 if d > 0 else 0.0
    denom = (v1 * v1 / (n1 - 1) if n1 > 1 else 0.0) + (v2 * v2 / (n2 - 1) if n2 > 1 else 0.0)
    df = max((v1 + v2) ** 2 / denom if denom > 0 else float(n1 + n2 - 2), 1.0)
    tcrit = float(_st.t.isf(alpha / 2, df))
    return float(_st.nct.sf(tcrit, df, d / se))


def probability_index(dist1: Sequence[float], dist2: Sequence[float]) -> float:
    """``P(X > Y) + P(X = Y) / 2`` for ordinal distributions over the same ordered categories.

    Categories are ordered from lowest to highest value.
    """
    a = np.asarray(dist1, dtype=float)
    b = np.asarray(dist2, dtype=float)
    cb = np.concatenate([[0.0], np.cumsum(b)[:-1]])  # P(Y < category)
    return float(np.sum(a * (cb + 0.5 * b)))


def power_grades(
    dist1: Sequence[float], dist2: Sequence[float], n1: int, n2: int, alpha: float = 0.05
) -> float:
    """P(a replicate trial's Mann-Whitney test finds arm 1 significantly *higher* than arm 2).

    Parameters
    ----------
    dist1, dist2 : sequence of float
        Fraction of patients per ordered category (lowest first) in each arm.
    n1, n2 : int
        Patients per arm.
    alpha : float
        Two-sided significance level.
    """
    z = _z(alpha)
    theta = probability_index(dist1, dist2)
    pooled = (n1 * np.asarray(dist1, dtype=float) + n2 * np.asarray(dist2, dtype=float)) / (n1 + n2)
    tie = 1.0 - float(np.sum(pooled**3))  # tie correction for U: 1 - sum(t^3 - t)/(N^3 - N)
    n = n1 + n2
    var0 = (n + 1) / (12.0 * n1 * n2) * tie * n * n / (n * n - 1) if n > 1 else 0.0
    s0 = math.sqrt(max(var0, 0.0))
    if s0 == 0.0:
        return 1.0 if theta > 0.5 else 0.0
    return float(_st.norm.cdf((theta - 0.5 - z * s0) / s0))


def compare_paired(before: ArrayLike, after: ArrayLike) -> float:
    """Two-sided paired t-test p-value for a within-arm change (after vs before)."""
    return float(_st.ttest_rel(after, before).pvalue)


def power_change(mean: float, sd: float, n: int, alpha: float = 0.05) -> float:
    """P(a replicate trial's paired t test finds a significant *increase*).

    Parameters
    ----------
    mean, sd : float
        True mean and SD of the within-patient change (any unit).
    n : int
        Patients.
    alpha : float
        Two-sided significance level.
    """
    if n < 2:
        raise OptionError(f"a paired test needs at least 2 patients, got {n}")
    se = sd / math.sqrt(n)
    df = n - 1
    tcrit = float(_st.t.isf(alpha / 2, df))
    if se == 0.0:
        return 1.0 if mean > 0 else 0.0
    return float(_st.nct.sf(tcrit, df, mean / se))
