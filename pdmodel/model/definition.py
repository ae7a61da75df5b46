"""The package's models, as data: every other representation is generated from them.

:func:`default_model` is version 2 (``itp_v2``): glucocorticoid effects driven by an
effect-site concentration with its own time course, high-intensity (pulse-dose) effects with
their own potency, an
antibody-mediated impairment of production that the glucocorticoid relieves, bounded rhIL-11
immune memory and between-patient variability of the Tregs.  :func:`model_v1` is the version
0.1 model, kept for comparison (docs/decisions.md 28).

Expressions are written in the order of operations the engine computes (see
:mod:`pdmodel.model.expressions`); the equations in ``docs/model.md`` are printed from them.
Parameter values, units, bounds and sources are in the parameter table
(``pdmodel/data/parameters.toml``).
"""

from __future__ import annotations

import dataclasses
from functools import cache

from .spec import Assignment, Constant, Model, Observable, RandomEffect, State

__all__ = [
    "N_TRANSIT",
    "antibody_elimination_variants",
    "default_model",
    "durable_effect_variants",
    "model_v1",
]

#: Number of megakaryocyte transit compartments (structural constant).
N_TRANSIT = 4

_REL = "relative to untreated"

_STATES = (
    *(
        State(
            f"mk{j}",
            "10^9/L",
            "influx - mk1 * ktr" if j == 1 else f"(mk{j - 1} - mk{j}) * ktr",
            "kin / ktr",
            f"megakaryocyte transit compartment {j} of {N_TRANSIT} (platelet equivalents)",
            f"MK_{j}",
        )
        for j in range(1, N_TRANSIT + 1)
    ),
    State(
        "plt",
        "10^9/L",
        f"mk{N_TRANSIT} * ktr - (ab * mac * k_ab + plt_ksen) * plt",
        "plt_base",
        "circulating platelets: release minus senescent and antibody x macrophage clearance",
        "P",
    ),
    State(
        "mac",
        "1",
        "e_gc * (-mac_k * gc_imax_mac) + mac_k - mac * mac_k",
        "1.0",
        "macrophage Fc clearance capacity, relative to untreated",
        "M",
    ),
    State(
        "clone",
        "1",
        "(teff / teff_base * clone_rd - clone_death - clone * clone_r - e_gc * gc_kill) * clone",
        "1.0",
        "autoreactive antibody-producing clone: help-driven proliferation against death and "
        "crowding, minus glucocorticoid kill; relative to untreated",
        "B",
    ),
    State(
        "ab",
        "1",
        "(clone * th1 - ab) * ab_kdeg",
        "1.0",
        "circulating autoantibody, relative to untreated",
        "Ab",
    ),
    State(
        "teff",
        "% of CD4+",
        "(drive - teff) * teff_k",
        "teff_base",
        "activated effector CD4+CD25+ FoxP3- T cells",
        r"T_{eff}",
    ),
    State(
        "treg",
        "% of CD4+",
        "e_gc * (treg_k * treg_base * gc_smax_treg) + treg_k * treg_base - treg * treg_k",
        "treg_base",
        "FoxP3+ regulatory T cells",
        "R",
    ),
    State(
        "th1",
        "1",
        "(1.0 - th1) * th1_k - e_11 * th1 * il11_kpol",
        "1.0",
        "Th1 polarisation of effector activation, relative to untreated",
        "H",
    ),
)

_RANDOM_EFFECTS = (
    RandomEffect("weight", "omega_weight", "weight", "body weight, kg"),
    RandomEffect("plt_base", "omega_plt_base", "plt_base", "untreated platelet count"),
    RandomEffect("k_ab", "omega_k_ab", "k_ab", "antibody-mediated clearance rate"),
    RandomEffect("gc_ec50", "omega_gc_ec50", "gc_ec50", "glucocorticoid EC50"),
    RandomEffect("il11_ec50", "omega_il11_ec50", "il11_ec50", "rhIL-11 EC50"),
    RandomEffect("clone_r", "omega_clone_r", "clone_r", "clone regrowth rate"),
    RandomEffect("ab_assay", "ab_assay_sd", "", "assay-specific antibody signal"),
    RandomEffect("teff_base", "omega_teff_base", "", "baseline activated-effector fraction"),
)

_CONSTANTS = (
    Constant(
        "ab_log_signal",
        "omega_k_ab * z_k_ab + ab_assay_sd * z_ab_assay"
        " + hypot(omega_k_ab, ab_assay_sd) * ndtri(ab_pos_baseline)",
        "1",
        "log antibody assay signal over the positivity threshold: the clearance random effect "
        "plus an assay-specific one; the threshold puts a fraction ab_pos_baseline of the "
        "untreated population above it",
        r"\ell_{Ab}",
    ),
    Constant(
        "kin",
        "(plt_ksen + k_ab) * plt_base",
        "10^9/L/day",
        "production influx that balances clearance at the untreated count",
        r"k_{in}",
    ),
    Constant(
        "teff_base",
        "(cd25_base - treg_base) * exp(omega_teff_base * z_teff_base)",
        "% of CD4+",
        "untreated activated-effector fraction (CD4+CD25+ minus FoxP3+ Tregs)",
        r"T_{eff,0}",
    ),
    Constant("clone_rd", "clone_r + clone_death", "1/day", "help-driven proliferation rate"),
    Constant(
        "teff_drive0",
        "teff_base * treg_base",
        "(% of CD4+)^2",
        "effector drive at baseline (Treg suppression exponent 1)",
    ),
    Constant("ktr", f"{N_TRANSIT}.0 / mk_mtt", "1/day", "megakaryocyte transit rate", r"k_{tr}"),
)

_ASSIGNMENTS = (
    Assignment(
        "c_gc",
        "conc_prednisolone + dex_potency * conc_dexamethasone",
        "ng/mL",
        "prednisolone-equivalent glucocorticoid concentration",
        symbol=r"C_{GC}",
    ),
    Assignment(
        "e_gc",
        "c_gc / (c_gc + gc_ec50)",
        "1",
        "glucocorticoid effect (Emax form, one EC50 for all glucocorticoid effects)",
        gate="c_gc",
        symbol=r"E_{GC}",
    ),
    Assignment(
        "e_11",
        "conc_il11 / (conc_il11 + il11_ec50)",
        "1",
        "rhIL-11 effect",
        gate="conc_il11",
        symbol=r"E_{11}",
    ),
    Assignment(
        "influx",
        "kin * exp(fb_gamma * log(plt_base / plt)) * (e_11 * il11_smax + 1.0)",
        "10^9/L/day",
        "megakaryocyte production influx: platelet feedback, stimulated by rhIL-11",
        symbol=r"\mathrm{influx}",
    ),
    Assignment(
        "drive",
        "(teff_drive0 / treg if treg_supp == 1.0 else (treg_base / treg) ** treg_supp * teff_base)"
        " * th1 * (e_gc * -gc_imax_teff + 1.0)",
        "% of CD4+",
        "effector activation drive: held back by Tregs, scaled by Th1 polarisation, "
        "suppressed by glucocorticoid",
        symbol=r"\mathrm{drive}",
    ),
)

_OBSERVABLES = (
    Observable("platelets", "plt", "10^9/L", description="platelet count"),
    Observable("antibody", "ab", "1", _REL, "circulating autoantibody"),
    Observable(
        "paigg",
        "ab * (ab_kp + plt_base) / (ab_kp + plt)",
        "1",
        _REL,
        "platelet-associated IgG per platelet (antibody shared among platelets)",
    ),
    Observable(
        "ab_signal",
        "exp(ab_log_signal) * paigg",
        "1",
        "assay signal / positivity threshold",
        "antibody assay signal",
    ),
    Observable(
        "ab_positive", "1.0 if ab_signal >= 1.0 else 0.0", "1", "1 = positive", "antibody test"
    ),
    Observable("cd4cd25_pct", "teff + treg", "% of CD4+", description="CD4+CD25+ T cells"),
    Observable("treg_pct", "treg", "% of CD4+", description="FoxP3+ regulatory T cells"),
    Observable("teff_pct", "teff", "% of CD4+", description="activated effector T cells"),
    Observable("macrophage", "mac", "1", _REL, "macrophage Fc clearance capacity"),
    Observable("clone", "clone", "1", _REL, "autoreactive clone"),
    Observable("th1", "th1", "1", _REL, "Th1 polarisation"),
    Observable(
        "conc_prednisolone", "conc_prednisolone", "ng/mL", "ng/mL (unbound)", "prednisolone"
    ),
    Observable("conc_dexamethasone", "conc_dexamethasone", "ng/mL", description="dexamethasone"),
    Observable("conc_il11", "conc_il11", "ng/mL", description="rhIL-11"),
    Observable(
        "conc_gc_equiv",
        "c_gc",
        "ng/mL",
        "ng/mL prednisolone-equivalent",
        "glucocorticoid concentration, prednisolone-equivalent",
    ),
)


@cache
def model_v1() -> Model:
    """The version 0.1 model (``itp_v1``) with the package's parameter table.

    Every glucocorticoid effect is an on-drug Emax effect of one EC50, the prednisone response
    comes through platelet survival only, and rhIL-11's Th1 shift is unbounded.  Kept to compare
    against version 2 (docs/validation.md); not what the package simulates by default.

    Returns
    -------
    Model
    """
    return Model(
        name="itp_v1",
        description="ITP: megakaryocytes, platelets, antibody clearance, T-cell dynamics "
        "under glucocorticoid and rhIL-11",
        drugs=("prednisone", "dexamethasone", "il11"),
        states=_STATES,
        random_effects=_RANDOM_EFFECTS,
        constants=_CONSTANTS,
        assignments=_ASSIGNMENTS,
        observables=_OBSERVABLES,
    )


# --------------------------------------------------------------------------- version 2
# What changes against version 1, and why: docs/decisions.md 28 and docs/model.md.


def _v2_state(name: str) -> State:
    v1 = {s.name: s for s in _STATES}[name]
    changes = _V2_STATE_CHANGES.get(name)
    if changes is None:
        return v1
    rate, description = changes
    return State(v1.name, v1.unit, rate, v1.baseline, description, v1.symbol)


_V2_STATE_CHANGES: dict[str, tuple[str, str]] = {
    "mac": (
        "e_hi * (-mac_k * gc_imax_mac) + mac_k - mac * mac_k",
        "macrophage Fc clearance capacity, relative to untreated; suppressed by the "
        "high-intensity glucocorticoid effect",
    ),
    "clone": (
        "(teff / teff_base * clone_rd - clone_death - clone * clone_r - e_kill * gc_kill) * clone",
        "autoreactive antibody-producing clone: help-driven proliferation against death and "
        "crowding, minus glucocorticoid-induced loss (the durable effect); relative to untreated",
    ),
    "treg": (
        "e_hi * (treg_k * treg_base * gc_smax_treg) + treg_k * treg_base - treg * treg_k",
        "FoxP3+ regulatory T cells; expanded by the high-intensity glucocorticoid effect",
    ),
    "th1": (
        "(1.0 - th1) * th1_k - e_11 * (th1 + il11_imax_th1 - 1.0) * il11_kpol",
        "Th1 polarisation of effector activation, relative to untreated; rhIL-11 shifts it "
        "towards its floor 1 - il11_imax_th1 (bounded immune memory)",
    ),
}

_V2_BIOPHASE = State(
    "ce",
    "ng/mL",
    "(c_gc - ce) * gc_ke0",
    "0.0",
    "glucocorticoid concentration at the effect site (biophase, prednisolone-equivalent): "
    "follows plasma with its own rate, so the effects outlast the plasma concentration",
    r"C_{e}",
)

_V2_STATES = (
    *(_v2_state(s.name) for s in _STATES[: N_TRANSIT + 1]),
    _v2_state("mac"),
    _V2_BIOPHASE,
    *(_v2_state(s.name) for s in _STATES[N_TRANSIT + 2 :]),
)

_V2_RANDOM_EFFECTS = (
    *_RANDOM_EFFECTS,
    RandomEffect("treg_base", "omega_treg_base", "treg_base", "baseline FoxP3+ Treg fraction"),
    RandomEffect(
        "gc_smax_treg", "omega_gc_smax_treg", "gc_smax_treg", "Treg rise under glucocorticoid"
    ),
)

_V2_CONSTANTS = (
    *_CONSTANTS,
    Constant(
        "mk_imp",
        "prod_healthy / kin - 1.0 if prod_healthy > kin else 0.0",
        "1",
        "antibody-mediated impairment of the patient's megakaryopoiesis: its untreated "
        "production kin is 1 / (1 + mk_imp) of a healthy one",
        r"I_{MK,i}",
    ),
    Constant(
        "ec50_hi",
        "gc_ec50_hi * exp(omega_gc_ec50 * z_gc_ec50)",
        "ng/mL",
        "the patient's potency of the high-intensity glucocorticoid effects (the same "
        "sensitivity deviate as gc_ec50)",
        r"EC_{50,hi}",
    ),
)

_V1_ASSIGNMENT = {a.name: a for a in _ASSIGNMENTS}

_V2_ASSIGNMENTS = (
    _V1_ASSIGNMENT["c_gc"],
    Assignment(
        "e_gc",
        "ce / (ce + gc_ec50)",
        "1",
        "receptor-mediated glucocorticoid effect at the effect site (Emax form): relief of the "
        "production impairment, suppression of effector activation",
        symbol=r"E_{GC}",
    ),
    Assignment(
        "ce_hi",
        "(sqrt(ce * ce) / ec50_hi) ** gc_hill_hi",
        "1",
        "effect-site concentration over the high-intensity potency, to the Hill exponent (the "
        "magnitude, so that a rounding-level negative value cannot give a NaN)",
        symbol=r"x_{hi}",
    ),
    Assignment(
        "e_hi",
        "ce_hi / (ce_hi + 1.0)",
        "1",
        "high-intensity glucocorticoid effect (Hill form), reached at pulse doses: macrophage "
        "clearance, loss of the autoreactive clone, Treg expansion",
        symbol=r"E_{hi}",
    ),
    Assignment(
        "e_kill", "e_hi", "1", "glucocorticoid effect that depletes the clone", symbol="E_{kill}"
    ),
    _V1_ASSIGNMENT["e_11"],
    Assignment(
        "mk_free",
        "1.0 / (ab * (1.0 - gc_imax_mk * e_gc) * mk_imp + 1.0)",
        "1",
        "fraction of megakaryopoiesis not impaired by antibody (1 / (1 + mk_imp) untreated); "
        "glucocorticoid relieves the impairment",
        symbol=r"f_{MK}",
    ),
    Assignment(
        "influx",
        "kin * exp(fb_gamma * log(plt_base / plt)) * (mk_imp + 1.0) * mk_free"
        " * (e_11 * il11_smax * mk_free + 1.0)",
        "10^9/L/day",
        "megakaryocyte production influx: platelet feedback, the unimpaired fraction of "
        "megakaryopoiesis, and rhIL-11 stimulation of that unimpaired fraction",
        symbol=r"\mathrm{influx}",
    ),
    _V1_ASSIGNMENT["drive"],  # the same expression; e_gc now reads the effect site
)

_V2_OBSERVABLES = (
    *_OBSERVABLES,
    Observable(
        "production",
        f"mk{N_TRANSIT} * ktr",
        "10^9/L/day",
        description="platelet production (release from the last megakaryocyte compartment)",
    ),
    Observable(
        "lifespan",
        "1.0 / (ab * mac * k_ab + plt_ksen)",
        "day",
        description="mean platelet lifespan at the current clearance",
    ),
    Observable(
        "conc_gc_effect",
        "ce",
        "ng/mL",
        "ng/mL prednisolone-equivalent",
        "glucocorticoid concentration at the effect site",
    ),
)


@cache
def default_model() -> Model:
    """The package's model (version 2, ``itp_v2``) with the package's parameter table.

    Returns
    -------
    Model

    See Also
    --------
    model_v1 : The version 0.1 model.
    durable_effect_variants : The competing mechanisms of the durable glucocorticoid effect.
    """
    return Model(
        name="itp_v2",
        description="ITP: megakaryocytes, platelets, antibody clearance, T-cell dynamics "
        "under glucocorticoid (receptor-mediated signal and pulse-dose effects) and rhIL-11",
        drugs=("prednisone", "dexamethasone", "il11"),
        states=_V2_STATES,
        random_effects=_V2_RANDOM_EFFECTS,
        constants=_V2_CONSTANTS,
        assignments=_V2_ASSIGNMENTS,
        observables=_V2_OBSERVABLES,
    )


@cache
def durable_effect_variants() -> dict[str, Model]:
    """Competing mechanisms of the durable glucocorticoid effect on the autoreactive clone.

    ``pulse_kill`` (the default model): the clone is depleted by the high-intensity effect
    ``e_hi``, so the dose intensity of a course matters.  ``signal_kill``: it is depleted by
    the receptor-mediated signal ``gcs``, so only the duration of receptor occupancy matters
    (version 1's assumption, with the signal's time course).  Fitted and compared in
    docs/calibration.md.

    Returns
    -------
    dict of str to Model
    """
    base = default_model()
    signal = base.with_expression("e_kill", "e_gc").replace(name="itp_v2_signal_kill")
    return {"pulse_kill": base, "signal_kill": signal}


#: The platelet count whose antigen binds half of the autoantibody, from the only sourced
#: affinity and site density (7E3, anti-GPIIb/IIIa, in rats: 1.2e7 /M and 3.3e4 sites per
#: platelet; Hansen & Balthasar, J Pharmacol Exp Ther): 6.022e23 / (1.2e7 x 3.3e4) platelets/L.
AB_SINK_PLT_7E3 = 1521.0


@cache
def antibody_elimination_variants() -> dict[str, Model]:
    """Competing routes of autoantibody elimination.

    ``effective_turnover`` (the default model): the autoantibody is eliminated at one rate,
    ``ab_kdeg``, estimated with a prior centred on FcRn-protected IgG turnover.
    ``igg_turnover``: that rate fixed at IgG's (21-day half-life; the shipped model until
    2026-12-07).  ``platelet_sink``: IgG's turnover plus target-mediated elimination, antibody
    bound to platelets being cleared with them (Hansen & Balthasar's model), at the bound
    fraction ``plt / (plt + ab_sink_plt)`` times the platelets' clearance rate, with production
    raised so that the untreated level is unchanged; ``ab_sink_plt`` is estimated with a prior
    centred on the 7E3 value (:data:`AB_SINK_PLT_7E3`).  Fitted and compared in
    docs/calibration.md.

    Returns
    -------
    dict of str to Model
        By variant name.
    """
    from ..parameters import ParameterSpec, ParameterTable

    base = default_model()
    assert base.table is not None
    fixed_rows = [
        dataclasses.replace(r, prior_sd=None, fixed=True) if r.name == "ab_kdeg" else r
        for r in base.table.values()
    ]
    igg = base.replace(name="itp_v2_igg_turnover", table=ParameterTable(fixed_rows))
    sink = (
        igg.add(
            ParameterSpec(
                "ab_sink_plt",
                AB_SINK_PLT_7E3,
                "10^9/L",
                1.0,
                1e6,
                "derived",
                "Platelet count whose antigen binds half of the autoantibody (all of it taken "
                "to be in plasma).",
                "prior centre from the affinity 1.2e7 /M and 3.3e4 sites per platelet of 7E3 "
                "(anti-GPIIb/IIIa) in rats, Hansen & Balthasar, J Pharmacol Exp Ther "
                "(6.022e23 / (1.2e7 x 3.3e4) platelets/L); the human autoantibody's affinity "
                "and distribution are not measured, hence a wide log-normal prior (SD 1.5)",
                prior_sd=1.5,
            ),
            Constant(
                "ab_sink0",
                "plt_base / (plt_base + ab_sink_plt) * (k_ab + plt_ksen)",
                "1/day",
                "untreated target-mediated elimination rate of the autoantibody",
            ),
            Assignment(
                "ab_sink",
                "plt / (plt + ab_sink_plt) * (ab * mac * k_ab + plt_ksen)",
                "1/day",
                "target-mediated elimination rate of the autoantibody: the bound fraction "
                "times the platelets' clearance rate",
            ),
        )
        .with_expression("ab", "(ab_kdeg + ab_sink0) * clone * th1 - (ab_kdeg + ab_sink) * ab")
        .replace(name="itp_v2_platelet_sink")
    )
    return {"effective_turnover": base, "igg_turnover": igg, "platelet_sink": sink}
