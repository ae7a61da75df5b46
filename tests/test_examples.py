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
    import matplotlib.image

    img = matplotlib.image.imread(out)  # a readable PNG, with something drawn on it
    height, width = img.shape[:2]
    assert width >= 600 and height >= 300
    rgb = img[..., :3].reshape(-1, 3)
    inked = (rgb.min(axis=1) < 0.9).mean()  # pixels that are not (near) white
    colours = len({tuple(c) for c in (rgb[:: max(1, rgb.shape[0] // 20000)] * 16).astype(int)})
    assert 0.01 < inked < 0.9 and colours >= 8, (inked, colours)
