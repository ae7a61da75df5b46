"""Every example runs headless at small size and writes its figure."""

from __future__ import annotations

import runpy
import sys
import tomllib
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))
SMALL = tomllib.loads((EXAMPLES[0].parent / "run_sizes.toml").read_text())["test"]


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / f"{script.stem}.png"
    monkeypatch.setattr(sys, "argv", [str(script), *SMALL.get(script.name, []), "--out", str(out)])
    runpy.run_path(str(script), run_name="__main__")
    assert out.stat().st_size > 10_000
