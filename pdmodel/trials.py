"""Trial designs and findings (files with provenance) and the simulated clinical trial.

A trial file (TOML; the shipped ones are package data, see :func:`available`) holds

* ``id``, ``title``, ``citation``;
* ``[entry]`` criteria (``plt_max``: untreated platelets below this, 10^9/L);
* ``[endpoints]``: an :class:`pdmodel.endpoints.EndpointConfig` (sampling schedule, windows,
  grading, ...);
* ``[[assumption]]`` tables (``key``, ``value``, ``reason``) for everything the source does not
  state;
* ``[[arm]]`` tables (``name``, ``n``, ``description``, and ``[[arm.regimen]]`` entries naming a
  regimen ``builder`` of :mod:`pdmodel.regimens` with its arguments, or ``builder = "course"``
  with the fields of a :class:`pdmodel.regimens.Course`);
* ``[[finding]]`` tables, one published result each (design decision D7):

  ============  =====================================================================
  type          fields
  ============  =====================================================================
  proportion    ``arm``, ``endpoint``, ``n`` and ``k`` or ``rate``
  mean          ``arm``, ``endpoint``, ``n``, ``mean``, ``sd``
  median        ``arm``, ``endpoint``, ``n``, ``median``, optional ``low``, ``high``
  comparison    ``arms = [a, b]``, ``endpoint``, ``direction`` (a ``greater``/``less``/
                ``different`` than b), ``test``, ``alpha``, ``significant``, optional ``p``
  change        ``arm``, ``endpoint`` (a ``*_change`` endpoint), ``direction`` (``greater``
                or ``less`` than zero), ``test = "paired_t"``, ``alpha``, ``significant``,
                optional ``p``
  ============  =====================================================================

  ``p`` is the published two-sided P value of the finding's test, when the source gives one
  (``significant`` may then be left out: it is ``p < alpha``, and must agree if given); the
  calibration then fits to it (:func:`p_value_term`) instead of to the verdict alone.  A key of
  another finding type is an error, not ignored.

  Every finding has a ``source``.

:func:`simulate_trial` enrols a virtual population meeting the entry criteria, simulates every
arm on the same virtual patients, scores them with the trial's endpoint definitions and says, for
each finding, whether the model reproduces it and how likely a replicate trial of the published
size is to reproduce it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats as _st
from scipy.special import ndtri

from . import regimens as _reg
from . import stats
from ._toml import parse_toml, read_toml
from .endpoints import (
    ENDPOINTS,
    ArmSummary,
    EndpointConfig,
    patient_endpoints,
    smooth_patient_endpoints,
    summarise,
    summarise_smooth,
)
from .errors import PDModelError, check_whole
from .parameters import ParameterSet, parameters_or_default
from .population import Population, sobol_points
from .regimens import Regimen
from .solver import SimulationResult, simulate_many

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Arm",
    "Finding",
    "FindingResult",
    "Trial",
    "TrialError",
    "TrialResult",
    "available",
    "enrol",
    "evaluate_finding",
    "load",
    "p_value_term",
    "regimen_from_entries",
    "simulate_trial",
    "simulate_trials",
]

_FINDING_TYPES = ("proportion", "mean", "median", "comparison", "change")
_COMMON_KEYS = {"type", "endpoint", "source", "note"}
_FINDING_KEYS: dict[str, set[str]] = {
    "proportion": {"arm", "n", "k", "rate"},
    "mean": {"arm", "n", "mean", "sd"},
    "median": {"arm", "n", "median", "low", "high"},
    "comparison": {"arms", "direction", "test", "alpha", "significant", "p"},
    "change": {"arm", "direction", "test", "alpha", "significant", "p"},
}
_DIRECTIONS = ("greater", "less", "different")
#: Possible patient counts of a replicate arm and their probabilities (:func:`replicate_sizes`).
_Sizes = tuple[np.ndarray, np.ndarray]
_DEFAULT_TEST = {"proportion": "chi2", "continuous": "welch", "ordinal": "mannwhitney"}


class TrialError(PDModelError, ValueError):
    """A trial file or trial specification is invalid; the message names file, key and problem."""


# ---------------------------------------------------------------------------------------------
# specification


@dataclass(frozen=True)
class Arm:
    """One arm of a trial.

    Parameters
    ----------
    name : str
        Arm name used by findings.
    n : int
        Published number of patients.
    regimen : Regimen
        Treatment.
    description : str
        What the source says the arm received.
    spec : tuple of dict
        The regimen entries of the trial file (kept for round trips).
    """

    name: str
    n: int
    regimen: Regimen
    description: str = ""
    spec: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Finding:
    """One published result (see the module docstring for the fields of each type)."""

    type: str
    endpoint: str
    source: str
    arm: str = ""
    arms: tuple[str, ...] = ()
    n: int = 0
    k: int | None = None
    rate: float | None = None
    mean: float | None = None
    sd: float | None = None
    median: float | None = None
    low: float | None = None
    high: float | None = None
    direction: str = ""
    test: str = ""
    alpha: float = 0.05
    significant: bool | None = None
    p: float | None = None
    note: str = ""

    @property
    def value(self) -> float | None:
        """The published number (rate, mean or median), if any."""
        if self.type == "proportion":
            return self.rate if self.rate is not None else (self.k or 0) / self.n
        if self.type == "mean":
            return self.mean
        if self.type == "median":
            return self.median
        return None

    def describe(self) -> str:
        """Human-readable statement of the finding."""
        if self.type == "comparison":
            rel = {"greater": ">", "less": "<", "different": "!="}[self.direction]
            a, b = self.arms
            return f"{self.endpoint}: {a} {rel} {b}, {self._verdict()}"
        if self.type == "change":
            rel = {"greater": "rises", "less": "falls", "different": "changes"}[self.direction]
            return f"{self.endpoint} in {self.arm}: {rel}, {self._verdict()}"
        if self.type == "proportion":
            return f"{self.endpoint} in {self.arm}: {self.value:.3g} (n = {self.n})"
        if self.type == "mean":
            return f"{self.endpoint} in {self.arm}: {self.mean:g} +/- {self.sd:g} (n = {self.n})"
        return f"{self.endpoint} in {self.arm}: median {self.median:g} (n = {self.n})"

    def _verdict(self) -> str:
        if self.p is not None:
            return f"P = {self.p:g}"
        return f"P < {self.alpha:g}" if self.significant else f"P > {self.alpha:g}"

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (only the fields that are set)."""
        out: dict[str, Any] = {"type": self.type, "endpoint": self.endpoint}
        for f in (
            "arm", "arms", "n", "k", "rate", "mean", "sd", "median", "low", "high",
            "direction", "test", "alpha", "significant", "p", "source", "note",
        ):  # fmt: skip
            v = getattr(self, f)
            if v is None or v == "" or v == () or (f == "n" and v == 0):
                continue
            if f == "alpha" and self.type not in ("comparison", "change"):
                continue
            out[f] = list(v) if isinstance(v, tuple) else v
        return out


@dataclass(frozen=True)
class Trial:
    """A trial design with its published findings.

    Attributes
    ----------
    id, title, citation : str
        Identification and the original publication.
    plt_max : float
        Entry criterion: untreated platelets below this value, 10^9/L.
    endpoints : EndpointConfig
        Endpoint definitions.
    arms : tuple of Arm
        Arms.
    findings : tuple of Finding
        Published findings.
    assumptions : tuple of dict
        Documented assumptions (key, value, reason).
    origin : str
        File the trial was read from.
    sha256 : str
        Hash of that file's bytes (provenance).
    """

    id: str
    title: str
    citation: str
    plt_max: float
    endpoints: EndpointConfig
    arms: tuple[Arm, ...]
    findings: tuple[Finding, ...]
    assumptions: tuple[Mapping[str, Any], ...] = ()
    entry_source: str = ""
    origin: str = field(default="", compare=False)
    sha256: str = field(default="", compare=False)

    def arm(self, name: str) -> Arm:
        """The arm called `name`."""
        for a in self.arms:
            if a.name == name:
                return a
        raise TrialError(
            f"trial `{self.id}` has no arm `{name}`; arms: {[a.name for a in self.arms]}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, the inverse of :meth:`from_dict` (and the TOML layout)."""
        return {
            "id": self.id,
            "title": self.title,
            "citation": self.citation,
            "entry": {"plt_max": self.plt_max, "source": self.entry_source},
            "endpoints": self.endpoints.to_dict(),
            "assumption": [dict(a) for a in self.assumptions],
            "arm": [
                {
                    "name": a.name,
                    "n": a.n,
                    "description": a.description,
                    "regimen": [dict(s) for s in a.spec],
                }
                for a in self.arms
            ],
            "finding": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "<dict>", sha256: str = "") -> Trial:
        """Build and validate a trial from plain data (as read from a trial file)."""
        return _parse(data, origin, sha256)


# ---------------------------------------------------------------------------------------------
# parsing and validation


class _Where:
    def __init__(self, origin: str) -> None:
        self.origin = origin

    def error(self, key: str, problem: str) -> TrialError:
        return TrialError(f"{self.origin}: `{key}`: {problem}")


def _need(
    d: Mapping[str, Any], key: str, where: _Where, ctx: str, kind: type | tuple[type, ...]
) -> Any:
    if key not in d:
        raise where.error(f"{ctx}{key}", "missing")
    v = d[key]
    if isinstance(v, bool) and kind is not bool:
        raise where.error(f"{ctx}{key}", f"expected {_kind_name(kind)}, got {v!r}")
    if not isinstance(v, kind):
        raise where.error(f"{ctx}{key}", f"expected {_kind_name(kind)}, got {v!r}")
    return v


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _check_keys(d: Mapping[str, Any], allowed: set[str], where: _Where, ctx: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise where.error(
            f"{ctx}{unknown[0]}", f"unknown key; allowed: {', '.join(sorted(allowed))}"
        )


_BUILDERS: dict[str, Callable[..., Regimen]] = {
    "prednisone": _reg.prednisone,
    "dexamethasone": _reg.dexamethasone,
    "il11": _reg.il11,
    "taper": _reg.taper,
    "dose": _reg.dose,
}


def regimen_from_entries(entries: Any, origin: str = "<regimen>") -> Regimen:
    """Build a regimen from a list of ``{builder = ..., **arguments}`` tables (as in trial files).

    Raises
    ------
    TrialError
        Unknown builder or argument, or an invalid regimen; the message names `origin` and key.
    """
    return _regimen(entries, _Where(origin), "")


def _tables(data: Mapping[str, Any], key: str, where: _Where) -> list[Mapping[str, Any]]:
    """The array of tables ``[[key]]`` (empty when absent), or an error naming it."""
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(x, Mapping) for x in value):
        raise where.error(key, f"expected an array of tables ([[{key}]]), got {value!r}")
    return value


def _regimen(entries: Any, where: _Where, ctx: str) -> Regimen:
    if not isinstance(entries, list):
        raise where.error(f"{ctx}regimen", "expected a list of [[arm.regimen]] tables")
    reg = Regimen()
    for i, entry in enumerate(entries):
        key = f"{ctx}regimen[{i}]"
        if not isinstance(entry, Mapping) or "builder" not in entry:
            raise where.error(key, "each regimen entry needs a `builder`")
        kw = {k: v for k, v in entry.items() if k != "builder"}
        name = entry["builder"]
        try:
            if name == "course":
                part = Regimen((_reg.Course.from_dict(kw),))
            elif name in _BUILDERS:
                fn = _BUILDERS[name]
                params = inspect.signature(fn).parameters
                bad = sorted(set(kw) - set(params))
                if bad:
                    raise where.error(
                        f"{key}.{bad[0]}",
                        f"unknown argument of `{name}`; allowed: {', '.join(params)}",
                    )
                part = fn(**kw)
            else:
                raise where.error(
                    f"{key}.builder",
                    f"unknown builder `{name}`; use one of {sorted([*_BUILDERS, 'course'])}",
                )
            reg = reg + part
        except TrialError:
            raise
        except (PDModelError, TypeError) as exc:
            raise where.error(key, str(exc)) from None
    return reg


def _parse(data: Mapping[str, Any], origin: str, sha256: str) -> Trial:
    w = _Where(origin)
    _check_keys(
        data,
        {"id", "title", "citation", "entry", "endpoints", "assumption", "arm", "finding"},
        w,
        "",
    )
    tid = _need(data, "id", w, "", str)
    title = _need(data, "title", w, "", str)
    citation = _need(data, "citation", w, "", str)
    entry = _need(data, "entry", w, "", Mapping)
    _check_keys(entry, {"plt_max", "source"}, w, "entry.")
    plt_max = float(_need(entry, "plt_max", w, "entry.", numbers.Real))
    if not (math.isfinite(plt_max) and plt_max > 0):
        raise w.error("entry.plt_max", f"must be a positive number of 10^9/L, got {plt_max}")
    ep = _need(data, "endpoints", w, "", Mapping)
    allowed_ep = set(EndpointConfig.__dataclass_fields__)
    _check_keys(ep, allowed_ep, w, "endpoints.")
    kw: dict[str, Any] = dict(ep)
    if "sampling" in kw:
        segs = kw["sampling"]
        if not (
            isinstance(segs, list)
            and all(
                isinstance(seg, list)
                and len(seg) == 3
                and all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in seg)
                for seg in segs
            )
        ):
            raise w.error(
                "endpoints.sampling",
                f"expected a list of [start, stop, step] day triples, got {segs!r}",
            )
        kw["sampling"] = tuple(tuple(float(x) for x in seg) for seg in segs)
    if "effective_grades" in kw:
        grades = kw["effective_grades"]
        if not (isinstance(grades, list) and all(isinstance(g, str) for g in grades)):
            raise w.error(
                "endpoints.effective_grades", f"expected a list of grade names, got {grades!r}"
            )
        kw["effective_grades"] = tuple(grades)
    try:
        config = EndpointConfig(**kw)
    except (PDModelError, TypeError, ValueError) as exc:
        raise w.error("endpoints", str(exc)) from None

    assumptions = []
    for i, a in enumerate(_tables(data, "assumption", w)):
        ctx = f"assumption[{i}]."
        _check_keys(a, {"key", "value", "reason"}, w, ctx)
        for k in ("key", "value", "reason"):
            _need(a, k, w, ctx, str)
        assumptions.append(dict(a))

    arms = []
    if "arm" not in data:
        raise w.error("arm", "missing")
    raw_arms = _tables(data, "arm", w)
    if not raw_arms:
        raise w.error("arm", "a trial needs at least one arm")
    for i, a in enumerate(raw_arms):
        ctx = f"arm[{i}]."
        _check_keys(a, {"name", "n", "description", "regimen"}, w, ctx)
        name = _need(a, "name", w, ctx, str)
        n = _need(a, "n", w, ctx, int)
        if n < 1:
            raise w.error(f"{ctx}n", f"must be a positive number of patients, got {n}")
        reg = _regimen(a.get("regimen", []), w, ctx)
        arms.append(
            Arm(
                name,
                n,
                reg,
                str(a.get("description", "")),
                tuple(dict(s) for s in a.get("regimen", [])),
            )
        )
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise w.error("arm", f"arm names must be unique, got {names}")

    findings = []
    for i, f in enumerate(_tables(data, "finding", w)):
        findings.append(_finding(f, w, f"finding[{i}].", names, config))
    return Trial(
        id=tid,
        title=title,
        citation=citation,
        plt_max=plt_max,
        endpoints=config,
        arms=tuple(arms),
        findings=tuple(findings),
        assumptions=tuple(assumptions),
        entry_source=str(entry.get("source", "")),
        origin=origin,
        sha256=sha256,
    )


def _finding(
    f: Mapping[str, Any], w: _Where, ctx: str, arms: list[str], config: EndpointConfig
) -> Finding:
    _check_keys(f, set(Finding.__dataclass_fields__), w, ctx)
    typ = _need(f, "type", w, ctx, str)
    if typ not in _FINDING_TYPES:
        raise w.error(f"{ctx}type", f"unknown finding type `{typ}`; use one of {_FINDING_TYPES}")
    allowed = _FINDING_KEYS[typ] | _COMMON_KEYS
    stray = sorted(set(f) - allowed)
    if stray:  # a number of another finding type would otherwise be ignored
        raise w.error(
            f"{ctx}{stray[0]}",
            f"does not apply to a `{typ}` finding; its keys: {', '.join(sorted(allowed))}",
        )
    endpoint = _need(f, "endpoint", w, ctx, str)
    if endpoint not in ENDPOINTS:
        raise w.error(
            f"{ctx}endpoint", f"unknown endpoint `{endpoint}`; use one of {sorted(ENDPOINTS)}"
        )
    kind = ENDPOINTS[endpoint][0]
    source = _need(f, "source", w, ctx, str)
    kw: dict[str, Any] = {
        "type": typ,
        "endpoint": endpoint,
        "source": source,
        "note": str(f.get("note", "")),
    }

    def arm_name(key: str, value: Any) -> str:
        if not isinstance(value, str) or value not in arms:
            raise w.error(f"{ctx}{key}", f"unknown arm {value!r}; arms: {arms}")
        return value

    if typ in ("comparison", "change"):
        if typ == "comparison":
            pair = _need(f, "arms", w, ctx, list)
            if len(pair) != 2 or pair[0] == pair[1]:
                raise w.error(f"{ctx}arms", "a comparison names two different arms")
            kw["arms"] = tuple(arm_name("arms", x) for x in pair)
        else:
            kw["arm"] = arm_name("arm", _need(f, "arm", w, ctx, str))
            if not endpoint.endswith("_change"):
                raise w.error(f"{ctx}endpoint", "a `change` finding needs a *_change endpoint")
        direction = _need(f, "direction", w, ctx, str)
        if direction not in _DIRECTIONS:
            raise w.error(f"{ctx}direction", f"use one of {_DIRECTIONS}, got `{direction}`")
        kw["direction"] = direction
        alpha = float(_need(f, "alpha", w, ctx, numbers.Real)) if "alpha" in f else 0.05
        if not 0 < alpha < 1:
            raise w.error(f"{ctx}alpha", f"must lie in (0, 1), got {alpha}")
        kw["alpha"] = alpha
        if "p" in f:
            p = float(_need(f, "p", w, ctx, numbers.Real))
            if not 0 < p <= 1:  # also NaN
                raise w.error(f"{ctx}p", f"a P value lies in (0, 1], got {p}")
            kw["p"] = p
        if "significant" in f or "p" not in f:
            kw["significant"] = _need(f, "significant", w, ctx, bool)
            if "p" in f and kw["significant"] != (kw["p"] < alpha):
                raise w.error(
                    f"{ctx}significant",
                    f"is {kw['significant']} but P = {kw['p']:g} is "
                    f"{'below' if kw['p'] < alpha else 'not below'} alpha = {alpha:g}",
                )
        else:
            kw["significant"] = kw["p"] < alpha
        test_kind = "change" if typ == "change" else kind
        if kind == "not modelled":
            kw["test"] = str(f.get("test", ""))
        else:
            test = str(f.get("test", "paired_t" if typ == "change" else _DEFAULT_TEST[kind]))
            if test not in stats.TESTS.get(test_kind, ()):
                raise w.error(
                    f"{ctx}test",
                    f"test `{test}` does not suit a {test_kind} endpoint; "
                    f"use one of {stats.TESTS.get(test_kind)}",
                )
            kw["test"] = test
        return Finding(**kw)

    if kind == "not modelled":
        raise w.error(
            f"{ctx}endpoint", f"`{endpoint}` is not modelled; only comparisons may name it"
        )
    kw["arm"] = arm_name("arm", _need(f, "arm", w, ctx, str))
    n = _need(f, "n", w, ctx, int)
    if n < 1:
        raise w.error(f"{ctx}n", f"must be a positive number of patients, got {n}")
    kw["n"] = n
    if typ == "proportion":
        if kind != "proportion":
            raise w.error(f"{ctx}endpoint", f"`{endpoint}` is not a proportion")
        if "k" in f and "rate" in f:
            raise w.error(f"{ctx}rate", "give `k` or `rate`, not both")
        if "k" in f:
            k = _need(f, "k", w, ctx, int)
            if not 0 <= k <= n:
                raise w.error(f"{ctx}k", f"must lie in [0, n = {n}], got {k}")
            kw["k"] = k
        elif "rate" in f:
            rate = float(_need(f, "rate", w, ctx, numbers.Real))
            if not 0.0 <= rate <= 1.0:
                raise w.error(f"{ctx}rate", f"a rate lies in [0, 1], got {rate}")
            kw["rate"] = rate
        else:
            raise w.error(f"{ctx}rate", "a proportion needs `k` or `rate`")
    elif typ == "mean":
        kw["mean"] = float(_need(f, "mean", w, ctx, numbers.Real))
        sd = float(_need(f, "sd", w, ctx, numbers.Real))
        if sd < 0:
            raise w.error(f"{ctx}sd", f"must be >= 0, got {sd}")
        kw["sd"] = sd
    else:
        kw["median"] = float(_need(f, "median", w, ctx, numbers.Real))
        for k in ("low", "high"):
            if k in f:
                kw[k] = float(_need(f, k, w, ctx, numbers.Real))
        low = kw.get("low", -math.inf)
        high = kw.get("high", math.inf)
        if not low <= kw["median"] <= high:
            raise w.error(
                f"{ctx}median", f"must lie within [low, high] = [{low:g}, {high:g}], "
                f"got {kw['median']:g}"
            )  # fmt: skip
    return Finding(**kw)


def available() -> list[str]:
    """Names of the trial files shipped with the package."""
    folder = resources.files("pdmodel").joinpath("data/trials")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load(name_or_path: str | Path) -> Trial:
    """Load a trial by shipped name (e.g. ``"wu2016"``) or from a TOML file path.

    Raises
    ------
    TrialError
        Unknown name, unreadable or malformed file; the message names the file, key and problem.
    """
    origin: str
    key = str(name_or_path)
    if key in available():
        origin = f"pdmodel/data/trials/{key}.toml"
        raw = resources.files("pdmodel").joinpath(f"data/trials/{key}.toml").read_bytes()
    else:
        path = Path(name_or_path)
        if not path.suffix:
            raise TrialError(
                f"unknown trial `{key}`; shipped trials: {available()}, or give a .toml path"
            )
        origin = str(path)
        _, raw = read_toml(path, TrialError, "trial")
    data = parse_toml(raw, origin, TrialError)
    return _parse(data, origin, hashlib.sha256(raw).hexdigest())


# ---------------------------------------------------------------------------------------------
# simulation


def enrol(trial: Trial, params: ParameterSet, n: int, seed: int) -> Population:
    """A virtual population of `n` patients meeting the trial's entry criteria.

    The patients are randomised quasi-Monte Carlo points: the first `n` points of a Sobol
    sequence with Owen scrambling seeded by `seed` (:func:`pdmodel.population.sobol_points`;
    one dimension per random effect plus a last one from which the untreated platelets are
    drawn, the `plt_base` effect's own dimension being left unused), mapped to standard-normal
    deviates.  Arm-level summaries then
    carry a much smaller Monte-Carlo error than with independent draws (300 per arm, at a
    calibrated estimate: SD of the calibration objective across seeds 0.5 vs 2.1; see
    docs/decisions.md, 17), while each patient is still a random draw from the population.
    Untreated platelets are drawn from the log-normal distribution truncated at the entry
    threshold by inverse-CDF sampling of the fixed points, so the draw is a smooth function of
    the parameters for a given seed (common random numbers; no rejection).
    """
    n = check_whole(n, "n_per_arm", 1, TrialError)
    keys = params.model.effect_names
    points = sobol_points(len(keys) + 1, int(n), seed)
    z = dict(zip(keys, ndtri(points[:-1]), strict=True))
    u = points[-1]
    typ, omega = params["plt_base"], params["omega_plt_base"]
    if omega > 0:
        zmax = math.log(trial.plt_max / typ) / omega
        cap = float(_st.norm.cdf(zmax))
        if cap <= 1e-12:
            raise TrialError(
                f"no virtual patient can meet the entry criterion plt < {trial.plt_max:g}: "
                f"typical untreated platelets {typ:g} with IIV {omega:g}"
            )
        z["plt_base"] = ndtri(np.clip(u * cap, 1e-300, 1.0))
    elif typ >= trial.plt_max:
        raise TrialError(f"typical untreated platelets {typ:g} do not meet plt < {trial.plt_max:g}")
    return Population(params, z)


@dataclass(frozen=True)
class FindingResult:
    """How the model does on one finding.

    Attributes
    ----------
    finding : Finding
    status : str
        ``reproduced``, ``not reproduced`` or ``not modelled``.
    model : str
        The model's values, in words.
    direction_ok : bool or None
        Whether the model predicts the published direction (comparisons, changes).
    probability : float or None
        Comparisons and changes: probability that a replicate trial of the published size
        reaches the published verdict (direction and significance).  Numbers: two-sided
        probability of a replicate value at least as far from the prediction as the published
        one (>= 0.05 means inside the replicate 95% interval).
    typical_p : float or None
        Comparisons and changes: the two-sided P value at the mean z statistic of a replicate
        trial of the published size under the model (about its median P value; the P value
        the model expects the trial to have reported).  None for numbers, for findings that are
        not modelled, and when not computed.
    """

    finding: Finding
    status: str
    model: str
    direction_ok: bool | None
    probability: float | None
    typical_p: float | None = None


@dataclass(frozen=True)
class TrialResult:
    """Result of :func:`simulate_trial`."""

    trial: Trial
    n_per_arm: int
    seed: int
    summaries: dict[str, dict[str, ArmSummary]]
    per_patient: dict[str, dict[str, NDArray[np.float64]]]
    findings: tuple[FindingResult, ...]
    simulations: dict[str, SimulationResult]
    smooth: dict[str, dict[str, ArmSummary]] | None = None

    def table(self) -> pd.DataFrame:
        """One row per endpoint and arm: model value, SD, median, n and replicate 95% interval."""
        import pandas as pd

        rows = []
        for arm in self.trial.arms:
            for name, s in self.summaries[arm.name].items():
                lo, hi = _replicate_interval(s, arm.n)
                rows.append(
                    {
                        "endpoint": name,
                        "arm": arm.name,
                        "kind": s.kind,
                        "unit": ENDPOINTS[name][1],
                        "value": s.value,
                        "sd": s.sd,
                        "median": s.median,
                        "n_simulated": s.n,
                        "replicate_n": arm.n,
                        "replicate_low": lo,
                        "replicate_high": hi,
                    }
                )
        return pd.DataFrame(rows)

    def findings_table(self) -> pd.DataFrame:
        """One row per published finding: what was published, the model, the verdict."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "finding": r.finding.describe(),
                    "endpoint": r.finding.endpoint,
                    "type": r.finding.type,
                    "model": r.model,
                    "direction_ok": r.direction_ok,
                    "probability": r.probability,
                    "typical_p": r.typical_p,
                    "published_p": r.finding.p,
                    "status": r.status,
                    "source": r.finding.source,
                }
                for r in self.findings
            ]
        )


def _replicate_interval(s: ArmSummary, n_pub: int) -> tuple[float, float]:
    if s.n == 0 or not math.isfinite(s.value):
        return (math.nan, math.nan)
    if s.kind == "proportion":
        lo = float(_st.binom.ppf(0.025, n_pub, s.value)) / n_pub
        hi = float(_st.binom.ppf(0.975, n_pub, s.value)) / n_pub
        return (lo, hi)
    half = 1.959963984540054 * s.sd / math.sqrt(max(n_pub, 1))
    return (s.value - half, s.value + half)


_OBS = ("platelets", "ab_positive", "ab_signal", "cd4cd25_pct", "treg_pct")


def simulate_trial(
    trial: Trial,
    params: ParameterSet | None = None,
    n_per_arm: int = 2000,
    seed: int = 1,
    *,
    executor: Executor | None = None,
    chunk_size: int | None = None,
    progress: bool | None = None,
    smooth_width: float | None = None,
) -> TrialResult:
    """Simulate a trial and score it against its published findings.

    Parameters
    ----------
    trial : Trial
        Design and findings (:func:`load`).
    params : ParameterSet, optional
        Parameters (default: package defaults).
    n_per_arm : int
        Virtual patients (the same patients are simulated in every arm).
    seed : int
        Seed of the virtual population.
    executor, chunk_size, progress
        Passed to :func:`pdmodel.simulate`.
    smooth_width : float, optional
        Also compute smooth endpoint summaries (logistic width in log-platelets, see
        :func:`pdmodel.endpoints.smooth_patient_endpoints`) in ``TrialResult.smooth``; the
        calibration objective uses them.

    Returns
    -------
    TrialResult
    """
    if not isinstance(trial, Trial):
        raise TrialError(
            f"`trial` must be a pdmodel Trial (pdmodel.trials.load(name)), got "
            f"{type(trial).__name__} {trial!r:.60}"
        )
    return simulate_trials(
        [trial], params, n_per_arm, seed, executor=executor, chunk_size=chunk_size,
        progress=progress, smooth_width=smooth_width,
    )[0]  # fmt: skip


def _trial_list(trials: Any, purpose: str = "simulate") -> tuple[Trial, ...]:
    """`trials` as a non-empty tuple of Trial objects, or a TrialError naming what is wrong
    (`purpose`: what the trials are for, in the message)."""
    if isinstance(trials, Trial | str) or not isinstance(trials, Sequence):
        raise TrialError(
            f"`trials` must be a list of pdmodel Trial objects, got {type(trials).__name__}"
        )
    if not trials:
        raise TrialError(f"give at least one trial to {purpose}")
    for t in trials:
        if not isinstance(t, Trial):
            raise TrialError(
                f"`trials` must hold pdmodel Trial objects (pdmodel.trials.load(name)), got "
                f"{type(t).__name__} {t!r:.60}"
            )
    return tuple(trials)


def simulate_trials(
    trials: Sequence[Trial],
    params: ParameterSet | None = None,
    n_per_arm: int = 2000,
    seed: int = 1,
    *,
    executor: Executor | None = None,
    chunk_size: int | None = None,
    progress: bool | None = None,
    smooth_width: float | None = None,
    daily: bool = True,
    rtol: float = 3e-7,
) -> list[TrialResult]:
    """Simulate several trials in one solve (see :func:`simulate_trial`).

    Each trial enrols its own virtual population (from `seed`); the arms of all trials are
    integrated together (:func:`pdmodel.solver.simulate_many`), which is faster than one trial
    after another and gives the same results.

    Parameters
    ----------
    trials : sequence of Trial
        Designs and findings.
    params, n_per_arm, seed, executor, chunk_size, progress, smooth_width
        As for :func:`simulate_trial`.
    daily : bool
        Record the trajectories on every day (default).  ``False`` records only the days the
        endpoints read (``EndpointConfig.required_days``), which saves integration segments in
        drug-free follow-up; the endpoints agree within the solver tolerance.
    rtol : float
        Relative tolerance of the engine (see :func:`pdmodel.simulate`).

    Returns
    -------
    list of TrialResult
        One per trial, in order.
    """
    trials = _trial_list(trials)
    params = parameters_or_default(params)
    jobs: list[tuple[Population, Regimen]] = []
    for trial in trials:
        pop = enrol(trial, params, n_per_arm, seed)
        jobs.extend((pop, arm.regimen) for arm in trial.arms)
    days = max(t.endpoints.followup for t in trials)
    if daily:
        times = np.arange(0.0, math.floor(days + 1e-9) + 1.0)
    else:
        times = np.unique(np.concatenate([t.endpoints.required_days() for t in trials]))
    results = simulate_many(
        jobs, days, times=times, observables=_OBS,
        executor=executor, chunk_size=chunk_size, progress=progress, rtol=rtol,
    )  # fmt: skip
    out: list[TrialResult] = []
    k = 0
    for trial in trials:
        sims = {}
        for arm in trial.arms:
            sims[arm.name] = _truncate(results[k], trial.endpoints.followup)
            k += 1
        out.append(_score(trial, int(n_per_arm), int(seed), sims, smooth_width))
    return out


def _truncate(res: SimulationResult, days: float) -> SimulationResult:
    """The part of a result up to `days` (a trial shorter than others simulated with it)."""
    keep = res.times <= days + 1e-9
    if keep.all():
        return res
    return dataclasses.replace(
        res,
        times=res.times[keep],
        observables={k: v[keep] for k, v in res.observables.items()},
    )


def _score(
    trial: Trial,
    n_per_arm: int,
    seed: int,
    sims: dict[str, SimulationResult],
    smooth_width: float | None,
) -> TrialResult:
    cfg = trial.endpoints
    per_patient: dict[str, dict[str, NDArray[np.float64]]] = {}
    summaries: dict[str, dict[str, ArmSummary]] = {}
    smooth: dict[str, dict[str, ArmSummary]] = {}
    for arm in trial.arms:
        res = sims[arm.name]
        pp = patient_endpoints(
            res["platelets"],
            res.times,
            cfg,
            res.treatment_days(),
            ab_positive=res["ab_positive"],
            cd4cd25=res["cd4cd25_pct"],
            treg=res["treg_pct"],
        )
        per_patient[arm.name] = pp
        summaries[arm.name] = {
            name: summarise(v, ENDPOINTS[name][0], len(cfg.grade_names)) for name, v in pp.items()
        }
        if smooth_width is not None:
            soft = smooth_patient_endpoints(
                res["platelets"],
                res.times,
                cfg,
                res.treatment_days(),
                width=smooth_width,
                ab_signal=res["ab_signal"],
                cd4cd25=res["cd4cd25_pct"],
                treg=res["treg_pct"],
            )
            smooth[arm.name] = {
                name: summarise_smooth(e.value, e.weight, ENDPOINTS[name][0], e.within)
                for name, e in soft.items()
            }
    results = tuple(evaluate_finding(f, trial, summaries) for f in trial.findings)
    return TrialResult(
        trial, n_per_arm, seed, summaries, per_patient, results, sims, smooth or None
    )


def _fmt(s: ArmSummary, endpoint: str) -> str:
    if s.kind == "proportion":
        return f"{s.value:.3f}"
    if s.kind == "ordinal":
        return "(" + ", ".join(f"{x:.2f}" for x in s.distribution) + ")"
    return f"{s.value:.3g} +/- {s.sd:.2g}"


def evaluate_finding(
    f: Finding,
    trial: Trial,
    summaries: Mapping[str, Mapping[str, ArmSummary]],
    *,
    typical_p: bool = True,
) -> FindingResult:
    """Evaluate one finding against per-arm endpoint summaries (hard or smooth).

    Parameters
    ----------
    f : Finding
        The finding.
    trial : Trial
        Its trial (arm sizes).
    summaries : mapping
        Per-arm endpoint summaries, ``summaries[arm][endpoint]``.
    typical_p : bool
        Also compute :attr:`FindingResult.typical_p` for comparisons and changes (the
        calibration objective, which does not need it, leaves it out).
    """
    kind = ENDPOINTS[f.endpoint][0]
    if kind == "not modelled":
        return FindingResult(f, "not modelled", "complications are not modelled", None, None)
    if f.type == "comparison":
        a, b = f.arms
        sa, sb = summaries[a][f.endpoint], summaries[b][f.endpoint]
        sizes = _arm_sizes(f, trial, summaries)
        up, down = _replicate_powers(kind, sa, sb, *sizes, f.alpha, f.test)
        diff = _difference(kind, sa, sb)
        model = f"{a} {_fmt(sa, f.endpoint)} vs {b} {_fmt(sb, f.endpoint)}"
        typical = _typical_p(f, trial, summaries, sizes) if typical_p else None
        return _verdict(f, diff, up, down, model, typical)
    if f.type == "change":
        s = summaries[f.arm][f.endpoint]
        n = trial.arm(f.arm).n
        up = stats.power_change(s.value, s.sd, n, f.alpha)
        down = stats.power_change(-s.value, s.sd, n, f.alpha)
        typical = _typical_p(f, trial, summaries) if typical_p else None
        return _verdict(f, s.value, up, down, f"{f.arm} {_fmt(s, f.endpoint)}", typical)
    s = summaries[f.arm][f.endpoint]
    published = f.value
    assert published is not None
    if f.type == "proportion":
        p = min(max(s.value, 1e-12), 1 - 1e-12)
        k = round(published * f.n)
        lo = float(_st.binom.cdf(k, f.n, p))
        hi = float(_st.binom.sf(k - 1, f.n, p))
        prob = min(1.0, 2 * min(lo, hi))
    else:
        se = s.sd / math.sqrt(f.n) if s.sd > 0 else 1e-12
        prob = float(2 * _st.norm.sf(abs(published - s.value) / se))
    status = "reproduced" if prob >= 0.05 else "not reproduced"
    return FindingResult(f, status, f"{f.arm} {_fmt(s, f.endpoint)}", None, prob)


def p_value_term(
    f: Finding, trial: Trial, summaries: Mapping[str, Mapping[str, ArmSummary]]
) -> float:
    """-2 log-likelihood of a finding's published P value under the model.

    The published two-sided P value of the finding's test is turned into a z statistic, signed
    by the published direction (:func:`pdmodel.stats.z_of_p`), and compared with the z
    statistic a replicate trial of the published size would have under the model: normal with
    SD 1 around its mean (:func:`pdmodel.stats.expected_z_rates`, ``expected_z_means``,
    ``expected_z_grades``, ``expected_z_change``), averaged over the random number of patients
    when the endpoint is read on a subset of the arm (:func:`replicate_sizes`).  See
    :func:`pdmodel.stats.p_value_deviance`.

    Parameters
    ----------
    f : Finding
        A comparison or change finding with ``p`` set.
    trial : Trial
        Its trial (arm sizes).
    summaries : mapping
        Per-arm endpoint summaries (hard or smooth), as for :func:`evaluate_finding`.

    Returns
    -------
    float
        ``0`` when the model's mean z statistic equals the published one; ``(z - mu)^2`` for
        fixed arm sizes.
    """
    if f.p is None or f.type not in ("comparison", "change"):
        raise TrialError(f"{f.describe()}: only comparisons and changes with `p` have a P value")
    sign = {"greater": 1, "less": -1, "different": 0}[f.direction]
    mu, w = _replicate_z(f, trial, summaries)
    return stats.p_value_deviance(f.p, sign, mu, w)


def _arm_sizes(
    f: Finding, trial: Trial, summaries: Mapping[str, Mapping[str, ArmSummary]]
) -> tuple[_Sizes, _Sizes]:
    """The replicate trial's patient counts per arm for a comparison (:func:`replicate_sizes`)."""
    a, b = f.arms
    sa, sb = summaries[a][f.endpoint], summaries[b][f.endpoint]
    return (
        replicate_sizes(trial.arm(a).n, _fraction(sa, summaries[a])),
        replicate_sizes(trial.arm(b).n, _fraction(sb, summaries[b])),
    )


def _replicate_z(
    f: Finding,
    trial: Trial,
    summaries: Mapping[str, Mapping[str, ArmSummary]],
    sizes: tuple[_Sizes, _Sizes] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean z statistic of a replicate trial per pair of subset sizes, and their probabilities
    (`sizes`: the comparison's :func:`_arm_sizes`, if already computed)."""
    kind = ENDPOINTS[f.endpoint][0]
    if kind == "not modelled":
        raise TrialError(f"{f.describe()}: `{f.endpoint}` is not modelled")
    if f.type == "change":
        s = summaries[f.arm][f.endpoint]
        return np.array([stats.expected_z_change(s.value, s.sd, trial.arm(f.arm).n)]), np.ones(1)
    a, b = f.arms
    sa, sb = summaries[a][f.endpoint], summaries[b][f.endpoint]
    size_a, size_b = sizes if sizes is not None else _arm_sizes(f, trial, summaries)
    if kind == "proportion":
        return stats.expected_z_rates(sa.value, sb.value, size_a, size_b, f.test)
    if kind == "ordinal":
        da, db = sa.distribution[::-1], sb.distribution[::-1]  # "greater": a better grade
        mu = [
            stats.expected_z_grades(da, db, int(na), int(nb))
            for na in size_a[0]
            for nb in size_b[0]
        ]
        return np.array(mu), np.outer(size_a[1], size_b[1]).ravel()
    return stats.expected_z_means(sa.value, sa.sd, size_a, sb.value, sb.sd, size_b, f.test)


def _typical_p(
    f: Finding,
    trial: Trial,
    summaries: Mapping[str, Mapping[str, ArmSummary]],
    sizes: tuple[_Sizes, _Sizes] | None = None,
) -> float:
    """Two-sided P value at a replicate trial's mean z statistic (about its median P value)."""
    mu, w = _replicate_z(f, trial, summaries, sizes)
    if w.sum() <= 0:
        return 1.0
    return float(2.0 * _st.norm.sf(abs(float(w @ mu / w.sum()))))


def _fraction(s: ArmSummary, arm: Mapping[str, ArmSummary]) -> float:
    """Fraction of the arm an endpoint is read on (arm size: the most patients any endpoint
    of the arm counts)."""
    total = max(x.n for x in arm.values())
    return min(s.n / total, 1.0) if total > 0 else 1.0


def replicate_sizes(n: int, fraction: float, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Distribution of the patients an endpoint counts in a replicate arm of `n` patients.

    An endpoint defined on a subset of the arm (onset time and recurrence on responders) is
    read, in a replicate trial, on the subset that trial happens to have: Binomial(`n`,
    `fraction`) patients.

    Parameters
    ----------
    n : int
        Patients enrolled in the replicate arm (the published arm size).
    fraction : float
        Fraction of the arm the endpoint is defined on (the model's, e.g. responders); 1 for
        endpoints read on every patient.
    tol : float
        Sizes less probable than this are left out (their total probability is below
        ``(n + 1) tol``).

    Returns
    -------
    sizes : ndarray of int
        Possible subset sizes of at least 2 (a test needs 2 patients per arm).
    probabilities : ndarray of float
        Their binomial probabilities; the sizes below 2 and the improbable tails are missing
        from the total, so a replicate trial with fewer than 2 such patients counts as one
        that does not reach a significant verdict.
    """
    n = check_whole(n, "replicate arm size n", 1, TrialError)
    if not 0.0 <= fraction <= 1.0 + 1e-9:  # also NaN
        raise TrialError(f"fraction of the arm must be within [0, 1], got {fraction!r}")
    if fraction >= 1.0 - 1e-12:
        return np.array([n]), np.array([1.0])
    k = np.arange(2, n + 1)
    if fraction <= 0.0 or k.size == 0:
        return k[:0], np.zeros(0)
    pmf = stats._binom_pmf(n, fraction)[2:]
    keep = pmf > tol
    return k[keep], pmf[keep]


def _difference(kind: str, sa: ArmSummary, sb: ArmSummary) -> float:
    if kind == "ordinal":
        # grade index 0 is the best grade: "greater" means a better grade distribution
        return stats.probability_index(sa.distribution[::-1], sb.distribution[::-1]) - 0.5
    return sa.value - sb.value


def _replicate_powers(
    kind: str,
    sa: ArmSummary,
    sb: ArmSummary,
    size_a: _Sizes,
    size_b: _Sizes,
    alpha: float,
    test: str,
) -> tuple[float, float]:
    """P(significant with a > b), P(significant with a < b) in a replicate trial of ``test``.

    The arm sizes are random when the endpoint is read on a subset (:func:`replicate_sizes`).
    """
    if kind == "proportion":
        return (
            stats.power_rates_over_sizes(sa.value, sb.value, size_a, size_b, alpha, test),
            stats.power_rates_over_sizes(sb.value, sa.value, size_b, size_a, alpha, test),
        )
    if kind == "ordinal":
        da, db = sa.distribution[::-1], sb.distribution[::-1]
        up = down = 0.0
        for na, wa in zip(*size_a, strict=True):
            for nb, wb in zip(*size_b, strict=True):
                up += wa * wb * stats.power_grades(da, db, int(na), int(nb), alpha)
                down += wa * wb * stats.power_grades(db, da, int(nb), int(na), alpha)
        return up, down
    return (
        stats.power_means_over_sizes(sa.value, sa.sd, size_a, sb.value, sb.sd, size_b, alpha, test),
        stats.power_means_over_sizes(sb.value, sb.sd, size_b, sa.value, sa.sd, size_a, alpha, test),
    )


def _verdict(
    f: Finding, diff: float, up: float, down: float, model: str, typical_p: float | None
) -> FindingResult:
    if f.direction == "greater":
        direction_ok, p_sig = diff > 0, up
    elif f.direction == "less":
        direction_ok, p_sig = diff < 0, down
    else:
        direction_ok, p_sig = diff != 0, up + down
    prob = p_sig if f.significant else 1.0 - (up + down)
    ok = (direction_ok or not f.significant) and prob >= 0.5
    return FindingResult(
        f, "reproduced" if ok else "not reproduced", model, bool(direction_ok), prob, typical_p
    )
