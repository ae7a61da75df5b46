"""Analytic replicate-trial power against resampled replicate trials."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from pdmodel import stats


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


@pytest.mark.parametrize(
    ("p1", "p2", "n1", "n2"), [(0.6, 0.35, 40, 40), (0.3, 0.2, 97, 60), (0.5, 0.5, 40, 40)]
)
def test_power_rates_vs_resampling(p1: float, p2: float, n1: int, n2: int) -> None:
    rng = np.random.default_rng(1)
    k1, k2 = rng.binomial(n1, p1, N_REP), rng.binomial(n2, p2, N_REP)
    hits = [
        stats.compare_rates(a, n1, b, n2) < 0.05 and a / n1 > b / n2
        for a, b in zip(k1, k2, strict=True)
    ]
    mc = np.mean(hits)
    se = np.sqrt(mc * (1 - mc) / N_REP)
    # normal approximation to the chi-square test: agreement within MC error + 0.02
    assert abs(stats.power_rates(p1, p2, n1, n2) - mc) < 3 * se + 0.02


@pytest.mark.parametrize(
    ("m1", "s1", "m2", "s2", "n"), [(12.0, 4.0, 9.0, 6.0, 40), (50, 20, 45, 20, 40)]
)
def test_power_means_vs_resampling(m1: float, s1: float, m2: float, s2: float, n: int) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(m1, s1, (N_REP, n))
    y = rng.normal(m2, s2, (N_REP, n))
    res = st.ttest_ind(x, y, axis=1, equal_var=False)
    mc = np.mean((res.pvalue < 0.05) & (x.mean(1) > y.mean(1)))
    se = np.sqrt(mc * (1 - mc) / N_REP)
    assert abs(stats.power_means(m1, s1, n, m2, s2, n) - mc) < 3 * se + 0.01


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
