"""The declarative model: components, :class:`Model`, and per-patient :class:`Individuals`.

A :class:`Model` is a value: states with their right-hand sides and untreated steady states,
random effects, per-patient constants, intermediate assignments (drug effects), observables,
the drugs whose concentrations it reads, and its parameter table.  Everything that evaluates the
model is generated from it: the compiled kernel (:mod:`pdmodel.model.kernel`), the numpy
reference right-hand side, the SBML export (:mod:`pdmodel.sbml`) and the equations in
``docs/model.md`` (:meth:`Model.markdown`).  A variant is a new value
(:meth:`Model.replace`, :meth:`Model.add`, :meth:`Model.remove`, :meth:`Model.with_expression`)
that runs through the same engine, trials, calibration and export.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError, OptionError, PopulationError
from ..units import UNITS
from .expressions import Expression, parse

if TYPE_CHECKING:
    from ..parameters import ParameterSet, ParameterSpec, ParameterTable

__all__ = [
    "Assignment",
    "Constant",
    "Individuals",
    "Model",
    "Observable",
    "RandomEffect",
    "State",
]

Array = NDArray[np.float64]


def _unit(unit: str, where: str) -> None:
    if unit not in UNITS:
        raise ModelError(f"{where}: unknown unit {unit!r}; known: {', '.join(UNITS)}")


def _identifier(name: Any, what: str) -> None:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise ModelError(f"{what} name must be an identifier not starting with _, got {name!r}")


@dataclass(frozen=True)
class State:
    """A state variable.

    Parameters
    ----------
    name : str
        Identifier (used in expressions, SBML and tables).
    unit : str
        Unit (a key of :data:`pdmodel.units.UNITS`).
    rate : str
        Right-hand side ``d name / dt`` in `unit` per day (expression).
    baseline : str
        Untreated steady state (expression of parameters and per-patient constants); the
        engine starts every patient there, and a test checks the rate vanishes at it.
    description : str
        Meaning.
    symbol : str
        LaTeX symbol for the documentation (default: the name).
    """

    name: str
    unit: str
    rate: str
    baseline: str
    description: str = ""
    symbol: str = ""


@dataclass(frozen=True)
class RandomEffect:
    """A between-patient random effect: one standard-normal deviate ``z_<name>`` per patient.

    Parameters
    ----------
    name : str
        Identifier; the deviate is ``z_<name>`` in expressions.
    omega : str
        Parameter holding its log-normal SD (dimensionless).
    typical : str
        Parameter holding the typical value: the patient's value ``name = typical *
        exp(omega * z_name)`` is then available in expressions.  Empty: the deviate is used by
        per-patient constants (:class:`Constant`) only.
    description : str
        Meaning.
    """

    name: str
    omega: str
    typical: str = ""
    description: str = ""


@dataclass(frozen=True)
class Constant:
    """A per-patient constant, computed once per patient (numpy, before integration).

    Parameters
    ----------
    name : str
        Identifier.
    expr : str
        Expression of parameters, random-effect values and deviates, other constants.
    unit : str
        Unit (a key of :data:`pdmodel.units.UNITS`).
    description : str
        Meaning.
    symbol : str
        LaTeX symbol (default: the name).
    """

    name: str
    expr: str
    unit: str
    description: str = ""
    symbol: str = ""


@dataclass(frozen=True)
class Assignment:
    """An intermediate quantity evaluated with the right-hand side (a drug effect, a flux).

    Parameters
    ----------
    name : str
        Identifier.
    expr : str
        Expression of states, drug inputs, parameters, constants and other assignments.
    unit : str
        Unit (a key of :data:`pdmodel.units.UNITS`).
    description : str
        Meaning.
    gate : str
        An input or another assignment `g` such that this quantity is exactly 0 whenever `g`
        is exactly 0 (e.g. an Emax effect of a concentration).  The compiled kernel then skips
        the arithmetic of every term it multiplies while `g` is 0 (a drug not given).
    symbol : str
        LaTeX symbol (default: the name).
    """

    name: str
    expr: str
    unit: str
    description: str = ""
    gate: str = ""
    symbol: str = ""


@dataclass(frozen=True)
class Observable:
    """A model output recorded by simulations.

    Parameters
    ----------
    name : str
        Identifier (the key of results).
    expr : str
        Expression of states, inputs, assignments, constants and parameters.
    unit : str
        Unit (a key of :data:`pdmodel.units.UNITS`).
    label : str
        Unit as shown to users (default: `unit`), e.g. ``"relative to untreated"``.
    description : str
        Meaning.
    """

    name: str
    expr: str
    unit: str
    label: str = ""
    description: str = ""


Component = State | RandomEffect | Constant | Assignment | Observable


@dataclass(frozen=True, eq=False)
class Model:
    """A model definition (see the module docstring).

    Parameters
    ----------
    name : str
        Identifier of the model (SBML model id, provenance).
    description : str
        One line.
    drugs : tuple of str
        Drugs of the drug table (:data:`pdmodel.drugs.DRUG_TABLE`) whose concentrations are
        the model's inputs, in ng/mL, under the names of their ``concentration`` fields.
    states, random_effects, constants, assignments, observables : tuple
        The components.  Assignments and constants may read each other in any order (they
        are sorted so that each comes after what it reads; a cycle is an error).
    table : ParameterTable, optional
        The parameter table (default: the package table).

    Examples
    --------
    >>> import pdmodel as pm
    >>> m = pm.default_model()
    >>> m.state_names[:5]
    ('mk1', 'mk2', 'mk3', 'mk4', 'plt')
    """

    name: str
    description: str
    drugs: tuple[str, ...]
    states: tuple[State, ...]
    random_effects: tuple[RandomEffect, ...]
    constants: tuple[Constant, ...]
    assignments: tuple[Assignment, ...]
    observables: tuple[Observable, ...]
    table: ParameterTable | None = None
    _parsed: dict[str, Expression] = field(default_factory=dict, init=False, repr=False)
    _needed: dict[tuple[str, ...], list[Observable]] = field(
        default_factory=dict, init=False, repr=False
    )
    _reads: dict[tuple[str, ...], frozenset[str]] = field(
        default_factory=dict, init=False, repr=False
    )
    _read: dict[frozenset[str], frozenset[str]] = field(
        default_factory=dict, init=False, repr=False
    )

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        from ..drugs import get_drug
        from ..parameters import ParameterTable, parameter_table

        _identifier(self.name, "a model")
        for attr, kind in (
            ("states", State),
            ("random_effects", RandomEffect),
            ("constants", Constant),
            ("assignments", Assignment),
            ("observables", Observable),
        ):
            items = tuple(getattr(self, attr))
            for item in items:
                if not isinstance(item, kind):
                    raise ModelError(
                        f"model `{self.name}`: `{attr}` must hold {kind.__name__} objects, "
                        f"got {item!r}"
                    )
            object.__setattr__(self, attr, items)
        object.__setattr__(self, "drugs", tuple(self.drugs))
        if self.table is None:
            object.__setattr__(self, "table", parameter_table())
        elif not isinstance(self.table, ParameterTable):
            raise ModelError(f"model `{self.name}`: `table` must be a ParameterTable")
        table = self.table
        assert table is not None
        for d in self.drugs:
            try:
                spec = get_drug(d)
            except ValueError as exc:
                raise ModelError(f"model `{self.name}`: {exc}") from None
            missing = sorted(spec.parameters - set(table))
            if missing:
                raise ModelError(
                    f"model `{self.name}`: drug `{d}` needs parameters {missing}, which the "
                    "model's parameter table does not have"
                )
        if not self.states:
            raise ModelError(f"model `{self.name}` has no states")

        where = f"model `{self.name}`"
        seen: dict[str, str] = {}

        def claim(name: str, what: str) -> None:
            _identifier(name, f"{where}: a {what}")
            if name in seen:
                raise ModelError(f"{where}: `{name}` is defined twice ({seen[name]}, {what})")
            if name in table:
                raise ModelError(
                    f"{where}: the {what} `{name}` has the name of a parameter of the table"
                )
            seen[name] = what

        for s in self.states:
            claim(s.name, "state")
            _unit(s.unit, f"{where}, state `{s.name}`")
        for inp in self.inputs:
            claim(inp, "drug input")
        for a in self.assignments:
            claim(a.name, "assignment")
            _unit(a.unit, f"{where}, assignment `{a.name}`")
        effects_seen: set[str] = set()
        for r in self.random_effects:
            _identifier(r.name, f"{where}: a random effect")
            if r.name in effects_seen:
                raise ModelError(f"{where}: random effect `{r.name}` is defined twice")
            effects_seen.add(r.name)
            for p in (r.omega, r.typical):
                if p and p not in table:
                    raise ModelError(
                        f"{where}: random effect `{r.name}` names `{p}`, which is not in the "
                        "parameter table"
                    )
        individual = {r.name for r in self.random_effects if r.typical}
        for name in individual:
            if name in seen:
                raise ModelError(f"{where}: random effect `{name}` clashes with a {seen[name]}")
        for const in self.constants:
            if const.name in individual:
                raise ModelError(f"{where}: constant `{const.name}` clashes with a random effect")
            claim(const.name, "constant")
            _unit(const.unit, f"{where}, constant `{const.name}`")
        obs_seen: set[str] = set()
        for o in self.observables:
            _identifier(o.name, f"{where}: an observable")
            if o.name in obs_seen:
                raise ModelError(f"{where}: observable `{o.name}` is defined twice")
            obs_seen.add(o.name)
            _unit(o.unit, f"{where}, observable `{o.name}`")

        params = set(table)
        deviates = {f"z_{r.name}" for r in self.random_effects}
        scope = params | individual | deviates | {c.name for c in self.constants}
        for const in self.constants:
            self._parse(const.name, const.expr, f"{where}, constant `{const.name}`", scope)
        object.__setattr__(self, "constants", self._ordered(self.constants, "constant"))
        patient = scope - deviates  # what the kernel and baselines may read besides states
        for s in self.states:
            self._parse(f"baseline:{s.name}", s.baseline, f"{where}, baseline of `{s.name}`",
                        patient)  # fmt: skip
        kernel_scope = patient | set(self.state_names) | set(self.inputs)
        kernel_scope |= {a.name for a in self.assignments}
        for a in self.assignments:
            e = self._parse(a.name, a.expr, f"{where}, assignment `{a.name}`", kernel_scope)
            if a.gate:
                if a.gate not in kernel_scope - patient - set(self.state_names) - {a.name}:
                    raise ModelError(
                        f"{where}, assignment `{a.name}`: gate `{a.gate}` must be a drug "
                        "input or another assignment"
                    )
                if a.gate not in e.names:
                    raise ModelError(
                        f"{where}, assignment `{a.name}`: its expression does not read its "
                        f"gate `{a.gate}`"
                    )
        object.__setattr__(self, "assignments", self._ordered(self.assignments, "assignment"))
        for s in self.states:
            self._parse(f"rate:{s.name}", s.rate, f"{where}, rate of `{s.name}`", kernel_scope)
        obs_scope = set(kernel_scope)
        for o in self.observables:
            e = self._parse(f"obs:{o.name}", o.expr, f"{where}, observable `{o.name}`", obs_scope)
            if o.name in obs_scope and e.names != {o.name}:
                raise ModelError(
                    f"{where}: observable `{o.name}` has the name of another quantity; an "
                    "observable may reuse a name only to report that quantity itself"
                )
            obs_scope.add(o.name)

    def _ordered(self, items: tuple[Any, ...], what: str) -> tuple[Any, ...]:
        """`items` in an order where each comes after those it reads (stable otherwise)."""
        names = {c.name for c in items}
        deps = {c.name: self._parsed[c.name].names & names for c in items}
        done: list[Any] = []
        placed: set[str] = set()
        pending = list(items)
        while pending:
            ready = [c for c in pending if deps[c.name] <= placed]
            if not ready:
                cycle = ", ".join(f"`{c.name}`" for c in pending)
                raise ModelError(f"model `{self.name}`: the {what}s {cycle} read each other")
            first = ready[0]
            done.append(first)
            placed.add(first.name)
            pending.remove(first)
        return tuple(done)

    def _parse(self, key: str, text: str, where: str, scope: set[str]) -> Expression:
        e = parse(text, where)
        unknown = sorted(e.names - scope)
        if unknown:
            raise ModelError(
                f"{where} reads {', '.join(f'`{u}`' for u in unknown)}, which is not a "
                "parameter of the table or a state, input, constant, assignment or random "
                "effect defined before it"
            )
        self._parsed[key] = e
        return e

    # ------------------------------------------------------------------ views
    @property
    def state_names(self) -> tuple[str, ...]:
        """State names in row order of state arrays."""
        return tuple(s.name for s in self.states)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the drug-concentration inputs (ng/mL), in the order of :attr:`drugs`."""
        from ..drugs import get_drug

        return tuple(get_drug(d).concentration for d in self.drugs)

    @property
    def observable_labels(self) -> dict[str, str]:
        """Observable name -> unit as shown to users."""
        return {o.name: o.label or o.unit for o in self.observables}

    @property
    def effect_names(self) -> tuple[str, ...]:
        """Random-effect names (the keys of a population's deviates)."""
        return tuple(r.name for r in self.random_effects)

    def expression(self, key: str) -> Expression:
        """Parsed expression of a component, a state's rate or baseline, or an observable.

        Parameters
        ----------
        key : str
            A component name, ``rate:<state>``, ``baseline:<state>`` or ``obs:<observable>``.

        Returns
        -------
        Expression
            The parsed expression (parsed once per model).
        """
        try:
            return self._parsed[key]
        except KeyError:
            raise ModelError(f"model `{self.name}` has no expression `{key}`") from None

    @cached_property
    def kernel_parameters(self) -> tuple[str, ...]:
        """Parameters and per-patient constants the right-hand side reads.

        In packed-row order (the order of first use).
        """
        local = set(self.state_names) | set(self.inputs) | {a.name for a in self.assignments}
        order: dict[str, None] = {}
        exprs = [self._parsed[a.name] for a in self.assignments]
        exprs += [self._parsed[f"rate:{s.name}"] for s in self.states]
        for e in exprs:
            for n in sorted(e.names):
                if n not in local:
                    order.setdefault(n, None)
        return tuple(order)

    @cached_property
    def exact_states(self) -> tuple[str, ...]:
        """States the compiled engine solves exactly instead of stepping them.

        A state qualifies when its rate reads no other state (through its assignments too) and
        is affine in the state itself and the drug inputs, ``ds/dt = a - b s + sum_m w_m c_m``
        with `a`, `b`, `w_m` per-patient constants (an effect compartment ``(c - ce) * ke0``
        is one).  The drug inputs are sums of exponentials within a segment, so such a state
        is too; :mod:`pdmodel.model.kernel` evaluates it in closed form at every stage
        (docs/decisions.md 32).  Detected from the expressions, nothing to declare.
        """
        assigned = {a.name: self._parsed[a.name] for a in self.assignments}
        gated = {a.name for a in self.assignments if a.gate}
        states = set(self.state_names)

        def reads(e: Expression) -> set[str]:
            out: set[str] = set()
            for n in e.names:
                out |= ({n} | reads(assigned[n])) if n in assigned else {n}
            return out

        exact = []
        for st in self.states:
            rate = self._parsed[f"rate:{st.name}"]
            used = reads(rate)
            if (used & states) - {st.name} or used & gated:  # (a gated effect is a branch)
                continue
            if rate.degree(frozenset({st.name, *self.inputs}), assigned.get) == 1:
                exact.append(st.name)
        return tuple(exact)

    def parameters_read(self, drugs: Iterable[str]) -> frozenset[str]:
        """Every parameter that can change the course of a patient given only `drugs`.

        A parameter outside the set leaves every state and observable of such a patient
        bit-identical, whatever its value (the calibration solves an arm once for the
        finite-difference points that differ only in such parameters; docs/decisions.md 35).
        The proof follows what the compiled kernel computes:

        * an effect gated (:attr:`Assignment.gate`) by the input of a drug not given is exactly
          0 and every expression that reads it runs its simplified branch
          (:meth:`Expression.with_zero`), which reads fewer names;
        * a state whose rate in that branch is a product of a factor ``c - s`` or ``s - c``
          (``c`` its constant baseline) and factors of parameters only stays exactly at ``c``
          (every stage increment is ``0 * h``), so its rate's parameters are not read;
        * everything else is read: all baselines, all observables, every constant and random
          effect they reach (with its typical value and SD), the body weight (weight-based
          doses) and the PK parameters of `drugs`.

        Parameters
        ----------
        drugs : iterable of str
            Drugs the patient may receive (names of :attr:`drugs`).

        Returns
        -------
        frozenset of str
            Parameter names (keys of a :class:`pdmodel.ParameterSet`).
        """
        from ..drugs import get_drug, pk_parameters

        given = frozenset(drugs)
        cached = self._read.get(given)
        if cached is not None:  # (asked for every arm of every objective evaluation)
            return cached
        unknown = sorted(given - set(self.drugs))
        if unknown:
            raise ModelError(f"model `{self.name}` has no drug {unknown}; drugs: {self.drugs}")
        absent = {get_drug(d).concentration for d in self.drugs if d not in given}
        zero: set[str] = set()
        for a in self.assignments:  # (ordered: a gate comes before what it gates)
            if a.gate and (a.gate in absent or a.gate in zero):
                zero.add(a.name)
        gated = frozenset(zero)

        def branch(key: str) -> Expression:
            e = self._parsed[key]
            return e.with_zero(gated & e.names) if gated & e.names else e

        states = set(self.state_names)
        reads: set[str] = {"weight"} if "weight" in self.effect_names else set()
        for st in self.states:
            reads |= self._parsed[f"baseline:{st.name}"].names
            rate = branch(f"rate:{st.name}")
            if st.name in self.exact_states or not _stays_at(
                rate.tree, st.name, self._parsed[f"baseline:{st.name}"].tree, states | absent
            ):
                reads |= rate.names
        observable = {o.name for o in self.observables}
        reads |= observable
        assignment = {a.name for a in self.assignments}
        constant = {c.name for c in self.constants}
        effect = {r.name: r for r in self.random_effects}
        out: set[str] = set(pk_parameters(sorted(given)))
        seen: set[str] = set()
        todo = list(reads)
        while todo:
            name = todo.pop()
            if name in seen or name in states or name in zero:
                continue
            seen.add(name)
            if name in assignment:
                todo.extend(branch(name).names)
                continue
            if name in constant:
                todo.extend(self._parsed[name].names)
                continue
            if name in observable:  # (observables may read each other)
                todo.extend(self._parsed[f"obs:{name}"].names)
                continue
            r = effect.get(name)
            if r is not None:
                todo.extend(n for n in (r.typical, r.omega) if n)
                if r.typical != name:
                    continue
            if name not in self.inputs and not name.startswith("z_"):  # (z_: a deviate)
                out.add(name)
        result = self._read[given] = frozenset(out)
        return result

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Model):
            return NotImplemented
        return self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    @cached_property
    def key(self) -> str:
        """A digest of the whole definition (parameter table included)."""
        import hashlib

        assert self.table is not None
        text = repr(
            (
                self.name,
                self.drugs,
                self.states,
                self.random_effects,
                self.constants,
                self.assignments,
                self.observables,
                tuple(self.table.values()),
                tuple(self._drug_specs()),
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _drug_specs(self) -> list[Any]:
        from ..drugs import get_drug

        return [
            (s.name, s.concentration, s.amount_unit, tuple(s.routes.items()), s.k, s.v_per_kg,
             s.ka, s.f_dose_exp, s.f_dose_ref)
            for s in (get_drug(d) for d in self.drugs)
        ]  # fmt: skip

    def __reduce__(self) -> tuple[Any, ...]:
        from ..drugs import get_drug

        # the drug specs travel along: a worker process started fresh (spawn, dask) has only
        # the package's own drugs registered
        return (_rebuild, (self._fields(), tuple(get_drug(d) for d in self.drugs)))

    def _fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init and
                not f.name.startswith("_")}  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"Model({self.name!r}: {len(self.states)} states, {len(self.assignments)} "
            f"assignments, {len(self.observables)} observables, drugs {self.drugs})"
        )

    # ------------------------------------------------------------------ variants
    def replace(self, **changes: Any) -> Model:
        """A variant with some fields replaced (validated anew).

        Parameters
        ----------
        **changes
            Field values, as for the constructor.

        Returns
        -------
        Model
            The new model; this one is unchanged.
        """
        unknown = sorted(set(changes) - set(self._fields()))
        if unknown:
            raise ModelError(f"Model has no field(s) {unknown}")
        return Model(**{**self._fields(), **changes})

    def add(
        self,
        *components: Component | ParameterSpec,
        drugs: Iterable[str] = (),
    ) -> Model:
        """A variant with components, parameter-table rows and drugs added.

        Components of each kind are appended after the existing ones (assignments and
        constants are then ordered by what they read).

        Parameters
        ----------
        *components : State, RandomEffect, Constant, Assignment, Observable or ParameterSpec
            What to add; :class:`pdmodel.ParameterSpec` rows extend the parameter table.
        drugs : iterable of str
            Drugs of the drug table to add as inputs.

        Returns
        -------
        Model
            The new model; this one is unchanged.
        """
        from ..parameters import ParameterSpec, ParameterTable

        fields = self._fields()
        rows = []
        kinds = {
            State: "states",
            RandomEffect: "random_effects",
            Constant: "constants",
            Assignment: "assignments",
            Observable: "observables",
        }
        for comp in components:
            if isinstance(comp, ParameterSpec):
                rows.append(comp)
                continue
            attr = kinds.get(type(comp))
            if attr is None:
                raise ModelError(f"cannot add {comp!r} to a model")
            fields[attr] = (*fields[attr], comp)
        if rows:
            assert self.table is not None
            fields["table"] = ParameterTable([*self.table.values(), *rows])
        fields["drugs"] = (*self.drugs, *[d for d in drugs if d not in self.drugs])
        return Model(**fields)

    def remove(self, *names: str) -> Model:
        """A variant without the named components or drugs.

        Components are states, random effects, constants, assignments and observables.

        Parameters
        ----------
        *names : str
            Names of components or drugs.

        Returns
        -------
        Model
            The new model; this one is unchanged.
        """
        fields = self._fields()
        found: set[str] = set()
        for attr in ("states", "random_effects", "constants", "assignments", "observables"):
            kept = []
            for comp in fields[attr]:
                if comp.name in names:
                    found.add(comp.name)
                else:
                    kept.append(comp)
            fields[attr] = tuple(kept)
        drugs = tuple(d for d in self.drugs if d not in names)
        found |= set(self.drugs) - set(drugs)
        fields["drugs"] = drugs
        missing = sorted(set(names) - found)
        if missing:
            raise ModelError(f"model `{self.name}` has no component or drug named {missing}")
        return Model(**fields)

    def with_expression(self, name: str, expr: str) -> Model:
        """A variant in which one component's expression is `expr`.

        The expression replaced is a state's rate, or that of a constant, assignment or
        observable named `name` (a state's baseline: ``"baseline:<state>"``).

        Parameters
        ----------
        name : str
            Component name (``"baseline:<state>"`` for a state's baseline).
        expr : str
            The new expression (:mod:`pdmodel.model.expressions`), in the component's unit.

        Returns
        -------
        Model
            The new model; this one is unchanged.
        """
        fields = self._fields()
        target = name.removeprefix("baseline:")
        attr_of = {
            "states": "baseline" if name.startswith("baseline:") else "rate",
            "constants": "expr",
            "assignments": "expr",
            "observables": "expr",
        }
        for attr, slot in attr_of.items():
            comps = list(fields[attr])
            for j, comp in enumerate(comps):
                if comp.name == target:
                    comps[j] = dataclasses.replace(comp, **{slot: expr})
                    fields[attr] = tuple(comps)
                    return Model(**fields)
        raise ModelError(f"model `{self.name}` has no component named `{target}`")

    # ------------------------------------------------------------------ parameters
    def default_parameters(self) -> ParameterSet:
        """The table's values as a parameter set of this model.

        Returns
        -------
        ParameterSet
            The table's values.
        """
        from ..parameters import ParameterSet

        assert self.table is not None
        return ParameterSet({n: s.value for n, s in self.table.items()}, self.table, model=self)

    # ------------------------------------------------------------------ evaluation
    def individuals(
        self, params: Mapping[str, float], z: Mapping[str, NDArray[np.float64]]
    ) -> Individuals:
        """Per-patient parameter values from a parameter set and standard-normal deviates.

        Parameters
        ----------
        params : mapping
            Parameter values (units as in the table).
        z : mapping of str to ndarray, shape (n,)
            Deviate per patient for each random effect (:attr:`effect_names`).

        Returns
        -------
        Individuals
            Parameters, constants and random-effect values per patient.
        """
        missing = [k for k in self.effect_names if k not in z]
        if missing:
            raise PopulationError(f"missing standard-normal deviates for {missing}")
        values: dict[str, Any] = dict(params)
        n = 0
        for r in self.random_effects:
            zr = np.asarray(z[r.name], dtype=float)
            n = zr.shape[0]
            values[f"z_{r.name}"] = zr
            if r.typical:
                values[r.name] = params[r.typical] * np.exp(params[r.omega] * zr)
        for c in self.constants:
            values[c.name] = self._parsed[c.name].evaluate(values)
        if not self.random_effects:
            raise PopulationError(f"model `{self.name}` has no random effects: n is unknown")
        return Individuals(self, {k: v for k, v in values.items() if not k.startswith("z_")}, n)

    def baseline(self, ind: Individuals) -> Array:
        """Untreated steady state, shape ``(n_states, n)``.

        Parameters
        ----------
        ind : Individuals
            Patient parameters.

        Returns
        -------
        ndarray, shape (n_states, n)
            In the states' units.
        """
        y = np.empty((len(self.states), ind.n))
        for j, s in enumerate(self.states):
            y[j] = self._parsed[f"baseline:{s.name}"].evaluate(ind.values)
        return y

    @property
    def kernel(self) -> Any:
        """The compiled kernel module.

        Generated and compiled on first use; see :mod:`pdmodel.model.kernel`.
        """
        from .kernel import compiled

        return compiled(self)

    def rhs(
        self,
        t: float | Array,
        y: Array,
        c: Array | None,
        ind: Individuals,
        out: Array | None = None,
    ) -> Array:
        """Right-hand side from the compiled kernel (the code the engine integrates).

        Parameters
        ----------
        t : float or ndarray
            Time, days (not used: the model is autonomous given its inputs).
        y : ndarray, shape (n_states, n)
            States.
        c : ndarray, shape (n_inputs, n), or None
            Drug inputs (:attr:`inputs`), ng/mL; None: no drug.
        ind : Individuals
            Patient parameters.
        out : ndarray, shape (n_states, n), optional
            Array to write the derivatives into.

        Returns
        -------
        ndarray, shape (n_states, n)
            Derivatives, state units per day.
        """
        y, c = self._check_rhs_args(y, c, ind)
        shape = y.shape
        if out is None:
            out = np.empty(shape)
        elif not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != np.float64:
            raise OptionError(f"`out` must be a float64 array of shape {shape}")
        self.kernel.rhs_many(y, c, ind.packed, out)
        return out

    def reference_rhs(self, t: float | Array, y: Array, c: Array | None, ind: Individuals) -> Array:
        """Right-hand side evaluated with numpy from the same definition (test reference).

        Parameters
        ----------
        t : float or ndarray
            Time, days (not used).
        y : ndarray, shape (n_states, n)
            States.
        c : ndarray, shape (n_inputs, n), or None
            Drug inputs, ng/mL; None: no drug.
        ind : Individuals
            Patient parameters.

        Returns
        -------
        ndarray, shape (n_states, n)
            Derivatives, state units per day.
        """
        y, c = self._check_rhs_args(y, c, ind)
        v = self._numpy_values(y, c, ind)
        return np.array(
            [np.broadcast_to(self._parsed[f"rate:{s.name}"].evaluate(v), (ind.n,))
             for s in self.states]
        )  # fmt: skip

    def _check_rhs_args(self, y: Any, c: Any, ind: Individuals) -> tuple[Array, Array]:
        if not isinstance(ind, Individuals) or ind.model != self:
            raise OptionError("`ind` must be Individuals of this model (model.individuals())")
        shape = (len(self.states), ind.n)
        y = np.ascontiguousarray(y, dtype=float)
        if y.shape != shape:
            raise OptionError(f"`y` must have shape {shape} (states x patients), got {y.shape}")
        cshape = (len(self.inputs), ind.n)
        c = np.zeros(cshape) if c is None else np.ascontiguousarray(c, dtype=float)
        if c.shape != cshape:
            raise OptionError(
                f"`c` must have shape {cshape} (drug inputs {self.inputs} x patients), "
                f"got {c.shape}"
            )
        return y, c

    def _numpy_values(
        self, y: Array, c: Array, ind: Individuals, assignments: frozenset[str] | None = None
    ) -> dict[str, Any]:
        """States, inputs and the `assignments` (default: all) by name, as numpy values."""
        v: dict[str, Any] = dict(ind.values)
        for j, name in enumerate(self.state_names):
            v[name] = y[j]
        for m, name in enumerate(self.inputs):
            v[name] = c[m]
        for a in self.assignments:
            if assignments is None or a.name in assignments:
                v[a.name] = self._parsed[a.name].evaluate(v)
        return v

    def evaluate_observables(
        self,
        y: Array,
        concentrations: Mapping[str, Array],
        ind: Individuals,
        names: tuple[str, ...] | None = None,
    ) -> dict[str, Array]:
        """Observables from states and drug concentrations.

        Parameters
        ----------
        y : ndarray, shape (n_states, n)
            States.
        concentrations : mapping of str to ndarray, shape (n,)
            Concentration (ng/mL) by drug name, for the drugs present (absent: zero).
        ind : Individuals
            Patient parameters.
        names : tuple of str, optional
            Observables to compute (default: all).

        Returns
        -------
        dict of str to ndarray, shape (n,)
            By observable name, in the observables' units.
        """
        labels = self.observable_labels
        names = tuple(labels) if names is None else names
        for name in names:
            if name not in labels:
                raise OptionError(f"unknown observable `{name}`; available: {', '.join(labels)}")
        c = np.zeros((len(self.inputs), ind.n))
        for m, d in enumerate(self.drugs):
            if d in concentrations:
                c[m] = concentrations[d]
        observables = self._observables_for(names)
        v = self._numpy_values(y, c, ind, self._assignments_for(names))
        for o in observables:  # in order: an observable may read earlier ones
            if o.name not in v:
                v[o.name] = self._parsed[f"obs:{o.name}"].evaluate(v)
        return {
            name: np.array(
                np.broadcast_to(v[name], (ind.n,)),
                dtype=float,
                copy=True,
            )
            for name in names
        }

    def _observables_for(self, names: tuple[str, ...]) -> list[Observable]:
        """The observables `names` need (they and the earlier ones they read), in order."""
        cached = self._needed.get(names)
        if cached is None:
            needed = set(names)
            for o in reversed(self.observables):
                if o.name in needed:
                    needed |= self._parsed[f"obs:{o.name}"].names
            cached = self._needed[names] = [o for o in self.observables if o.name in needed]
        return cached

    def drugs_read(self, observables: tuple[str, ...]) -> frozenset[str]:
        """The drugs whose concentrations the `observables` read.

        Directly or through assignments and other observables: the engine computes only those
        at output times.

        Parameters
        ----------
        observables : tuple of str
            Observable names (:attr:`observable_labels`).

        Returns
        -------
        frozenset of str
            Drug names (:attr:`drugs`).
        """
        reads: set[str] = set()
        for o in self._observables_for(observables):
            reads |= self._parsed[f"obs:{o.name}"].names
        for a in self._assignments_for(observables):
            reads |= self._parsed[a].names
        return frozenset(d for d, c in zip(self.drugs, self.inputs, strict=True) if c in reads)

    def _assignments_for(self, names: tuple[str, ...]) -> frozenset[str]:
        """The assignments the observables `names` read (directly or through others)."""
        cached = self._reads.get(names)
        if cached is None:
            needed: set[str] = set()
            for o in self._observables_for(names):
                needed |= self._parsed[f"obs:{o.name}"].names
            for a in reversed(self.assignments):  # (an assignment reads earlier ones only)
                if a.name in needed:
                    needed |= self._parsed[a.name].names
            cached = frozenset(a.name for a in self.assignments if a.name in needed)
            self._reads[names] = cached
        return cached

    # ------------------------------------------------------------------ documentation
    def markdown(self) -> str:
        """The model's states, equations, constants and observables as Markdown with LaTeX.

        This is the generated part of ``docs/model.md``.

        Returns
        -------
        str
            Markdown text.
        """
        from .docs import markdown

        return markdown(self)


def _stays_at(rate: ast.expr, state: str, baseline: ast.expr, moving: set[str]) -> bool:
    """Whether `rate` is exactly 0 while `state` is at its constant `baseline`, whatever the
    parameters: a product with a factor ``c - state`` or ``state - c`` (``c`` the baseline
    number) whose other factors read none of the `moving` names (states, inputs).  Such a
    state never leaves its baseline (``c - c`` is exactly 0, and so is 0 times a finite
    number)."""
    if not (isinstance(baseline, ast.Constant) and isinstance(baseline.value, int | float)):
        return False
    factors: list[ast.expr] = []

    def split(node: ast.expr) -> None:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            split(node.left)
            split(node.right)
        else:
            factors.append(node)

    split(rate)

    def is_zero_factor(node: ast.expr) -> bool:
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub)):
            return False
        pair = (node.left, node.right)
        return any(
            isinstance(s, ast.Name) and s.id == state
            and isinstance(c, ast.Constant) and c.value == baseline.value
            for s, c in (pair, pair[::-1])
        )  # fmt: skip

    def reads_moving(node: ast.expr) -> bool:
        return any(isinstance(n, ast.Name) and n.id in moving for n in ast.walk(node))

    zeros = [f for f in factors if is_zero_factor(f)]
    return bool(zeros) and not any(reads_moving(f) for f in factors if f is not zeros[0])


def _rebuild(fields: dict[str, Any], drugs: tuple[Any, ...] = ()) -> Model:
    from ..drugs import DRUG_TABLE, register_drug

    for spec in drugs:
        if spec.name not in DRUG_TABLE:
            register_drug(spec)
    return Model(**fields)


class Individuals:
    """Model parameters of a group of patients, ready for the right-hand side.

    Per-patient values are arrays of shape ``(n,)``; population values are floats.  Every
    value is an attribute (``ind.weight``, ``ind.kin``) and an item of :attr:`values`.  Build
    with :meth:`Model.individuals` (or :meth:`from_parameters` for the default model).

    Parameters
    ----------
    model : Model
        The model the values are for.
    values : mapping of str to float or ndarray
        Parameter and per-patient values by name.
    n : int
        Number of patients.
    """

    __slots__ = ("__dict__", "model", "n", "values")

    def __init__(self, model: Model, values: Mapping[str, Any], n: int) -> None:
        self.model = model
        self.values = dict(values)
        self.n = int(n)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__getattribute__("values")[name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def from_parameters(
        cls, params: ParameterSet, z: Mapping[str, NDArray[np.float64]]
    ) -> Individuals:
        """Combine a parameter set with standard-normal deviates.

        This is :meth:`Model.individuals` of the parameter set's model.

        Parameters
        ----------
        params : ParameterSet
            Parameter set (typical values and IIV SDs).
        z : mapping of str to ndarray, shape (n,)
            Standard-normal deviate per patient for each random effect.
        """
        return params.model.individuals(params, z)

    @cached_property
    def packed(self) -> Array:
        """The kernel's parameters as one C-ordered array, shape ``(n_parameters, n)``.

        The rows of :attr:`Model.kernel_parameters` (population values repeated per patient).
        """
        return np.ascontiguousarray(
            np.stack(
                [
                    np.broadcast_to(np.asarray(self.values[name], dtype=float), (self.n,))
                    for name in self.model.kernel_parameters
                ]
            )
        )

    def take(self, idx: NDArray[np.intp] | slice) -> Individuals:
        """The subset of patients selected by `idx`.

        Parameters
        ----------
        idx : ndarray of int or slice
            Patient positions.

        Returns
        -------
        Individuals
            The selected patients' values.
        """
        values = {k: v[idx] if isinstance(v, np.ndarray) else v for k, v in self.values.items()}
        n = np.arange(self.n)[idx].size
        return Individuals(self.model, values, n)
