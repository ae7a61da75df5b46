"""Regimen optimisation: the regimen within user bounds that meets a target at the least cost.

A problem (TOML, see :func:`load_problem` and docs/optimisation.md) lists regimen entries as in
scenario files, where an argument may be a list of choices or one continuous range
``{min, max, step}``; an entry may be ``optional`` or a list of ``alternatives`` (e.g.
prednisone or dexamethasone).  The search is honest about its method:

* **discrete choices are enumerated** (every combination is simulated);
* **one continuous argument at most** (a dose, a threshold) is searched by **bisection** for
  its least value meeting the target, for each discrete combination; this assumes the target
  endpoint improves and the cost grows with that argument (a dose-response), which the search
  checks at both ends of the range;
* every evaluation simulates the **same virtual patients** (common random numbers), so two
  candidates differ only by their regimens and the comparison carries no sampling noise.

Costs, per patient and averaged over the population, from the doses actually given (after the
regimen's rules): ``il11`` (total rhIL-11, mg), ``glucocorticoid`` (total glucocorticoid in
prednisone-equivalent mg, :attr:`pdmodel.drugs.DrugSpec.prednisone_equivalent`) and ``days``
(days of therapy).  Several costs are compared in the order given (lexicographically).

Uncertainty: the optimum and its runners-up are re-simulated under posterior parameter draws;
the result reports, for each, the probability (over draws) that it meets the target and the
quantiles of the endpoint.
"""

from __future__ import annotations

import copy
import itertools
import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._toml import read_toml
from ..checks import check_keys, check_whole
from ..drugs import AMOUNT_UNITS, get_drug
from ..errors import OptionError, PDModelError, ScenarioError
from ..parameters import ParameterSet
from ..scenarios import SUMMARY_ENDPOINTS, endpoint_summary
from ..trials import entry_population, regimen_from_entries

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from ..population import Population
    from ..regimens import Regimen
    from ..solver import SimulationResult

__all__ = [
    "COSTS",
    "OptimisationProblem",
    "OptimisationResult",
    "load_problem",
    "optimise",
    "problem_from_dict",
    "regimen_costs",
]

#: Costs a problem may minimise (per patient, population mean), with their units.
COSTS: dict[str, str] = {
    "il11": "mg rhIL-11",
    "glucocorticoid": "mg prednisone-equivalent",
    "days": "days of therapy",
}

#: Continuous ranges are bisected to this fraction of their width unless `step` is given.
DEFAULT_STEPS = 64


@dataclass(frozen=True)
class _Range:
    lo: float
    hi: float
    step: float

    def snap(self, x: float) -> float:
        """`x` rounded up to the range's step grid (from `lo`), within the range."""
        k = math.ceil((x - self.lo) / self.step - 1e-9)
        return float(min(self.lo + k * self.step, self.hi))


@dataclass(frozen=True)
class OptimisationProblem:
    """A parsed optimisation problem (:func:`load_problem`).

    Parameters
    ----------
    title : str
        One line.
    slots : tuple
        Regimen entries: each a tuple of alternatives (``{builder, **arguments}`` with lists
        for choices and :class:`_Range` for the continuous argument) and whether it is optional.
    endpoint : str
        Endpoint of the target or objective (:data:`pdmodel.scenarios.SUMMARY_ENDPOINTS`).
    mode : {"at_least", "at_most", "maximise", "minimise"}
        A target (with `value`) or an objective.
    value : float or None
        Target value (endpoint unit).
    by_day : float
        Response window, days (initial and complete response count by this day).
    costs : tuple of str
        Costs, compared in this order (:data:`COSTS`).
    days : float
        Simulated days.
    n : int
        Virtual patients.
    seed : int
        Seed of the virtual patients.
    plt_max : float
        Entry criterion: untreated platelets below this, 10^9/L.
    origin : str
        File name, for messages.
    continuous : (int, int, str), optional
        Where the one continuous argument is: slot, alternative and argument name (None: no
        continuous argument).
    """

    title: str
    slots: tuple[tuple[tuple[dict[str, Any], ...], bool], ...]
    endpoint: str
    mode: str
    value: float | None
    by_day: float
    costs: tuple[str, ...]
    days: float
    n: int
    seed: int
    plt_max: float
    origin: str = "<problem>"
    continuous: tuple[int, int, str] | None = field(default=None, repr=False)

    def meets(self, value: float) -> bool:
        """Whether an endpoint value meets the target (always True for an objective).

        Parameters
        ----------
        value : float
            The endpoint's value (endpoint unit).

        Returns
        -------
        bool
            True when the target is met.
        """
        if self.mode == "at_least":
            assert self.value is not None
            return bool(value >= self.value - 1e-12)
        if self.mode == "at_most":
            assert self.value is not None
            return bool(value <= self.value + 1e-12)
        return True

    @property
    def goal(self) -> str:
        """The target or objective in words."""
        words = {"at_least": ">=", "at_most": "<="}
        if self.mode in words:
            return f"{self.endpoint} {words[self.mode]} {self.value:g} by day {self.by_day:g}"
        return f"{self.mode} {self.endpoint} (by day {self.by_day:g})"


def _err(origin: str, key: str, problem: str) -> ScenarioError:
    return ScenarioError(f"{origin}: `{key}`: {problem}")


def _keys(mapping: Any, allowed: set[str], origin: str, prefix: str) -> None:
    if not isinstance(mapping, Mapping):
        raise _err(origin, prefix.rstrip(".") or "<file>", f"expected a table, got {mapping!r}")
    check_keys(mapping, allowed, lambda key, problem: _err(origin, f"{prefix}{key}", problem))


def _number(origin: str, key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
        raise _err(origin, key, f"expected a finite number, got {v!r}")
    return float(v)


def problem_from_dict(data: Mapping[str, Any], origin: str = "<problem>") -> OptimisationProblem:
    """Build a problem from the plain data of a problem file (see :func:`load_problem`).

    Parameters
    ----------
    data : mapping
        Tables ``optimise``, ``target`` or ``objective``, ``population`` and ``regimen``.
    origin : str
        Name for messages.

    Returns
    -------
    OptimisationProblem
        The problem, validated.
    """
    _keys(data, {"optimise", "target", "objective", "population", "regimen"}, origin, "")
    opt = data.get("optimise", {})
    _keys(opt, {"title", "days", "costs"}, origin, "optimise.")
    days = _number(origin, "optimise.days", opt.get("days", 56))
    if days < 1 or days != math.floor(days):
        raise _err(origin, "optimise.days", f"must be a whole number of days >= 1, got {days:g}")
    costs = opt.get("costs", ["il11", "glucocorticoid", "days"])
    if isinstance(costs, str):
        costs = [costs]
    if not isinstance(costs, list) or not costs or any(c not in COSTS for c in costs):
        raise _err(origin, "optimise.costs", f"a list from {', '.join(COSTS)}, got {costs!r}")
    if ("target" in data) == ("objective" in data):
        raise ScenarioError(f"{origin}: give one of [target] (a goal to meet at least cost) or "
                            "[objective] (an endpoint to maximise or minimise)")  # fmt: skip
    if "target" in data:
        t = data["target"]
        _keys(t, {"endpoint", "at_least", "at_most", "by_day"}, origin, "target.")
        modes = [m for m in ("at_least", "at_most") if m in t]
        if len(modes) != 1:
            raise _err(origin, "target", "give one of `at_least` or `at_most`")
        mode, value = modes[0], _number(origin, f"target.{modes[0]}", t[modes[0]])
    else:
        t = data["objective"]
        _keys(t, {"endpoint", "maximise", "minimise", "by_day"}, origin, "objective.")
        if ("maximise" in t) == ("minimise" in t) or not (t.get("maximise") or t.get("minimise")):
            raise _err(origin, "objective", "give `maximise = true` or `minimise = true`")
        mode, value = ("maximise" if "maximise" in t else "minimise"), None
    endpoint = t.get("endpoint")
    if endpoint not in SUMMARY_ENDPOINTS:
        raise _err(origin, "endpoint", f"use one of {', '.join(SUMMARY_ENDPOINTS)}; got "
                   f"{endpoint!r}")  # fmt: skip
    by_day = _number(origin, "by_day", t.get("by_day", min(56.0, days)))
    if not 1 <= by_day <= days:
        raise _err(origin, "by_day", f"must be within 1 and optimise.days ({days:g})")
    pop = data.get("population", {})
    _keys(pop, {"n", "seed", "plt_max"}, origin, "population.")
    n = check_whole(pop.get("n", 300), f"{origin}: population.n", 1, ScenarioError)
    seed = check_whole(pop.get("seed", 1), f"{origin}: population.seed", 0, ScenarioError)
    plt_max = _number(origin, "population.plt_max", pop.get("plt_max", 30.0))
    entries = data.get("regimen")
    if not isinstance(entries, list) or not entries:
        raise _err(origin, "regimen", "expected one or more [[regimen]] tables")
    slots = []
    continuous: tuple[int, int, str] | None = None
    for i, entry in enumerate(entries):
        key = f"regimen[{i}]"
        if not isinstance(entry, Mapping):
            raise _err(origin, key, "expected a table")
        optional = entry.get("optional", False)
        if not isinstance(optional, bool):
            raise _err(origin, f"{key}.optional", f"expected true or false, got {optional!r}")
        if "alternatives" in entry:
            _keys(entry, {"alternatives", "optional"}, origin, f"{key}.")
            alts = entry["alternatives"]
            if not isinstance(alts, list) or not alts or not all(isinstance(a, Mapping)
                                                                 for a in alts):  # fmt: skip
                raise _err(origin, f"{key}.alternatives", "expected a list of builder tables")
        else:
            alts = [{k: v for k, v in entry.items() if k != "optional"}]
        parsed = []
        for j, alt in enumerate(alts):
            ctx = f"{key}.alternatives[{j}]" if "alternatives" in entry else key
            if "builder" not in alt:
                raise _err(origin, ctx, "each regimen entry needs a `builder`")
            out: dict[str, Any] = {}
            for k, v in alt.items():
                if isinstance(v, Mapping):
                    _keys(v, {"min", "max", "step"}, origin, f"{ctx}.{k}.")
                    if continuous is not None:
                        raise _err(origin, f"{ctx}.{k}", "only one argument may be a continuous "
                                   "range {min, max} (the others: lists of choices)")  # fmt: skip
                    lo = _number(origin, f"{ctx}.{k}.min", v.get("min"))
                    hi = _number(origin, f"{ctx}.{k}.max", v.get("max"))
                    if not lo < hi:
                        raise _err(origin, f"{ctx}.{k}", f"needs min < max, got {lo:g}, {hi:g}")
                    step = _number(origin, f"{ctx}.{k}.step",
                                   v.get("step", (hi - lo) / DEFAULT_STEPS))  # fmt: skip
                    if not 0 < step <= hi - lo:
                        raise _err(origin, f"{ctx}.{k}.step", "must be > 0 and <= max - min")
                    out[k] = _Range(lo, hi, step)
                    continuous = (i, j, k)
                elif isinstance(v, list):
                    if not v:
                        raise _err(origin, f"{ctx}.{k}", "an empty list of choices")
                    out[k] = list(v)
                else:
                    out[k] = v
            parsed.append(out)
        slots.append((tuple(parsed), optional))
    problem = OptimisationProblem(
        title=str(opt.get("title", Path(origin).stem)), slots=tuple(slots), endpoint=endpoint,
        mode=mode, value=value, by_day=by_day, costs=tuple(costs), days=days, n=n, seed=seed,
        plt_max=plt_max, origin=origin, continuous=continuous,
    )  # fmt: skip
    if problem.continuous is not None and mode in ("maximise", "minimise"):
        raise ScenarioError(
            f"{origin}: a continuous range is bisected for the least value meeting a "
            "[target]; with an [objective], give a list of values instead"
        )
    # every candidate must build: checked once, with the continuous argument at its ends
    for cand in _candidates(problem):
        for x in _ends(problem):
            _regimen(problem, cand, x)
    return problem


def load_problem(path: str | Path) -> OptimisationProblem:
    """Read an optimisation problem file (TOML).

    Parameters
    ----------
    path : str or Path
        The file: ``[optimise]`` (``title``, ``days``, ``costs``), ``[target]`` (``endpoint``,
        ``at_least`` or ``at_most``, ``by_day``) or ``[objective]`` (``endpoint``,
        ``maximise`` or ``minimise = true``, ``by_day``), ``[population]`` (``n``, ``seed``,
        ``plt_max``) and ``[[regimen]]`` entries (see the module docstring).

    Returns
    -------
    OptimisationProblem
        The problem, validated.

    Raises
    ------
    ScenarioError
        A malformed problem; the message names the file and the key.
    """
    data, _ = read_toml(Path(path), ScenarioError, "optimisation problem")
    return problem_from_dict(data, str(path))


_Candidate = tuple[tuple[int, dict[str, Any]] | None, ...]


def _candidates(problem: OptimisationProblem) -> list[_Candidate]:
    """Every discrete combination: per slot, None (left out) or (alternative, arguments)."""
    per_slot: list[list[tuple[int, dict[str, Any]] | None]] = []
    for alts, optional in problem.slots:
        options: list[tuple[int, dict[str, Any]] | None] = [None] if optional else []
        for j, alt in enumerate(alts):
            keys = [k for k, v in alt.items() if isinstance(v, list)]
            for combo in itertools.product(*(alt[k] for k in keys)):
                options.append((j, {**alt, **dict(zip(keys, combo, strict=True))}))
        per_slot.append(options)
    return [c for c in itertools.product(*per_slot) if any(x is not None for x in c)]


def _continuous_in(problem: OptimisationProblem, cand: _Candidate) -> _Range | None:
    if problem.continuous is None:
        return None
    i, j, k = problem.continuous
    chosen = cand[i]
    if chosen is None or chosen[0] != j:
        return None
    r = chosen[1][k]
    assert isinstance(r, _Range)
    return r


def _ends(problem: OptimisationProblem) -> list[float | None]:
    if problem.continuous is None:
        return [None]
    i, j, k = problem.continuous
    r = problem.slots[i][0][j][k]
    return [r.lo, r.hi]


def _entries(problem: OptimisationProblem, cand: _Candidate, x: float | None) -> list[dict]:
    out = []
    for i, chosen in enumerate(cand):
        if chosen is None:
            continue
        j, args = chosen
        entry = {k: (x if isinstance(v, _Range) else copy.deepcopy(v)) for k, v in args.items()}
        if problem.continuous is not None and problem.continuous[:2] != (i, j):
            entry = {k: v for k, v in entry.items() if not isinstance(v, _Range)}
        out.append(entry)
    return out


def _regimen(problem: OptimisationProblem, cand: _Candidate, x: float | None) -> Regimen:
    try:
        return regimen_from_entries(_entries(problem, cand, x), problem.origin)
    except PDModelError as exc:
        raise ScenarioError(f"{exc}") from None


def _describe(entries: list[dict]) -> str:
    parts = []
    for e in entries:
        args = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in e.items() if k != "builder")  # fmt: skip
        parts.append(f"{e['builder']}({args})")
    return " + ".join(parts)


def regimen_costs(res: SimulationResult) -> dict[str, float]:
    """Mean per-patient costs of the doses actually given (:data:`COSTS`).

    Parameters
    ----------
    res : SimulationResult
        A simulation (its course records hold the doses given).

    Returns
    -------
    dict of str to float
        ``il11`` (mg rhIL-11), ``glucocorticoid`` (mg prednisone-equivalent), ``days``
        (days of therapy), each the mean over patients.
    """
    il11 = np.zeros(res.n_patients)
    gc = np.zeros(res.n_patients)
    for c in res.courses:
        spec = get_drug(c.drug)
        total = (c.given * c.amount[None, :]).sum(axis=0) * AMOUNT_UNITS[spec.amount_unit]
        if c.drug == "il11":
            il11 += total
        if spec.prednisone_equivalent is not None:
            gc += total * spec.prednisone_equivalent
    return {"il11": float(il11.mean()), "glucocorticoid": float(gc.mean()),
            "days": float(res.treatment_days().mean())}  # fmt: skip


@dataclass(frozen=True)
class OptimisationResult:
    """Result of :func:`optimise`.

    Parameters
    ----------
    problem : OptimisationProblem
        The problem.
    candidates : pandas.DataFrame
        One row per evaluated regimen (every discrete combination, each at its least
        continuous value meeting the target), best first: ``regimen`` (description),
        ``value`` (the endpoint), ``meets`` (the target), the costs (:data:`COSTS` units) and
        ``rank`` (1 = optimum; empty when the target is not met).
    uncertainty : pandas.DataFrame or None
        With parameter draws, one row per ranked regimen re-simulated: ``p_meets`` (fraction
        of draws meeting the target), ``value_q0.025``, ``value_median``, ``value_q0.975``.
    evaluations : int
        Simulations run (the search, without the draws).
    wall_time : float
        Seconds.
    """

    problem: OptimisationProblem
    candidates: pd.DataFrame
    uncertainty: pd.DataFrame | None
    evaluations: int
    wall_time: float

    @property
    def best(self) -> pd.Series | None:
        """The optimum's row (None when no candidate meets the target)."""
        ranked = self.candidates[self.candidates["rank"] == 1]
        return None if ranked.empty else ranked.iloc[0]

    def __repr__(self) -> str:
        b = self.best
        what = "no regimen meets the target" if b is None else f"best {b['regimen']}"
        return (f"OptimisationResult({self.problem.goal}: {what}; {len(self.candidates)} "
                f"regimens, {self.evaluations} simulations, {self.wall_time:.1f} s)")  # fmt: skip

    def plot(self) -> Figure:
        """Endpoint against the first cost for every candidate.

        The optimum and the runners-up are labelled (with their 95% ranges over parameter
        draws), the target dashed.

        Returns
        -------
        matplotlib.figure.Figure
            A new figure.
        """
        import matplotlib.pyplot as plt

        t = self.candidates
        cost = self.problem.costs[0]
        fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
        ok = t["meets"].to_numpy(bool)
        ax.scatter(t.loc[~ok, cost], t.loc[~ok, "value"], s=14, c="grey", label="misses target")
        ax.scatter(t.loc[ok, cost], t.loc[ok, "value"], s=14, c="C0", label="meets target")
        if self.uncertainty is not None:  # 95% range over the parameter draws
            u = self.uncertainty.merge(t[["rank", cost]], on="rank")
            ax.errorbar(u[cost], u["value_median"], fmt="none", ecolor="C1", elinewidth=1,
                        yerr=[u["value_median"] - u["value_q0.025"],
                              u["value_q0.975"] - u["value_median"]],
                        label="95% over parameter draws")  # fmt: skip
        for _, r in t[t["rank"] <= 3].iterrows():
            ax.annotate(f"#{int(r['rank'])}", (r[cost], r["value"]), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")  # fmt: skip
        if self.problem.value is not None:
            ax.axhline(self.problem.value, color="grey", ls="--", lw=0.8)
        ax.set_xlabel(f"{cost} ({COSTS[cost]} per patient)")
        ax.set_ylabel(self.problem.endpoint)
        ax.set_title(f"{self.problem.title}: {self.problem.goal}", fontsize=9)
        ax.legend(fontsize=7, frameon=False)
        return fig


def optimise(
    problem: OptimisationProblem | str | Path,
    params: ParameterSet | None = None,
    *,
    draws: Sequence[ParameterSet] = (),
    runners_up: int = 3,
    progress: Callable[[int], None] | None = None,
) -> OptimisationResult:
    """Find the least-cost regimen meeting a target (or the best by an objective).

    Parameters
    ----------
    problem : OptimisationProblem, str or Path
        The problem or its file (:func:`load_problem`).
    params : ParameterSet, optional
        Parameters (default: the shipped calibrated set).
    draws : sequence of ParameterSet, optional
        Posterior draws (:func:`pdmodel.calibration.posterior_draws` or
        :func:`pdmodel.calibration.chain_draws`): the optimum and `runners_up` are
        re-simulated under each.
    runners_up : int
        Ranked regimens after the optimum to report (and check under the draws).
    progress : callable, optional
        Called as ``progress(simulations_so_far)``.

    Returns
    -------
    OptimisationResult
        The ranked candidates, the optimum and, with draws, its uncertainty.
    """
    import pandas as pd

    from ..shipped import calibrated_parameters
    from ..solver import simulate

    prob = problem if isinstance(problem, OptimisationProblem) else load_problem(problem)
    runners_up = check_whole(runners_up, "runners_up", 0, OptionError)
    base = params if params is not None else calibrated_parameters()
    t0 = time.perf_counter()
    patients = entry_population(prob.plt_max, base, prob.n, prob.seed)
    times = np.arange(prob.days + 1.0)
    count = 0

    def run(pop: Population, reg: Regimen) -> tuple[float, dict[str, float]]:
        nonlocal count
        res = simulate(pop, reg, prob.days, times=times, observables=["platelets"],
                       progress=False)  # fmt: skip
        count += 1
        if progress is not None:
            progress(count)
        value = endpoint_summary(res, prob.days, prob.by_day)[prob.endpoint]
        return value, regimen_costs(res)

    rows: list[tuple[_Candidate, float | None, float, dict[str, float]]] = []
    for cand in _candidates(prob):
        r = _continuous_in(prob, cand)
        if r is None:
            value, costs = run(patients, _regimen(prob, cand, None))
            rows.append((cand, None, value, costs))
            continue
        # bisection for the least value meeting the target (dose-response assumed monotone)
        v_hi, c_hi = run(patients, _regimen(prob, cand, r.hi))
        if not prob.meets(v_hi):
            rows.append((cand, r.hi, v_hi, c_hi))
            continue
        v_lo, c_lo = run(patients, _regimen(prob, cand, r.lo))
        if prob.meets(v_lo):
            rows.append((cand, r.lo, v_lo, c_lo))
            continue
        lo, hi, best = r.lo, r.hi, (v_hi, c_hi)
        while hi - lo > r.step * (1 + 1e-9):
            mid = r.snap((lo + hi) / 2)
            if mid >= hi:  # the grid has no point strictly inside: hi is the answer
                break
            v, c = run(patients, _regimen(prob, cand, mid))
            if prob.meets(v):
                hi, best = mid, (v, c)
            else:
                lo = mid
        rows.append((cand, hi, *best))

    table = []
    for cand, x, value, costs in rows:
        entries = _entries(prob, cand, x)
        table.append({"regimen": _describe(entries), "value": value,
                      "meets": prob.meets(value), **costs, "_entries": entries})  # fmt: skip
    frame = pd.DataFrame(table)
    if prob.mode in ("maximise", "minimise"):
        sign = -1.0 if prob.mode == "maximise" else 1.0
        # endpoints are fractions of n patients: values within half a patient tie
        frame["_key"] = sign * np.round(frame["value"] * prob.n * 2) / (prob.n * 2)
        keys = ["_key", *prob.costs]
    else:
        frame["_key"] = ~frame["meets"]
        keys = ["_key", *prob.costs]
    frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    rank = np.arange(1, len(frame) + 1, dtype=float)
    rank[~frame["meets"].to_numpy(bool)] = np.nan
    frame["rank"] = rank
    uncertainty = None
    if draws:
        urows = []
        top = frame[frame["rank"] <= runners_up + 1]
        for _, row in top.iterrows():
            reg = regimen_from_entries(row["_entries"], prob.origin)
            values = np.array([run(patients.with_params(p), reg)[0] for p in draws])
            q = np.quantile(values, [0.025, 0.5, 0.975])
            urows.append({"rank": int(row["rank"]), "regimen": row["regimen"],
                          "p_meets": float(np.mean([prob.meets(v) for v in values])),
                          "value_q0.025": q[0], "value_median": q[1], "value_q0.975": q[2],
                          "draws": len(draws)})  # fmt: skip
        uncertainty = pd.DataFrame(urows)
        count -= len(top) * len(draws)
    frame = frame.drop(columns=["_key", "_entries"])
    return OptimisationResult(prob, frame, uncertainty, count, time.perf_counter() - t0)
