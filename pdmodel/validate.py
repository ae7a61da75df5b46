"""Validation against trials the model was not fitted to (``pdmodel validate``).

A trial file marked ``role = "validation"`` is never fitted (:func:`pdmodel.fit` refuses it
unless asked explicitly).  :func:`validate` simulates it with a parameter set fitted to other
trials and sets the model's prediction of every published finding next to the published value:
for a published rate, its exact (Clopper-Pearson) binomial 95% interval and whether the
prediction lies inside; for every finding, the model's replicate probability and status as in
:func:`pdmodel.simulate_trial`.  It reports; it does not gate (the command exits 0 whatever the
verdict).  :func:`run` (the command) adds the regimen-behaviour checks of
:mod:`pdmodel.behaviour` (mechanistic facts across regimens) to the report.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scipy import stats as _st

from .checks import check_whole
from .errors import OptionError
from .parameters import ParameterSet, parameters_or_default
from .trials import Trial, available, load, simulate_trial

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "format_checks",
    "format_validation",
    "run",
    "validate",
    "validation_trials",
    "write_validation",
]


def validation_trials() -> list[str]:
    """Names of the shipped trials marked ``role = "validation"``.

    Returns
    -------
    list of str
        Sorted.
    """
    return [name for name in available() if load(name).role == "validation"]


def validate(
    trials: Sequence[Trial | str] | None = None,
    params: ParameterSet | None = None,
    n_per_arm: int = 2000,
    seed: int = 1,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Predict validation trials and compare with what they published.

    Parameters
    ----------
    trials : sequence of Trial or str, optional
        Trials (objects, shipped names or files; default: every shipped validation trial).
        A trial of role ``calibration`` is accepted too (its row says so).
    params : ParameterSet, optional
        Parameters (default: the package defaults; ``pdmodel validate`` uses the shipped
        calibrated set).
    n_per_arm : int
        Virtual patients per arm.
    seed : int
        Seed of the virtual population.
    progress : bool, optional
        Progress bar (default: only on a terminal).

    Returns
    -------
    pandas.DataFrame
        One row per finding: ``trial``, ``role``, ``finding``, ``endpoint``, ``arm``,
        ``published`` (rate or value), ``n``, ``ci95_low``, ``ci95_high`` (rates: the exact
        binomial interval of the published rate), ``model``, ``inside_ci95``,
        ``probability`` (replicate probability), ``status``.
    """
    import pandas as pd

    params = parameters_or_default(params)
    check_whole(n_per_arm, "n_per_arm", 1)
    names = validation_trials() if trials is None else list(trials)
    if not names:
        raise OptionError("no validation trial given, and none is shipped")
    rows: list[dict[str, Any]] = []
    for t in names:
        design = t if isinstance(t, Trial) else load(t)
        res = simulate_trial(design, params, n_per_arm=n_per_arm, seed=seed, progress=progress)
        for r in res.findings:
            f = r.finding
            row: dict[str, Any] = {
                "trial": design.id,
                "role": design.role,
                "finding": f.describe(),
                "endpoint": f.endpoint,
                "arm": f.arm or " vs ".join(f.arms),
                "published": None,
                "n": f.n,
                "ci95_low": None,
                "ci95_high": None,
                "model": r.model,
                "model_value": None,
                "inside_ci95": None,
                "probability": r.probability,
                "status": r.status,
            }
            if f.type == "proportion" and f.n and f.rate is not None:
                k = round(f.rate * f.n)
                ci = _st.binomtest(k, f.n).proportion_ci(confidence_level=0.95, method="exact")
                value = res.summaries[f.arm][f.endpoint].value
                row.update(
                    published=f.rate,
                    ci95_low=float(ci.low),
                    ci95_high=float(ci.high),
                    model_value=value,
                    inside_ci95=bool(ci.low <= value <= ci.high),
                )
            elif f.type in ("mean", "median"):
                row.update(
                    published=f.mean if f.type == "mean" else f.median,
                    model_value=res.summaries[f.arm][f.endpoint].value,
                )
            rows.append(row)
    return pd.DataFrame(rows)


def format_validation(table: pd.DataFrame, params_label: str) -> str:
    """The validation table as text.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`validate`.
    params_label : str
        Where the parameters come from.

    Returns
    -------
    str
        One line per published endpoint.
    """
    import pandas as pd

    lines = [f"parameters: {params_label}", ""]
    width = max(len("finding"), *(len(s) for s in table["finding"])) + 2
    lines.append(
        "finding".ljust(width) + "published [95% CI]".ljust(24) + "model".ljust(10)
        + "inside".ljust(8) + "P(replicate)  status"
    )  # fmt: skip
    for _, r in table.iterrows():
        if pd.notna(r["ci95_low"]):
            pub = f"{r['published']:.3f} [{r['ci95_low']:.3f}, {r['ci95_high']:.3f}]"
            model = f"{r['model_value']:.3f}"
            inside = "yes" if r["inside_ci95"] else "no"
        else:
            pub, model, inside = "", str(r["model"]), ""
        prob = "" if r["probability"] is None else f"{r['probability']:.3f}"
        lines.append(
            str(r["finding"]).ljust(width) + pub.ljust(24) + model.ljust(10) + inside.ljust(8)
            + prob.ljust(14) + str(r["status"])
        )  # fmt: skip
    n_rates = int(table["inside_ci95"].notna().sum())
    n_in = int(table["inside_ci95"].fillna(False).astype(bool).sum())
    lines += [
        "",
        f"published rates whose 95% interval holds the model's prediction: {n_in} of {n_rates}",
        "(a report, not a gate: validation trials are never fitted)",
    ]
    return "\n".join(lines) + "\n"


def format_checks(checks: pd.DataFrame) -> str:
    """The regimen-behaviour checks as text.

    Parameters
    ----------
    checks : pandas.DataFrame
        Output of :func:`pdmodel.behaviour.regimen_checks`.

    Returns
    -------
    str
        One line per check.
    """
    lines = ["", "regimen-behaviour checks (pdmodel.behaviour):"]
    width = max(len(str(c)) for c in checks["check"]) + 2
    for check, model, target, ok in zip(
        checks["check"], checks["model"], checks["target"], checks["ok"], strict=True
    ):
        met = "reported" if ok is None else ("met" if ok else "NOT met")
        lines.append(f"  {str(check).ljust(width)}{float(model):9.3f}  target {target!s:<26} {met}")
    n_ok = sum(1 for v in checks["ok"] if v is True)
    n = sum(1 for v in checks["ok"] if v is not None)
    lines.append(f"  met: {n_ok} of {n}")
    return "\n".join(lines) + "\n"


def write_validation(
    table: pd.DataFrame,
    out: Path,
    params_label: str,
    n_per_arm: int,
    seed: int,
    checks: pd.DataFrame | None = None,
) -> list[str]:
    """Write ``validation.json``, ``validation.csv`` and ``validation.png`` into `out`.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`validate`.
    out : Path
        Output folder (created).
    params_label : str
        Where the parameters come from (recorded).
    n_per_arm, seed : int
        Simulation settings (recorded).
    checks : pandas.DataFrame, optional
        Regimen-behaviour checks (:func:`pdmodel.behaviour.regimen_checks`): written to
        ``regimen_checks.csv`` and under ``"regimen_checks"`` in the JSON report.

    Returns
    -------
    list of str
        The file names written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._version import __version__
    from .io import OutputSet

    meta = {
        "pdmodel_version": __version__,
        "parameters": params_label,
        "n_per_arm": n_per_arm,
        "seed": seed,
    }
    records = json.loads(table.to_json(orient="records"))
    body: dict[str, Any] = {**meta, "findings": records}
    written = ["validation.json", "validation.csv", "validation.png"]
    if checks is not None:
        body["regimen_checks"] = json.loads(checks.to_json(orient="records"))
        written.append("regimen_checks.csv")
    rates = table[table["ci95_low"].notna()]
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.55 * max(len(rates), 1)), constrained_layout=True)
    for y, (_, r) in enumerate(rates.iterrows()):
        ax.errorbar(
            r["published"], y, xerr=[[r["published"] - r["ci95_low"]],
                                     [r["ci95_high"] - r["published"]]],
            fmt="o", color="black", capsize=3, label="published, 95% CI" if y == 0 else None,
        )  # fmt: skip
        ax.plot(r["model_value"], y, "D", color="tab:red", label="model" if y == 0 else None)
    ax.set_yticks(range(len(rates)), [f"{r.trial}: {r.endpoint}" for r in rates.itertuples()])
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("fraction of patients")
    ax.invert_yaxis()
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.set_title("Validation trials (not fitted): model vs published", fontsize=10)
    # every file or none; a rerun replaces the whole set
    with OutputSet(out, stale=VALIDATION_FILES) as outputs:
        if checks is not None:
            outputs.text("regimen_checks.csv", checks.to_csv(index=False))
        outputs.text("validation.json", json.dumps(body, indent=2))
        outputs.text("validation.csv", table.to_csv(index=False))
        outputs.figure("validation.png", fig)
    plt.close(fig)
    return written


#: Every file `write_validation` may write into its folder.
VALIDATION_FILES = ("validation.json", "validation.csv", "validation.png", "regimen_checks.csv")


def run(
    trials: Sequence[str] | None,
    params: ParameterSet,
    params_label: str,
    n_per_arm: int,
    seed: int,
    out: Path,
    quiet: bool,
) -> pd.DataFrame:
    """What ``pdmodel validate`` does: validate, print, write.

    Parameters
    ----------
    trials : sequence of str, optional
        Trial names or files (default: the shipped validation trials).
    params : ParameterSet
        Parameters.
    params_label : str
        Where they come from.
    n_per_arm, seed : int
        Simulation settings.
    out : Path
        Output folder.
    quiet : bool
        Print nothing.

    Returns
    -------
    pandas.DataFrame
        The validation table (the regimen checks are printed and written, not returned).
    """
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out {out} exists and is not a folder")
    from .behaviour import regimen_checks

    table = validate(trials or None, params, n_per_arm, seed, progress=False if quiet else None)
    checks = regimen_checks(params, n=max(n_per_arm, 10), seed=seed)
    if not quiet:
        sys.stdout.write(format_validation(table, params_label))
        sys.stdout.write(format_checks(checks))
    files = write_validation(table, out, params_label, n_per_arm, seed, checks)
    if not quiet:
        print(f"wrote {', '.join(files)} to {out}/")
    return table
