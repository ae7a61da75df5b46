"""The main job: simulate a trial with the shipped parameters and report against its findings.

``pdmodel reproduce`` calls :func:`reproduce`.  Outputs (each written atomically, so an
interrupted run leaves no half-written file): ``report.json``, ``endpoints.csv``,
``findings.csv``, ``trajectories.png`` and ``endpoints.png``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ._progress import want_progress
from .checks import check_whole
from .errors import OptionError
from .io import OutputSet, check_writable, parameters_to_json, write_atomic
from .parameters import ParameterSet
from .shipped import SHIPPED_LABEL, resolve_fit, resolve_parameters
from .trials import TrialResult, load, simulate_trial

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .calibration import FitResult

__all__ = ["format_report", "reproduce", "save_figure"]


def _fmt_value(kind: str, value: float, sd: float, distribution: tuple[float, ...]) -> str:
    if not math.isfinite(value):
        return "n/a"
    if kind == "proportion":
        return f"{value:.3f}"
    if kind == "ordinal":
        return " / ".join(f"{x:.2f}" for x in distribution)
    if abs(sd) < 1e-9 * max(abs(value), 1.0):
        sd = 0.0
    return f"{value:.3g} +/- {sd:.2g}"


def format_report(result: TrialResult, params_label: str) -> str:
    """The console report: endpoints per arm, then every published finding with its status.

    Parameters
    ----------
    result : TrialResult
        The simulated trial.
    params_label : str
        Where the parameters come from.

    Returns
    -------
    str
        The report's text.
    """
    t = result.trial
    arms = [a.name for a in t.arms]
    lines = [
        f"{t.id}: {t.title}",
        f"source: {t.citation}",
        f"parameters: {params_label}",
        f"virtual patients per arm: {result.n_per_arm} (the same patients in every arm), "
        f"seed {result.seed}",
        "",
    ]
    names = list(result.summaries[arms[0]])
    width = max(len(n) for n in names) + 12
    header = "endpoint".ljust(width) + "".join(a.ljust(28) for a in arms)
    lines += [header, "-" * len(header)]
    grading = t.endpoints.grade_names
    for name in names:
        s0 = result.summaries[arms[0]][name]
        unit = {"proportion": "", "ordinal": " (grades)"}.get(s0.kind, "")
        cells = [
            _fmt_value(s.kind, s.value, s.sd, s.distribution)
            for s in (result.summaries[a][name] for a in arms)
        ]
        lines.append((name + unit).ljust(width) + "".join(c.ljust(28) for c in cells))
    # the columns fit their longest entry: nothing is cut off
    w_pub = max([len("published finding")] + [len(r.finding.describe()) for r in result.findings])
    w_mod = max([len("model")] + [len(r.model) for r in result.findings])
    header = (
        "published finding".ljust(w_pub + 2) + "model".ljust(w_mod + 2)
        + "P(replicate)  typical P  status"
    )  # fmt: skip
    lines += [
        f"(grades: {' / '.join(grading)}; continuous endpoints: mean +/- SD between patients)",
        "",
        header,
        "-" * (len(header) + 8),
    ]
    for r in result.findings:
        prob = "" if r.probability is None else f"{r.probability:.2f}"
        typical = "" if r.typical_p is None else f"{r.typical_p:.2g}"
        lines.append(
            r.finding.describe().ljust(w_pub + 2) + r.model.ljust(w_mod + 2) + prob.ljust(14)
            + typical.ljust(11) + r.status
        )  # fmt: skip
    modelled = [r for r in result.findings if r.status != "not modelled"]
    verdicts = [r for r in modelled if r.finding.type in ("comparison", "change")]
    numbers = [r for r in modelled if r.finding.type not in ("comparison", "change")]
    lines.append("")
    if verdicts:
        n_ok = sum(r.status == "reproduced" for r in verdicts)
        n_dir = sum(bool(r.direction_ok) for r in verdicts)
        n_08 = sum((r.probability or 0.0) >= 0.8 for r in verdicts)
        m = len(verdicts)
        lines.append(
            f"comparisons and changes: {n_ok} of {m} reproduced (published direction and "
            f"P(replicate) >= 0.5); direction right for {n_dir} of {m}; P(replicate) >= 0.8 "
            f"for {n_08} of {m}."
        )
    if numbers:
        n_in = sum(r.status == "reproduced" for r in numbers)
        lines.append(
            f"published numbers: {n_in} of {len(numbers)} inside the 95% range of a replicate "
            "arm of the published size (P(replicate) >= 0.05)."
        )
    if verdicts:
        lines.append(
            "typical P: the P value at the mean z statistic of a replicate trial of the published "
            "size under the model (about its median P value): the P value the model expects the "
            "trial to have reported.  P(replicate) >= 0.8 at alpha 0.05 needs a typical P of "
            "about 0.005 or less."
        )
    lines += [
        "P(replicate): for a comparison or change, the probability that a replicate trial of the "
        "published size reaches the published verdict (direction and significance); for a "
        "published number, the two-sided probability that a replicate arm lies at least as far "
        "from the model's prediction.",
        "Complications are not modelled.",
    ]
    return "\n".join(lines) + "\n"


def _report_json(result: TrialResult, params: ParameterSet, params_label: str) -> dict[str, Any]:
    from . import __version__

    t = result.trial
    table = result.table()
    return {
        "pdmodel_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "trial": {
            "id": t.id,
            "title": t.title,
            "citation": t.citation,
            "file": t.origin,
            "sha256": t.sha256,
            "assumptions": [dict(a) for a in t.assumptions],
        },
        "parameters": {
            "source": params_label,
            "sha256": hashlib.sha256(parameters_to_json(params).encode()).hexdigest(),
            "values": dict(params),
        },
        "n_per_arm": result.n_per_arm,
        "seed": result.seed,
        "endpoints": json.loads(table.to_json(orient="records")),
        "findings": [
            {
                "finding": r.finding.describe(),
                **r.finding.to_dict(),
                "model": r.model,
                "direction_ok": r.direction_ok,
                "probability": r.probability,
                "typical_p": r.typical_p,
                "status": r.status,
            }
            for r in result.findings
        ],
        "not_modelled": "complications and adverse events",
    }


def save_figure(fig: Figure, path: Path) -> Path:
    """Save a figure atomically (no partial file if saving fails).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : Path
        Destination (format from the suffix).

    Returns
    -------
    Path
        `path`.
    """
    return write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=120))


def reproduce(
    trial: str = "wu2016",
    params_file: str | None = None,
    n_per_arm: int = 2000,
    seed: int = 1,
    out: Path = Path("pdmodel-output"),
    quiet: bool = False,
    bands: int = 0,
    joint: int = 30,
    chain: str | Path | None = None,
) -> TrialResult:
    """Simulate `trial`, print the report and write the output files.

    Parameters
    ----------
    trial : str
        Shipped trial name or trial file.
    params_file : str, optional
        Parameter file, or ``"calibrated"`` / ``"table"`` (:func:`resolve_parameters`; default:
        the shipped calibrated set).
    n_per_arm : int
        Virtual patients per arm.
    seed : int
        Seed of the virtual population.
    out : Path
        Output folder (created if needed).
    quiet : bool
        No progress bar and no printed report.
    bands : int
        If >= 2, also draw this many parameter sets from the fit's approximate posterior, or
        from `chain` (:func:`pdmodel.calibration.predictive_bands`, at most
        :data:`BANDS_PER_ARM` virtual patients per arm each), print and write
        (``bands.csv``) the 2.5%, 50% and 97.5% quantiles of every endpoint per arm.  Needs a
        parameter file written with its fit (the shipped set, or ``pdmodel fit --out``).
    joint : int
        Parameter draws (>= 2; 0: off) from the fit's approximate posterior, or from `chain`,
        for the consistency checks (:func:`pdmodel.calibration.consistency`: each comparison's
        posterior predictive probability of the published verdict with its flag, and the
        joint check), printed and written to ``consistency.csv`` and ``report.json``;
        skipped, with a note, when the parameters come with no fit.
    chain : str or Path, optional
        An emcee chain table (``pdmodel fit --emcee`` writes ``<out>_chain.csv``): the draws of
        `bands` and `joint` are its rows (:func:`pdmodel.calibration.chain_draws`) instead of
        draws from the fit's Gaussian approximation.

    Returns
    -------
    TrialResult
        The simulated trial.
    """
    for name, v, lo in (
        ("--n", n_per_arm, 1), ("--seed", seed, 0), ("--bands", bands, 0), ("--joint", joint, 0)
    ):  # fmt: skip
        check_whole(v, name, lo)
    for name, v in (("--bands", bands), ("--joint", joint)):
        if v == 1:
            raise OptionError(f"`{name}` needs at least 2 draws (or 0 for none)")
    chain_table = None
    if chain is not None:
        if not (bands or joint):
            raise OptionError("--chain gives the draws' source; also give --joint or --bands")
        from .calibration import read_chain

        chain_table = read_chain(chain)  # before any simulation: a bad file fails at once
    design = load(trial)
    fit = None
    if bands:
        fit = _fit_of(params_file)
        params = fit.params
        label = SHIPPED_LABEL if params_file in (None, "calibrated") else f"file {params_file}"
    else:
        params, label = resolve_parameters(params_file)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out {out} exists and is not a folder")
    check_writable(out / "report.json", "--out")  # before any work
    result = simulate_trial(
        design, params, n_per_arm=n_per_arm, seed=seed, progress=want_progress(None) and not quiet
    )
    if not quiet:
        sys.stdout.write(format_report(result, label))

    rep = None
    if joint:
        from .calibration import consistency

        joint_fit = fit if fit is not None else resolve_fit(params_file, required=False)
        if joint_fit is not None and joint_fit.at_bound() and not quiet:
            flagged = ", ".join(f"{k} ({v})" for k, v in joint_fit.at_bound().items())
            print(f"\nnote: the fit has estimates at a bound: {flagged}; the bound, not the "
                  "data, sets them")  # fmt: skip
        if joint_fit is None:
            if not quiet:
                print("consistency checks skipped: these parameters come with no fit "
                      "(standard errors and correlations) to draw from")  # fmt: skip
        else:
            n_joint = min(n_per_arm, BANDS_PER_ARM)
            rep = consistency(joint_fit, design, n_draws=joint, n_per_arm=n_joint, seed=seed,
                              chain=chain_table)  # fmt: skip
            if not quiet:
                sys.stdout.write("\n" + rep.format())

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import plot_bands, plot_findings

    report = _report_json(result, params, label)
    if rep is not None:
        report["consistency"] = {
            "source": rep.source, "n_draws": rep.n_draws, "n_per_arm": rep.n_per_arm,
            "joint": rep.joint,
            "below_half": dataclasses.asdict(rep.below_half),
            "findings": rep.table().to_dict(orient="records"),
        }  # fmt: skip
    band_table = None
    if fit is not None:
        from .calibration import predictive_bands
        from .calibration.uncertainty import _draws_source

        n_band = min(n_per_arm, BANDS_PER_ARM)
        fixed_in_bands = [k for k in fit.free if not math.isfinite(fit.stderr.get(k, math.nan))]
        if fixed_in_bands and chain_table is None and not quiet:
            print(f"note: {', '.join(fixed_in_bands)} ha{'s' if len(fixed_in_bands) == 1 else 've'}"
                  " no standard error in the fit: held at the estimate in the bands")  # fmt: skip
        band_table = predictive_bands(fit, design, n_draws=bands, n_per_arm=n_band, seed=seed,
                                      chain=chain_table)  # fmt: skip
        if not quiet:
            sys.stdout.write(_format_bands(band_table, bands, n_band, _draws_source(chain_table)))
    # every file or none; a rerun replaces the whole set (no stale bands.csv beside new files)
    with OutputSet(out, stale=REPRODUCE_FILES) as outputs:
        outputs.text("report.json", json.dumps(report, indent=2))
        outputs.text("endpoints.csv", result.table().to_csv(index=False))
        outputs.text("findings.csv", result.findings_table().to_csv(index=False))
        fig, ax = plt.subplots(figsize=(9, 4.8), constrained_layout=True)
        plot_bands(result.simulations, "platelets", ax=ax)
        ax.set_title(f"{design.id}: platelet counts per arm ({n_per_arm} virtual patients each)")
        outputs.figure("trajectories.png", fig)
        plt.close(fig)
        fig = plot_findings(result)
        outputs.figure("endpoints.png", fig)
        plt.close(fig)
        if rep is not None:
            outputs.text("consistency.csv", rep.table().to_csv(index=False))
        if band_table is not None:
            outputs.text("bands.csv", band_table.to_csv(index=False))
    if not quiet:
        print(f"wrote {', '.join(p.name for p in outputs.written)} to {out}/")
    return result


#: Every file `reproduce` may write into its folder (a rerun removes those it does not write).
REPRODUCE_FILES = ("report.json", "endpoints.csv", "findings.csv", "trajectories.png",
                   "endpoints.png", "consistency.csv", "bands.csv")  # fmt: skip


#: Virtual patients per arm of each parameter draw of ``reproduce --bands``.
BANDS_PER_ARM = 300


def _fit_of(params_file: str | None) -> FitResult:
    """The fit behind `params_file` (default: the shipped set), for parameter-uncertainty bands."""
    from .calibration import CalibrationError

    try:
        return cast("FitResult", resolve_fit(params_file))
    except CalibrationError as exc:
        raise OptionError(
            f"--bands needs a parameter file written by `pdmodel fit` (with standard errors and "
            f"correlations): {exc}"
        ) from None


def _format_bands(table: Any, draws: int, n_band: int, source: str) -> str:
    """Console table of the bands: one row per endpoint, `median [2.5%, 97.5%]` per arm."""
    arms = list(dict.fromkeys(table["arm"]))
    lines = [
        "",
        f"parameter uncertainty: {draws} draws from {source}, "
        f"{n_band} virtual patients per arm each; median [95% band] of each arm's value",
        "endpoint (unit)".ljust(42) + "".join(a.ljust(30) for a in arms),
    ]
    from .endpoints import ENDPOINTS

    for endpoint, rows in table.groupby("endpoint", sort=False):
        kind, unit, _ = ENDPOINTS[str(endpoint)]
        label = f"{endpoint} ({'mean grade, 0 = best' if kind == 'ordinal' else unit})"
        cells = []
        for a in arms:
            r = rows[rows["arm"] == a]
            if r.empty or not math.isfinite(float(r["q0.5"].iloc[0])):
                cells.append("n/a")
                continue
            q = [float(r[c].iloc[0]) for c in ("q0.5", "q0.025", "q0.975")]
            cells.append(f"{q[0]:.3g} [{q[1]:.3g}, {q[2]:.3g}]")
        lines.append(label.ljust(42) + "".join(c.ljust(30) for c in cells))
    return "\n".join(lines) + "\n"
