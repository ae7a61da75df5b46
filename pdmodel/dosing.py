"""The dosing state machine: which patient gets which dose when, under the regimen's rules.

At every decision time the engine records the pre-dose observables, then :meth:`Dosing.apply`
evaluates each course's rules on each patient's own observables (``give_if`` before the first
dose, ``stop_if`` from ``min_doses`` on), gives the doses due, and starts the courses that
follow one that ended (``after=``) at that patient's own time.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from .errors import RegimenError
from .pk import DrugPK, DrugState
from .regimens import Course, Regimen

__all__ = ["TIME_TOL", "CourseState", "Dosing", "decision_key", "patient_ids"]

Array = NDArray[np.float64]

#: Times closer than this (days) are the same decision time.
TIME_TOL = 1e-9


def decision_key(t: float) -> float:
    """Canonical float for a decision time (rounded to 1e-9 day)."""
    return round(float(t) * 1e9) / 1e9


def patient_ids(ids: NDArray[np.int64], limit: int = 10) -> str:
    """Patient ids for a message: the first `limit`, then how many more."""
    text = ", ".join(str(int(i)) for i in ids[:limit])
    return text + (f" and {ids.size - limit} more" if ids.size > limit else "")


class CourseState:
    """Per-patient dosing state of one course during a simulation.

    The course belongs to regimen `index`; it doses only the patients whose `group` is `index`.
    """

    def __init__(
        self, course: Course, slots: Array, absorbed: Array, group: NDArray[np.int64], index: int
    ) -> None:
        self.course = course
        self.group = index  # index of the regimen the course belongs to
        self.member = group == index  # its patients
        n = group.size
        self.slots = slots
        self.slot_index = {decision_key(t): i for i, t in enumerate(slots)}
        self.absorbed = absorbed
        self.given = np.zeros((slots.size, n), dtype=bool)
        # time the course starts for each patient (NaN: not yet known, for a follower)
        self.anchor = np.full(n, np.nan if course.after else 0.0)
        self.count = np.zeros(n, dtype=np.int64)  # doses given so far
        self.ended = np.zeros(n, dtype=bool)
        self.skipped = np.zeros(n, dtype=bool)

    def due(self, te: float) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
        """Patients with a scheduled dose of this course at `te`, and its index k."""
        c = self.course
        with np.errstate(invalid="ignore"):
            k_float = (te - self.anchor - c.start) / c.interval
        # patients whose course has no start yet (NaN anchor) get k = -1 (never due)
        k = np.rint(np.where(np.isnan(k_float), -1.0, k_float)).astype(np.int64)
        on_grid = np.abs(k_float - k) < TIME_TOL * max(1.0, abs(te))
        due = self.member & ~self.ended & on_grid & (k >= 0) & (k < c.n_doses)
        return due, k


class Dosing:
    """The courses of one or more regimens for a chunk of patients (patient i follows
    ``regimens[group[i]]``), in the order ``regimens[0].courses, regimens[1].courses, ...``.

    Parameters
    ----------
    regimens : tuple of Regimen
        The regimens.
    group : ndarray of int, shape (n,)
        Regimen index of each patient.
    weight : ndarray, shape (n,)
        Body weight, kg (per-kg doses).
    pks : mapping of str to DrugPK
        PK of each drug (route bioavailability).
    """

    def __init__(
        self,
        regimens: tuple[Regimen, ...],
        group: NDArray[np.int64],
        weight: Array,
        pks: Mapping[str, DrugPK],
    ) -> None:
        self.courses: list[CourseState] = []
        self.amounts: list[Array] = []
        self._followers: dict[tuple[int, str], list[CourseState]] = {}
        for gi, regimen in enumerate(regimens):
            slots = regimen.dose_slots()
            for c in regimen.courses:  # a course comes after the one it follows
                amount = np.where(group == gi, c.amounts(weight), 0.0)
                self.amounts.append(amount)
                cs = CourseState(
                    c, slots[c.label], pks[c.drug].absorbed(c.route, amount), group, gi
                )
                self.courses.append(cs)
                if c.after:
                    self._followers.setdefault((gi, c.after), []).append(cs)
        self._events: dict[float, list[CourseState]] = {}
        for cs in self.courses:
            for td in cs.slots:
                self._events.setdefault(decision_key(td), []).append(cs)
        #: Observables the rules read.
        self.rule_observables = {
            r.observable
            for cs in self.courses
            for r in (cs.course.stop_if, cs.course.give_if)
            if r is not None
        }

    def due_at(self, te: float) -> list[CourseState]:
        """Courses that may give a dose at decision time `te`."""
        return self._events.get(te, [])

    def apply(
        self,
        te: float,
        obs_now: Mapping[str, Array],
        states: Mapping[str, DrugState],
        ids: NDArray[np.int64],
    ) -> None:
        """Apply the rules and doses of every course due at `te` to every patient.

        Parameters
        ----------
        te : float
            Decision time, days.
        obs_now : mapping of str to ndarray
            Pre-dose observables the rules read.
        states : mapping of str to DrugState
            Drug amounts, updated in place.
        ids : ndarray of int
            Patient ids (for messages).
        """
        dosed: dict[str, NDArray[np.bool_]] = {}
        for cs in self.due_at(te):
            self._dose(cs, te, obs_now, states, dosed, ids)

    def _dose(
        self,
        cs: CourseState,
        te: float,
        obs_now: Mapping[str, Array],
        states: Mapping[str, DrugState],
        dosed: dict[str, NDArray[np.bool_]],
        ids: NDArray[np.int64],
    ) -> None:
        """Apply the rules and doses of one course at decision time `te` (all patients)."""
        c = cs.course
        due, k = cs.due(te)
        if not due.any():
            return
        first = due & (k == 0)
        if c.give_if is not None and first.any():
            cs.skipped |= first & ~c.give_if.holds(obs_now[c.give_if.observable])
        stop = np.zeros_like(due)
        if c.stop_if is not None:
            stop = due & (k >= c.min_doses) & c.stop_if.holds(obs_now[c.stop_if.observable])
        give = due & ~cs.skipped & ~stop
        ending = (due & (cs.skipped | stop)) | (give & (k == c.n_doses - 1))
        end_time = np.where(give, te + c.interval, te)
        cs.given[cs.slot_index[decision_key(te)]] = give
        cs.count += give
        # the same drug twice at the same time for one patient is ambiguous: refuse it
        clash = dosed.get(c.drug)
        if clash is not None and np.any(clash & give):
            who = ids[clash & give]
            raise RegimenError(
                f"two courses give {c.drug} on day {te:g} to patients {patient_ids(who)} "
                f"(`{c.label}` and another); merge them into one course"
            )
        dosed[c.drug] = give if clash is None else clash | give
        states[c.drug].add(c.route, np.where(give, cs.absorbed, 0.0))
        if ending.any():
            cs.ended |= ending
            for fol in self._followers.get((cs.group, c.label), []):
                fol.anchor = np.where(ending, end_time, fol.anchor)
