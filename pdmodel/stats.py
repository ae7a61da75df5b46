"""Hypothesis tests used by ITP trials and analytic power for a replicate trial.

Tests (on observed data): Pearson chi-square and Fisher's exact test for two rates, Student and
Welch t tests for two means, Mann-Whitney U for ordinal grades.

Power (from predicted outcome distributions, smooth in them): the probability that a replicate
trial with ``n1`` and ``n2`` patients reaches a significant result *in a given direction* at
two-sided level ``alpha``:

* rates: exact, the binomial probability of the outcomes in the rejection region of the Pearson
  chi-square test (no continuity correction) or of Fisher's exact test;
* means: the Welch t test through the noncentral t distribution with Welch-Satterthwaite degrees
  of freedom, or Student's pooled t test through a noncentral t scaled for unequal SDs (the
  pooled variance matched to a scaled chi-square);
* ordinal grades: the Mann-Whitney test through the probability index
  ``theta = P(X > Y) + P(X = Y) / 2`` with the tie-corrected null variance (Noether's
  approximation, which uses the null variance under the alternative too).

Published P values (:func:`p_value_deviance`): the z statistic equivalent to a two-sided P value
against the mean z statistic of a replicate trial (``expected_z_rates``, exact over the binomial
outcomes; ``expected_z_means`` and ``expected_z_change``, the z equivalent of the expected t
statistic; ``expected_z_grades``), with SD 1.

A test in the suite checks every formula against resampled replicate trials.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as _st
from scipy.special import gammaln, ndtri_exp

from .checks import check_finite, check_whole
from .errors import OptionError

__all__ = [
    "TESTS",
    "compare_grades",
    "compare_means",
    "compare_paired",
    "compare_rates",
    "expected_z_change",
    "expected_z_grades",
    "expected_z_means",
    "expected_z_rates",
    "p_value_deviance",
    "power_change",
    "power_grades",
    "power_means",
    "power_rates",
    "probability_index",
    "z_of_p",
]

#: Test names accepted in trial files, by kind of endpoint.
TESTS: dict[str, tuple[str, ...]] = {
    "proportion": ("chi2", "fisher"),
    "continuous": ("t", "welch"),
    "change": ("paired_t",),
    "ordinal": ("mannwhitney",),
}


def _z(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise OptionError(f"`alpha` must lie in (0, 1), got {alpha!r}")
    return float(_st.norm.isf(alpha / 2))


def _real(x: Any, name: str, low: float = -math.inf, high: float = math.inf) -> float:
    """`x` as a finite float within [low, high], or an OptionError naming `name`."""
    value = check_finite(x, name)
    if not low <= value <= high:
        raise OptionError(f"`{name}` must lie within [{low:g}, {high:g}], got {x!r}")
    return value


def _dist(d: Any, name: str) -> np.ndarray:
    """A probability vector over ordered categories, or an OptionError naming `name`."""
    try:
        a = np.asarray(d, dtype=float)
    except (TypeError, ValueError):
        raise OptionError(f"`{name}` must be a sequence of fractions, got {d!r}") from None
    if a.ndim != 1 or a.size < 2 or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise OptionError(f"`{name}` must be >= 2 finite fractions >= 0, got {d!r}")
    if abs(a.sum() - 1.0) > 1e-6:
        raise OptionError(f"`{name}` must sum to 1, got {a.sum():.6g}")
    return a


def compare_rates(k1: int, n1: int, k2: int, n2: int, method: str = "chi2") -> float:
    """Two-sided p-value comparing rates ``k1/n1`` and ``k2/n2`` (chi-square or Fisher).

    Parameters
    ----------
    k1, n1 : int
        Patients with the event and patients in arm 1.
    k2, n2 : int
        The same for arm 2.
    method : {"chi2", "fisher"}
        Pearson's chi-square test without continuity correction (p = 1 when no patient or
        every patient has the event), or Fisher's exact test.

    Returns
    -------
    float
        The p-value.
    """
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]])
    if method == "fisher":
        return float(_st.fisher_exact(table).pvalue)
    if method != "chi2":
        raise OptionError(f"unknown rate test `{method}`; use chi2 or fisher")
    if table.sum(axis=0).min() == 0:
        return 1.0
    return float(_st.chi2_contingency(table, correction=False).pvalue)


def compare_means(x: ArrayLike, y: ArrayLike, method: str = "welch") -> float:
    """Two-sided p-value comparing two means (Student ``t`` or ``welch``).

    Parameters
    ----------
    x, y : array_like
        Values of the patients of each arm (any unit, the same for both).
    method : {"welch", "t"}
        Welch's unequal-variance t test or Student's pooled-variance t test.

    Returns
    -------
    float
        The p-value.
    """
    if method not in ("t", "welch"):
        raise OptionError(f"unknown mean test `{method}`; use t or welch")
    return float(_st.ttest_ind(x, y, equal_var=method == "t").pvalue)


def compare_grades(x: ArrayLike, y: ArrayLike) -> float:
    """Two-sided Mann-Whitney p-value comparing two samples of ordinal grades.

    Parameters
    ----------
    x, y : array_like
        Grades of the patients of each arm (ordered codes, higher is better).

    Returns
    -------
    float
        The p-value.
    """
    return float(_st.mannwhitneyu(x, y, alternative="two-sided").pvalue)


@functools.lru_cache(maxsize=1024)
def _log_binom(n: int) -> np.ndarray:
    """``ln C(n, k)`` for ``k = 0..n`` (read-only)."""
    k = np.arange(n + 1)
    out = np.asarray(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1))
    out.setflags(write=False)
    return out


def _binom_pmf(n: int, p: float) -> np.ndarray:
    """Binomial probabilities of ``k = 0..n`` (``p`` in [0, 1]; scipy's, ~10x faster)."""
    if p <= 0.0 or p >= 1.0:
        out = np.zeros(n + 1)
        out[0 if p <= 0.0 else n] = 1.0
        return out
    k = np.arange(n + 1)
    return np.exp(_log_binom(n) + k * math.log(p) + (n - k) * math.log1p(-p))


@functools.lru_cache(maxsize=4096)  # ~26 kB each at 40 per arm
def _rate_outcomes(n1: int, n2: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    """For every outcome ``(k1, k2)``: the sign of ``k1/n1 - k2/n2`` and the test's statistic.

    The statistic is Pearson's chi-square for ``"chi2"`` and the two-sided P value for
    ``"fisher"`` (read-only arrays); :func:`_rate_region` and :func:`_rate_z` derive from them.
    """
    k1 = np.arange(n1 + 1)[:, None]
    k2 = np.arange(n2 + 1)[None, :]
    sign = np.sign(k1 * n2 - k2 * n1).astype(float)
    if method == "chi2":
        # Pearson chi-square (no continuity correction) = the pooled two-proportion z test
        # chi2 = N (k1 n2 - k2 n1)^2 / (n1 n2 m (N - m)), m = k1 + k2 the responders' margin
        m = k1 + k2
        denom = (m * (n1 + n2 - m) * n1 * n2).astype(float)
        num = (n1 + n2) * (k1 * n2 - k2 * n1).astype(float) ** 2
        stat = np.divide(num, denom, out=np.zeros(num.shape), where=denom > 0)
    else:
        # Fisher's exact test, two-sided as in scipy: tables no more probable than the observed
        stat = np.ones((n1 + 1, n2 + 1))
        lc1, lc2, lcn = _log_binom(n1), _log_binom(n2), _log_binom(n1 + n2)
        for t in range(n1 + n2 + 1):
            lo, hi = max(0, t - n2), min(n1, t)
            x = np.arange(lo, hi + 1)
            pmf = np.exp(lc1[x] + lc2[t - x] - lcn[t])  # hypergeometric, given the margins
            order = np.sort(pmf)
            cum = np.cumsum(order)
            idx = np.searchsorted(order, pmf * (1 + 1e-7), side="right")
            stat[x, t - x] = cum[idx - 1]
    sign.setflags(write=False)
    stat.setflags(write=False)
    return sign, stat


@functools.lru_cache(maxsize=8192)  # ~2 kB each; subsets of 2 arms of <= 100 reach ~5,000
def _rate_region(n1: int, n2: int, alpha: float, method: str) -> np.ndarray:
    """Outcomes ``(k1, k2)`` where the test finds rate 1 significantly above rate 2 (read-only)."""
    sign, stat = _rate_outcomes(n1, n2, method)
    if method == "chi2":
        region = (sign > 0) & (stat > _st.chi2.isf(alpha, 1))
    else:
        region = (sign > 0) & (stat <= alpha)
    region.setflags(write=False)
    return region


def _binomial_grid(
    p1: float,
    p2: float,
    sizes1: np.ndarray,
    sizes2: np.ndarray,
    table: Callable[[int, int], np.ndarray],
) -> np.ndarray:
    """``E[table(n1, n2)[k1, k2]]`` over ``k1 ~ Bin(n1, p1)``, ``k2 ~ Bin(n2, p2)``, for every
    pair of arm sizes (shape ``(len(sizes1), len(sizes2))``; rates clipped to [0, 1])."""
    p1 = min(max(p1, 0.0), 1.0)
    p2 = min(max(p2, 0.0), 1.0)
    pmf2 = [_binom_pmf(int(n), p2) for n in sizes2]
    out = np.empty((sizes1.size, sizes2.size))
    for i, n1 in enumerate(sizes1):
        b1 = _binom_pmf(int(n1), p1)
        for j, n2 in enumerate(sizes2):
            out[i, j] = b1 @ table(int(n1), int(n2)) @ pmf2[j]
    return out


def power_rates(
    p1: float, p2: float, n1: int, n2: int, alpha: float = 0.05, method: str = "chi2"
) -> float:
    """P(a replicate trial finds rate 1 significantly *greater* than rate 2).

    Parameters
    ----------
    p1, p2 : float
        True rates in arms 1 and 2 (fractions).
    n1, n2 : int
        Patients per arm of the replicate trial.
    alpha : float
        Two-sided significance level.
    method : {"chi2", "fisher"}
        The replicate trial's test: Pearson chi-square without continuity correction, or
        Fisher's exact test (two-sided).

    Returns
    -------
    float
        The probability, in [0, 1].

    Notes
    -----
    Exact: the binomial probabilities of every outcome ``(k1, k2)`` summed over the test's
    rejection region in the stated direction.  A polynomial in ``p1`` and ``p2``, so smooth.
    """
    for name, n in (("n1", n1), ("n2", n2)):
        check_whole(n, name, 1)
    p1, p2 = _real(p1, "p1", 0.0, 1.0), _real(p2, "p2", 0.0, 1.0)
    return power_rates_over_sizes(p1, p2, ([n1], [1.0]), ([n2], [1.0]), alpha, method)


def power_means(
    m1: float,
    s1: float,
    n1: int,
    m2: float,
    s2: float,
    n2: int,
    alpha: float = 0.05,
    method: str = "welch",
) -> float:
    """P(a replicate trial's t test finds mean 1 significantly *greater* than mean 2).

    Parameters
    ----------
    m1, s1, n1 : float, float, int
        Arm 1's true mean (any unit), between-patient SD (same unit) and patients.
    m2, s2, n2 : float, float, int
        The same for arm 2.
    alpha : float
        Two-sided significance level.
    method : {"welch", "t"}
        The replicate trial's test: Welch's unequal-variance t test, or Student's pooled-variance
        t test (``"t"``), whichever the trial reports.

    Returns
    -------
    float
        The probability, in [0, 1].

    Notes
    -----
    Welch: noncentral t with the Welch-Satterthwaite degrees of freedom.  Student: the pooled
    variance ``Sp^2`` is matched to a scaled chi-square (Satterthwaite, ``f`` degrees of
    freedom), so ``T = r t'(f, delta)`` with ``delta = (m1 - m2) / tau``,
    ``tau^2 = s1^2/n1 + s2^2/n2`` and ``r = tau / (sigma_p sqrt(1/n1 + 1/n2))``; the test rejects
    when ``T`` exceeds the t quantile with ``n1 + n2 - 2`` degrees of freedom.  With equal SDs
    this is the exact noncentral-t power; with unequal SDs and sizes it is what makes Student's
    test more (or less) powerful than Welch's.  Both are checked against resampled trials.
    """
    if method not in ("welch", "t"):
        raise OptionError(f"unknown mean test `{method}`; use t or welch")
    m1, m2 = _real(m1, "m1"), _real(m2, "m2")
    s1, s2 = _real(s1, "s1", 0.0), _real(s2, "s2", 0.0)
    n1, n2 = check_whole(n1, "n1", 1), check_whole(n2, "n2", 1)
    _z(alpha)
    if method == "t" and n1 + n2 - 2 < 1:
        raise OptionError(f"Student's t test needs at least 3 patients, got {n1} + {n2}")
    return float(_power_means_grid(m1, s1, np.asarray(n1), m2, s2, np.asarray(n2), alpha, method))


def _power_means_grid(
    m1: float,
    s1: float,
    n1: np.ndarray,
    m2: float,
    s2: float,
    n2: np.ndarray,
    alpha: float,
    method: str,
) -> np.ndarray:
    """:func:`power_means` for arrays of arm sizes (elementwise, broadcast)."""
    n1 = n1.astype(float)
    n2 = n2.astype(float)
    v1, v2 = s1 * s1 / n1, s2 * s2 / n2
    se = np.sqrt(v1 + v2)
    d = m1 - m2
    sure = 1.0 if d > 0 else 0.0  # no spread: any difference rejects
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if method == "t":
            nu = n1 + n2 - 2
            w1, w2 = (n1 - 1) * s1 * s1, (n2 - 1) * s2 * s2
            # w1 + w2 = 0 with se > 0: only single-patient arms vary, Sp is 0
            degenerate = (se == 0.0) | (w1 + w2 == 0.0)
            f = (w1 + w2) ** 2 / (w1 * s1 * s1 + w2 * s2 * s2)
            r = se / np.sqrt((w1 + w2) / nu * (1.0 / n1 + 1.0 / n2))
            tcrit = _st.t.isf(alpha / 2, nu)
            out = _st.nct.sf(np.where(degenerate, 0.0, tcrit / r), np.where(degenerate, 1.0, f),
                             np.where(degenerate, 0.0, d / se))  # fmt: skip
            return np.asarray(np.where(degenerate, sure, out))
        df = _welch_df(v1, v2, n1, n2)
        tcrit = _st.t.isf(alpha / 2, df)
        out = _st.nct.sf(tcrit, df, np.where(se == 0.0, 0.0, d / se))
        return np.asarray(np.where(se == 0.0, sure, out))


def _welch_df(v1: np.ndarray, v2: np.ndarray, n1: np.ndarray, n2: np.ndarray) -> np.ndarray:
    """Welch-Satterthwaite degrees of freedom from the arms' ``s^2 / n`` and sizes (>= 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(n1 > 1, v1 * v1 / (n1 - 1), 0.0)
        t2 = np.where(n2 > 1, v2 * v2 / (n2 - 1), 0.0)
        denom = t1 + t2
        return np.maximum(np.where(denom > 0, (v1 + v2) ** 2 / denom, n1 + n2 - 2), 1.0)


def _z_of_t(t: ArrayLike, df: ArrayLike) -> np.ndarray:
    """The z equivalent of a t statistic ``t >= 0``: ``-Phi^-1(P(T_df > t))``, in logs so that
    far tails stay finite (capped at 40)."""
    return np.minimum(-ndtri_exp(_st.t.logsf(t, df)), 40.0)


def power_means_over_sizes(
    m1: float,
    s1: float,
    sizes1: tuple[ArrayLike, ArrayLike],
    m2: float,
    s2: float,
    sizes2: tuple[ArrayLike, ArrayLike],
    alpha: float = 0.05,
    method: str = "welch",
) -> float:
    """:func:`power_means` when the patients each arm contributes are themselves random.

    Parameters
    ----------
    m1, s1, m2, s2 : float
        True means and between-patient SDs (any unit, the same for all four).
    sizes1, sizes2 : (sizes, probabilities)
        Possible numbers of patients the endpoint is read on in each arm (whole numbers >= 2)
        and their probabilities (e.g. :func:`pdmodel.trials.replicate_sizes`); a missing
        probability counts as a replicate trial that is not significant.
    alpha : float
        Two-sided significance level.
    method : {"welch", "t"}
        The replicate trial's test (see :func:`power_means`).

    Returns
    -------
    float
        ``sum_ij P(n1 = a_i) P(n2 = b_j) power(a_i, b_j)``.
    """
    if method not in ("welch", "t"):
        raise OptionError(f"unknown mean test `{method}`; use t or welch")
    a, pa = _sizes(sizes1, "sizes1", 2)
    b, pb = _sizes(sizes2, "sizes2", 2)
    if a.size == 0 or b.size == 0:
        return 0.0
    grid = _power_means_grid(m1, s1, a[:, None], m2, s2, b[None, :], alpha, method)
    return float(min(max(pa @ grid @ pb, 0.0), 1.0))


def power_rates_over_sizes(
    p1: float,
    p2: float,
    sizes1: tuple[ArrayLike, ArrayLike],
    sizes2: tuple[ArrayLike, ArrayLike],
    alpha: float = 0.05,
    method: str = "chi2",
) -> float:
    """:func:`power_rates` when the patients each arm contributes are themselves random.

    Parameters
    ----------
    p1, p2 : float
        True rates in arms 1 and 2 (fractions).
    sizes1, sizes2 : (sizes, probabilities)
        Possible numbers of patients the rate is read on in each arm (whole numbers >= 1) and
        their probabilities; a missing probability counts as a replicate trial that is not
        significant.
    alpha : float
        Two-sided significance level.
    method : {"chi2", "fisher"}
        The replicate trial's test (see :func:`power_rates`).

    Returns
    -------
    float
        ``sum_ij P(n1 = a_i) P(n2 = b_j) power(a_i, b_j)``, exact for each pair of sizes.
    """
    if method not in ("chi2", "fisher"):
        raise OptionError(f"unknown rate test `{method}`; use chi2 or fisher")
    _z(alpha)
    a, pa = _sizes(sizes1, "sizes1", 1)
    b, pb = _sizes(sizes2, "sizes2", 1)
    alpha = float(alpha)
    grid = _binomial_grid(p1, p2, a, b, lambda n1, n2: _rate_region(n1, n2, alpha, method))
    return float(min(max(pa @ grid @ pb, 0.0), 1.0))


def _sizes(
    sizes: tuple[ArrayLike, ArrayLike], name: str, low: int
) -> tuple[np.ndarray, np.ndarray]:
    """Validated (sizes, probabilities) of a random arm size."""
    try:
        n, p = (np.asarray(x, dtype=float).ravel() for x in sizes)
    except (TypeError, ValueError) as exc:
        raise OptionError(f"`{name}` must be a pair (sizes, probabilities): {exc}") from None
    if n.shape != p.shape:
        raise OptionError(f"`{name}`: {n.size} sizes but {p.size} probabilities")
    if np.any(n < low) or np.any(n != np.round(n)):
        raise OptionError(f"`{name}`: sizes must be whole numbers of patients >= {low}, got {n}")
    if np.any(p < 0) or p.sum() > 1 + 1e-9:
        raise OptionError(f"`{name}`: probabilities must be >= 0 and sum to at most 1")
    return n.astype(int), p


def probability_index(dist1: Sequence[float], dist2: Sequence[float]) -> float:
    """``P(X > Y) + P(X = Y) / 2`` for ordinal distributions over the same ordered categories.

    Parameters
    ----------
    dist1, dist2 : sequence of float
        Probabilities of the categories for X and Y, ordered from the lowest to the highest
        value (each summing to 1).

    Returns
    -------
    float
        The probability index (0.5: no difference).
    """
    a, b = _dist(dist1, "dist1"), _dist(dist2, "dist2")
    if a.size != b.size:
        raise OptionError(
            f"`dist1` and `dist2` need the same categories, got {a.size} and {b.size}"
        )
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

    Returns
    -------
    float
        The probability, in [0, 1].
    """
    z = _z(alpha)
    theta = probability_index(dist1, dist2)
    n1, n2 = check_whole(n1, "n1", 1), check_whole(n2, "n2", 1)
    s0 = _grades_null_sd(dist1, dist2, n1, n2)
    if s0 == 0.0:
        return 1.0 if theta > 0.5 else 0.0
    return float(_st.norm.cdf((theta - 0.5 - z * s0) / s0))


def _grades_null_sd(dist1: Sequence[float], dist2: Sequence[float], n1: int, n2: int) -> float:
    """Tie-corrected null SD of the probability index ``U / (n1 n2)`` of a Mann-Whitney test."""
    pooled = (n1 * np.asarray(dist1, dtype=float) + n2 * np.asarray(dist2, dtype=float)) / (n1 + n2)
    tie = 1.0 - float(np.sum(pooled**3))  # tie correction for U: 1 - sum(t^3 - t)/(N^3 - N)
    n = n1 + n2
    var0 = (n + 1) / (12.0 * n1 * n2) * tie * n * n / (n * n - 1) if n > 1 else 0.0
    return math.sqrt(max(var0, 0.0))


def compare_paired(before: ArrayLike, after: ArrayLike) -> float:
    """Two-sided paired t-test p-value for a within-arm change (after vs before).

    Parameters
    ----------
    before, after : array_like
        Each patient's value before and after (any unit, the same for both), in the same order.

    Returns
    -------
    float
        The p-value.
    """
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

    Returns
    -------
    float
        The probability, in [0, 1].
    """
    n = check_whole(n, "n", 1)
    if n < 2:
        raise OptionError(f"a paired test needs at least 2 patients, got {n}")
    mean, sd = _real(mean, "mean"), _real(sd, "sd", 0.0)
    se = sd / math.sqrt(n)
    df = n - 1
    _z(alpha)
    tcrit = float(_st.t.isf(alpha / 2, df))
    if se == 0.0:
        return 1.0 if mean > 0 else 0.0
    return float(_st.nct.sf(tcrit, df, mean / se))


# ---------------------------------------------------------------------------------------------
# Published P values: the replicate trial's z statistic
# ---------------------------------------------------------------------------------------------


def z_of_p(p: float) -> float:
    """The z statistic equivalent to a two-sided P value: ``Phi^-1(1 - p / 2)`` (>= 0).

    Parameters
    ----------
    p : float
        Two-sided P value, in (0, 1].

    Returns
    -------
    float
        The z statistic (0 for p = 1).
    """
    if not 0.0 < p <= 1.0:  # also NaN
        raise OptionError(f"a P value must lie in (0, 1], got {p!r}")
    return float(_st.norm.isf(p / 2.0))


@functools.lru_cache(maxsize=4096)  # ~13 kB each at 40 per arm
def _rate_z(n1: int, n2: int, method: str) -> np.ndarray:
    """Signed z equivalent of the two-sided P value of every outcome ``(k1, k2)`` (read-only).

    Positive when rate 1 is observed higher; 0 for equal observed rates.
    """
    sign, stat = _rate_outcomes(n1, n2, method)
    if method == "chi2":
        z = sign * np.sqrt(stat)  # the Pearson statistic on 1 df is z^2
    else:
        z = sign * _st.norm.isf(np.clip(stat, 1e-300, 1.0) / 2.0)
    z.setflags(write=False)
    return np.asarray(z)


def expected_z_rates(
    p1: float,
    p2: float,
    sizes1: tuple[ArrayLike, ArrayLike],
    sizes2: tuple[ArrayLike, ArrayLike],
    method: str = "chi2",
) -> tuple[np.ndarray, np.ndarray]:
    """Mean z statistic of a replicate trial comparing two rates, for each pair of arm sizes.

    Parameters
    ----------
    p1, p2 : float
        True rates in arms 1 and 2 (fractions).
    sizes1, sizes2 : (sizes, probabilities)
        Possible numbers of patients per arm and their probabilities
        (:func:`pdmodel.trials.replicate_sizes`).
    method : {"chi2", "fisher"}
        The replicate trial's test.

    Returns
    -------
    mu : ndarray
        For each pair of sizes, the exact expectation over the binomial outcomes of the signed z
        equivalent of the test's two-sided P value (:func:`z_of_p`; positive when rate 1 is
        observed higher), flattened.
    weights : ndarray
        The pairs' probabilities.
    """
    if method not in ("chi2", "fisher"):
        raise OptionError(f"unknown rate test `{method}`; use chi2 or fisher")
    a, pa = _sizes(sizes1, "sizes1", 1)
    b, pb = _sizes(sizes2, "sizes2", 1)
    mu = _binomial_grid(p1, p2, a, b, lambda n1, n2: _rate_z(n1, n2, method))
    return mu.ravel(), np.outer(pa, pb).ravel()


def expected_z_means(
    m1: float,
    s1: float,
    sizes1: tuple[ArrayLike, ArrayLike],
    m2: float,
    s2: float,
    sizes2: tuple[ArrayLike, ArrayLike],
    method: str = "welch",
) -> tuple[np.ndarray, np.ndarray]:
    """Mean z statistic of a replicate trial's t test of two means, for each pair of arm sizes.

    Parameters
    ----------
    m1, s1 : float
        Arm 1's true mean and between-patient SD (any unit, the same for both arms).
    sizes1 : (sizes, probabilities)
        Arm 1's possible numbers of patients (>= 2) and their probabilities.
    m2, s2 : float
        Arm 2's true mean and between-patient SD.
    sizes2 : (sizes, probabilities)
        Arm 2's possible numbers of patients and their probabilities.
    method : {"welch", "t"}
        The replicate trial's test.

    Returns
    -------
    mu : ndarray
        The z equivalent of the test statistic's noncentrality ``t = (m1 - m2) / SE`` (the
        test's standard error at the true SDs: Welch ``sqrt(s1^2/n1 + s2^2/n2)``, Student the
        pooled SD times ``sqrt(1/n1 + 1/n2)``): ``Phi^-1(F(t))`` with ``F`` the t distribution
        of the test's degrees of freedom (Welch-Satterthwaite at the true SDs, or
        ``n1 + n2 - 2``), per pair of replicate arm sizes, flattened.
    weights : ndarray
        The pairs' probabilities, flattened.  `mu` is an approximation of the
        mean z equivalent of the replicate trial's P value: within 0.05 of resampled trials
        at 30-40 patients per arm, SDs differing 4-fold and z statistics 2-5 (the tests).
    """
    if method not in ("welch", "t"):
        raise OptionError(f"unknown mean test `{method}`; use t or welch")
    a, pa = _sizes(sizes1, "sizes1", 2)
    b, pb = _sizes(sizes2, "sizes2", 2)
    n1 = a.astype(float)[:, None]
    n2 = b.astype(float)[None, :]
    d = m1 - m2
    v1, v2 = s1 * s1 / n1, s2 * s2 / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "t":
            df = n1 + n2 - 2
            se = np.sqrt(((n1 - 1) * s1 * s1 + (n2 - 1) * s2 * s2) / df * (1.0 / n1 + 1.0 / n2))
        else:
            se = np.sqrt(v1 + v2)
            df = _welch_df(v1, v2, n1, n2)
        z = _z_of_t(np.where(se > 0, np.abs(d) / se, np.inf), df)  # of the expected t
    mu = np.sign(d) * np.broadcast_to(z, (a.size, b.size))
    return mu.ravel(), np.outer(pa, pb).ravel()


def expected_z_grades(dist1: Sequence[float], dist2: Sequence[float], n1: int, n2: int) -> float:
    """Mean z statistic of a replicate trial's Mann-Whitney test (arm 1 higher: positive).

    Parameters
    ----------
    dist1, dist2 : sequence of float
        Fraction of patients per ordered category (lowest first) in each arm.
    n1, n2 : int
        Patients per arm.

    Returns
    -------
    float
        ``(theta - 1/2) / s0``, the probability index over its tie-corrected null SD (the
        approximation :func:`power_grades` uses).
    """
    theta = probability_index(dist1, dist2)
    s0 = _grades_null_sd(dist1, dist2, n1, n2)
    if s0 == 0.0:
        return 0.0 if theta == 0.5 else math.copysign(40.0, theta - 0.5)
    return (theta - 0.5) / s0


def expected_z_change(mean: float, sd: float, n: int) -> float:
    """Mean z statistic of a replicate trial's paired t test of a within-arm change.

    Parameters
    ----------
    mean, sd : float
        True mean and SD of the within-patient change (any unit).
    n : int
        Patients.

    Returns
    -------
    float
        The z equivalent of ``t = mean / (sd / sqrt(n))`` for the t distribution with
        ``n - 1`` degrees of freedom, as in :func:`expected_z_means` (positive for an
        increase).
    """
    if n < 2:
        raise OptionError(f"a paired test needs at least 2 patients, got {n}")
    se = sd / math.sqrt(n)
    if mean == 0:
        return 0.0
    if se == 0.0:
        return math.copysign(40.0, mean)
    return math.copysign(float(_z_of_t(abs(mean) / se, n - 1)), mean)


def p_value_deviance(p: float, sign: int, mu: ArrayLike, weights: ArrayLike) -> float:
    """-2 log-likelihood of a published P value, from the replicate trial's z statistic.

    The replicate trial's z statistic is taken as normal with mean ``mu`` (for each possible
    pair of arm sizes, with probability ``weights``) and SD 1, the approximation behind the
    usual sample-size formulas; the published P value gives ``z = sign * z_of_p(p)``.

    Parameters
    ----------
    p : float
        Published two-sided P value, in (0, 1].
    sign : {1, -1, 0}
        Published direction of the difference (1: arm 1 higher; -1: lower); 0 when the
        direction is not stated (then ``|z|`` is the datum: a folded normal).
    mu, weights : array_like
        Mean z statistic per size pair and the pairs' probabilities (the missing probability,
        replicate trials too small to test, contributes nothing).

    Returns
    -------
    float
        ``-2 ln(sum_k w_k phi(z - mu_k) / phi(0))`` (signed) or
        ``-2 ln(sum_k w_k (phi(z - mu_k) + phi(z + mu_k)) / (2 phi(0)))`` (unsigned): 0 when a
        replicate trial's mean z statistic equals the published one, ``(z - mu)^2`` for fixed
        sizes; ``inf`` when no replicate trial can be tested.
    """
    if sign not in (1, -1, 0):
        raise OptionError(f"`sign` must be 1, -1 or 0, got {sign!r}")
    z = z_of_p(p)
    m = np.asarray(mu, dtype=float).ravel()
    w = np.asarray(weights, dtype=float).ravel()
    keep = w > 0
    if not keep.any():
        return math.inf
    m, lw = m[keep], np.log(w[keep])
    if sign:
        logs = lw - 0.5 * (sign * z - m) ** 2
    else:
        logs = lw + np.logaddexp(-0.5 * (z - m) ** 2, -0.5 * (z + m) ** 2) - math.log(2.0)
    top = float(np.max(logs))
    return -2.0 * (top + math.log(float(np.sum(np.exp(logs - top)))))
