"""Scale-out: --dask on the command line, streaming to Parquet (interchange issue, item 6)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pdmodel as pm
from pdmodel import distributed, events
from pdmodel.cli import main
from pdmodel.errors import OptionError

SCENARIOS = Path(__file__).resolve().parents[1] / "examples" / "scenarios"


@pytest.fixture(scope="module")
def case():
    pop = pm.Population.sample(23, seed=5)
    reg = pm.regimens.prednisone(mg_per_kg=1.0, days=14) + pm.regimens.il11(
        ug_per_kg=50, days=14, stop_if_platelets_above=60
    )
    return pop, reg, pm.simulate(pop, reg, 30.0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("local:0", "local:N with N >= 1"),
        ("local:two", "local:N with N >= 1"),
        ("nonsense", "not a scheduler address"),
        ("", "needs a scheduler address"),
    ],
)
def test_parse_dask_refuses_bad_values(spec: str, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        distributed.parse_dask(spec)


def test_parse_dask_accepts_local_and_addresses() -> None:
    assert distributed.parse_dask("local:3") == ("local", 3)
    assert distributed.parse_dask("tcp://10.0.0.5:8786") == ("address", "tcp://10.0.0.5:8786")


def test_simulate_chunks_concatenate_to_simulate(case) -> None:
    pop, reg, whole = case
    parts = list(pm.solver.simulate_chunks(pop, reg, 30.0, chunk_size=7))
    assert [p.n_patients for p in parts] == [7, 7, 7, 2]
    for name in whole.observables:
        np.testing.assert_array_equal(np.hstack([p[name] for p in parts]), whole[name])
    np.testing.assert_array_equal(
        np.concatenate([p.treatment_days() for p in parts]), whole.treatment_days()
    )


@pytest.mark.parametrize("layout", distributed.LAYOUTS)
def test_stream_to_parquet_equals_the_in_memory_table(tmp_path: Path, case, layout: str) -> None:
    pop, reg, whole = case
    path = tmp_path / "s.parquet"
    info = distributed.simulate_to_parquet(path, pop, reg, 30.0, layout=layout, arm="A",
                                           meta={"scenario": "x"}, chunk_size=7)  # fmt: skip
    assert info["chunks"] == 4 and info["patients"] == 23
    back = pd.read_parquet(path)
    if layout == "nonmem":
        expected = events.to_event_table(whole, pop, arm="A")
    else:
        cov = events.cohort_frame(pop) if layout == "long" else None
        expected = whole.to_frame(long=layout == "long", arm="A", covariates=cov)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    import pyarrow.parquet as pq

    meta = json.loads(pq.read_schema(path).metadata[b"pdmodel"])
    assert meta == {"scenario": "x", "layout": layout}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.parquet"]


def test_stream_failure_leaves_nothing(tmp_path: Path, case, monkeypatch) -> None:
    pop, reg, _ = case
    calls = {"n": 0}
    original = events.cohort_frame

    def failing(population):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return original(population)

    monkeypatch.setattr(events, "cohort_frame", failing)
    with pytest.raises(OSError, match="No space"):
        distributed.simulate_to_parquet(tmp_path / "s.parquet", pop, reg, 30.0, layout="long",
                                        chunk_size=7)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_cli_dask_local_cluster_streams_the_same_table(tmp_path: Path, capsys) -> None:
    pytest.importorskip("distributed")
    scenario = str(SCENARIOS / "prednisone_il11_50.toml")
    streamed, memory = tmp_path / "big.parquet", tmp_path / "small.csv"
    code = main(["simulate", scenario, "--n", "40", "--seed", "3", "--dask", "local:2",
                 "--stream", "--chunk-size", "9", "--out", str(streamed), "--quiet"])  # fmt: skip
    assert code == 0
    assert "40 patients" in capsys.readouterr().out
    code = main(["simulate", scenario, "--n", "40", "--seed", "3", "--out", str(memory),
                 "--quiet"])  # fmt: skip
    assert code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(streamed), pd.read_csv(memory), check_dtype=False)
    # the ordinary (gathered) run on the cluster writes byte-identical files
    on_dask = tmp_path / "dask.csv"
    code = main(["simulate", scenario, "--n", "40", "--seed", "3", "--dask", "local:2",
                 "--out", str(on_dask), "--quiet"])  # fmt: skip
    assert code == 0
    assert on_dask.read_bytes() == memory.read_bytes()
    a, b = (p.with_name(p.name + "-metadata.json") for p in (on_dask, memory))
    assert a.read_text().replace("dask.csv", "X") == b.read_text().replace("small.csv", "X")


def test_cli_dask_reproduce_same_findings(tmp_path: Path, capsys) -> None:
    pytest.importorskip("distributed")
    args = ["reproduce", "--n", "30", "--joint", "0", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--dask", "local:2"]) == 0
    for name in ("findings.csv", "endpoints.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "a" / name), pd.read_csv(tmp_path / "b" / name)
        )


def test_cli_dask_option_errors(tmp_path: Path, capsys) -> None:
    scenario = str(SCENARIOS / "prednisone.toml")
    assert main(["simulate", scenario, "--dask", "local:0", "--out", str(tmp_path / "x.csv")]) == 2
    assert "local:N with N >= 1" in capsys.readouterr().err
    code = main(["sweep", scenario, "--vary", "scenario.days=20,30", "--workers", "2",
                 "--dask", "local:1", "--out", str(tmp_path / "x.csv")])  # fmt: skip
    assert code == 2 and "--workers and --dask" in capsys.readouterr().err
    assert main(["simulate", scenario, "--stream", "--out", str(tmp_path / "x.csv")]) == 2
    assert "--stream writes Parquet" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
