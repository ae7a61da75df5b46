"""Posterior sampling of a fit with emcee."""

from __future__ import annotations

import contextlib
import io
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._progress import want_progress
from ..errors import CalibrationError
from ..trials import (
    Trial,
)
from .fit import FitResult, _settings, _trial_sources
from .objective import Objective, _BatchMap, _designs, _whole

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class SampleResult:
    """Posterior sample from :func:`sample` (emcee through lmfit).

    Parameters
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
        The retained draws, their summary and diagnostics.

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

    from ..errors import MissingExtraError

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
            workers=_BatchMap(obj),  # each half-ensemble's walkers in one engine call
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
