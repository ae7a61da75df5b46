"""Every analysis script (analyses/) runs at a small size: they are code, and code is tested.

Their full-size results are quoted in docs/calibration.md; at these sizes only that they run
and print their tables is checked.
"""

from __future__ import annotations

import runpy
import sys
import tomllib
from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parents[1] / "analyses"
SCRIPTS = sorted(p for p in FOLDER.glob("*.py") if not p.name.startswith("_"))
SMALL = tomllib.loads((FOLDER / "run_sizes.toml").read_text())


def test_every_script_has_a_small_size() -> None:
    assert sorted(SMALL) == [p.name for p in SCRIPTS]


# a 3-step chain has walkers that have not moved: emcee's autocorrelation divides 0 by 0
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_analysis_runs(
    script: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("emcee") if script.name == "posterior_shipped.py" else None
    monkeypatch.syspath_prepend(str(FOLDER))
    monkeypatch.setattr(sys, "argv", [str(script), *SMALL[script.name]])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert len(out.splitlines()) >= 3, out
