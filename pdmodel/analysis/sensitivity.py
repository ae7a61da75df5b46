"""Global sensitivity of trial endpoints to model parameters: Morris screening, Sobol indices.

SALib draws the parameter samples and computes the indices (with bootstrap confidence
intervals for Sobol); pdmodel evaluates the endpoints.  Every parameter sample simulates the
*same* virtual patients (common random numbers: the population's deviates are drawn once),
so the indices measure the parameters' effect on the population endpoints, not sampling noise.

Positive parameters are sampled uniformly on the log scale between their ranges (by default
the parameter table's log-normal prior, +/- `width` prior SDs, within the table's bounds).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..drugs import pk_parameters
from ..errors import MissingExtraError, OptionError
from ..parameters import ParameterSet
from ..scenarios import SUMMARY_ENDPOINTS

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["SENSITIVITY_ENDPOINTS", "SensitivityResult", "analyse", "parameter_ranges",
           "sensitivity"]  # fmt: skip

#: Endpoints :func:`sensitivity` can score (population values of
#: :func:`pdmodel.scenarios.endpoint_summary`: fractions of patients, days, 10^9/L).
SENSITIVITY_ENDPOINTS = SUMMARY_ENDPOINTS

#: Sobol bootstrap resamples for the confidence intervals.
RESAMPLES = 200

#: Patients per engine call that :func:`sensitivity` aims for when batching parameter
#: samples (about 20k patients: the engine's per-step overhead is amortised well before, and
#: one call's daily platelet output stays near 15 MB for 84 days).
BATCH_PATIENTS = 20_000


@dataclass(frozen=True)
class SensitivityResult:
    """Indices of a global sensitivity analysis.

    Parameters
    ----------
    method : str
        ``sobol`` or ``morris``.
    ranges : dict of str to (float, float)
        Each parameter's sampled range (its unit; log-uniform for positive ranges).
    outputs : tuple of str
        The endpoints (or outputs) analysed.
    table : pandas.DataFrame
        One row per output, parameter and index: columns ``output``, ``parameter``,
        ``index`` (``S1``, ``ST`` for Sobol; ``mu_star``, ``sigma`` for Morris), ``value`` and
        ``conf`` (half-width of the 95% bootstrap interval; Morris: of ``mu_star``).
    n_evaluations : int
        Model evaluations (parameter samples).
    wall_time : float
        Seconds.
    """

    method: str
    ranges: dict[str, tuple[float, float]]
    outputs: tuple[str, ...]
    table: pd.DataFrame
    n_evaluations: int
    wall_time: float

    def __repr__(self) -> str:
        return (
            f"SensitivityResult({self.method}, {len(self.ranges)} parameters x "
            f"{len(self.outputs)} outputs, {self.n_evaluations} evaluations, "
            f"{self.wall_time:.1f} s)"
        )

    def pivot(self, index: str | None = None) -> pd.DataFrame:
        """Parameters x outputs table of one index (default ``ST`` or ``mu_star``).

        NaN for an output that does not vary over the samples (nothing to apportion) or is
        not finite.

        Parameters
        ----------
        index : str, optional
            ``S1``, ``ST``, ``mu_star`` or ``sigma``.

        Returns
        -------
        pandas.DataFrame
            One row per parameter, one column per output.
        """
        index = index or ("ST" if self.method == "sobol" else "mu_star")
        sub = self.table[self.table["index"] == index]
        return sub.pivot(index="parameter", columns="output", values="value").loc[
            list(self.ranges), list(self.outputs)
        ]

    def plot(self) -> Figure:
        """Bar chart per output: first-order and total indices (Sobol) or mu* (Morris).

        Returns
        -------
        matplotlib.figure.Figure
            A new figure.
        """
        import matplotlib.pyplot as plt

        n = len(self.outputs)
        fig, axes = plt.subplots(1, n, figsize=(3.2 * n + 1, 0.35 * len(self.ranges) + 1.5),
                                 sharey=True, constrained_layout=True, squeeze=False)  # fmt: skip
        names = list(self.ranges)
        y = np.arange(len(names))
        kinds = ("S1", "ST") if self.method == "sobol" else ("mu_star",)
        for ax, out in zip(axes[0], self.outputs, strict=True):
            for k, kind in enumerate(kinds):
                sub = self.table[(self.table.output == out) & (self.table["index"] == kind)]
                sub = sub.set_index("parameter").loc[names]
                ax.barh(y + 0.38 * k, sub["value"], height=0.36, xerr=sub["conf"], label=kind,
                        capsize=2)  # fmt: skip
            ax.set_title(out, fontsize=9)
            ax.axvline(0, color="grey", lw=0.5)
        axes[0, 0].set_yticks(y + 0.19 * (len(kinds) - 1), names, fontsize=8)
        axes[0, 0].invert_yaxis()
        axes[0, -1].legend(fontsize=8, frameon=False)
        fig.suptitle(f"{self.method} sensitivity ({self.n_evaluations} evaluations)", fontsize=10)
        return fig


def _salib() -> Any:
    try:
        import SALib  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            "global sensitivity needs SALib: pip install 'pdmodel[analysis]'"
        ) from None
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    return sobol_sample, sobol_analyze, morris_sample, morris_analyze


def parameter_ranges(
    params: ParameterSet,
    names: Sequence[str],
    width: float = 2.0,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, tuple[float, float]]:
    """The range each parameter is sampled over.

    Parameters
    ----------
    params : ParameterSet
        Centre values and the table's priors and bounds.
    names : sequence of str
        Parameters.
    width : float
        Prior SDs on each side of the value (log scale), for parameters with a prior.
    ranges : mapping of str to (float, float), optional
        Explicit ranges (in the parameter's unit), overriding the prior; required for
        parameters the table fixes.

    Returns
    -------
    dict of str to (float, float)
        Within the table's bounds.
    """
    ranges = dict(ranges or {})
    extra = sorted(set(ranges) - set(names))
    if extra:
        raise OptionError(
            f"a range is given for {', '.join(f'`{x}`' for x in extra)}, which is not among the "
            f"varied parameters {list(names)}; add it to them or drop its range"
        )
    out: dict[str, tuple[float, float]] = {}
    for name in names:
        if name not in params:
            from ..parameters import unknown_parameter_message

            raise OptionError(unknown_parameter_message(name, params))
        spec = params.table[name]
        if name in ranges:
            lo, hi = (float(v) for v in ranges[name])
        elif spec.prior_sd is not None and params[name] > 0:
            f = math.exp(width * spec.prior_sd)
            lo, hi = params[name] / f, params[name] * f
        else:
            raise OptionError(
                f"`{name}` has no prior in the parameter table (it is fixed); give its range "
                f"explicitly: ranges={{'{name}': (low, high)}} "
                f"(command line: --range {name}=LOW:HIGH)"
            )
        lo, hi = max(lo, spec.lower), min(hi, spec.upper)
        if not lo < hi:
            raise OptionError(f"`{name}`: empty range [{lo:g}, {hi:g}] within the table bounds")
        out[name] = (lo, hi)
    return out


def analyse(
    function: Callable[[dict[str, Any]], Mapping[str, Any]],
    ranges: Mapping[str, tuple[float, float]],
    outputs: Sequence[str],
    *,
    method: str = "sobol",
    n: int = 256,
    seed: int = 1,
    log_scale: bool = True,
    vectorised: bool = False,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> SensitivityResult:
    """Sensitivity indices of any function of the parameters (what :func:`sensitivity` uses).

    Parameters
    ----------
    function : callable
        ``function(values)`` with ``values`` a dict of parameter values; returns a mapping
        with a number for each of `outputs`.  With `vectorised`, ``values`` holds arrays of
        shape ``(m,)`` (a block of `m` samples) and the mapping arrays of shape ``(m,)``.
    ranges : mapping of str to (float, float)
        Parameter ranges.
    outputs : sequence of str
        Outputs to analyse.
    method : {"sobol", "morris"}
        Sobol (Saltelli sampling, first-order and total indices with bootstrap 95%
        intervals; ``n * (k + 2)`` evaluations for k parameters) or Morris screening (``n``
        trajectories, ``n * (k + 1)`` evaluations).
    n : int
        Base sample size (Sobol: a power of 2) or number of Morris trajectories.
    seed : int
        Seed of the sampling and of the bootstrap.
    log_scale : bool
        Sample positive ranges uniformly on the log scale.
    vectorised : bool
        `function` evaluates blocks of samples at once.
    batch_size : int
        Samples per call of a vectorised `function` (>= 1); the last block may be smaller.
    progress : callable, optional
        Called as ``progress(done, total)`` after each evaluation (each block, vectorised).

    Returns
    -------
    SensitivityResult
        The indices per parameter and output.
    """
    import pandas as pd

    sobol_sample, sobol_analyze, morris_sample, morris_analyze = _salib()
    if method not in ("sobol", "morris"):
        raise OptionError(f"unknown method {method!r}; use sobol or morris")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise OptionError(f"`n` must be a whole number >= 2, got {n!r}")
    if method == "sobol" and n & (n - 1):
        raise OptionError(f"Sobol needs `n` a power of 2 (balance of the sequence), got {n}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise OptionError(f"`batch_size` must be a whole number >= 1, got {batch_size!r}")
    names = list(ranges)
    logs = [log_scale and lo > 0 for lo, _ in ranges.values()]
    bounds = [[math.log(lo), math.log(hi)] if lg else [lo, hi]
              for (lo, hi), lg in zip(ranges.values(), logs, strict=True)]  # fmt: skip
    problem = {"num_vars": len(names), "names": names, "bounds": bounds}
    if method == "sobol":
        x = sobol_sample.sample(problem, n, calc_second_order=False, seed=seed)
    else:
        x = morris_sample.sample(problem, n, seed=seed)
    values = np.where(logs, np.exp(x), x)
    t0 = time.perf_counter()
    y = np.empty((len(values), len(outputs)))
    if vectorised:
        for start in range(0, len(values), batch_size):
            block = values[start : start + batch_size]
            result = function({p: block[:, j] for j, p in enumerate(names)})
            for j, o in enumerate(outputs):
                col = np.asarray(result[o], dtype=float)
                if col.shape != (len(block),):
                    raise OptionError(
                        f"vectorised function: output `{o}` has shape {col.shape}, expected "
                        f"({len(block)},)"
                    )
                y[start : start + len(block), j] = col
            if progress is not None:
                progress(start + len(block), len(values))
    else:
        for i, row in enumerate(values):
            result = function(dict(zip(names, (float(v) for v in row), strict=True)))
            y[i] = [float(result[o]) for o in outputs]
            if progress is not None:
                progress(i + 1, len(values))
    rows = []
    for j, out in enumerate(outputs):
        col = y[:, j]
        if not np.all(np.isfinite(col)) or np.ptp(col) == 0:
            # undefined: a non-finite output, or no variance to apportion (constant output)
            rows += [{"output": out, "parameter": p, "index": k, "value": math.nan,
                      "conf": math.nan} for p in names for k in _INDICES[method]]  # fmt: skip
            continue
        if method == "sobol":
            r = sobol_analyze.analyze(problem, col, calc_second_order=False,
                                      num_resamples=RESAMPLES, seed=seed)  # fmt: skip
        else:
            r = morris_analyze.analyze(problem, x, col, seed=seed)
        for i, p in enumerate(names):
            for kind, conf in _INDICES[method].items():
                rows.append({"output": out, "parameter": p, "index": kind,
                             "value": float(r[kind][i]),
                             "conf": float(r[conf][i]) if conf else math.nan})  # fmt: skip
    return SensitivityResult(method, dict(ranges), tuple(outputs), pd.DataFrame(rows),
                             len(values), time.perf_counter() - t0)  # fmt: skip


#: The indices of each method, with the SALib key of their 95% half-width ("": none).
_INDICES = {
    "sobol": {"S1": "S1_conf", "ST": "ST_conf"},
    "morris": {"mu_star": "mu_star_conf", "sigma": ""},
}


def sensitivity(
    scenario: Any,
    parameters: Sequence[str],
    endpoints: Sequence[str] = ("initial_response", "complete_response", "treatment_course"),
    *,
    params: ParameterSet | None = None,
    method: str = "sobol",
    n: int = 64,
    n_patients: int = 200,
    seed: int = 1,
    width: float = 2.0,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SensitivityResult:
    """Global sensitivity of a dose scenario's population endpoints to model parameters.

    Parameter samples are batched: each engine call simulates the scenario's patients under
    `batch_size` samples at once (:meth:`pdmodel.Population.batch`), which shares the
    engine's per-step work across samples.  Samples of PK parameters (which the engine cannot
    vary per patient) are simulated one call per sample.

    Parameters
    ----------
    scenario : str, Path or Scenario
        A scenario file (``[population]`` or ``[patient]``, a regimen, ``days`` >= 1) or a
        loaded :class:`pdmodel.scenarios.Scenario`.
    parameters : sequence of str
        Parameters to vary (population-level: typical values, IIV, drug effects).
    endpoints : sequence of str
        From :data:`SENSITIVITY_ENDPOINTS` (fractions of patients, days, 10^9/L).
    params : ParameterSet, optional
        Centre values (default: the shipped calibrated set).
    method : {"sobol", "morris"}
        See :func:`analyse`.
    n : int
        Base sample size (Sobol, a power of 2) or Morris trajectories.
    n_patients : int
        Virtual patients per evaluation (the scenario's population size is overridden; the
        same patients in every evaluation).
    seed : int
        Seed of the virtual patients, the sampling and the bootstrap.
    width : float
        Prior SDs on each side (log scale) for the default ranges.
    ranges : mapping of str to (float, float), optional
        Explicit ranges (required for parameters the table fixes).
    batch_size : int, optional
        Parameter samples per engine call (default: as many as keep one call near
        :data:`BATCH_PATIENTS` patients); 1 simulates each sample separately.  The indices
        do not depend on it.
    progress : callable, optional
        Called as ``progress(done, total)``.

    Returns
    -------
    SensitivityResult
        The indices per parameter and endpoint.
    """
    import dataclasses

    from ..scenarios import endpoint_summary, load_scenario
    from ..shipped import calibrated_parameters
    from ..solver import simulate

    sc = scenario if hasattr(scenario, "regimen") else load_scenario(scenario)
    unknown = [e for e in endpoints if e not in SENSITIVITY_ENDPOINTS]
    if unknown:
        raise OptionError(
            f"unknown endpoint `{unknown[0]}`; use {', '.join(SENSITIVITY_ENDPOINTS)}"
        )
    days = float(math.floor(sc.days))
    if days < 1:
        raise OptionError(f"{sc.origin}: endpoints need at least 1 simulated day")
    base = params if params is not None else calibrated_parameters()
    if not sc.patient:
        sc = dataclasses.replace(sc, n=n_patients, seed=seed)
    patients = sc.population(base)
    box = parameter_ranges(base, parameters, width, ranges)
    pk = set(pk_parameters(base.model.drugs))
    if batch_size is None:
        batch_size = max(1, BATCH_PATIENTS // len(patients))
    if pk & set(box):
        batch_size = 1  # PK rates are shared by all patients of one engine call

    def evaluate(values: dict[str, float]) -> Mapping[str, float]:
        p = base.replace(**values)
        res = simulate(patients.with_params(p), sc.regimen, days, observables=["platelets"],
                       progress=False)  # fmt: skip
        return endpoint_summary(res, days)

    def evaluate_block(values: dict[str, Any]) -> Mapping[str, Any]:
        m = len(next(iter(values.values())))
        res = simulate(patients.batch(values), sc.regimen, days, observables=["platelets"],
                       progress=False)  # fmt: skip
        size = len(patients)
        rows = [endpoint_summary(res.take(slice(j * size, (j + 1) * size)), days)
                for j in range(m)]  # fmt: skip
        return {e: np.array([r[e] for r in rows]) for e in endpoints}

    if batch_size == 1:
        return analyse(evaluate, box, endpoints, method=method, n=n, seed=seed,
                       progress=progress)  # fmt: skip
    return analyse(evaluate_block, box, endpoints, method=method, n=n, seed=seed,
                   vectorised=True, batch_size=batch_size, progress=progress)  # fmt: skip
