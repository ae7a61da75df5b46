"""Doses, courses, per-patient rules and composable regimens (plain data).

A :class:`Regimen` is a set of :class:`Course` objects.  A course is a drug given at a fixed
amount every `interval` days, `n_doses` times, starting on day `start` (time 0 is the first day
of treatment; doses are given at whole or fractional days).  Two optional per-patient rules make a
course state-dependent; they are evaluated by the solver on each patient's own trajectory:

``stop_if``
    checked before every dose of the course (on the pre-dose observables); once it holds, the
    patient receives no further dose of that course (e.g. stop rhIL-11 once platelets >= 100).
``give_if``
    checked once, before the first dose; if it does not hold the patient skips the whole course
    (e.g. a second dexamethasone pulse if platelets < 30 on day 10).

A course may also *follow* another (``after="<label>"``): it then starts, for each patient,
``start`` days after the other course ended for that patient (its last dose was given, its stop
rule fired, or it was skipped).  This expresses response-guided schedules such as "prednisone
1 mg/kg/day until platelets >= 100 (at least 14 days, at most 28), then a 4-week taper".

Regimens combine with ``+``.  Builders cover the usual ITP regimens::

    reg = prednisone(mg_per_kg=1.0, days=28, taper_days=28) + il11(ug_per_kg=50, days=14,
                                                                  stop_if_platelets_above=100)
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .checks import check_finite
from .drugs import AMOUNT_UNITS, DRUG_TABLE, get_drug
from .errors import RegimenError

__all__ = [
    "RULE_OBSERVABLES",
    "Course",
    "Regimen",
    "Rule",
    "dexamethasone",
    "dose",
    "il11",
    "prednisone",
    "taper",
]

#: Observables a rule may test (all are per-patient model outputs; see :mod:`pdmodel.model`).
RULE_OBSERVABLES: tuple[str, ...] = (
    "platelets",
    "antibody",
    "paigg",
    "cd4cd25_pct",
    "treg_pct",
)

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}

#: Units accepted for an amount, with their factor to mg (per kg when the unit says so).
#: Heaviest plausible patient, kg: converts a per-kg dose limit to an absolute one.
_HEAVIEST_KG = 150.0

_UNITS: dict[str, tuple[float, bool]] = {
    "mg": (1.0, False),
    "mg/kg": (1.0, True),
    "ug": (1e-3, False),
    "ug/kg": (1e-3, True),
}
_TIME_TOL = 1e-9  # days; dose times closer than this are the same time


def _finite(value: Any, what: str) -> float:
    return check_finite(value, "", RegimenError, subject=what)


@dataclass(frozen=True)
class Rule:
    """A per-patient condition on an observable, e.g. ``Rule("platelets", ">=", 100)``.

    Parameters
    ----------
    observable : str
        One of :data:`RULE_OBSERVABLES` (platelets in 10^9/L, percentages in % of CD4+ T cells,
        antibody levels relative to the patient's untreated level).
    op : str
        ``">="``, ``">"``, ``"<="`` or ``"<"``.
    threshold : float
        Threshold in the observable's unit.
    """

    observable: str
    op: str
    threshold: float

    def __post_init__(self) -> None:
        if self.observable not in RULE_OBSERVABLES:
            raise RegimenError(
                f"rule observable `{self.observable}` is unknown; use one of {RULE_OBSERVABLES}"
            )
        if self.op not in _OPS:
            raise RegimenError(f"rule operator `{self.op}` is unknown; use one of {tuple(_OPS)}")
        object.__setattr__(self, "threshold", _finite(self.threshold, "rule `threshold`"))
        if self.threshold <= 0:
            raise RegimenError(
                f"rule threshold must be positive, got {self.threshold:g}: every observable is "
                f"non-negative, so `{self.observable} {self.op} {self.threshold:g}` would be "
                "decided before any dose"
            )

    def holds(self, values: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Evaluate the rule on per-patient values of the observable.

        Parameters
        ----------
        values : ndarray, shape (n_patients,)
            The observable's values, in its unit (platelets: 10^9/L).

        Returns
        -------
        ndarray of bool, shape (n_patients,)
            True where the rule holds.
        """
        return np.asarray(_OPS[self.op](values, self.threshold), dtype=bool)

    def __str__(self) -> str:
        return f"{self.observable} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Course:
    """A drug given repeatedly at a fixed amount.

    Parameters
    ----------
    drug : str
        A drug of the drug table (:data:`pdmodel.drugs.DRUG_TABLE`: ``"prednisone"``,
        ``"dexamethasone"``, ``"il11"`` and any drug registered with
        :func:`pdmodel.drugs.register_drug`).
    amount : float
        Amount per dose, in `unit`; must be positive.
    unit : str
        ``"mg"``, ``"mg/kg"``, ``"ug"`` or ``"ug/kg"`` (per-kg doses use each patient's weight).
    start : float
        Day of the first dose (>= 0).
    n_doses : int
        Number of doses (>= 1).
    interval : float
        Days between doses (> 0).
    route : str, optional
        Administration route; defaults to oral for glucocorticoids and sc for rhIL-11.
    stop_if : Rule, optional
        Stop rule checked before every dose.
    give_if : Rule, optional
        Condition checked before the first dose; the course is skipped if it fails.
    label : str
        Name used in results (defaults to ``"<drug> d<start>"``).
    after : str
        Label of the course this one follows; then `start` is the delay in days after that
        course ends for each patient (see the module docstring).
    min_doses : int
        Number of doses given before `stop_if` is first checked (default 0: before every dose).
    """

    drug: str
    amount: float
    unit: str
    start: float = 0.0
    n_doses: int = 1
    interval: float = 1.0
    route: str = ""
    stop_if: Rule | None = None
    give_if: Rule | None = None
    label: str = ""
    after: str = ""
    min_doses: int = 0

    def __post_init__(self) -> None:
        spec = get_drug(self.drug)
        object.__setattr__(self, "route", spec.check_route(self.route))
        amount = _finite(self.amount, f"{self.drug} dose `amount`")
        if amount <= 0:
            raise RegimenError(
                f"{self.drug} dose `amount` must be positive, got {amount:g} {self.unit}"
            )
        object.__setattr__(self, "amount", amount)
        if self.unit not in _UNITS:
            raise RegimenError(f"dose unit `{self.unit}` is unknown; use one of {tuple(_UNITS)}")
        if spec.max_dose_per_kg is not None:
            per_kg = _UNITS[self.unit][1]
            limit = spec.max_dose_per_kg * (1.0 if per_kg else _HEAVIEST_KG)
            if amount * _UNITS[self.unit][0] > limit * (
                _UNITS[spec.amount_unit + "/kg"][0] if per_kg else _UNITS[spec.amount_unit][0]
            ):
                raise RegimenError(
                    f"{self.drug} dose {amount:g} {self.unit} exceeds the plausibility limit "
                    f"{limit:g} {spec.amount_unit}{'/kg' if per_kg else ''} (10 x the highest "
                    f"dose in use{'' if per_kg else f', for {_HEAVIEST_KG:g} kg'}): check the "
                    "value and its unit; a drug registered with a higher `max_dose_per_kg` "
                    "lifts it"
                )
        start = _finite(self.start, f"{self.drug} course `start`")
        if start < 0:
            raise RegimenError(f"{self.drug} course `start` must be >= 0 days, got {start:g}")
        object.__setattr__(self, "start", start)
        if isinstance(self.n_doses, bool) or not isinstance(self.n_doses, numbers.Integral):
            raise RegimenError(
                f"{self.drug} course `n_doses` must be an integer, got {self.n_doses!r}"
            )
        if self.n_doses < 1:
            raise RegimenError(
                f"{self.drug} course `n_doses` must be >= 1 (a zero-length course), "
                f"got {self.n_doses}"
            )
        object.__setattr__(self, "n_doses", int(self.n_doses))
        interval = _finite(self.interval, f"{self.drug} course `interval`")
        if interval <= 0:
            raise RegimenError(f"{self.drug} course `interval` must be > 0 days, got {interval:g}")
        object.__setattr__(self, "interval", interval)
        for name in ("stop_if", "give_if"):
            rule = getattr(self, name)
            if rule is not None and not isinstance(rule, Rule):
                raise RegimenError(f"{self.drug} course `{name}` must be a Rule, got {rule!r}")
        if isinstance(self.min_doses, bool) or not isinstance(self.min_doses, numbers.Integral):
            raise RegimenError(f"{self.drug} course `min_doses` must be an integer")
        if self.min_doses < 0:
            raise RegimenError(f"{self.drug} course `min_doses` must be >= 0, got {self.min_doses}")
        if self.stop_if is not None and self.min_doses >= self.n_doses:
            raise RegimenError(
                f"{self.drug} course: `min_doses` ({self.min_doses}) leaves no dose at which "
                "the stop rule is checked"
            )
        object.__setattr__(self, "min_doses", int(self.min_doses))
        if not isinstance(self.after, str):
            raise RegimenError(f"{self.drug} course `after` must be a course label (a string)")
        if not self.label:
            object.__setattr__(self, "label", f"{self.drug} d{self.start:g}")
        if self.after == self.label:
            raise RegimenError(f"course `{self.label}` cannot follow itself")

    @property
    def times(self) -> NDArray[np.float64]:
        """Scheduled dose times, days (relative to the end of the followed course if `after`)."""
        return self.start + self.interval * np.arange(self.n_doses, dtype=float)

    @property
    def end(self) -> float:
        """Time of the last scheduled dose, days (relative, as `times`)."""
        return float(self.start + self.interval * (self.n_doses - 1))

    def amounts(self, weight: NDArray[np.float64]) -> NDArray[np.float64]:
        """Administered amount per dose for each patient, in the drug's amount unit (mg or ug).

        Parameters
        ----------
        weight : ndarray, shape (n_patients,)
            Body weight, kg.

        Returns
        -------
        ndarray, shape (n_patients,)
            Amount per dose, mg or ug.
        """
        factor, per_kg = _UNITS[self.unit]
        mg = self.amount * factor * (np.asarray(weight, dtype=float) if per_kg else 1.0)
        out = mg / AMOUNT_UNITS[get_drug(self.drug).amount_unit]
        return np.broadcast_to(np.asarray(out, dtype=float), np.shape(weight)).copy()

    def describe(self) -> str:
        """One-line human-readable description.

        Returns
        -------
        str
            E.g. ``"prednisone 1 mg/kg oral from day 0 every 1 d x 28"``.
        """
        every = "" if self.n_doses == 1 else f" every {self.interval:g} d x {self.n_doses}"
        when = (
            f"{self.start:g} d after `{self.after}` ends"
            if self.after
            else f"from day {self.start:g}"
        )
        text = f"{self.drug} {self.amount:g} {self.unit} {self.route} {when}{every}"
        if self.give_if:
            text += f", given only if {self.give_if}"
        if self.stop_if:
            checked = f" (checked from dose {self.min_doses + 1})" if self.min_doses else ""
            text += f", stopped once {self.stop_if}{checked}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (inverse of :meth:`from_dict`).

        Returns
        -------
        dict
            JSON-serialisable; :meth:`from_dict` rebuilds the course.
        """
        d: dict[str, Any] = {
            "drug": self.drug,
            "amount": self.amount,
            "unit": self.unit,
            "start": self.start,
            "n_doses": self.n_doses,
            "interval": self.interval,
            "route": self.route,
            "label": self.label,
        }
        if self.after:
            d["after"] = self.after
        if self.min_doses:
            d["min_doses"] = self.min_doses
        for name in ("stop_if", "give_if"):
            rule = getattr(self, name)
            if rule is not None:
                d[name] = {
                    "observable": rule.observable,
                    "op": rule.op,
                    "threshold": rule.threshold,
                }
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Course:
        """Build a course from :meth:`to_dict` output (unknown keys are an error).

        Parameters
        ----------
        data : dict
            As :meth:`to_dict` writes it.

        Returns
        -------
        Course
        """
        allowed = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise RegimenError(f"unknown course keys {unknown}; allowed: {sorted(allowed)}")
        kw = dict(data)
        for name in ("stop_if", "give_if"):
            if kw.get(name) is not None:
                rule = kw[name]
                if not isinstance(rule, dict) or set(rule) != {"observable", "op", "threshold"}:
                    raise RegimenError(
                        f"course `{name}` needs keys observable, op and threshold, got {rule!r}"
                    )
                kw[name] = Rule(**rule)
        try:
            return cls(**kw)
        except TypeError as exc:
            raise RegimenError(f"invalid course {data!r}: {exc}") from None


@dataclass(frozen=True)
class Regimen:
    """A validated collection of courses; combine regimens with ``+``.

    Parameters
    ----------
    courses : iterable of Course
        The courses.  Two courses of the same drug may not schedule a dose at the same time
        (an ambiguous definition): give one course with the summed amount instead.
    """

    courses: tuple[Course, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        courses = tuple(self.courses)
        for c in courses:
            if not isinstance(c, Course):
                raise RegimenError(f"a regimen holds Course objects, got {c!r}")
        labels = [c.label for c in courses]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise RegimenError(f"course labels must be unique within a regimen; repeated: {dup}")
        known = set(labels)
        for c in courses:
            if c.after and c.after not in known:
                raise RegimenError(
                    f"course `{c.label}` follows `{c.after}`, which is not in the regimen; "
                    f"courses: {labels}"
                )
        courses = _topological(courses)
        for i, a in enumerate(courses):
            for b in courses[i + 1 :]:
                if a.drug != b.drug or a.after or b.after:
                    continue
                clash = _first_clash(a.times, b.times)
                if clash is not None:
                    raise RegimenError(
                        f"courses `{a.label}` and `{b.label}` both give {a.drug} on day {clash:g}; "
                        "merge them into one course with the summed amount"
                    )
        object.__setattr__(self, "courses", courses)

    def __add__(self, other: Regimen | Course) -> Regimen:
        if isinstance(other, Course):
            other = Regimen((other,))
        if not isinstance(other, Regimen):
            return NotImplemented
        return Regimen(self.courses + other.courses)

    def __radd__(self, other: Course) -> Regimen:
        if isinstance(other, Course):
            return Regimen((other, *self.courses))
        return NotImplemented

    def __iter__(self) -> Iterator[Course]:
        return iter(self.courses)

    def __len__(self) -> int:
        return len(self.courses)

    @property
    def drugs(self) -> tuple[str, ...]:
        """Drugs used, in a fixed order."""
        return tuple(d for d in DRUG_TABLE if any(c.drug == d for c in self.courses))

    @property
    def last_dose(self) -> float:
        """Latest time any dose can be given, days (0 for an empty regimen)."""
        return max((float(self.dose_slots()[c.label][-1]) for c in self.courses), default=0.0)

    def dose_slots(self) -> dict[str, NDArray[np.float64]]:
        """Every absolute time at which each course can give a dose, days (sorted).

        For a course that follows another this is the union over all times at which the
        followed course can end.

        Returns
        -------
        dict of str to ndarray
            Dose times in days by course label.
        """
        slots: dict[str, NDArray[np.float64]] = {}
        ends: dict[str, NDArray[np.float64]] = {}
        for c in self.courses:  # parents come first
            anchors = np.array([0.0]) if not c.after else ends[c.after]
            t = np.unique(np.round((anchors[:, None] + c.times[None, :]).ravel(), 9))
            slots[c.label] = t
            # a course ends at one of its dose times (stop rule fired, skipped) or one interval
            # after its last dose
            ends[c.label] = np.unique(np.round(np.concatenate([t, t + c.interval]), 9))
        return slots

    def __repr__(self) -> str:
        if not self.courses:
            return "Regimen(no treatment)"
        return "Regimen(" + "; ".join(c.describe() for c in self.courses) + ")"

    def _repr_html_(self) -> str:
        """Notebook view: one row per course."""
        import html

        if not self.courses:
            return "<p>Regimen: no treatment</p>"
        rows = "".join(
            f"<tr><td>{html.escape(c.label)}</td><td>{html.escape(c.describe())}</td></tr>"
            for c in self.courses
        )
        return f"<table><tr><th>course</th><th>schedule</th></tr>{rows}</table>"

    def describe(self) -> str:
        """Multi-line human-readable description.

        Returns
        -------
        str
            One line per course.
        """
        if not self.courses:
            return "no treatment"
        return "\n".join(f"{c.label}: {c.describe()}" for c in self.courses)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (inverse of :meth:`from_dict`).

        Returns
        -------
        dict
            JSON-serialisable; :meth:`from_dict` rebuilds the regimen.
        """
        return {"courses": [c.to_dict() for c in self.courses]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Regimen:
        """Build a regimen from :meth:`to_dict` output.

        Parameters
        ----------
        data : dict
            As :meth:`to_dict` writes it.

        Returns
        -------
        Regimen
        """
        if not isinstance(data, dict) or set(data) != {"courses"}:
            raise RegimenError("a regimen dictionary has exactly one key, `courses`")
        return cls(tuple(Course.from_dict(c) for c in data["courses"]))


def _topological(courses: tuple[Course, ...]) -> tuple[Course, ...]:
    """Order courses so that every course comes after the one it follows (stable)."""
    by_label = {c.label: c for c in courses}
    done: list[Course] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def visit(c: Course) -> None:
        if c.label in placed:
            return
        if c.label in visiting:
            raise RegimenError(f"courses follow each other in a cycle through `{c.label}`")
        visiting.add(c.label)
        if c.after:
            visit(by_label[c.after])
        visiting.discard(c.label)
        placed.add(c.label)
        done.append(c)

    for c in courses:
        visit(c)
    return tuple(done)


def _first_clash(a: NDArray[np.float64], b: NDArray[np.float64]) -> float | None:
    d = np.abs(a[:, None] - b[None, :])
    hit = np.argwhere(d < _TIME_TOL)
    return None if hit.size == 0 else float(a[hit[0, 0]])


def _regimen(courses: Iterable[Course]) -> Regimen:
    return Regimen(tuple(courses))


def _amount(per_kg: float | None, fixed: float | None, unit: str, drug: str) -> tuple[float, str]:
    if (per_kg is None) == (fixed is None):
        raise RegimenError(f"{drug}: give exactly one of a per-kg dose and a fixed dose")
    if per_kg is not None:
        return per_kg, f"{unit}/kg"
    assert fixed is not None
    return fixed, unit


def _days(days: Any, what: str) -> int:
    if isinstance(days, bool) or not isinstance(days, numbers.Integral) or days < 1:
        raise RegimenError(f"{what} must be a whole number of days >= 1, got {days!r}")
    return int(days)


def dose(drug: str, amount: float, unit: str, day: float = 0.0, route: str = "") -> Regimen:
    """A single dose.

    Parameters
    ----------
    drug : str
        Drug name.
    amount : float
        Amount, in `unit` (mg, mg/kg, ug or ug/kg).
    unit : str
        Dose unit.
    day : float
        Time of the dose, days.
    route : str, optional
        Administration route (drug default if empty).

    Returns
    -------
    Regimen
        One course of one dose.
    """
    return _regimen([Course(drug, amount, unit, start=day, n_doses=1, route=route)])


def taper(
    drug: str,
    amount: float,
    unit: str,
    start: float,
    days: int,
    step_days: int = 7,
    label: str = "",
) -> Regimen:
    """A linear step-down taper following a full-dose course.

    The taper lasts `days` days in steps of `step_days` (the last step may be shorter).  With
    ``n`` steps, step ``k = 1..n`` gives ``amount * (n + 1 - k) / (n + 1)`` once daily, so the
    dose falls in equal decrements towards zero.

    Parameters
    ----------
    drug : str
        Drug name.
    amount : float
        Full dose the taper starts from, in `unit`.
    unit : str
        Dose unit (mg, mg/kg, ug or ug/kg).
    start : float
        First taper day; with `after`, the delay in days after that course ends.
    days : int
        Taper length, days.
    step_days : int
        Days per step.
    label : str
        Label prefix of the taper courses.

    Returns
    -------
    Regimen
        One course per step.
    """
    return _regimen(_taper_courses(drug, amount, unit, start, days, step_days, label))


def _taper_courses(
    drug: str,
    amount: float,
    unit: str,
    start: float,
    days: int,
    step_days: int,
    label: str = "",
    after: str = "",
) -> list[Course]:
    """Courses of a linear taper; with `after`, step 1 follows that course and each later
    step follows the previous one."""
    days = _days(days, "taper `days`")
    step_days = _days(step_days, "taper `step_days`")
    n = math.ceil(days / step_days)
    prefix = label or f"{drug} taper"
    courses: list[Course] = []
    for k in range(1, n + 1):
        length = min(step_days, days - (k - 1) * step_days)
        if after:
            anchor, offset = (after, start) if k == 1 else (courses[-1].label, 0.0)
        else:
            anchor, offset = "", start + (k - 1) * step_days
        courses.append(
            Course(
                drug,
                amount * (n + 1 - k) / (n + 1),
                unit,
                start=offset,
                n_doses=length,
                interval=1.0,
                label=f"{prefix} {k}/{n}",
                after=anchor,
            )
        )
    return courses


def prednisone(
    mg_per_kg: float | None = None,
    days: int = 28,
    taper_days: int = 0,
    taper_step_days: int = 7,
    mg: float | None = None,
    start: float = 0.0,
    until_platelets_above: float | None = None,
    min_days: int = 14,
) -> Regimen:
    """Daily oral prednisone, optionally followed by a linear taper.

    Parameters
    ----------
    mg_per_kg : float, optional
        Daily dose, mg/kg; 1.0 when neither `mg_per_kg` nor `mg` is given.
    days : int
        Full-dose days.
    taper_days : int
        Taper length after the full-dose days (0 for none), days.
    taper_step_days : int
        Days per taper step.
    mg : float, optional
        Fixed daily dose, mg (instead of `mg_per_kg`).
    start : float
        First dose day.
    until_platelets_above : float, optional
        Response-guided duration: the full dose stops for a patient once the pre-dose platelet
        count (10^9/L) reaches this level (after at least `min_days` days; at most `days`), and
        that patient's taper starts the next day.
    min_days : int
        Minimum full-dose days before `until_platelets_above` is checked.

    Returns
    -------
    Regimen
        The full-dose course and, if asked, the taper courses.
    """
    if mg is None and mg_per_kg is None:
        mg_per_kg = 1.0
    amount, unit = _amount(mg_per_kg, mg, "mg", "prednisone")
    days = _days(days, "prednisone `days`")
    stop = None
    min_doses = 0
    if until_platelets_above is not None:
        stop = Rule("platelets", ">=", until_platelets_above)
        min_doses = min(_days(min_days, "prednisone `min_days`"), days - 1)
    full = Course(
        "prednisone",
        amount,
        unit,
        start=start,
        n_doses=days,
        label="prednisone",
        stop_if=stop,
        min_doses=min_doses,
    )
    if not taper_days:
        return _regimen([full])
    if stop is not None:
        steps = _taper_courses(
            "prednisone", amount, unit, 0.0, taper_days, taper_step_days, after="prednisone"
        )
    else:
        steps = _taper_courses(
            "prednisone", amount, unit, start + days, taper_days, taper_step_days
        )
    return _regimen([full, *steps])


def dexamethasone(
    mg: float | None = None,
    days: int = 4,
    cycles: int = 1,
    cycle_every: float = 14.0,
    route: str = "oral",
    start: float = 0.0,
    rescue_if_platelets_below: float | None = None,
    rescue_day: float = 10.0,
    mg_per_kg: float | None = None,
) -> Regimen:
    """High-dose dexamethasone pulses, optionally with a conditional rescue pulse.

    Parameters
    ----------
    mg : float, optional
        Fixed daily dose, mg; 40 mg when neither `mg` nor `mg_per_kg` is given.
    days : int
        Days per pulse.
    cycles : int
        Number of pulses.
    cycle_every : float
        Days from the start of one pulse to the next.
    route : str
        ``"oral"`` or ``"iv"``.
    start : float
        First dose day.
    rescue_if_platelets_below : float, optional
        If given, a further pulse starts on `rescue_day` for patients whose platelet count
        (10^9/L) is below this threshold that day.
    rescue_day : float
        Day on which the rescue condition is checked and the rescue pulse starts.
    mg_per_kg : float, optional
        Daily dose per kg of body weight, mg/kg (instead of `mg`; 0.15 mg/kg is a common
        standard dose in Chinese practice).

    Returns
    -------
    Regimen
        The pulse courses and, if asked, the rescue course.
    """
    if mg is None and mg_per_kg is None:
        mg = 40.0
    amount, unit = _amount(mg_per_kg, mg, "mg", "dexamethasone")
    days = _days(days, "dexamethasone `days`")
    cycles = _days(cycles, "dexamethasone `cycles`")
    cycle_every = _finite(cycle_every, "dexamethasone `cycle_every`")
    start = _finite(start, "dexamethasone `start`")
    if cycles > 1 and cycle_every < days:
        raise RegimenError(
            f"dexamethasone `cycle_every` ({cycle_every:g} d) is shorter than a pulse ({days} d)"
        )
    courses = [
        Course(
            "dexamethasone",
            amount,
            unit,
            start=start + i * cycle_every,
            n_doses=days,
            route=route,
            label=f"dexamethasone pulse {i + 1}",
        )
        for i in range(cycles)
    ]
    if rescue_if_platelets_below is not None:
        courses.append(
            Course(
                "dexamethasone",
                amount,
                unit,
                start=rescue_day,
                n_doses=days,
                route=route,
                give_if=Rule("platelets", "<", rescue_if_platelets_below),
                label="dexamethasone rescue pulse",
            )
        )
    return _regimen(courses)


def il11(
    ug_per_kg: float | None = None,
    days: int = 14,
    start: float = 0.0,
    stop_if_platelets_above: float | None = None,
    ug: float | None = None,
) -> Regimen:
    """Daily subcutaneous rhIL-11.

    Parameters
    ----------
    ug_per_kg : float, optional
        Daily dose, ug/kg; 50 when neither `ug_per_kg` nor `ug` is given.
    days : int
        Maximum number of daily doses.
    start : float
        First dose day.
    stop_if_platelets_above : float, optional
        Stop the course for a patient once the pre-dose platelet count (10^9/L) is at or
        above this threshold.
    ug : float, optional
        Fixed daily dose, ug (e.g. 3000 for the fixed 3 mg dose).

    Returns
    -------
    Regimen
        One course.
    """
    if ug is None and ug_per_kg is None:
        ug_per_kg = 50.0
    amount, unit = _amount(ug_per_kg, ug, "ug", "il11")
    days = _days(days, "il11 `days`")
    stop = None
    if stop_if_platelets_above is not None:
        stop = Rule("platelets", ">=", stop_if_platelets_above)
    return _regimen(
        [Course("il11", amount, unit, start=start, n_doses=days, stop_if=stop, label="il11")]
    )
