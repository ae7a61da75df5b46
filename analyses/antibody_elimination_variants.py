"""Competing routes of autoantibody elimination, fitted and compared (docs/calibration.md).

``effective_turnover`` (the default model): one elimination rate ``ab_kdeg``, estimated with a
prior centred on FcRn-protected IgG turnover (21-day half-life).  ``igg_turnover``: that rate
fixed at IgG's (the shipped model until 2026-12-07).  ``platelet_sink``: IgG's turnover plus
elimination of the antibody bound to platelets with them, its half-binding platelet count
``ab_sink_plt`` estimated with a prior centred on the 7E3 value
(:func:`pdmodel.model.antibody_elimination_variants`).  Each variant is fitted with the default
settings (default trials, the default free parameters that it has, one start, two processes)
from the shipped calibrated set's values (``ab_kdeg`` at IgG's rate where it is fixed,
``ab_sink_plt`` at its prior centre), and compared by ``pdmodel.calibration.compare``: -2 log L
of the fitted findings, the AIC-like ``-2 log L + 2k``, -2 log posterior and -2 log L of the
validation trial (Yu 2020), which no fit sees.  Then each variant's Wu 2016 replicate
probabilities at its estimate and its regimen-behaviour checks.

    python analyses/antibody_elimination_variants.py [--n 300] [--max-nfev 600]
"""

from __future__ import annotations

from _common import arguments, print_regimen_checks

import pdmodel as pm
from pdmodel import trials
from pdmodel.calibration import DEFAULT_FREE, compare
from pdmodel.model.definition import AB_SINK_PLT_7E3


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__, argv, n=300, max_nfev=600)
    shipped = pm.calibrated_parameters()
    fits = {}
    for label, model in pm.model.antibody_elimination_variants().items():
        table = model.table
        assert table is not None
        start = shipped.with_model(model)
        if table["ab_kdeg"].fixed:
            start = start.replace(ab_kdeg=table["ab_kdeg"].value)
        if "ab_sink_plt" in table:
            start = start.replace(ab_sink_plt=AB_SINK_PLT_7E3)
        free = [p for p in DEFAULT_FREE if not table[p].fixed]
        free += [p for p in ("ab_sink_plt",) if p in table]
        fits[label] = pm.fit(params=start, free=free, n_per_arm=args.n,
                             max_nfev=args.max_nfev, workers=2, progress=False)  # fmt: skip
        print(f"{label}: objective {fits[label].objective:.2f}, {fits[label].nfev} evaluations, "
              + ", ".join(f"{p} {fits[label].params[p]:.4g}"
                          for p in ("ab_kdeg", "ab_sink_plt") if p in table))  # fmt: skip
    scores = compare(fits, validation=["yu2020_dexamethasone"], n_per_arm=args.n)
    print(scores.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    wu = trials.load("wu2016")
    for label, fit in fits.items():
        res = trials.simulate_trial(wu, fit.params, max(args.n, 10) * 4, 1)
        probs = [f"{f.probability:.2f}" for f in res.findings if f.probability is not None]
        print(f"\n{label}: Wu 2016 P(replicate) at the estimate: {' / '.join(probs)}")
        print_regimen_checks(fit.params, args.n)


if __name__ == "__main__":
    main()
