"""Profile likelihoods, local sensitivity and predictive bands of a fit."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CalibrationError
from ..parameters import (
    ParameterSet,
)
from ..solver import process_pool
from ..trials import (
    Trial,
    load,
    simulate_trial,
)
from .fit import FitResult, _settings, _trial_sources, fit
from .mcmc import SampleResult
from .objective import (
    DEFAULT_FREE,
    DEFAULT_TRIALS,
    Objective,
    _designs,
    _free_names,
    _prior_term,
    _whole,
)

if TYPE_CHECKING:
    import pandas as pd


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
        r = fit(designs, params=start, free=others, max_nfev=max_nfev, progress=False,
                uncertainty=False, allow_validation=True,  # the designs of a fit
                **_settings(result))  # fmt: skip
        return (v, r.objective + _prior_term(start, name, _settings(result)["prior_scale"]))
    return (v, Objective(designs, start, [name], **_settings(result))(start))


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

    Parameters
    ----------
    params : ParameterSet
        Where to differentiate.
    trials : sequence of Trial or str, optional
        Trials (default: :data:`DEFAULT_TRIALS`).
    free : sequence of str, optional
        Parameters (default: :data:`DEFAULT_FREE`).
    n_per_arm : int
        Virtual patients per arm.
    seed : int
        Seed of the virtual populations.
    step : float
        Relative step (dimensionless).

    Returns
    -------
    pandas.DataFrame
        Derivatives d sqrt(term) / d ln(parameter).
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
    chain: SampleResult | pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Endpoint bands from parameter uncertainty.

    Draws parameter vectors from the posterior, simulates the trial for each draw on the same
    virtual patients, and returns the quantiles of every endpoint per arm (one row per endpoint
    and arm, one column per quantile).  Without `chain` the posterior is the fit's Gaussian
    approximation (:func:`posterior_draws`: parameters without a finite standard error are kept
    at their estimates); with `chain`, the draws are rows of the emcee chain
    (:func:`chain_draws`).

    Parameters
    ----------
    result : FitResult
        The fit (estimates; standard errors and correlations for the Gaussian draws).
    trial : Trial or str
        Trial to simulate (shipped name, file or loaded trial).
    n_draws : int
        Parameter draws (>= 2).
    n_per_arm : int
        Virtual patients per arm of each draw (the same patients for every draw).
    seed : int
        Seed of the draws and of the virtual patients.
    quantiles : sequence of float
        Quantiles reported (fractions).
    chain : SampleResult or pandas.DataFrame, optional
        An emcee posterior sample (:func:`pdmodel.calibration.sample`, or its chain table as
        written by ``pdmodel fit --emcee``: one column per parameter, in parameter units).

    Returns
    -------
    pandas.DataFrame
        Columns ``endpoint``, ``arm`` and one ``q<quantile>`` per quantile (endpoint units).
    """
    import pandas as pd

    design = trial if isinstance(trial, Trial) else load(trial)
    values: dict[tuple[str, str], list[float]] = {}
    draws = (posterior_draws(result, n_draws, seed) if chain is None
             else chain_draws(chain, result.params, n_draws, seed))  # fmt: skip
    for params in draws:
        res = simulate_trial(design, params, n_per_arm, seed, progress=False)
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


def _draws_source(chain: SampleResult | pd.DataFrame | None) -> str:
    """How a report names the source of its parameter draws."""
    if chain is None:
        return "the fit's approximate posterior"
    rows = len(chain.chain if isinstance(chain, SampleResult) else chain)
    return f"an emcee chain of {rows} rows"


def posterior_draws(result: FitResult, n_draws: int, seed: int = 1) -> list[ParameterSet]:
    """Parameter sets drawn from the fit's approximate posterior.

    A multivariate normal of the log-parameters with the fit's standard errors and
    correlations, each draw clipped to the parameter's bounds; parameters without a finite
    standard error stay at their estimates.

    Parameters
    ----------
    result : FitResult
        A fit with standard errors (``pdmodel fit``; the shipped set is one).
    n_draws : int
        Number of draws (>= 2).
    seed : int
        Seed of the draws.

    Returns
    -------
    list of ParameterSet
        One per draw.
    """
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
    if not np.all(np.isfinite(cov)) or np.linalg.eigvalsh(corr).min() < -1e-8:
        raise CalibrationError(
            "the fit's correlations do not form a valid correlation matrix (not positive "
            "semi-definite): the fit file was edited or is corrupt; refit or remove `correl`"
        )
    rng = np.random.default_rng(seed)
    out = []
    for row in rng.multivariate_normal(mean, cov, size=n_draws, method="eigh"):
        changes = {}
        # capped before exp: an undetermined parameter's log-draws can exceed the float range;
        # it then sits at its upper bound, without an overflow
        for k, v in zip(names, np.exp(np.minimum(row, 700.0)), strict=True):
            spec = result.params.table[k]
            changes[k] = float(min(max(v, spec.lower), spec.upper))
        out.append(result.params.replace(**changes))
    return out


def chain_draws(
    chain: SampleResult | pd.DataFrame,
    params: ParameterSet,
    n_draws: int,
    seed: int = 1,
) -> list[ParameterSet]:
    """Parameter sets drawn from an emcee posterior sample (rows of its chain).

    Rows are drawn without replacement (with replacement when `n_draws` exceeds the chain), so
    the draws carry the chain's correlations and non-Gaussian shape; the parameters the chain
    does not hold keep their values in `params`.

    Parameters
    ----------
    chain : SampleResult or pandas.DataFrame
        :func:`pdmodel.calibration.sample` output, or its chain table (``pdmodel fit --emcee``
        writes it as ``<out>_chain.csv``): one column per parameter, in parameter units; a
        ``lnprob`` column is ignored.
    params : ParameterSet
        The other parameters (usually the fit's estimates).
    n_draws : int
        Number of draws (>= 2).
    seed : int
        Seed of the row choice.

    Returns
    -------
    list of ParameterSet
        One per drawn row, over the chain's parameter set.

    Raises
    ------
    CalibrationError
        An empty chain, a column that is not a parameter, or a value outside its bounds.
    """
    table = chain.chain if isinstance(chain, SampleResult) else chain
    _whole(n_draws, "n_draws", 2)
    names = [c for c in table.columns if c != "lnprob"]
    if len(table) == 0 or not names:
        raise CalibrationError("the emcee chain is empty: nothing to draw")
    unknown = [c for c in names if c not in params]
    if unknown:
        raise CalibrationError(
            f"chain column `{unknown[0]}` is not a parameter of the model (columns must be "
            "parameter names, plus an optional `lnprob`)"
        )
    values = table[names].to_numpy(dtype=float)
    for j, name in enumerate(names):
        spec = params.table[name]
        col = values[:, j]
        bad = ~np.isfinite(col) | (col < spec.lower) | (col > spec.upper)
        if bad.any():
            i = int(np.argmax(bad))
            raise CalibrationError(
                f"chain row {i}, `{name}` = {col[i]!r}: outside the parameter's bounds "
                f"[{spec.lower:g}, {spec.upper:g}] or not finite"
            )
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(values), size=n_draws, replace=n_draws > len(values))
    return [params.replace(**dict(zip(names, map(float, values[i]), strict=True))) for i in rows]


def read_chain(path: str | Path) -> pd.DataFrame:
    """Read an emcee chain table (``pdmodel fit --emcee`` writes ``<out>_chain.csv``).

    Parameters
    ----------
    path : str or Path
        CSV file: one column per parameter (parameter units), optionally ``lnprob``.

    Returns
    -------
    pandas.DataFrame
        One row per draw, one column per parameter (parameter units) plus ``lnprob``.

    Raises
    ------
    CalibrationError
        Unreadable, empty or non-numeric file (the message names it).
    """
    import pandas as pd

    from ..io import read_text

    text = read_text(Path(path), "emcee chain", CalibrationError)
    try:
        table = pd.read_csv(io.StringIO(text))
    except (ValueError, pd.errors.ParserError) as exc:
        raise CalibrationError(f"{path}: not a chain table (CSV): {exc}") from None
    if table.empty:
        raise CalibrationError(f"{path}: the chain table has no rows")
    bad = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if bad:
        raise CalibrationError(f"{path}: column `{bad[0]}` is not numeric")
    return table
