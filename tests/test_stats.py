"""Analytic replicate-trial power against resampled replicate trials."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from pdmodel import stats
from pdmodel.errors import OptionError


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
    rng = np.random.default_rng(2)
    x = rng.normal(m1, s1, (N_REP, n1))
    y = rng.normal(m2, s2, (N_REP, n2))
    res = st.ttest_ind(x, y, axis=1, equal_var=method == "t")
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
