"""Validation trials: held out of every fit, predicted and reported by `pdmodel validate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import pdmodel as pm
from pdmodel import calibration as cal
from pdmodel.cli import main
from pdmodel.validate import validate, validation_trials


def test_the_shipped_validation_trial_is_marked_and_never_fitted() -> None:
    assert validation_trials() == ["yu2020_dexamethasone"]
    assert pm.trials.load("wu2016").role == "calibration"
    for trials in (["yu2020_dexamethasone"], ["wei2016_prednisone", "yu2020_dexamethasone"]):
        with pytest.raises(pm.CalibrationError, match="`yu2020_dexamethasone` is marked role"):
            cal.fit(trials, free=["k_ab"], n_per_arm=10, progress=False)
    assert "yu2020_dexamethasone" not in cal.DEFAULT_TRIALS


def test_fit_on_purpose(tmp_path: Path) -> None:
    res = cal.fit(["yu2020_dexamethasone"], free=["k_ab"], n_per_arm=10, max_nfev=2,
                  progress=False, uncertainty=False, allow_validation=True)  # fmt: skip
    assert np.isfinite(res.objective)


def test_cli_fit_refuses_a_validation_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "f.json"
    assert main(["fit", "yu2020_dexamethasone", "--free", "k_ab", "--out", str(out)]) == 2
    assert "--allow-validation" in capsys.readouterr().err
    assert not out.exists()


def test_a_bad_role_is_an_error(tmp_path: Path) -> None:
    text = Path(pm.trials.__file__).parents[1] / "data" / "trials" / "yu2020_dexamethasone.toml"
    bad = tmp_path / "bad.toml"
    bad.write_text(text.read_text().replace('role = "validation"', 'role = "test"'))
    with pytest.raises(pm.TrialError, match=r"bad.toml: `role`: must be one of calibration"):
        pm.trials.load(bad)


def test_validate_reports_published_intervals_and_predictions(params: pm.ParameterSet) -> None:
    table = validate(["yu2020_dexamethasone", "wei2016_prednisone"], params, n_per_arm=60)
    assert list(table["trial"].unique()) == ["yu2020_dexamethasone", "wei2016_prednisone"]
    assert set(table["role"]) == {"validation", "calibration"}
    row = table.iloc[0]
    ci = stats.binomtest(64, 96).proportion_ci(method="exact")  # 66.7% of 96
    assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((ci.low, ci.high))
    inside = (table["ci95_low"] <= table["model_value"]) & (
        table["model_value"] <= table["ci95_high"]
    )
    assert (table["inside_ci95"] == inside).all()
    res = pm.simulate_trial(pm.trials.load("wei2016_prednisone"), params, n_per_arm=60, seed=1)
    wei = table[table["trial"] == "wei2016_prednisone"]
    for (_, r), f in zip(wei.iterrows(), res.findings, strict=True):
        assert r["model_value"] == res.summaries["prednisone"][f.finding.endpoint].value
        assert r["status"] == f.status


def test_cli_validate_writes_its_report_and_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tmp_path / "v"
    assert main(["validate", "--n", "40", "--out", str(out)]) == 0  # whatever the verdict
    text = capsys.readouterr().out
    assert "published rates whose 95% interval holds the model's prediction" in text
    assert "regimen-behaviour checks" in text and "hdd_response_d10" in text
    assert sorted(p.name for p in out.iterdir()) == [
        "regimen_checks.csv", "validation.csv", "validation.json", "validation.png",
    ]  # fmt: skip
    report = json.loads((out / "validation.json").read_text())
    assert report["n_per_arm"] == 40 and len(report["findings"]) == 4
    checks = pd.read_csv(out / "regimen_checks.csv")
    assert len(report["regimen_checks"]) == len(checks) == 11
    assert len(pd.read_csv(out / "validation.csv")) == 4
    assert main(["validate", "--n", "0", "--out", str(tmp_path / "w")]) == 2
    assert not (tmp_path / "w").exists()
