"""Command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import pdmodel as pm
from pdmodel.cli import main

_SCENARIO = Path(__file__).resolve().parents[1] / "examples" / "scenarios" / "prednisone.toml"


def test_params_text(capsys: pytest.CaptureFixture[str], params: pm.ParameterSet) -> None:
    assert main(["params"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:6] == ["name", "value", "unit", "bounds", "prior", "status"]
    for name in params:
        assert f"\n{name} " in out


@pytest.mark.parametrize("fmt", ["csv", "json", "markdown"])
def test_params_formats(
    capsys: pytest.CaptureFixture[str], fmt: str, params: pm.ParameterSet
) -> None:
    assert main(["params", "--format", fmt]) == 0
    assert capsys.readouterr().out == pm.io.EXPORTERS[fmt](params)


def test_export_and_reload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.csv"
    assert main(["export", "params", "--params", "table", "--out", str(out)]) == 0
    assert pm.load_parameters(out) == pm.default_parameters()
    assert main(["params", "--params", str(out)]) == 0


def test_export_keeps_the_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pdmodel.calibration import load_fit
    from pdmodel.shipped import shipped_fit

    # default: the shipped calibrated set, with its standard errors, intervals and provenance
    shipped = shipped_fit()
    js, csv = tmp_path / "cal.json", tmp_path / "cal.csv"
    assert main(["export", "params", "--out", str(js)]) == 0
    again = load_fit(js)
    assert again.params == pm.calibrated_parameters() == shipped.params
    assert again.stderr == shipped.stderr and again.provenance == shipped.provenance
    # a fitted JSON file exported to JSON is the same document; to CSV it keeps the SE columns
    assert main(["export", "params", "--params", str(js), "--out", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text()) == json.loads(js.read_text())
    assert main(["export", "params", "--params", "calibrated", "--out", str(csv)]) == 0
    rows = {r.split(",")[0]: r for r in csv.read_text().splitlines()}
    assert rows["name"].endswith("free,stderr,ci95_low,ci95_high")
    import pandas as pd

    table = pd.read_csv(csv)  # no options
    assert list(table.columns[:3]) == ["name", "value", "unit"] and len(table) == len(
        shipped.params
    )
    assert table.set_index("name").loc["k_ab", "stderr"] == shipped.stderr["k_ab"]
    assert f",True,{shipped.stderr['k_ab']!r}," in rows["k_ab"]
    capsys.readouterr()
    # from a CSV view the uncertainty columns cannot be carried: said, not silently dropped
    assert main(["export", "params", "--params", str(csv), "--out", str(tmp_path / "c.json")]) == 0
    assert "stderr / ci95 columns" in capsys.readouterr().err
    assert pm.load_parameters(tmp_path / "c.json") == shipped.params


def test_params_keywords(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "--params", "calibrated", "--format", "json"]) == 0
    assert capsys.readouterr().out == pm.io.EXPORTERS["json"](pm.calibrated_parameters())
    assert main(["params", "--params", "table", "--format", "json"]) == 0
    assert capsys.readouterr().out == pm.io.EXPORTERS["json"](pm.default_parameters())
    assert main(["params", "--params", "calibratd"]) == 2
    err = capsys.readouterr().err
    assert "no parameter file calibratd" in err and "`calibrated`" in err
    assert main(["export", "params", "--params", "gone.json", "--out", "x.json"]) == 2
    err = capsys.readouterr().err
    assert "no parameter file gone.json" in err and "`table`" in err


def test_bad_input_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"parameters": {"k_ab": -1}}')
    assert main(["params", "--params", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pdmodel: error: ") and "k_ab" in err and err.count("\n") == 1
    assert main(["export", "params", "--out", str(tmp_path / "x" / "p.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["export", "params", "--out", str(tmp_path / "p.txt")]) == 2
    assert "cannot tell the format" in capsys.readouterr().err
    # an output that is an existing folder: named, with an example, before any work is done
    folder = tmp_path / "outdir"
    folder.mkdir()
    scenario = str(_SCENARIO)
    for argv in (
        ["export", "params", "--out", str(folder)],
        ["fit", "--out", str(folder)],
        ["simulate", scenario, "--out", str(folder)],
        ["sweep", scenario, "--vary", "il11.days=7,14", "--figure", str(folder)],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"{folder} is a folder; give a file name, e.g. {folder}" in err, argv
        assert err.count("\n") == 1
    assert list(folder.iterdir()) == []
    with pytest.raises(pm.ParameterError, match="it is a folder"):
        pm.io.write_text_atomic(folder, "x")
    assert main(["nonsense"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "examples:" in capsys.readouterr().out
    assert main(["params", "--help"]) == 0
    assert "pdmodel params --format csv" in capsys.readouterr().out


def test_fit_help_names_the_default_trials(capsys: pytest.CaptureFixture[str]) -> None:
    """The help's default trials are the ones the fit uses (it once named two of six)."""
    from pdmodel.calibration import DEFAULT_TRIALS

    assert main(["fit", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(default: " + " ".join(DEFAULT_TRIALS) + ")" in help_text


def test_module_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pdmodel", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and proc.stdout.strip() == f"pdmodel {pm.__version__}"


def test_reproduce_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["reproduce", "--n", "40", "--seed", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    from pdmodel import trials

    for f in trials.load("wu2016").findings:
        assert f.describe() in text  # every finding is listed with its status
    import pandas as pd

    table = pd.read_csv(out / "findings.csv")
    for model in table["model"]:
        assert model in text  # in full: the ordinal grades' distributions are not cut off
    verdicts = table[
        table["type"].isin(["comparison", "change"]) & (table["status"] != "not modelled")
    ]
    assert len(verdicts) == 10 and verdicts["typical_p"].between(0, 1).all()
    assert "typical P: the P value at the mean z statistic" in text
    assert "Complications are not modelled." in text
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "consistency.csv",
        "endpoints.csv",
        "endpoints.png",
        "findings.csv",
        "report.json",
        "trajectories.png",
    ]
    for csv in out.glob("*.csv"):  # plain CSV: the header is the first line
        assert pd.read_csv(csv).columns[0] == csv.read_text().split(",", 1)[0], csv.name
    # the consistency checks: every comparison and change flagged, and the joint check
    cons = pd.read_csv(out / "consistency.csv")
    assert len(cons) == 10 and set(cons["flag"]) <= {"consistent", "tension", "inconsistent"}
    assert "joint check: P(a pattern of verdicts no more likely" in text

    report = json.loads((out / "report.json").read_text())
    assert report["trial"]["id"] == "wu2016" and report["n_per_arm"] == 40 and report["seed"] == 3
    assert report["consistency"]["n_draws"] == 30 and 0 <= report["consistency"]["joint"] <= 1
    assert len(report["findings"]) == 11
    assert {r["status"] for r in report["findings"]} <= {
        "reproduced",
        "not reproduced",
        "not modelled",
    }
    # the summary line counts what the table shows
    verdicts = [r for r in report["findings"] if r["status"] != "not modelled"]
    n_ok = sum(r["status"] == "reproduced" for r in verdicts)
    n_08 = sum((r["probability"] or 0) >= 0.8 for r in verdicts)
    m = len(verdicts)
    assert f"comparisons and changes: {n_ok} of {m} reproduced" in text
    assert f"P(replicate) >= 0.8 for {n_08} of {m}." in text
    assert "published numbers" not in text  # Wu 2016 publishes no numbers


def test_reproduce_summary_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial with published numbers only: no comparison counts, a count of numbers in range."""
    code = main(["reproduce", "--trial", "wei2016_prednisone", "--n", "40",
                 "--out", str(tmp_path / "o")])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "comparisons and changes" not in text
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    n_in = sum(r["status"] == "reproduced" for r in report["findings"])
    assert f"published numbers: {n_in} of 3 inside the 95% range" in text


def test_reproduce_bands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--bands draws parameter sets from the shipped fit and writes their endpoint quantiles."""
    out = tmp_path / "o"
    code = main(["reproduce", "--n", "20", "--bands", "2", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "parameter uncertainty: 2 draws" in text and "bands.csv" in text
    import pandas as pd

    bands = pd.read_csv(out / "bands.csv")
    assert list(bands.columns) == ["endpoint", "arm", "q0.025", "q0.5", "q0.975"]
    assert set(bands.arm) == {"control", "observation"}
    ok = bands.dropna()
    assert (ok["q0.025"] <= ok["q0.5"]).all() and (ok["q0.5"] <= ok["q0.975"]).all()
    # checked before anything is simulated or written
    plain = pm.save_parameters(pm.default_parameters(), tmp_path / "plain.json")
    for argv, match in (
        (["--bands", "1"], "at least 2 draws"),
        (["--bands", "-3"], "whole number >= 0"),
        (["--bands", "2", "--params", str(plain)], "needs a parameter file written by"),
        (["--bands", "2", "--params", "table"], "come with no fit"),
        (
            [
                "--bands",
                "2",
                "--params",
                str(pm.save_parameters(pm.default_parameters(), tmp_path / "plain.csv")),
            ],
            "a fit is kept only in the JSON file",
        ),
    ):
        assert main(["reproduce", "--n", "20", "--out", str(tmp_path / "x"), *argv]) == 2
        assert match in capsys.readouterr().err
        assert not (tmp_path / "x").exists()


def test_reproduce_draws_from_an_emcee_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--chain makes the rows of an emcee chain the draws of --joint and --bands.  A chain
    whose every row is the estimate gives every finding its value at the estimate (the
    Gaussian draws would not), so the draws really are the chain's."""
    import json

    import pandas as pd

    params = pm.calibrated_parameters()
    chain = tmp_path / "c_chain.csv"
    pd.DataFrame({"k_ab": [params["k_ab"]] * 3, "lnprob": [0.0] * 3}).to_csv(chain, index=False)
    out = tmp_path / "o"
    argv = ["reproduce", "--n", "20", "--joint", "2", "--bands", "2", "--out", str(out)]
    assert main([*argv, "--chain", str(chain)]) == 0
    text = capsys.readouterr().out
    assert "2 draws from an emcee chain of 3 rows" in text
    assert "parameter uncertainty: 2 draws from an emcee chain of 3 rows" in text
    rep = json.loads((out / "report.json").read_text())["consistency"]
    assert rep["source"] == "an emcee chain of 3 rows"
    for f in rep["findings"]:
        assert f["mean"] == f["estimate"] == f["low"] == f["high"], f
    bands = pd.read_csv(out / "bands.csv").dropna()
    assert (bands["q0.025"] == bands["q0.975"]).all()
    # bad input: named, before anything is simulated or written
    for extra, match in (
        (["--chain", str(tmp_path / "none.csv")], "none.csv"),
        (["--joint", "0", "--chain", str(chain)], "also give --joint or --bands"),
    ):
        bad = ["reproduce", "--n", "20", "--out", str(tmp_path / "x"), *extra]
        assert main(bad) == 2
        assert match in capsys.readouterr().err
        assert not (tmp_path / "x").exists()


def test_reproduce_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "--n", "0", "--out", str(tmp_path / "a")]) == 2
    assert "`--n` must be a whole number >= 1" in capsys.readouterr().err
    assert main(["reproduce", "--trial", "nope", "--out", str(tmp_path / "b")]) == 2
    assert "unknown trial `nope`" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["reproduce", "--n", "5", "--out", str(blocker), "--quiet"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_outputs_go_to_one_default_folder_and_figures_next_to_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --out every command writes into pdmodel-output/; simulate's and sweep's figure
    goes next to its table (not into the current folder)."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    scenario = _SCENARIO.with_name("il11_stop_rule.toml")
    assert main(["simulate", str(scenario), "--quiet"]) == 0
    out = tmp_path / "pdmodel-output"
    assert sorted(p.name for p in out.iterdir()) == [
        "il11_stop_rule.csv",
        "il11_stop_rule.csv-metadata.json",
        "il11_stop_rule.png",
    ]
    (tmp_path / "runs").mkdir()
    assert main(["simulate", str(scenario), "--out", "runs/a.csv", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "a.csv",
        "a.csv-metadata.json",
        "a.png",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pdmodel-output", "runs"]
