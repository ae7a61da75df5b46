"""NONMEM-style event tables: simulated populations out, dosing histories and cohorts in.

The event table is the interchange format of NONMEM, nlmixr2/rxode2, Monolix and mrgsolve: one
row per dose or observation, sorted by ``ID`` and ``TIME``.  pdmodel writes and reads

=======  ==============================================================================
column   meaning
=======  ==============================================================================
ID       patient identifier (whole number)
TIME     time since the first treatment day, **days**
EVID     1 = dose record, 0 = observation record
AMT      dose amount: **mg** for glucocorticoids, **ug** for rhIL-11 (absolute, after any
         per-kg scaling); 0 on observation records
CMT      compartment number (see :func:`compartments`): the package's dosing compartments
         (1-4, one per drug and route), one observation compartment per model observable
         (platelets 5), then the dosing compartments of drugs added by ``register_drug``
RATE     0 (bolus or absorption from a depot; infusions are not modelled)
DV       observed or simulated value of the observation compartment's observable (unit of
         the observable; platelets in 10^9/L); 0 on dose records
MDV      1 on dose records, 0 on observation records
ARM      arm or scenario label (text; drop it for NONMEM ``$INPUT`` if you prefer)
others   one column per random effect: individual values (``weight`` in kg, ``plt_base`` in
         10^9/L, ...) or, for effects without a typical value, ``z_<name>`` deviates; these
         are what :meth:`pdmodel.Population.from_frame` reads back
=======  ==============================================================================

Observation records are pre-dose at dose times (the dose record follows the observation at the
same time, the NONMEM convention for trough samples).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .drugs import BUILTIN_DRUGS, DRUG_TABLE
from .errors import DataError, OptionError
from .parameters import ParameterSet, parameters_or_default
from .population import Population
from .regimens import Course, Regimen

if TYPE_CHECKING:
    import pandas as pd

    from .model import Model
    from .solver import SimulationResult

__all__ = ["EventData", "cohort_frame", "compartments", "from_event_table", "to_event_table"]

#: Columns every event table must have (the others are optional).
REQUIRED_COLUMNS = ("ID", "TIME", "EVID", "AMT", "CMT")
#: Column order of a written event table (covariate columns follow).
EVENT_COLUMNS = ("ID", "TIME", "EVID", "AMT", "CMT", "RATE", "DV", "MDV", "ARM")


def compartments(model: Model | None = None) -> pd.DataFrame:
    """The CMT numbering of event tables.

    The package's dosing compartments come first and never move (prednisone oral 1,
    dexamethasone oral 2 and IV 3, rhIL-11 SC 4); then one observation compartment per
    observable of `model`, in its order (platelets 5); then the dosing compartments of drugs
    added with :func:`pdmodel.register_drug`.

    Parameters
    ----------
    model : Model, optional
        Model whose observables get observation compartments (default: the default model).

    Returns
    -------
    pandas.DataFrame
        Columns ``CMT``, ``kind`` (``dose`` or ``observation``), ``drug``, ``route``,
        ``observable`` and ``unit`` (AMT unit for doses, DV unit for observations).
    """
    import pandas as pd

    from .model import default_model

    model = model or default_model()
    rows: list[dict[str, Any]] = []

    def doses(names: Sequence[str]) -> None:
        for name in names:
            spec = DRUG_TABLE[name]
            for route in spec.routes:
                rows.append({"kind": "dose", "drug": name, "route": route, "observable": "",
                             "unit": spec.amount_unit})  # fmt: skip

    doses(BUILTIN_DRUGS)  # always CMT 1-4, whatever else is registered
    for obs, unit in model.observable_labels.items():
        rows.append({"kind": "observation", "drug": "", "route": "", "observable": obs,
                     "unit": unit})  # fmt: skip
    doses([name for name in DRUG_TABLE if name not in BUILTIN_DRUGS])
    table = pd.DataFrame(rows)
    table.insert(0, "CMT", np.arange(1, len(table) + 1))
    return table


def to_event_table(
    result: SimulationResult,
    population: Population | None = None,
    *,
    arm: str | Mapping[int, str] = "",
    observables: Sequence[str] = ("platelets",),
) -> pd.DataFrame:
    """A simulated population as a NONMEM-style event table.

    Dose records are the doses actually given (after every stop and give rule); observation
    records are the recorded times of each of `observables`.

    Parameters
    ----------
    result : SimulationResult
        Simulation of `population`.
    population : Population, optional
        The simulated patients: gives the covariate columns (without it, the table has
        none) and the CMT numbering of its model (default: the default model's).
    arm : str
        Value of the ``ARM`` column (e.g. the scenario title or the trial arm), or a mapping
        of patient ID to arm (patients it does not name get an empty label).
    observables : sequence of str
        Observables written as observation records (default: platelets, 10^9/L).

    Returns
    -------
    pandas.DataFrame
        Sorted by ``ID``, ``TIME``, observation before dose at equal times.
    """
    import pandas as pd

    if population is not None and not np.array_equal(
        np.asarray(population.ids), result.patient_ids
    ):
        raise OptionError("`population` is not the population of `result` (patient ids differ)")
    if isinstance(observables, str):
        observables = (observables,)
    cmt = compartments(population.params.model if population is not None else None)
    dose_cmt = {(r.drug, r.route): r.CMT for r in cmt.itertuples() if r.kind == "dose"}
    obs_cmt = {r.observable: r.CMT for r in cmt.itertuples() if r.kind == "observation"}
    parts = []
    ids = result.patient_ids
    nt = result.times.size
    for name in observables:
        values = result[name]
        if name not in obs_cmt:
            raise OptionError(f"observable `{name}` has no observation compartment")
        parts.append(pd.DataFrame({
            "ID": np.repeat(ids, nt), "TIME": np.tile(result.times, ids.size), "EVID": 0,
            "AMT": 0.0, "CMT": obs_cmt[name], "RATE": 0.0, "DV": values.T.reshape(-1), "MDV": 0,
        }))  # fmt: skip
    for c in result.courses:
        slot, patient = np.nonzero(c.given)
        if slot.size:
            parts.append(pd.DataFrame({
                "ID": ids[patient], "TIME": c.times[slot], "EVID": 1, "AMT": c.amount[patient],
                "CMT": dose_cmt[(c.drug, c.route)], "RATE": 0.0, "DV": 0.0, "MDV": 1,
            }))  # fmt: skip
    table = pd.concat(parts, ignore_index=True)
    table = table.sort_values(["ID", "TIME", "EVID", "CMT"], kind="stable", ignore_index=True)
    table["ARM"] = arm if isinstance(arm, str) else table["ID"].map(dict(arm)).fillna("")
    if population is None:
        return table
    cohort = cohort_frame(population)
    return table.merge(cohort, on="ID", how="left", validate="many_to_one")


def cohort_frame(population: Population) -> pd.DataFrame:
    """One row per patient: ``ID`` and every random effect.

    :meth:`Population.from_frame` reads it back exactly.

    Parameters
    ----------
    population : Population
        The patients.

    Returns
    -------
    pandas.DataFrame
        Individual values in table units, ``z_<name>`` for effects without a typical value.
    """
    import pandas as pd

    data: dict[str, Any] = {"ID": np.asarray(population.ids)}
    cov = population.covariates()
    for r in population.params.model.random_effects:
        data[r.name if r.typical else f"z_{r.name}"] = (
            cov[r.name] if r.typical else population.z[r.name]
        )
    return pd.DataFrame(data)


@dataclass(frozen=True)
class EventData:
    """What an event table holds: per-patient dosing histories, covariates and observations.

    Parameters
    ----------
    regimens : dict of int to Regimen
        Each patient's dosing history as a regimen of fixed doses (mg or ug, no rules).
    cohort : pandas.DataFrame
        One row per patient: ``ID`` and the covariate columns found in the table.
    observations : pandas.DataFrame
        Observation records: ``ID``, ``TIME`` (days), ``observable``, ``DV``.
    arms : dict of int to str
        Each patient's ``ARM`` label (empty if the table has no ``ARM`` column).
    """

    regimens: dict[int, Regimen]
    cohort: pd.DataFrame
    observations: pd.DataFrame
    arms: dict[int, str] = field(default_factory=dict)

    def population(
        self, params: ParameterSet | None = None, *, seed: int | None = None
    ) -> Population:
        """The patients of the table (see :meth:`pdmodel.Population.from_frame`).

        Parameters
        ----------
        params : ParameterSet, optional
            Parameter set (default: package defaults).
        seed : int, optional
            Seed for random effects the table does not give.

        Returns
        -------
        Population
            The table's patients, ids as in the table.
        """
        return Population.from_frame(self.cohort, params, seed=seed)

    def jobs(self, population: Population) -> list[tuple[Population, Regimen]]:
        """(patients, regimen) pairs for :func:`pdmodel.simulate_many`, one per distinct history.

        Parameters
        ----------
        population : Population
            The patients (ids as in the table), e.g. :meth:`population`.

        Returns
        -------
        list of (Population, Regimen)
            One pair per distinct dosing history, the patients who share it.
        """
        ids = np.asarray(population.ids)
        unknown = sorted(set(ids.tolist()) - set(self.regimens))
        if unknown:
            raise DataError(f"patients {unknown[:5]} have no records in the event table")
        groups: dict[str, list[int]] = {}
        keys: dict[str, Regimen] = {}
        for i, pid in enumerate(ids.tolist()):
            reg = self.regimens[pid]
            key = repr(reg.to_dict())
            groups.setdefault(key, []).append(i)
            keys[key] = reg
        return [(population[np.array(rows)], keys[k]) for k, rows in groups.items()]

    def simulate(
        self,
        population: Population,
        days: float,
        *,
        times: Any = None,
        observables: Sequence[str] | None = None,
        **solver: Any,
    ) -> SimulationResult:
        """Simulate every patient under their own dosing history (one engine call).

        Parameters
        ----------
        population : Population
            The patients (ids as in the table), e.g. :meth:`population`.
        days : float
            Simulated duration, days.
        times : array_like, optional
            Output times, days (default: every day).
        observables : sequence of str, optional
            Observables to record (default: all).
        **solver
            Solver options (see :class:`pdmodel.solver.SolverOptions`).

        Returns
        -------
        SimulationResult
            Patients in the order of `population`; ``courses`` holds every history's doses
            (a course record per history course, ``given`` False for the other patients) and
            ``regimen`` is empty, as no single regimen describes all patients.
        """
        import dataclasses

        from .solver import CourseRecord, simulate_many

        jobs = self.jobs(population)
        results = simulate_many(jobs, days, times=times, observables=observables, **solver)
        ids = np.asarray(population.ids)
        col = {pid: i for i, pid in enumerate(ids.tolist())}
        n = ids.size
        obs = {k: np.empty((results[0].times.size, n)) for k in results[0].observables}
        courses = []
        steps, rejected = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        for res in results:
            cols = np.array([col[p] for p in res.patient_ids.tolist()])
            for k, v in res.observables.items():
                obs[k][:, cols] = v
            for c in res.courses:
                given = np.zeros((c.times.size, n), dtype=bool)
                given[:, cols] = c.given
                amount = np.zeros(n)
                amount[cols] = c.amount
                courses.append(CourseRecord(c.label, c.drug, c.route, c.times, amount, given))
            steps[cols], rejected[cols] = res.diagnostics.n_steps, res.diagnostics.n_rejected
        d = [r.diagnostics for r in results]
        diag = dataclasses.replace(
            d[0], n_steps=steps, n_rejected=rejected, n_rhs=sum(x.n_rhs for x in d),
            n_segments=max(x.n_segments for x in d), wall_time=sum(x.wall_time for x in d),
        )  # fmt: skip
        return dataclasses.replace(
            results[0], observables=obs, patient_ids=ids.copy(), courses=tuple(courses),
            diagnostics=diag, regimen=Regimen(),
        )  # fmt: skip


def _bad(row: int, column: str, why: str) -> DataError:
    return DataError(f"event table row {row + 1}, column `{column}`: {why}")


def from_event_table(frame: pd.DataFrame, model: Model | None = None) -> EventData:
    """Read a NONMEM-style event table (see the module docstring for the columns and units).

    Parameters
    ----------
    frame : pandas.DataFrame
        The table (e.g. ``pandas.read_csv(path)``).
    model : Model, optional
        Model that defines the CMT numbering (default: the default model).

    Returns
    -------
    EventData
        Dosing histories, covariates and observations.

    Raises
    ------
    DataError
        For the usual faults, naming the row (1-based, first data row = 1) and column: a missing
        column or ID, non-numeric values, negative or unsorted TIME within a patient, unknown
        CMT, EVID other than 0 or 1, AMT on an observation row, a dose without a positive AMT,
        a dose into an observation compartment or an observation of a dosing compartment,
        and infusions (RATE != 0).
    """
    import pandas as pd

    from .model import default_model

    model = model or default_model()
    parameters_or_default(None)  # the drug table is loaded
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"event table has no column `{missing[0]}` (needs {REQUIRED_COLUMNS})")
    if len(frame) == 0:
        raise DataError("event table has no rows")
    df = frame.reset_index(drop=True)

    def numeric(col: str, default: float | None = None) -> np.ndarray:
        if col not in df.columns:
            return np.full(len(df), default, dtype=float)
        raw = df[col]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        if default is not None and col in ("RATE", "DV", "MDV"):
            values = np.where(raw.isna().to_numpy(), default, values)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            what = "missing" if pd.isna(raw.iloc[bad[0]]) else f"not a number: {raw.iloc[bad[0]]!r}"
            raise _bad(int(bad[0]), col, what)
        return values

    pid, time, evid, amt, cmt = (numeric(c) for c in REQUIRED_COLUMNS)
    rate = numeric("RATE", 0.0)
    dv = numeric("DV", 0.0)
    for col, v in (("ID", pid), ("EVID", evid), ("CMT", cmt)):
        frac = np.flatnonzero(v != np.round(v))
        if frac.size:
            raise _bad(int(frac[0]), col, f"must be a whole number, got {v[frac[0]]:g}")
    neg = np.flatnonzero(time < 0)
    if neg.size:
        raise _bad(int(neg[0]), "TIME", f"negative time {time[neg[0]]:g} (days since day 0)")
    same = pid[1:] == pid[:-1]
    back = np.flatnonzero(same & (time[1:] < time[:-1]))
    if back.size:
        i = int(back[0]) + 1
        raise _bad(i, "TIME", f"not sorted: {time[i]:g} after {time[i - 1]:g} for ID {pid[i]:g}")
    seen: set[float] = set()
    for i in np.flatnonzero(np.r_[True, ~same]).tolist():
        if pid[i] in seen:
            raise _bad(i, "ID", f"records of ID {pid[i]:g} are not contiguous (sort by ID, TIME)")
        seen.add(pid[i])
    other = np.flatnonzero((evid != 0) & (evid != 1))
    if other.size:
        raise _bad(int(other[0]), "EVID", f"{evid[other[0]]:g} is not supported (0 observation, "
                   "1 dose; reset events are not modelled)")  # fmt: skip
    table = compartments(model)
    kinds = dict(zip(table.CMT, table.kind, strict=True))
    unknown = np.flatnonzero([c not in kinds for c in cmt])
    if unknown.size:
        raise _bad(int(unknown[0]), "CMT", f"unknown compartment {cmt[unknown[0]]:g}; "
                   f"valid 1-{len(table)} (see pdmodel.events.compartments())")  # fmt: skip
    is_dose = evid == 1
    for i in range(len(df)):
        kind = kinds[int(cmt[i])]
        if is_dose[i]:
            if kind != "dose":
                raise _bad(i, "CMT", f"dose into observation compartment {cmt[i]:g}")
            if not amt[i] > 0:
                raise _bad(i, "AMT", f"a dose needs a positive amount, got {amt[i]:g}")
            if rate[i] != 0:
                raise _bad(i, "RATE", "infusions are not modelled; give RATE 0 (bolus)")
        else:
            if kind != "observation":
                raise _bad(i, "CMT", f"observation of dosing compartment {cmt[i]:g}")
            if amt[i] != 0:
                raise _bad(i, "AMT", f"an observation row has AMT {amt[i]:g}; it must be 0")
    drug_of = dict(zip(table.CMT, table.drug, strict=True))
    dose_key = pd.DataFrame({"ID": pid, "TIME": time,
                             "drug": [drug_of[int(c)] for c in cmt]})[is_dose]  # fmt: skip
    twice = dose_key.duplicated()
    if twice.any():
        i = int(dose_key.index[np.flatnonzero(twice.to_numpy())[0]])
        raise _bad(i, "AMT", f"a second {drug_of[int(cmt[i])]} dose at TIME {time[i]:g} for ID "
                   f"{pid[i]:g}; give one record with the summed amount")  # fmt: skip
    regimens: dict[int, Regimen] = {}
    by_cmt = table.set_index("CMT")
    for p in dict.fromkeys(pid.tolist()):
        rows = np.flatnonzero((pid == p) & is_dose)
        courses: list[Course] = []
        for c in sorted(set(cmt[rows].tolist())):
            sel = rows[cmt[rows] == c]
            spec = by_cmt.loc[int(c)]
            courses.extend(_runs(time[sel], amt[sel], str(spec.drug), str(spec.route),
                                 str(spec.unit)))  # fmt: skip
        regimens[int(p)] = Regimen(tuple(courses)) if courses else Regimen()
    covariates = [c for c in df.columns if c not in (*EVENT_COLUMNS, "DVID")]
    first = df.groupby(pid, sort=False).head(1)
    cohort = first[["ID", *covariates]].reset_index(drop=True)
    cohort["ID"] = cohort["ID"].astype(np.int64)
    for col in covariates:
        varies = df.groupby(pid, sort=False)[col].nunique(dropna=False) > 1
        if varies.any():
            who = varies.index[np.flatnonzero(varies.to_numpy())[0]]
            rows = np.flatnonzero(pid == who)
            vals = df[col].iloc[rows]
            i = int(rows[np.flatnonzero((vals != vals.iloc[0]).to_numpy())[0]])
            raise _bad(i, col, f"covariate changes within ID {who:g} (time-varying "
                       "covariates are not supported)")  # fmt: skip
    obs = ~is_dose
    names = table.set_index("CMT").observable
    observations = pd.DataFrame({"ID": pid[obs].astype(np.int64), "TIME": time[obs],
                                 "observable": names.loc[cmt[obs].astype(int)].to_numpy(),
                                 "DV": dv[obs]})  # fmt: skip
    arms: dict[int, str] = {}
    if "ARM" in df.columns:
        labels = df["ARM"].fillna("").astype(str)
        head = labels.groupby(pid, sort=False).transform("first")
        changed = np.flatnonzero((labels != head).to_numpy())
        if changed.size:
            i = int(changed[0])
            raise _bad(i, "ARM", f"patient {pid[i]:g} changes arm ({head.iloc[i]!r} to "
                       f"{labels.iloc[i]!r}); an ID belongs to one arm")  # fmt: skip
        arms = dict(zip(pid.astype(np.int64).tolist(), labels.tolist(), strict=True))
    return EventData(regimens, cohort, observations, arms)


def _runs(times: np.ndarray, amounts: np.ndarray, drug: str, route: str, unit: str) -> list[Course]:
    """Doses of one drug and route as the fewest courses (equal amounts at equal intervals)."""
    courses: list[Course] = []
    i, n = 0, times.size
    while i < n:
        j = i + 1
        if j < n and amounts[j] == amounts[i] and times[j] > times[i]:
            step = times[j] - times[i]
            while (
                j + 1 < n
                and amounts[j + 1] == amounts[i]
                and np.isclose(times[j + 1] - times[j], step, rtol=0, atol=1e-9)
            ):
                j += 1
            j += 1
            courses.append(Course(drug, float(amounts[i]), unit, start=float(times[i]),
                                  n_doses=j - i, interval=float(step), route=route,
                                  label=f"{drug} {route} d{times[i]:g}"))  # fmt: skip
        else:
            courses.append(Course(drug, float(amounts[i]), unit, start=float(times[i]),
                                  route=route, label=f"{drug} {route} d{times[i]:g}"))  # fmt: skip
        i = j
    return courses
