"""SBML export, libSBML validation, and the independent cross-check against libroadrunner."""

from __future__ import annotations

import builtins
from pathlib import Path

import numpy as np
import pytest

import pdmodel as pm
from pdmodel import sbml
from pdmodel.cli import main
from pdmodel.regimens import Course, dexamethasone, il11, prednisone

libsbml = pytest.importorskip("libsbml")
roadrunner = pytest.importorskip("roadrunner")

REGIMENS = {
    "prednisone": prednisone(days=28, taper_days=28),
    "prednisone+il11 stop": prednisone(days=28, taper_days=28)
    + il11(ug_per_kg=50, days=14, stop_if_platelets_above=100),
    "dexamethasone pulses+rescue": dexamethasone(mg=40, days=4, cycles=2, cycle_every=14,
                                                 rescue_if_platelets_below=30, rescue_day=10)
    + Course("dexamethasone", 20.0, "mg", start=40, route="iv", label="iv dose"),
}  # fmt: skip
OBS = ["platelets", "antibody", "paigg", "ab_signal", "cd4cd25_pct", "treg_pct", "teff_pct",
       "macrophage", "conc_prednisolone", "conc_dexamethasone", "conc_il11", "conc_gc_equiv"]  # fmt: skip


def test_export_validates_with_units(params: pm.ParameterSet) -> None:
    for reg in REGIMENS.values():
        text = sbml.to_sbml(params, reg)
        assert sbml.validate_sbml(text, units=True) == []
        doc = libsbml.readSBMLFromString(text)
        assert (doc.getLevel(), doc.getVersion()) == (3, 2)
        model = doc.getModel()
        assert model.getNumEvents() == sum(c.n_doses for c in reg)
        assert model.getParameter("k_ab").getUnits() == "per_day"


@pytest.mark.parametrize("name", list(REGIMENS))
def test_roadrunner_cross_check(params: pm.ParameterSet, name: str) -> None:
    """pdmodel and libroadrunner (CVODE, from the exported SBML) agree on every observable.

    Compared on a daily grid at mid-day (away from dose events): max relative error <= 1e-5,
    with an absolute floor of 1e-6 of each series' maximum for values near zero (drug
    concentrations long after a dose); a drug never given must stay below 1e-15 ng/mL there.
    """
    reg = REGIMENS[name]
    pop = pm.Population.sample(3, params, seed=7)
    times = np.arange(0.5, 60.0, 1.0)
    ours = pm.simulate(pop, reg, 60, times=times, rtol=1e-11, atol=1e-13)
    for i in range(len(pop)):
        rr = roadrunner.RoadRunner(sbml.to_sbml(params, reg, pop[i : i + 1]))
        rr.integrator.relative_tolerance = 1e-11
        rr.integrator.absolute_tolerance = 1e-14
        rr.integrator.maximum_num_steps = 100_000
        rr.timeCourseSelections = ["time", *OBS]
        out = rr.simulate(0.0, 59.5, 120)
        idx = np.searchsorted(out[:, 0], times)
        np.testing.assert_allclose(out[idx, 0], times, atol=1e-12)
        for j, obs in enumerate(OBS):
            a, b = out[idx, j + 1], ours[obs][:, i]
            if not np.any(b):  # a drug not given: exactly 0 here, CVODE noise there (~1e-26)
                assert np.max(np.abs(a)) < 1e-15, (name, i, obs)
                continue
            floor = 1e-6 * np.max(np.abs(b))
            err = np.max(np.abs(a - b) / np.maximum(np.abs(b), floor))
            assert err <= 1e-5, (name, i, obs, err)


def test_rules_fire_identically(params: pm.ParameterSet) -> None:
    reg = REGIMENS["prednisone+il11 stop"]
    pop = pm.Population.sample(4, params.replace(il11_smax=4.0), seed=2)
    ours = pm.simulate(pop, reg, 20)
    stopped = ours.courses[-1].given.sum(axis=0) < 14
    assert stopped.any()  # the stop rule matters in this comparison
    for i in range(len(pop)):
        rr = roadrunner.RoadRunner(sbml.to_sbml(params.replace(il11_smax=4.0), reg, pop[i : i + 1]))
        rr.timeCourseSelections = ["time", "c5_stopped"]
        out = rr.simulate(0.0, 20.0, 21)
        assert bool(out[-1, 1]) == bool(stopped[i])


def test_follow_on_courses_are_refused(params: pm.ParameterSet) -> None:
    reg = prednisone(days=28, taper_days=28, until_platelets_above=100)
    with pytest.raises(pm.RegimenError, match="SBML events of fixed times cannot express that"):
        sbml.to_sbml(params, reg)
    with pytest.raises(pm.RegimenError, match="one patient"):
        sbml.to_sbml(params, REGIMENS["prednisone"], pm.Population.sample(2, params, seed=1))


def test_missing_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__

    def fake(name: str, *a, **k):
        if name == "libsbml":
            raise ImportError("no libsbml")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match=r'pip install "pdmodel\[sbml\]"'):
        sbml.require_libsbml()


def test_cli_export_sbml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reg = tmp_path / "regimen.toml"
    reg.write_text(
        '[patient]\nweight = 70.0\nplt_base = 12.0\n\n[[regimen]]\nbuilder = "prednisone"\n'
        'days = 28\ntaper_days = 28\n\n[[regimen]]\nbuilder = "il11"\nug_per_kg = 25.0\n'
        "days = 10\nstop_if_platelets_above = 100.0\n"
    )
    out = tmp_path / "model.xml"
    assert main(["export", "sbml", "--regimen", str(reg), "--out", str(out)]) == 0
    text = out.read_text()
    assert sbml.validate_sbml(text) == []
    doc = libsbml.readSBMLFromString(text)
    assert doc.getModel().getParameter("weight").getValue() == 70.0
    bad = tmp_path / "bad.toml"
    bad.write_text('[[regimen]]\nbuilder = "il11"\nweeks = 2\n')
    assert main(["export", "sbml", "--regimen", str(bad), "--out", str(tmp_path / "b.xml")]) == 2
    assert "unknown argument of `il11`" in capsys.readouterr().err
    assert not (tmp_path / "b.xml").exists()
