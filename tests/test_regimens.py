"""Doses, courses, rules and regimen builders."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pdmodel as pm
from pdmodel.regimens import Course, Regimen, Rule, dexamethasone, dose, il11, prednisone, taper


def test_prednisone_with_taper_amounts() -> None:
    reg = prednisone(mg_per_kg=1.0, days=28, taper_days=28)
    assert [c.label for c in reg] == [
        "prednisone",
        "prednisone taper 1/4",
        "prednisone taper 2/4",
        "prednisone taper 3/4",
        "prednisone taper 4/4",
    ]
    assert [c.amount for c in reg] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])
    assert all(c.unit == "mg/kg" for c in reg)
    assert reg.last_dose == 55.0
    # 60 kg patient: 60 mg on day 0
    np.testing.assert_allclose(reg.courses[0].amounts(np.array([60.0, 50.0])), [60.0, 50.0])


def test_taper_uneven_last_step() -> None:
    reg = taper("prednisone", 40.0, "mg", start=10, days=10, step_days=4)
    assert [c.n_doses for c in reg] == [4, 4, 2]
    assert [c.start for c in reg] == [10, 14, 18]


def test_fixed_doses_and_units() -> None:
    reg = il11(ug=3000, days=7)
    c = reg.courses[0]
    assert c.unit == "ug" and c.amount == 3000
    np.testing.assert_allclose(c.amounts(np.array([50.0, 90.0])), [3000.0, 3000.0])
    mg = Course("il11", 3.0, "mg", n_doses=1)
    np.testing.assert_allclose(mg.amounts(np.array([70.0])), [3000.0])  # mg -> ug
    perkg = Course("il11", 50.0, "ug/kg")
    np.testing.assert_allclose(perkg.amounts(np.array([70.0])), [3500.0])
    pred = prednisone(mg=60.0, days=5)
    assert pred.courses[0].unit == "mg"


def test_dexamethasone_pulses_and_rescue() -> None:
    reg = dexamethasone(mg=40, days=4, cycles=3, cycle_every=14, rescue_if_platelets_below=30)
    starts = [c.start for c in reg]
    assert starts == [0.0, 14.0, 28.0, 10.0]
    rescue = reg.courses[-1]
    assert rescue.give_if == Rule("platelets", "<", 30)
    assert "given only if platelets < 30" in rescue.describe()


def test_il11_stop_rule() -> None:
    reg = il11(ug_per_kg=25, days=14, stop_if_platelets_above=100)
    c = reg.courses[0]
    assert c.stop_if == Rule("platelets", ">=", 100)
    assert c.stop_if.holds(np.array([99.0, 100.0, 150.0])).tolist() == [False, True, True]


def test_composition_and_roundtrip() -> None:
    reg = prednisone(days=7) + il11(days=7) + dose("dexamethasone", 40, "mg", day=20, route="iv")
    assert reg.drugs == ("prednisone", "dexamethasone", "il11")
    assert Regimen.from_dict(reg.to_dict()) == reg
    single = Course("il11", 50.0, "ug/kg", label="x")
    assert (single + prednisone(days=2)).courses[0] == single
    assert (prednisone(days=2) + single).courses[-1] == single
    assert "no treatment" in Regimen().describe()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"drug": "aspirin"}, "unknown drug `aspirin`"),
        ({"route": "iv"}, "il11 cannot be given by route `iv`"),
        ({"amount": -5.0}, "dose `amount` must be positive"),
        ({"amount": 0.0}, "dose `amount` must be positive"),
        ({"amount": math.nan}, "dose `amount` must be a finite number"),
        ({"amount": math.inf}, "dose `amount` must be a finite number"),
        ({"unit": "g"}, "dose unit `g` is unknown"),
        ({"n_doses": 0}, "zero-length course"),
        ({"n_doses": 2.5}, "`n_doses` must be an integer"),
        ({"interval": 0.0}, "`interval` must be > 0"),
        ({"start": -1.0}, "`start` must be >= 0"),
        ({"stop_if": "platelets>100"}, "`stop_if` must be a Rule"),
    ],
)
def test_course_errors(kwargs: dict, match: str) -> None:
    base = {"drug": "il11", "amount": 50.0, "unit": "ug/kg", "n_doses": 3}
    with pytest.raises(pm.RegimenError, match=match):
        Course(**{**base, **kwargs})


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("bleeding", ">", 1.0), "rule observable `bleeding` is unknown"),
        (("platelets", "=>", 1.0), "rule operator `=>` is unknown"),
        (("platelets", ">", math.nan), "rule `threshold` must be a finite number"),
    ],
)
def test_rule_errors(args: tuple, match: str) -> None:
    with pytest.raises(pm.RegimenError, match=match):
        Rule(*args)


def test_overlapping_courses_rejected() -> None:
    with pytest.raises(pm.RegimenError, match="both give prednisone on day 5"):
        prednisone(days=10) + Course("prednisone", 10.0, "mg", start=5, n_doses=3, label="extra")
    with pytest.raises(pm.RegimenError, match="labels must be unique"):
        il11(days=3) + il11(days=3, start=10)


def test_builder_errors() -> None:
    with pytest.raises(pm.RegimenError, match="exactly one of a per-kg dose and a fixed dose"):
        prednisone(mg_per_kg=1.0, mg=60.0)
    with pytest.raises(pm.RegimenError, match="prednisone `days` must be a whole number"):
        prednisone(days=0)
    with pytest.raises(pm.RegimenError, match="taper `days` must be a whole number"):
        taper("prednisone", 1.0, "mg/kg", 0, days=-3)
    with pytest.raises(pm.RegimenError, match=r"`cycle_every` .* is shorter than a pulse"):
        dexamethasone(days=4, cycles=2, cycle_every=3)
    for bad in ("x", None, [1], float("nan"), True):  # were bare TypeErrors
        with pytest.raises(pm.RegimenError, match="dexamethasone `cycle_every` must be a finite"):
            dexamethasone(cycle_every=bad)  # type: ignore[arg-type]
        with pytest.raises(pm.RegimenError, match="dexamethasone `start` must be a finite"):
            dexamethasone(start=bad)  # type: ignore[arg-type]
    with pytest.raises(pm.RegimenError, match="unknown course keys"):
        Course.from_dict({"drug": "il11", "amount": 1, "unit": "ug", "dose": 3})
    with pytest.raises(pm.RegimenError, match="exactly one key, `courses`"):
        Regimen.from_dict({"course": []})


def test_dexamethasone_per_kg() -> None:
    """0.15 mg/kg/day (a common Chinese standard dose) is given per patient's weight."""
    reg = pm.regimens.dexamethasone(mg_per_kg=0.15, days=4)
    (course,) = reg.courses
    assert (course.amount, course.unit, course.n_doses) == (0.15, "mg/kg", 4)
    np.testing.assert_allclose(course.amounts(np.array([50.0, 80.0])), [7.5, 12.0])
    assert pm.regimens.dexamethasone().courses[0].amount == 40.0  # the default stays 40 mg
    with pytest.raises(pm.RegimenError, match="exactly one of a per-kg dose and a fixed dose"):
        pm.regimens.dexamethasone(mg=40, mg_per_kg=0.15)
