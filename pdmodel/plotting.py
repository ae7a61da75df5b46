"""Figures: population bands per arm and simulated endpoints against published findings.

matplotlib is imported inside the functions only.  Every function takes an optional ``ax`` (or
``fig``) and returns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .endpoints import ENDPOINTS
from .model import OBSERVABLES
from .solver import SimulationResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .trials import TrialResult

__all__ = ["plot_bands", "plot_findings"]

_COLOURS = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange")


def plot_bands(
    results: Mapping[str, SimulationResult],
    observable: str = "platelets",
    ax: Axes | None = None,
    log: bool = True,
    thresholds: Sequence[float] = (30.0, 100.0),
) -> Axes:
    """Median and 25-75% / 5-95% bands of an observable per arm.

    An arm of one patient is drawn as that patient's course, without bands.

    Parameters
    ----------
    results : mapping of str to SimulationResult
        One simulation per arm (same output times).
    observable : str
        Observable to plot (units in :data:`pdmodel.model.OBSERVABLES`).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    log : bool
        Logarithmic y axis.
    thresholds : sequence of float
        Horizontal reference lines (e.g. response thresholds, 10^9/L).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    for i, (label, res) in enumerate(results.items()):
        c = _COLOURS[i % len(_COLOURS)]
        if res[observable].shape[1] == 1:
            ax.plot(res.times, res[observable][:, 0], color=c, lw=1.8, label=label)
            continue
        q = np.percentile(res[observable], [5, 25, 50, 75, 95], axis=1)
        ax.fill_between(res.times, q[0], q[4], color=c, alpha=0.10, lw=0)
        ax.fill_between(res.times, q[1], q[3], color=c, alpha=0.25, lw=0)
        ax.plot(res.times, q[2], color=c, lw=1.8, label=f"{label}: median, 25-75%, 5-95%")
    for level in thresholds:
        ax.axhline(level, color="grey", lw=0.6, ls=":")
    if log:
        from matplotlib.ticker import LogFormatter

        ax.set_yscale("log")
        # counts as plain numbers (20, 50, 100), not 2 x 10^1; the minor ticks keep
        # matplotlib's rule for which of them get a label
        ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
        ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))
    ax.set_xlabel("time since start of treatment (days)")
    ax.set_ylabel(f"{observable.replace('_', ' ')} ({OBSERVABLES[observable]})")
    ax.legend(fontsize=8, frameon=False)
    return ax


def plot_findings(result: TrialResult, fig: Figure | None = None) -> Figure:
    """One panel per comparison finding: arm values with replicate-trial 95% intervals.

    Each panel title states the published finding, the model's verdict and the probability that
    a replicate trial of the published size reproduces it.

    Parameters
    ----------
    result : TrialResult
        A simulated trial.
    fig : matplotlib.figure.Figure, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    import matplotlib.pyplot as plt

    comps = [r for r in result.findings if r.finding.type in ("comparison", "change")]
    comps = [r for r in comps if ENDPOINTS[r.finding.endpoint][0] != "not modelled"]
    ncol = 3
    nrow = max(1, -(-len(comps) // ncol))
    if fig is None:
        fig = plt.figure(figsize=(4.0 * ncol, 3.0 * nrow), constrained_layout=True)
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    table = result.table()
    for ax, r in zip(axes, comps, strict=False):
        f = r.finding
        arms = list(f.arms) if f.type == "comparison" else [f.arm]
        rows = [table[(table.endpoint == f.endpoint) & (table.arm == a)].iloc[0] for a in arms]
        x = np.arange(len(arms))
        if ENDPOINTS[f.endpoint][0] == "ordinal":
            _stacked_grades(ax, result, f.endpoint, arms)
            prob = "" if r.probability is None else f", P(replicate) = {r.probability:.2f}"
            ax.set_title(f"{f.describe()}\nmodel: {r.status}{prob}", fontsize=8)
            continue
        vals = np.array([row.value for row in rows])
        lo = np.array([row.replicate_low for row in rows])
        hi = np.array([row.replicate_high for row in rows])
        colours = [_COLOURS[[a.name for a in result.trial.arms].index(a) % 5] for a in arms]
        ax.bar(x, vals, color=colours, alpha=0.6)
        ax.errorbar(x, vals, yerr=[vals - lo, hi - vals], fmt="none", ecolor="k", capsize=4)
        ax.set_xticks(x, arms)
        unit = ENDPOINTS[f.endpoint][1]
        ax.set_ylabel(f"{f.endpoint.replace('_', ' ')}" + (f" ({unit})" if unit else ""))
        prob = "" if r.probability is None else f", P(replicate) = {r.probability:.2f}"
        ax.set_title(f"{f.describe()}\nmodel: {r.status}{prob}", fontsize=8)
        ax.axhline(0, color="grey", lw=0.5)
    for ax in axes[len(comps) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"{result.trial.id}: simulated endpoints (bars: model, whiskers: replicate-trial 95% "
        f"interval at the published n) vs published findings",
        fontsize=9,
    )
    return fig


def _stacked_grades(ax: Axes, result: TrialResult, endpoint: str, arms: list[str]) -> None:
    """Stacked bars of the grade distribution per arm (best grade at the bottom)."""
    names = result.trial.endpoints.grade_names
    greys = np.linspace(0.15, 0.85, len(names))
    for j, arm in enumerate(arms):
        dist = result.summaries[arm][endpoint].distribution
        bottom = 0.0
        for k, frac in enumerate(dist):
            ax.bar(
                j,
                frac,
                bottom=bottom,
                color=str(greys[k]),
                edgecolor="white",
                label=names[k] if j == 0 else None,
            )
            bottom += frac
    ax.set_xticks(np.arange(len(arms)), arms)
    ax.set_ylabel("fraction of patients per grade")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=6, frameon=False, loc="upper right")
