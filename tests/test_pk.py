"""Analytic PK against numerical integration of the PK ODEs, and against the label."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import pdmodel as pm
from pdmodel.pk import _bateman, concentration, drug_pk, propagate


def _numerical(pk: pm.pk.DrugPK, route: str, dose_times, amounts, weight, times):
    """Integrate dA_d/dt = -ka A_d, dA_c/dt = ka A_d - k A_c with doses as jumps."""
    absorbed = pk.absorbed(route, np.asarray(amounts, dtype=float))
    comp = 1 if pk.compartment(route) == "central" else 0
    y = np.zeros(2)
    t = 0.0
    out = []
    events = sorted(set(dose_times) | set(times))

    jac = np.array([[-pk.ka, 0.0], [pk.ka, -pk.k]])

    def f(_t, a):
        return jac @ a

    for te in events:
        if te > t:
            sol = solve_ivp(f, (t, te), y, method="DOP853", rtol=1e-13, atol=1e-16)
            assert sol.success
            y = sol.y[:, -1]
            t = te
        for td, a in zip(dose_times, absorbed, strict=True):
            if td == te:
                y[comp] += a
        if te in times:  # a dose at exactly t counts at t (post-dose), as in `concentration`
            out.append(pk.conc_factor * y[1] / pk.volume(weight))
    return np.array(out)


@pytest.mark.parametrize(
    ("drug", "route", "amount"),
    [
        ("prednisone", "oral", [60.0, 60.0, 45.0, 30.0]),
        ("dexamethasone", "oral", [40.0, 40.0, 40.0, 40.0]),
        ("dexamethasone", "iv", [40.0, 40.0, 40.0, 40.0]),
        ("il11", "sc", [3000.0, 3000.0, 3000.0, 1500.0]),
    ],
)
def test_superposition_matches_ode(params: pm.ParameterSet, drug: str, route: str, amount) -> None:
    pk = drug_pk(params)[drug]
    dose_times = [0.0, 1.0, 2.0, 3.5]
    times = sorted({0.0, 0.01, 0.05, 0.1, 0.3, 0.7, 1.0, 1.2, 2.0, 2.9, 3.5, 3.6, 4.0, 6.0})
    weight = 64.0
    analytic = concentration(pk, times, dose_times, amount, route, weight)[:, 0]
    numeric = _numerical(pk, route, dose_times, amount, weight, times)
    scale = np.max(np.abs(numeric))
    # relative error, with an absolute floor of 1e-12 of the peak for the pre-dose zero
    err = np.abs(analytic - numeric) / np.maximum(np.abs(numeric), 1e-12 * scale)
    assert np.max(err) < 1e-8


def test_superposition_vectorised_over_patients(params: pm.ParameterSet) -> None:
    pk = drug_pk(params)["il11"]
    weights = np.array([50.0, 60.0, 80.0])
    amounts = 50.0 * weights  # 50 ug/kg
    c = concentration(pk, [0.1, 0.5], [0.0], amounts[None, :], "sc", weights)
    # per-kg dosing with volume per kg: concentration independent of weight
    np.testing.assert_allclose(c, c[:, :1] * np.ones((1, 3)), rtol=1e-14)


def test_il11_label_single_dose(params: pm.ParameterSet) -> None:
    """50 ug/kg SC, 70 kg: Cmax 17.4 +/- 5.4 ng/mL, Tmax 3.2 +/- 2.4 h, t1/2 6.9 +/- 1.7 h."""
    pk = drug_pk(params)["il11"]
    hours = np.linspace(0.0, 72.0, 72 * 600 + 1)
    c = concentration(pk, hours / 24.0, [0.0], [50.0 * 70.0], "sc", 70.0)[:, 0]
    i = int(np.argmax(c))
    cmax, tmax = c[i], hours[i]
    late = (hours >= 24.0) & (hours <= 48.0)
    slope = np.polyfit(hours[late], np.log(c[late]), 1)[0]
    thalf = np.log(2) / -slope
    assert abs(cmax - 17.4) < 5.4 and abs(cmax - 17.4) < 0.1
    assert abs(tmax - 3.2) < 2.4 and abs(tmax - 3.2) < 0.05
    assert abs(thalf - 6.9) < 1.7 and abs(thalf - 6.9) < 0.05


def test_prednisolone_half_life_and_tmax(params: pm.ParameterSet) -> None:
    """Unbound prednisolone: t1/2 2-4 h and Tmax 1-2 h (MIMS monograph)."""
    pk = drug_pk(params)["prednisone"]
    hours = np.linspace(0.0, 24.0, 24 * 600 + 1)
    c = concentration(pk, hours / 24.0, [0.0], [60.0], "oral", 60.0)[:, 0]
    assert 1.0 <= hours[np.argmax(c)] <= 2.0
    assert 2.0 <= np.log(2) / pk.k * 24.0 <= 4.0


def test_prednisone_dose_dependent_bioavailability(params: pm.ParameterSet) -> None:
    pk = drug_pk(params)["prednisone"]
    ref = params["pred_f_ref"]
    np.testing.assert_allclose(pk.absorbed("oral", ref), ref, rtol=1e-14)
    assert pk.absorbed("oral", 2 * ref) == pytest.approx(2 * ref * 2 ** params["pred_f_exp"])
    assert pk.absorbed("oral", 0.0) == 0.0


def test_state_propagation_equals_superposition(params: pm.ParameterSet) -> None:
    pk = drug_pk(params)["prednisone"]
    a = pk.absorbed("oral", 60.0)
    d, c = propagate(np.array([a]), np.array([0.0]), pk.ka, pk.k, 0.3)
    d, c = propagate(d + a, c, pk.ka, pk.k, 0.7)
    direct = concentration(pk, [1.0], [0.0, 0.3], [60.0, 60.0], "oral", 70.0)[0, 0]
    assert pk.conc_factor * c[0] / pk.volume(70.0) == pytest.approx(direct, rel=1e-13)


def test_bateman_limit_ka_equals_k() -> None:
    tau = np.array([0.0, 0.1, 1.0, 5.0])
    exact = 2.0 * tau * np.exp(-2.0 * tau)
    np.testing.assert_allclose(_bateman(2.0, 2.0, tau), exact, rtol=1e-14)
    np.testing.assert_allclose(_bateman(2.0 + 1e-7, 2.0, tau), exact, rtol=1e-6)


@pytest.mark.parametrize(("ka", "k"), [(28.56, 5.5), (2.411, 17.11)])
def test_bateman_at_long_times(ka: float, k: float) -> None:
    """Finite and equal to the direct formula at any time, also when absorption is slower
    than elimination (rhIL-11: flip-flop), where ``exp((k - ka) tau)`` alone overflows."""
    tau = np.array([0.0, 0.5, 3.0, 40.0, 180.0, 1000.0])
    direct = ka / (ka - k) * (np.exp(-k * tau) - np.exp(-ka * tau))
    with np.errstate(over="raise", invalid="raise"):
        got = _bateman(ka, k, tau)
    np.testing.assert_allclose(got, direct, rtol=1e-12, atol=1e-300)


def test_wrong_route_and_shape(params: pm.ParameterSet) -> None:
    pk = drug_pk(params)["prednisone"]
    with pytest.raises(pm.RegimenError, match="prednisone cannot be given by route `iv`"):
        pk.absorbed("iv", 10.0)
    with pytest.raises(pm.RegimenError, match="`amounts` must have shape"):
        concentration(pk, [1.0], [0.0, 1.0], np.ones((3, 2)), "oral", [60.0, 70.0])
