"""SBML Level 3 Version 2 export of the model for one patient and one regimen.

Needs the ``[sbml]`` extra (``pip install "pdmodel[sbml]"``: python-libsbml, libroadrunner).

The exported model holds every state (PD states and the drugs' depot and central amounts) as a
non-constant global parameter with a rate rule, the patient's individual parameter values as
constants with units generated from the parameter table, the drug concentrations, effects and
all observables as assignment rules, and every scheduled dose as an event (a bolus is an exact
jump of the depot or central amount; per-kg doses are resolved for the patient's weight).  Rules
that SBML events can express are exported: ``stop_if`` (a per-course flag set when the rule
holds at a dose time, from ``min_doses`` on) and ``give_if`` (a flag set at the first dose).
Follow-on courses (``after=``) have per-patient start times, which events of fixed times cannot
express; the export refuses them with a clear message.  Event assignments use the values at
trigger time, so rules see pre-dose observables, as in :func:`pdmodel.simulate`.

The exporter returns a string; the caller writes the file.
"""

from __future__ import annotations

from typing import Any

from .errors import MissingExtraError, RegimenError
from .model import N_TRANSIT, STATE_NAMES, baseline_state
from .parameters import ParameterSet, parameters_or_default
from .pk import drug_pk
from .population import Population
from .regimens import Regimen, Rule

__all__ = ["require_libsbml", "to_sbml", "validate_sbml"]

_INSTALL = 'pip install "pdmodel[sbml]"'

# unit id -> list of (kind, exponent, scale, multiplier)
_UNITS: dict[str, list[tuple[str, float, int, float]]] = {
    "day": [("second", 1, 0, 86400.0)],
    "per_day": [("second", -1, 0, 1 / 86400.0)],
    "mg": [("gram", 1, -3, 1.0)],
    "ug": [("gram", 1, -6, 1.0)],
    "kg": [("gram", 1, 3, 1.0)],
    "litre_": [("litre", 1, 0, 1.0)],
    "L_per_day": [("litre", 1, 0, 1.0), ("second", -1, 0, 1 / 86400.0)],
    "L_per_kg": [("litre", 1, 0, 1.0), ("gram", -1, 3, 1.0)],
    "ng_per_mL": [("gram", 1, -9, 1.0), ("litre", -1, -3, 1.0)],
    "mg_per_L": [("gram", 1, -3, 1.0), ("litre", -1, 0, 1.0)],
    "ug_per_L": [("gram", 1, -6, 1.0), ("litre", -1, 0, 1.0)],
    "plt": [("item", 1, 9, 1.0), ("litre", -1, 0, 1.0)],
    "plt_per_day": [("item", 1, 9, 1.0), ("litre", -1, 0, 1.0), ("second", -1, 0, 1 / 86400.0)],
    "percent": [("dimensionless", 1, -2, 1.0)],
    "ng_mL_per_mg_L": [("dimensionless", 1, -3, 1.0)],
    "ng_mL_per_ug_L": [("dimensionless", 1, 0, 1.0)],
}
_TABLE_UNITS = {
    "1/day": "per_day",
    "L/day": "L_per_day",
    "L": "litre_",
    "L/kg": "L_per_kg",
    "day": "day",
    "kg": "kg",
    "mg": "mg",
    "ng/mL": "ng_per_mL",
    "10^9/L": "plt",
    "% of CD4+": "percent",
    "1": "dimensionless",
}
_OPS = {">=": "geq", ">": "gt", "<=": "leq", "<": "lt"}
_ONE = "1 dimensionless"
_ZERO = "0 dimensionless"
_DRUG_PREFIX = {"prednisone": "pred", "dexamethasone": "dex", "il11": "il11"}


def require_libsbml() -> Any:
    """Import python-libsbml or raise an ImportError naming the install command."""
    try:
        import libsbml
    except ImportError:  # pragma: no cover - depends on the environment
        raise MissingExtraError(f"SBML export needs python-libsbml: {_INSTALL}") from None
    return libsbml


def _check(code: int, what: str) -> None:
    if code != 0:  # libsbml.LIBSBML_OPERATION_SUCCESS
        raise RuntimeError(f"libSBML failed to {what} (code {code})")


def to_sbml(
    params: ParameterSet | None = None,
    regimen: Regimen | None = None,
    patient: Population | None = None,
    model_id: str = "pdmodel_itp",
) -> str:
    """The model for one patient under one regimen as an SBML L3V2 document.

    Parameters
    ----------
    params : ParameterSet, optional
        Parameters (default: package defaults).
    regimen : Regimen, optional
        Treatment (default: none).
    patient : Population, optional
        A one-patient population (default: the typical patient of `params`).
    model_id : str
        SBML model id.

    Returns
    -------
    str
        The SBML document.

    Raises
    ------
    RegimenError
        The regimen uses a follow-on course, which SBML events cannot express.
    """
    libsbml = require_libsbml()
    params = parameters_or_default(params)
    regimen = regimen or Regimen()
    patient = patient or Population.patient(params)
    if len(patient) != 1:
        raise RegimenError(f"SBML export is for one patient; got {len(patient)}")
    for c in regimen.courses:
        if c.after:
            raise RegimenError(
                f"course `{c.label}` starts when `{c.after}` ends for each patient; SBML events "
                "of fixed times cannot express that: export a regimen with fixed schedules"
            )
    ind = patient.with_params(params).individuals()
    y0 = baseline_state(ind)[:, 0]
    pks = drug_pk(params)

    doc = libsbml.SBMLDocument(3, 2)
    model = doc.createModel()
    model.setId(model_id)
    model.setName("pdmodel ITP pharmacodynamic model (one patient)")
    model.setTimeUnits("day")
    for uid, parts in _UNITS.items():
        ud = model.createUnitDefinition()
        ud.setId(uid)
        for kind, exp, scale, mult in parts:
            u = ud.createUnit()
            u.setKind(libsbml.UnitKind_forName(kind))
            u.setExponent(exp)
            u.setScale(scale)
            u.setMultiplier(mult)

    def parameter(pid: str, value: float, unit: str, constant: bool) -> None:
        p = model.createParameter()
        p.setId(pid)
        p.setValue(float(value))
        p.setUnits(unit)
        p.setConstant(constant)

    def const(pid: str, value: float, unit: str) -> None:
        parameter(pid, value, unit, True)

    def var(pid: str, value: float, unit: str) -> None:
        parameter(pid, value, unit, False)

    def rate(pid: str, formula: str) -> None:
        r = model.createRateRule()
        r.setVariable(pid)
        _check(r.setMath(_math(libsbml, formula)), f"parse the rate of {pid}")

    def assign(pid: str, formula: str, unit: str) -> None:
        var(pid, 0.0, unit)
        r = model.createAssignmentRule()
        r.setVariable(pid)
        _check(r.setMath(_math(libsbml, formula)), f"parse the rule of {pid}")

    # individual and population constants
    individual = {
        "plt_base": (ind.plt_base[0], "plt"),
        "k_ab": (ind.k_ab[0], "per_day"),
        "gc_ec50": (ind.gc_ec50[0], "ng_per_mL"),
        "il11_ec50": (ind.il11_ec50[0], "ng_per_mL"),
        "clone_r": (ind.clone_r[0], "per_day"),
        "ab_log_signal": (ind.ab_log_signal[0], "dimensionless"),
        "teff_base": (ind.teff_base[0], "percent"),
        "kin": (ind.kin[0], "plt_per_day"),
        "weight": (ind.weight[0], "kg"),
    }
    for name, (value, unit) in individual.items():
        const(name, value, unit)
    for name in (
        "plt_ksen", "fb_gamma", "mac_k", "gc_imax_mac", "gc_kill", "ab_kdeg", "ab_kp",
        "il11_smax", "il11_kpol", "th1_k", "clone_death", "teff_k", "gc_imax_teff", "treg_k",
        "gc_smax_treg", "treg_base", "treg_supp", "dex_potency",
    ):  # fmt: skip
        const(name, params[name], _TABLE_UNITS[params.table[name].unit])
    const("ktr", ind.ktr, "per_day")
    const("conv_mg", 1000.0, "ng_mL_per_mg_L")
    const("conv_ug", 1.0, "ng_mL_per_ug_L")

    # PK states and concentrations
    for drug, pre in _DRUG_PREFIX.items():
        pk = pks[drug]
        amount_unit = pk.amount_unit
        const(f"{pre}_ka", pk.ka, "per_day")
        const(f"{pre}_k", pk.k, "per_day")
        const(f"{pre}_V", pk.volume(ind.weight)[0], "litre_")
        var(f"{pre}_depot", 0.0, amount_unit)
        var(f"{pre}_central", 0.0, amount_unit)
        rate(f"{pre}_depot", f"-{pre}_ka * {pre}_depot")
        rate(f"{pre}_central", f"{pre}_ka * {pre}_depot - {pre}_k * {pre}_central")
    assign("conc_prednisolone", "conv_mg * pred_central / pred_V", "ng_per_mL")
    assign("conc_dexamethasone", "conv_mg * dex_central / dex_V", "ng_per_mL")
    assign("conc_il11", "conv_ug * il11_central / il11_V", "ng_per_mL")
    assign("conc_gc_equiv", "conc_prednisolone + dex_potency * conc_dexamethasone", "ng_per_mL")
    assign("e_gc", "conc_gc_equiv / (conc_gc_equiv + gc_ec50)", "dimensionless")
    assign("e_11", "conc_il11 / (conc_il11 + il11_ec50)", "dimensionless")

    # PD states
    units = {"mk": "plt", "plt": "plt", "mac": "dimensionless", "clone": "dimensionless",
             "ab": "dimensionless", "teff": "percent", "treg": "percent",
             "th1": "dimensionless"}  # fmt: skip
    for i, name in enumerate(STATE_NAMES):
        var(name, y0[i], units["mk" if name.startswith("mk") else name])
    rate(
        "mk1",
        "kin * (1 dimensionless + il11_smax * e_11) * (plt_base / plt)^fb_gamma - ktr * mk1",
    )
    for j in range(2, N_TRANSIT + 1):
        rate(f"mk{j}", f"ktr * (mk{j - 1} - mk{j})")
    rate("plt", f"ktr * mk{N_TRANSIT} - (plt_ksen + k_ab * ab * mac) * plt")
    rate("mac", "mac_k * (1 dimensionless - gc_imax_mac * e_gc) - mac_k * mac")
    rate(
        "clone",
        "clone * ((clone_r + clone_death) * teff / teff_base - clone_death - clone_r * clone"
        " - gc_kill * e_gc)",
    )
    rate("ab", "ab_kdeg * (clone * th1 - ab)")
    rate(
        "teff",
        "teff_k * (teff_base * (treg_base / treg)^treg_supp"
        " * (1 dimensionless - gc_imax_teff * e_gc) * th1 - teff)",
    )
    rate("th1", "th1_k * (1 dimensionless - th1) - il11_kpol * e_11 * th1")
    rate("treg", "treg_k * (treg_base * (1 dimensionless + gc_smax_treg * e_gc) - treg)")

    # observables
    assign("platelets", "plt", "plt")
    assign("antibody", "ab", "dimensionless")
    assign("paigg", "ab * (ab_kp + plt_base) / (ab_kp + plt)", "dimensionless")
    assign("ab_signal", "exp(ab_log_signal) * paigg", "dimensionless")
    assign(
        "ab_positive",
        "piecewise(1 dimensionless, geq(ab_signal, 1 dimensionless), 0 dimensionless)",
        "dimensionless",
    )
    assign("cd4cd25_pct", "teff + treg", "percent")
    assign("treg_pct", "treg", "percent")
    assign("teff_pct", "teff", "percent")
    assign("macrophage", "mac", "dimensionless")
    assign("clone_obs", "clone", "dimensionless")
    assign("th1_obs", "th1", "dimensionless")

    # doses as events
    for ci, c in enumerate(regimen.courses):
        pre = _DRUG_PREFIX[c.drug]
        pk = pks[c.drug]
        target = f"{pre}_central" if pk.compartment(c.route) == "central" else f"{pre}_depot"
        amount = float(c.amounts(ind.weight)[0])
        absorbed = float(pk.absorbed(c.route, amount))
        cid = f"c{ci}"
        if c.give_if is not None:
            var(f"{cid}_given", 1.0, "dimensionless")
        if c.stop_if is not None:
            var(f"{cid}_stopped", 0.0, "dimensionless")
        for k, t in enumerate(c.times):
            ev = model.createEvent()
            ev.setId(f"{cid}_dose{k}")
            ev.setName(f"{c.label}: dose {k + 1} on day {t:g}")
            ev.setUseValuesFromTriggerTime(True)
            trig = ev.createTrigger()
            trig.setInitialValue(False)
            trig.setPersistent(True)
            _check(trig.setMath(_math(libsbml, f"geq(time, {float(t)!r} day)")), "parse a trigger")
            gate = []
            if c.give_if is not None:
                cond = _rule(c.give_if)
                if k == 0:
                    gate.append(f"piecewise({_ONE}, {cond}, {_ZERO})")
                    _assign_event(
                        libsbml, ev, f"{cid}_given", f"piecewise({_ONE}, {cond}, {_ZERO})"
                    )
                else:
                    gate.append(f"{cid}_given")
            if c.stop_if is not None and k >= c.min_doses:
                cond = _rule(c.stop_if)
                gate.append(f"piecewise({_ZERO}, {cond}, {_ONE}) * ({_ONE} - {cid}_stopped)")
                _assign_event(
                    libsbml, ev, f"{cid}_stopped", f"piecewise({_ONE}, {cond}, {cid}_stopped)"
                )
            elif c.stop_if is not None:
                gate.append(f"({_ONE} - {cid}_stopped)")
            const(f"{cid}_amount{k}", absorbed, pk.amount_unit)
            dose = f"{cid}_amount{k}" + "".join(f" * {g}" for g in gate)
            _assign_event(libsbml, ev, target, f"{target} + {dose}")
    return str(libsbml.writeSBMLToString(doc))


def _rule(rule: Rule) -> str:
    obs = {"platelets": "plt", "antibody": "ab", "paigg": "paigg", "cd4cd25_pct": "cd4cd25_pct",
           "treg_pct": "treg"}[rule.observable]  # fmt: skip
    unit = {"platelets": "plt", "cd4cd25_pct": "percent", "treg_pct": "percent"}.get(
        rule.observable, "dimensionless"
    )
    return f"{_OPS[rule.op]}({obs}, {float(rule.threshold)!r} {unit})"


def _assign_event(libsbml: Any, ev: Any, variable: str, formula: str) -> None:
    ea = ev.createEventAssignment()
    ea.setVariable(variable)
    _check(ea.setMath(_math(libsbml, formula)), f"parse the event assignment of {variable}")


def _math(libsbml: Any, formula: str) -> Any:
    ast = libsbml.parseL3Formula(formula)
    if ast is None:
        raise RuntimeError(f"libSBML cannot parse {formula!r}: {libsbml.getLastParseL3Error()}")
    return ast


def validate_sbml(text: str, units: bool = True) -> list[str]:
    """libSBML consistency (and unit) check; returns the messages of warnings and errors."""
    libsbml = require_libsbml()
    doc = libsbml.readSBMLFromString(text)
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, units)
    doc.checkConsistency()
    out = []
    for i in range(doc.getNumErrors()):
        e = doc.getError(i)
        if e.getSeverity() >= libsbml.LIBSBML_SEV_WARNING:
            out.append(f"{e.getCategoryAsString()}: {e.getMessage().strip()}")
    return out
