r"""Calibration of the model to published trial outcomes with lmfit.

The objective is minus twice the log posterior (MAP; design decision D8), summed over the
findings of any list of trials:

* **proportion** (k of n): binomial deviance
  ``2 [k ln(k / n p) + (n - k) ln((n - k) / n (1 - p))]``;
* **mean** (mean, SD, n): ``((mean - mu) / (SD / sqrt(n)))^2``;
* **median** with a range: the same with ``SE = (high - low) / 4 / sqrt(n)``;
* **comparison** / **change**: ``-2 ln P`` where ``P`` is the probability that a replicate
  trial of the published size reaches the published verdict (same direction and significance
  at the published alpha), from the model's predicted per-arm outcome distributions
  (:mod:`pdmodel.stats`); when the finding gives the published P value (``p``), instead
  ``(z - mu)^2``: its z statistic against the replicate trial's mean z statistic under the
  model (:func:`pdmodel.trials.p_value_term`);
* **prior** of every free parameter with a prior: ``((ln theta - ln theta_0) / sd)^2``.

Endpoints are computed with smooth thresholds (:func:`pdmodel.endpoints.smooth_patient_endpoints`,
width 0.05 in log-platelets) on a virtual population drawn once from a fixed seed (common random
numbers), so the objective is a deterministic, continuous function of the parameters.  lmfit's
``least_squares`` sees the square roots of the terms as a residual vector.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import numbers
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._progress import want_progress
from .errors import ParameterError, PDModelError, check_whole
from .parameters import (
    ParameterSet,
    parameters_or_default,
    unknown_parameter_message,
)
from .solver import process_pool
from .trials import (
    Trial,
    _trial_list,
    evaluate_finding,
    load,
    p_value_term,
    simulate_trial,
    simulate_trials,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_FREE",
    "DEFAULT_TRIALS",
    "CalibrationError",
    "FitResult",
    "Objective",
    "SampleResult",
    "Term",
    "fit",
    "load_fit",
    "predictive_bands",
    "profile",
    "sample",
    "sensitivity",
]

#: Parameters estimated by default (see docs/calibration.md for the identifiability analysis).
DEFAULT_FREE: tuple[str, ...] = (
    "k_ab",
    "omega_k_ab",
    "gc_imax_mac",
    "gc_ec50",
    "omega_gc_ec50",
    "gc_kill",
    "clone_r",
    "clone_death",
    "il11_smax",
    "il11_ec50",
    "il11_kpol",
    "th1_k",
    "teff_k",
    "ab_assay_sd",
)

#: Trials fitted by default.
DEFAULT_TRIALS: tuple[str, ...] = ("wu2016", "wei2016_prednisone")

_P_FLOOR = 1e-10

#: lmfit methods :func:`fit` accepts for its local stage (least-squares and scalar minimisers;
#: an unknown name used to be passed on to lmfit, which ran a default method instead).
FIT_METHODS: tuple[str, ...] = (
    "least_squares", "leastsq", "nelder", "powell", "lbfgsb", "l-bfgsb", "bfgs", "cg", "tnc",
    "cobyla", "slsqp", "trust-constr", "differential_evolution", "basinhopping", "ampgo",
    "shgo", "dual_annealing",
)  # fmt: skip


class CalibrationError(PDModelError, ValueError):
    """A calibration input is invalid or the objective cannot be evaluated."""


@dataclass(frozen=True)
class Term:
    """One contribution to the objective.

    Attributes
    ----------
    trial : str
        Trial id (``"prior"`` for prior terms).
    label : str
        The finding (or parameter) it belongs to.
    kind : str
        ``proportion``, ``mean``, ``median``, ``comparison``, ``change`` or ``prior``.
    value : float
        Contribution to -2 log posterior.
    model : str
        The model's prediction in words.
    probability : float or None
        For comparisons and changes: P(a replicate trial reproduces the finding).
    """

    trial: str
    label: str
    kind: str
    value: float
    model: str = ""
    probability: float | None = None


class Objective:
    """-2 log posterior of a parameter vector given trial findings.

    Parameters
    ----------
    trials : sequence of Trial
        Trials whose findings are fitted.
    base : ParameterSet
        Values of the parameters that are not free (and the prior centres).
    free : sequence of str
        Names of the estimated parameters.
    n_per_arm : int
        Virtual patients per arm.
    seed : int
        Seed of the virtual populations (common random numbers).
    width : float
        Smooth-threshold width in log-platelets.
    rtol : float
        Relative tolerance of the engine.  The default 1e-6 keeps simulated observables within
        about 1e-4 of a tight reference solve (docs/engine.md) and is about 15% faster than the
        simulation default 3e-7.
    workers : int
        Processes sharing the virtual patients of each evaluation (same value; worth it from
        about 1,000 patients per arm).  Call :meth:`close` (or use ``with``) to stop them.
    prior_scale : float
        Factor (dimensionless, > 0) on every prior SD of the parameter table: 1 is the table's
        priors, larger values weaken them (prior sensitivity; ``--prior-scale``).
    """

    def __init__(
        self,
        trials: Sequence[Trial],
        base: ParameterSet,
        free: Sequence[str],
        n_per_arm: int = 500,
        seed: int = 1,
        width: float = 0.05,
        rtol: float = 1e-6,
        workers: int = 1,
        prior_scale: float = 1.0,
    ) -> None:
        trials = _trial_list(trials, "fit")
        base = parameters_or_default(base, "base")
        _whole(workers, "workers", 1)
        _whole(n_per_arm, "n_per_arm", 1)
        _whole(seed, "seed", 0)
        for what, x in (("width", width), ("rtol", rtol)):
            _positive_number(x, f"`{what}`")
        free = _free_names(free)
        if not free:
            raise CalibrationError("give at least one free parameter")
        for name in free:
            if name not in base:
                raise CalibrationError(unknown_parameter_message(name, base))
        if len(set(free)) != len(free):
            raise CalibrationError(f"free parameters are repeated: {list(free)}")
        from .endpoints import ENDPOINTS

        if not any(ENDPOINTS[f.endpoint][0] != "not modelled" for t in trials for f in t.findings):
            raise CalibrationError("the trials hold no modelled findings to fit")
        self.trials = tuple(trials)
        self.base = base
        self.free = tuple(free)
        self.n_per_arm = int(n_per_arm)
        self.seed = int(seed)
        self.width = float(width)
        self.rtol = float(rtol)
        self.workers = int(workers)
        self.prior_scale = _prior_scale(prior_scale)
        self.n_evaluations = 0
        self._pool: Any = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_pool"] = None  # a process pool does not travel to other processes
        return state

    def __enter__(self) -> Objective:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes (if any); the objective stays usable."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _executor(self) -> tuple[Any, int | None]:
        if self.workers == 1:
            return None, None
        if self._pool is None:
            self._pool = process_pool(self.workers)
        total = self.n_per_arm * sum(len(t.arms) for t in self.trials)
        return self._pool, -(-total // self.workers)

    def params(self, values: Sequence[float] | np.ndarray) -> ParameterSet:
        """Parameter set with the free parameters set to `values` (validated)."""
        if len(values) != len(self.free):
            raise CalibrationError(f"expected {len(self.free)} values, got {len(values)}")
        return self.base.replace(**dict(zip(self.free, (float(v) for v in values), strict=True)))

    def terms(self, params: ParameterSet) -> list[Term]:
        """Every contribution to the objective at `params`."""
        self.n_evaluations += 1
        out: list[Term] = []
        executor, chunk = self._executor()
        results = simulate_trials(
            self.trials,
            params,
            self.n_per_arm,
            self.seed,
            smooth_width=self.width,
            progress=False,
            daily=False,
            rtol=self.rtol,
            executor=executor,
            chunk_size=chunk,
        )
        for trial, res in zip(self.trials, results, strict=True):
            assert res.smooth is not None
            for f in trial.findings:
                # (the typical P value only where a published one is there to compare with)
                r = evaluate_finding(f, trial, res.smooth, typical_p=f.p is not None)
                if r.status == "not modelled":
                    continue
                model = r.model
                if f.p is not None:  # a published P value: fit to it, not to the verdict
                    value = p_value_term(f, trial, res.smooth)
                    model += f"; typical P {r.typical_p:.2g}"
                else:
                    value = _finding_term(f, res.smooth, r.probability)
                out.append(Term(trial.id, f.describe(), f.type, value, model, r.probability))
        for name in self.free:
            if self.base.table[name].prior_sd is None:
                continue
            value = _prior_term(params, name, self.prior_scale)
            out.append(Term("prior", name, "prior", value, f"{params[name]:.4g}"))
        for t in out:
            if not math.isfinite(t.value):
                raise CalibrationError(
                    f"the objective is not finite for {t.trial}: {t.label} at {dict(params)}"
                )
        return out

    def __call__(self, params: ParameterSet) -> float:
        """Total -2 log posterior."""
        return float(sum(t.value for t in self.terms(params)))

    def residuals(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        """Square roots of the terms (lmfit's residual vector)."""
        return np.sqrt(np.maximum([t.value for t in self.terms(self.params(values))], 0.0))


def _finding_term(f: Any, smooth: Any, probability: float | None) -> float:
    """-2 log L of one finding.

    Numeric findings account for the Monte-Carlo error of the model's prediction, which comes
    from a finite virtual population of ``s.n`` patients: the variance of the difference is
    that of the published value plus that of the prediction (for a proportion, the binomial
    deviance is divided by ``1 + n_published / n_simulated``).
    """
    if f.type in ("comparison", "change"):
        return -2.0 * math.log(max(probability if probability is not None else 0.0, _P_FLOOR))
    s = smooth[f.arm][f.endpoint]
    n_sim = max(s.n, 1)
    if f.type == "proportion":
        n = f.n
        k = f.value * n
        p = min(max(s.value, _P_FLOOR), 1 - _P_FLOOR)
        dev = 0.0
        if k > 0:
            dev += k * math.log(k / (n * p))
        if n - k > 0:
            dev += (n - k) * math.log((n - k) / (n * (1 - p)))
        return 2.0 * dev / (1.0 + n / n_sim)
    if f.type == "mean":
        var = max(f.sd, 1e-12) ** 2 / f.n + s.sd**2 / n_sim
        return (f.mean - s.value) ** 2 / var
    if f.low is None or f.high is None:
        raise CalibrationError(f"median finding {f.describe()} needs `low` and `high` to be fitted")
    sd = max((f.high - f.low) / 4.0, 1e-12)
    var = sd**2 / f.n + sd**2 / n_sim
    return (f.median - s.median) ** 2 / var


@dataclass(frozen=True)
class FitResult:
    """Result of :func:`fit`.

    Attributes
    ----------
    params : ParameterSet
        Estimated parameter set (free parameters at their MAP values).
    free : tuple of str
        Estimated parameters.
    stderr : dict of str to float
        Standard errors from the Gauss-Newton curvature at the optimum (NaN if unavailable).
    ci95 : dict of str to (float, float)
        Approximate 95% intervals, symmetric on the log scale for positive parameters and
        clipped to the parameter's bounds.
    correl : dict of (str, str) to float
        Correlations of the estimates.
    objective : float
        -2 log posterior at the optimum.
    terms : tuple of Term
        Its contributions.
    success : bool
        Whether the optimiser reported convergence.
    message : str
        Optimiser message.
    nfev : int
        Objective evaluations.
    provenance : dict
        Package version, trials and file hashes, seed, n per arm, width, rtol, method,
        prior_scale, starts with each start's objective and evaluations, date, wall time.
    """

    params: ParameterSet
    free: tuple[str, ...]
    stderr: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    correl: dict[tuple[str, str], float]
    objective: float
    terms: tuple[Term, ...]
    success: bool
    message: str
    nfev: int
    provenance: dict[str, Any] = field(default_factory=dict)

    def moved(self) -> dict[str, bool]:
        """Whether the data moved each free parameter: posterior log-SD < 0.7 x prior SD.

        The prior SD is the table's times the fit's ``prior_scale``.
        """
        out = {}
        scale = _settings(self)["prior_scale"]
        for name in self.free:
            sd = self.params.table[name].prior_sd
            sd = None if sd is None else sd * scale
            se = self.stderr.get(name, math.nan)
            v = self.params[name]
            rel = se / v if v > 0 and math.isfinite(se) else math.inf
            out[name] = bool(sd is not None and rel < 0.7 * sd)
        return out

    def _prior(self, name: str) -> str:
        """The prior the fit used for `name` (the table's, its SD times ``prior_scale``)."""
        spec = self.params.table[name]
        scale = _settings(self)["prior_scale"]
        if scale == 1.0 or spec.prior_sd is None or spec.fixed:
            return spec.prior
        return f"lognormal(ln {spec.value:g}, {spec.prior_sd * scale:.3g})"

    def parameter_table(self) -> pd.DataFrame:
        """Estimates with SE, 95% interval, prior and whether the data moved them."""
        import pandas as pd

        moved = self.moved()
        rows = []
        for name in self.free:
            spec = self.params.table[name]
            lo, hi = self.ci95[name]
            rows.append(
                {
                    "parameter": name,
                    "estimate": self.params[name],
                    "unit": spec.unit,
                    "stderr": self.stderr[name],
                    "ci95_low": lo,
                    "ci95_high": hi,
                    "prior": self._prior(name),
                    "moved_by_data": moved[name],
                }
            )
        return pd.DataFrame(rows)

    def terms_table(self) -> pd.DataFrame:
        """Every objective term with the model's prediction and replicate probability."""
        import pandas as pd

        return pd.DataFrame([t.__dict__ for t in self.terms])

    def report(self) -> str:
        """Readable fit report."""
        lines = [
            f"objective (-2 log posterior): {self.objective:.3f}   evaluations: {self.nfev}   "
            f"converged: {self.success} ({self.message})",
            *(
                [f"priors: the table's log-normal SDs x {scale:g} (prior_scale)"]
                if (scale := _settings(self)["prior_scale"]) != 1.0
                else []
            ),
            "",
            "parameter".ljust(16) + "estimate".rjust(12) + "stderr".rjust(11)
            + "   95% interval".ljust(26) + "prior".ljust(26) + "moved by data",
        ]  # fmt: skip
        moved = self.moved()
        for name in self.free:
            lo, hi = self.ci95[name]
            lines.append(
                name.ljust(16) + f"{self.params[name]:12.4g}" + f"{self.stderr[name]:11.3g}"
                + f"   [{lo:.3g}, {hi:.3g}]".ljust(26) + self._prior(name).ljust(26)
                + ("yes" if moved[name] else "no (prior-dominated)")
            )  # fmt: skip
        # the term column fits its longest label and the model is the last column: nothing is
        # cut off
        width = max([len("term")] + [len(f"{t.trial}: {t.label}") for t in self.terms]) + 2
        lines += ["", "term".ljust(width) + "-2 log L".rjust(10) + "  P(replicate)  model"]
        for t in self.terms:
            prob = "" if t.probability is None else f"{t.probability:.3f}"
            value = f"{t.value:10.3f}".replace("-0.000", " 0.000")  # rounding noise of 0
            lines.append(f"{t.trial}: {t.label}".ljust(width) + value + f"  {prob:12s}  {t.model}")
        return "\n".join(lines) + "\n"


def _starts(base: ParameterSet, free: Sequence[str], n: int, seed: int) -> list[dict[str, float]]:
    """The given start, then `n - 1` draws from the priors (clipped to the bounds)."""
    rng = np.random.default_rng(seed)
    out = [{k: base[k] for k in free}]
    for _ in range(n - 1):
        d = {}
        for k in free:
            spec = base.table[k]
            sd = spec.prior_sd or 0.0
            v = spec.value * math.exp(sd * rng.standard_normal()) if spec.value > 0 else spec.value
            d[k] = min(max(v, spec.lower), spec.upper)
        out.append(d)
    return out


@dataclass(frozen=True)
class _Local:
    index: int
    values: dict[str, float]
    value: float
    success: bool
    message: str
    nfev: int


def _local_fit(
    obj: Objective,
    start: dict[str, float],
    method: str,
    max_nfev: int | None,
    show: bool,
    callback: Callable[[int, float], None] | None,
    index: int,
) -> _Local:
    """One local lmfit minimisation from `start` (runs in a worker process when parallel)."""
    import lmfit

    names = obj.free
    n0 = obj.n_evaluations
    lp = lmfit.Parameters()
    for name in names:
        spec = obj.base.table[name]
        lp.add(name, value=min(max(start[name], spec.lower), spec.upper), min=spec.lower,
               max=spec.upper)  # fmt: skip

    def residual(p: Any) -> np.ndarray:
        r = obj.residuals([p[k].value for k in names])
        total = float(np.sum(r * r))
        if show:
            print(
                f"  start {index + 1}, evaluation {obj.n_evaluations - n0}: "
                f"-2 log posterior {total:.3f}",
                file=sys.stderr,
                flush=True,
            )
        if callback is not None:
            callback(obj.n_evaluations, total)
        return r

    kws: dict[str, Any] = {}
    if method == "least_squares":
        # the objective has a noise floor (whole treatment days, solver tolerance): stop when
        # a step improves it by less than 1e-4 relative instead of chasing that noise
        kws = {"diff_step": 1e-3, "x_scale": "jac", "ftol": 1e-4, "xtol": 1e-4}
    if max_nfev is not None:
        kws["max_nfev"] = max_nfev
    try:
        out = lmfit.minimize(residual, lp, method=method, **kws)
    except ParameterError as exc:
        raise CalibrationError(str(exc)) from None
    return _Local(
        index=index,
        values={k: float(out.params[k].value) for k in names},
        value=float(np.sum(np.asarray(out.residual) ** 2)),
        success=bool(out.success) and not bool(getattr(out, "aborted", False)),
        message=str(getattr(out, "message", "")),
        nfev=obj.n_evaluations - n0,
    )


def _curvature(
    obj: Objective, at: ParameterSet, names: Sequence[str], workers: int
) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """Standard errors and correlations from the Gauss-Newton curvature at `at`.

    The residuals r satisfy sum r^2 = -2 log posterior, so the approximate posterior covariance
    is (J^T J)^-1 with J the Jacobian of r (central differences, relative step 1e-3, one-sided
    at a bound).  NaN where the curvature is singular.
    """
    x0 = np.array([at[k] for k in names])
    cols = []
    for j, k in enumerate(names):
        spec = at.table[k]
        h = 1e-3 * max(abs(x0[j]), 1e-8)
        hi, lo = min(x0[j] + h, spec.upper), max(x0[j] - h, spec.lower)
        xs_hi, xs_lo = x0.copy(), x0.copy()
        xs_hi[j], xs_lo[j] = hi, lo
        cols.append((xs_hi, xs_lo, hi - lo))
    points = [p for c in cols for p in c[:2]]
    if workers > 1:
        with process_pool(workers) as ex:
            res = list(ex.map(obj.residuals, points))
    else:
        res = [obj.residuals(p) for p in points]
    obj.n_evaluations += len(points) if workers > 1 else 0
    jac = np.column_stack([(res[2 * j] - res[2 * j + 1]) / cols[j][2] for j in range(len(names))])
    stderr = {k: math.nan for k in names}
    correl: dict[tuple[str, str], float] = {}
    info = jac.T @ jac
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return stderr, correl
    d = np.diag(cov)
    if not np.all(np.isfinite(d)) or np.any(d <= 0):
        return stderr, correl
    sd = np.sqrt(d)
    for i, a in enumerate(names):
        stderr[a] = float(sd[i])
        for j, b in enumerate(names):
            if i != j:
                correl[(a, b)] = float(cov[i, j] / (sd[i] * sd[j]))
    return stderr, correl


def _interval95(value: float, se: float, lower: float, upper: float) -> tuple[float, float]:
    """95% interval from a standard error: symmetric on the log scale for a positive value
    (else on the natural scale), within the bounds; NaN when the standard error is unknown.

    A parameter the data do not determine can have a log-scale SD far beyond any float range;
    its interval is then the whole bounded range (not an overflow).
    """
    if not math.isfinite(se):
        return (math.nan, math.nan)
    if value > 0:
        log_half = min(1.959963984540054 * se / value, 700.0)  # exp(700) is finite
        f = math.exp(log_half)
        return (max(value / f, lower), min(value * f, upper))
    half = 1.959963984540054 * se
    return (max(value - half, lower), min(value + half, upper))


def fit(
    trials: Sequence[Trial | str] | None = None,
    params: ParameterSet | None = None,
    free: Sequence[str] | None = None,
    n_per_arm: int = 300,
    seed: int = 1,
    method: str = "least_squares",
    starts: int = 1,
    width: float = 0.05,
    max_nfev: int | None = None,
    progress: bool | None = None,
    callback: Callable[[int, float], None] | None = None,
    rtol: float = 1e-6,
    workers: int = 1,
    uncertainty: bool = True,
    prior_scale: float = 1.0,
) -> FitResult:
    """Estimate parameters from trial findings (MAP, lmfit).

    Parameters
    ----------
    trials : sequence of Trial or str, optional
        Trials (objects, shipped names or file paths); default :data:`DEFAULT_TRIALS`.
    params : ParameterSet, optional
        Start values and fixed values (default: package defaults).
    free : sequence of str, optional
        Parameters to estimate (default :data:`DEFAULT_FREE`).
    n_per_arm : int
        Virtual patients per arm (common random numbers).
    seed : int
        Seed of the virtual populations and of the multi-start draws.
    method : str
        lmfit method for the local stage, one of :data:`FIT_METHODS` (``least_squares``
        recommended: it uses the signed residuals; ``nelder`` works too).
    starts : int
        Local fits from the start values and from ``starts - 1`` prior draws; the best is kept.
    width : float
        Smooth-threshold width, log-platelets.
    max_nfev : int, optional
        Evaluation budget per local fit, as the optimiser counts it: for ``least_squares`` the
        evaluations at trial points, not those of its finite-difference Jacobians (one per
        free parameter per iteration), which :attr:`FitResult.nfev` and the provenance's
        ``start_evaluations`` include.
    progress : bool, optional
        Print progress to stderr (default: on a terminal).
    callback : callable, optional
        Called as ``callback(evaluation, objective)`` after each evaluation.
    rtol : float
        Relative tolerance of the engine (see :class:`Objective`).
    workers : int
        Processes: with several starts, the local fits run side by side; with one start, each
        evaluation's virtual patients are shared out.  The result does not depend on it.
        `callback` needs 1 (or a single start).
    uncertainty : bool
        Compute standard errors, intervals and correlations (2 evaluations per free parameter;
        :func:`profile` turns it off for its refits).
    prior_scale : float
        Factor (dimensionless, > 0) on every prior SD (1: the table's priors).  A prior
        sensitivity analysis: how far the findings alone would move the estimates.  Recorded
        in the provenance and used again by :func:`profile`, :func:`sample` and
        :meth:`FitResult.moved`; the multi-start draws keep the table's priors.

    Returns
    -------
    FitResult

    Raises
    ------
    CalibrationError
        Unknown free parameter, a start outside the bounds, a non-finite objective.
    """
    base = parameters_or_default(params)
    names = _free_names(free) if free is not None else DEFAULT_FREE
    designs = _designs(trials, DEFAULT_TRIALS)
    if not isinstance(method, str) or method not in FIT_METHODS:
        raise CalibrationError(
            f"unknown fit method {method!r}; use one of {', '.join(FIT_METHODS)}"
        )
    if max_nfev is not None:
        _whole(max_nfev, "max_nfev", 1)
    _whole(workers, "workers", 1)
    n_starts = _whole(starts, "starts", 1)
    # several starts: the starts run side by side; one start: each evaluation is shared
    obj_workers = workers if n_starts == 1 else 1
    obj = Objective(designs, base, names, n_per_arm, seed, width, rtol, obj_workers, prior_scale)
    for name in names:
        spec = base.table[name]
        if spec.lower == spec.upper:
            raise CalibrationError(f"`{name}` has equal bounds; it cannot be estimated")
    if callback is not None and workers > 1 and n_starts > 1:
        raise CalibrationError(
            "`callback` needs workers = 1 with several starts (it cannot run in other processes)"
        )
    show = want_progress(progress)
    clock = time.perf_counter()
    try:
        starts_list = _starts(base, names, n_starts, seed)
        n_before = obj.n_evaluations
        if workers == 1 or len(starts_list) == 1:
            locals_ = [
                _local_fit(obj, st, method, max_nfev, show, callback, i)
                for i, st in enumerate(starts_list)
            ]
        else:
            with process_pool(min(workers, len(starts_list))) as ex:
                futures = [
                    ex.submit(_local_fit, obj, st, method, max_nfev, show, None, i)
                    for i, st in enumerate(starts_list)
                ]
                locals_ = [f.result() for f in futures]
        obj.n_evaluations = n_before + sum(r.nfev for r in locals_)  # also those in workers
        best = min(locals_, key=lambda r: r.value)  # ties: the first start
        final = obj.params([best.values[k] for k in names])
        terms = obj.terms(final)
        if uncertainty:
            stderr, correl = _curvature(obj, final, names, 1 if obj.workers > 1 else workers)
        else:
            stderr, correl = {k: math.nan for k in names}, {}
    finally:
        obj.close()  # worker processes of a shared objective, if any
    ci = {k: _interval95(final[k], stderr[k], final.table[k].lower, final.table[k].upper)
          for k in names}  # fmt: skip
    from . import __version__

    provenance = {
        "pdmodel_version": __version__,
        "trials": [{"id": t.id, "file": t.origin, "sha256": t.sha256} for t in designs],
        "free": list(names),
        "seed": obj.seed,
        "n_per_arm": obj.n_per_arm,
        "width": obj.width,
        "rtol": obj.rtol,
        "method": method,
        "prior_scale": obj.prior_scale,
        "starts": int(starts),
        "best_start": best.index,
        "start_objectives": [round(r.value, 4) for r in locals_],
        "start_evaluations": [r.nfev for r in locals_],
        "workers": int(workers),
        "objective": float(sum(t.value for t in terms)),
        "evaluations": obj.n_evaluations,
        "wall_time_s": round(time.perf_counter() - clock, 1),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "start_values_sha256": hashlib.sha256(
            repr(sorted((k, base[k]) for k in base)).encode()
        ).hexdigest(),
    }
    return FitResult(
        params=final,
        free=names,
        stderr=stderr,
        ci95=ci,
        correl=correl,
        objective=float(sum(t.value for t in terms)),
        terms=tuple(terms),
        success=best.success,
        message=best.message,
        nfev=obj.n_evaluations,
        provenance=provenance,
    )


def profile(
    result: FitResult,
    name: str,
    values: Sequence[float],
    trials: Sequence[Trial | str] | None = None,
    max_nfev: int = 60,
    workers: int = 1,
) -> list[tuple[float, float]]:
    """Profile likelihood of one parameter: refit the others at each fixed value.

    Parameters
    ----------
    result : FitResult
        The fit (its provenance gives the virtual patients, smoothing and tolerance).
    name : str
        Estimated parameter to profile.
    values : sequence of float
        Values of `name` (its unit).
    trials : sequence of Trial or str, optional
        Trials (default: those of the fit's provenance).
    max_nfev : int
        Evaluation budget of each refit.
    workers : int
        Processes refitting the grid points side by side (same result).

    Returns
    -------
    list of (float, float)
        ``(value, -2 log posterior)`` pairs; a rise of 3.84 above the minimum bounds the 95%
        profile interval.
    """
    if name not in result.free:
        raise CalibrationError(f"`{name}` was not estimated; estimated: {list(result.free)}")
    _whole(workers, "workers", 1)
    designs = _designs(trials, _trial_sources(result))
    tasks = [(result, name, float(v), designs, max_nfev) for v in values]
    if workers == 1 or len(tasks) == 1:
        return [_profile_point(t) for t in tasks]
    with process_pool(min(workers, len(tasks))) as ex:
        return list(ex.map(_profile_point, tasks))


def _profile_point(
    task: tuple[FitResult, str, float, tuple[Trial, ...], int],
) -> tuple[float, float]:
    result, name, v, designs, max_nfev = task
    others = [k for k in result.free if k != name]
    start = result.params.replace(**{name: v})
    if others:
        r = fit(designs, start, others, max_nfev=max_nfev, progress=False, uncertainty=False,
                **_settings(result))  # fmt: skip
        return (v, r.objective + _prior_term(start, name, _settings(result)["prior_scale"]))
    return (v, Objective(designs, start, [name], **_settings(result))(start))


def load_fit(path: str | os.PathLike[str], base: ParameterSet | None = None) -> FitResult:
    """Read a fit back from the JSON file :func:`pdmodel.save_parameters` wrote with ``fit=``.

    The result carries the estimates, standard errors, intervals, correlations, objective terms
    and provenance, so that :func:`predictive_bands`, :func:`profile` and the reports work on a
    shipped or saved fit without refitting (e.g. ``load_fit(".../pdmodel/data/calibrated.json")``).

    Parameters
    ----------
    path : path-like
        JSON parameter file written with a fit.
    base : ParameterSet, optional
        Values of parameters absent from the file (default: the package table).

    Raises
    ------
    CalibrationError
        The file holds no fit (it was written without ``fit=``), or its fit section is
        malformed; the message names the file.
    ParameterError
        As for :func:`pdmodel.load_parameters`.
    """
    fit = _read_fit(path, base, required=True)
    assert fit is not None  # required: raised otherwise
    return fit


def _read_fit(
    path: str | os.PathLike[str], base: ParameterSet | None, required: bool
) -> FitResult | None:
    """:func:`load_fit`; with `required` False, None for a file that holds no fit (a CSV
    file, or JSON written without ``fit=``) instead of an error.  A malformed fit section is
    an error either way."""
    import json

    from .io import load_parameters

    src = Path(path)
    if src.suffix.lower() != ".json":
        if not required:
            return None
        raise CalibrationError(
            f"{src}: a fit is kept only in the JSON file that `pdmodel fit --out FILE.json` "
            "(or save_parameters(..., fit=...)) writes"
        )
    params = load_parameters(src, base)  # validates the file (and names it in errors)
    body = json.loads(src.read_text(encoding="utf-8"))
    fit_body, prov = body.get("fit"), body.get("provenance")
    if fit_body is None and not required:
        return None
    if not isinstance(fit_body, dict) or not isinstance(prov, dict):
        raise CalibrationError(
            f"{src} holds a parameter set but no fit (save it with save_parameters(..., fit=...))"
        )
    try:
        free = tuple(str(k) for k in prov["free"])
        entries = body["parameters"]

        def num(x: Any) -> float:
            return math.nan if x is None else float(x)

        stderr = {k: num(entries[k].get("stderr")) for k in free}
        ci95 = {k: (num(entries[k]["ci95"][0]), num(entries[k]["ci95"][1])) for k in free}
        correl: dict[tuple[str, str], float] = {}
        for a, b, r in fit_body.get("correl", []):
            correl[(str(a), str(b))] = correl[(str(b), str(a))] = num(r)
        terms = tuple(
            Term(str(t["trial"]), str(t["term"]), str(t["kind"]), float(t["value"]),
                 str(t.get("model", "")), None if t.get("probability") is None
                 else float(t["probability"]))
            for t in fit_body["terms"]
        )  # fmt: skip
        _prior_scale(prov.get("prior_scale", 1.0))
        return FitResult(
            params, free, stderr, ci95, correl, float(fit_body["objective"]), terms,
            bool(fit_body["success"]), str(fit_body["message"]), int(prov["evaluations"]), prov,
        )  # fmt: skip
    except CalibrationError as exc:
        raise CalibrationError(f"{src}: malformed fit section ({exc})") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        # (AttributeError: a free parameter's entry given as a bare number, without stderr)
        raise CalibrationError(
            f"{src}: malformed fit section ({type(exc).__name__}: {exc})"
        ) from None


def _trial_sources(result: FitResult) -> list[str]:
    """The trials of a fit, as shipped names or file paths (from its provenance)."""
    return [
        t["file"] if not t["file"].startswith("pdmodel/") else t["id"]
        for t in result.provenance["trials"]
    ]


@dataclass(frozen=True)
class SampleResult:
    """Posterior sample from :func:`sample` (emcee through lmfit).

    Attributes
    ----------
    chain : pandas.DataFrame
        Retained draws (after burn-in and thinning, all walkers), one column per free parameter
        (parameter units) plus ``lnprob`` (log posterior, up to a constant).
    acceptance : float
        Mean acceptance fraction of the walkers.
    autocorr : dict of str to float
        Integrated autocorrelation time per parameter, in steps (emcee recommends chains of at
        least 50 autocorrelation times; see :attr:`long_enough`).
    summary : pandas.DataFrame
        Per parameter: MAP estimate, posterior median, 2.5% and 97.5% quantiles.
    provenance : dict
        Steps, walkers, burn-in, thinning, seed, evaluations, wall time, and the fit's provenance.
    """

    chain: pd.DataFrame
    acceptance: float
    autocorr: dict[str, float]
    summary: pd.DataFrame
    provenance: dict[str, Any]

    @property
    def long_enough(self) -> bool:
        """Whether the retained chain spans at least 50 autocorrelation times of every parameter.

        Autocorrelation times are taken as at least 1 step (estimates below that come from
        chains too short to estimate them), so at least 50 retained steps are needed.
        """
        kept = self.provenance["steps"] - self.provenance["burn"]
        taus = [t for t in self.autocorr.values() if math.isfinite(t)]
        return bool(taus) and kept >= 50 * max(1.0, *taus)


def sample(
    result: FitResult,
    steps: int = 200,
    walkers: int | None = None,
    burn: int | None = None,
    thin: int = 1,
    seed: int = 1,
    trials: Sequence[Trial | str] | None = None,
    progress: bool | None = None,
) -> SampleResult:
    """Sample the posterior around a fit with emcee (lmfit's ``Minimizer.emcee``).

    The log posterior is the fit's objective times -1/2 (the same findings, priors, virtual
    patients, smoothing and tolerance, from the fit's provenance) with the parameter table's
    bounds as hard limits.  Walkers start in a small ball around the MAP estimate.  Cost:
    ``steps x walkers`` objective evaluations (about 0.15 s each at 300 patients per arm on two
    cores).

    Parameters
    ----------
    result : FitResult
        Fit to sample around (:func:`fit`, or :func:`pdmodel.io.load_parameters` output refitted).
    steps : int
        Steps per walker.
    walkers : int, optional
        Number of walkers (default: twice the number of free parameters, at least 8).
    burn : int, optional
        Steps discarded at the start (default: a quarter of `steps`).
    thin : int
        Keep every `thin`-th step.
    seed : int
        Seed of the walkers' moves (the virtual patients keep the fit's seed).
    trials : sequence of Trial or str, optional
        Trials (default: those of the fit's provenance).
    progress : bool, optional
        Show emcee's progress bar (default: on a terminal).

    Returns
    -------
    SampleResult

    Raises
    ------
    MissingExtraError
        If emcee is not installed (``pip install "pdmodel[mcmc]"``).
    CalibrationError
        Bad step counts.
    """
    import importlib.util

    import lmfit
    import pandas as pd

    from .errors import MissingExtraError

    if importlib.util.find_spec("emcee") is None:
        raise MissingExtraError('posterior sampling needs emcee: pip install "pdmodel[mcmc]"')
    names = result.free
    n_walk = max(8, 2 * len(names)) if walkers is None else walkers
    n_burn = steps // 4 if burn is None else burn
    for key, v, lo in (("steps", steps, 2), ("walkers", n_walk, 2 * len(names)),
                       ("burn", n_burn, 0), ("thin", thin, 1)):  # fmt: skip
        _whole(v, key, lo)
    if n_burn >= steps:
        raise CalibrationError(f"`burn` ({n_burn}) must be below `steps` ({steps})")
    prov = result.provenance
    designs = _designs(trials, _trial_sources(result))
    obj = Objective(designs, result.params, names, **_settings(result))
    lp = lmfit.Parameters()
    for name in names:
        spec = result.params.table[name]
        lp.add(name, value=result.params[name], min=spec.lower, max=spec.upper)

    def residual(p: Any) -> np.ndarray:
        return obj.residuals([p[k].value for k in names])

    # start the walkers in a ball of 1% (relative) around the estimate, inside the bounds
    rng = np.random.default_rng(seed)
    centre = np.array([result.params[k] for k in names])
    lower = np.array([result.params.table[k].lower for k in names])
    upper = np.array([result.params.table[k].upper for k in names])
    ball = centre * (1.0 + 0.01 * rng.standard_normal((n_walk, len(names))))
    span = upper - lower
    ball = np.clip(ball, lower + 1e-6 * span, upper - 1e-6 * span)
    clock = time.perf_counter()
    mini = lmfit.Minimizer(residual, lp, nan_policy="raise")
    with contextlib.redirect_stdout(io.StringIO()):  # lmfit prints emcee's chain-length notes
        out = mini.emcee(
            params=lp, steps=steps, nwalkers=n_walk, burn=n_burn, thin=thin, pos=ball,
            is_weighted=True, seed=seed, progress=want_progress(progress),
        )  # fmt: skip
    sampler = mini.sampler
    chain = pd.DataFrame(
        sampler.get_chain(discard=n_burn, thin=thin, flat=True), columns=list(names)
    )
    chain["lnprob"] = sampler.get_log_prob(discard=n_burn, thin=thin, flat=True)
    acc = float(np.mean(out.acceptance_fraction))
    # tol=0: the estimate without emcee's chain-length check (SampleResult.long_enough reports it)
    tau = np.asarray(sampler.get_autocorr_time(discard=n_burn, thin=thin, tol=0), dtype=float)
    rows = []
    for name in names:
        q = np.quantile(chain[name].to_numpy(), [0.025, 0.5, 0.975])
        rows.append({"parameter": name, "map": result.params[name], "median": q[1],
                     "q0.025": q[0], "q0.975": q[2]})  # fmt: skip
    provenance = {
        "steps": steps, "walkers": n_walk, "burn": n_burn, "thin": thin, "seed": seed,
        "evaluations": obj.n_evaluations,
        "wall_time_s": round(time.perf_counter() - clock, 1),
        "fit": dict(prov),
    }  # fmt: skip
    return SampleResult(
        chain=chain,
        acceptance=acc,
        autocorr={k: float(t) for k, t in zip(names, np.atleast_1d(tau), strict=True)},
        summary=pd.DataFrame(rows),
        provenance=provenance,
    )


def _prior_term(params: ParameterSet, name: str, scale: float) -> float:
    """-2 log prior of one parameter: ``z^2`` on the log scale (the natural scale where the
    value or the prior centre is not positive), SD times `scale`; 0 without a prior."""
    spec = params.table[name]
    if spec.prior_sd is None:
        return 0.0
    sd = spec.prior_sd * scale
    if params[name] <= 0 or spec.value <= 0:
        z = (params[name] - spec.value) / sd
    else:
        z = math.log(params[name] / spec.value) / sd
    return z * z


def _prior_scale(
    value: Any, name: str = "`prior_scale`", error: type[Exception] = CalibrationError
) -> float:
    """Validated prior-SD factor (`error` naming `name` otherwise)."""
    return _positive_number(value, name, error)


def _positive_number(value: Any, name: str, error: type[Exception] = CalibrationError) -> float:
    """`value` as a finite float > 0, or `error` naming `name` (a bool is not a number)."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real)
    if not (ok and math.isfinite(value) and value > 0):
        raise error(f"{name} must be a number > 0 (finite), got {value!r}")
    return float(value)


def _designs(trials: Any, default: Sequence[Trial | str]) -> tuple[Trial, ...]:
    """Trials from names, files or Trial objects (one, or a sequence); `default` when None."""
    if trials is None:
        trials = default
    elif isinstance(trials, str | Path | Trial):
        trials = [trials]  # one trial
    elif not isinstance(trials, Sequence):
        raise CalibrationError(
            f"`trials` must be trial names, files or Trial objects, got {trials!r}"
        )
    return tuple(t if isinstance(t, Trial) else load(t) for t in trials)


def _free_names(free: Any) -> tuple[str, ...]:
    """Free parameter names: one name, or a sequence of names."""
    if isinstance(free, str):
        return (free,)
    if not isinstance(free, Sequence) or not all(isinstance(x, str) for x in free):
        raise CalibrationError(f"`free` must be parameter names, got {free!r}")
    return tuple(free)


def _whole(value: Any, name: str, low: int) -> int:
    return check_whole(value, name, low, CalibrationError)


def _settings(result: FitResult) -> dict[str, Any]:
    """The virtual-patient, smoothing and tolerance settings of a fit (from its provenance)."""
    prov = result.provenance
    return {
        "n_per_arm": prov.get("n_per_arm", 300),
        "seed": prov.get("seed", 1),
        "width": prov.get("width", 0.05),
        "rtol": prov.get("rtol", 1e-6),
        "prior_scale": _prior_scale(prov.get("prior_scale", 1.0)),
    }


def check_options(
    n_per_arm: int, seed: int, starts: int, workers: int = 1, prior_scale: float = 1.0
) -> None:
    """Validate the numeric options of a fit (used by the command line)."""
    from .errors import OptionError

    for key, v, lo in (("n", n_per_arm, 2), ("seed", seed, 0), ("starts", starts, 1),
                       ("workers", workers, 1)):  # fmt: skip
        check_whole(v, f"--{key}", lo)
    _prior_scale(prior_scale, "--prior-scale", OptionError)


def sensitivity(
    params: ParameterSet,
    trials: Sequence[Trial | str] | None = None,
    free: Sequence[str] | None = None,
    n_per_arm: int = 300,
    seed: int = 1,
    step: float = 0.05,
) -> pd.DataFrame:
    """Local sensitivity of each finding's replicate probability (or rate) to each parameter.

    Central finite differences of each objective term's square root with respect to the log of
    each parameter (a relative step `step`); rows are findings, columns parameters.  Large
    entries mean the finding informs the parameter; near-identical columns mean the data cannot
    tell the parameters apart.
    """
    import pandas as pd

    names = _free_names(free) if free is not None else DEFAULT_FREE
    designs = _designs(trials, DEFAULT_TRIALS)
    obj = Objective(designs, params, names, n_per_arm, seed)
    labels = [f"{t.trial}: {t.label}" for t in obj.terms(params) if t.kind != "prior"]
    cols = {}
    for name in names:
        spec = params.table[name]
        up = min(params[name] * (1 + step), spec.upper)
        down = max(params[name] / (1 + step), spec.lower)
        r = []
        for v in (up, down):
            terms = [t for t in obj.terms(params.replace(**{name: v})) if t.kind != "prior"]
            r.append(np.sqrt([t.value for t in terms]))
        cols[name] = (r[0] - r[1]) / (math.log(up) - math.log(down))
    return pd.DataFrame(cols, index=labels)


def predictive_bands(
    result: FitResult,
    trial: Trial | str,
    n_draws: int = 50,
    n_per_arm: int = 300,
    seed: int = 1,
    quantiles: Sequence[float] = (0.025, 0.5, 0.975),
) -> pd.DataFrame:
    """Endpoint bands from parameter uncertainty.

    Draws parameter vectors from the fit's approximate posterior (multivariate normal of the
    log-parameters with the fit's standard errors and correlations, clipped to the bounds),
    simulates the trial for each draw on the same virtual patients, and returns the quantiles of
    every endpoint per arm (one row per endpoint and arm, one column per quantile).  Parameters
    without a finite standard error are kept at their estimates.
    """
    import pandas as pd

    design = trial if isinstance(trial, Trial) else load(trial)
    names = [k for k in result.free if math.isfinite(result.stderr[k]) and result.params[k] > 0]
    _whole(n_draws, "n_draws", 2)
    if not names:
        raise CalibrationError(
            "the fit has no finite standard errors (no curvature at the optimum): nothing to draw"
        )
    mean = np.array([math.log(result.params[k]) for k in names])
    sd = np.array([result.stderr[k] / result.params[k] for k in names])
    corr = np.eye(len(names))
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i != j:
                corr[i, j] = result.correl.get((a, b), 0.0)
    cov = corr * np.outer(sd, sd)
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(mean, cov, size=n_draws, method="eigh")
    values: dict[tuple[str, str], list[float]] = {}
    for row in draws:
        changes = {}
        # capped before exp: an undetermined parameter's log-draws can exceed the float range;
        # it then sits at its upper bound, without an overflow
        for k, v in zip(names, np.exp(np.minimum(row, 700.0)), strict=True):
            spec = result.params.table[k]
            changes[k] = float(min(max(v, spec.lower), spec.upper))
        res = simulate_trial(design, result.params.replace(**changes), n_per_arm, seed,
                             progress=False)  # fmt: skip
        for arm, summ in res.summaries.items():
            for endpoint, s in summ.items():
                values.setdefault((endpoint, arm), []).append(s.value)
    rows = []
    for (endpoint, arm), v in values.items():
        q = np.nanquantile(np.array(v, dtype=float), quantiles)
        rows.append(
            {
                "endpoint": endpoint,
                "arm": arm,
                **{f"q{x:g}": y for x, y in zip(quantiles, q, strict=True)},
            }
        )
    return pd.DataFrame(rows)
