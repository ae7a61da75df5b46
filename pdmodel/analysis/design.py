"""Design of a new two-arm trial: power of each comparison at a given size, and the size that
reaches a target power, with the uncertainty of the model's parameters.

The power is the analytic replicate-trial power the calibration already uses
(:mod:`pdmodel.trials.replicate`): the arms' endpoint summaries under the model (simulated on
many virtual patients) are turned into the probability that a trial of ``n`` patients per arm
reaches a significant verdict in the stated direction with the stated test.  Endpoints read on
a subset of the arm (onset time on responders) count a binomial number of patients.  The size
for a target power is found by bisection on ``n`` (exponential search for a bracket first).
Exact tests have a power that is saw-toothed in ``n`` by a point or two, so the size reported
is the smallest ``n`` found with ``power(n) >= target`` and ``power(n - 1) < target``.

Parameter uncertainty: the same is done for each of a set of posterior draws of the
parameters (Gaussian approximation of the fit, or rows of an emcee chain); the table then
reports the quantiles of the power and of the required size across draws, and the *assurance*
(the power averaged over the posterior: the probability that the trial succeeds, unconditional
on the parameters).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats as _st

from .. import stats
from ..checks import check_whole
from ..endpoints import ENDPOINTS, ArmSummary
from ..errors import OptionError
from ..parameters import ParameterSet
from ..trials import Trial, load, simulate_trial
from ..trials.replicate import _fraction, _replicate_powers, replicate_sizes
from ..trials.spec import _DEFAULT_TEST, Finding

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from ..trials import TrialResult

__all__ = ["Comparison", "DesignResult", "comparison_power", "design", "required_n",
           "resampled_power"]  # fmt: skip

#: Largest arm size :func:`required_n` searches by default.
N_MAX = 5000
#: Patients per arm at which :func:`design` tabulates the power by default (plus the
#: required sizes).
DEFAULT_GRID = (10, 20, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250, 300, 400)


@dataclass(frozen=True)
class Comparison:
    """One planned between-arm comparison of a two-arm trial.

    Parameters
    ----------
    endpoint : str
        An endpoint of :data:`pdmodel.endpoints.ENDPOINTS` (proportion, continuous or ordinal).
    arms : (str, str)
        Arm names, ``(a, b)``: the hypothesis is about ``a`` relative to ``b``.
    direction : {"greater", "less", "different"}
        The verdict that counts as success: ``a`` significantly greater (for grades: a better
        grade distribution), less, or either.
    test : str, optional
        The trial's test (:data:`pdmodel.stats.TESTS`; default chi2 for rates, welch for means,
        mannwhitney for grades).
    alpha : float
        Two-sided significance level (fraction).
    """

    endpoint: str
    arms: tuple[str, str]
    direction: str = "greater"
    test: str = ""
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if self.endpoint not in ENDPOINTS or ENDPOINTS[self.endpoint][0] == "not modelled":
            usable = [k for k, v in ENDPOINTS.items() if v[0] != "not modelled"]
            raise OptionError(
                f"cannot design for endpoint `{self.endpoint}`; use one of {', '.join(usable)}"
            )
        if len(self.arms) != 2 or self.arms[0] == self.arms[1]:
            raise OptionError(f"a comparison needs two different arms, got {self.arms!r}")
        if self.direction not in ("greater", "less", "different"):
            raise OptionError(
                f"direction must be greater, less or different, got {self.direction!r}"
            )
        kind = ENDPOINTS[self.endpoint][0]
        test = self.test or _DEFAULT_TEST[kind]
        if test not in stats.TESTS[kind]:
            raise OptionError(
                f"test `{test}` does not apply to the {kind} endpoint `{self.endpoint}`; use "
                f"{' or '.join(stats.TESTS[kind])}"
            )
        object.__setattr__(self, "test", test)
        object.__setattr__(self, "arms", tuple(self.arms))
        if not 0.0 < self.alpha < 1.0:
            raise OptionError(f"alpha must be within (0, 1), got {self.alpha!r}")

    @property
    def label(self) -> str:
        """``endpoint: a > b (test, alpha)``."""
        rel = {"greater": ">", "less": "<", "different": "!="}[self.direction]
        return f"{self.endpoint}: {self.arms[0]} {rel} {self.arms[1]} ({self.test}, {self.alpha:g})"

    @classmethod
    def from_finding(cls, f: Finding) -> Comparison:
        """The comparison a published comparison finding tested.

        Parameters
        ----------
        f : Finding
            A ``comparison`` finding.

        Returns
        -------
        Comparison
            Its arms, endpoint, direction, test and alpha.
        """
        a, b = f.arms
        return cls(f.endpoint, (a, b), f.direction, f.test, f.alpha)


def comparison_power(c: Comparison, summaries: dict[str, dict[str, ArmSummary]], n: int) -> float:
    """Power of a comparison in a trial of `n` patients per arm, under arm summaries.

    Parameters
    ----------
    c : Comparison
        The comparison.
    summaries : dict
        Per-arm endpoint summaries (``TrialResult.summaries``).
    n : int
        Patients enrolled per arm.

    Returns
    -------
    float
        Probability (fraction) of a significant verdict in `c`'s direction.
    """
    n = check_whole(n, "n per arm", 2, OptionError)
    a, b = c.arms
    kind = ENDPOINTS[c.endpoint][0]
    sa, sb = summaries[a][c.endpoint], summaries[b][c.endpoint]
    size_a = _sizes(n, _fraction(sa, summaries[a]))
    size_b = _sizes(n, _fraction(sb, summaries[b]))
    up, down = _replicate_powers(kind, sa, sb, size_a, size_b, c.alpha, c.test)
    return {"greater": up, "less": down, "different": up + down}[c.direction]


#: Most distinct subset sizes per arm in a power computation (see :func:`_sizes`).
SIZE_POINTS = 12


def _sizes(n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Subset-size distribution of an arm of `n` (:func:`replicate_sizes`), collapsed to at
    most :data:`SIZE_POINTS` sizes: equal-probability bins of the binomial, each at its mean
    size with its whole probability.  Exact power sums over every size pair, each costing
    O(n^2) for rates, which at n = 400 takes 40 s per evaluation; the power is smooth in the
    subset size, and the collapsed sum stays within Monte-Carlo error of resampled trials
    (tests/test_design.py)."""
    sizes, probs = replicate_sizes(n, fraction)
    if sizes.size <= SIZE_POINTS:
        return sizes, probs
    total = probs.sum()
    mid = (np.cumsum(probs) - probs / 2) / total
    bins = np.minimum((mid * SIZE_POINTS).astype(int), SIZE_POINTS - 1)
    weight = np.bincount(bins, probs, SIZE_POINTS)
    mean = np.bincount(bins, probs * sizes, SIZE_POINTS)
    keep = weight > 0
    merged: dict[int, float] = {}
    for m, w in zip(np.rint(mean[keep] / weight[keep]).astype(int), weight[keep], strict=True):
        merged[int(m)] = merged.get(int(m), 0.0) + float(w)
    return np.array(list(merged)), np.array(list(merged.values()))


def required_n(
    c: Comparison,
    summaries: dict[str, dict[str, ArmSummary]],
    target: float = 0.8,
    n_max: int = N_MAX,
) -> int | None:
    """Smallest patients per arm with power >= `target` (bisection), or None above `n_max`.

    Parameters
    ----------
    c : Comparison
        The comparison.
    summaries : dict
        Per-arm endpoint summaries.
    target : float
        Target power (fraction, within (0, 1)).
    n_max : int
        Largest arm size searched.

    Returns
    -------
    int or None
        ``n`` with ``power(n) >= target`` and ``power(n - 1) < target`` (or ``n = 2``); None if
        even `n_max` patients per arm do not reach `target`.
    """
    if not 0.0 < target < 1.0:
        raise OptionError(f"target power must be within (0, 1), got {target!r}")
    n_max = check_whole(n_max, "n_max", 2, OptionError)

    def power(n: int) -> float:
        return comparison_power(c, summaries, n)

    if power(2) >= target:
        return 2
    lo, hi = 2, 4
    while power(hi) < target:  # power(lo) < target throughout
        if hi >= n_max:
            return None
        lo, hi = hi, min(2 * hi, n_max)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def resampled_power(
    result: TrialResult,
    c: Comparison,
    n: int,
    replicates: int = 2000,
    seed: int = 1,
) -> float:
    """Power of a comparison by resampled trials: the check of the analytic power.

    Each replicate draws `n` patients per arm with replacement from the simulated patients of
    `result`, computes the endpoint on them (patients without a value, e.g. non-responders for
    onset time, drop out of that endpoint) and runs the comparison's test.

    Parameters
    ----------
    result : TrialResult
        A simulated trial with many virtual patients per arm.
    c : Comparison
        The comparison.
    n : int
        Patients enrolled per arm.
    replicates : int
        Resampled trials.
    seed : int
        Seed of the resampling.

    Returns
    -------
    float
        Fraction of replicates with a significant verdict in `c`'s direction (Monte-Carlo SE
        ``sqrt(p (1 - p) / replicates)``).
    """
    n = check_whole(n, "n per arm", 2, OptionError)
    replicates = check_whole(replicates, "replicates", 1, OptionError)
    rng = np.random.default_rng(seed)
    kind = ENDPOINTS[c.endpoint][0]
    xa, xb = (np.asarray(result.per_patient[arm][c.endpoint], dtype=float) for arm in c.arms)
    hits = 0
    for _ in range(replicates):
        a = xa[rng.integers(0, xa.size, n)]
        b = xb[rng.integers(0, xb.size, n)]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if a.size < 2 or b.size < 2:
            continue
        if kind == "proportion":
            p = stats.compare_rates(int(a.sum()), a.size, int(b.sum()), b.size, c.test)
            diff = a.mean() - b.mean()
        elif kind == "continuous":
            if np.ptp(a) == 0 and np.ptp(b) == 0:
                p, diff = (0.0 if a[0] != b[0] else 1.0), a[0] - b[0]
            else:
                p = stats.compare_means(a, b, c.test)
                diff = a.mean() - b.mean()
        else:  # grades: index 0 is the best grade, so "greater" is a lower index
            if np.ptp(np.concatenate([a, b])) == 0:
                continue
            p = stats.compare_grades(-a, -b)
            u = _st.mannwhitneyu(-a, -b).statistic
            diff = u / (a.size * b.size) - 0.5
        sig = p < c.alpha
        ok = {"greater": diff > 0, "less": diff < 0, "different": diff != 0}[c.direction]
        hits += bool(sig and ok)
    return hits / replicates


@dataclass(frozen=True)
class DesignResult:
    """Result of :func:`design`.

    Parameters
    ----------
    trial : Trial
        The design (arms, regimens, entry criteria, endpoint definitions).
    comparisons : tuple of Comparison
        The planned comparisons.
    target : float
        Target power (fraction).
    power : pandas.DataFrame
        One row per comparison and arm size ``n`` (patients per arm): ``power`` under the
        central parameters, and with parameter draws ``power_q0.025``, ``power_median``,
        ``power_q0.975`` and ``assurance`` (the power averaged over the draws).
    required : pandas.DataFrame
        One row per comparison: ``n_required`` (patients per arm for the target power under
        the central parameters; empty above ``n_max``), ``power_at_n``, with resampling
        ``power_resampled`` and ``resampled_se``, and with draws
        ``n_q0.025``, ``n_median``, ``n_q0.975`` and ``p_reachable`` (fraction of draws in
        which `n_max` patients per arm suffice); the quantiles count unreachable draws as
        infinite.
    n_draws : int
        Parameter draws (0: central parameters only).
    wall_time : float
        Seconds.
    """

    trial: Trial
    comparisons: tuple[Comparison, ...]
    target: float
    power: pd.DataFrame
    required: pd.DataFrame
    n_draws: int
    wall_time: float

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{c.endpoint} n={_fmt_n(float(v))}"
            for c, v in zip(self.comparisons, self.required["n_required"], strict=True)
        )
        return (
            f"DesignResult({self.trial.id}: power {self.target:g}: {parts}; "
            f"{self.n_draws} parameter draws, {self.wall_time:.1f} s)"
        )

    def plot(self) -> Figure:
        """Power curves: power against patients per arm, one line per comparison.

        With parameter draws, each line has its 95% band over them; the target is a dashed
        line.

        Returns
        -------
        matplotlib.figure.Figure
            A new figure.
        """
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
        for i, c in enumerate(self.comparisons):
            sub = self.power[self.power.comparison == c.label]
            line = ax.plot(sub["n"], sub["power"], "-", lw=1.5, label=c.label)[0]
            if self.n_draws:
                ax.fill_between(sub["n"], sub["power_q0.025"], sub["power_q0.975"],
                                color=line.get_color(), alpha=0.2, lw=0)  # fmt: skip
            n_req = self.required.iloc[i]["n_required"]
            if n_req == n_req:  # not NaN
                ax.plot([n_req], [self.target], "o", color=line.get_color(), ms=4)
        ax.axhline(self.target, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("patients per arm")
        ax.set_ylabel("power")
        ax.set_ylim(0, 1.02)
        band = f"; bands: 95% over {self.n_draws} parameter draws" if self.n_draws else ""
        ax.set_title(f"{self.trial.id}: power by arm size{band}", fontsize=9)
        ax.legend(fontsize=7, frameon=False, loc="lower right")
        return fig


def _fmt_n(n: float) -> str:
    return f">{N_MAX}" if n != n else f"{int(n)}"


def design(
    trial: Trial | str,
    comparisons: Sequence[Comparison] | None = None,
    n: Sequence[int] = (),
    *,
    target: float = 0.8,
    params: ParameterSet | None = None,
    draws: Sequence[ParameterSet] = (),
    n_sim: int = 1000,
    seed: int = 1,
    n_max: int = N_MAX,
    resample: int = 0,
    progress: Any = None,
) -> DesignResult:
    """Power and sample size of a proposed two-arm trial under the model.

    Parameters
    ----------
    trial : Trial or str
        The design: a trial file (arms with their regimens, entry criteria, endpoint
        definitions) or a shipped trial name.  Published findings in it are not used, except
        that its comparison findings are the default `comparisons`.
    comparisons : sequence of Comparison, optional
        Planned comparisons (default: the trial's comparison findings).
    n : sequence of int, optional
        Patients per arm at which the power is tabulated (default: 10 to 400, and the required
        sizes).
    target : float
        Target power (fraction).
    params : ParameterSet, optional
        Central parameters (default: the shipped calibrated set).
    draws : sequence of ParameterSet, optional
        Posterior parameter draws (:func:`pdmodel.calibration.posterior_draws` or
        :func:`pdmodel.calibration.chain_draws`) for the uncertainty columns.
    n_sim : int
        Virtual patients per arm of each simulation (the same patients for every draw).
    seed : int
        Seed of the virtual patients.
    n_max : int
        Largest arm size searched for the required size.
    resample : int
        If > 0, check each required size with this many resampled trials
        (:func:`resampled_power`, central parameters): columns ``power_resampled`` and
        ``resampled_se`` of :attr:`DesignResult.required`.
    progress : callable, optional
        Called as ``progress(done, total)`` after each simulation.

    Returns
    -------
    DesignResult
        Power per comparison and arm size, and the required sizes.
    """
    import pandas as pd

    from ..shipped import calibrated_parameters

    t0 = time.perf_counter()
    design_ = trial if isinstance(trial, Trial) else load(trial)
    if comparisons is None:
        comparisons = [
            Comparison.from_finding(f)
            for f in design_.findings
            if f.type == "comparison" and ENDPOINTS[f.endpoint][0] != "not modelled"
        ]
        if not comparisons:
            raise OptionError(
                f"{design_.id}: the trial has no comparison findings; give the comparisons "
                "(e.g. --compare initial_response:a>b)"
            )
    arm_names = [a.name for a in design_.arms]
    for c in comparisons:
        for arm in c.arms:
            if arm not in arm_names:
                raise OptionError(
                    f"comparison `{c.label}`: no arm `{arm}` in {design_.id} (arms: "
                    f"{', '.join(arm_names)})"
                )
    n_sim = check_whole(n_sim, "n_sim", 10, OptionError)
    given = {check_whole(x, "n per arm", 2, OptionError) for x in n}  # before any simulation
    base = params if params is not None else calibrated_parameters()
    sets = [base, *draws]

    results = []
    for i, p in enumerate(sets):
        results.append(simulate_trial(design_, p, n_sim, seed, progress=False))
        if progress is not None:
            progress(i + 1, len(sets))
    central, summaries = results[0], [r.summaries for r in results]
    need = np.array([[np.nan if (r := required_n(c, s, target, n_max)) is None else r
                      for c in comparisons] for s in summaries], dtype=float)  # fmt: skip
    grid = sorted(given or {*DEFAULT_GRID, *(int(v) for v in need[0] if v == v)})
    rows = []
    for c in comparisons:
        for x in grid:
            pw = np.array([comparison_power(c, s, x) for s in summaries])
            row: dict[str, Any] = {"comparison": c.label, "endpoint": c.endpoint, "n": x,
                                   "power": pw[0]}  # fmt: skip
            if draws:
                q = np.quantile(pw[1:], [0.025, 0.5, 0.975])
                row |= {"power_q0.025": q[0], "power_median": q[1], "power_q0.975": q[2],
                        "assurance": float(pw[1:].mean())}  # fmt: skip
            rows.append(row)
    req = []
    for j, c in enumerate(comparisons):
        n0 = need[0, j]
        at_n = comparison_power(c, summaries[0], int(n0)) if n0 == n0 else math.nan
        row = {"comparison": c.label, "endpoint": c.endpoint, "target": target,
               "n_required": n0, "power_at_n": at_n}  # fmt: skip
        if resample:
            pr = resampled_power(central, c, int(n0), resample, seed) if n0 == n0 else math.nan
            row |= {"power_resampled": pr,
                    "resampled_se": math.sqrt(pr * (1 - pr) / resample)}  # fmt: skip
        if draws:
            v = np.where(np.isnan(need[1:, j]), np.inf, need[1:, j])
            q = np.quantile(v, [0.025, 0.5, 0.975], method="inverted_cdf")
            row |= {"n_q0.025": q[0], "n_median": q[1], "n_q0.975": q[2],
                    "p_reachable": float(np.isfinite(v).mean())}  # fmt: skip
        req.append(row)
    return DesignResult(design_, tuple(comparisons), target, pd.DataFrame(rows),
                        pd.DataFrame(req), len(draws), time.perf_counter() - t0)  # fmt: skip
