"""Parameter files: round trips and every malformed-file path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pdmodel as pm


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_roundtrip_full_precision(params: pm.ParameterSet, tmp_path: Path, suffix: str) -> None:
    changed = params.replace(k_ab=0.1 + 0.2, il11_ec50=1 / 3, mk_mtt=5.900000000000001)
    path = pm.save_parameters(changed, tmp_path / f"p{suffix}")
    assert pm.load_parameters(path) == changed
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left behind


def test_subset_file_keeps_defaults(params: pm.ParameterSet, tmp_path: Path) -> None:
    path = tmp_path / "few.json"
    path.write_text(
        json.dumps({"parameters": {"k_ab": 0.9, "il11_smax": {"value": 2.0, "unit": "1"}}})
    )
    loaded = pm.load_parameters(path)
    assert loaded == params.replace(k_ab=0.9, il11_smax=2.0)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("a.json", "{not json", "a.json: malformed JSON"),
        ("a.json", '{"values": {}}', "expected an object with a `parameters` object"),
        ("a.json", '{"format": "other", "parameters": {}}', "`format` is 'other'"),
        (
            "a.json",
            '{"parameters": {"kab": 1}}',
            "a.json: unknown parameter `kab`; did you mean `k_ab`",
        ),
        (
            "a.json",
            '{"parameters": {"k_ab": {"unit": "1/day"}}}',
            "parameter `k_ab` has no `value`",
        ),
        (
            "a.json",
            '{"parameters": {"k_ab": {"value": 0.5, "unit": "1/h"}}}',
            "has unit `1/h` but the model uses `1/day`",
        ),
        (
            "a.json",
            '{"parameters": {"k_ab": 99}}',
            "a.json: parameter `k_ab` = 99.0 1/day lies outside",
        ),
        ("a.json", '{"parameters": {"k_ab": "x"}}', "parameter `k_ab` must be a number"),
        ("a.csv", "name,val\nk_ab,1\n", "missing column\\(s\\) value"),
        ("a.csv", "name,value\nk_ab,abc\n", "line 2: value 'abc' of `k_ab` is not a number"),
        ("a.csv", "name,value\nk_ab,nan\n", "`k_ab` must be finite"),
        ("a.csv", "name,value\nk_ab,1\nk_ab,2\n", "line 3: parameter `k_ab` appears twice"),
        ("a.txt", "k_ab=1", "cannot tell the format"),
    ],
)
def test_malformed_files(tmp_path: Path, name: str, content: str, match: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(pm.ParameterError, match=match):
        pm.load_parameters(path)


def test_missing_file_and_folder(params: pm.ParameterSet, tmp_path: Path) -> None:
    with pytest.raises(pm.ParameterError, match="cannot read parameter file"):
        pm.load_parameters(tmp_path / "absent.json")
    with pytest.raises(pm.ParameterError, match="does not exist"):
        pm.save_parameters(params, tmp_path / "no" / "such.json")


def test_docs_parameter_table_is_current(params: pm.ParameterSet) -> None:
    """docs/parameters.md is generated from the table; regenerate it when the table changes."""
    doc = Path(__file__).resolve().parents[1] / "docs" / "parameters.md"
    text = doc.read_text(encoding="utf-8")
    assert pm.io.parameters_to_markdown(params) in text, (
        "docs/parameters.md is out of date: run `python docs/make_parameter_table.py`"
    )
