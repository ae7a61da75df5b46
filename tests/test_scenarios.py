"""Scenario files and `pdmodel simulate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pdmodel as pm
from pdmodel.cli import main
from pdmodel.scenarios import ScenarioError, load_scenario

SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "examples" / "scenarios").glob("*.toml"))


def test_shipped_scenarios_exist() -> None:
    names = {p.stem for p in SCENARIOS}
    assert {"prednisone", "prednisone_il11_25", "prednisone_il11_50", "dexamethasone_pulses",
            "dexamethasone_pulses_il11", "il11_late", "il11_stop_rule"} <= names  # fmt: skip


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenario_runs(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, fig = tmp_path / "out.csv", tmp_path / "out.png"
    sc = load_scenario(path)
    size = [] if sc.patient else ["--n", "12"]  # --n does not apply to one patient
    assert main(["simulate", str(path), *size, "--out", str(out), "--figure", str(fig)]) == 0
    frame = pd.read_csv(out)  # plain CSV: provenance is in the sidecar
    n = 1 if sc.patient else 12
    assert len(frame) == n * len(sc.times)
    assert list(frame.columns) == ["patient", "arm", "time", *sc.observables]
    assert (frame.arm == sc.title).all()
    assert frame.platelets.notna().all() and (frame.platelets > 0).all()
    meta = json.loads((tmp_path / "out.csv-metadata.json").read_text())
    assert "sha256" in meta["scenario"] and meta["pdmodel_version"] == pm.__version__
    assert meta["columns"] == list(frame.columns)
    assert fig.stat().st_size > 10_000
    ep = tmp_path / "out-endpoints.csv"
    assert ep.exists() == sc.endpoints
    if sc.endpoints:
        summary = pd.read_csv(ep)
        assert 0 <= summary.initial_response.item() <= 1


BASE = """[scenario]
days = 30

[population]
n = 5
seed = 1

[[regimen]]
builder = "prednisone"
mg_per_kg = 1.0
days = 10
"""


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("days = 30", "days = 30\ncolour = 1", r"`scenario.colour`: unknown key"),
        ("days = 30", 'days = "thirty"', r"`scenario.days`: expected a finite number"),
        (
            "mg_per_kg = 1.0",
            "mg_per_kg = -1.0",
            r"`regimen\[0\]`: prednisone dose `amount` must be positive",
        ),
        (
            'builder = "prednisone"\nmg_per_kg = 1.0\ndays = 10',
            'builder = "course"\ndrug = "aspirin"\namount = 1.0\nunit = "mg"',
            r"`regimen\[0\]`: unknown drug `aspirin`",
        ),
        ("[scenario]\ndays = 30\n", "", r"`scenario`: missing section"),
        ("n = 5", "n = 0", r"`population.n`: expected a whole number >= 1"),
        ("n = 5", 'n = 5\nsampling = "lhs"', r"`population.sampling`: use random or sobol"),
        (
            "[population]\nn = 5\nseed = 1\n",
            "",
            r"give exactly one of a \[population\] and a \[patient\]",
        ),
        ("[[regimen]]", "[[regimens]]", r"`regimens`: unknown section"),
    ],
)
def test_bad_scenarios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, match: str
) -> None:
    path = tmp_path / "bad.toml"
    assert old in BASE
    path.write_text(BASE.replace(old, new, 1))
    with pytest.raises(ScenarioError, match=match) as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    outdir = tmp_path / "out"
    outdir.mkdir()
    code = main(
        ["simulate", str(path), "--out", str(outdir / "x.csv"), "--figure", str(outdir / "x.png")]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("pdmodel: error: ") and err.count("\n") == 1
    assert not list(outdir.iterdir())  # nothing half-written


def test_sweep_dose_response_is_monotone_and_reproducible(tmp_path: Path) -> None:
    import pdmodel as pm
    from pdmodel.scenarios import sweep

    scenario = next(p for p in SCENARIOS if p.stem == "prednisone_il11_50")
    params = pm.default_parameters()
    vary = {"il11.ug_per_kg": [5, 25, 75]}
    a = sweep(scenario, vary, params, n=80, seed=3)
    b = sweep(scenario, vary, params, n=80, seed=3)
    pd.testing.assert_frame_equal(a, b)  # same seed, same answer
    response = a["initial_response"].to_numpy()
    peak = a["peak_platelets"].to_numpy()
    assert (response[1:] >= response[:-1]).all() and (peak[1:] > peak[:-1]).all()
    onset = a["onset_time"].to_numpy()
    assert onset[-1] <= onset[0]
    # saturating: the second step adds less than the first per ug/kg
    assert (peak[2] - peak[1]) / 50 < (peak[1] - peak[0]) / 20


def test_sweep_cli_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = str(next(p for p in SCENARIOS if p.stem == "prednisone_il11_50"))
    out, fig = tmp_path / "s.csv", tmp_path / "s.png"
    args = ["sweep", scenario, "--vary", "il11.days=7,14", "--vary", "param.il11_smax=1,3", "--n",
            "20", "--out", str(out), "--figure", str(fig), "--quiet"]  # fmt: skip
    assert main(args) == 0
    assert len(pd.read_csv(out)) == 4 and fig.stat().st_size > 10_000
    for vary, match in [
        ("aspirin.dose=1,2", "no \\[\\[regimen\\]\\] entry with builder `aspirin`"),
        ("param.nope=1,2", "unknown parameter `nope`"),
        ("il11.ug_per_kg=-5", "dose `amount` must be positive"),
        ("il11.ug_per_kg", "expected KEY=V1,V2"),
    ]:
        assert main(["sweep", scenario, "--vary", vary, "--out", str(tmp_path / "x.csv"),
                     "--figure", str(tmp_path / "x.png")]) == 2  # fmt: skip
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        import re

        assert re.search(match, err), err
    assert not (tmp_path / "x.csv").exists()


def test_parquet_output(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    scenario = str(next(p for p in SCENARIOS if p.stem == "il11_stop_rule"))
    out = tmp_path / "s.parquet"
    assert (
        main(
            [
                "simulate",
                scenario,
                "--out",
                str(out),
                "--figure",
                str(tmp_path / "s.png"),
                "--quiet",
            ]
        )
        == 0
    )
    import pyarrow.parquet as pq

    frame = pd.read_parquet(out)
    meta = json.loads(pq.read_schema(out).metadata[b"pdmodel"])
    assert "platelets" in frame.columns and meta["title"].startswith("Prednisone")
    assert not (tmp_path / "s.parquet-metadata.json").exists()  # no sidecar for Parquet


def test_scenario_sampling(tmp_path: Path, params: pm.ParameterSet) -> None:
    path = tmp_path / "s.toml"
    path.write_text(BASE.replace("n = 5", 'n = 5\nsampling = "sobol"', 1))
    sc = load_scenario(path)
    assert sc.sampling == "sobol"
    quasi = sc.population(params)
    expected = pm.Population.sample(5, params, seed=1, sampling="sobol")
    np.testing.assert_array_equal(quasi.z["k_ab"], expected.z["k_ab"])
    path.write_text(BASE)
    assert load_scenario(path).sampling == "random"


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_any_malformed_scenario_value_is_a_scenario_error(path: Path, mutations) -> None:
    """Every key of an example scenario, removed or given a value of the wrong kind, gives a
    ScenarioError (naming the key), never a bare TypeError or ValueError."""
    import math
    import tomllib

    from pdmodel.scenarios import scenario_from_dict

    bad_values = ("delete", "x", True, [1, 2], -1, 0, math.nan, {"a": 1}, 1e308)
    n_tried = refused = 0
    for at, bad, d in mutations(tomllib.loads(path.read_text()), bad_values):
        n_tried += 1
        try:
            scenario_from_dict(d, str(path))
        except ScenarioError as exc:
            refused += 1
            key = str(at[-1])
            # the message names the file and the key (or, for a deleted one, what is missing)
            assert str(path) in str(exc) and "\n" not in str(exc)
            # a builder's argument is named by its entry, regimen[i], and the value shown
            entry = f"regimen[{at[1]}]" if at[0] == "regimen" and len(at) > 2 else key
            assert key in str(exc) or entry in str(exc) or bad == "delete", (at, bad, str(exc))
            continue
        # accepted: only a deletion of an optional key, or a value of the right kind
        wrong_kind = bad == "x" or isinstance(bad, list | dict) or bad != bad
        wrong_kind |= bad is True and str(at[-1]) not in BOOLEAN_KEYS
        assert not wrong_kind or key_is_free_text(at), (at, bad)
    assert n_tried > 50 and refused > 0


#: Scenario keys whose value is a boolean.
BOOLEAN_KEYS = {"endpoints"}


def key_is_free_text(at: list) -> bool:
    """Keys whose value may be any text (titles, labels)."""
    return str(at[-1]) in {"title", "label", "after", "route"}
