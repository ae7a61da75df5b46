"""Scenario files and `pdmodel simulate`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

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
    assert main(["simulate", str(path), "--n", "12", "--out", str(out), "--figure", str(fig)]) == 0
    frame = pd.read_csv(out, comment="#")
    sc = load_scenario(path)
    n = 1 if sc.patient else 12
    assert len(frame) == n * len(sc.times)
    assert list(frame.columns) == ["patient", "time", *sc.observables]
    assert frame.platelets.notna().all() and (frame.platelets > 0).all()
    header = [line for line in out.read_text().splitlines() if line.startswith("#")]
    assert any("sha256" in line for line in header) and any(
        "pdmodel_version" in line for line in header
    )
    assert fig.stat().st_size > 10_000


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
