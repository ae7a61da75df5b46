"""Dose-scenario files (TOML) for ``pdmodel simulate``.

A scenario file::

    [scenario]
    title = "Prednisone 1 mg/kg/day + rhIL-11 50 ug/kg/day with a stop rule"
    days = 90                       # simulated days
    step = 1.0                      # output every `step` days (or `times = [...]`)
    observables = ["platelets", "cd4cd25_pct"]   # optional; default: see DEFAULT_OBSERVABLES
    endpoints = true                # optional: also write IWG endpoints (<out>-endpoints.csv)

    [population]                    # a virtual population ...
    n = 500
    seed = 1
    sampling = "random"             # optional: "random" (default) or "sobol" (quasi-random)

    # [patient]                     # ... or one patient (individual values, see Population.patient)
    # weight = 70.0

    [[regimen]]                     # regimen builders, as in trial files
    builder = "prednisone"
    mg_per_kg = 1.0
    days = 28
    taper_days = 28

Every problem is reported with the file name and the key.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._toml import read_toml
from .checks import check_keys
from .endpoints import ENDPOINTS, EndpointConfig, patient_endpoints, summarise
from .errors import PDModelError, ScenarioError, TrialError
from .model import OBSERVABLES
from .parameters import ParameterSet, default_parameters
from .population import Population
from .regimens import Regimen
from .trials import regimen_from_entries

__all__ = [
    "DEFAULT_OBSERVABLES",
    "SUMMARY_ENDPOINTS",
    "Scenario",
    "ScenarioError",
    "endpoint_summary",
    "load_scenario",
    "parse_vary",
    "scenario_from_dict",
    "sweep",
]

#: Observables written when a scenario does not list any.
DEFAULT_OBSERVABLES: tuple[str, ...] = (
    "platelets",
    "antibody",
    "paigg",
    "ab_positive",
    "cd4cd25_pct",
    "treg_pct",
    "conc_prednisolone",
    "conc_dexamethasone",
    "conc_il11",
)


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario: regimen, population or patient, duration and outputs.

    Parameters
    ----------
    title : str
        One line.
    days : float
        Simulated duration, days.
    times : tuple of float
        Output times, days.
    observables : tuple of str
        Observables recorded.
    endpoints : bool
        Whether the IWG endpoints are summarised (:func:`endpoint_summary`).
    regimen : Regimen
        Treatment.
    n : int
        Virtual patients (population scenarios).
    seed : int
        Seed of the population.
    patient : mapping of str to float
        A single patient's parameter values (empty for a population).
    origin : str
        File the scenario was read from.
    sha256 : str
        Hash of that file's bytes (provenance).
    sampling : {"random", "sobol"}
        How the population is drawn (:meth:`pdmodel.Population.sample`).
    """

    title: str
    days: float
    times: tuple[float, ...]
    observables: tuple[str, ...]
    endpoints: bool
    regimen: Regimen
    n: int
    seed: int
    patient: Mapping[str, float]
    origin: str
    sha256: str
    sampling: str = "random"

    def population(self, params: ParameterSet) -> Population:
        """The scenario's patients under `params`.

        Parameters
        ----------
        params : ParameterSet
            Parameter set.

        Returns
        -------
        Population
            The population, or the one patient.
        """
        if self.patient:
            try:
                return Population.patient(params, **self.patient)
            except PDModelError as exc:
                raise ScenarioError(f"{self.origin}: `patient`: {exc}") from None
        return Population.sample(self.n, params, seed=self.seed, sampling=self.sampling)


#: Most output times a scenario may ask for (``days / step``).
MAX_OUTPUT_TIMES = 1_000_000


def _err(origin: str, key: str, problem: str) -> ScenarioError:
    return ScenarioError(f"{origin}: `{key}`: {problem}")


def _number(origin: str, key: str, value: Any, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise _err(origin, key, f"expected a finite number, got {value!r}")
    if positive and value <= 0:
        raise _err(origin, key, f"must be positive, got {value!r}")
    return float(value)


def _integer(origin: str, key: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _err(origin, key, f"expected a whole number >= {low}, got {value!r}")
    return value


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path : str or Path
        A scenario file (TOML).

    Returns
    -------
    Scenario
        The scenario, validated.

    Raises
    ------
    ScenarioError
        Unreadable or malformed file, unknown key, wrong type, invalid regimen (negative dose,
        unknown drug, ...), missing section.
    """
    src = Path(path)
    data, raw = read_toml(src, ScenarioError, "scenario")
    return scenario_from_dict(data, str(src), hashlib.sha256(raw).hexdigest(), src.stem)


def scenario_from_dict(
    data: Mapping[str, Any], origin: str = "<scenario>", sha256: str = "", name: str = "scenario"
) -> Scenario:
    """Validate a scenario given as plain data (the parsed TOML); see :func:`load_scenario`.

    Parameters
    ----------
    data : mapping
        The scenario file's tables.
    origin : str
        Where the data come from, for messages.
    sha256 : str
        Hash of the file's bytes (provenance).
    name : str
        Default title.

    Returns
    -------
    Scenario
        The scenario, validated.
    """
    allowed = {"scenario", "population", "patient", "regimen"}
    for key in data:
        if key not in allowed:
            raise _err(origin, key, f"unknown section; allowed: {', '.join(sorted(allowed))}")
    if "scenario" not in data:
        raise _err(origin, "scenario", "missing section")
    sc = data["scenario"]
    if not isinstance(sc, Mapping):
        raise _err(origin, "scenario", "expected a table")
    sc_allowed = {"title", "days", "step", "times", "observables", "endpoints"}
    check_keys(sc, sc_allowed, lambda key, problem: _err(origin, f"scenario.{key}", problem))
    if "days" not in sc:
        raise _err(origin, "scenario.days", "missing")
    days = _number(origin, "scenario.days", sc["days"])
    if "times" in sc and "step" in sc:
        raise _err(origin, "scenario.times", "give either `times` or `step`, not both")
    if "times" in sc:
        if not isinstance(sc["times"], list) or not sc["times"]:
            raise _err(origin, "scenario.times", "expected a non-empty list of days")
        times = [_number(origin, "scenario.times", t, positive=False) for t in sc["times"]]
        if any(b <= a for a, b in itertools.pairwise(times)) or times[0] < 0 or times[-1] > days:
            raise _err(
                origin, "scenario.times", f"must increase strictly within [0, days = {days:g}]"
            )
    else:
        step = _number(origin, "scenario.step", sc.get("step", 1.0))
        if days / step > MAX_OUTPUT_TIMES:
            raise _err(
                origin,
                "scenario.step",
                f"days / step = {days / step:.3g} output times (at most {MAX_OUTPUT_TIMES:,}); "
                "use a larger step or fewer days",
            )
        times = list(np.arange(0.0, days + 1e-9, step))
    obs = sc.get("observables", list(DEFAULT_OBSERVABLES))
    if not isinstance(obs, list) or not obs:
        raise _err(origin, "scenario.observables", "expected a non-empty list of names")
    for name in obs:
        if not isinstance(name, str) or name not in OBSERVABLES:
            raise _err(
                origin,
                "scenario.observables",
                f"unknown observable {name!r}; available: {', '.join(OBSERVABLES)}",
            )
    endpoints = sc.get("endpoints", False)
    if not isinstance(endpoints, bool):
        raise _err(origin, "scenario.endpoints", f"expected true or false, got {endpoints!r}")
    if endpoints and days < 1:
        raise _err(origin, "scenario.days", f"endpoints are scored on daily counts: give at "
                   f"least 1 day, got {days:g} (or endpoints = false)")  # fmt: skip
    title = sc.get("title", name)
    if not isinstance(title, str):
        raise _err(origin, "scenario.title", "expected a string")

    has_pop, has_patient = "population" in data, "patient" in data
    if has_pop == has_patient:
        raise _err(
            origin, "population", "give exactly one of a [population] and a [patient] section"
        )
    n, seed, patient, sampling = 1, 0, {}, "random"
    section = "population" if has_pop else "patient"
    if not isinstance(data[section], Mapping):
        raise _err(origin, section, f"expected a table ([{section}]), got {data[section]!r}")
    if has_pop:
        pop = data["population"]
        check_keys(
            pop, ("n", "seed", "sampling"),
            lambda key, problem: _err(origin, f"population.{key}", problem),
        )  # fmt: skip
        n = _integer(origin, "population.n", pop.get("n"), 1)
        seed = _integer(origin, "population.seed", pop.get("seed", 1), 0)
        sampling = pop.get("sampling", "random")
        if sampling not in ("random", "sobol"):
            raise _err(origin, "population.sampling", f"use random or sobol, got {sampling!r}")
    else:
        if not isinstance(data["patient"], Mapping):
            raise _err(origin, "patient", "expected a table of individual values")
        patient = dict(data["patient"])
        for key, value in patient.items():
            _number(origin, f"patient.{key}", value, positive=False)
        try:  # names and values checked now, not when the scenario is run
            Population.patient(default_parameters(), **patient)
        except PDModelError as exc:
            raise _err(origin, "patient", str(exc)) from None
    if "regimen" not in data:
        raise _err(origin, "regimen", "missing section: add [[regimen]] tables")
    try:
        regimen = regimen_from_entries(data["regimen"], origin=origin)
    except TrialError as exc:
        raise ScenarioError(str(exc)) from None
    return Scenario(
        title=title,
        days=days,
        times=tuple(float(t) for t in times),
        observables=tuple(obs),
        endpoints=endpoints,
        regimen=regimen,
        n=n,
        seed=seed,
        patient=patient,
        origin=origin,
        sampling=sampling,
        sha256=sha256,
    )


def _set_key(data: dict[str, Any], key: str, value: Any, origin: str) -> tuple[str, Any]:
    """Apply one ``--vary`` assignment to scenario data; returns a parameter change if any."""
    if key.startswith("param."):
        return key[len("param.") :], value
    head, _, field = key.partition(".")
    if not field:
        raise _err(origin, key, "use section.key, builder.argument or param.name")
    if head in ("scenario", "population", "patient"):
        data.setdefault(head, {})[field] = value
        return "", None
    entries = data.get("regimen", [])
    index = None
    if head.startswith("regimen[") and head.endswith("]"):
        try:
            index = int(head[len("regimen[") : -1])
        except ValueError:
            raise _err(origin, key, "regimen index must be a whole number") from None
    else:
        matches = [i for i, e in enumerate(entries) if e.get("builder") == head]
        if not matches:
            raise _err(origin, key, f"no [[regimen]] entry with builder `{head}`")
        index = matches[0]
    if not 0 <= index < len(entries):
        raise _err(origin, key, f"regimen index {index} out of range (0..{len(entries) - 1})")
    entries[index][field] = value
    return "", None


def _parse_value(text: str) -> Any:
    text = text.strip()
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text in ("true", "false"):
        return text == "true"
    return text


def parse_vary(spec: str) -> tuple[str, list[Any]]:
    """Parse ``KEY=V1,V2,...`` into the key and its values.

    Parameters
    ----------
    spec : str
        ``KEY=V1,V2,...`` (the ``--vary`` option of ``pdmodel scenario``).

    Returns
    -------
    key : str
        The scenario key.
    values : list
        The values: int, float or bool where they parse as one, else str.
    """
    key, sep, values = spec.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ScenarioError(f"--vary `{spec}`: expected KEY=V1,V2,...")
    items = [v for v in values.split(",") if v.strip()]
    if not items:
        raise ScenarioError(f"--vary `{spec}`: no values after `=`; expected KEY=V1,V2,...")
    return key.strip(), [_parse_value(v) for v in items]


def _prepare(
    data: Mapping[str, Any], point: tuple[tuple[str, Any], ...], params: ParameterSet, origin: str
) -> tuple[Scenario, ParameterSet]:
    d = copy.deepcopy(dict(data))
    changes: dict[str, Any] = {}
    for key, value in point:
        name, v = _set_key(d, key, value, origin)
        if name:
            changes[name] = v
    try:
        p = params.replace(**changes) if changes else params
    except PDModelError as exc:
        raise ScenarioError(f"{origin}: --vary: {exc}") from None
    return scenario_from_dict(d, origin), p


#: Population endpoints of :func:`endpoint_summary` (sweeps, sensitivity analyses).
SUMMARY_ENDPOINTS = (
    "initial_response",
    "complete_response",
    "sustained_response",
    "recurrence_rate",
    "onset_time",
    "peak_platelets",
    "recovery_level",
    "treatment_course",
)


def _sweep_point(
    data: Mapping[str, Any],
    point: tuple[tuple[str, Any], ...],
    params: ParameterSet,
    origin: str,
) -> dict[str, Any]:
    from .solver import simulate

    sc, p = _prepare(data, point, params, origin)
    pop = sc.population(p)
    days = float(math.floor(sc.days))
    res = simulate(pop, sc.regimen, days, observables=["platelets"], progress=False)
    return {**dict(point), **endpoint_summary(res, days)}


def endpoint_summary(res: Any, days: float, window: float = 56.0) -> dict[str, float]:
    """IWG endpoints of a simulation with daily counts (response window `window` or `days`).

    Parameters
    ----------
    res : SimulationResult
        Simulation with platelets recorded at least daily from day 0 to `days`.
    days : float
        End of follow-up, days (whole days).
    window : float
        Response window: initial and complete response count by this day, days.

    Returns
    -------
    dict of str to float
        Population value of each :data:`SUMMARY_ENDPOINTS` entry (rates as fractions, times
        in days) and ``onset_time_median``.
    """
    days = float(math.floor(days))
    cfg = EndpointConfig(
        sampling=((0.0, days, 1.0),),
        followup=days,
        response_window=min(float(window), days),
        recovery_day=min(14.0, days),
        after_day=min(14.0, days),
    )
    pp = patient_endpoints(res["platelets"], res.times, cfg, res.treatment_days())
    row: dict[str, float] = {}
    for name in SUMMARY_ENDPOINTS:
        s = summarise(pp[name], ENDPOINTS[name][0])
        row[name] = s.value
        if name == "onset_time":
            row["onset_time_median"] = s.median
    return row


def sweep(
    scenario: str | Path,
    vary: Mapping[str, list[Any]],
    params: ParameterSet,
    n: int | None = None,
    seed: int | None = None,
    executor: Any = None,
) -> Any:
    """Run a scenario over the grid of `vary` values and summarise endpoints per grid point.

    Parameters
    ----------
    scenario : path
        Scenario file.
    vary : mapping of str to list
        Keys (``builder.argument`` of the first regimen entry with that builder,
        ``regimen[i].argument``, ``scenario.days``, ``population.n``, ``param.<name>``) and
        their values; the grid is their Cartesian product.
    params : ParameterSet
        Base parameters.
    n, seed : int, optional
        Override the population size and seed.
    executor : concurrent.futures.Executor, optional
        Runs grid points in parallel; the same virtual patients are used at every point.

    Returns
    -------
    pandas.DataFrame
        One row per grid point: the varied values and IWG endpoints (daily counts, response
        window 56 days or the scenario length, follow-up to the end of the scenario).
    """
    import pandas as pd

    base = load_scenario(scenario)
    origin = base.origin
    data, _ = read_toml(Path(scenario), ScenarioError, "scenario")
    if n is not None:
        data.setdefault("population", {})["n"] = n
    if seed is not None:
        data.setdefault("population", {})["seed"] = seed
    if not vary:
        raise ScenarioError("give at least one --vary KEY=V1,V2,...")
    keys = list(vary)
    grid = [tuple(zip(keys, combo, strict=True)) for combo in itertools.product(*vary.values())]
    for point in grid:  # validate every point before running any
        _prepare(data, point, params, origin)
    if executor is None:
        rows = [_sweep_point(data, point, params, origin) for point in grid]
    else:
        futures = [executor.submit(_sweep_point, data, point, params, origin) for point in grid]
        rows = [f.result() for f in futures]
    return pd.DataFrame(rows)
