"""Trial design: analytic power and required size against resampled trials; the command."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pdmodel import stats
from pdmodel.analysis import Comparison, design
from pdmodel.analysis.design import _sizes, comparison_power, required_n, resampled_power
from pdmodel.calibration import chain_draws, predictive_bands
from pdmodel.cli import main
from pdmodel.endpoints import summarise
from pdmodel.errors import CalibrationError, OptionError
from pdmodel.shipped import calibrated_parameters, shipped_fit
from pdmodel.trials import load, simulate_trial
from pdmodel.trials.replicate import replicate_sizes


@pytest.fixture(scope="module")
def wu():
    return simulate_trial(load("wu2016"), calibrated_parameters(), 800, 1, progress=False)


def _check_at_required(result, c, target, replicates=3000, seed=5):
    n = required_n(c, result.summaries, target)
    assert n is not None and n > 2
    p_n = comparison_power(c, result.summaries, n)
    assert p_n >= target > comparison_power(c, result.summaries, n - 1)
    sim = resampled_power(result, c, n, replicates, seed)
    se = math.sqrt(target * (1 - target) / replicates)
    # the analytic power at n exceeds the target by less than one patient's step
    assert abs(sim - target) <= 3 * se + (p_n - target), (c.label, n, sim, p_n)
    return n


@pytest.mark.parametrize(
    ("endpoint", "direction"),
    [("total_effective_rate", "greater"), ("ab_positive_after", "less")],
)
def test_required_n_gives_target_power_in_resampled_trials(wu, endpoint, direction):
    c = Comparison(endpoint, ("observation", "control"), direction, "chi2")
    _check_at_required(wu, c, 0.8)


def test_required_n_for_a_rate_read_on_responders_only(wu):
    # recurrence is read on the responders: a binomial number of patients per arm
    c = Comparison("recurrence_rate", ("observation", "control"), "less", "chi2")
    _check_at_required(wu, c, 0.7)


@pytest.mark.parametrize("test", ["t", "welch"])
def test_required_n_for_normal_means_gives_target_power(test):
    rng = np.random.default_rng(3)
    a, b = rng.normal(12.0, 4.0, 20000), rng.normal(10.0, 6.0, 20000)
    fake = SimpleNamespace(
        per_patient={"a": {"recovery_level": a}, "b": {"recovery_level": b}},
        summaries={"a": {"recovery_level": summarise(a, "continuous")},
                   "b": {"recovery_level": summarise(b, "continuous")}},
    )  # fmt: skip
    c = Comparison("recovery_level", ("a", "b"), "greater", test)
    n = _check_at_required(fake, c, 0.8, replicates=4000)
    # the textbook normal approximation: n = (z_a/2 + z_b)^2 (s1^2 + s2^2) / delta^2 (+ ~1 for t)
    sa, sb = fake.summaries["a"]["recovery_level"], fake.summaries["b"]["recovery_level"]
    z = stats._st.norm.isf(0.025) + stats._st.norm.isf(0.2)
    assert abs(n - z**2 * (sa.sd**2 + sb.sd**2) / (sa.value - sb.value) ** 2) <= 2


def test_collapsed_subset_sizes_keep_mass_mean_and_power():
    sizes, probs = replicate_sizes(150, 0.8)
    small, w = _sizes(150, 0.8)
    assert small.size <= 12 < sizes.size
    assert math.isclose(w.sum(), probs.sum(), rel_tol=1e-12)
    assert abs(w @ small - probs @ sizes) < 0.5
    exact = stats.power_rates_over_sizes(0.3, 0.15, (sizes, probs), (sizes, probs))
    approx = stats.power_rates_over_sizes(0.3, 0.15, (small, w), (small, w))
    assert abs(exact - approx) < 0.005


def test_design_with_parameter_draws_is_deterministic():
    fit = shipped_fit()
    from pdmodel.calibration import posterior_draws

    draws = posterior_draws(fit, 4, seed=2)
    comps = [Comparison("total_effective_rate", ("observation", "control"))]
    r1 = design("wu2016", comps, [20, 60], draws=draws, n_sim=200, seed=1)
    r2 = design("wu2016", comps, [20, 60], draws=draws, n_sim=200, seed=1)
    pd.testing.assert_frame_equal(r1.power, r2.power)
    row = r1.power.iloc[1]
    assert row["power_q0.025"] <= row["assurance"] <= row["power_q0.975"]
    assert r1.power["power"].is_monotonic_increasing
    assert r1.required.loc[0, "p_reachable"] == 1.0
    assert "wu2016" in repr(r1)
    r1.plot()


def test_design_refuses_bad_comparisons():
    with pytest.raises(OptionError, match="no arm `x`"):
        design("wu2016", [Comparison("onset_time", ("x", "control"))], n_sim=50)
    with pytest.raises(OptionError, match="does not apply"):
        Comparison("onset_time", ("a", "b"), "less", "chi2")
    with pytest.raises(OptionError, match="cannot design"):
        Comparison("complications", ("a", "b"))
    with pytest.raises(OptionError, match="target power"):
        required_n(Comparison("onset_time", ("a", "b")), {}, 1.5)
    for bad in (0, 40.5):  # refused before any simulation (no parameters needed to refuse)
        with pytest.raises(OptionError, match=r"`n per arm` must be a whole number >= 2"):
            design("wu2016", n=[40, bad], params=object())  # type: ignore[arg-type]


def test_chain_draws_take_rows_of_the_chain_and_check_them():
    params = calibrated_parameters()
    name = shipped_fit().free[0]
    chain = pd.DataFrame({name: [params[name] * f for f in (0.9, 1.0, 1.1)], "lnprob": 0.0})
    draws = chain_draws(chain, params, 6, seed=1)
    assert {d[name] for d in draws} <= set(chain[name])
    with pytest.raises(CalibrationError, match="not a parameter"):
        chain_draws(chain.rename(columns={name: "nope"}), params, 2)
    bad = chain.assign(**{name: [params.table[name].upper * 2] * 3})
    with pytest.raises(CalibrationError, match="row 0"):
        chain_draws(bad, params, 2)
    bands = predictive_bands(shipped_fit(), "wu2016", n_draws=3, n_per_arm=60, chain=chain)
    assert (bands["q0.025"] <= bands["q0.975"]).all()


def test_design_command_writes_table_sizes_and_figure(tmp_path, capsys):
    out = tmp_path / "d.csv"
    code = main(["design", "wu2016", "--compare", "total_effective_rate:observation>control",
                 "--compare", "onset_time:observation<control:welch:0.05", "--n", "20,40",
                 "--patients", "100", "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    table = pd.read_csv(out)
    assert set(table["n"]) >= {20, 40}
    sizes = pd.read_csv(tmp_path / "d-n.csv")
    assert list(sizes["endpoint"]) == ["total_effective_rate", "onset_time"]
    assert (tmp_path / "d.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--compare", "onset_time:observation"], "expected ENDPOINT:A>B"),
        (["--compare", "onset_time:observation<control:t:x"], "expected ENDPOINT"),
        (["--chain", "c.csv"], "also give --draws"),
        (["--draws", "1"], "--draws must be 0 or >= 2"),
        (["--n", "20,abc"], "not a whole number"),
    ],
)
def test_design_command_errors(tmp_path, capsys, argv, message):
    code = main(["design", "wu2016", "--out", str(tmp_path / "d.csv"), *argv])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
