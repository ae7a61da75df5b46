"""Competing mechanisms of the durable glucocorticoid effect, fitted and compared.

``pulse_kill`` (the default model): the autoreactive clone is depleted by the high-intensity
(pulse-dose) effect, so the dose intensity of a course matters.  ``signal_kill``: it is depleted
by the receptor-mediated effect that daily doses saturate, so only the duration of treatment
matters (version 1's assumption, with the effect-site time course).  Each variant is fitted with
the default settings (``pdmodel fit``: default trials and free parameters, one start) from the
shipped calibrated set's values (a one-start fit from the table's values can stop in a poor
local optimum, which would compare starts rather than mechanisms) and
compared by ``pdmodel.calibration.compare``: -2 log L of the fitted findings, the AIC-like
``-2 log L + 2k`` (the same k for both) and -2 log L of the validation trial (Yu 2020), which
neither fit sees.  Prints the table and each variant's regimen-behaviour checks.

    python analyses/durable_effect_variants.py [--n 300] [--max-nfev 400]
"""

from __future__ import annotations

from _common import arguments, print_regimen_checks

import pdmodel as pm
from pdmodel.calibration import compare


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__, argv, n=300, max_nfev=400)
    fits = {}
    for label, model in pm.model.durable_effect_variants().items():
        start = pm.calibrated_parameters().with_model(model)
        fits[label] = pm.fit(params=start, n_per_arm=args.n, max_nfev=args.max_nfev,
                             workers=2, progress=False)  # fmt: skip
        print(f"{label}: objective {fits[label].objective:.2f}, "
              f"{fits[label].nfev} evaluations")  # fmt: skip
    table = compare(fits, validation=["yu2020_dexamethasone"], n_per_arm=args.n)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    for label, fit in fits.items():
        print(f"\n{label}: regimen-behaviour checks")
        print_regimen_checks(fit.params, args.n)


if __name__ == "__main__":
    main()
