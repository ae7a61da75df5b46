"""What it costs the other evidence to make one Wu 2016 finding more likely (docs/calibration.md).

The acceptance of issue 17 asks every Wu 2016 comparison for P(replicate) >= 0.5 at the shipped
set.  Antibody positivity is at about 0.23 there.  This script asks what reaching 0.5 would
cost: it refits the default model (default trials, free parameters and settings, from the
shipped values) with that one finding's -2 log L term counted ``w`` times (the finding
repeated in the Wu 2016 design), for each weight ``w`` in ``--weights``, and scores every fitted
set with the ordinary objective (each finding once), so that the columns compare like with
like:

* the finding's P(replicate) at the estimate (the fit's own populations, and ``--check-n``
  patients per arm as ``pdmodel reproduce``);
* -2 log posterior with each finding once, and its change from the shipped set: the price, in
  the units of the fit, of the gain in that finding;
* the change of each trial's -2 log L and of the priors;
* the other Wu 2016 findings' P(replicate), the regimen-behaviour checks and Yu 2020's -2 log L
  (held out, never fitted).

Weight 1 is the shipped set itself, not a refit.  This is a profile of the objective along the
finding, not a fit to ship: a weight is not evidence.

    python analyses/finding_price.py [--n 300] [--check-n 1000] [--max-nfev 600]
"""

from __future__ import annotations

import dataclasses

from _common import arguments, print_regimen_checks

import pdmodel as pm
from pdmodel import trials
from pdmodel.calibration import DEFAULT_FREE, DEFAULT_TRIALS, Objective

ENDPOINT = "ab_positive_after"
VALIDATION = "yu2020_dexamethasone"


def weighted(trial: trials.Trial, endpoint: str, weight: int) -> trials.Trial:
    """`trial` with its comparison finding on `endpoint` repeated `weight` times."""
    hits = [f for f in trial.findings if f.endpoint == endpoint and f.type == "comparison"]
    if len(hits) != 1:
        raise SystemExit(f"{trial.id} has {len(hits)} comparison findings on {endpoint!r}")
    return dataclasses.replace(trial, findings=(*trial.findings, *[hits[0]] * (weight - 1)))


def score(params: pm.ParameterSet, n: int) -> dict[str, float]:
    """-2 log L by trial and the prior total, each finding counted once."""
    designs = [trials.load(t) for t in DEFAULT_TRIALS]
    out: dict[str, float] = {}
    for t in Objective(designs, params, list(DEFAULT_FREE), n_per_arm=n).terms(params):
        out[t.trial] = out.get(t.trial, 0.0) + t.value
    val = Objective([trials.load(VALIDATION)], params, list(DEFAULT_FREE), n_per_arm=n)
    out["(" + VALIDATION + ", held out)"] = sum(
        t.value for t in val.terms(params) if t.kind != "prior"
    )
    return out


def wu_probabilities(params: pm.ParameterSet, n: int) -> list[tuple[str, float]]:
    """Wu 2016's comparison findings and their P(replicate), hard endpoints, `n` per arm."""
    res = trials.simulate_trial(trials.load("wu2016"), params, n, 1)
    return [(f.finding.endpoint, f.probability) for f in res.findings if f.probability is not None]


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__, argv, n=300, check_n=1000, max_nfev=600, weights="4,16")
    weights = [int(w) for w in str(args.weights).split(",")]
    shipped = pm.calibrated_parameters()
    sets = {1: shipped}
    for w in weights:
        designs = [
            weighted(trials.load(t), ENDPOINT, w) if t == "wu2016" else trials.load(t)
            for t in DEFAULT_TRIALS
        ]
        fit = pm.fit(designs, params=shipped, n_per_arm=args.n, max_nfev=args.max_nfev,
                     workers=2, progress=False, uncertainty=False)  # fmt: skip
        print(f"weight {w}: weighted objective {fit.objective:.2f}, {fit.nfev} evaluations")
        sets[w] = fit.params
    base = score(shipped, args.n)
    for w, params in sets.items():
        s = score(params, args.n)
        total = sum(v for k, v in s.items() if not k.startswith("("))
        probs = wu_probabilities(params, max(args.check_n, 10))
        p_ab = dict(probs)[ENDPOINT]
        print(f"\nweight {w}: -2 log posterior {total:.2f} "
              f"(shipped {sum(v for k, v in base.items() if not k.startswith('(')):.2f}); "
              f"antibody positivity P(replicate) {p_ab:.2f}")  # fmt: skip
        for k, v in s.items():
            print(f"  {k:40s} {v:8.2f}  change {v - base[k]:+7.2f}")
        print("  Wu 2016 P(replicate): " + " / ".join(f"{p:.2f}" for _, p in probs))
        moved = [(n, params[n], shipped[n]) for n in DEFAULT_FREE if params[n] != shipped[n]]
        moved.sort(key=lambda m: -abs(m[1] / m[2] - 1))
        print("  largest moves: " + ", ".join(f"{n} {a:.3g} ({b:.3g})" for n, a, b in moved[:6]))
        print_regimen_checks(params, args.n)


if __name__ == "__main__":
    main()
