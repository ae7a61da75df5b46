"""Vectorised, segmented integration of a virtual population under a regimen.

Integration runs in segments between decision times (dose times, output times).  At each
boundary the solver records the requested observables (before any dose at that time), evaluates
each patient's dosing rules on its own pre-dose observables, and applies the doses as exact jumps
of the PK amounts (design decisions D1-D3).  Within a segment the drug concentrations are
analytic functions of time (:mod:`pdmodel.pk`), so the PD system the integrator sees is smooth
and non-stiff.

The default engine (``method="dopri5"``) is an explicit Dormand-Prince 5(4) Runge-Kutta scheme,
compiled from the model definition (:mod:`pdmodel.model.kernel`) and run over all patients of a
chunk per segment, with a *per-patient* step size and error control: no patient's steps depend
on another's, so results do not depend on how patients are grouped into chunks or threads.  Any
:func:`scipy.integrate.solve_ivp` method name (``"Radau"``, ``"LSODA"``, ``"RK45"``, ...) runs the
same event loop patient by patient; it is the reference used by the tests and benchmarks.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import dataclasses
import math
import numbers
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._progress import progress_iter, want_progress
from .checks import check_choice, check_memory, check_positive, check_whole
from .dosing import TIME_TOL, Dosing, decision_key, patient_ids
from .errors import OptionError, PopulationError, RegimenError, SolverError
from .model import Individuals
from .model.kernel import TERMS_PER_INPUT
from .pk import DrugState, drug_pk
from .population import Population
from .regimens import Regimen

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

    from .model import Model

__all__ = [
    "METHODS",
    "CourseRecord",
    "SimulationResult",
    "SolverDiagnostics",
    "SolverOptions",
    "get_threads",
    "set_threads",
    "simulate",
    "simulate_chunks",
    "simulate_many",
    "use_executor",
]

#: The executor simulations use when none is passed (see :func:`use_executor`).
_EXECUTOR: contextvars.ContextVar[Executor | None] = contextvars.ContextVar(
    "pdmodel_executor", default=None
)


@contextlib.contextmanager
def use_executor(executor: Executor | None) -> Iterator[Executor | None]:
    """Run every simulation inside the ``with`` block on `executor`.

    Simulations that are given an ``executor=`` keep theirs.  This is how the command line's
    ``--dask`` reaches every simulation of a command (trials, fits, sweeps) without each
    function taking an executor argument.

    Parameters
    ----------
    executor : concurrent.futures.Executor or None
        E.g. ``dask.distributed.Client(...).get_executor()`` or a process pool; None restores
        in-process simulation for the block.

    Yields
    ------
    concurrent.futures.Executor or None
        `executor`.
    """
    token = _EXECUTOR.set(executor)
    try:
        yield executor
    finally:
        _EXECUTOR.reset(token)


Array = NDArray[np.float64]

#: Integration methods: the compiled engine, the optional JAX backend (:mod:`pdmodel.accel`)
#: and the per-patient scipy references.
METHODS: tuple[str, ...] = (
    "dopri5", "jax", "RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA",
)  # fmt: skip

#: The compiled engine's step savers (docs/decisions.md 32), switched off only by
#: benchmarks/population.py to measure what they save: closed-form affine states, and output
#: times inside steps.
_CLOSED_FORM = True
_DENSE_OUTPUT = True


@dataclass(frozen=True)
class CourseRecord:
    """Doses of one course actually given to each patient.

    Parameters
    ----------
    label, drug, route : str
        Course identification.
    times : ndarray, shape (n_slots,)
        Every time at which the course could give a dose, days (for a course that follows
        another, the union over patients of its possible dose times).
    amount : ndarray, shape (n_patients,)
        Administered amount per dose, mg (glucocorticoids) or ug (rhIL-11).
    given : ndarray of bool, shape (n_slots, n_patients)
        Whether the patient received a dose at each time (False when the course was not
        scheduled then for that patient, a rule skipped or stopped it, or the dose fell after
        the end of the simulation).
    """

    label: str
    drug: str
    route: str
    times: Array
    amount: Array
    given: NDArray[np.bool_]


@dataclass(frozen=True)
class SolverDiagnostics:
    """What the integrator did.

    Parameters
    ----------
    method : str
        Integration method.
    rtol, atol : float
        Tolerances used.
    n_steps, n_rejected : ndarray of int, shape (n_patients,)
        Accepted and rejected steps per patient (dopri5; zeros for the scipy and jax methods).
    n_rhs : int
        Right-hand-side evaluations, summed over the patients.
    n_segments : int
        Segments between decision times.
    wall_time : float
        Seconds spent, summed over chunks (under :func:`simulate_many`, this job's share by
        number of patients).
    """

    method: str
    rtol: float
    atol: float
    n_steps: NDArray[np.int64]
    n_rejected: NDArray[np.int64]
    n_rhs: int
    n_segments: int
    wall_time: float


@dataclass(frozen=True)
class SimulationResult:
    """Trajectories of a simulated population.

    Parameters
    ----------
    times : ndarray, shape (n_times,)
        Output times, days (observables are pre-dose at dose times).
    observables : dict of str to ndarray, shape (n_times, n_patients)
        Recorded observables (units: the model's :attr:`~pdmodel.model.Model.observable_labels`).
    patient_ids : ndarray of int, shape (n_patients,)
        Patient identifiers from the population.
    courses : tuple of CourseRecord
        Doses actually given, per course of the regimen.
    diagnostics : SolverDiagnostics
        Solver statistics.
    regimen : Regimen
        The regimen simulated.
    """

    times: Array
    observables: dict[str, Array]
    patient_ids: NDArray[np.int64]
    courses: tuple[CourseRecord, ...]
    diagnostics: SolverDiagnostics
    regimen: Regimen

    @property
    def n_patients(self) -> int:
        """Number of patients."""
        return int(self.patient_ids.size)

    def __repr__(self) -> str:
        t = self.times
        span = f"{t[0]:g}-{t[-1]:g} d ({t.size} times)" if t.size else "no times"
        names = list(self.observables)
        shown = ", ".join(names[:4]) + (f", ... {len(names) - 4} more" if len(names) > 4 else "")
        steps = self.diagnostics.n_steps
        per = f", {float(np.mean(steps)):.0f} steps/patient" if steps.size and steps.any() else ""
        regimen = "; ".join(c.label for c in self.regimen.courses) or "no single regimen"
        return (
            f"SimulationResult({self.n_patients} patients, {span}, observables [{shown}], "
            f"regimen: {regimen}{per})"
        )

    def _repr_html_(self) -> str:
        """Notebook view: median (IQR) platelets at a few days, and what was recorded."""
        import html

        head = html.escape(repr(self))
        if "platelets" not in self.observables or self.times.size == 0:
            return f"<p>{head}</p>"
        q = np.percentile(self.observables["platelets"], [25, 50, 75], axis=1)
        rows = []
        for day in sorted({0, 7, 14, 28, 56, 90, 180, float(self.times[-1])}):
            i = int(np.searchsorted(self.times, day))
            if i < self.times.size and self.times[i] == day:
                rows.append(f"<tr><td>{day:g}</td><td>{q[1, i]:.1f}</td>"
                            f"<td>{q[0, i]:.1f}-{q[2, i]:.1f}</td></tr>")  # fmt: skip
        return (
            f"<p>{head}</p><table><tr><th>day</th><th>median platelets (10^9/L)</th>"
            f"<th>IQR</th></tr>{''.join(rows)}</table>"
        )

    def __getitem__(self, name: str) -> Array:
        try:
            return self.observables[name]
        except KeyError:
            raise OptionError(
                f"observable `{name}` was not recorded; recorded: {', '.join(self.observables)}"
            ) from None

    def take(self, idx: Any) -> SimulationResult:
        """The result for a subset of patients (e.g. one sample of a batched population).

        See :meth:`pdmodel.Population.batch`.

        Parameters
        ----------
        idx : slice, int array or bool mask
            Patients, by position (shape ``(n_patients,)`` for a mask).

        Returns
        -------
        SimulationResult
            The diagnostics' ``n_rhs`` and ``wall_time`` are the subset's share by number of
            patients (the engine does not record them per patient).
        """
        sel = np.atleast_1d(np.arange(self.n_patients)[idx])
        if sel.size == 0:
            raise OptionError("patient selection is empty")
        d = self.diagnostics
        share = sel.size / max(self.n_patients, 1)
        diag = dataclasses.replace(
            d,
            n_steps=d.n_steps[sel],
            n_rejected=d.n_rejected[sel],
            n_rhs=round(d.n_rhs * share),
            wall_time=d.wall_time * share,
        )
        courses = tuple(
            dataclasses.replace(c, amount=c.amount[sel], given=c.given[:, sel])
            for c in self.courses
        )
        return SimulationResult(
            times=self.times,
            observables={k: v[:, sel] for k, v in self.observables.items()},
            patient_ids=self.patient_ids[sel],
            courses=courses,
            diagnostics=diag,
            regimen=self.regimen,
        )

    def treatment_days(self, drug: str | None = None) -> Array:
        """Days of therapy actually given per patient (number of dosing days).

        Parameters
        ----------
        drug : str, optional
            Count only this drug's doses (default: any drug).

        Returns
        -------
        ndarray, shape (n_patients,)
            Days.
        """
        day_sets: list[tuple[Array, NDArray[np.bool_]]] = [
            (c.times, c.given) for c in self.courses if drug is None or c.drug == drug
        ]
        if not day_sets:
            return np.zeros(self.n_patients)
        all_days = np.unique(np.floor(np.concatenate([t for t, _ in day_sets]) + TIME_TOL))
        dosed = np.zeros((all_days.size, self.n_patients), dtype=bool)
        for times, given in day_sets:
            rows = np.searchsorted(all_days, np.floor(times + TIME_TOL))
            np.logical_or.at(dosed, rows, given)
        return dosed.sum(axis=0).astype(float)

    def to_frame(
        self,
        observables: Sequence[str] | None = None,
        *,
        long: bool = False,
        arm: str | None = None,
        covariates: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Tidy table of the trajectories.

        Parameters
        ----------
        observables : sequence of str, optional
            Observables to include (default: all recorded).
        long : bool
            ``False``: one row per patient and time, one column per observable.  ``True``:
            one row per patient, time and observable (columns ``observable`` and ``value``),
            the layout seaborn and ggplot2 expect.
        arm : str, optional
            Adds an ``arm`` column with this label.
        covariates : pandas.DataFrame, optional
            One row per patient with a ``patient`` (or ``ID``) column, e.g.
            ``pdmodel.events.cohort_frame(population)``; its other columns are joined on.

        Returns
        -------
        pandas.DataFrame
            Columns ``patient``, [``arm``], ``time`` (days), then the observables (in their
            units, see :attr:`pdmodel.model.Model.observable_labels`) or ``observable`` and
            ``value``, then the covariates.
        """
        import pandas as pd

        names = list(self.observables) if observables is None else list(observables)
        for name in names:
            self[name]  # validates
        nt, n = self.times.size, self.n_patients
        data: dict[str, Any] = {"patient": np.repeat(self.patient_ids, nt)}
        if arm is not None:
            data["arm"] = arm
        data["time"] = np.tile(self.times, n)
        for name in names:
            data[name] = self.observables[name].T.reshape(-1)
        frame = pd.DataFrame(data)
        if long:
            keys = [c for c in ("patient", "arm", "time") if c in frame.columns]
            frame = frame.melt(id_vars=keys, value_vars=names, var_name="observable")
            frame = frame.sort_values(["patient", "time"], kind="stable", ignore_index=True)
        if covariates is not None:
            cov = covariates.rename(columns={"ID": "patient"})
            if "patient" not in cov.columns:
                raise OptionError("`covariates` needs a `patient` (or `ID`) column")
            missing = sorted(set(self.patient_ids.tolist()) - set(cov["patient"].tolist()))
            if missing:
                raise OptionError(f"`covariates` has no row for patients {missing[:5]}")
            frame = frame.merge(cov, on="patient", how="left", validate="many_to_one")
        return frame

    def to_xarray(self, model: Model | None = None) -> xr.Dataset:
        """The trajectories as an :class:`xarray.Dataset` (needs the ``[xarray]`` extra).

        Parameters
        ----------
        model : Model, optional
            Model whose observable units label the variables (default:
            :func:`pdmodel.default_model`).

        Returns
        -------
        xarray.Dataset
            One variable per observable with dimensions ``(time, patient)`` and a ``units``
            attribute; coordinates ``time`` (days) and ``patient`` (ids); the variable
            ``treatment_days`` (per patient); the regimen and solver in the attributes.
        """
        try:
            import xarray as xr
        except ImportError:
            from .errors import MissingExtraError

            raise MissingExtraError(
                "to_xarray needs xarray: pip install 'pdmodel[xarray]'"
            ) from None
        from .model import default_model

        units = (model or default_model()).observable_labels
        data = {
            name: xr.Variable(("time", "patient"), values, {"units": units.get(name, "")})
            for name, values in self.observables.items()
        }
        data["treatment_days"] = xr.Variable(("patient",), self.treatment_days(), {"units": "d"})
        d = self.diagnostics
        return xr.Dataset(
            data,
            coords={
                "time": ("time", self.times, {"units": "d"}),
                "patient": ("patient", self.patient_ids),
            },
            attrs={
                "regimen": self.regimen.describe(),
                "solver": f"{d.method}, rtol {d.rtol:g}, atol {d.atol:g}",
            },
        )

    def doses_frame(self) -> pd.DataFrame:
        """Tidy table of scheduled doses: patient, course, drug, route, time, amount, given.

        Returns
        -------
        pandas.DataFrame
            One row per patient and dose time; amounts in mg or ug.
        """
        import pandas as pd

        frames = []
        for c in self.courses:
            nd = c.times.size
            frames.append(
                pd.DataFrame(
                    {
                        "patient": np.tile(self.patient_ids, nd),
                        "course": c.label,
                        "drug": c.drug,
                        "route": c.route,
                        "time": np.repeat(c.times, self.n_patients),
                        "amount": np.tile(c.amount, nd),
                        "given": c.given.reshape(-1),
                    }
                )
            )
        if not frames:
            return pd.DataFrame(
                columns=["patient", "course", "drug", "route", "time", "amount", "given"]
            )
        return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# inputs: exact drug concentrations within a segment


class _Inputs:
    """The model's drug inputs within one segment as exact functions of elapsed time.

    Input ``m`` (the concentration of ``model.drugs[m]``) is a sum of exponentials
    ``sum_r c_r exp(x_r tau)`` over its terms ``input_start[m] <= r < input_start[m + 1]``
    (``x_r`` minus a rate constant; :meth:`pdmodel.pk.DrugState.exponentials`): `exponents`
    (shape ``(m,)``), `coefs` (shape ``(m, n)``, C-ordered, as the compiled kernel reads them)
    and `input_start` (shape ``(n_inputs + 1,)``).
    """

    def __init__(self, states: dict[str, DrugState], ind: Individuals) -> None:
        rates: list[float] = []
        coefs: list[Array] = []
        start = [0]
        for drug in ind.model.drugs:
            st = states.get(drug)
            if st is not None:
                r, c = st.exponentials()
                if len(r) > TERMS_PER_INPUT:  # (the compiled kernel has this many slots)
                    raise SolverError(
                        f"{drug}: its concentration is a sum of {len(r)} exponentials; the "
                        f"engine takes at most {TERMS_PER_INPUT} per drug"
                    )
                rates += r
                coefs += c
            start.append(len(rates))
        self.exponents = -np.array(rates, dtype=float)
        self.coefs = np.array(coefs, dtype=float).reshape(len(rates), ind.n)
        self.input_start = np.array(start, dtype=np.int64)

    def __call__(self, tau: Array) -> Array:
        """Inputs at elapsed times `tau` (shape ``(n,)``), shape ``(n_inputs, n)``."""
        e = self.exponents[:, None] * tau
        np.exp(e, out=e)
        e *= self.coefs
        out = np.zeros((self.input_start.size - 1, tau.shape[0]))
        for m in range(out.shape[0]):
            for r in range(self.input_start[m], self.input_start[m + 1]):  # term by term
                out[m] += e[r]
        return out


# ---------------------------------------------------------------------------------------------
# integrators


@dataclass
class _Stats:
    n_steps: NDArray[np.int64]
    n_rejected: NDArray[np.int64]
    n_rhs: NDArray[np.int64]

    @classmethod
    def zeros(cls, n: int) -> _Stats:
        return cls(*(np.zeros(n, dtype=np.int64) for _ in range(3)))


#: Patients per thread below which a segment is integrated in the calling thread alone (a
#: thread costs ~0.1 ms to start; a patient-segment ~2-5 us).
_MIN_PER_THREAD = 256
#: Blocks of patients per thread in a segment (dynamic load balance), and their least size.
_BLOCKS_PER_THREAD = 8
_MIN_PER_BLOCK = 64
_threads: int | None = None


def _default_threads() -> int:
    env = os.environ.get("PDMODEL_THREADS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise OptionError(
                f"the environment variable PDMODEL_THREADS must be a positive whole number, "
                f"got {env!r}"
            )
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_threads(n: int | None = None) -> int:
    """Set how many threads integrate the patients of one chunk.

    Every patient is integrated on its own, so results do not depend on this setting (as they
    do not on chunking).  Process pools that :mod:`pdmodel` starts itself (``workers=`` of the
    calibration functions, ``pdmodel fit --workers``, ``pdmodel sweep --workers``) use one
    thread per process; other executors' processes use the default.

    Parameters
    ----------
    n : int or None
        Number of threads (1: the calling thread only).  None restores the default: the
        ``PDMODEL_THREADS`` environment variable if set, else the CPUs available to the process.

    Returns
    -------
    int
        The number of threads now in effect.
    """
    global _threads
    _threads = None if n is None else check_whole(n, "n", 1)
    return get_threads()


def get_threads() -> int:
    """Number of threads that integrate the patients of one chunk (see :func:`set_threads`).

    Returns
    -------
    int
        Threads (>= 1).
    """
    return _default_threads() if _threads is None else _threads


def _one_thread_per_process() -> None:
    """Initializer of the process pools pdmodel starts (their processes share the cores)."""
    set_threads(1)


def process_pool(max_workers: int) -> ProcessPoolExecutor:
    """A process pool whose processes integrate with one thread each (pdmodel's own pools)."""
    return ProcessPoolExecutor(max_workers=max_workers, initializer=_one_thread_per_process)


def _dopri5(
    y: Array,
    h: Array,
    length: float,
    inputs: _Inputs,
    ind: Individuals,
    rtol: float,
    atol: float,
    max_steps: int,
    stats: _Stats,
    t0: float,
    ids: NDArray[np.int64],
    threads: int,
    exact: Array,
    out_tau: Array,
) -> tuple[Array, Array, Array]:
    """Integrate every patient over ``[0, length]`` of elapsed segment time.

    Dormand-Prince 5(4), compiled and per patient (the model kernel's ``segment``); slices
    of the patients run on up to `threads` threads.  Returns the states at the end and the step
    size to start the next segment with (the first accepted step of this one, which follows a
    dose when there is one), and the states at the interior output times `out_tau` (shape
    ``(len(out_tau), n_states, n)``, from the continuous extension; they do not end a step).
    `exact`: the kernel's ``exact_coefficients`` of the patients.
    """
    n = y.shape[1]
    y_out = np.empty((out_tau.size, y.shape[0], n))
    y = np.ascontiguousarray(y)
    h = np.array(h, dtype=float)
    par = ind.packed
    kernel = ind.model.kernel
    status = np.zeros(n, dtype=np.int64)
    where = np.zeros(n)
    hmin = 1e-12 * max(1.0, abs(t0) + length)

    failures: list[BaseException] = []

    def run(start: int, stop: int) -> None:
        try:
            kernel.segment(
                y, h, length, inputs.exponents, inputs.coefs, inputs.input_start, par, exact,
                out_tau, y_out, rtol, atol, max_steps, hmin, start, stop, stats.n_steps,
                stats.n_rejected, stats.n_rhs, status, where,
            )  # fmt: skip
        except BaseException as exc:  # re-raised in the calling thread, never swallowed
            failures.append(exc)

    n_threads = max(1, min(threads, n // _MIN_PER_THREAD))
    # patients differ in cost (regimens, stop rules, stiffness), so equal halves leave one
    # thread idle; the threads instead take blocks of patients from a shared queue
    n_blocks = 1 if n_threads == 1 else min(n_threads * _BLOCKS_PER_THREAD, n // _MIN_PER_BLOCK)
    bounds = np.linspace(0, n, max(n_blocks, n_threads) + 1).astype(int)
    blocks = iter(range(bounds.size - 1))
    lock = threading.Lock()

    def work() -> None:
        while not failures:
            with lock:
                b = next(blocks, None)
            if b is None:
                return
            run(int(bounds[b]), int(bounds[b + 1]))

    others = [threading.Thread(target=work) for _ in range(1, n_threads)]
    for th in others:
        th.start()
    work()
    for th in others:
        th.join()
    if failures:
        raise failures[0]
    limit = status == kernel.STEP_LIMIT
    if limit.any():
        raise SolverError(
            f"step limit ({max_steps}) reached in the segment starting at day {t0:g} for "
            f"patients {patient_ids(ids[limit])}; loosen rtol/atol or check the parameters"
        )
    stuck = status == kernel.UNDERFLOW
    if stuck.any():
        raise SolverError(
            f"integration failed near day {t0 + float(np.max(where[stuck])):g} for patients "
            f"{patient_ids(ids[stuck])}: the step size underflowed (non-finite or exploding "
            "states); check the parameters of these patients"
        )
    return y, h, y_out


def _scipy_segment(
    method: str,
    y: Array,
    length: float,
    inputs: _Inputs,
    ind_single: list[Individuals],
    rtol: float,
    atol: float,
    stats: _Stats,
    t0: float,
    ids: NDArray[np.int64],
) -> Array:
    from scipy.integrate import solve_ivp

    out = np.empty_like(y)
    n = y.shape[1]
    for i, ind in enumerate(ind_single):

        def fun(tt: float, yy: Array, ind: Individuals = ind, i: int = i) -> Array:
            c = inputs(np.full(n, tt))[:, i : i + 1]
            stats.n_rhs[i] += 1
            return ind.model.reference_rhs(t0 + tt, yy[:, None], c, ind)[:, 0]

        sol = solve_ivp(fun, (0.0, length), y[:, i], method=method, rtol=rtol, atol=atol)
        if not sol.success or not np.all(np.isfinite(sol.y[:, -1])):
            raise SolverError(
                f"{method} failed in the segment starting at day {t0:g} for patient "
                f"{int(ids[i])}: {sol.message}"
            )
        out[:, i] = sol.y[:, -1]
    return out


# ---------------------------------------------------------------------------------------------
# the event loop (one chunk of patients)


@dataclass(frozen=True)
class _Options:
    method: str
    rtol: float
    atol: float
    max_steps: int
    observables: tuple[str, ...]
    times: Array
    days: float


@dataclass
class _ChunkResult:
    observables: dict[str, Array]
    ids: NDArray[np.int64]
    given: list[NDArray[np.bool_]]
    times: list[Array]
    amounts: list[Array]
    stats: _Stats
    n_segments: int
    wall_time: float = 0.0


def _decision_times(regimen: Regimen, days: float) -> frozenset[float]:
    """The times (decision keys) up to `days` at which `regimen` may give a dose."""
    slots = regimen.dose_slots()
    return frozenset(
        decision_key(td) for c in regimen.courses for td in slots[c.label] if td <= days + TIME_TOL
    )


_STAT_FIELDS = ("n_steps", "n_rejected", "n_rhs")


def _scatter(
    parts: list[_ChunkResult], where: list[NDArray[np.intp]], n: int, wall_time: float
) -> _ChunkResult:
    """One chunk's result from the results of disjoint subsets `where` of its patients."""

    def put(arrays: Sequence[NDArray[Any]], axis: int) -> Any:
        shape = list(arrays[0].shape)
        shape[axis] = n
        out = np.empty(shape, dtype=arrays[0].dtype)
        for a, idx in zip(arrays, where, strict=True):
            out[(slice(None),) * axis + (idx,)] = a
        return out

    first = parts[0]
    return _ChunkResult(
        observables={k: put([p.observables[k] for p in parts], 1) for k in first.observables},
        ids=put([p.ids for p in parts], 0),
        given=[put([p.given[c] for p in parts], 1) for c in range(len(first.given))],
        times=first.times,
        amounts=[put([p.amounts[c] for p in parts], 0) for c in range(len(first.amounts))],
        stats=_Stats(*(put([getattr(p.stats, f) for p in parts], 0) for f in _STAT_FIELDS)),
        n_segments=max(p.n_segments for p in parts),
        wall_time=wall_time,
    )


def _run_chunk(
    pop: Population, regimens: tuple[Regimen, ...], group: NDArray[np.int64], opts: _Options
) -> _ChunkResult:
    """Simulate one chunk; patient i follows ``regimens[group[i]]``.

    The courses of all regimens are handled together (each only for its group's patients);
    the per-course results are in the order of ``regimens[0].courses, regimens[1].courses, ...``.
    """
    start_clock = time.perf_counter()
    if opts.method == "dopri5" and len(regimens) > 1:
        # a decision time ends every patient's step: patients whose regimens decide at different
        # times are integrated apart, so that a patient's steps depend on its regimen alone
        # (not on which other jobs share its chunk)
        present = np.unique(group).tolist()
        times = {gi: _decision_times(regimens[gi], opts.days) for gi in present}
        kinds = sorted(set(times.values()), key=sorted)
        if len(kinds) > 1:
            parts = [
                np.flatnonzero(np.isin(group, [gi for gi in present if times[gi] == kind]))
                for kind in kinds
            ]
            subs = [_run_chunk(pop[idx], regimens, group[idx], opts) for idx in parts]
            return _scatter(subs, parts, len(pop), time.perf_counter() - start_clock)
    ind = pop.individuals()
    assert pop.ids is not None
    ids = pop.ids
    n = ind.n
    pks = drug_pk(pop.params)
    drugs = sorted({d for r in regimens for d in r.drugs})
    for drug in drugs:
        if drug not in pks:
            raise RegimenError(
                f"the regimen gives {drug}, which model `{ind.model.name}` does not take as an "
                f"input (its drugs: {', '.join(ind.model.drugs) or 'none'})"
            )
    states = {drug: DrugState.empty(pks[drug], ind.weight) for drug in drugs}

    dosing = Dosing(regimens, group, ind.weight, pks)
    out_keys = [decision_key(t) for t in opts.times]
    out_index = {k: i for i, k in enumerate(out_keys)}
    dense = opts.method == "dopri5" and _DENSE_OUTPUT
    # segments end at decision times (doses, rules) and the end; the compiled engine reports
    # output times between them without ending a step (scipy methods end a segment there)
    # (the times of the regimens of this chunk's patients only: see the top of this function)
    decisions = set().union(*(_decision_times(regimens[gi], opts.days) for gi in np.unique(group)))
    events = sorted(
        decisions | {0.0, decision_key(opts.days)} | (set() if dense else set(out_keys))
    )
    interior = np.array(sorted(set(out_keys) - set(events)))
    rule_obs = dosing.rule_observables

    names = tuple(sorted(set(opts.observables) | rule_obs))
    rule_names = tuple(sorted(rule_obs))
    read = ind.model.drugs_read(names)  # (the concentrations of other drugs are not computed)
    rule_read = ind.model.drugs_read(rule_names)

    def concentrations(tau: float, drugs: frozenset[str]) -> dict[str, Array]:
        return {d: st.concentration(tau) for d, st in states.items() if d in drugs}

    def record(row: int, y_now: Array, conc: dict[str, Array]) -> dict[str, Array]:
        obs = ind.model.evaluate_observables(y_now, conc, ind, names)
        for name in opts.observables:
            obs_out[name][row] = obs[name]
        return obs

    obs_out = {name: np.empty((opts.times.size, n)) for name in opts.observables}
    y = ind.model.baseline(ind)
    compiled = opts.method == "dopri5"
    exact = ind.model.kernel.exact_coefficients(y, ind.packed) if compiled else np.empty(0)
    if not _CLOSED_FORM:
        exact[:, 1] = 0.0  # b = 0: every patient's affine states are stepped
    h = np.full(n, 0.05)
    stats = _Stats.zeros(n)
    scipy = not compiled and opts.method != "jax"
    singles = [ind.take(slice(i, i + 1)) for i in range(n)] if scipy else []
    threads = get_threads()  # once per chunk (an invalid PDMODEL_THREADS fails before any step)
    t = 0.0
    n_segments = 0
    for te in events:
        if te > t:
            length = te - t
            inputs = _Inputs(states, ind)
            if compiled:
                lo, hi = np.searchsorted(interior, [t, te], side="right")
                inside = interior[lo:hi]
                inside = inside[inside < te]
                y, h, y_in = _dopri5(
                    y,
                    h,
                    length,
                    inputs,
                    ind,
                    opts.rtol,
                    opts.atol,
                    opts.max_steps,
                    stats,
                    t,
                    ids,
                    threads,
                    exact,
                    inside - t,
                )
                for k, tk in enumerate(inside):
                    record(out_index[tk], y_in[k], concentrations(tk - t, read))
            elif opts.method == "jax":
                from . import accel

                y = accel.segment(
                    ind.model, y, length, inputs.exponents, inputs.coefs, inputs.input_start, ind,
                    opts.rtol, opts.atol,
                )  # fmt: skip
            else:
                y = _scipy_segment(
                    opts.method, y, length, inputs, singles, opts.rtol, opts.atol, stats, t, ids
                )
            for st in states.values():
                st.advance(length)
            n_segments += 1
            t = te
        here = dosing.due_at(te)
        obs_now: dict[str, Array] = {}
        if te in out_index:
            obs_now = record(out_index[te], y, concentrations(0.0, read))
        elif here and rule_obs:
            conc = concentrations(0.0, rule_read)
            obs_now = ind.model.evaluate_observables(y, conc, ind, rule_names)
        if here:
            dosing.apply(te, obs_now, states, ids)
    return _ChunkResult(
        observables=obs_out,
        ids=ids,
        given=[cs.given for cs in dosing.courses],
        times=[cs.slots for cs in dosing.courses],
        amounts=dosing.amounts,
        stats=stats,
        n_segments=n_segments,
        wall_time=time.perf_counter() - start_clock,
    )


# ---------------------------------------------------------------------------------------------
# front door


@dataclass(frozen=True)
class SolverOptions:
    """How the engine integrates.

    One object shared by :func:`simulate`, :func:`simulate_many`,
    :func:`pdmodel.simulate_trial` and :func:`pdmodel.simulate_trials` (each also takes these
    fields as keyword arguments, which override `options`).

    Parameters
    ----------
    method : str
        ``"dopri5"`` (the compiled engine), ``"jax"`` (the optional JAX backend,
        :mod:`pdmodel.accel`; needs ``pdmodel[jax]``) or a :func:`scipy.integrate.solve_ivp`
        method name run patient by patient on the numpy reference right-hand side (slow; a
        reference).
    rtol, atol : float
        Relative and absolute local error tolerances (states in their own units).  The
        defaults keep every observable within about 2e-6 relative of a Radau reference solve
        at rtol 1e-10 (the tested contract is 1e-4).
    max_steps : int
        Maximum step attempts per patient and segment (dopri5).
    chunk_size : int, optional
        Patients per chunk (default: all in one chunk, or 2,000 when an `executor` is given).
        Results do not depend on it.
    executor : concurrent.futures.Executor, optional
        Runs the chunks (e.g. a ``ProcessPoolExecutor`` or ``dask.distributed.Client
        .get_executor()``); default: in this process, one chunk after another.  Within a
        chunk, patients are integrated on :func:`get_threads` threads (results do not depend
        on it).
    progress : bool, optional
        Show a progress bar over chunks (default: only when stderr is a terminal).
    """

    method: str = "dopri5"
    rtol: float = 1e-7
    atol: float = 1e-9
    max_steps: int = 100_000
    chunk_size: int | None = None
    executor: Executor | None = None
    progress: bool | None = None

    def __post_init__(self) -> None:
        check_choice(self.method, "method", METHODS)
        rtol = check_positive(self.rtol, "rtol")
        if rtol < 1e-13:
            raise OptionError(f"`rtol` = {rtol:g} is below what double precision supports (1e-13)")
        object.__setattr__(self, "rtol", rtol)
        object.__setattr__(self, "atol", check_positive(self.atol, "atol"))
        m = self.max_steps
        if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1:
            raise OptionError(f"`max_steps` must be a positive integer, got {m!r}")
        object.__setattr__(self, "max_steps", int(m))
        if self.progress is not None and not isinstance(self.progress, bool):
            raise OptionError(f"`progress` must be True, False or None, got {self.progress!r}")

    @classmethod
    def build(cls, options: SolverOptions | None, overrides: dict[str, Any]) -> SolverOptions:
        """`options` (default: the defaults) with keyword `overrides`, validated.

        Parameters
        ----------
        options : SolverOptions or None
            Base options.
        overrides : dict
            Field values that replace those of `options`.
        """
        if options is None:
            options = cls()
        elif not isinstance(options, SolverOptions):
            raise OptionError(
                f"`options` must be a pdmodel SolverOptions, got {type(options).__name__}"
            )
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise OptionError(
                f"unknown solver option `{unknown[0]}`; use one of {', '.join(sorted(fields))}"
            )
        return dataclasses.replace(options, **overrides) if overrides else options


def simulate(
    population: Population,
    regimen: Regimen,
    days: float,
    *,
    times: ArrayLike | None = None,
    observables: Sequence[str] | None = None,
    options: SolverOptions | None = None,
    **solver: Any,
) -> SimulationResult:
    """Simulate a population (or one patient) under a regimen.

    Parameters
    ----------
    population : Population
        Patients to simulate (``Population.patient()`` for one patient).
    regimen : Regimen
        Treatment; an empty ``Regimen()`` simulates untreated patients.
    days : float
        Simulated duration from the first treatment day, days (> 0).
    times : array_like, optional
        Output times in ``[0, days]``, days (default: every day ``0, 1, ..., floor(days)``).
        Observables at a dose time are pre-dose.
    observables : sequence of str, optional
        Observables to record (default: all of the model's; a single name is one
        observable); record fewer to save memory on large populations.
    options : SolverOptions, optional
        How to integrate (method, tolerances, chunks, executor, progress bar).
    **solver
        Fields of :class:`SolverOptions` (``rtol=1e-8``, ``method="Radau"``, ...), overriding
        `options`.

    Returns
    -------
    SimulationResult
        Trajectories, doses given and solver diagnostics.

    Raises
    ------
    SolverError
        If integration fails; the message names the patients and the time.
    """
    _check_job(population, regimen, "")
    so = SolverOptions.build(options, solver)
    opts = _options(days, times, observables, so, tuple(population.params.model.observable_labels))
    _check_output_memory(len(population), opts)
    group = np.zeros(len(population), dtype=np.int64)
    return _run_groups(population, (regimen,), group, opts, so)[0]


def _check_output_memory(n: int, opts: _Options) -> None:
    """Refuse a simulation whose gathered trajectories would not fit in memory."""
    per_patient = 8 * opts.times.size * max(len(opts.observables), 1)
    check_memory(
        2.0 * n * per_patient,  # the trajectories, and their copy when chunks are joined
        f"{n:,} patients x {opts.times.size:,} output times x {len(opts.observables)} observables",
        "record fewer observables or output times, simulate fewer patients, or stream the "
        "chunks (pdmodel.solver.simulate_chunks, pdmodel simulate --stream)",
    )


def simulate_chunks(
    population: Population,
    regimen: Regimen,
    days: float,
    *,
    times: ArrayLike | None = None,
    observables: Sequence[str] | None = None,
    options: SolverOptions | None = None,
    **solver: Any,
) -> Iterator[SimulationResult]:
    """Simulate a population chunk by chunk, yielding each chunk's result in order.

    For populations whose trajectories do not fit in memory: the caller consumes (writes,
    summarises) each chunk and lets it go; only a few chunks are in flight at a time (twice
    the executor's workers, or one without an executor).  Concatenating the chunks gives
    exactly :func:`simulate`'s result.

    Parameters
    ----------
    population : Population
        The patients.
    regimen : Regimen
        The regimen.
    days : float
        Simulated duration, days, as for :func:`simulate`.
    times : array_like, optional
        Output times, days, as for :func:`simulate`.
    observables : sequence of str, optional
        As for :func:`simulate`.
    options : SolverOptions, optional
        As for :func:`simulate` (``chunk_size`` defaults to 2,000 patients).
    **solver
        As for :func:`simulate`.

    Yields
    ------
    SimulationResult
        One per chunk of consecutive patients.
    """
    _check_job(population, regimen, "")
    so = SolverOptions.build(options, solver)
    opts = _options(days, times, observables, so, tuple(population.params.model.observable_labels))
    chunks = population.chunks(so.chunk_size or 2000)
    executor = so.executor or _EXECUTOR.get()
    show = want_progress(so.progress) and len(chunks) > 1
    window = _window(executor)
    regimens = (regimen,)

    def run(chunk: Population) -> Any:
        g = np.zeros(len(chunk), dtype=np.int64)
        if executor is None:
            return _run_chunk(chunk, regimens, g, opts)
        return executor.submit(_run_chunk, chunk, regimens, g, opts)

    pending: collections.deque[Any] = collections.deque()
    todo = iter(chunks)
    for chunk in progress_iter(chunks, show, "simulating chunks"):
        del chunk  # the bar counts chunks as they are yielded
        while len(pending) < window and (nxt := next(todo, None)) is not None:
            pending.append(run(nxt))
        head = pending.popleft()
        result = head if executor is None else head.result()
        g = np.zeros(len(result.ids), dtype=np.int64)
        yield _combine([result], regimens, g, opts)[0]


def _window(executor: Executor | None) -> int:
    """Chunks in flight for :func:`simulate_chunks`: twice the executor's workers."""
    if executor is None:
        return 1
    workers = getattr(executor, "_max_workers", None)
    client = getattr(executor, "_client", None)  # dask.distributed's ClientExecutor
    if workers is None and client is not None:
        workers = sum(client.nthreads().values())
    return 2 * max(int(workers or 2), 1)


def simulate_many(
    jobs: Sequence[tuple[Population, Regimen]],
    days: float | Sequence[float],
    *,
    times: ArrayLike | None = None,
    observables: Sequence[str] | None = None,
    options: SolverOptions | None = None,
    **solver: Any,
) -> list[SimulationResult]:
    """Simulate several (population, regimen) pairs in one solve.

    Equivalent to ``[simulate(pop, reg, days, ...) for pop, reg in jobs]`` (the engine's step
    control is per patient, so the results are the same), but the patients of all jobs share
    one integration loop, which saves the per-step overhead when each job is small (e.g. the
    arms of trials during calibration).

    Parameters
    ----------
    jobs : sequence of (Population, Regimen)
        The populations must share one parameter set.
    days : float or sequence of float
        Days to simulate, for every job or one value per job (then each job is simulated to
        its own day, exactly as ``simulate(pop, reg, days[j], ...)``, and its result ends
        there; jobs with the same days share one integration loop).
    times : array_like, optional
        Output times, days, as for :func:`simulate`; with one `days` per job, each job keeps
        the `times` within its own days.
    observables : sequence of str, optional
        As for :func:`simulate`.
    options : SolverOptions, optional
        As for :func:`simulate`; `chunk_size` counts patients over the jobs that share a loop.
    **solver
        As for :func:`simulate`.

    Returns
    -------
    list of SimulationResult
        One per job, in order.
    """
    if not isinstance(jobs, tuple | list) or not jobs:
        raise OptionError("`jobs` must be a non-empty sequence of (population, regimen) pairs")
    for j, job in enumerate(jobs):
        if not (isinstance(job, tuple | list) and len(job) == 2):
            raise OptionError(f"`jobs[{j}]` must be a (population, regimen) pair")
        _check_job(job[0], job[1], f"`jobs[{j}]`: ")
    params = jobs[0][0].params
    for j, (pop, _) in enumerate(jobs):
        if pop.params != params:
            raise PopulationError(
                f"`jobs[{j}]`: every population must use the same parameter set as `jobs[0]`"
            )
    if not isinstance(days, numbers.Real) and not (isinstance(days, np.ndarray) and days.ndim == 0):
        return _simulate_many_until(jobs, days, times, observables, options, solver)
    so = SolverOptions.build(options, solver)
    opts = _options(days, times, observables, so, tuple(params.model.observable_labels))
    z = {k: np.concatenate([pop.z[k] for pop, _ in jobs]) for k in jobs[0][0].z}
    ids = np.concatenate([pop.ids for pop, _ in jobs if pop.ids is not None])
    group = np.concatenate(
        [np.full(len(pop), j, dtype=np.int64) for j, (pop, _) in enumerate(jobs)]
    )
    names = sorted({k for pop, _ in jobs if pop.overrides for k in pop.overrides})
    over = {
        k: np.concatenate(
            [
                pop.overrides[k] if pop.overrides and k in pop.overrides
                else np.full(len(pop), params[k])
                for pop, _ in jobs
            ]
        )
        for k in names
    }  # fmt: skip
    merged = Population(params, z, ids, over)
    regimens = tuple(reg for _, reg in jobs)
    _check_output_memory(len(merged), opts)
    return _run_groups(merged, regimens, group, opts, so)


def _simulate_many_until(
    jobs: Sequence[tuple[Population, Regimen]],
    days: Any,
    times: ArrayLike | None,
    observables: Sequence[str] | None,
    options: SolverOptions | None,
    solver: dict[str, Any],
) -> list[SimulationResult]:
    """:func:`simulate_many` with one `days` per job: the jobs of each distinct `days` in one
    call of their own (a job's end is a step boundary of its patients only)."""
    if isinstance(days, str | bytes) or not isinstance(days, Iterable):
        raise OptionError(f"`days` must be a number or one number per job, got {days!r:.60}")
    values = list(days)
    if len(values) != len(jobs):
        raise OptionError(
            f"`days` has {len(values)} values for {len(jobs)} jobs: give one per job or one for all"
        )
    values = [check_positive(d, f"days[{j}]") for j, d in enumerate(values)]
    grid = None
    if times is not None:  # checked once, against the longest job
        so = SolverOptions.build(options, solver)
        labels = tuple(jobs[0][0].params.model.observable_labels)
        grid = _options(max(values), times, observables, so, labels).times
    by_days: dict[float, list[int]] = {}
    for j, d in enumerate(values):
        by_days.setdefault(d, []).append(j)
    out: dict[int, SimulationResult] = {}
    for d, idx in by_days.items():
        sub = None
        if grid is not None:
            sub = grid[grid <= d + TIME_TOL]
            if sub.size == 0:
                raise OptionError(
                    f"no output time within the {d:g} days of jobs {idx}: the first of "
                    f"`times` is day {grid[0]:g}"
                )
        results = simulate_many(
            [jobs[j] for j in idx], d, times=sub, observables=observables, options=options,
            **solver,
        )  # fmt: skip
        out.update(zip(idx, results, strict=True))
    return [out[j] for j in range(len(jobs))]


def _check_job(population: Any, regimen: Any, where: str) -> None:
    if not isinstance(population, Population):
        raise PopulationError(
            f"{where}`population` must be a pdmodel Population, got {type(population).__name__}"
        )
    if not isinstance(regimen, Regimen):
        raise OptionError(
            f"{where}`regimen` must be a pdmodel Regimen, got {type(regimen).__name__}"
        )


#: Longest simulation whose default output is every day (``times`` not given), days.
MAX_DEFAULT_DAYS = 1_000_000


def _options(
    days: Any,
    times: ArrayLike | None,
    observables: Sequence[str] | None,
    so: SolverOptions,
    available: Sequence[str],
) -> _Options:
    days_f = check_positive(days, "days")
    if times is None:
        if days_f > MAX_DEFAULT_DAYS:
            raise OptionError(
                f"`days` = {days_f:g} would record every day ({MAX_DEFAULT_DAYS:,} at most); "
                "pass the output `times` you need"
            )
        grid = np.arange(0.0, math.floor(days_f + TIME_TOL) + 1.0)
    else:
        try:
            grid = np.asarray(times, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise OptionError(f"`times` must be an array of days, got {times!r}") from None
        if grid.size == 0 or not np.all(np.isfinite(grid)):
            raise OptionError("`times` must be a non-empty array of finite days")
        if np.any(np.diff(grid) <= 0):
            raise OptionError("`times` must be strictly increasing")
        if grid[0] < 0 or grid[-1] > days_f + TIME_TOL:
            raise OptionError(f"`times` must lie within [0, days] = [0, {days_f:g}]")
    if observables is None:
        names = tuple(available)
    elif isinstance(observables, str):
        names = (observables,)  # one name
    else:
        try:
            names = tuple(observables)
        except TypeError:
            raise OptionError(
                f"`observables` must be a sequence of names, got {observables!r}"
            ) from None
    for name in names:
        if not isinstance(name, str) or name not in available:
            raise OptionError(f"unknown observable `{name}`; available: {', '.join(available)}")
    return _Options(so.method, so.rtol, so.atol, so.max_steps, names, grid, days_f)


def _run_groups(
    population: Population,
    regimens: tuple[Regimen, ...],
    group: NDArray[np.int64],
    opts: _Options,
    so: SolverOptions,
) -> list[SimulationResult]:
    chunk_size, executor, progress = so.chunk_size, so.executor or _EXECUTOR.get(), so.progress
    if chunk_size is None:
        chunk_size = len(population) if executor is None else 2000
    chunks = population.chunks(chunk_size)
    bounds = np.cumsum([0] + [len(c) for c in chunks])
    groups = [group[bounds[i] : bounds[i + 1]] for i in range(len(chunks))]
    show = want_progress(progress) and len(chunks) > 1
    results: list[_ChunkResult] = []
    if executor is None:
        for chunk, g in progress_iter(
            list(zip(chunks, groups, strict=True)), show, "simulating chunks"
        ):
            results.append(_run_chunk(chunk, regimens, g, opts))
    else:
        futures = [
            executor.submit(_run_chunk, chunk, regimens, g, opts)
            for chunk, g in zip(chunks, groups, strict=True)
        ]
        for fut in progress_iter(futures, show, "simulating chunks"):
            results.append(fut.result())
    return _combine(results, regimens, group, opts)


def _combine(
    results: list[_ChunkResult],
    regimens: tuple[Regimen, ...],
    group: NDArray[np.int64],
    opts: _Options,
) -> list[SimulationResult]:
    obs = {
        name: np.concatenate([r.observables[name] for r in results], axis=1)
        for name in opts.observables
    }
    ids = np.concatenate([r.ids for r in results])
    n_steps = np.concatenate([r.stats.n_steps for r in results])
    n_rejected = np.concatenate([r.stats.n_rejected for r in results])
    n_rhs = np.concatenate([r.stats.n_rhs for r in results])
    amounts = [
        np.concatenate([r.amounts[ci] for r in results]) for ci in range(len(results[0].amounts))
    ]
    given = [
        np.concatenate([r.given[ci] for r in results], axis=1)
        for ci in range(len(results[0].given))
    ]
    out: list[SimulationResult] = []
    ci = 0
    for gi, regimen in enumerate(regimens):
        sel = group == gi
        records = []
        for c in regimen.courses:
            records.append(
                CourseRecord(
                    label=c.label,
                    drug=c.drug,
                    route=c.route,
                    times=results[0].times[ci],
                    amount=amounts[ci][sel],
                    given=given[ci][:, sel],
                )
            )
            ci += 1
        share = float(sel.mean()) if sel.size else 0.0
        diag = SolverDiagnostics(
            method=opts.method,
            rtol=opts.rtol,
            atol=opts.atol,
            n_steps=n_steps[sel],
            n_rejected=n_rejected[sel],
            n_rhs=int(n_rhs[sel].sum()),
            n_segments=max(r.n_segments for r in results),
            wall_time=sum(r.wall_time for r in results) * share,
        )
        out.append(
            SimulationResult(
                times=opts.times.copy(),
                observables={k: v[:, sel] for k, v in obs.items()},
                patient_ids=ids[sel],
                courses=tuple(records),
                diagnostics=diag,
                regimen=regimen,
            )
        )
    return out
