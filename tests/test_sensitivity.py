"""Global sensitivity (SALib): known answers, then the shipped model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("SALib")

import pdmodel as pm
from pdmodel.analysis import SENSITIVITY_ENDPOINTS, analyse, parameter_ranges, sensitivity
from pdmodel.errors import OptionError

PREDNISONE = Path(__file__).resolve().parents[1] / "examples" / "scenarios" / "prednisone.toml"
BOX = {"a": (0.0, 1.0), "b": (0.0, 1.0), "c": (0.0, 1.0)}


def _additive(v):
    """Y = a + 2 b (c does not enter): S1 = ST = (1/5, 4/5, 0) for uniform a, b, c."""
    return {"y": v["a"] + 2.0 * v["b"] + 0.0 * v["c"]}


def test_sobol_reproduces_analytic_indices_of_an_additive_function():
    res = analyse(_additive, BOX, ["y"], method="sobol", n=1024, log_scale=False, seed=3)
    table = res.table.set_index(["parameter", "index"])
    for p, exact in (("a", 0.2), ("b", 0.8), ("c", 0.0)):
        for kind in ("S1", "ST"):
            value, conf = table.loc[(p, kind), ["value", "conf"]]
            assert abs(value - exact) <= max(conf, 0.02), (p, kind, value, conf)
    assert res.n_evaluations == 1024 * (3 + 2)
    assert res.pivot("ST").shape == (3, 1)


def test_morris_elementary_effects_of_a_linear_function():
    res = analyse(_additive, BOX, ["y"], method="morris", n=20, log_scale=False, seed=1)
    mu = res.pivot("mu_star")["y"]
    np.testing.assert_allclose(mu.to_numpy(), [1.0, 2.0, 0.0], atol=1e-9)


def test_a_parameter_that_does_not_enter_has_total_index_zero():
    """Prednisone alone: the rhIL-11 potency cannot change any endpoint."""
    res = sensitivity(PREDNISONE, ["k_ab", "il11_ec50"], ["initial_response", "peak_platelets"],
                      n=8, n_patients=40, seed=2)  # fmt: skip
    st = res.pivot("ST")
    assert (st.loc["il11_ec50"].abs() < 1e-12).all()
    assert (st.loc["k_ab"] > 0.1).all()
    total = res.table[(res.table["index"] == "ST") & (res.table.parameter == "il11_ec50")]
    assert (total["conf"] < 1e-9).all()  # zero within its interval
    assert res.n_evaluations == 8 * 4
    fig = res.plot()
    assert len(fig.axes) == 2


def test_ranges_from_priors_and_errors():
    params = pm.calibrated_parameters()
    box = parameter_ranges(params, ["k_ab"], width=2.0)
    lo, hi = box["k_ab"]
    sd = params.table["k_ab"].prior_sd
    assert np.isclose(hi / params["k_ab"], np.exp(2 * sd)) or hi == params.table["k_ab"].upper
    assert lo < params["k_ab"] < hi
    with pytest.raises(OptionError, match="has no prior"):
        parameter_ranges(params, ["pred_ka"])
    assert parameter_ranges(params, ["pred_ka"], ranges={"pred_ka": (10.0, 40.0)}) == {
        "pred_ka": (10.0, 40.0)
    }
    with pytest.raises(OptionError, match="not among the varied parameters"):
        parameter_ranges(params, ["k_ab"], ranges={"pred_ka": (10.0, 40.0)})
    with pytest.raises(OptionError, match="power of 2"):
        analyse(_additive, BOX, ["y"], n=100)
    with pytest.raises(OptionError, match="unknown endpoint"):
        sensitivity(PREDNISONE, ["k_ab"], ["response"])
    assert "treatment_course" in SENSITIVITY_ENDPOINTS


def test_constant_output_has_undefined_indices_not_a_warning():
    res = analyse(lambda v: {"y": v["a"], "flat": 3.0}, BOX, ["y", "flat"], n=16,
                  log_scale=False)  # fmt: skip
    assert res.pivot("ST")["flat"].isna().all()
    assert res.pivot("ST").loc["a", "y"] > 0.9


def test_cli_sensitivity_writes_table_and_figure(tmp_path, capsys):
    import pandas as pd

    from pdmodel.cli import main

    out = tmp_path / "s.csv"
    code = main(["sensitivity", str(PREDNISONE), "--parameters", "k_ab,gc_ec50", "--method",
                 "morris", "--n", "4", "--patients", "20", "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    table = pd.read_csv(out)
    assert set(table["index"]) == {"mu_star", "sigma"} and set(table.parameter) == {
        "k_ab",
        "gc_ec50",
    }
    assert (tmp_path / "s.png").stat().st_size > 10_000


def test_cli_range_option_and_its_errors(tmp_path, capsys):
    """A parameter the table fixes is varied over `--range`; a bad spec names itself."""
    import pandas as pd

    from pdmodel.cli import main

    out = tmp_path / "r.csv"
    base = ["sensitivity", str(PREDNISONE), "--method", "morris", "--n", "2", "--patients", "10",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert main([*base, "--parameters", "pred_ka"]) == 2
    assert "--range pred_ka=LOW:HIGH" in capsys.readouterr().err
    assert main([*base, "--parameters", "pred_ka", "--range", "pred_ka=10:40"]) == 0
    assert set(pd.read_csv(out).parameter) == {"pred_ka"}
    for bad, message in (("pred_ka=10", "NAME=LOW:HIGH"), ("=1:2", "name the parameter")):
        assert main([*base, "--parameters", "pred_ka", "--range", bad]) == 2
        assert message in capsys.readouterr().err


def test_batched_engine_calls_give_the_same_indices():
    """Samples batched into one engine call (Population.batch) = one call per sample."""
    kw = dict(n=4, n_patients=30, seed=5)
    one = sensitivity(PREDNISONE, ["k_ab", "gc_ec50"], ["initial_response"], batch_size=1, **kw)
    many = sensitivity(PREDNISONE, ["k_ab", "gc_ec50"], ["initial_response"], batch_size=5, **kw)
    np.testing.assert_array_equal(one.table["value"], many.table["value"])
    assert many.n_evaluations == one.n_evaluations == 16


def test_vectorised_function_in_blocks_and_its_shape_check():
    calls = []

    def block(v):
        calls.append(len(v["a"]))
        return _additive(v)

    res = analyse(block, BOX, ["y"], n=8, log_scale=False, vectorised=True, batch_size=16)
    ref = analyse(_additive, BOX, ["y"], n=8, log_scale=False)
    np.testing.assert_allclose(res.table["value"], ref.table["value"], rtol=1e-12)
    assert calls == [16, 16, 8]
    with pytest.raises(OptionError, match="output `y` has shape"):
        analyse(lambda v: {"y": 1.0}, BOX, ["y"], n=8, vectorised=True)
    with pytest.raises(OptionError, match="`batch_size` must be a whole number"):
        analyse(block, BOX, ["y"], n=8, vectorised=True, batch_size=0)


def test_pk_parameters_are_sampled_one_engine_call_each():
    """A PK parameter cannot vary within one engine call (Population.batch refuses it)."""
    cl = pm.calibrated_parameters()["pred_cl"]
    res = sensitivity(PREDNISONE, ["pred_cl"], ["initial_response"],
                      ranges={"pred_cl": (0.9 * cl, 1.1 * cl)}, n=2, n_patients=10,
                      batch_size=8)  # fmt: skip
    assert res.n_evaluations == 2 * 3
