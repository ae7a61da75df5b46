"""The fit: lmfit minimisation with multi-start, standard errors, the FitResult and fit files."""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.optimize

from .._progress import want_progress
from ..checks import check_whole
from ..errors import CalibrationError, ParameterError
from ..parameters import (
    ParameterSet,
    parameters_or_default,
)
from ..solver import process_pool
from ..trials import (
    Trial,
)
from .objective import (
    CALIBRATION_RTOL,
    DEFAULT_FREE,
    DEFAULT_TRIALS,
    FIT_METHODS,
    Objective,
    Term,
    _BatchMap,
    _designs,
    _free_names,
    _prior_scale,
    _whole,
)

if TYPE_CHECKING:
    import lmfit
    import lmfit.minimizer
    import pandas as pd


@dataclass(frozen=True)
class FitResult:
    """Result of :func:`fit`.

    Parameters
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

    def at_bound(self) -> dict[str, str]:
        """Free parameters whose estimate sits at a bound: name -> ``"lower"``/``"upper"``.

        An estimate within 0.1% of the bound's range is at it, or, for a parameter on the log
        scale (a log-normal prior and a positive lower bound), within 0.1% of the bound itself
        (a range over decades would otherwise flag a whole decade above its lower bound): the
        optimum there is set by the bound, not by the data, and its standard error means
        little.

        Returns
        -------
        dict of str to str
            By free parameter at a bound: which bound.
        """
        out = {}
        for name in self.free:
            spec = self.params.table[name]
            v, lo, hi = self.params[name], spec.lower, spec.upper
            if spec.prior_sd is not None and lo > 0:
                at_lower, at_upper = v <= lo * 1.001, v >= hi / 1.001
            else:
                tol = 1e-3 * (hi - lo)
                at_lower, at_upper = v - lo <= tol, hi - v <= tol
            if at_lower:
                out[name] = "lower"
            elif at_upper:
                out[name] = "upper"
        return out

    def moved(self) -> dict[str, bool]:
        """Whether the data moved each free parameter: posterior log-SD < 0.7 x prior SD.

        The prior SD is the table's times the fit's ``prior_scale``.

        Returns
        -------
        dict of str to bool
            By free parameter.
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
        """Estimates with SE, 95% interval, prior and whether the data moved them.

        Returns
        -------
        pandas.DataFrame
            One row per free parameter (parameter units).
        """
        import pandas as pd

        moved = self.moved()
        bound = self.at_bound()
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
                    "at_bound": bound.get(name, ""),
                }
            )
        return pd.DataFrame(rows)

    @property
    def lmfit_params(self) -> lmfit.Parameters:
        """The estimates as :class:`lmfit.Parameters`.

        Free parameters have ``vary=True``, their standard errors (``stderr``) and
        correlations (``correl``); every parameter's ``user_data`` holds its ``unit``,
        ``status``, ``source``, ``description`` and ``prior_sd``
        (see :meth:`pdmodel.ParameterSet.to_lmfit`).  ``fit.params`` stays the
        :class:`~pdmodel.ParameterSet` that every simulation function takes.
        """
        out = self.params.to_lmfit(free=self.free)
        for name in self.free:
            se = self.stderr.get(name, math.nan)
            out[name].stderr = se if math.isfinite(se) else None
            out[name].correl = {b: c for (a, b), c in self.correl.items() if a == name} or None
        return out

    @property
    def minimizer_result(self) -> lmfit.minimizer.MinimizerResult:
        """The fit as an :class:`lmfit.minimizer.MinimizerResult`, for lmfit's tools.

        ``lmfit.fit_report(fit.minimizer_result)`` and ``lmfit.report_fit`` work on it.
        ``chisqr`` is the objective (-2 log posterior, so the squared residuals are the
        objective's terms), ``ndata`` the number of terms, ``nvarys`` the free parameters,
        ``aic``/``bic`` the objective + 2k / + k ln(ndata); ``covar`` is rebuilt from the
        standard errors and correlations.  It is built from the stored result, so a fit
        loaded from a file has it too (``residual`` holds the signed square roots of the
        terms' contributions, whose sign lmfit does not use).
        """
        from lmfit.minimizer import MinimizerResult

        params = self.lmfit_params
        k, ndata = len(self.free), len(self.terms)
        res = MinimizerResult()
        res.params = params
        res.var_names = list(self.free)
        res.method = str(self.provenance.get("method", "least_squares"))
        res.nfev, res.ndata, res.nvarys = self.nfev, ndata, k
        res.nfree = max(ndata - k, 1)
        res.chisqr = self.objective
        res.redchi = self.objective / res.nfree
        res.aic = self.objective + 2 * k
        res.bic = self.objective + k * math.log(max(ndata, 1))
        res.success, res.message = self.success, self.message
        res.residual = np.sqrt(np.maximum([t.value for t in self.terms], 0.0))
        res.init_vals = [params[n].init_value for n in self.free]
        res.init_values = dict(zip(self.free, res.init_vals, strict=True))
        sd = np.array([self.stderr.get(n, math.nan) for n in self.free])
        res.errorbars = bool(k) and bool(np.all(np.isfinite(sd)))
        if res.errorbars:
            corr = np.eye(k)
            for i, a in enumerate(self.free):
                for j, b in enumerate(self.free):
                    if i != j:
                        corr[i, j] = self.correl.get((a, b), 0.0)
            res.covar = corr * np.outer(sd, sd)
        else:
            res.covar = None
        res.x = np.array([self.params[n] for n in self.free])
        return res

    def __repr__(self) -> str:
        est = ", ".join(
            f"{n}={self.params[n]:.4g}" + (f"±{se:.2g}" if math.isfinite(se) else "")
            for n in self.free[:4]
            for se in [self.stderr.get(n, math.nan)]
        ) + (f", ... {len(self.free) - 4} more" if len(self.free) > 4 else "")
        trials = self.provenance.get("trials", [])
        names = [t.get("id", "?") if isinstance(t, dict) else str(t) for t in trials]
        return (
            f"FitResult(objective={self.objective:.3f}, converged={self.success}, "
            f"nfev={self.nfev}, trials={names}, free=[{est}])"
        )

    def _repr_html_(self) -> str:
        """Notebook view: the headline and the estimates table."""
        head = (
            f"<p><b>FitResult</b>: objective (-2 log posterior) {self.objective:.3f}, "
            f"converged {self.success} ({self.message}), {self.nfev} evaluations</p>"
        )
        return head + self.parameter_table().to_html(index=False, float_format=lambda v: f"{v:.4g}")

    def terms_table(self) -> pd.DataFrame:
        """Every objective term with the model's prediction and replicate probability.

        Returns
        -------
        pandas.DataFrame
            One row per term.
        """
        import pandas as pd

        return pd.DataFrame([t.__dict__ for t in self.terms])

    def report(self) -> str:
        """Readable fit report.

        Returns
        -------
        str
            Objective, parameter table and terms, as ``pdmodel fit`` prints them.
        """
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
        bound = self.at_bound()
        for name in self.free:
            lo, hi = self.ci95[name]
            flag = f"   AT {bound[name].upper()} BOUND" if name in bound else ""
            lines.append(
                name.ljust(16) + f"{self.params[name]:12.4g}" + f"{self.stderr[name]:11.3g}"
                + f"   [{lo:.3g}, {hi:.3g}]".ljust(26) + self._prior(name).ljust(26)
                + ("yes" if moved[name] else "no (prior-dominated)") + flag
            )  # fmt: skip
        if bound:
            lines.append(
                f"note: {', '.join(f'{k} ({v})' for k, v in bound.items())} at a bound: the "
                "bound, not the data, sets the estimate there; widen it in a model variant or "
                "fix the parameter"
            )
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
        if _JACOBIAN_MAP:
            kws["workers"] = _BatchMap(obj)
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


#: scipy's least_squares takes a map for the points of its finite-difference Jacobian from
#: version 1.16; the fit then solves them in one batched engine call (`_BatchMap`).
_JACOBIAN_MAP = "workers" in inspect.signature(scipy.optimize.least_squares).parameters


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
        res = obj.residuals_many(points)  # one engine call where the points allow it
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
    *,
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
    rtol: float = CALIBRATION_RTOL,
    workers: int = 1,
    uncertainty: bool = True,
    prior_scale: float = 1.0,
    allow_validation: bool = False,
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
        The lmfit method for the local stage, one of :data:`FIT_METHODS` (``least_squares``
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
    allow_validation : bool
        Fit trials marked ``role = "validation"`` too (default: refused; a validation trial
        is for ``pdmodel validate``, which predicts it, and a fit to it invalidates that).

    Returns
    -------
    FitResult
        The estimates with their uncertainty, terms and provenance.

    Raises
    ------
    CalibrationError
        Unknown free parameter, a start outside the bounds, a non-finite objective.
    """
    base = parameters_or_default(params)
    names = _free_names(free) if free is not None else DEFAULT_FREE
    designs = _designs(trials, DEFAULT_TRIALS)
    held_out = [t.id for t in designs if t.role == "validation"]
    if held_out and allow_validation is not True:
        raise CalibrationError(
            f'trial {", ".join(f"`{t}`" for t in held_out)} is marked role = "validation": '
            "it is predicted by `pdmodel validate`, never fitted; fit it only on purpose "
            "(allow_validation=True, pdmodel fit --allow-validation)"
        )
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
    from .._version import __version__

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

    Returns
    -------
    FitResult
        The fit as :func:`fit` returned it.

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

    from ..io import load_parameters, read_text, strict_json

    src = Path(path)
    if src.suffix.lower() != ".json":
        if not required:
            return None
        raise CalibrationError(
            f"{src}: a fit is kept only in the JSON file that `pdmodel fit --out FILE.json` "
            "(or save_parameters(..., fit=...)) writes"
        )
    params = load_parameters(src, base)  # validates the file (and names it in errors)
    body = strict_json(read_text(src, "fit", CalibrationError), src, CalibrationError)
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

        unknown = [k for k in free if k not in params]
        if unknown:
            raise CalibrationError(f"free parameter `{unknown[0]}` is not in the parameter set")
        stderr = {k: num(entries[k].get("stderr")) for k in free}
        for k, se in stderr.items():
            if se < 0 or math.isinf(se):
                raise CalibrationError(f"`{k}` has stderr {se!r}; a standard error is >= 0")
        ci95 = {k: (num(entries[k]["ci95"][0]), num(entries[k]["ci95"][1])) for k in free}
        correl: dict[tuple[str, str], float] = {}
        for a, b, r in fit_body.get("correl", []):
            for name in (a, b):
                if name not in free:
                    raise CalibrationError(
                        f"a correlation names `{name}`, which is not a free parameter of the fit"
                    )
            value = num(r)
            if not -1.0 - 1e-9 <= value <= 1.0 + 1e-9:
                raise CalibrationError(
                    f"the correlation of `{a}` and `{b}` is {r!r}; a correlation lies in [-1, 1]"
                )
            correl[(str(a), str(b))] = correl[(str(b), str(a))] = value
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


def _settings(result: FitResult) -> dict[str, Any]:
    """The virtual-patient, smoothing and tolerance settings of a fit (from its provenance)."""
    prov = result.provenance
    return {
        "n_per_arm": prov.get("n_per_arm", 300),
        "seed": prov.get("seed", 1),
        "width": prov.get("width", 0.05),
        "rtol": prov.get("rtol", 1e-6),  # (fits that did not record it used 1e-6)
        "prior_scale": _prior_scale(prov.get("prior_scale", 1.0)),
    }


def check_options(
    n_per_arm: int, seed: int, starts: int, workers: int = 1, prior_scale: float = 1.0
) -> None:
    """Validate the numeric options of a fit (used by the command line).

    Parameters
    ----------
    n_per_arm : int
        Virtual patients per arm (>= 2).
    seed : int
        Seed (>= 0).
    starts : int
        Local fits (>= 1).
    workers : int
        Processes (>= 1).
    prior_scale : float
        Factor on the prior SDs (> 0).

    Raises
    ------
    OptionError
        Naming the option and the value.
    """
    from ..errors import OptionError

    for key, v, lo in (("n", n_per_arm, 2), ("seed", seed, 0), ("starts", starts, 1),
                       ("workers", workers, 1)):  # fmt: skip
        check_whole(v, f"--{key}", lo)
    _prior_scale(prior_scale, "--prior-scale", OptionError)
