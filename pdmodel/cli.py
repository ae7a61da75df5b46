"""Command-line interface: ``pdmodel <command> ...`` (also ``python -m pdmodel``).

Every command exits with status 0 on success, 2 with a one-line ``pdmodel: error: ...`` message
on bad input, and never prints a traceback for a pdmodel error (set ``PDMODEL_DEBUG=1`` to see
one).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .calibration import DEFAULT_TRIALS
from .errors import PDModelError
from .io import EXPORTERS, read_table, save_parameters
from .parameters import ParameterSet

__all__ = ["build_parser", "main"]

_EPILOG = """examples:
  pdmodel reproduce                            simulate Wu 2016 and compare with its findings
  pdmodel reproduce --n 500 --out results/     smaller and faster, into results/
  pdmodel fit --out fitted.json                calibrate to the shipped trials, export JSON + CSV
  pdmodel params                               the parameter table with units, bounds, sources
  pdmodel params --format markdown             the same as a Markdown table
  pdmodel params --params fitted.json          values from a parameter file
  pdmodel export params --out params.csv       write the parameter set as CSV (or .json)
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"pdmodel: error: {message}\n")


_PARAMS_HELP = (
    "parameter file (JSON or CSV), `calibrated` (the shipped calibrated set) or `table` (the "
    "parameter table's values before calibration); default: {default}"
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pdmodel`` command."""
    parser = _Parser(
        prog="pdmodel",
        description="Mechanistic PD model of ITP under glucocorticoids +/- rhIL-11.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pdmodel {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the Python traceback of an error (also: environment PDMODEL_DEBUG=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    r = sub.add_parser(
        "reproduce",
        help="simulate the primary trial (Wu 2016) and compare with its published findings",
        epilog="examples:\n  pdmodel reproduce\n"
        "  pdmodel reproduce --n 500 --seed 2 --out results/\n"
        "  pdmodel reproduce --trial wei2016_prednisone --params fitted.json\n"
        "  pdmodel reproduce --bands 50   (endpoint bands from the fit's parameter uncertainty)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _trial_run_arguments(r)
    r.add_argument("--trial", default="wu2016", help="shipped trial name or trial file")
    r.add_argument(
        "--bands",
        type=int,
        default=0,
        metavar="DRAWS",
        help="also simulate DRAWS parameter sets from the fit's approximate posterior (or "
        "--chain) and write "
        "95%% bands of every endpoint (needs a parameter file written by `pdmodel fit`, such "
        "as the shipped set; default 0: off)",
    )
    r.add_argument(
        "--joint",
        type=int,
        default=30,
        metavar="DRAWS",
        help="posterior draws for the consistency checks: each comparison's probability of the "
        "published verdict over the fit's parameter uncertainty, its flag (consistent >= 0.5, "
        "tension >= 0.1, inconsistent) and the joint check (default 30; 0: off)",
    )
    r.add_argument("--chain", metavar="FILE.csv",
                   help="draw the --joint and --bands parameter sets from this emcee chain "
                   "(pdmodel fit --emcee) instead of the fit's approximate posterior")  # fmt: skip

    v = sub.add_parser(
        "validate",
        help='predict the trials held out of every fit (role = "validation") and compare',
        epilog="examples:\n  pdmodel validate\n"
        "  pdmodel validate yu2020_dexamethasone --params fitted.json --out results/\n"
        "Exit status 0 whatever the verdict: validation reports, it does not gate.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    v.add_argument(
        "trials",
        nargs="*",
        metavar="TRIAL",
        help="trial names or files (default: every shipped validation trial)",
    )
    _trial_run_arguments(v)

    s = sub.add_parser(
        "simulate",
        help="run a dose scenario file; write a tidy CSV (or Parquet) and a figure",
        epilog="examples:\n  pdmodel simulate examples/scenarios/prednisone_il11_50.toml\n"
        "  pdmodel simulate my.toml --n 100 --out my.csv --figure my.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _scenario_arguments(
        s,
        out="output table (.csv or .parquet; default: <scenario>.csv)",
        figure="output figure (.png; default: next to --out, <out>.png)",
        quiet="no progress and no summary",
    )
    s.add_argument(
        "--table",
        choices=("wide", "long", "nonmem"),
        default="wide",
        help="layout of --out: wide (a column per observable; default), long (patient, arm, "
        "time, observable, value, covariates) or nonmem (event table: ID, TIME, EVID, AMT, CMT, "
        "RATE, DV, MDV, ARM, covariates)",
    )
    s.add_argument(
        "--cohort",
        metavar="FILE.csv",
        help="the patients to simulate, one row per patient (weight, plt_base or any random "
        "effect by name, z_<name> deviates, ID); effects not given are drawn with the "
        "scenario's seed; replaces the scenario's population",
    )
    s.add_argument(
        "--events",
        metavar="FILE.csv",
        help="NONMEM-style event table: each patient's dosing history replaces the scenario's "
        "regimen (and its covariate columns the population, unless --cohort is given)",
    )
    _dask_argument(s)
    s.add_argument(
        "--stream",
        action="store_true",
        help="write the table to --out (.parquet) chunk by chunk, never holding every "
        "trajectory in memory (for populations too large for it); no figure or endpoint summary",
    )
    s.add_argument(
        "--chunk-size",
        type=int,
        metavar="N",
        help="patients per chunk (default: all at once, 2000 with --dask or --stream)",
    )

    w = sub.add_parser(
        "sweep",
        help="run a scenario over a grid of values; endpoint summary and dose-response figure",
        epilog="examples:\n  pdmodel sweep examples/scenarios/prednisone_il11_50.toml "
        "--vary il11.ug_per_kg=10,25,50,75 --vary il11.days=7,14\n"
        "  pdmodel sweep my.toml --vary param.il11_smax=1,2,4 --n 200 --workers 2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _scenario_arguments(
        w,
        out="summary table (default: <scenario>-sweep.csv)",
        figure="dose-response figure (default: next to --out, <out>.png)",
        quiet="no table on stdout",
    )
    w.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="builder.argument, regimen[i].argument, scenario.days, param.NAME",
    )
    w.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    _dask_argument(w)

    g = sub.add_parser(
        "sensitivity",
        help="global sensitivity (Sobol or Morris, SALib) of a scenario's endpoints to parameters",
        epilog="examples:\n  pdmodel sensitivity examples/scenarios/prednisone.toml "
        "--parameters k_ab,gc_ec50,gc_imax_mk\n"
        "  pdmodel sensitivity S.toml --parameters k_ab,clone_r --method morris --n 20",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("scenario", help="scenario file (TOML)")
    g.add_argument("--parameters", required=True, metavar="A,B,...",
                   help="parameters to vary over their prior (+/- --width prior SDs)")  # fmt: skip
    g.add_argument(
        "--endpoints",
        default="initial_response,complete_response,treatment_course",
        metavar="E,F,...",
        help="endpoints (default initial_response,complete_response,treatment_course)",
    )
    g.add_argument("--method", choices=("sobol", "morris"), default="sobol")
    g.add_argument("--n", dest="samples", type=int, default=64,
                   help="Sobol base sample (power of 2; n x (k + 2) evaluations) or Morris "
                   "trajectories (n x (k + 1)); default 64")  # fmt: skip
    g.add_argument("--patients", type=int, default=200,
                   help="virtual patients per evaluation (default 200)")  # fmt: skip
    g.add_argument("--batch-size", type=int, metavar="B",
                   help="parameter samples per engine call (default: about 20,000 "
                   "patients per call; 1 = one call per sample; same indices)")  # fmt: skip
    g.add_argument("--width", type=float, default=2.0, help="prior SDs on each side (default 2)")
    g.add_argument("--range", dest="ranges", action="append", default=[], metavar="NAME=LOW:HIGH",
                   help="explicit range of one parameter, in its table units (repeatable; "
                   "needed for parameters without a prior)")  # fmt: skip
    g.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    g.add_argument("--params", metavar="FILE", help=_PARAMS_HELP.format(default="calibrated"))
    g.add_argument("--out", help="index table (.csv; default <scenario>-sensitivity.csv)")
    g.add_argument("--figure", help="figure (default: next to --out, .png)")
    g.add_argument("--quiet", action="store_true", help="no progress and no table")
    _dask_argument(g)

    d = sub.add_parser(
        "design",
        help="power and sample size of a proposed two-arm trial, with parameter uncertainty",
        epilog="examples:\n  pdmodel design wu2016 --draws 20\n"
        "  pdmodel design my_trial.toml --compare initial_response:hddxm>prednisone:fisher "
        "--power 0.9\n"
        "  pdmodel design wu2016 --compare onset_time:observation<control --n 20,40,60 "
        "--resample 2000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("trial", help="trial file (TOML: arms, entry, endpoints) or shipped name")
    d.add_argument("--compare", action="append", default=[], metavar="END:A>B[:TEST[:ALPHA]]",
                   help="a planned comparison (> greater, < less, != either; default: the "
                   "trial's comparison findings); repeatable")  # fmt: skip
    d.add_argument("--power", type=float, default=0.8, help="target power (default 0.8)")
    d.add_argument("--n", dest="grid", metavar="N1,N2,...",
                   help="patients per arm for the power table (default 10..400)")  # fmt: skip
    d.add_argument("--patients", type=int, default=1000,
                   help="virtual patients per arm of each simulation (default 1000)")  # fmt: skip
    d.add_argument("--draws", type=int, default=0,
                   help="posterior parameter draws for the uncertainty (default 0)")  # fmt: skip
    d.add_argument("--chain", metavar="FILE.csv",
                   help="draw from this emcee chain (pdmodel fit --emcee) instead of the fit's "
                   "Gaussian approximation")  # fmt: skip
    d.add_argument("--resample", type=int, default=0, metavar="R",
                   help="check each required size with R resampled trials (default 0)")  # fmt: skip
    d.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    d.add_argument("--params", metavar="FILE", help=_PARAMS_HELP.format(default="calibrated"))
    d.add_argument("--out", help="power table (.csv; default <trial>-design.csv); the "
                   "required sizes go to <out>-n.csv")  # fmt: skip
    d.add_argument("--figure", help="power-curve figure (default: next to --out, .png)")
    d.add_argument("--quiet", action="store_true", help="no progress and no table")

    o = sub.add_parser(
        "optimise",
        help="least-cost regimen within bounds meeting a target, with parameter uncertainty",
        epilog="examples:\n  pdmodel optimise examples/problems/response_by_day14.toml\n"
        "  pdmodel optimise examples/problems/response_by_day14.toml --draws 20",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    o.add_argument("problem", help="optimisation problem file (TOML; docs/analyses.md)")
    o.add_argument("--draws", type=int, default=0,
                   help="posterior parameter draws under which the optimum and runners-up "
                   "are re-simulated (default 0)")  # fmt: skip
    o.add_argument("--chain", metavar="FILE.csv",
                   help="draw from this emcee chain (pdmodel fit --emcee) instead of the fit's "
                   "Gaussian approximation")  # fmt: skip
    o.add_argument("--runners-up", type=int, default=3,
                   help="ranked regimens after the optimum to report (default 3)")  # fmt: skip
    o.add_argument("--seed", type=int, default=1, help="seed of the draws (default 1)")
    o.add_argument("--params", metavar="FILE", help=_PARAMS_HELP.format(default="calibrated"))
    o.add_argument("--out", help="candidate table (.csv; default <problem>-optimise.csv); with "
                   "--draws the uncertainty goes to <out>-uncertainty.csv")  # fmt: skip
    o.add_argument("--figure", help="figure (default: next to --out, .png)")
    o.add_argument("--quiet", action="store_true", help="no progress and no table")

    v = sub.add_parser(
        "vpc",
        help="visual predictive check of an observed event table against the model",
        epilog="examples:\n  pdmodel vpc observed.csv --plt-max 30\n"
        "  pdmodel vpc observed.csv --draws 20 --error-cv 0.1 --replicates 400",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    v.add_argument("table", help="NONMEM-style event table (.csv or .parquet; docs/interchange.md)")
    v.add_argument("--replicates", type=int, default=200,
                   help="simulated replicates of the design (default 200)")  # fmt: skip
    v.add_argument(
        "--draws",
        type=int,
        default=0,
        help="posterior parameter draws, used in turn by the replicates (default 0)",
    )
    v.add_argument("--chain", metavar="FILE.csv",
                   help="draw from this emcee chain (pdmodel fit --emcee) instead of the fit's "
                   "Gaussian approximation")  # fmt: skip
    v.add_argument("--plt-max", type=float, metavar="X",
                   help="entry criterion of the observed patients: untreated platelets < X "
                   "10^9/L (default none)")  # fmt: skip
    v.add_argument(
        "--error-cv",
        type=float,
        default=0.0,
        metavar="CV",
        help="proportional residual error of simulated observations (default 0)",
    )
    v.add_argument(
        "--bins",
        type=int,
        help="quantile time bins (default: each nominal time, up to 20, else 10)",
    )
    v.add_argument("--observable", default="platelets", help="observable (default platelets)")
    v.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    v.add_argument("--params", metavar="FILE", help=_PARAMS_HELP.format(default="calibrated"))
    v.add_argument("--out", help="VPC table (.csv; default <table>-vpc.csv)")
    v.add_argument("--figure", help="figure (default: next to --out, .png)")
    v.add_argument("--quiet", action="store_true", help="no progress and no table")

    f = sub.add_parser(
        "fit",
        help="calibrate parameters to trial findings (lmfit) and export them",
        epilog="examples:\n  pdmodel fit --out fitted.json\n"
        "  pdmodel fit --starts 4 --workers 2 --max-nfev 150 --out start.json\n"
        "  pdmodel fit --params start.json --workers 2 --out fitted.json"
        "   (how the shipped set was made)\n"
        "  pdmodel fit wu2016 my_trial.toml --free k_ab,il11_smax --n 300 --out fitted.json\n"
        "  pdmodel fit --profile il11_smax,gc_imax_mac --out fitted.json\n"
        "  pdmodel fit --emcee 300 --out fitted.json   (needs pdmodel[mcmc])",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    f.add_argument("trials", nargs="*", help="shipped trial names or trial files (default: "
                   + " ".join(DEFAULT_TRIALS) + ")")  # fmt: skip
    f.add_argument(
        "--params", metavar="FILE", help="start values: " + _PARAMS_HELP.format(default="table")
    )
    f.add_argument("--free", help="comma-separated parameters to estimate (default: see docs)")
    f.add_argument("--n", type=int, default=300, help="virtual patients per arm (default 300)")
    f.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    f.add_argument("--starts", type=int, default=1, help="local fits from prior draws (default 1)")
    f.add_argument("--max-nfev", type=int, default=None,
                   help="evaluation budget per local fit (for least_squares: trial points, "
                   "not counting its finite-difference Jacobians)")  # fmt: skip
    f.add_argument("--prior-scale", type=float, default=1.0, metavar="K",
                   help="multiply every prior SD by K (> 0) for a prior sensitivity analysis "
                   "(default 1: the parameter table's priors)")  # fmt: skip
    f.add_argument("--workers", type=int, default=1,
                   help="processes: starts side by side, or with one start each "
                   "evaluation's patients (default 1)")  # fmt: skip
    f.add_argument("--profile", help="comma-separated parameters to profile after the fit")
    f.add_argument(
        "--allow-validation",
        action="store_true",
        help='fit trials marked role = "validation" too (refused by default)',
    )
    f.add_argument("--emcee", type=int, default=0, metavar="STEPS",
                   help="after the fit, sample the posterior with emcee for STEPS steps and "
                   "write FILE_chain.csv (needs pdmodel[mcmc])")  # fmt: skip
    f.add_argument("--walkers", type=int, default=None,
                   help="emcee walkers (default: 2 x free parameters, at least 8)")  # fmt: skip
    f.add_argument("--out", metavar="FILE.json", default=f"{DEFAULT_OUTPUT}/fitted.json",
                   help="output JSON (a CSV with the same stem is written too)")  # fmt: skip
    f.add_argument("--quiet", action="store_true", help="no progress, no report")
    _dask_argument(f)

    p = sub.add_parser(
        "params",
        help="print the parameter table (value, unit, bounds, prior, source)",
        epilog="examples:\n  pdmodel params\n  pdmodel params --params calibrated\n"
        "  pdmodel params --format csv --params fitted.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--params", metavar="FILE", help=_PARAMS_HELP.format(default="table"))
    p.add_argument(
        "--format",
        choices=("text", *EXPORTERS),
        default="text",
        help="output format (default: text)",
    )

    e = sub.add_parser(
        "export",
        help="write the parameter set to a file",
        epilog="examples:\n  pdmodel export params --out calibrated.csv\n"
        "  pdmodel export params --params table --out table.json\n"
        "  pdmodel export params --params fitted.json --out fitted.csv\n"
        "  pdmodel export sbml --params fitted.json --regimen regimen.toml --out model.xml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument(
        "what",
        choices=("params", "sbml", "nonmem"),
        help="params: the parameter set; sbml: the model; nonmem: an event table of a simulated "
        "scenario (--scenario) or trial (--trial)",
    )
    e.add_argument(
        "--params",
        metavar="FILE",
        help=_PARAMS_HELP.format(default="calibrated")
        + "; a fitted set keeps its standard errors, intervals and provenance",
    )
    e.add_argument(
        "--regimen",
        metavar="FILE.toml",
        help="sbml: regimen file ([[regimen]] builder tables, optional [patient] table)",
    )
    e.add_argument("--scenario", metavar="FILE.toml", help="nonmem: the scenario to simulate")
    e.add_argument("--trial", metavar="TRIAL", help="nonmem: the trial to simulate (every arm)")
    e.add_argument("--n", type=int, help="nonmem: patients (scenario) or per arm (trial; "
                   "default 200)")  # fmt: skip
    e.add_argument("--seed", type=int, help="nonmem: seed of the virtual population")
    e.add_argument(
        "--out", metavar="FILE", required=True, help="output file (.json, .csv, .xml, .parquet)"
    )
    return parser


_DASK_HELP = (
    "run the simulations on a Dask cluster: a scheduler address (tcp://host:8786) or local:N "
    "for N local worker processes (needs the [dask] extra; results do not depend on it)"
)


def _dask_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dask", metavar="SCHEDULER", help=_DASK_HELP)


def _trial_run_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments `reproduce` and `validate` share."""
    p.add_argument("--params", metavar="FILE", help=_PARAMS_HELP.format(default="calibrated"))
    p.add_argument("--n", type=int, default=2000, help="virtual patients per arm (default 2000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the virtual population (default 1)")
    p.add_argument(
        "--out", default=DEFAULT_OUTPUT, help=f"output folder (default: {DEFAULT_OUTPUT}/)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar, no tables")
    _dask_argument(p)


def _scenario_arguments(p: argparse.ArgumentParser, out: str, figure: str, quiet: str) -> None:
    """The arguments `simulate` and `sweep` share."""
    p.add_argument("scenario", help="scenario file (TOML)")
    p.add_argument("--params", metavar="FILE", help=_PARAMS_HELP.format(default="calibrated"))
    p.add_argument("--n", type=int, help="override the population size")
    p.add_argument("--seed", type=int, help="override the population seed")
    p.add_argument("--out", help=out)
    p.add_argument("--figure", help=figure)
    p.add_argument("--quiet", action="store_true", help=quiet)


def _scenario_outputs(
    args: argparse.Namespace, out_suffix: str, source: str | None = None
) -> tuple[Path, Path]:
    """Validate --n, --seed (and --workers) and the output paths of `simulate` and `sweep`
    (`source`: the input file the default names follow, default the scenario)."""
    from .checks import check_whole

    for name, low in (("n", 1), ("seed", 0), ("workers", 1)):
        value = getattr(args, name, None)
        if value is not None:
            check_whole(value, f"--{name}", low)
    from .errors import OptionError

    source = source or args.scenario
    stem = Path(source).stem
    example = f"{stem}{out_suffix}"
    out = _file_target(args.out or _default_output(example), "--out", example)
    allowed = (".csv", ".parquet") if args.command == "simulate" else (".csv",)
    if out.suffix.lower() not in allowed:
        raise OptionError(f"--out {out}: a table file ends in {' or '.join(allowed)}")
    # the figure goes next to the table unless named
    fig_default = out.with_suffix(".png")
    fig = _file_target(args.figure or str(fig_default), "--figure", fig_default.name)
    _figure_format(fig)
    if fig.resolve() == out.resolve():
        raise OptionError(f"--figure {fig} is the same file as --out; give another name")
    inputs = [source, getattr(args, "params", None), getattr(args, "cohort", None),
              getattr(args, "events", None), getattr(args, "chain", None)]  # fmt: skip
    _not_an_input("--out", out, inputs)
    _not_an_input("--figure", fig, inputs)
    return out, fig


def _not_an_input(option: str, path: Path, inputs: Sequence[str | None]) -> None:
    """Refuse an output that would overwrite one of the command's input files."""
    from .errors import OptionError

    for given in inputs:
        if given and Path(given).exists() and Path(given).resolve() == path.resolve():
            raise OptionError(f"{option} {path} is an input of the command ({given}); it "
                              "would be overwritten: choose another name")  # fmt: skip


def _patient_scenario_options(args: argparse.Namespace, sc: Any) -> None:
    """Refuse --n and --seed for a scenario of one patient (they would be ignored)."""
    from .errors import OptionError

    if sc.patient:
        for option in ("n", "seed"):
            if getattr(args, option, None) is not None:
                raise OptionError(
                    f"--{option} does not apply: {sc.origin} describes one patient ([patient] "
                    "table); give a [population] table to simulate several"
                )


def _figure_format(path: Path) -> None:
    """Refuse a figure file whose extension matplotlib cannot write."""
    from matplotlib.backend_bases import FigureCanvasBase

    from .errors import OptionError

    kinds = FigureCanvasBase.get_supported_filetypes()
    if path.suffix.lower().lstrip(".") not in kinds:
        what = path.suffix or "a file without an extension"
        listed = ", ".join("." + k for k in sorted(kinds))
        raise OptionError(f"--figure {path}: matplotlib cannot write {what}; use one of {listed}")


#: The folder every command writes into when no output is named.
DEFAULT_OUTPUT = "pdmodel-output"


def _default_output(name: str) -> str:
    """`name` inside :data:`DEFAULT_OUTPUT` (created when the files are written)."""
    return str(Path(DEFAULT_OUTPUT) / name)


def _file_target(value: str, option: str, example: str) -> Path:
    """An output file named by `option`: its folder must exist and it must not be a folder."""
    from .errors import OptionError
    from .io import check_writable

    path = Path(value)
    if path.is_dir():
        raise OptionError(f"{option} {path} is a folder; give a file name, e.g. {path / example}")
    if path.parent.exists() and not path.parent.is_dir():
        raise OptionError(f"{option} {path}: {path.parent} is a file, not a folder")
    if not path.parent.exists() and path.parent != Path(DEFAULT_OUTPUT):
        raise OptionError(f"{option}: folder {path.parent} does not exist")
    return check_writable(path, option)


def _params(spec: str | None, default: str) -> tuple[ParameterSet, str]:
    """`--params`: a file, `calibrated` or `table`; None means `default`."""
    from .shipped import resolve_parameters

    return resolve_parameters(spec, default)


def _text_table(params: ParameterSet) -> str:
    rows = [("name", "value", "unit", "bounds", "prior", "status", "source")]
    for name, spec in params.table.items():
        rows.append(
            (
                name,
                f"{params[name]:.6g}",
                spec.unit,
                f"[{spec.lower:g}, {spec.upper:g}]",
                spec.prior,
                spec.status,
                spec.source,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for r in rows:
        lines.append(
            "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        )
    return "\n".join(lines) + "\n"


def _cmd_params(args: argparse.Namespace) -> int:
    params, _ = _params(args.params, "table")
    text = _text_table(params) if args.format == "text" else EXPORTERS[args.format](params)
    sys.stdout.write(text)
    return 0


def _uncertainty_columns(spec: str | None) -> bool:
    """True if `spec` is a CSV file whose stderr / 95%-interval columns hold values."""
    import csv

    if spec is None or Path(spec).suffix.lower() != ".csv":
        return False
    with open(spec, newline="", encoding="utf-8") as fh:
        return any(
            (row.get(col) or "").strip()
            for row in csv.DictReader(fh)
            for col in ("stderr", "ci95_low", "ci95_high")
        )


def _cmd_export(args: argparse.Namespace) -> int:
    from .errors import OptionError
    from .shipped import resolve_fit

    nonmem_only = [f"--{k}" for k in ("scenario", "trial", "n", "seed") if getattr(args, k)
                   is not None]  # fmt: skip
    if args.what == "nonmem":
        return _export_nonmem(args)
    if nonmem_only:
        raise OptionError(f"{nonmem_only[0]} is an option of `export nonmem`, not of "
                          f"`export {args.what}`")  # fmt: skip

    _file_target(args.out, "--out", "params.json" if args.what == "params" else "model.xml")
    _not_an_input("--out", Path(args.out), [args.params, args.regimen])
    # a fitted set keeps its standard errors, intervals and provenance
    fit = resolve_fit(args.params, required=False) if args.what == "params" else None
    params = fit.params if fit is not None else _params(args.params, "calibrated")[0]
    if args.what == "params":
        if _uncertainty_columns(args.params):
            print(
                f"note: the stderr / ci95 columns of {args.params} are not carried over (a CSV "
                "is a table view of a fit; export from the fit's JSON file to keep them)",
                file=sys.stderr,
            )
        dest = save_parameters(params, Path(args.out), fit=fit)
    else:
        from .io import write_text_atomic
        from .sbml import to_sbml

        regimen, patient = _regimen_file(args.regimen, params) if args.regimen else (None, None)
        if Path(args.out).suffix.lower() not in (".xml", ".sbml"):
            raise OptionError(f"--out must name an .xml file for SBML, got {args.out}")
        dest = write_text_atomic(Path(args.out), to_sbml(params, regimen, patient))
    print(f"wrote {dest}")
    return 0


def _export_nonmem(args: argparse.Namespace) -> int:
    """`export nonmem`: the event table of a simulated scenario or trial."""
    from .checks import check_whole
    from .errors import OptionError
    from .io import write_table

    if (args.scenario is None) == (args.trial is None):
        raise OptionError("export nonmem needs exactly one of --scenario FILE.toml or --trial NAME")
    if args.regimen is not None:
        raise OptionError("--regimen is an option of `export sbml`; a scenario gives the regimen")
    out = _file_target(args.out, "--out", "events.csv")
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise OptionError(f"--out must end in .csv or .parquet, got {out}")
    for name, low in (("n", 1), ("seed", 0)):
        if getattr(args, name) is not None:
            check_whole(getattr(args, name), f"--{name}", low)
    params, label = _params(args.params, "calibrated")
    if args.scenario is not None:
        from .scenarios import load_scenario

        sc = load_scenario(args.scenario)
        if args.n is not None:
            sc = dataclasses.replace(sc, n=args.n)
        if args.seed is not None:
            sc = dataclasses.replace(sc, seed=args.seed)
        args.cohort = args.events = None
        run = _scenario_run(args, sc, params)
        res = run.simulate(sc.days, times=sc.times, observables=sc.observables, progress=False)
        frame = _output_table(run, res, "nonmem", sc.title, sc.observables)
        meta = _provenance(sc, params, label, run)
        meta["compartments"] = _compartment_meta(params)  # type: ignore[assignment]
    else:
        frame, meta = _trial_event_table(args, params, label)
    written = write_table(out, frame, meta)
    doses, patients = int((frame.EVID == 1).sum()), frame.ID.nunique()
    print(f"wrote {', '.join(map(str, written))} ({patients} patients, {doses} dose records, "
          f"{len(frame) - doses} observation records)")  # fmt: skip
    return 0


def _trial_event_table(
    args: argparse.Namespace, params: ParameterSet, label: str
) -> tuple[Any, dict[str, str]]:
    """Every arm of a simulated trial as one event table (IDs numbered across arms)."""
    import pandas as pd

    from .events import to_event_table
    from .io import parameters_to_json
    from .trials import enrol, load, simulate_trial

    trial = load(args.trial)
    n = 200 if args.n is None else args.n
    seed = 1 if args.seed is None else args.seed
    result = simulate_trial(trial, params, n, seed, progress=False)
    pop = enrol(trial, params, n, seed)
    parts = []
    for k, arm in enumerate(trial.arms):
        part = to_event_table(result.simulations[arm.name], pop, arm=arm.name)
        part["ID"] = part["ID"] + k * n + 1  # unique across arms, from 1
        parts.append(part)
    meta = {
        "pdmodel_version": __version__,
        "trial": f"{trial.id}: {trial.title} ({args.trial})",
        "parameters": f"{label} (sha256 {_sha256_text(parameters_to_json(params))})",
        "patients": f"{n} per arm, seed {seed}; IDs 1-{n} arm {trial.arms[0].name}, then "
        "the next arm, and so on",
        "arms": "; ".join(
            f"{a.name}: {a.regimen.describe()}".replace("\n", ", ") for a in trial.arms
        ),
    }
    meta["compartments"] = _compartment_meta(params)  # type: ignore[assignment]
    return pd.concat(parts, ignore_index=True), meta


def _regimen_file(path: str, params: ParameterSet) -> tuple[Any, Any]:
    """Read a regimen file: ``[[regimen]]`` builder tables and an optional ``[patient]`` table."""
    from ._toml import read_toml
    from .checks import check_keys
    from .population import Population
    from .trials import TrialError, regimen_from_entries

    data, _ = read_toml(Path(path), TrialError, "regimen")
    check_keys(data, ("regimen", "patient"), lambda key, why: TrialError(f"{path}: `{key}`: {why}"))
    regimen = regimen_from_entries(data.get("regimen", []), origin=path)
    try:
        patient = Population.patient(params, **data.get("patient", {}))
    except PDModelError as exc:
        raise TrialError(f"{path}: `patient`: {exc}") from None
    return regimen, patient


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from .reproduce import reproduce

    reproduce(
        trial=args.trial,
        params_file=args.params,
        n_per_arm=args.n,
        seed=args.seed,
        out=Path(args.out),
        quiet=args.quiet,
        bands=args.bands,
        joint=args.joint,
        chain=args.chain,
    )
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .checks import check_whole
    from .errors import OptionError
    from .io import check_writable
    from .validate import run

    check_whole(args.n, "--n", 1)
    check_whole(args.seed, "--seed", 0)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out {out} exists and is not a folder")
    check_writable(out / "validation.json", "--out")  # before any work
    params, label = _params(args.params, "calibrated")
    run(args.trials, params, label, args.n, args.seed, out, args.quiet)
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    from .calibration import DEFAULT_FREE, check_options, fit, profile
    from .errors import OptionError

    check_options(args.n, args.seed, args.starts, args.workers, args.prior_scale)
    out = _file_target(args.out, "--out", "fitted.json")
    if out.suffix.lower() != ".json":
        raise OptionError(f"--out must name a .json file, got {out}")
    _not_an_input("--out", out, [args.params, *args.trials])
    _not_an_input("--out", out.with_suffix(".csv"), [args.params, *args.trials])
    for opt, value in (("--free", args.free), ("--profile", args.profile)):
        if value is not None and not value.strip(", "):
            raise OptionError(f"{opt} needs at least one parameter name, got {value!r}")
    free = (
        tuple(x.strip() for x in args.free.split(",") if x.strip())
        if args.free is not None
        else DEFAULT_FREE
    )
    seen: set[str] = set()
    for name in args.trials:
        if name in seen:
            raise OptionError(f"trial {name} is given twice; each trial counts once in a fit")
        seen.add(name)
    table = _params(args.params, "table")[0].table
    fixed = [k for k in free if k in table and table[k].fixed]
    if fixed and not args.quiet:
        print(f"note: {', '.join(fixed)} {'is' if len(fixed) == 1 else 'are'} fixed in the "
              "parameter table (a sourced value); estimating anyway, as --free asks",
              file=sys.stderr)  # fmt: skip
    # check the after-fit options before the (long) fit
    to_profile = [x.strip() for x in (args.profile or "").split(",") if x.strip()]
    bad = [x for x in to_profile if x not in free]
    if bad:
        raise OptionError(f"--profile: {bad} are not estimated; estimated: {', '.join(free)}")
    if args.emcee:
        import importlib.util

        from .errors import MissingExtraError

        if isinstance(args.emcee, bool) or args.emcee < 2:
            raise OptionError(f"--emcee must be a number of steps >= 2, got {args.emcee}")
        if importlib.util.find_spec("emcee") is None:
            raise MissingExtraError('--emcee needs emcee: pip install "pdmodel[mcmc]"')
        if args.walkers is not None and args.walkers < 2 * len(free):
            raise OptionError(
                f"--walkers must be at least 2 x the {len(free)} free parameters "
                f"({2 * len(free)}), got {args.walkers}"
            )
    elif args.walkers is not None:
        raise OptionError("--walkers applies to posterior sampling: add --emcee STEPS")
    result = fit(
        args.trials or None,
        params=_params(args.params, "table")[0],
        free=free,
        n_per_arm=args.n,
        seed=args.seed,
        starts=args.starts,
        max_nfev=args.max_nfev,
        progress=False if args.quiet else None,
        workers=args.workers,
        prior_scale=args.prior_scale,
        allow_validation=args.allow_validation,
    )
    if not args.quiet:
        sys.stdout.write(result.report())
    if to_profile:
        import numpy as np

        for name in to_profile:
            v = result.params[name]
            grid = v * np.exp(np.linspace(-0.5, 0.5, 7))
            spec = result.params.table[name]
            grid = np.clip(grid, spec.lower, spec.upper)
            rows = profile(result, name, list(np.unique(grid)), workers=args.workers)
            print(f"profile of {name} (value, -2 log posterior):")
            for x, y in rows:
                print(f"  {x:12.5g}  {y:10.3f}")
    from .io import OutputSet, parameters_to_csv, parameters_to_json

    with OutputSet() as outputs:  # both files or neither
        outputs.text(out, parameters_to_json(result.params, result))
        outputs.text(out.with_suffix(".csv"), parameters_to_csv(result.params, result))
    print(f"wrote {out} and {out.with_suffix('.csv')}")
    if args.emcee:
        from .calibration import sample
        from .io import write_text_atomic

        post = sample(
            result, steps=args.emcee, walkers=args.walkers, seed=args.seed,
            progress=False if args.quiet else None,
        )  # fmt: skip
        chain_path = out.with_name(out.stem + "_chain.csv")
        write_text_atomic(chain_path, post.chain.to_csv(index=False))
        print(
            f"emcee: {post.provenance['walkers']} walkers x {args.emcee} steps "
            f"(burn-in {post.provenance['burn']}), acceptance {post.acceptance:.2f}"
        )
        print(post.summary.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
        if not post.long_enough:
            worst = max(post.autocorr.values())
            print(
                f"note: the chain is shorter than 50 autocorrelation times (estimated max "
                f"{worst:.1f} steps, taken as >= 1) after burn-in; run more steps before "
                "trusting the quantiles"
            )
        print(f"wrote {chain_path}")
    return 0


def _in_file(path: str, call: Callable[[], Any]) -> Any:
    """Run `call`; a :class:`DataError` it raises is prefixed with the file name."""
    from .errors import DataError

    try:
        return call()
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None


@dataclasses.dataclass
class _Run:
    """What a scenario run simulates: the patients and how (own regimen or event histories)."""

    pop: Any
    regimen: Any
    histories: Any
    inputs: dict[str, str]

    def simulate(self, days: float, **kwargs: Any) -> Any:
        from .solver import simulate

        if self.histories is not None:
            return self.histories.simulate(self.pop, days, **kwargs)
        return simulate(self.pop, self.regimen, days, **kwargs)


def _scenario_run(args: argparse.Namespace, sc: Any, params: ParameterSet) -> _Run:
    """The patients and dosing of `simulate` / `export nonmem`: scenario, --cohort, --events."""
    from .errors import OptionError
    from .events import from_event_table
    from .population import Population

    cohort_file, events_file = getattr(args, "cohort", None), getattr(args, "events", None)
    if args.n is not None and (cohort_file or events_file):
        raise OptionError("--n cannot be combined with --cohort or --events: the table gives the "
                          "patients")  # fmt: skip
    if sc.patient and (cohort_file or events_file):
        raise OptionError(f"{sc.origin} describes one patient ([patient] table); --cohort / "
                          "--events give the patients: drop one of them")  # fmt: skip
    inputs = {}
    histories = None
    if events_file:
        frame = read_table(events_file, "event")
        histories = _in_file(events_file, lambda: from_event_table(frame, params.model))
        inputs["events"] = f"{events_file} (sha256 {_sha256(events_file)})"
    if cohort_file:
        table = read_table(cohort_file, "cohort")
        pop = _in_file(cohort_file, lambda: Population.from_frame(table, params, seed=sc.seed))
        inputs["cohort"] = f"{cohort_file} (sha256 {_sha256(cohort_file)})"
    elif histories is not None:
        pop = _in_file(str(events_file), lambda: histories.population(params, seed=sc.seed))
    else:
        pop = sc.population(params)
    if histories is not None:
        _in_file(str(cohort_file or events_file), lambda: histories.jobs(pop))
    return _Run(pop, sc.regimen, histories, inputs)


def _sha256(path: str | Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _provenance(sc: Any, params: ParameterSet, label: str, run: _Run) -> dict[str, str]:
    """The provenance of a scenario run (CSV sidecar / Parquet metadata)."""
    from .io import parameters_to_json

    digest = _sha256_text(parameters_to_json(params))
    regimen = (
        f"per-patient dosing histories of {run.inputs['events'].split(' (')[0]}"
        if run.histories is not None
        else sc.regimen.describe().replace("\n", "; ")
    )
    return {
        "pdmodel_version": __version__,
        "scenario": f"{sc.origin} (sha256 {sc.sha256})",
        "title": sc.title,
        "parameters": f"{label} (sha256 {digest})",
        "patients": f"{len(run.pop)}"
        + ("" if sc.patient or "cohort" in run.inputs else f", seed {sc.seed}"),
        "regimen": regimen,
        **run.inputs,
    }


def _compartment_meta(params: ParameterSet) -> dict[str, str]:
    """The CMT numbering, for the provenance of an event table."""
    from .events import compartments

    return {
        str(r.CMT): f"dose {r.drug} {r.route} ({r.unit})"
        if r.kind == "dose"
        else f"observation {r.observable} ({r.unit})"
        for r in compartments(params.model).itertuples()
    }


def _sha256_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def _output_table(run: _Run, res: Any, layout: str, arm: str, observables: Any) -> Any:
    """The table `simulate --table` writes."""
    from .events import cohort_frame, to_event_table

    # an event table's own ARM labels win over the scenario title
    arms = run.histories.arms if run.histories is not None and run.histories.arms else None
    if layout == "nonmem":
        names = [o for o in observables or ("platelets",) if o in res.observables]
        return to_event_table(res, run.pop, arm=arms or arm, observables=names or ("platelets",))
    frame = res.to_frame(
        long=layout == "long",
        arm=arm,
        covariates=cohort_frame(run.pop) if layout == "long" else None,
    )
    if arms:
        frame["arm"] = frame["patient"].map(arms)
    return frame


def _simulate_stream(
    args: argparse.Namespace, sc: Any, run: _Run, meta: dict[str, str], engine: dict[str, Any]
) -> int:
    """`simulate --stream`: the table straight to Parquet, chunk by chunk."""
    from .distributed import simulate_to_parquet
    from .errors import OptionError

    out = Path(args.out or "")
    if out.suffix.lower() != ".parquet":
        raise OptionError("--stream writes Parquet: give --out FILE.parquet")
    if args.figure:
        raise OptionError("--stream writes no figure (it needs every trajectory); drop --figure")
    if run.histories is not None:
        raise OptionError("--stream simulates the scenario's regimen; it does not take --events")
    observables = ("platelets",) if args.table == "nonmem" else sc.observables
    if args.table == "nonmem":
        meta["compartments"] = _compartment_meta(run.pop.params)  # type: ignore[assignment]
    info = simulate_to_parquet(out, run.pop, run.regimen, sc.days, layout=args.table,
                               arm=sc.title, meta=meta, times=sc.times,
                               observables=observables, **engine)  # fmt: skip
    print(f"wrote {out} ({info['patients']:,} patients, {info['rows']:,} rows in "
          f"{info['chunks']} chunks, {info['bytes'] / 1e6:.1f} MB); no figure or endpoint "
          "summary with --stream")  # fmt: skip
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .errors import OptionError
    from .scenarios import load_scenario

    out, fig_path = _scenario_outputs(args, ".csv")
    sc = load_scenario(args.scenario)
    _patient_scenario_options(args, sc)
    if args.n is not None:
        sc = dataclasses.replace(sc, n=args.n)
    if args.seed is not None:
        sc = dataclasses.replace(sc, seed=args.seed)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise OptionError(f"--out must end in .csv or .parquet, got {out}")
    params, label = _params(args.params, "calibrated")
    run = _scenario_run(args, sc, params)
    engine: dict[str, Any] = {"progress": False if args.quiet else None}
    if args.chunk_size is not None:
        from .checks import check_whole

        engine["chunk_size"] = check_whole(args.chunk_size, "--chunk-size", 1)
    if args.stream:
        return _simulate_stream(args, sc, run, _provenance(sc, params, label, run), engine)
    res = run.simulate(sc.days, times=sc.times, observables=sc.observables, **engine)
    frame = _output_table(run, res, args.table, sc.title, sc.observables)
    meta = _provenance(sc, params, label, run)
    if args.table == "nonmem":
        meta["compartments"] = _compartment_meta(params)  # type: ignore[assignment]
    summary = None
    if sc.endpoints:
        import pandas as pd

        from .scenarios import endpoint_summary

        daily = run.simulate(float(int(sc.days)), observables=["platelets"], progress=False)
        summary = pd.DataFrame([endpoint_summary(daily, sc.days)])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import OutputSet
    from .plotting import plot_bands

    fig, ax = plt.subplots(figsize=(9, 4.8), constrained_layout=True)
    plot_bands({sc.title: res}, "platelets", ax=ax)
    n = len(run.pop)
    ax.set_title(f"{sc.title} ({n} patient{'s' if n > 1 else ''})", fontsize=10)
    # all files or none: staged next to their destinations, moved into place together
    with OutputSet() as outputs:
        written = outputs.table(out, frame, meta)
        written.append(outputs.figure(fig_path, fig))
        if summary is not None:
            ep_path = out.with_name(f"{out.stem}-endpoints.csv")
            written.append(outputs.text(ep_path, summary.to_csv(index=False)))
    plt.close(fig)
    if summary is not None and not args.quiet:
        print(summary.round(3).to_string(index=False))
    if not args.quiet:
        q = np.percentile(res["platelets"], [25, 50, 75], axis=1)
        for day in (0, 7, 14, 28, 56, 90, 180):
            row = np.searchsorted(res.times, day)
            if row < res.times.size and res.times[row] == day:
                print(f"day {day:4d}: platelets median {q[1, row]:7.1f} "
                      f"(IQR {q[0, row]:.1f}-{q[2, row]:.1f}) x10^9/L")  # fmt: skip
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .errors import OptionError
    from .io import OutputSet
    from .scenarios import parse_vary, sweep
    from .solver import process_pool

    vary: dict[str, list[Any]] = {}
    for spec in args.vary:
        key, values = parse_vary(spec)
        if key in vary:
            raise OptionError(f"--vary {key} is given twice; give its values once: "
                              f"--vary {key}=V1,V2,...")  # fmt: skip
        vary[key] = values
    if not vary:
        raise OptionError("give at least one --vary KEY=V1,V2,...")
    out, fig_path = _scenario_outputs(args, "-sweep.csv")
    from .scenarios import load_scenario

    _patient_scenario_options(args, load_scenario(args.scenario))
    stem = Path(args.scenario).stem
    params, _ = _params(args.params, "calibrated")
    if args.workers > 1:
        with process_pool(args.workers) as ex:
            table = sweep(args.scenario, vary, params, args.n, args.seed, executor=ex)
    else:
        table = sweep(args.scenario, vary, params, args.n, args.seed)
    if not args.quiet:
        import pandas as pd

        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(table.round(3).to_string(index=False))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(vary)
    x = keys[0]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), constrained_layout=True)
    groups = table.groupby(keys[1:]) if len(keys) > 1 else [((), table)]
    for i, (label, g) in enumerate(groups):
        g = g.sort_values(x)
        name = ", ".join(f"{k}={v}" for k, v in zip(keys[1:], np.atleast_1d(label), strict=False))
        c = f"C{i}"
        axes[0].plot(g[x], g["initial_response"], "o-", color=c, label=name or None)
        axes[0].plot(g[x], g["complete_response"], "s--", color=c, alpha=0.6)
        axes[1].plot(g[x], g["onset_time"], "o-", color=c, label=name or None)
        axes[2].plot(g[x], g["peak_platelets"], "o-", color=c, label=name or None)
    axes[0].set_ylabel("fraction of patients (o: IWG response, s: CR)")
    axes[1].set_ylabel("mean time to response, responders (days)")
    axes[2].set_ylabel("mean peak platelets (10$^9$/L)")
    for ax in axes:
        ax.set_xlabel(x)
        if len(keys) > 1:
            ax.legend(fontsize=7, frameon=False)
    fig.suptitle(f"{stem}: sweep over {', '.join(keys)}", fontsize=10)
    with OutputSet() as outputs:  # both files or neither
        outputs.text(out, table.to_csv(index=False))
        outputs.figure(fig_path, fig)
    plt.close(fig)
    print(f"wrote {out} and {fig_path}")
    return 0


def _write_outputs(tables: dict[Path, str], fig_path: Path, plot: Callable[[], Any]) -> None:
    """Write an analysis command's tables and figure all or nothing (:class:`OutputSet`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import OutputSet

    fig = plot()
    try:
        with OutputSet() as outputs:
            for path, text in tables.items():
                outputs.text(path, text)
            outputs.figure(fig_path, fig)
    finally:
        plt.close(fig)


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    from .analysis import sensitivity
    from .checks import check_whole

    check_whole(args.patients, "--patients", 1)
    check_whole(args.seed, "--seed", 0)
    if args.batch_size is not None:
        check_whole(args.batch_size, "--batch-size", 1)
    out, fig_path = _scenario_outputs(args, "-sensitivity.csv")
    params, label = _params(args.params, "calibrated")
    names = [x.strip() for x in args.parameters.split(",") if x.strip()]
    endpoints = [x.strip() for x in args.endpoints.split(",") if x.strip()]

    shown = [0]

    def show(done: int, total: int) -> None:  # about every 5% (batches report in blocks)
        if not args.quiet and (done == total or done - shown[0] >= max(total // 20, 1)):
            shown[0] = done
            print(f"  evaluation {done}/{total}", file=sys.stderr, flush=True)

    res = sensitivity(args.scenario, names, endpoints, params=params, method=args.method,
                      n=args.samples, n_patients=args.patients, seed=args.seed,
                      width=args.width, batch_size=args.batch_size, progress=show,
                      ranges=_ranges(args.ranges))  # fmt: skip
    table = res.table.assign(method=res.method)
    _write_outputs({out: table.to_csv(index=False)}, fig_path, res.plot)
    if not args.quiet:
        kind = "ST" if res.method == "sobol" else "mu_star"
        print(f"{res.method}: {res.n_evaluations} evaluations of {args.patients} patients in "
              f"{res.wall_time:.1f} s (parameters {label}); {kind} by endpoint:")  # fmt: skip
        print(res.pivot(kind).round(3).to_string())
    print(f"wrote {out} and {fig_path}")
    return 0


def _ranges(specs: list[str]) -> dict[str, tuple[float, float]]:
    """`--range NAME=LOW:HIGH` (repeatable)."""
    from .errors import OptionError

    out: dict[str, tuple[float, float]] = {}
    for spec in specs:
        name, _, bounds = spec.partition("=")
        low, _, high = bounds.partition(":")
        try:
            values = (float(low), float(high))
        except ValueError:
            raise OptionError(
                f"--range {spec!r}: expected NAME=LOW:HIGH with two numbers, e.g. "
                "--range pred_cl=10:20"
            ) from None
        name = name.strip()
        if not name:
            raise OptionError(f"--range {spec!r}: name the parameter (NAME=LOW:HIGH)")
        if name in out:
            raise OptionError(f"--range {spec!r}: `{name}` is given twice")
        out[name] = values
    return out


def _comparison(spec: str) -> Any:
    """`--compare ENDPOINT:A>B[:TEST[:ALPHA]]`."""
    import re

    from .analysis import Comparison
    from .errors import OptionError

    m = re.fullmatch(r"\s*([\w]+)\s*:\s*([\w.-]+)\s*(>|<|!=)\s*([\w.-]+)\s*"
                     r"(?::\s*(\w+)\s*)?(?::\s*([0-9.eE+-]+)\s*)?", spec)  # fmt: skip
    if m is None:
        raise OptionError(
            f"--compare {spec!r}: expected ENDPOINT:A>B[:TEST[:ALPHA]], e.g. "
            "initial_response:observation>control:chi2:0.05"
        )
    endpoint, a, rel, b, test, alpha = m.groups()
    try:
        level = float(alpha) if alpha else 0.05
    except ValueError:
        raise OptionError(f"--compare {spec!r}: alpha {alpha!r} is not a number") from None
    direction = {">": "greater", "<": "less", "!=": "different"}[rel]
    try:
        return Comparison(endpoint, (a, b), direction, test or "", level)
    except PDModelError as exc:
        raise OptionError(f"--compare {spec!r}: {exc}") from None


def _draws(args: argparse.Namespace, params: Any) -> list[Any]:
    """Parameter draws of `--draws K` (and `--chain FILE`): from the emcee chain, else from
    the Gaussian approximation of the fit behind `--params` (default: the shipped fit)."""
    from .calibration import chain_draws, posterior_draws, read_chain
    from .errors import OptionError
    from .shipped import resolve_fit

    if args.chain and not args.draws:
        raise OptionError("--chain gives the draws' source; also give --draws K")
    if not args.draws:
        return []
    if args.draws < 2:
        raise OptionError(f"--draws must be 0 or >= 2, got {args.draws}")
    if args.chain:
        return list(chain_draws(read_chain(args.chain), params, args.draws, args.seed))
    fit = resolve_fit(args.params)
    assert fit is not None
    return list(posterior_draws(fit, args.draws, args.seed))


def _cmd_design(args: argparse.Namespace) -> int:
    from .analysis import design
    from .checks import check_whole
    from .errors import OptionError

    checks = (("--patients", args.patients, 10), ("--draws", args.draws, 0),
              ("--resample", args.resample, 0), ("--seed", args.seed, 0))  # fmt: skip
    for name, value, low in checks:
        check_whole(value, name, low)
    out, fig_path = _scenario_outputs(args, "-design.csv", source=args.trial)
    n_path = out.with_name(out.stem + "-n.csv")
    comparisons = [_comparison(c) for c in args.compare] or None
    grid: list[int] = []
    if args.grid:
        for x in args.grid.split(","):
            try:
                grid.append(int(x))
            except ValueError:
                raise OptionError(f"--n: {x.strip()!r} is not a whole number") from None
    params, label = _params(args.params, "calibrated")
    draws = _draws(args, params)

    def show(done: int, total: int) -> None:
        if not args.quiet:
            print(f"  simulation {done}/{total}", file=sys.stderr, flush=True)

    res = design(args.trial, comparisons, grid, target=args.power, params=params, draws=draws,
                 n_sim=args.patients, seed=args.seed, resample=args.resample,
                 progress=show)  # fmt: skip
    _write_outputs({out: res.power.to_csv(index=False), n_path: res.required.to_csv(index=False)},
                   fig_path, res.plot)  # fmt: skip
    if not args.quiet:
        print(f"{res.trial.id}: patients per arm for power {args.power:g} (parameters {label}, "
              f"{args.patients} virtual patients per arm, {res.n_draws} draws, "
              f"{res.wall_time:.1f} s):")  # fmt: skip
        print(res.required.drop(columns=["endpoint"]).round(3).to_string(index=False))
    print(f"wrote {out}, {n_path} and {fig_path}")
    return 0


def _cmd_optimise(args: argparse.Namespace) -> int:
    from .analysis import load_problem, optimise
    from .checks import check_whole

    check_whole(args.draws, "--draws", 0)
    check_whole(args.seed, "--seed", 0)
    check_whole(args.runners_up, "--runners-up", 0)
    out, fig_path = _scenario_outputs(args, "-optimise.csv", source=args.problem)
    u_path = out.with_name(out.stem + "-uncertainty.csv")
    problem = load_problem(args.problem)
    params, label = _params(args.params, "calibrated")
    draws = _draws(args, params)

    def show(done: int) -> None:
        if not args.quiet and done % 10 == 0:
            print(f"  simulation {done}", file=sys.stderr, flush=True)

    res = optimise(problem, params, draws=draws, runners_up=args.runners_up, progress=show)
    tables = {out: res.candidates.to_csv(index=False)}
    if res.uncertainty is not None:
        tables[u_path] = res.uncertainty.to_csv(index=False)
    _write_outputs(tables, fig_path, res.plot)
    if not args.quiet:
        import pandas as pd

        print(f"{problem.title}: {problem.goal}; {problem.n} virtual patients (parameters "
              f"{label}); {len(res.candidates)} regimens, {res.evaluations} simulations, "
              f"{res.wall_time:.1f} s")  # fmt: skip
        with pd.option_context("display.max_colwidth", 90, "display.width", 200):
            shown = res.candidates.head(args.runners_up + 1 + 3)
            print(shown.round(3).to_string(index=False))
            if res.uncertainty is not None:
                print(f"under {len(draws)} parameter draws (p_meets: fraction meeting the "
                      "target):")  # fmt: skip
                print(res.uncertainty.drop(columns=["draws"]).round(3).to_string(index=False))
        if res.best is None:
            print("no regimen within the bounds meets the target")
    written = [str(out)] + ([str(u_path)] if res.uncertainty is not None else [])
    print(f"wrote {', '.join(written)} and {fig_path}")
    return 0


def _cmd_vpc(args: argparse.Namespace) -> int:
    from .analysis import vpc
    from .checks import check_whole
    from .events import from_event_table

    check_whole(args.draws, "--draws", 0)
    check_whole(args.seed, "--seed", 0)
    check_whole(args.replicates, "--replicates", 20)
    out, fig_path = _scenario_outputs(args, "-vpc.csv", source=args.table)
    params, label = _params(args.params, "calibrated")
    frame = read_table(args.table, "event")
    events = _in_file(args.table, lambda: from_event_table(frame, params.model))
    draws = _draws(args, params)

    def show(done: int, total: int) -> None:
        if not args.quiet and total > 1:
            print(f"  parameter draw {done}/{total}", file=sys.stderr, flush=True)

    res = _in_file(args.table, lambda: vpc(
        events, params, observable=args.observable, replicates=args.replicates, draws=draws,
        plt_max=args.plt_max, error_cv=args.error_cv, bins=args.bins, seed=args.seed,
        progress=show,
    ))  # fmt: skip
    _write_outputs({out: res.table.to_csv(index=False)}, fig_path, res.plot)
    if not args.quiet:
        print(f"VPC of {args.table}: {len(res.observations)} {res.observable} observations, "
              f"{res.replicates} replicates, {len(draws)} draws (parameters {label}), "
              f"{res.wall_time:.1f} s; observed percentiles inside their {res.ci:.0%} "
              "bands:")  # fmt: skip
        print(res.inside_fraction().round(3).to_string(index=False))
        outside = res.table[~res.table["inside"]]
        if not outside.empty:
            print("outside:")
            cols = ["stratum", "time", "quantile", "observed", "sim_lo", "sim_hi"]
            print(outside[cols].round(2).to_string(index=False))
    print(f"wrote {out} and {fig_path}")
    return 0


_COMMANDS = {
    "vpc": _cmd_vpc,
    "optimise": _cmd_optimise,
    "design": _cmd_design,
    "sensitivity": _cmd_sensitivity,
    "sweep": _cmd_sweep,
    "simulate": _cmd_simulate,
    "params": _cmd_params,
    "export": _cmd_export,
    "reproduce": _cmd_reproduce,
    "validate": _cmd_validate,
    "fit": _cmd_fit,
}


def _on_dask(args: argparse.Namespace) -> int:
    """Run the command with every simulation on the Dask cluster named by ``--dask``."""
    from .distributed import dask_executor, parse_dask
    from .errors import OptionError
    from .solver import use_executor

    parse_dask(args.dask)  # a bad value is refused before a cluster starts
    if getattr(args, "workers", 1) > 1:
        raise OptionError("--workers and --dask both say where to run; give one")
    with dask_executor(args.dask) as executor, use_executor(executor):
        return _COMMANDS[args.command](args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (tests call this directly).

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help, --version and usage errors
        return int(exc.code or 0)
    debug = bool(args.debug or os.environ.get("PDMODEL_DEBUG"))
    try:
        if getattr(args, "dask", None) is not None:
            return _on_dask(args)
        return _COMMANDS[args.command](args)
    except BrokenPipeError:  # e.g. `pdmodel params | head`
        return 0
    except KeyboardInterrupt:
        if debug:
            raise
        print("pdmodel: interrupted", file=sys.stderr)
        return 130
    except (PDModelError, OSError, MemoryError, UnicodeDecodeError, RecursionError) as exc:
        if debug:
            raise
        print(f"pdmodel: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    """The message of an error that stops the command, on one line, naming what it can."""
    if isinstance(exc, PDModelError):
        text = str(exc)
    elif isinstance(exc, OSError):
        where = exc.filename or ""
        what = exc.strerror or str(exc)
        text = f"cannot write or read {where}: {what}" if where else f"system error: {what}"
    elif isinstance(exc, MemoryError):
        text = (f"out of memory ({exc or 'allocation failed'}): use fewer patients (--n), "
                "fewer output times or observables, or --chunk-size / --stream")  # fmt: skip
    elif isinstance(exc, UnicodeDecodeError):
        text = f"an input file is not UTF-8 text ({exc.reason} at byte {exc.start})"
    else:
        text = "an input is nested too deeply"
    return " ".join(text.split())
