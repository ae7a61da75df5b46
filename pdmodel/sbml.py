"""SBML Level 3 Version 2 export of the model for one patient and one regimen.

Needs the ``[sbml]`` extra (``pip install "pdmodel[sbml]"``: python-libsbml, libroadrunner).

The export is generated from the model definition (:class:`pdmodel.model.Model`; a variant's
parameter set exports the variant).  It holds every state (the model's states and the drugs'
depot and central amounts, ``pk_<drug>_depot`` / ``pk_<drug>_central``) as a non-constant
global parameter with a rate rule, the patient's parameter values and per-patient constants as
constants with units (:mod:`pdmodel.units`), the drug concentrations, effects and all
observables as assignment rules, and every scheduled dose as an event (a bolus is an exact
jump of the depot or central amount; per-kg doses are resolved for the patient's weight).  Rules
that SBML events can express are exported: ``stop_if`` (a per-course flag set when the rule
holds at a dose time, from ``min_doses`` on) and ``give_if`` (a flag set at the first dose).
Follow-on courses (``after=``) have per-patient start times, which events of fixed times cannot
express; the export refuses them with a clear message.  Event assignments use the values at
trigger time, so rules see pre-dose observables, as in :func:`pdmodel.simulate`.

The exporter returns a string; the caller writes the file.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import MissingExtraError, RegimenError
from .model import Model
from .parameters import ParameterSet, parameters_or_default
from .pk import drug_pk
from .population import Population
from .regimens import Regimen, Rule
from .units import UNITS, sbml_unit

__all__ = ["require_libsbml", "to_sbml", "validate_sbml"]

_INSTALL = 'pip install "pdmodel[sbml]"'
_OPS = {">=": "geq", ">": "gt", "<=": "leq", "<": "lt"}
_ONE = "1 dimensionless"
_ZERO = "0 dimensionless"


def require_libsbml() -> Any:
    """Import python-libsbml or raise an ImportError naming the install command.

    Returns
    -------
    module
        ``libsbml``.
    """
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
    model_def: Model = params.model
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
    y0 = model_def.baseline(ind)[:, 0]
    pks = drug_pk(params)

    doc = libsbml.SBMLDocument(3, 2)
    model = doc.createModel()
    model.setId(model_id)
    model.setName(f"pdmodel model {model_def.name} (one patient)")
    model.setTimeUnits("day")
    for uid, parts in UNITS.values():
        if not parts:
            continue  # SBML's own dimensionless
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
        p.setUnits(sbml_unit(unit))
        p.setConstant(constant)

    def rate(pid: str, formula: str) -> None:
        r = model.createRateRule()
        r.setVariable(pid)
        _check(r.setMath(_math(libsbml, formula)), f"parse the rate of {pid}")

    def assign(pid: str, formula: str, unit: str) -> None:
        parameter(pid, 0.0, unit, False)
        r = model.createAssignmentRule()
        r.setVariable(pid)
        _check(r.setMath(_math(libsbml, formula)), f"parse the rule of {pid}")

    # every parameter, per-patient value and constant an exported expression reads
    local = set(model_def.state_names) | set(model_def.inputs)
    local |= {a.name for a in model_def.assignments}
    exprs = [model_def.expression(a.name) for a in model_def.assignments]
    exprs += [model_def.expression(f"rate:{s.name}") for s in model_def.states]
    observables = [o for o in model_def.observables if model_def.expression(f"obs:{o.name}").names
                   != {o.name}]  # fmt: skip
    exprs += [model_def.expression(f"obs:{o.name}") for o in observables]
    used = {n for e in exprs for n in e.names} - local - {o.name for o in observables}
    used |= {r.name for r in model_def.random_effects if r.typical}  # the patient, for the record
    units = {n: spec.unit for n, spec in params.table.items()}
    units.update({r.name: units[r.typical] for r in model_def.random_effects if r.typical})
    units.update({c.name: c.unit for c in model_def.constants})
    for name in sorted(used):
        value = np.asarray(ind.values[name], dtype=float).reshape(-1)[0]
        parameter(name, float(value), units[name], True)

    # PK states and the concentrations they expose
    targets: dict[str, tuple[str, str]] = {}
    for drug, conc in zip(model_def.drugs, model_def.inputs, strict=True):
        pk = pks[drug]
        pre = f"pk_{drug}"
        parameter(f"{pre}_k", pk.k, "1/day", True)
        parameter(f"{pre}_V", pk.volume(ind.weight)[0], "L", True)
        parameter(f"{pre}_conv", pk.conc_factor, f"(ng/mL)/({pk.amount_unit}/L)", True)
        parameter(f"{pre}_central", 0.0, pk.amount_unit, False)
        inflow = ""
        if not math.isinf(pk.ka):
            parameter(f"{pre}_ka", pk.ka, "1/day", True)
            parameter(f"{pre}_depot", 0.0, pk.amount_unit, False)
            rate(f"{pre}_depot", f"-{pre}_ka * {pre}_depot")
            inflow = f"{pre}_ka * {pre}_depot "
        rate(f"{pre}_central", f"{inflow}- {pre}_k * {pre}_central")
        assign(conc, f"{pre}_conv * {pre}_central / {pre}_V", "ng/mL")
        targets[drug] = (f"{pre}_central", f"{pre}_depot")

    # drug effects and intermediate quantities, states, observables
    for a in model_def.assignments:
        assign(a.name, model_def.expression(a.name).to_sbml(), a.unit)
    for j, st in enumerate(model_def.states):
        parameter(st.name, y0[j], st.unit, False)
        rate(st.name, model_def.expression(f"rate:{st.name}").to_sbml())
    for o in observables:
        assign(o.name, model_def.expression(f"obs:{o.name}").to_sbml(), o.unit)

    # doses as events
    for ci, c in enumerate(regimen.courses):
        pk = pks[c.drug]
        central, depot = targets[c.drug]
        target = central if pk.compartment(c.route) == "central" else depot
        amount = float(c.amounts(ind.weight)[0])
        absorbed = float(pk.absorbed(c.route, amount))
        cid = f"c{ci}"
        if c.give_if is not None:
            parameter(f"{cid}_given", 1.0, "1", False)
        if c.stop_if is not None:
            parameter(f"{cid}_stopped", 0.0, "1", False)
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
                cond = _rule(c.give_if, model_def)
                if k == 0:
                    gate.append(f"piecewise({_ONE}, {cond}, {_ZERO})")
                    _assign_event(
                        libsbml, ev, f"{cid}_given", f"piecewise({_ONE}, {cond}, {_ZERO})"
                    )
                else:
                    gate.append(f"{cid}_given")
            if c.stop_if is not None and k >= c.min_doses:
                cond = _rule(c.stop_if, model_def)
                gate.append(f"piecewise({_ZERO}, {cond}, {_ONE}) * ({_ONE} - {cid}_stopped)")
                _assign_event(
                    libsbml, ev, f"{cid}_stopped", f"piecewise({_ONE}, {cond}, {cid}_stopped)"
                )
            elif c.stop_if is not None:
                gate.append(f"({_ONE} - {cid}_stopped)")
            parameter(f"{cid}_amount{k}", absorbed, pk.amount_unit, True)
            dose = f"{cid}_amount{k}" + "".join(f" * {g}" for g in gate)
            _assign_event(libsbml, ev, target, f"{target} + {dose}")
    return str(libsbml.writeSBMLToString(doc))


def _rule(rule: Rule, model: Model) -> str:
    obs = next(o for o in model.observables if o.name == rule.observable)
    unit = sbml_unit(obs.unit)
    return f"{_OPS[rule.op]}({obs.name}, {float(rule.threshold)!r} {unit})"


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
    """Check a document with libSBML's consistency (and unit) checks.

    Parameters
    ----------
    text : str
        SBML document.
    units : bool
        Also check unit consistency.

    Returns
    -------
    list of str
        Empty when the document is consistent.
    """
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
