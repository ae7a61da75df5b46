"""Regenerate docs/parameters.md from the package's parameter table.

Run from the repository root:  python docs/make_parameter_table.py
A test fails when the committed file is out of date.
"""

from __future__ import annotations

from pathlib import Path

import pdmodel as pm

HEADER = """# Parameter table

Generated from `pdmodel/data/parameters.toml` by `python docs/make_parameter_table.py`; do not
edit by hand (a test checks that this file is current).  `pdmodel params` prints the same table.

Model units: time in days, volumes in L, glucocorticoid amounts in mg, rhIL-11 amounts in ug,
concentrations in ng/mL, platelets in 10^9/L, T-cell fractions in % of CD4+ T cells.

Status: **literature** = value from the cited source (unit conversion only); **derived** =
arithmetic on cited numbers, stated in the description; **assumed** = a documented modelling
choice without a source; **fitted** = a prior guess with no source of its own, for calibration
to estimate.  The status is where the table value comes from: priors are log-normal, centred on
the value, with the given log-scale SD, and any parameter with a prior can be estimated
(`pdmodel fit --free`); the default calibration estimates those in `DEFAULT_FREE`, whatever
their status (docs/calibration.md), and the shipped calibrated set holds their estimates.
`fixed` parameters are never moved by calibration.  Parameters named `omega_*` are
inter-individual log-normal SDs.

"""


def main() -> None:
    out = Path(__file__).with_name("parameters.md")
    out.write_text(HEADER + pm.io.parameters_to_markdown(pm.default_parameters()), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
