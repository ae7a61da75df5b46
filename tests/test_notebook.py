"""The example notebook runs headless (no network) and shows progress and rich reprs."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebook.ipynb"


def test_example_notebook_runs_with_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # silence jupyter_core's path notice
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on any failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    widgets = [
        o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    # the bar over the 4 chunks: a text bar, or a widget where ipywidgets is installed (the
    # text bar clears itself at the end; whether it drew "4/4" before depends on the speed)
    assert ("simulating chunks" in stderr and "/4 [" in stderr) or widgets
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("median platelets" in h for h in html)  # SimulationResult._repr_html_
    assert any("ParameterSet" in h for h in html)
    text = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    assert "[[Fit Statistics]]" in text and "[[Variables]]" in text
