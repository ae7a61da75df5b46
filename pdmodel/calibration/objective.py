"""Term, the objective (-2 log posterior of trial findings) and its inputs' checks."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import check_positive, check_whole
from ..errors import CalibrationError
from ..parameters import (
    ParameterSet,
    parameters_or_default,
    unknown_parameter_message,
)
from ..solver import process_pool
from ..trials import (
    Trial,
    TrialResult,
    _trial_list,
    evaluate_finding,
    load,
    p_value_term,
)
from ..trials.simulate import _simulate_samples

#: Parameters estimated by default (see docs/calibration.md for the identifiability analysis).
DEFAULT_FREE: tuple[str, ...] = (
    "k_ab",
    "omega_k_ab",
    "gc_ec50",
    "omega_gc_ec50",
    "gc_ec50_hi",
    "gc_ke0",
    "gc_imax_mac",
    "gc_kill",
    "clone_r",
    "clone_death",
    "prod_healthy",
    "gc_imax_mk",
    "gc_smax_treg",
    "gc_imax_teff",
    "il11_smax",
    "il11_ec50",
    "il11_kpol",
    "il11_imax_th1",
    "th1_k",
    "teff_k",
    "ab_assay_sd",
    "ab_kdeg",
)

#: Trials fitted by default: the primary trial's findings, the prednisone arm of Wei 2016, one
#: high-dose dexamethasone course (Cheng 2003), rhIL-11 alone (Bussel 2001) and prednisone with
#: or without rhIL-11 (Jin 2019), and the CD4+CD25+ rise after high-dose dexamethasone (Blood
#: 2007 abstract).  Validation trials are never among them.
DEFAULT_TRIALS: tuple[str, ...] = (
    "wu2016",
    "wei2016_prednisone",
    "cheng2003",
    "bussel2001",
    "jin2019",
    "hddxm_treg2007",
)

_P_FLOOR = 1e-10

#: lmfit methods :func:`fit` accepts for its local stage (least-squares and scalar minimisers;
#: an unknown name used to be passed on to lmfit, which ran a default method instead).
#: Default engine tolerance of calibration solves (docs/calibration.md, docs/engine.md).
CALIBRATION_RTOL = 3e-7

FIT_METHODS: tuple[str, ...] = (
    "least_squares", "leastsq", "nelder", "powell", "lbfgsb", "l-bfgsb", "bfgs", "cg", "tnc",
    "cobyla", "slsqp", "trust-constr", "differential_evolution", "basinhopping", "ampgo",
    "shgo", "dual_annealing",
)  # fmt: skip


@dataclass(frozen=True)
class Term:
    """One contribution to the objective.

    Parameters
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
        Relative tolerance of the engine (default :data:`CALIBRATION_RTOL`, 3e-7: simulated
        observables within about 2e-5 of a tight reference solve, docs/engine.md; about 15%
        fewer steps than the simulation default 1e-7).
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
        rtol: float = CALIBRATION_RTOL,
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
        from ..endpoints import ENDPOINTS

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
        self._prefetched: dict[tuple[float, ...], np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_pool"] = None  # a process pool does not travel to other processes
        state["_prefetched"] = {}
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
        """Parameter set with the free parameters set to `values` (validated).

        Parameters
        ----------
        values : sequence of float
            Free parameters' values, in :attr:`free` order (parameter units).

        Returns
        -------
        ParameterSet
            The start set with the free parameters replaced.
        """
        if len(values) != len(self.free):
            raise CalibrationError(f"expected {len(self.free)} values, got {len(values)}")
        return self.base.replace(**dict(zip(self.free, (float(v) for v in values), strict=True)))

    def terms(self, params: ParameterSet) -> list[Term]:
        """Every contribution to the objective at `params`.

        Parameters
        ----------
        params : ParameterSet
            Parameter values.

        Returns
        -------
        list of Term
            Findings' terms of every trial, then the prior terms.
        """
        return self.terms_many([params])[0]

    def terms_many(self, samples: Sequence[ParameterSet]) -> list[list[Term]]:
        """:meth:`terms` at several parameter sets.

        Where the sets enrol the same virtual patients and differ in no PK parameter (e.g. the
        points of a finite-difference Jacobian), every trial arm of every set is solved in one
        engine call (:meth:`pdmodel.Population.batch`); otherwise one set after another.  The
        terms are the same either way (the engine's results do not depend on which patients
        share a call).

        Parameters
        ----------
        samples : sequence of ParameterSet
            Parameter sets (values in the units of the parameter table).

        Returns
        -------
        list of list of Term
            The terms of each set, in order; each set counts as one evaluation.
        """
        samples = list(samples)
        self.n_evaluations += len(samples)
        return self._terms_many(samples)

    def _terms_many(self, samples: list[ParameterSet]) -> list[list[Term]]:
        if not samples:
            return []
        executor, chunk = self._executor()
        results = _simulate_samples(
            self.trials,
            samples,
            self.n_per_arm,
            self.seed,
            self.width,
            False,
            None,
            hard=False,  # (the terms read the smooth summaries only)
            progress=False,
            rtol=self.rtol,
            executor=executor,
            # a worker process takes its share of every sample's patients, as for one set
            chunk_size=None if chunk is None else chunk * len(samples),
        )
        return [self._score(p, r) for p, r in zip(samples, results, strict=True)]

    def _score(self, params: ParameterSet, results: Sequence[TrialResult]) -> list[Term]:
        out: list[Term] = []
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
        """Square roots of the terms (lmfit's residual vector).

        Served from the points :meth:`prefetch` computed, where it computed this one.

        Parameters
        ----------
        values : sequence of float
            Free parameters' values, in :attr:`free` order (parameter units).

        Returns
        -------
        ndarray
            One entry per term; their squares sum to the objective.
        """
        key = _key(values)
        if key in self._prefetched:
            self.n_evaluations += 1  # counted when used, as lmfit counts it
            return self._prefetched.pop(key)
        return _root(self.terms(self.params(values)))

    def residuals_many(self, points: Sequence[Sequence[float] | np.ndarray]) -> list[np.ndarray]:
        """:meth:`residuals` at several parameter vectors, batched as :meth:`terms_many`.

        Parameters
        ----------
        points : sequence of array_like
            Values of the free parameters (:attr:`free`, in that order; table units), one
            vector per point.

        Returns
        -------
        list of numpy.ndarray
            The residual vector of each point.
        """
        return [_root(t) for t in self.terms_many([self.params(v) for v in points])]

    def prefetch(self, points: Sequence[Sequence[float] | np.ndarray]) -> None:
        """Compute the residuals at `points` in one batch; :meth:`residuals` then returns them.

        For an optimiser that asks for the points of a finite-difference Jacobian one at a
        time (lmfit's bookkeeping of each evaluation stays as it is).  Replaces what an earlier
        call prefetched; each prefetched point is served once, and counts in
        :attr:`n_evaluations` when it is (a point an optimiser never asks for is not counted).

        Parameters
        ----------
        points : sequence of array_like
            Values of the free parameters (:attr:`free`, in that order; table units), one
            vector per point.
        """
        points = list(points)
        terms = self._terms_many([self.params(v) for v in points])  # counted when served
        self._prefetched = dict(zip(map(_key, points), map(_root, terms), strict=True))


class _BatchMap:
    """A map (and a pool with ``.map``) for an optimiser's or a sampler's batches of points.

    scipy's ``least_squares`` hands it the points of a finite-difference Jacobian, emcee (via
    lmfit) the walkers of a half-ensemble: it solves every point inside the parameter bounds
    in one batch (:meth:`Objective.prefetch`), then passes each point through `fun` -- lmfit's
    residual or log-probability, whose bookkeeping stays as it is -- which finds it computed.
    Same values as a plain map, one engine call.
    """

    def __init__(self, obj: Objective) -> None:
        self.obj = obj
        table = obj.base.table
        self.lower = np.array([table[k].lower for k in obj.free])
        self.upper = np.array([table[k].upper for k in obj.free])

    def __call__(self, fun: Callable[[Any], Any], points: Iterable[Any]) -> list[Any]:
        xs = [np.array(x, dtype=float) for x in points]
        inside = [x for x in xs if np.all((x >= self.lower) & (x <= self.upper))]
        self.obj.prefetch(inside)  # (a point outside never reaches the objective)
        return [fun(x) for x in xs]

    map = __call__


def _key(values: Sequence[float] | np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _root(terms: Sequence[Term]) -> np.ndarray:
    return np.sqrt(np.maximum([t.value for t in terms], 0.0))


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
    """`value` as a finite float > 0, or `error` naming `name` (quoted as given)."""
    return check_positive(value, "", error, subject=name)


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
    return check_whole(value, name, low, CalibrationError)  # the calibration's error class
