"""Visual predictive check (VPC) of observed individual time courses against the model.

The observed data are a NONMEM-style event table (:mod:`pdmodel.events`): each patient's doses
and observation times.  The check simulates the **same design** many times (each replicate:
every observed patient's dosing history and observation times, with new random effects drawn
from the model's distribution, conditional on the covariates kept from the table and on the
entry criterion), computes in each time bin and stratum (arm) the percentiles of the
simulated observations, and reports, for each observed percentile, the band (e.g. 95%) of the
simulated percentile over replicates.  Under a correct model an observed percentile falls
inside its band at about the band's nominal rate; a wrong model puts it outside.

Parameter uncertainty: with posterior draws (:func:`pdmodel.calibration.posterior_draws` or
:func:`pdmodel.calibration.chain_draws`) replicate ``r`` uses draw ``r mod K`` (a
posterior-predictive check); without, every replicate uses one parameter set.  Residual
(measurement) error: proportional, log-normal with coefficient of variation `error_cv`,
added to simulated observations (0 by default: the model's observables are noise-free).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..checks import check_memory, check_whole
from ..errors import DataError, OptionError
from ..events import EventData, from_event_table
from ..parameters import ParameterSet

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["VPCResult", "vpc"]

#: Distinct observation times up to which each time is its own bin (else quantile bins).
MAX_NOMINAL_BINS = 20
#: Quantile bins used when the observation times are not nominal.
DEFAULT_BINS = 10


@dataclass(frozen=True)
class VPCResult:
    """Result of :func:`vpc`.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per stratum, time bin and percentile: ``stratum``, ``bin``, ``time`` (median
        observation time in the bin, days), ``time_lo`` and ``time_hi`` (bin edges, days),
        ``n_obs``, ``quantile`` (fraction), ``observed`` (the observed percentile), ``sim_lo``,
        ``sim_median`` and ``sim_hi`` (the simulated percentile's band over replicates), and
        ``inside`` (observed within the band).  Values in the observable's unit.
    observations : pandas.DataFrame
        The observations checked: ``ID``, ``TIME``, ``DV``, ``stratum``, ``bin``.
    observable : str
        Observable checked (e.g. ``platelets``, 10^9/L).
    replicates : int
        Simulated replicates of the design.
    n_draws : int
        Parameter draws (0: one parameter set).
    ci : float
        Coverage of the bands (fraction).
    wall_time : float
        Seconds.
    """

    table: pd.DataFrame
    observations: pd.DataFrame
    observable: str
    replicates: int
    n_draws: int
    ci: float
    wall_time: float

    def inside_fraction(self) -> pd.DataFrame:
        """Fraction of observed percentiles inside their bands, by percentile and overall.

        Returns
        -------
        pandas.DataFrame
            Columns ``quantile`` (``all`` for the total), ``n`` (checks) and ``inside``
            (fraction); compare with :attr:`ci`.
        """
        import pandas as pd

        t = self.table
        rows = [{"quantile": f"{q:g}", "n": len(g), "inside": float(g["inside"].mean())}
                for q, g in t.groupby("quantile")]  # fmt: skip
        rows.append({"quantile": "all", "n": len(t), "inside": float(t["inside"].mean())})
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        inside = float(self.table["inside"].mean())
        return (f"VPCResult({self.observable}: {len(self.observations)} observations, "
                f"{self.table['stratum'].nunique()} strata, {self.replicates} replicates; "
                f"{inside:.0%} of observed percentiles inside their {self.ci:.0%} "
                "bands)")  # fmt: skip

    def plot(self, log: bool = True) -> Figure:
        """One panel per stratum: observations, their percentiles and the simulated bands.

        Observations are dots, observed percentiles lines, the simulated percentiles' bands
        shaded.

        Parameters
        ----------
        log : bool
            Logarithmic y axis (platelet counts span two decades).

        Returns
        -------
        matplotlib.figure.Figure
            A new figure.
        """
        import matplotlib.pyplot as plt

        strata = list(dict.fromkeys(self.table["stratum"]))
        fig, axes = plt.subplots(1, len(strata), figsize=(4.4 * len(strata), 3.8),
                                 sharey=True, squeeze=False, constrained_layout=True)  # fmt: skip
        qs = sorted(self.table["quantile"].unique())
        for ax, s in zip(axes[0], strata, strict=True):
            obs = self.observations[self.observations["stratum"] == s]
            ax.scatter(obs["TIME"], obs["DV"], s=4, c="0.6", alpha=0.5, lw=0)
            t = self.table[self.table["stratum"] == s]
            for q in qs:
                g = t[t["quantile"] == q].sort_values("time")
                mid = abs(q - 0.5) < 1e-9
                color = "C3" if mid else "C0"
                ax.fill_between(g["time"], g["sim_lo"], g["sim_hi"], color=color,
                                alpha=0.25 if mid else 0.18, lw=0)  # fmt: skip
                ax.plot(g["time"], g["observed"], color=color, lw=1.4 if mid else 1.0,
                        ls="-" if mid else "--", label=f"observed {q:.0%}")  # fmt: skip
                out = g[~g["inside"]]
                ax.scatter(out["time"], out["observed"], marker="x", c="k", s=18, zorder=3)
            ax.set_title(s, fontsize=9)
            ax.set_xlabel("day")
            if log:
                ax.set_yscale("log")
        axes[0][0].set_ylabel(self.observable)
        axes[0][0].legend(fontsize=7, frameon=False)
        fig.suptitle(f"VPC: observed percentiles over simulated {self.ci:.0%} bands "
                     f"({self.replicates} replicates; x outside)", fontsize=9)  # fmt: skip
        return fig


def _read(data: EventData | pd.DataFrame | str | Path, params: ParameterSet) -> EventData:
    import pandas as pd

    if isinstance(data, EventData):
        return data
    if isinstance(data, str | Path):
        from ..io import read_table

        frame = read_table(data, "event")
        try:
            return from_event_table(frame, params.model)
        except DataError as exc:
            raise DataError(f"{data}: {exc}") from None
    if isinstance(data, pd.DataFrame):
        return from_event_table(data, params.model)
    raise OptionError(f"`data`: expected an event table (file, DataFrame or EventData), got "
                      f"{type(data).__name__}")  # fmt: skip


def _bins(times: np.ndarray, bins: int | Sequence[float] | None) -> np.ndarray:
    """Bin edges (days): nominal times, quantile bins or the edges given."""
    distinct = np.unique(times)
    if bins is None and distinct.size <= MAX_NOMINAL_BINS:
        mids = (distinct[1:] + distinct[:-1]) / 2
        return np.r_[-np.inf, mids, np.inf]
    if bins is None or isinstance(bins, int | np.integer):
        k = DEFAULT_BINS if bins is None else check_whole(bins, "bins", 1, OptionError)
        edges = np.unique(np.quantile(times, np.linspace(0, 1, k + 1)))
        edges[0], edges[-1] = -np.inf, np.inf
        return edges
    edges = np.asarray(bins, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise OptionError(f"`bins`: edges must increase, got {list(edges)}")
    if times.min() < edges[0] or times.max() > edges[-1]:
        raise OptionError(f"`bins`: edges {edges[0]:g}-{edges[-1]:g} do not cover the "
                          f"observation times {times.min():g}-{times.max():g} days")  # fmt: skip
    return edges


def vpc(
    data: EventData | pd.DataFrame | str | Path,
    params: ParameterSet | None = None,
    *,
    observable: str = "platelets",
    replicates: int = 200,
    draws: Sequence[ParameterSet] = (),
    plt_max: float | None = None,
    covariates: Sequence[str] = ("weight",),
    error_cv: float = 0.0,
    bins: int | Sequence[float] | None = None,
    quantiles: Sequence[float] = (0.05, 0.5, 0.95),
    ci: float = 0.95,
    seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> VPCResult:
    """Visual predictive check of an event table's observations against the model.

    Parameters
    ----------
    data : EventData, pandas.DataFrame, str or Path
        Observed data: an event table (file, frame or :func:`pdmodel.events.from_event_table`
        result) with doses and observations; ``ARM`` stratifies.
    params : ParameterSet, optional
        Parameters (default: the shipped calibrated set).
    observable : str
        Observable checked (its observation compartment's rows); platelets in 10^9/L.
    replicates : int
        Simulated replicates of the whole design (>= 20).
    draws : sequence of ParameterSet, optional
        Posterior draws; replicate ``r`` uses draw ``r mod len(draws)``.
    plt_max : float, optional
        Entry criterion of the observed patients: untreated platelets below this, 10^9/L
        (simulated patients are drawn conditional on it).  None: no criterion.
    covariates : sequence of str
        Random effects whose individual values are taken from the table when it has them
        (default ``weight``, kg); the others are drawn anew for every replicate.
    error_cv : float
        Proportional residual error of the simulated observations (coefficient of
        variation, fraction; log-normal).
    bins : int or sequence of float, optional
        Time bins: a number of quantile bins, or edges in days (bins ``[lo, hi)``, the last
        closed).  Default: each distinct
        observation time (up to 20 of them), else 10 quantile bins.
    quantiles : sequence of float
        Percentiles checked (fractions).
    ci : float
        Coverage of each band (fraction).
    seed : int
        Seed of the replicates' random effects and residual errors.
    progress : callable, optional
        Called as ``progress(done, total)`` after each parameter draw's simulation.

    Returns
    -------
    VPCResult
        Observed and simulated percentiles per time bin and stratum.

    Raises
    ------
    DataError
        The table has no observations of `observable`.
    OptionError
        A bad option, named.
    """
    import pandas as pd

    from ..population import Population
    from ..shipped import calibrated_parameters
    from ..solver import simulate_many
    from ..trials import entry_deviates

    t0 = time.perf_counter()
    base = params if params is not None else calibrated_parameters()
    replicates = check_whole(replicates, "replicates", 20, OptionError)
    seed = check_whole(seed, "seed", 0, OptionError)
    if not 0 < ci < 1:
        raise OptionError(f"`ci` must be within 0 and 1, got {ci!r}")
    qs = np.asarray(quantiles, dtype=float)
    if qs.ndim != 1 or qs.size == 0 or np.any((qs <= 0) | (qs >= 1)):
        raise OptionError(f"`quantiles` must be fractions within 0 and 1, got {list(qs)}")
    if not (math.isfinite(error_cv) and error_cv >= 0):
        raise OptionError(f"`error_cv` must be >= 0, got {error_cv!r}")
    names = [o.name for o in base.model.observables]
    if observable not in names:
        raise OptionError(f"`observable` {observable!r} is not an observable of the model; use "
                          f"one of {', '.join(names)}")  # fmt: skip
    events = _read(data, base)
    obs = events.observations[events.observations["observable"] == observable]
    if obs.empty:
        raise DataError(f"the event table has no observations of {observable}")
    obs = obs.reset_index(drop=True)
    cohort = events.cohort
    ids = cohort["ID"].to_numpy(np.int64)
    n = ids.size
    kept = [c for c in covariates if c in cohort.columns]
    unknown = [c for c in covariates if c not in base.model.effect_names]
    if unknown:
        raise OptionError(f"`covariates`: {unknown[0]!r} is not a random effect of the model "
                          f"({', '.join(base.model.effect_names)})")  # fmt: skip
    obs_times = np.unique(obs["TIME"].to_numpy(float))
    days = float(math.ceil(obs_times.max())) or 1.0
    check_memory(8.0 * obs_times.size * n * replicates * 2, "the VPC's simulated observations",
                 "fewer replicates")  # fmt: skip
    # distinct dosing histories: one engine job each (for all replicates of a draw)
    histories: dict[str, Any] = {}
    members_of: dict[str, list[int]] = {}
    for j, p in enumerate(ids.tolist()):
        key = repr(events.regimens[p].to_dict())
        histories.setdefault(key, events.regimens[p])
        members_of.setdefault(key, []).append(j)
    groups = {k: np.array(v) for k, v in members_of.items()}
    col = {int(p): j for j, p in enumerate(ids)}
    rng = np.random.default_rng([seed, 0x5C])
    params_of = list(draws) if draws else [base]
    sim = np.empty((replicates, obs_times.size, n))  # replicate, time, patient
    for k, p in enumerate(params_of):
        reps = np.arange(k, replicates, len(params_of))
        if reps.size == 0:
            continue
        m = reps.size
        frame = pd.DataFrame({"ID": np.arange(m * n)})  # replicate-major: r * n + j
        for c in kept:
            frame[c] = np.tile(cohort[c].to_numpy(), m)
        pop = Population.from_frame(frame, p, seed=rng)
        if plt_max is not None and "plt_base" not in kept:
            z = dict(pop.z)
            entry = entry_deviates(plt_max, p, rng.random(m * n))
            if entry is not None:
                z["plt_base"] = entry
            pop = Population(p, z, pop.ids)
        jobs = []
        for key, members in groups.items():
            rows = (np.arange(m)[:, None] * n + members[None, :]).ravel()
            jobs.append((pop[rows], histories[key]))
        results = simulate_many(jobs, days, times=obs_times, observables=[observable],
                                progress=False)  # fmt: skip
        for res in results:
            pid = np.asarray(res.patient_ids)
            sim[reps[pid // n], :, pid % n] = res[observable].T
        if progress is not None:
            progress(k + 1, len(params_of))
    if error_cv > 0:
        sigma = math.sqrt(math.log1p(error_cv**2))
        sim *= np.exp(sigma * rng.standard_normal(sim.shape))
    # the simulated value of every observation row, per replicate
    t_index = np.searchsorted(obs_times, obs["TIME"].to_numpy(float))
    p_index = np.array([col[int(p)] for p in obs["ID"]])
    values = sim[:, t_index, p_index]  # (replicates, rows)
    edges = _bins(obs["TIME"].to_numpy(float), bins)
    # bins are [lo, hi), the last one closed
    where = np.searchsorted(edges, obs["TIME"].to_numpy(float), side="right") - 1
    obs = obs.assign(bin=np.minimum(where, edges.size - 2))
    arm = obs["ID"].map(lambda p: events.arms.get(int(p), "")).replace("", "all")
    obs = obs.assign(stratum=arm.astype(str))
    lo_q, hi_q = (1 - ci) / 2, 1 - (1 - ci) / 2
    rows = []
    for (stratum, _), g in obs.groupby(["stratum", "bin"], sort=False):
        idx = g.index.to_numpy()
        observed = np.quantile(g["DV"].to_numpy(float), qs)
        per_rep = np.quantile(values[:, idx], qs, axis=1)  # (quantiles, replicates)
        band = np.quantile(per_rep, [lo_q, 0.5, hi_q], axis=1)  # (3, quantiles)
        t = g["TIME"].to_numpy(float)
        for i, q in enumerate(qs):
            rows.append({
                "stratum": stratum, "bin": int(g["bin"].iloc[0]), "time": float(np.median(t)),
                "time_lo": float(t.min()), "time_hi": float(t.max()), "n_obs": int(idx.size),
                "quantile": float(q), "observed": float(observed[i]),
                "sim_lo": float(band[0, i]), "sim_median": float(band[1, i]),
                "sim_hi": float(band[2, i]),
                "inside": bool(band[0, i] <= observed[i] <= band[2, i]),
            })  # fmt: skip
    table = pd.DataFrame(rows).sort_values(["stratum", "bin", "quantile"], ignore_index=True)
    kept_obs = obs[["ID", "TIME", "DV", "stratum", "bin"]]
    return VPCResult(table, kept_obs, observable, replicates, len(draws), ci,
                     time.perf_counter() - t0)  # fmt: skip
