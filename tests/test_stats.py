"""Analytic replicate-trial power against resampled replicate trials."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from pdmodel import stats
from pdmodel.errors import OptionError
from pdmodel.trials import replicate_sizes


def test_tests_match_scipy() -> None:
    assert stats.compare_rates(30, 40, 20, 40) == pytest.approx(
        st.chi2_contingency([[30, 10], [20, 20]], correction=False).pvalue
    )
    assert stats.compare_rates(3, 10, 9, 10, "fisher") == pytest.approx(
        st.fisher_exact([[3, 7], [9, 1]]).pvalue
    )
    x, y = np.arange(10.0), np.arange(10.0) + 3
    assert stats.compare_means(x, y, "t") == pytest.approx(st.ttest_ind(x, y).pvalue)
    assert stats.compare_grades([0, 1, 2, 2], [0, 0, 1]) > 0.1
    y2 = y + np.array([0.1, -0.2, 0.3, 0.0, -0.1, 0.2, -0.3, 0.1, 0.0, 0.05])
    assert stats.compare_paired(x, y2) == pytest.approx(st.ttest_rel(y2, x).pvalue)


N_REP = 6000


def _resampled_t_tests(
    m1: float, s1: float, n1: int, m2: float, s2: float, n2: int, method: str, seed: int
) -> tuple[np.ndarray, np.ndarray, object]:
    """N_REP replicate trials of two normal arms and their t tests (Student for ``"t"``)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(m1, s1, (N_REP, n1))
    y = rng.normal(m2, s2, (N_REP, n2))
    return x, y, st.ttest_ind(x, y, axis=1, equal_var=method == "t")


@pytest.mark.parametrize(("n1", "n2"), [(12, 9), (7, 15), (40, 33)])
@pytest.mark.parametrize("method", ["chi2", "fisher"])
def test_rate_rejection_region_is_the_tests(n1: int, n2: int, method: str) -> None:
    region = stats._rate_region(n1, n2, 0.05, method)
    expected = np.array(
        [
            [
                stats.compare_rates(a, n1, b, n2, method) < 0.05 and a * n2 > b * n1
                for b in range(n2 + 1)
            ]
            for a in range(n1 + 1)
        ]
    )
    assert region.sum() > 0
    np.testing.assert_array_equal(region, expected)


@pytest.mark.parametrize(
    ("p1", "p2", "n1", "n2"),
    [(0.6, 0.35, 40, 40), (0.3, 0.2, 97, 60), (0.5, 0.5, 40, 40), (0.34, 0.11, 40, 40)],
)
@pytest.mark.parametrize("method", ["chi2", "fisher"])
def test_power_rates_vs_resampling(p1: float, p2: float, n1: int, n2: int, method: str) -> None:
    rng = np.random.default_rng(1)
    k1, k2 = rng.binomial(n1, p1, N_REP), rng.binomial(n2, p2, N_REP)
    hits = [
        stats.compare_rates(a, n1, b, n2, method) < 0.05 and a / n1 > b / n2
        for a, b in zip(k1, k2, strict=True)
    ]
    mc = np.mean(hits)
    se = np.sqrt(mc * (1 - mc) / N_REP)
    # exact enumeration: agreement within Monte-Carlo error
    assert abs(stats.power_rates(p1, p2, n1, n2, method=method) - mc) < 3.5 * se + 1e-3


def test_fisher_is_less_powerful_than_chi_square() -> None:
    chi2 = stats.power_rates(0.34, 0.11, 40, 40)
    fisher = stats.power_rates(0.34, 0.11, 40, 40, method="fisher")
    assert 0.5 < fisher < chi2 - 0.05


@pytest.mark.parametrize(
    ("m1", "s1", "n1", "m2", "s2", "n2"),
    [
        (12.0, 4.0, 40, 9.0, 6.0, 40),
        (50, 20, 40, 45, 20, 40),
        (9.8, 11.0, 27, 4.4, 2.7, 38),  # the larger SD in the smaller arm: Student > Welch
        (12.0, 4.0, 20, 9.0, 8.0, 60),  # the larger SD in the larger arm: Student < Welch
    ],
)
@pytest.mark.parametrize("method", ["welch", "t"])
def test_power_means_vs_resampling(
    m1: float, s1: float, n1: int, m2: float, s2: float, n2: int, method: str
) -> None:
    x, y, res = _resampled_t_tests(m1, s1, n1, m2, s2, n2, method, seed=2)
    mc = np.mean((res.pvalue < 0.05) & (x.mean(1) > y.mean(1)))
    se = np.sqrt(mc * (1 - mc) / N_REP)
    assert abs(stats.power_means(m1, s1, n1, m2, s2, n2, method=method) - mc) < 3 * se + 0.01


def test_student_and_welch_power_differ_as_the_tests_do() -> None:
    # equal SDs and sizes: the same test up to degrees of freedom
    assert stats.power_means(12, 5, 40, 9, 5, 40, method="t") == pytest.approx(
        stats.power_means(12, 5, 40, 9, 5, 40), abs=2e-3
    )
    student = stats.power_means(9.8, 11, 27, 4.4, 2.7, 38, method="t")
    welch = stats.power_means(9.8, 11, 27, 4.4, 2.7, 38)
    assert student > welch + 0.05
    with pytest.raises(OptionError, match="mean test `z`"):
        stats.power_means(1, 1, 10, 0, 1, 10, method="z")
    with pytest.raises(OptionError, match="rate test `exact`"):
        stats.power_rates(0.5, 0.2, 10, 10, method="exact")
    with pytest.raises(OptionError, match="`n2` must be a whole number"):
        stats.power_rates(0.5, 0.2, 10, 0)


@pytest.mark.parametrize(
    ("d1", "d2"), [((0.2, 0.3, 0.3, 0.2), (0.4, 0.3, 0.2, 0.1)), ((0.1, 0.5, 0.4), (0.1, 0.5, 0.4))]
)
def test_power_grades_vs_resampling(d1, d2) -> None:
    rng = np.random.default_rng(3)
    n = 40
    cats = np.arange(len(d1))
    x = rng.choice(cats, size=(N_REP, n), p=d1)
    y = rng.choice(cats, size=(N_REP, n), p=d2)
    res = st.mannwhitneyu(x, y, axis=1, alternative="two-sided")
    u = res.statistic / (n * n)
    mc = np.mean((res.pvalue < 0.05) & (u > 0.5))
    se = np.sqrt(max(mc * (1 - mc), 1e-4) / N_REP)
    assert abs(stats.power_grades(d1, d2, n, n) - mc) < 3 * se + 0.02


def test_power_change_vs_resampling() -> None:
    rng = np.random.default_rng(4)
    d = rng.normal(-1.0, 3.0, (N_REP, 40))
    res = st.ttest_1samp(d, 0.0, axis=1)
    mc = np.mean((res.pvalue < 0.05) & (d.mean(1) < 0))
    se = np.sqrt(mc * (1 - mc) / N_REP)
    assert abs(stats.power_change(1.0, 3.0, 40) - mc) < 3 * se + 0.01


def test_probability_index_and_power_are_smooth() -> None:
    assert stats.probability_index([0, 0, 1], [1, 0, 0]) == 1.0
    assert stats.probability_index([0.5, 0.5], [0.5, 0.5]) == 0.5
    a = stats.power_rates(0.6, 0.4, 40, 40)
    b = stats.power_rates(0.6 + 1e-6, 0.4, 40, 40)
    assert 0 < b - a < 1e-4


def _resampled_subset_trials(rng, n, frac1, frac2):
    """Numbers of patients an endpoint defined on a subset is read on, per replicate arm."""
    return rng.binomial(n, frac1, N_REP), rng.binomial(n, frac2, N_REP)


@pytest.mark.parametrize("method", ["chi2", "fisher"])
def test_power_rates_over_random_sizes_vs_resampling(method: str) -> None:
    # recurrence among responders: 40 per arm, 95% vs 65% responders, 21% vs 49% relapse
    rng = np.random.default_rng(5)
    m1, m2 = _resampled_subset_trials(rng, 40, 0.95, 0.65)
    k1, k2 = rng.binomial(m1, 0.21), rng.binomial(m2, 0.49)
    hits = [
        a / n1 < b / n2 and stats.compare_rates(a, n1, b, n2, method) < 0.05
        for a, n1, b, n2 in zip(k1, m1, k2, m2, strict=True)
        if n1 >= 2 and n2 >= 2
    ]
    mc = np.sum(hits) / N_REP
    se = np.sqrt(mc * (1 - mc) / N_REP)
    sizes = replicate_sizes
    got = stats.power_rates_over_sizes(0.49, 0.21, sizes(40, 0.65), sizes(40, 0.95), method=method)
    assert abs(got - mc) < 3.5 * se + 1e-3
    # the size fixed at the expected count is a different (plug-in) number, not the same
    plug_in = stats.power_rates(0.49, 0.21, 26, 38, method=method)
    assert got != plug_in


def test_power_means_over_random_sizes_vs_resampling() -> None:
    # onset time among responders, Student's t: control 9.8 +/- 12 d, rhIL-11 4.4 +/- 2.7 d
    rng = np.random.default_rng(6)
    m1, m2 = _resampled_subset_trials(rng, 40, 0.65, 0.95)
    hits = 0
    for n1, n2 in zip(m1, m2, strict=True):
        x, y = rng.normal(9.8, 12.0, n1), rng.normal(4.4, 2.7, n2)
        hits += bool(st.ttest_ind(x, y).pvalue < 0.05 and x.mean() > y.mean())
    mc = hits / N_REP
    se = np.sqrt(mc * (1 - mc) / N_REP)
    got = stats.power_means_over_sizes(
        9.8, 12.0, replicate_sizes(40, 0.65), 4.4, 2.7, replicate_sizes(40, 0.95), method="t"
    )
    assert abs(got - mc) < 3 * se + 0.01


def test_power_over_sizes_reduces_to_fixed_sizes_and_checks_its_input() -> None:
    one = (np.array([33]), np.array([1.0]))
    other = (np.array([27]), np.array([1.0]))
    assert stats.power_rates_over_sizes(0.5, 0.2, one, other) == pytest.approx(
        stats.power_rates(0.5, 0.2, 33, 27), rel=1e-12
    )
    for method in ("t", "welch"):
        assert stats.power_means_over_sizes(
            9.8, 11.0, other, 4.4, 2.7, one, method=method
        ) == pytest.approx(stats.power_means(9.8, 11.0, 27, 4.4, 2.7, 33, method=method), rel=1e-12)
    # probability missing from the sizes counts as a trial that is not significant
    half = (np.array([33]), np.array([0.5]))
    assert stats.power_rates_over_sizes(0.5, 0.2, half, other) == pytest.approx(
        0.5 * stats.power_rates(0.5, 0.2, 33, 27), rel=1e-12
    )
    empty = (np.array([], dtype=int), np.array([]))
    assert stats.power_means_over_sizes(1.0, 1.0, empty, 0.0, 1.0, one) == 0.0
    with pytest.raises(OptionError, match="`sizes2`: sizes must be whole numbers of patients >= 2"):
        stats.power_means_over_sizes(1.0, 1.0, one, 0.0, 1.0, (np.array([1]), np.array([1.0])))
    with pytest.raises(OptionError, match="`sizes1`: 2 sizes but 1 probabilities"):
        stats.power_rates_over_sizes(0.5, 0.2, (np.array([3, 4]), np.array([1.0])), one)
    with pytest.raises(OptionError, match="sum to at most 1"):
        stats.power_rates_over_sizes(0.5, 0.2, (np.array([3, 4]), np.array([0.7, 0.7])), one)
    with pytest.raises(OptionError, match="rate test `exact`"):
        stats.power_rates_over_sizes(0.5, 0.2, one, one, method="exact")


def test_binomial_probabilities_match_scipy() -> None:
    for n in (1, 40, 97):
        for p in (0.0, 1e-9, 0.3, 0.97, 1.0):
            np.testing.assert_allclose(
                stats._binom_pmf(n, p), st.binom.pmf(np.arange(n + 1), n, p), atol=1e-13
            )


# --- published P values: the replicate trial's z statistic ------------------------------------


def _z_equivalent(pvalue: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """Signed z equivalent of two-sided P values, as a reader of the paper would compute it."""
    return np.sign(sign) * st.norm.isf(np.asarray(pvalue) / 2)


@pytest.mark.parametrize("method", ["chi2", "fisher"])
@pytest.mark.parametrize(("p1", "p2", "n1", "n2"), [(0.32, 0.12, 40, 40), (0.6, 0.55, 30, 45)])
def test_expected_z_rates_is_the_mean_of_resampled_trials(
    method: str, p1: float, p2: float, n1: int, n2: int
) -> None:
    rng = np.random.default_rng(11)
    n_rep = 3000
    k1, k2 = rng.binomial(n1, p1, n_rep), rng.binomial(n2, p2, n_rep)
    pv = np.array([stats.compare_rates(a, n1, b, n2, method) for a, b in zip(k1, k2, strict=True)])
    z = _z_equivalent(pv, k1 / n1 - k2 / n2)
    mu, w = stats.expected_z_rates(p1, p2, ([n1], [1.0]), ([n2], [1.0]), method)
    assert w.tolist() == [1.0]
    # an exact expectation over the binomial outcomes: agreement within Monte-Carlo error
    assert abs(mu[0] - z.mean()) < 3.5 * z.std() / np.sqrt(n_rep)
    # the test's own statistic: Fisher's P values are larger, so its z is smaller
    if method == "fisher":
        chi2 = stats.expected_z_rates(p1, p2, ([n1], [1.0]), ([n2], [1.0]), "chi2")[0][0]
        assert 0 < mu[0] < chi2


@pytest.mark.parametrize(
    ("m1", "s1", "n1", "m2", "s2", "n2"),
    [
        (9.6, 12.0, 30, 4.4, 2.9, 38),
        (60.0, 48.0, 40, 122.0, 71.0, 40),
        (12.0, 4.0, 40, 9.0, 6.0, 40),
    ],
)
@pytest.mark.parametrize("method", ["welch", "t"])
def test_expected_z_means_vs_resampled_trials(
    m1: float, s1: float, n1: int, m2: float, s2: float, n2: int, method: str
) -> None:
    _x, _y, res = _resampled_t_tests(m1, s1, n1, m2, s2, n2, method, seed=12)
    z = _z_equivalent(res.pvalue, res.statistic)
    mu, weights = stats.expected_z_means(m1, s1, ([n1], [1.0]), m2, s2, ([n2], [1.0]), method)
    # an approximation: within 0.05 (as its docstring says), SD about 1
    assert abs(mu[0] - z.mean()) < 0.05
    assert weights.tolist() == [1.0]
    assert 0.85 < z.std() < 1.15


def test_expected_z_grades_and_change_vs_resampled_trials() -> None:
    rng = np.random.default_rng(13)
    d1, d2, n = (0.05, 0.36, 0.59), (0.33, 0.42, 0.25), 40
    x = rng.choice(3, size=(N_REP, n), p=d1)
    y = rng.choice(3, size=(N_REP, n), p=d2)
    res = st.mannwhitneyu(x, y, axis=1, alternative="two-sided")
    z = _z_equivalent(res.pvalue, res.statistic - n * n / 2)
    assert abs(stats.expected_z_grades(d1, d2, n, n) - z.mean()) < 0.1
    d = rng.normal(-1.0, 3.0, (N_REP, 40))
    res = st.ttest_1samp(d, 0.0, axis=1)
    z = _z_equivalent(res.pvalue, res.statistic)
    assert abs(stats.expected_z_change(-1.0, 3.0, 40) - z.mean()) < 0.1
    with pytest.raises(OptionError, match="at least 2 patients"):
        stats.expected_z_change(1.0, 1.0, 1)


def test_p_value_deviance() -> None:
    z = st.norm.isf(0.03 / 2)
    assert stats.z_of_p(0.03) == pytest.approx(z, rel=1e-14)
    assert stats.z_of_p(1.0) == 0.0
    # fixed sizes: the squared distance of the z statistics; 0 where they agree
    assert stats.p_value_deviance(0.03, 1, [1.5], [1.0]) == pytest.approx((z - 1.5) ** 2)
    assert stats.p_value_deviance(0.03, -1, [-z], [1.0]) == pytest.approx(0.0, abs=1e-12)
    assert stats.p_value_deviance(0.03, -1, [1.5], [1.0]) == pytest.approx((z + 1.5) ** 2)
    # no published direction: |z| is the datum (folded normal)
    folded = (st.norm.pdf(z - 1.5) + st.norm.pdf(z + 1.5)) / (2 * st.norm.pdf(0))
    assert stats.p_value_deviance(0.03, 0, [1.5], [1.0]) == pytest.approx(-2 * np.log(folded))
    assert stats.p_value_deviance(0.03, 0, [-1.5], [1.0]) == pytest.approx(-2 * np.log(folded))
    # random sizes: a mixture, the missing probability contributing nothing; far tails finite
    mu, w = [1.0, 2.0, 3.0], [0.2, 0.5, 0.2]
    mix = sum(wi * st.norm.pdf(z - mi) for mi, wi in zip(mu, w, strict=True)) / st.norm.pdf(0)
    assert stats.p_value_deviance(0.03, 1, mu, w) == pytest.approx(-2 * np.log(mix), rel=1e-12)
    assert stats.p_value_deviance(0.03, 1, [60.0], [1.0]) == pytest.approx((60 - z) ** 2)
    assert stats.p_value_deviance(0.03, 1, [1.0], [0.0]) == np.inf
    for bad in (0.0, 1.5, -0.1, float("nan")):
        with pytest.raises(OptionError, match=r"P value must lie in \(0, 1\]"):
            stats.z_of_p(bad)
    with pytest.raises(OptionError, match="`sign` must be 1, -1 or 0"):
        stats.p_value_deviance(0.03, 2, [1.0], [1.0])
    with pytest.raises(OptionError, match="unknown rate test"):
        stats.expected_z_rates(0.3, 0.2, ([40], [1.0]), ([40], [1.0]), "exact")
    with pytest.raises(OptionError, match="unknown mean test"):
        stats.expected_z_means(1, 1, ([40], [1.0]), 0, 1, ([40], [1.0]), "z")


def test_power_functions_refuse_bad_input() -> None:
    cases = [
        (lambda: stats.power_rates(1.5, 0.2, 10, 10), r"`p1` must lie within \[0, 1\]"),
        (lambda: stats.power_rates("x", 0.2, 10, 10), "`p1` must be a finite number"),
        (lambda: stats.power_rates(0.3, 0.2, 10, 10, alpha="x"), r"`alpha` must lie in \(0, 1\)"),
        (lambda: stats.power_rates(0.3, 0.2, 10.5, 10), "`n1` must be a whole number"),
        (lambda: stats.power_means(float("nan"), 1, 10, 0, 1, 10), "`m1` must be a finite"),
        (lambda: stats.power_means(1, -1, 10, 0, 1, 10), r"`s1` must lie within \[0, inf\]"),
        (lambda: stats.power_means(1, 1, [1, 2], 0, 1, 10), "`n1` must be a whole number"),
        (lambda: stats.power_change(1.0, 1.0, 10, alpha=2), r"`alpha` must lie in \(0, 1\)"),
        (lambda: stats.power_change(None, 1.0, 10), "`mean` must be a finite number"),
        (lambda: stats.power_grades([0.5, 0.6], [0.5, 0.5], 10, 10), "`dist1` must sum to 1"),
        (lambda: stats.power_grades([0.5, 0.5], [1.0], 10, 10), "`dist2` must be >= 2 finite"),
        (lambda: stats.power_grades([0.5, 0.5], [0.2, 0.3, 0.5], 10, 10), "the same categories"),
        (lambda: stats.power_grades([0.5, 0.5], [0.5, 0.5], 0, 10), "`n1` must be a whole"),
        (lambda: stats.probability_index("ab", [0.5, 0.5]), "`dist1` must be"),
    ]
    for call, match in cases:
        with pytest.raises(OptionError, match=match):
            call()
