"""PD model: steady state, structure and observables."""

from __future__ import annotations

import numpy as np
import pytest

import pdmodel as pm
from pdmodel.model import OBSERVABLES, STATE_NAMES, baseline_state, observables, rhs
from pdmodel.regimens import RULE_OBSERVABLES

S = {name: j for j, name in enumerate(STATE_NAMES)}  # row of each state


def _free_extremes(params: pm.ParameterSet):
    for name, spec in params.table.items():
        if not spec.fixed:
            yield f"{name}=lower", params.replace(**{name: spec.lower})
            yield f"{name}=upper", params.replace(**{name: spec.upper})


def test_state_layout() -> None:
    assert STATE_NAMES == (
        "mk1", "mk2", "mk3", "mk4", "plt", "mac", "ce", "clone", "ab", "teff", "treg", "th1",
    )  # fmt: skip
    assert set(RULE_OBSERVABLES) <= set(OBSERVABLES)


@pytest.mark.parametrize("case", ["defaults", "extremes"])
def test_baseline_is_steady_state(params: pm.ParameterSet, case: str) -> None:
    sets = [params] if case == "defaults" else [p for _, p in _free_extremes(params)]
    for p in sets:
        ind = pm.Population.sample(50, p, seed=5).individuals()
        y = baseline_state(ind)
        dy = rhs(0.0, y, None, ind)
        assert np.max(np.abs(dy) / np.maximum(np.abs(y), 1e-300)) < 1e-12
        zero = np.zeros((3, ind.n))
        np.testing.assert_allclose(rhs(0.0, y, zero, ind), dy, atol=1e-14)
        ref = ind.model.reference_rhs(0.0, y, None, ind)
        assert np.max(np.abs(ref) / np.maximum(np.abs(y), 1e-300)) < 1e-12


@pytest.mark.parametrize(("treg_supp", "fb_gamma"), [(1.0, None), (0.7, None), (1.0, 0.0)])
def test_rhs_matches_the_documented_equations(
    params: pm.ParameterSet, treg_supp: float, fb_gamma: float | None
) -> None:
    """The compiled and the numpy reference right-hand sides (both generated from the model
    definition) against a plain transcription of the textbook equations of docs/model.md
    (also on the special-cased branch Treg suppression exponent 1, and without feedback)."""
    changes = {"treg_supp": treg_supp} | ({} if fb_gamma is None else {"fb_gamma": fb_gamma})
    ind = pm.Population.sample(30, params.replace(**changes), seed=4).individuals()
    rng = np.random.default_rng(11)
    y = baseline_state(ind) * rng.uniform(0.3, 2.0, size=(len(STATE_NAMES), ind.n))
    y[S["ce"]] = rng.uniform(0.0, 300.0, ind.n)  # the effect site is empty at baseline
    c_pred, c_11 = rng.uniform(0.0, 400.0, ind.n), rng.uniform(0.0, 20.0, ind.n)
    c_dex = rng.uniform(0.0, 50.0, ind.n)
    c_pred[:5] = 0.0  # patients without a drug take the compiled code's shortcut
    c_dex[:3] = 0.0
    c_11[3:10] = 0.0
    c = np.array([c_pred, c_dex, c_11])
    c_gc = c_pred + ind.dex_potency * c_dex
    mk = [y[S["mk1"]], y[S["mk2"]], y[S["mk3"]], y[S["mk4"]]]
    p, m, b, ab = y[S["plt"]], y[S["mac"]], y[S["clone"]], y[S["ab"]]
    ce, teff, r, h = y[S["ce"]], y[S["teff"]], y[S["treg"]], y[S["th1"]]
    ec50_hi = ind.gc_ec50_hi * ind.gc_ec50 / params["gc_ec50"]  # same sensitivity deviate
    e_gc, e_11 = ce / (ce + ind.gc_ec50), c_11 / (c_11 + ind.il11_ec50)
    x = (ce / ec50_hi) ** ind.gc_hill_hi
    e_hi = x / (1 + x)
    kin = (ind.plt_ksen + ind.k_ab) * ind.plt_base
    mk_imp = np.maximum(ind.prod_healthy / kin - 1.0, 0.0)
    f_mk = 1 / (1 + mk_imp * ab * (1 - ind.gc_imax_mk * e_gc))
    p0, r0, t0 = ind.plt_base, ind.treg_base, ind.teff_base
    expect = np.empty_like(y)
    expect[S["mk1"]] = (
        kin * (1 + mk_imp) * f_mk * (1 + ind.il11_smax * e_11 * f_mk)
        * (p0 / p) ** ind.fb_gamma - ind.ktr * mk[0]
    )  # fmt: skip
    for j in (1, 2, 3):
        expect[S["mk1"] + j] = ind.ktr * (mk[j - 1] - mk[j])
    expect[S["plt"]] = ind.ktr * mk[3] - (ind.plt_ksen + ind.k_ab * ab * m) * p
    expect[S["mac"]] = ind.mac_k * (1 - ind.gc_imax_mac * e_hi) - ind.mac_k * m
    expect[S["ce"]] = ind.gc_ke0 * (c_gc - ce)
    d, rr = ind.clone_death, ind.clone_r
    expect[S["clone"]] = b * ((rr + d) * teff / t0 - d - rr * b) - ind.gc_kill * e_hi * b
    expect[S["ab"]] = ind.ab_kdeg * (b * h - ab)
    expect[S["teff"]] = ind.teff_k * (
        t0 * (r0 / r) ** treg_supp * (1 - ind.gc_imax_teff * e_gc) * h - teff
    )
    expect[S["treg"]] = ind.treg_k * (r0 * (1 + ind.gc_smax_treg * e_hi) - r)
    expect[S["th1"]] = ind.th1_k * (1 - h) - ind.il11_kpol * e_11 * (h - (1 - ind.il11_imax_th1))
    scale = np.abs(expect) + ind.ktr * np.abs(y)  # terms of the size of the rates involved
    got = rhs(0.0, y, c, ind)
    assert np.max(np.abs(got - expect) / scale) < 1e-12
    ref = ind.model.reference_rhs(0.0, y, c, ind)
    assert np.max(np.abs(ref - expect) / scale) < 1e-12
    # the caller's output buffer gets the same derivatives; each patient's derivatives are
    # those of the patient alone (the compiled equations are evaluated patient by patient)
    out = np.full_like(y, np.nan)
    assert rhs(0.0, y, c, ind, out=out) is out
    np.testing.assert_array_equal(out, got)
    one = ind.take(slice(1, 2))
    np.testing.assert_array_equal(rhs(0.0, y[:, 1:2], c[:, 1:2], one), got[:, 1:2])


def test_rhs_refuses_wrong_shapes(params: pm.ParameterSet) -> None:
    """The compiled equations do not check bounds, so every shape is checked before them."""
    ind = pm.Population.sample(3, params, seed=1).individuals()
    y = baseline_state(ind)
    c = np.ones((3, 3))
    with pytest.raises(pm.OptionError, match=r"`y` must have shape \(12, 3\)"):
        rhs(0.0, y[:, :2], c, ind)
    with pytest.raises(pm.OptionError, match=r"`c` must have shape \(3, 3\) \(drug inputs"):
        rhs(0.0, y, c[:2], ind)
    with pytest.raises(pm.OptionError, match="`out` must be a float64 array of shape"):
        rhs(0.0, y, c, ind, out=np.empty((12, 2)))
    with pytest.raises(pm.OptionError, match="`out` must be a float64 array of shape"):
        rhs(0.0, y, None, ind, out=np.empty((12, 3), dtype=np.float32))
    with pytest.raises(pm.OptionError, match="`ind` must be Individuals"):
        rhs(0.0, y, None, None)  # type: ignore[arg-type]


def test_untreated_patients_stay_at_baseline(params: pm.ParameterSet) -> None:
    """The baseline is a steady state: untreated courses stay there to the integration
    tolerance (with no decision time in 180 days the explicit integrator takes steps up to its
    stability limit, where rounding-level deviations are held at the tolerance, ~2e-6 here),
    and to 1e-9 when the daily outputs end the steps."""
    pop = pm.Population.sample(40, params, seed=8)
    res = pm.simulate(pop, pm.Regimen(), days=180)
    daily = pm.simulate(pop[:4], pm.Regimen(), days=180, method="RK45", rtol=1e-9, atol=1e-12)
    for name in ("platelets", "antibody", "cd4cd25_pct", "treg_pct", "macrophage", "clone"):
        x = res[name]
        assert np.max(np.abs(x / x[0] - 1.0)) < 1e-5, name
        x = daily[name]
        assert np.max(np.abs(x / x[0] - 1.0)) < 1e-9, name
    np.testing.assert_allclose(res["platelets"][0], pop.covariates()["plt_base"], rtol=1e-15)


def test_baseline_antibody_positive_fraction(params: pm.ParameterSet) -> None:
    pop = pm.Population.sample(20000, params, seed=2)
    ind = pop.individuals()
    obs = observables(baseline_state(ind), {}, ind, ("ab_positive", "paigg"))
    frac = obs["ab_positive"].mean()
    se = np.sqrt(0.552 * 0.448 / ind.n)
    assert abs(frac - params["ab_pos_baseline"]) < 4 * se
    np.testing.assert_allclose(obs["paigg"], 1.0, rtol=1e-14)


def test_cd4cd25_falls_while_tregs_rise(params: pm.ParameterSet, small_pop: pm.Population) -> None:
    res = pm.simulate(small_pop, pm.regimens.prednisone(days=28), days=28)
    cd25, treg = res["cd4cd25_pct"], res["treg_pct"]
    assert np.all(cd25[14] < cd25[0]) and np.all(treg[14] > treg[0])
    # and the total equals effectors plus Tregs
    np.testing.assert_allclose(cd25, res["teff_pct"] + treg, rtol=1e-14)


def test_observable_errors(params: pm.ParameterSet) -> None:
    ind = pm.Population.patient(params).individuals()
    with pytest.raises(pm.OptionError, match="unknown observable `plt`"):
        observables(baseline_state(ind), {}, ind, ("plt",))


def test_default_model_layout() -> None:
    m = pm.default_model()
    assert m.state_names == STATE_NAMES
    assert m.inputs == ("conc_prednisolone", "conc_dexamethasone", "conc_il11")
    assert m.drugs == tuple(pm.drugs.DRUG_TABLE)[:3]
