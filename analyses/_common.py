"""Shared command-line handling of the analysis scripts: every script takes its sizes as
options, so that the test suite runs each at a small size (analyses/run_sizes.toml)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pdmodel import ParameterSet

SIZES = {
    "n": ("virtual patients per arm", int),
    "max_nfev": ("evaluations per refit (cap)", int),
    "points": ("profile points per parameter", int),
    "seeds": ("seeds of the objective's spread", int),
}


def arguments(doc: str | None, argv: list[str] | None, **defaults: object) -> argparse.Namespace:
    """Parse `argv` with one option per size in `defaults` (``n=2000`` gives ``--n``) and the
    flags given as ``flag=False`` (``refit=False`` gives ``--refit``)."""
    ap = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for name, default in defaults.items():
        opt = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            ap.add_argument(opt, action="store_true", help=f"(default {default})")
            continue
        helptext, kind = SIZES.get(name, (name, type(default)))
        ap.add_argument(opt, type=kind, default=default, help=f"{helptext} (default {default})")
    return ap.parse_args(argv)


def print_regimen_checks(params: ParameterSet, n: int) -> None:
    """Print the regimen-behaviour checks of `params` (:func:`pdmodel.behaviour.regimen_checks`
    on `n` virtual patients, at least 10), one line each."""
    from pdmodel.behaviour import regimen_checks

    for r in regimen_checks(params, n=max(n, 10)).itertuples():
        print(f"  {r.check:28s} {r.model:8.3f}  target {r.target:24s} {r.ok}")
