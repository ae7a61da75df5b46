"""Trial endpoints: per-patient metrics from sampled trajectories, then per-arm aggregates.

Patients are scored the way a trial scores them: platelet counts are read only on the trial's
sampling days (a daily count in hospital and weekly visits give different onset times), all
counts are pre-dose (morning) values, and every definition below is configurable through
:class:`EndpointConfig`.  Definitions and their sources are documented in ``docs/endpoints.md``.
Complications are not modelled; no endpoint here describes them.

Per-patient arrays have shape ``(n_patients,)``; trajectories have shape
``(n_sampling_days, n_patients)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from .errors import OptionError

__all__ = [
    "ENDPOINTS",
    "GRADINGS",
    "ArmSummary",
    "EndpointConfig",
    "Grade",
    "SmoothEndpoint",
    "first_day",
    "grade",
    "patient_endpoints",
    "sampling_days",
    "smooth_patient_endpoints",
    "summarise",
    "summarise_arm",
    "summarise_smooth",
    "sustained",
]

Array = NDArray[np.float64]
Mask = NDArray[np.bool_]


@dataclass(frozen=True)
class Grade:
    """One response grade: platelet criteria that must hold on every sample for a duration.

    A patient reaches the grade if, on some sampling day ``d`` within the response window, the
    criteria hold on every sample from ``d`` to ``d + sustain_days`` (which must lie within the
    follow-up).  Criteria: ``PLT >= level``, or (if given) ``PLT - baseline >= rise``, and (if
    given) ``PLT >= fold * baseline`` and ``PLT - baseline >= min_rise``.

    Parameters
    ----------
    name : str
        Grade name.
    level : float
        Platelet level, 10^9/L.
    rise : float, optional
        Alternative criterion: absolute rise over baseline, 10^9/L.
    fold : float, optional
        Additional criterion: minimum ratio to the baseline count.
    sustain_days : float
        Days the criteria must hold (0: a single count).
    min_rise : float, optional
        Additional criterion: minimum absolute rise over baseline, 10^9/L.
    """

    name: str
    level: float
    rise: float | None = None
    fold: float | None = None
    sustain_days: float = 0.0
    min_rise: float | None = None

    def holds(self, plt: Array, baseline: Array) -> Mask:
        """Whether each sample meets the platelet criteria.

        Parameters
        ----------
        plt : ndarray, shape (n_days, n)
            Sampled platelet counts, 10^9/L.
        baseline : ndarray, shape (n,)
            Pre-treatment counts, 10^9/L.

        Returns
        -------
        ndarray of bool, shape (n_days, n)
            True where the count meets the grade's criteria.
        """
        ok = plt >= self.level
        if self.rise is not None:
            ok = ok | (plt - baseline >= self.rise)
        if self.fold is not None:
            ok = ok & (plt >= self.fold * baseline)
        if self.min_rise is not None:
            ok = ok & (plt - baseline >= self.min_rise)
        return np.asarray(ok, dtype=bool)


#: Response gradings, best grade first; a patient meeting none gets the last name in the tuple.
GRADINGS: dict[str, tuple[tuple[Grade, ...], str]] = {
    # International Working Group (Rodeghiero et al., Blood 2009;113:2386)
    "iwg2009": (
        (Grade("CR", 100.0), Grade("R", 30.0, fold=2.0)),
        "NR",
    ),
    # Three-level Chinese grading used by many trials of the period (best count within the
    # response window): markedly effective (>= 100), effective (>= 50 or a rise of >= 30),
    # ineffective.
    "cn3": (
        (
            Grade("markedly effective", 100.0),
            Grade("effective", 50.0, rise=30.0),
        ),
        "ineffective",
    ),
    # Older Chinese national criteria (as summarised in Chinese clinical references; secondary
    # source): markedly effective (>= 100, lasting 3 months), good effect (>= 50 or a rise of
    # >= 30, lasting 2 months), progress (a rise of >= 10 lasting 2 weeks), ineffective.
    # Cheng et al. N Engl J Med 2003;349:831: a rise of >= 30 and a count above 50
    "cheng2003": (
        (Grade("R", 50.0, min_rise=30.0),),
        "NR",
    ),
    # A count of at least 30 on any sample (Bussel et al. Am J Hematol 2001;66:172: "no
    # patient reached 30 x 10^9/L")
    "reach30": (
        (Grade("R", 30.0),),
        "NR",
    ),
    "cn_national": (
        (
            Grade("markedly effective", 100.0, sustain_days=84.0),
            Grade("good effect", 50.0, rise=30.0, sustain_days=56.0),
            Grade("progress", math.inf, rise=10.0, sustain_days=14.0),
        ),
        "ineffective",
    ),
}


@dataclass(frozen=True)
class EndpointConfig:
    """How a trial turns trajectories into endpoints (all times in days from the first dose).

    Parameters
    ----------
    sampling : sequence of (start, stop, step)
        Platelet sampling schedule: days ``start, start+step, ... < stop`` for each segment,
        plus the last day of follow-up.
    followup : float
        End of follow-up, days.
    response_window : float
        Responses (and onset) count only up to this day.
    grading : str
        Key of :data:`GRADINGS` used for the grade distribution and the total effective rate.
    effective_grades : sequence of str
        Grades counted by the total effective rate.
    recovery_day : float
        Day of the "platelet recovery level" count.
    after_day : float
        Day of the "after treatment" immune measurements (antibody, CD4+CD25+, Treg).
    onset_level : float
        Onset = first sample with ``PLT >= onset_level`` and ``PLT >= onset_fold x baseline``.
    onset_fold : float
        See `onset_level`.
    relapse_level : float
        After a response, recurrence = a later sample with ``PLT < relapse_level`` or
        ``PLT < relapse_fold x baseline``.
    relapse_fold : float
        See `relapse_level`.
    relapse_confirm_days : float
        0: one count below the levels is a recurrence.  d > 0: the loss must be confirmed by the
        next sampled count more than `d` days later, with every count in between also lost (IWG
        2009: loss of response confirmed on two occasions more than one day apart, d = 1); a
        loss on the last sampling day(s) that cannot be confirmed does not count.
    response_confirm_days : float
        0: one count meeting the IWG response (or CR) criteria is a response.  d > 0: the
        criteria must hold on every count until the next one at least `d` days later (IWG
        2009: confirmed on two occasions at least 7 days apart, d = 7); the response counts
        from its first day, which must lie in the response window, and a response that cannot
        be confirmed within follow-up does not count.  The Chinese gradings are unaffected.
    """

    sampling: tuple[tuple[float, float, float], ...] = ((0.0, 14.0, 1.0), (14.0, 180.0, 7.0))
    followup: float = 180.0
    response_window: float = 56.0
    grading: str = "iwg2009"
    effective_grades: tuple[str, ...] = ("CR", "R")
    recovery_day: float = 28.0
    after_day: float = 28.0
    onset_level: float = 30.0
    onset_fold: float = 2.0
    relapse_level: float = 30.0
    relapse_fold: float = 2.0
    relapse_confirm_days: float = 0.0
    response_confirm_days: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type == "float" and (isinstance(v, bool) or not isinstance(v, numbers.Real)):
                raise OptionError(f"`{f.name}` must be a number, got {v!r}")
        if self.grading not in GRADINGS:
            raise OptionError(f"unknown grading `{self.grading}`; use one of {tuple(GRADINGS)}")
        names = self.grade_names
        bad = [g for g in self.effective_grades if g not in names]
        if bad:
            raise OptionError(f"effective grades {bad} are not grades of `{self.grading}` {names}")
        for key in ("onset_level", "relapse_level"):
            v = getattr(self, key)
            if not (math.isfinite(v) and v > 0):
                raise OptionError(f"`{key}` must be a platelet count > 0 (10^9/L), got {v!r}")
        for key in ("onset_fold", "relapse_fold"):
            v = getattr(self, key)
            if not (math.isfinite(v) and v >= 0):
                raise OptionError(f"`{key}` must be a multiple of baseline >= 0, got {v!r}")
        for key in ("relapse_confirm_days", "response_confirm_days"):
            v = getattr(self, key)
            if not (math.isfinite(v) and v >= 0):
                raise OptionError(f"`{key}` must be a number of days >= 0, got {v!r}")
        for key in ("followup", "response_window", "recovery_day", "after_day"):
            v = getattr(self, key)
            if not (math.isfinite(v) and 0 <= v <= self.followup):
                raise OptionError(f"`{key}` must lie within [0, followup = {self.followup:g}] days")
        sampling_days(self)  # validates the schedule

    @property
    def grade_names(self) -> tuple[str, ...]:
        """Grade names, best first, ending with the no-response grade."""
        grades, none = GRADINGS[self.grading]
        return (*(g.name for g in grades), none)

    def required_days(self) -> Array:
        """Every day the endpoints read: sampling days, day 0, recovery and after-treatment days.

        Returns
        -------
        ndarray
            Days, sorted and unique.
        """
        extra = [0.0, self.recovery_day, self.after_day]
        return np.unique(np.round(np.concatenate([sampling_days(self), extra]), 9))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form.

        Returns
        -------
        dict
            JSON-serialisable, with the trial file's keys.
        """
        return {
            "sampling": [list(s) for s in self.sampling],
            "followup": self.followup,
            "response_window": self.response_window,
            "grading": self.grading,
            "effective_grades": list(self.effective_grades),
            "recovery_day": self.recovery_day,
            "after_day": self.after_day,
            "onset_level": self.onset_level,
            "onset_fold": self.onset_fold,
            "relapse_level": self.relapse_level,
            "relapse_fold": self.relapse_fold,
            "relapse_confirm_days": self.relapse_confirm_days,
            "response_confirm_days": self.response_confirm_days,
        }


def sampling_days(config: EndpointConfig) -> Array:
    """The sampling days of a configuration (sorted, unique, within follow-up, integers).

    Parameters
    ----------
    config : EndpointConfig
        Trial definitions.

    Returns
    -------
    ndarray
        Days.
    """
    days: list[float] = []
    for seg in config.sampling:
        if len(seg) != 3:
            raise OptionError(f"a sampling segment is [start, stop, step], got {list(seg)}")
        start, stop, step = (float(x) for x in seg)
        if not (math.isfinite(start) and math.isfinite(stop) and step > 0 and start <= stop):
            raise OptionError(f"invalid sampling segment {list(seg)}: need start <= stop, step > 0")
        days.extend(np.arange(start, stop, step).tolist())
    days.append(config.followup)
    out = np.unique(np.round(days, 9))
    out = out[out <= config.followup + 1e-9]
    if np.any(np.abs(out - np.round(out)) > 1e-9):
        raise OptionError("sampling days must be whole days")
    return out


#: Endpoint vocabulary: name -> (kind, unit, description).
ENDPOINTS: dict[str, tuple[str, str, str]] = {
    "total_effective_rate": ("proportion", "fraction", "patients reaching an effective grade"),
    "effective_degree": ("ordinal", "grade", "distribution over response grades"),
    "initial_response": ("proportion", "fraction", "IWG response (R or CR) within the window"),
    "complete_response": ("proportion", "fraction", "IWG complete response within the window"),
    "sustained_response": (
        "proportion",
        "fraction",
        "IWG responders whose response is never lost until the end of follow-up",
    ),
    "sustained_complete_response": (
        "proportion",
        "fraction",
        "IWG complete responders whose count never falls below 100 until the end of follow-up",
    ),
    "response_at_followup": (
        "proportion",
        "fraction",
        "IWG response (R or CR) on the last day of follow-up, whatever came before",
    ),
    "onset_time": (
        "continuous",
        "day",
        "first sampling day meeting the onset criterion (responders)",
    ),
    "recovery_level": ("continuous", "10^9/L", "platelet count on the recovery day"),
    "peak_platelets": ("continuous", "10^9/L", "highest sampled count within the window"),
    "ab_positive_before": ("proportion", "fraction", "antibody positive before treatment"),
    "ab_positive_after": ("proportion", "fraction", "antibody positive on the after day"),
    "treatment_course": ("continuous", "day", "days of therapy actually given"),
    "recurrence_rate": ("proportion", "fraction", "loss of response among IWG responders"),
    "cd4cd25_before": ("continuous", "% of CD4+", "CD4+CD25+ before treatment"),
    "cd4cd25_after": ("continuous", "% of CD4+", "CD4+CD25+ on the after day"),
    "cd4cd25_change": ("continuous", "% of CD4+", "CD4+CD25+ after minus before"),
    "treg_before": ("continuous", "% of CD4+", "FoxP3+ Treg before treatment"),
    "treg_after": ("continuous", "% of CD4+", "FoxP3+ Treg on the after day"),
    "treg_change": ("continuous", "% of CD4+", "FoxP3+ Treg after minus before"),
    "complications": ("not modelled", "", "complications and adverse events are not modelled"),
}


def first_day(mask: Mask, days: Array) -> Array:
    """First day at which `mask` holds, per patient (NaN if never).

    Parameters
    ----------
    mask : ndarray of bool, shape (n_days, n)
        The condition on each sampling day.
    days : ndarray, shape (n_days,)
        Sampling days.

    Returns
    -------
    ndarray, shape (n,)
        Days.
    """
    hit = mask.any(axis=0)
    idx = mask.argmax(axis=0)
    return np.where(hit, days[idx], np.nan)


def sustained(mask: Mask, days: Array, min_days: float, window_end: float) -> Mask:
    """Whether `mask` holds on every sample over some span of at least `min_days` days.

    The span must start on a sampling day no later than `window_end` and end on a sampling day
    (so the whole span was observed).

    Parameters
    ----------
    mask : ndarray of bool, shape (n_days, n)
        The condition on each sampling day.
    days : ndarray, shape (n_days,)
        Sampling days.
    min_days : float
        Required duration, days (0: a single sample).
    window_end : float
        Latest start day, days.

    Returns
    -------
    ndarray of bool, shape (n,)
        True for patients in whom such a span exists.
    """
    out = np.zeros(mask.shape[1], dtype=bool)
    start = np.zeros(mask.shape[1], dtype=np.int64)  # first sample of the current run
    for j in range(days.size):
        new_run = mask[j] & (~mask[j - 1] if j > 0 else True)
        start = np.where(new_run, j, start)
        first = days[start]
        out |= mask[j] & (days[j] - first >= min_days - 1e-9) & (first <= window_end + 1e-9)
    return out


def grade(plt: Array, baseline: Array, days: Array, config: EndpointConfig) -> NDArray[np.int64]:
    """Best response grade per patient (0 = best grade, last = no response).

    Parameters
    ----------
    plt : ndarray, shape (n_days, n)
        Sampled platelet counts, 10^9/L.
    baseline : ndarray, shape (n,)
        Pre-treatment count, 10^9/L.
    days : ndarray, shape (n_days,)
        Sampling days.
    config : EndpointConfig
        Trial definitions.

    Returns
    -------
    ndarray of int, shape (n,)
        Index into ``config.grades``; ``len(config.grades)`` for no response.
    """
    grades, _ = GRADINGS[config.grading]
    out = np.full(plt.shape[1], len(grades), dtype=np.int64)
    for i in range(len(grades) - 1, -1, -1):
        g = grades[i]
        ok = sustained(g.holds(plt, baseline), days, g.sustain_days, config.response_window)
        out = np.where(ok, i, out)
    return out


def _day_reader(days: Array) -> Callable[[float, Array], Array]:
    """``at(day, x)``: the row of trajectory `x` (rows = `days`) on a given day."""
    row = {float(d): i for i, d in enumerate(np.round(days, 9))}

    def at(day: float, x: Array) -> Array:
        try:
            return x[row[float(round(day, 9))]]
        except KeyError:
            raise OptionError(f"day {day:g} is not among the simulated days") from None

    return at


def _confirm_windows(
    sdays: Array, confirm_days: float, at_least: bool = False
) -> list[slice | None] | None:
    """For each sample, the samples a state there must persist over to count (None: cannot).

    The window runs to the next sample more than `confirm_days` later (or at least that much
    later with `at_least`).  No confirmation (`confirm_days` <= 0) gives None.
    """
    if confirm_days <= 0:
        return None
    out: list[slice | None] = []
    for j, d in enumerate(sdays):
        if at_least:
            later = np.flatnonzero(sdays >= d + confirm_days - 1e-9)
        else:
            later = np.flatnonzero(sdays > d + confirm_days + 1e-9)
        out.append(slice(j, int(later[0]) + 1) if later.size else None)
    return out


def _over_windows(
    x: NDArray[Any], windows: list[slice | None] | None, reduce: Callable[..., Any], fill: Any
) -> NDArray[Any]:
    """``reduce`` of `x` (rows = samples) over each sample's confirmation window; `fill` where
    a window cannot be completed.  Without confirmation (`windows` None), `x` itself."""
    if windows is None:
        return x
    out = np.full_like(x, fill)
    for j, w in enumerate(windows):
        if w is not None:
            out[j] = reduce(x[w], axis=0)
    return out


def _confirmed(mask: Mask, windows: list[slice | None] | None) -> Mask:
    """Samples where `mask` holds over the whole confirmation window."""
    return _over_windows(mask, windows, np.all, False)


def _confirmed_margin(m: Array, windows: list[slice | None] | None, lost: bool = False) -> Array:
    """Smooth counterpart of :func:`_confirmed` on margins: the window's minimum (maximum for
    a loss, whose margin must stay below the offset); -inf (+inf) where it cannot be confirmed."""
    return (
        _over_windows(m, windows, np.max, np.inf)
        if lost
        else _over_windows(m, windows, np.min, -np.inf)
    )


def _iwg_response(plt: Array, baseline: Array) -> Mask:
    return np.asarray((plt >= 30.0) & (plt >= 2.0 * baseline), dtype=bool)


def patient_endpoints(
    platelets: Array,
    days: Array,
    config: EndpointConfig,
    treatment_days: Array,
    ab_positive: Array | None = None,
    cd4cd25: Array | None = None,
    treg: Array | None = None,
) -> dict[str, Array]:
    """Per-patient endpoints of one arm.

    Parameters
    ----------
    platelets : ndarray, shape (n_days, n)
        Platelet counts on every day ``days`` (10^9/L), pre-dose; day 0 is the baseline.
    days : ndarray, shape (n_days,)
        Days of the rows of the trajectories (must include every sampling day).
    config : EndpointConfig
        Trial definitions.
    treatment_days : ndarray, shape (n,)
        Days of therapy actually given.
    ab_positive, cd4cd25, treg : ndarray, shape (n_days, n), optional
        Antibody positivity (0/1), CD4+CD25+ % and FoxP3+ Treg % on the same days.

    Returns
    -------
    dict of str to ndarray, shape (n,)
        Keys of :data:`ENDPOINTS` (except ``complications``); NaN where undefined (e.g. onset
        time of a non-responder, recurrence of a non-responder).
    """
    at = _day_reader(days)

    sdays = sampling_days(config)
    plt = np.stack([at(d, platelets) for d in sdays])
    base = at(0.0, platelets)
    in_window = sdays <= config.response_window + 1e-9
    out: dict[str, Array] = {}

    g = grade(plt, base, sdays, config)
    names = config.grade_names
    effective = np.isin(g, [names.index(x) for x in config.effective_grades])
    out["total_effective_rate"] = effective.astype(float)
    out["effective_degree"] = g.astype(float)

    confirm = _confirm_windows(sdays, config.response_confirm_days, at_least=True)
    iwg_r = _confirmed(_iwg_response(plt, base), confirm) & in_window[:, None]
    iwg_cr = _confirmed(plt >= 100.0, confirm) & in_window[:, None]
    responder = iwg_r.any(axis=0)
    out["initial_response"] = responder.astype(float)
    out["complete_response"] = iwg_cr.any(axis=0).astype(float)

    onset_mask = (plt >= config.onset_level) & (plt >= config.onset_fold * base)
    out["onset_time"] = first_day(onset_mask & in_window[:, None], sdays)

    loss_windows = _confirm_windows(sdays, config.relapse_confirm_days)

    def lost_after(reached: Mask, lost_once: Mask) -> Mask:
        """Patients with a confirmed loss after the first sample of `reached`."""
        t = first_day(reached, sdays)
        after = sdays[:, None] > np.nan_to_num(t, nan=np.inf)[None, :]
        return np.asarray((_confirmed(lost_once, loss_windows) & after).any(axis=0), dtype=bool)

    lost_once = (plt < config.relapse_level) | (plt < config.relapse_fold * base)
    relapsed = lost_after(iwg_r, lost_once)
    out["recurrence_rate"] = np.where(responder, relapsed.astype(float), np.nan)
    out["sustained_response"] = (responder & ~relapsed).astype(float)
    complete = iwg_cr.any(axis=0)
    cr_lost = lost_after(iwg_cr, plt < 100.0)
    out["sustained_complete_response"] = (complete & ~cr_lost).astype(float)
    out["response_at_followup"] = _iwg_response(plt[-1], base).astype(float)

    out["recovery_level"] = at(config.recovery_day, platelets)
    out["peak_platelets"] = np.where(in_window[:, None], plt, -np.inf).max(axis=0)
    out["treatment_course"] = np.asarray(treatment_days, dtype=float)

    if ab_positive is not None:
        out["ab_positive_before"] = at(0.0, ab_positive)
        out["ab_positive_after"] = at(config.after_day, ab_positive)
    for key, x in (("cd4cd25", cd4cd25), ("treg", treg)):
        if x is not None:
            before, after = at(0.0, x), at(config.after_day, x)
            out[f"{key}_before"] = before
            out[f"{key}_after"] = after
            out[f"{key}_change"] = after - before
    return out


@dataclass(frozen=True)
class ArmSummary:
    """Aggregate of one endpoint in one arm.

    Parameters
    ----------
    kind : str
        ``proportion``, ``continuous`` or ``ordinal``.
    value : float
        Rate (proportion), mean (continuous) or mean grade index (ordinal).
    sd : float
        Between-patient SD (continuous, ordinal); ``sqrt(p(1-p))`` for proportions.
    n : float
        Patients contributing (non-NaN); for a smooth summary the sum of the membership
        weights, which is fractional.
    median : float
        Median (continuous, ordinal); NaN for proportions.
    distribution : tuple of float
        Fraction per grade (ordinal only).
    """

    kind: str
    value: float
    sd: float
    n: float
    median: float = math.nan
    distribution: tuple[float, ...] = field(default_factory=tuple)


def summarise(values: Array, kind: str, n_grades: int = 0) -> ArmSummary:
    """Aggregate per-patient values of one endpoint (NaNs are excluded).

    Parameters
    ----------
    values : ndarray, shape (n,)
        Per-patient values, in the endpoint's unit (ordinal: grade indices).
    kind : str
        ``proportion``, ``continuous`` or ``ordinal``.
    n_grades : int
        Number of grades, no response included (ordinal only).

    Returns
    -------
    ArmSummary
        Rate, mean or grade distribution, with SD, median and n.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return ArmSummary(kind, math.nan, math.nan, 0)
    if kind == "proportion":
        p = float(v.mean())
        return ArmSummary(kind, p, math.sqrt(p * (1 - p)), n)
    if kind == "ordinal":
        dist = tuple(float(np.mean(v == k)) for k in range(n_grades))
        return ArmSummary(
            kind,
            float(v.mean()),
            float(v.std(ddof=1)) if n > 1 else 0.0,
            n,
            float(np.median(v)),
            dist,
        )
    return ArmSummary(
        kind, float(v.mean()), float(v.std(ddof=1)) if n > 1 else 0.0, n, float(np.median(v))
    )


def summarise_arm(
    per_patient: Mapping[str, Array], config: EndpointConfig, names: Sequence[str] | None = None
) -> dict[str, ArmSummary]:
    """Aggregate every endpoint of one arm.

    Parameters
    ----------
    per_patient : mapping of str to ndarray
        Per-patient values by endpoint name (:func:`patient_endpoints`).
    config : EndpointConfig
        Trial definitions (the number of grades).
    names : sequence of str, optional
        Endpoints to aggregate (default: all in `per_patient`).

    Returns
    -------
    dict of str to ArmSummary
        By endpoint name.
    """
    out = {}
    for name in names or per_patient:
        kind = ENDPOINTS[name][0]
        out[name] = summarise(per_patient[name], kind, len(config.grade_names))
    return out


# ---------------------------------------------------------------------------------------------
# smooth endpoints for calibration


class SmoothEndpoint(NamedTuple):
    """One smooth per-patient endpoint (see :func:`smooth_patient_endpoints`).

    Parameters
    ----------
    value : ndarray, shape (n,) (``(n_grades, n)`` for ``effective_degree``)
        Expectation of the hard endpoint over the patient's offset (endpoint unit).
    weight : ndarray, shape (n,)
        Probability that the endpoint is defined for the patient (e.g. that they respond).
    within : ndarray, shape (n,), or None
        Variance of the endpoint over the offset, given that it is defined (endpoint unit
        squared), for continuous endpoints that depend on the offset (onset time); None where
        the value does not vary with it.
    """

    value: Array
    weight: Array
    within: Array | None = None


def _log(x: float) -> float:
    """``ln x``, with ``ln 0 = -inf`` (a fold criterion of 0 x baseline always holds)."""
    return math.log(x) if x > 0 else -math.inf


def _soft(margin: Array, width: float) -> Array:
    """Logistic soft indicator of ``margin >= 0`` (margin in natural-log units)."""
    with np.errstate(over="ignore"):
        return np.asarray(0.5 * (1.0 + np.tanh(margin / (2.0 * width))), dtype=float)


def smooth_patient_endpoints(
    platelets: Array,
    days: Array,
    config: EndpointConfig,
    treatment_days: Array,
    width: float = 0.05,
    ab_signal: Array | None = None,
    cd4cd25: Array | None = None,
    treg: Array | None = None,
) -> dict[str, SmoothEndpoint]:
    """Smooth per-patient endpoints for calibration: ``name -> (value, weight, within)``.

    Each hard endpoint is replaced by its expectation over a patient-level offset ``e`` of all
    log-counts, drawn from a logistic distribution of scale `width` (a count "meets" ``PLT >= L``
    when ``ln PLT - ln L >= e``).  The expectations have closed forms in the per-sample margins
    (running maxima for first responses, span minima for sustained grades), are continuous in
    the model parameters, and equal :func:`patient_endpoints`' values as `width` tends to 0
    (tested).  Rates defined on responders carry the response probability as a weight.  Onset
    time also carries its variance over the offset, so that the arm's SD is that of onset times
    over patients *and* offsets (law of total variance), not the smaller SD of the per-patient
    expectations; it too vanishes as `width` tends to 0.

    Parameters
    ----------
    platelets : ndarray, shape (n_days, n)
        Platelet counts, 10^9/L, as for :func:`patient_endpoints`.
    days : ndarray, shape (n_days,)
        Days of the rows.
    config : EndpointConfig
        Trial definitions.
    treatment_days : ndarray, shape (n,)
        Days of therapy actually given.
    width : float
        Logistic scale in natural-log units of the count (0.05: about 5%).
    ab_signal : ndarray, shape (n_days, n), optional
        Antibody assay signal over threshold (positive when >= 1).
    cd4cd25, treg : ndarray, shape (n_days, n), optional
        CD4+CD25+ % and FoxP3+ Treg %.

    Returns
    -------
    dict of str to SmoothEndpoint
        Per-patient value, weight and within-patient variance (see :class:`SmoothEndpoint`);
        for ``effective_degree`` the value has shape ``(n_grades, n)`` (probability of each
        grade, best first).
    """
    if not (math.isfinite(width) and width > 0):
        raise OptionError(f"`width` must be positive, got {width!r}")
    at = _day_reader(days)

    def cdf(x: Array) -> Array:
        return _soft(x, width)

    sdays = sampling_days(config)
    plt = np.stack([at(d, platelets) for d in sdays])
    base = at(0.0, platelets)
    lp = np.log(np.maximum(plt, 1e-300))
    lb = np.log(np.maximum(base, 1e-300))
    win = sdays <= config.response_window + 1e-9
    n = plt.shape[1]
    ones = np.ones(n)
    out: dict[str, SmoothEndpoint] = {}

    # grades: margin of "this grade or better" reached; P = F(margin)
    grades, _ = GRADINGS[config.grading]
    reach = []
    for g in grades:
        m = lp - math.log(g.level) if math.isfinite(g.level) else np.full_like(lp, -np.inf)
        if g.rise is not None:
            m = np.maximum(m, np.log(np.maximum(plt - base, 1e-300)) - math.log(g.rise))
        if g.fold is not None:
            m = np.minimum(m, lp - lb - math.log(g.fold))
        if g.min_rise is not None:
            m = np.minimum(m, np.log(np.maximum(plt - base, 1e-300)) - math.log(g.min_rise))
        best = np.full(n, -np.inf)
        for a in np.flatnonzero(win):
            end = sdays[a] + g.sustain_days
            if end > sdays[-1] + 1e-9:
                continue
            span = (sdays >= sdays[a]) & (sdays <= end + 1e-9)
            best = np.maximum(best, m[span].min(axis=0))
        reach.append(best)
    cum = cdf(np.maximum.accumulate(np.array(reach), axis=0))  # better grades count as worse
    probs = np.diff(np.vstack([np.zeros((1, n)), cum, ones[None, :]]), axis=0)
    names = config.grade_names
    effective = sum(probs[names.index(x)] for x in config.effective_grades)
    out["total_effective_rate"] = SmoothEndpoint(np.asarray(effective, dtype=float), ones)
    out["effective_degree"] = SmoothEndpoint(probs, ones)

    def first_passage(m: Array) -> tuple[Array, Array]:
        """Running maxima of the margins within the window, and P(first success at j)."""
        run = np.maximum.accumulate(np.where(win[:, None], m, -np.inf), axis=0)
        f = cdf(run)
        return run, np.diff(np.vstack([np.zeros((1, n)), f]), axis=0)

    loss_windows = _confirm_windows(sdays, config.relapse_confirm_days)

    def kept(m_reach: Array, m_once: Array) -> tuple[Array, Array]:
        """P(first reach in the window), and P(first reach at j and a confirmed loss later):
        a first reach at j is an offset e in (M_{j-1}, M_j] (running maxima), a loss a later
        confirmed margin below e (its window's maximum)."""
        run, _ = first_passage(m_reach)
        m_keep = _confirmed_margin(m_once, loss_windows, lost=True)
        later_min = np.vstack(
            [np.minimum.accumulate(m_keep[::-1], axis=0)[::-1][1:], np.full((1, n), np.inf)]
        )
        prev = np.vstack([np.full((1, n), -np.inf), run[:-1]])
        joint = np.clip(cdf(run) - cdf(np.maximum(prev, later_min)), 0.0, None)
        return cdf(run[-1]), np.where(run > prev, joint, 0.0).sum(axis=0)

    confirm = _confirm_windows(sdays, config.response_confirm_days, at_least=True)
    m_iwg = np.minimum(lp - math.log(30.0), lp - lb - math.log(2.0))
    m_r = _confirmed_margin(m_iwg, confirm)
    m_once = np.minimum(lp - math.log(config.relapse_level), lp - lb - _log(config.relapse_fold))
    responder, relapse_joint = kept(m_r, m_once)
    out["initial_response"] = SmoothEndpoint(responder, ones)
    m_cr = lp - math.log(100.0)
    complete, cr_lost = kept(_confirmed_margin(m_cr, confirm), m_cr)
    out["complete_response"] = SmoothEndpoint(complete, ones)
    out["sustained_complete_response"] = SmoothEndpoint(complete - cr_lost, ones)
    out["response_at_followup"] = SmoothEndpoint(cdf(m_iwg[-1]), ones)
    m_on = np.minimum(lp - math.log(config.onset_level), lp - lb - _log(config.onset_fold))
    _, first_on = first_passage(m_on)
    w_on = first_on.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        onset = (first_on * sdays[:, None]).sum(axis=0) / w_on
        onset_sq = (first_on * (sdays * sdays)[:, None]).sum(axis=0) / w_on
    defined = w_on > 0
    onset = np.where(defined, onset, 0.0)
    spread = np.where(defined, np.maximum(onset_sq - onset * onset, 0.0), 0.0)
    out["onset_time"] = SmoothEndpoint(onset, w_on, spread)

    with np.errstate(invalid="ignore", divide="ignore"):
        rec = np.where(responder > 0, relapse_joint / responder, 0.0)
    out["recurrence_rate"] = SmoothEndpoint(rec, responder)
    out["sustained_response"] = SmoothEndpoint(responder - relapse_joint, ones)

    out["recovery_level"] = SmoothEndpoint(at(config.recovery_day, platelets), ones)
    out["peak_platelets"] = SmoothEndpoint(np.where(win[:, None], plt, -np.inf).max(axis=0), ones)
    out["treatment_course"] = SmoothEndpoint(np.asarray(treatment_days, dtype=float), ones)
    if ab_signal is not None:
        for key, day in (("ab_positive_before", 0.0), ("ab_positive_after", config.after_day)):
            out[key] = SmoothEndpoint(cdf(np.log(np.maximum(at(day, ab_signal), 1e-300))), ones)
    for key, x in (("cd4cd25", cd4cd25), ("treg", treg)):
        if x is not None:
            before, after = at(0.0, x), at(config.after_day, x)
            out[f"{key}_before"] = SmoothEndpoint(before, ones)
            out[f"{key}_after"] = SmoothEndpoint(after, ones)
            out[f"{key}_change"] = SmoothEndpoint(after - before, ones)
    return out


def summarise_smooth(
    value: Array, weight: Array, kind: str, within: Array | None = None
) -> ArmSummary:
    """Aggregate smooth per-patient values (weighted by membership probability).

    Parameters
    ----------
    value, weight : ndarray
        Per-patient expectation and weight (see :class:`SmoothEndpoint`).
    kind : str
        ``proportion``, ``continuous`` or ``ordinal``.
    within : ndarray, optional
        Per-patient variance over the offset (endpoint unit squared), added to the
        between-patient variance of a continuous endpoint.

    Returns
    -------
    ArmSummary
        `n` is the sum of the weights.
    """
    wsum = float(np.sum(weight))
    if wsum <= 0:
        return ArmSummary(kind, math.nan, math.nan, 0)
    if kind == "ordinal":
        dist = tuple(float(x) for x in np.mean(value, axis=1))
        idx = np.arange(len(dist))
        mean = float(np.dot(idx, dist))
        sd = math.sqrt(max(float(np.dot((idx - mean) ** 2, dist)), 0.0))
        return ArmSummary(kind, mean, sd, value.shape[1], math.nan, dist)
    mean = float(np.sum(weight * value) / wsum)
    if kind == "proportion":
        return ArmSummary(kind, mean, math.sqrt(max(mean * (1 - mean), 0.0)), wsum)
    var = float(np.sum(weight * (value - mean) ** 2) / wsum)
    n_eff = wsum
    if n_eff > 1:
        var *= n_eff / (n_eff - 1)  # between patients: a sample of the population
    if within is not None:
        var += float(np.sum(weight * within) / wsum)  # over each patient's offset: exact
    return ArmSummary(kind, mean, math.sqrt(max(var, 0.0)), wsum)
