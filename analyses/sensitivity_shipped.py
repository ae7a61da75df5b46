"""Identifiability analysis at the shipped calibrated set (docs/calibration.md).

Prints the local sensitivity matrix d sqrt(term) / d ln(parameter) of every finding (rows) to
every default free parameter (columns), plus the same for two fixed candidates (`ab_kp`, the
platelet level at which PAIgG per platelet halves); 300 virtual patients per arm, seed 1, about
a minute on one core.

    python analyses/sensitivity_shipped.py
"""

from __future__ import annotations

import pandas as pd
from _common import arguments

from pdmodel import calibration as cal
from pdmodel.shipped import shipped_fit


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__, argv, n=300)
    params = shipped_fit().params
    table = cal.sensitivity(params, free=(*cal.DEFAULT_FREE, "ab_kp"), n_per_arm=args.n)
    table.index = [label.split(": ", 1)[1][:48] for label in table.index]
    with pd.option_context("display.width", 250, "display.max_columns", None):
        print(table.round(2).to_string())


if __name__ == "__main__":
    main()
