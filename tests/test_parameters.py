"""Parameter table and parameter sets."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import pdmodel as pm
from pdmodel.parameters import ParameterTable

VALID_ROW = """
[[parameter]]
name = "a"
value = 1.0
unit = "1/day"
lower = 0.1
upper = 10.0
prior_sd = 0.5
status = "fitted"
description = "test"
source = "assumed"
"""


def test_defaults_match_table(params: pm.ParameterSet) -> None:
    table = pm.parameter_table()
    assert list(params) == list(table)
    for name, spec in table.items():
        assert params[name] == spec.value
        assert spec.lower <= spec.value <= spec.upper


def test_every_parameter_has_unit_source_and_status() -> None:
    for spec in pm.parameter_table().values():
        assert spec.unit.strip(), spec.name
        assert spec.source.strip(), spec.name
        assert spec.description.strip(), spec.name
        if spec.status in ("literature", "derived"):
            assert spec.source != "assumed", spec.name
        if spec.status == "assumed":
            assert spec.source.startswith("assumed"), spec.name
        if spec.status == "fitted":
            assert spec.source.startswith("to be fitted"), spec.name


def test_parameter_set_is_frozen(params: pm.ParameterSet) -> None:
    with pytest.raises(TypeError):
        params["mk_mtt"] = 3.0  # type: ignore[index]
    changed = params.replace(mk_mtt=7.0)
    assert changed["mk_mtt"] == 7.0 and params["mk_mtt"] == 5.9
    assert changed != params and params.replace() == params
    assert pickle.loads(pickle.dumps(changed)) == changed


def test_unknown_name_suggests(params: pm.ParameterSet) -> None:
    with pytest.raises(pm.ParameterError, match="unknown parameter `mk_mt`; did you mean `mk_mtt`"):
        params.replace(mk_mt=3.0)
    with pytest.raises(pm.ParameterError, match="unknown parameter `nonsense`"):
        params["nonsense"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_rejected(params: pm.ParameterSet, value: float) -> None:
    with pytest.raises(pm.ParameterError, match="`k_ab` must be finite"):
        params.replace(k_ab=value)


def test_out_of_bounds_rejected(params: pm.ParameterSet) -> None:
    with pytest.raises(
        pm.ParameterError, match=r"`gc_imax_mac` = 1.5 1 lies outside its bounds \[0.0, 0.99\]"
    ):
        params.replace(gc_imax_mac=1.5)


def test_non_number_rejected(params: pm.ParameterSet) -> None:
    with pytest.raises(pm.ParameterError, match="must be a number"):
        params.replace(k_ab="0.5")  # type: ignore[arg-type]
    assert params.replace(k_ab=np.float64(0.6))["k_ab"] == 0.6


def test_cross_constraint(params: pm.ParameterSet) -> None:
    with pytest.raises(pm.ParameterError, match="`cd25_base` must exceed `treg_base`"):
        params.replace(treg_base=16.0, cd25_base=15.0)


def test_missing_values_rejected(params: pm.ParameterSet) -> None:
    values = dict(params)
    del values["k_ab"]
    with pytest.raises(pm.ParameterError, match="missing values for parameters: k_ab"):
        pm.ParameterSet(values)


def test_table_from_toml_valid() -> None:
    table = ParameterTable.from_toml(VALID_ROW)
    assert table["a"].prior == "lognormal(ln 1, 0.5)"
    assert table.to_records()[0]["name"] == "a"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not toml [", "malformed TOML"),
        ("x = 1", r"expected a non-empty \[\[parameter\]\] array"),
        (VALID_ROW.replace('unit = "1/day"\n', ""), "parameter `a` lacks unit"),
        (
            VALID_ROW.replace('source = "assumed"', 'source = "assumed"\ncolour = "red"'),
            "unknown keys",
        ),
        (VALID_ROW.replace('status = "fitted"', 'status = "guessed"'), "status must be one of"),
        (VALID_ROW.replace("value = 1.0", "value = 20.0"), "lies outside its bounds"),
        (VALID_ROW.replace("prior_sd = 0.5", "prior_sd = -1"), "prior_sd must be positive"),
        (VALID_ROW.replace("prior_sd = 0.5\n", ""), "free parameter needs a prior_sd"),
        (VALID_ROW + VALID_ROW, "`a` is defined twice"),
    ],
)
def test_table_errors(text: str, match: str) -> None:
    with pytest.raises(pm.ParameterError, match=match):
        ParameterTable.from_toml(text, origin="bad.toml")


def test_retired_parameter_is_explained(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    path = tmp_path / "old.json"
    body = json.loads(pm.io.parameters_to_json(pm.default_parameters()))
    body["parameters"]["il11_imax_teff"] = dict(body["parameters"]["il11_kpol"], value=0.3)
    path.write_text(json.dumps(body))
    with pytest.raises(pm.UnknownParameterError, match=r"`il11_imax_teff`: removed on 2026-11-25"):
        pm.load_parameters(path)
