"""Model version 2: mechanisms (against analytic references) and regimen behaviour of the
shipped calibrated set (the acceptance checks of docs/validation.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pdmodel as pm
from pdmodel.behaviour import regimen_checks
from pdmodel.evidence import LOUWES_GROUPS, louwes_lifespans, untreated_lifespans


def test_effect_site_decays_at_its_own_rate_after_the_drug() -> None:
    """Once the plasma concentration has gone, the effect-site concentration falls as
    exp(-gc_ke0 t): the glucocorticoid effects outlast the 3-h plasma half-life."""
    params = pm.default_parameters()
    pop = pm.Population.patient(params)
    t = np.array([6.0, 7.0, 9.0])
    res = pm.simulate(pop, pm.regimens.dexamethasone(mg=40.0, days=4), 9.0, times=t,
                      observables=["conc_gc_effect", "conc_dexamethasone"], rtol=1e-10,
                      atol=1e-14)  # fmt: skip
    ce = res["conc_gc_effect"][:, 0]
    assert res["conc_dexamethasone"][0, 0] < 1e-6 * ce[0]  # plasma long gone by day 6
    np.testing.assert_allclose(ce[1:] / ce[0], np.exp(-params["gc_ke0"] * (t[1:] - t[0])),
                               rtol=1e-6)  # fmt: skip


def test_dose_matters_not_only_duration() -> None:
    """Version 1 saturated one EC50 at any usual dose, so 20 and 40 mg of dexamethasone for 4
    days depleted the clone alike (median ratio 0.98 on day 10); with the shipped version 2
    set the high-intensity effect separates them (about 0.5)."""
    ratio = {}
    for label, params in (
        ("v2", pm.calibrated_parameters()),
        ("v1", pm.default_parameters().with_model(pm.model.model_v1())),
    ):
        pop = pm.Population.sample(50, params, seed=3)
        clone = {}
        for mg in (20.0, 40.0):
            res = pm.simulate(pop, pm.regimens.dexamethasone(mg=mg, days=4), 10.0,
                              times=[10.0], observables=["clone"])  # fmt: skip
            clone[mg] = float(np.median(res["clone"][0]))
        ratio[label] = clone[40.0] / clone[20.0]
    assert ratio["v1"] > 0.95 and ratio["v2"] < 0.7, ratio


def test_durable_effect_variants_differ_only_in_the_kill() -> None:
    variants = pm.model.durable_effect_variants()
    assert set(variants) == {"pulse_kill", "signal_kill"}
    a, b = variants["pulse_kill"], variants["signal_kill"]
    assert a == pm.default_model() and a.name != b.name
    assert a.expression("e_kill").text == "e_hi" and b.expression("e_kill").text == "e_gc"
    assert a.state_names == b.state_names


def test_antibody_elimination_variants() -> None:
    """``effective_turnover`` is the default model (``ab_kdeg`` estimated around IgG's rate),
    ``igg_turnover`` fixes it, and ``platelet_sink`` adds target-mediated elimination that
    leaves the untreated steady state where it was and vanishes as the half-binding count
    grows: against ``igg_turnover`` it removes antibody faster under treatment."""
    v = pm.model.antibody_elimination_variants()
    assert set(v) == {"effective_turnover", "igg_turnover", "platelet_sink"}
    assert v["effective_turnover"] == pm.default_model()
    kdeg = {k: m.table["ab_kdeg"] for k, m in v.items()}  # type: ignore[index]
    assert not kdeg["effective_turnover"].fixed and kdeg["effective_turnover"].prior_sd == 1.0
    assert kdeg["igg_turnover"].fixed and kdeg["platelet_sink"].fixed
    assert kdeg["igg_turnover"].value == pytest.approx(math.log(2.0) / 21.0, rel=0.01)
    base = pm.calibrated_parameters().replace(ab_kdeg=kdeg["igg_turnover"].value)
    igg = base.with_model(v["igg_turnover"])
    sink = base.with_model(v["platelet_sink"])
    pop = {k: pm.Population.sample(30, p, seed=4) for k, p in (("igg", igg), ("sink", sink))}
    untreated = pm.simulate(pop["sink"], pm.Regimen(), 60.0, observables=["antibody"])
    assert np.max(np.abs(untreated["antibody"] - 1.0)) < 1e-5
    reg = pm.regimens.dexamethasone(mg=40.0, days=4)
    ab = {k: pm.simulate(pp, reg, 28.0, times=[28.0], observables=["antibody"])["antibody"][0]
          for k, pp in pop.items()}  # fmt: skip
    assert np.all(ab["sink"] < ab["igg"])
    weak = pm.Population.sample(30, sink.replace(ab_sink_plt=1e6), seed=4)
    ab_weak = pm.simulate(weak, reg, 28.0, times=[28.0], observables=["antibody"])["antibody"][0]
    np.testing.assert_allclose(ab_weak, ab["igg"], rtol=2e-3)


def test_model_v1_is_kept_for_comparison() -> None:
    v1 = pm.model.model_v1()
    assert v1.name == "itp_v1" and "ce" not in v1.state_names
    assert pm.default_model().name == "itp_v2" and "ce" in pm.default_model().state_names


def test_louwes_mixture() -> None:
    x = louwes_lifespans(200_000, seed=2)
    assert x.size == 200_000
    mean = sum(w * m for w, m, _ in LOUWES_GROUPS)
    assert x.mean() == pytest.approx(mean, rel=0.01)


#: Untreated lifespan of the virtual population against the Louwes 1999 mixture: the median and
#: the 10th and 90th percentiles each within a factor 1.25 (stated in docs/model.md; the
#: shipped set is within 1.02, 1.14 and 1.11).
LIFESPAN_FACTORS = {0.5: 1.25, 0.1: 1.25, 0.9: 1.25}


@pytest.mark.parametrize("q", sorted(LIFESPAN_FACTORS))
def test_untreated_lifespan_matches_louwes(q: float) -> None:
    model = np.quantile(untreated_lifespans(pm.calibrated_parameters(), 20_000), q)
    ref = np.quantile(louwes_lifespans(20_000), q)
    assert abs(math.log(model / ref)) <= math.log(LIFESPAN_FACTORS[q]), (q, model, ref)


@pytest.fixture(scope="module")
def checks():  # type: ignore[no-untyped-def]
    return regimen_checks(pm.calibrated_parameters(), n=1000)


@pytest.mark.parametrize(
    "check",
    [
        "hdd_response_d10",
        "hdd_responders_d7",
        "hdd_response_6mo",
        "pred_initial_response",
        "pred_complete_response",
        "pred_sustained_response",
        "pred_production",
        "il11_alone_rise",
        "il11_alone_30",
    ],
)
def test_regimen_behaviour_of_the_shipped_set(checks, check: str) -> None:  # type: ignore[no-untyped-def]
    row = checks.set_index("check").loc[check]
    assert row["ok"], f"{check}: model {row['model']:.3f}, target {row['target']}"


def test_regimen_checks_report_the_cd4cd25_direction(checks) -> None:  # type: ignore[no-untyped-def]
    row = checks.set_index("check").loc["hdd_cd4cd25_d4"]
    assert row["ok"] is None and math.isfinite(row["model"])


def test_refractory_like_patients_respond_less_than_the_earlier_selection(checks) -> None:  # type: ignore[no-untyped-def]
    """High clearance *and* low production (the check) respond to rhIL-11 alone less than high
    clearance at any production (the selection until 2026-12-06, reported, not scored): at a
    given count, higher clearance means higher production, which rhIL-11 multiplies."""
    rows = checks.set_index("check")
    earlier = rows.loc["il11_alone_30_high_clearance"]
    assert earlier["ok"] is None
    assert rows.loc["il11_alone_30", "model"] < earlier["model"]


def test_wu2016_findings_of_the_shipped_set() -> None:
    """The model-v2 acceptance for Wu 2016 as decision 40 reads it: every published comparison
    has the published direction at the estimate (2,000 per arm, as `pdmodel reproduce`); over
    the fit's posterior none is inconsistent, the joint check passes, and the count of findings
    below 0.5 is one the model's own replicates reach with probability >= 0.05."""
    from pdmodel.calibration import consistency
    from pdmodel.shipped import shipped_fit

    res = pm.simulate_trial(pm.trials.load("wu2016"), pm.calibrated_parameters(), 2000, 1)
    published = [r for r in res.findings if r.finding.type in ("comparison", "change")
                 and r.finding.significant]  # fmt: skip
    assert len(published) == 10
    assert all(r.direction_ok for r in published), [r.model for r in published]
    rep = consistency(shipped_fit(), "wu2016", n_draws=30, n_per_arm=300)
    assert rep.joint >= 0.05, rep.format()
    assert all(f.flag != "inconsistent" for f in rep.findings), rep.format()
    assert rep.below_half.p_at_least >= 0.05, rep.format()
