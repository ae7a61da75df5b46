"""Notebook and lmfit habits: reprs, lmfit objects, xarray, progress bars (interchange issue)."""

from __future__ import annotations

import math

import lmfit
import numpy as np
import pytest

import pdmodel as pm
from pdmodel import _progress
from pdmodel.shipped import shipped_fit


@pytest.fixture(scope="module")
def result():
    pop = pm.Population.sample(6, seed=2)
    reg = pm.regimens.prednisone(mg_per_kg=1.0, days=14) + pm.regimens.il11(ug_per_kg=25, days=7)
    return pm.simulate(pop, reg, 30.0)


def test_simulation_result_repr_is_short_and_informative(result):
    text = repr(result)
    assert len(text) < 400 and "\n" not in text
    assert "6 patients" in text and "0-30 d (31 times)" in text and "il11" in text
    assert "array(" not in text
    html = result._repr_html_()
    assert "<table>" in html and "median platelets" in html
    median0 = np.median(result["platelets"][0])
    assert f"{median0:.1f}" in html


def test_regimen_repr_and_html():
    reg = pm.regimens.dexamethasone(mg=40, days=4) + pm.regimens.il11(ug_per_kg=50, days=14)
    text = repr(reg)
    assert text.startswith("Regimen(") and "40 mg" in text and "50 ug/kg" in text
    assert repr(pm.Regimen()) == "Regimen(no treatment)"
    assert reg._repr_html_().count("<tr>") == 1 + len(reg.courses)


def test_parameter_set_frame_and_lmfit_round_trip():
    params = pm.calibrated_parameters()
    frame = params.to_frame()
    assert list(frame.index) == list(params)
    assert frame.loc["k_ab", "value"] == params["k_ab"] and frame.loc["k_ab", "unit"] == "1/day"
    assert frame["changed"].sum() == sum(params[k] != params.table[k].value for k in params)
    lp = params.to_lmfit(free=["k_ab", "gc_ec50"])
    assert isinstance(lp, lmfit.Parameters)
    assert lp["k_ab"].vary and not lp["pred_ka"].vary
    assert lp["k_ab"].min == params.table["k_ab"].lower
    assert lp["gc_ec50"].user_data["unit"] == params.table["gc_ec50"].unit
    assert lp["pred_ka"].user_data["source"] == params.table["pred_ka"].source
    assert pm.ParameterSet.from_lmfit(lp, params) == params
    lp["k_ab"].value = 0.3
    changed = pm.ParameterSet.from_lmfit(lp, params)
    assert changed["k_ab"] == 0.3 and changed.replace(k_ab=params["k_ab"]) == params
    with pytest.raises(pm.UnknownParameterError):
        params.to_lmfit(free=["k_abb"])
    with pytest.raises(pm.ParameterError, match=r"needs an lmfit\.Parameters"):
        pm.ParameterSet.from_lmfit({"k_ab": 0.3})  # type: ignore[arg-type]
    assert "ParameterSet" in params._repr_html_()


def test_fit_result_lmfit_objects_and_report():
    fit = shipped_fit()
    lp = fit.lmfit_params
    assert {n for n, p in lp.items() if p.vary} == set(fit.free)
    name = fit.free[0]
    assert lp[name].value == fit.params[name]
    assert lp[name].stderr == pytest.approx(fit.stderr[name])
    other = fit.free[1]
    assert lp[name].correl[other] == pytest.approx(fit.correl[(name, other)])
    mr = fit.minimizer_result
    assert isinstance(mr, lmfit.minimizer.MinimizerResult)
    assert mr.chisqr == pytest.approx(fit.objective) and mr.nvarys == len(fit.free)
    sd = np.sqrt(np.diag(mr.covar))
    np.testing.assert_allclose(sd, [fit.stderr[n] for n in fit.free])
    report = lmfit.fit_report(mr)
    assert (
        "[[Fit Statistics]]" in report
        and f"chi-square         = {fit.objective:.7g}"[:24] in report
    )
    assert f"    {name}:" in report and "+/-" in report
    text = repr(fit)
    assert text.startswith("FitResult(objective=") and len(text) < 600
    assert "<table" in fit._repr_html_()
    assert math.isfinite(mr.aic) and mr.bic > mr.aic - 2 * len(fit.free)


def test_to_xarray(result):
    xr = pytest.importorskip("xarray")
    ds = result.to_xarray()
    assert isinstance(ds, xr.Dataset)
    assert ds.platelets.dims == ("time", "patient")
    np.testing.assert_array_equal(ds.platelets.values, result["platelets"])
    np.testing.assert_array_equal(ds.patient.values, result.patient_ids)
    assert ds.platelets.attrs["units"] == "10^9/L" and ds.time.attrs["units"] == "d"
    np.testing.assert_array_equal(ds.treatment_days.values, result.treatment_days())


def test_progress_shown_in_a_notebook_kernel(monkeypatch):
    assert _progress.want_progress(False) is False and _progress.want_progress(True) is True
    monkeypatch.setattr(_progress, "in_notebook", lambda: True)
    assert _progress.want_progress(None) is True
    monkeypatch.setattr(_progress, "in_notebook", lambda: False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    assert _progress.want_progress(None) is False


def test_in_notebook_is_false_outside_a_kernel():
    assert _progress.in_notebook() is False
