"""Trial files: parsing and validation (errors name file, key and problem); the shipped
trials."""

from __future__ import annotations

import hashlib
import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from .. import regimens as _reg
from .. import stats
from .._toml import parse_toml, read_toml
from ..checks import check_keys
from ..endpoints import (
    ENDPOINTS,
    EndpointConfig,
)
from ..errors import PDModelError, TrialError
from ..regimens import Regimen
from .spec import (
    _COMMON_KEYS,
    _DEFAULT_TEST,
    _DIRECTIONS,
    _FINDING_KEYS,
    _FINDING_TYPES,
    ROLES,
    Arm,
    Finding,
    Trial,
)

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
    check_keys(d, allowed, lambda key, problem: where.error(f"{ctx}{key}", problem))


_BUILDERS: dict[str, Callable[..., Regimen]] = {
    "prednisone": _reg.prednisone,
    "dexamethasone": _reg.dexamethasone,
    "il11": _reg.il11,
    "taper": _reg.taper,
    "dose": _reg.dose,
}


def regimen_from_entries(entries: Any, origin: str = "<regimen>") -> Regimen:
    """Build a regimen from a list of ``{builder = ..., **arguments}`` tables (as in trial files).

    Parameters
    ----------
    entries : list of dict
        Each names a builder under ``builder`` (``prednisone``, ``dexamethasone``, ``il11``,
        ``taper``, ``dose`` of :mod:`pdmodel.regimens`, or ``course`` for a
        :class:`~pdmodel.Course`) and gives its arguments.
    origin : str
        Where the entries come from (file and arm), for messages.

    Returns
    -------
    Regimen
        The courses of all entries together.

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
        if not isinstance(name, str):
            raise where.error(f"{key}.builder", f"expected the name of a builder, got {name!r}")
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
        {"id", "title", "citation", "role", "entry", "endpoints", "assumption", "arm", "finding"},
        w,
        "",
    )
    role = data.get("role", "calibration")
    if role not in ROLES:
        raise w.error("role", f"must be one of {', '.join(ROLES)}, got {role!r}")
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
        role=role,
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
    """Names of the trial files shipped with the package.

    Returns
    -------
    list of str
        Sorted; each is accepted by :func:`load`.
    """
    folder = resources.files("pdmodel").joinpath("data/trials")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load(name_or_path: str | Path) -> Trial:
    """Load a trial by shipped name (e.g. ``"wu2016"``) or from a TOML file path.

    Parameters
    ----------
    name_or_path : str or path-like
        A name from :func:`available`, or a ``.toml`` file.

    Returns
    -------
    Trial
        The trial, with the file's hash.

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
