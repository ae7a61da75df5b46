"""Posterior sampling of the shipped calibration with emcee, against its Gauss-Newton intervals.

The shipped fit reports standard errors and 95% intervals from the Gauss-Newton (Laplace)
approximation at the MAP estimate.  This script samples the same posterior (the fit's objective
times -1/2: the same findings, priors, 300 virtual patients per arm, seed and tolerance) with
``pdmodel.calibration.sample`` and prints

1. per free parameter: the MAP estimate, the Gauss-Newton 95% interval, the posterior median
   and 2.5-97.5% quantiles, and the integrated autocorrelation time;
2. the acceptance fraction and whether the retained chain spans 50 autocorrelation times
   (emcee's guideline);
3. for `--draws` posterior draws (spread evenly over the retained chain), the probability that
   a replicate 40 vs 40 trial reproduces each Wu 2016 finding, scored on 2,000 virtual patients
   per arm as ``pdmodel reproduce`` does: median, 10-90% range, and the fraction of draws at
   which it is >= 0.8.

About 45 minutes on a 2-core machine with the defaults (docs/calibration.md, "Posterior
sampling of the shipped set").

    python analyses/posterior_shipped.py [--steps 600] [--walkers 2xFREE] [--draws 40]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from pdmodel import calibration as cal
from pdmodel.shipped import shipped_fit
from pdmodel.trials import load, simulate_trial


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--steps", type=int, default=600, help="steps per walker")
    ap.add_argument(
        "--walkers",
        type=int,
        default=None,
        help="walkers (>= 2 x free parameters; default 2 x free)",
    )
    ap.add_argument("--draws", type=int, default=40, help="posterior draws to score")
    ap.add_argument("--seed", type=int, default=1, help="seed of the walkers' moves")
    ap.add_argument("--n", type=int, default=2000, help="virtual patients per arm (scoring)")
    args = ap.parse_args(argv)

    fit = shipped_fit()
    t0 = time.perf_counter()
    res = cal.sample(fit, steps=args.steps, walkers=args.walkers, seed=args.seed, progress=False)
    wall = time.perf_counter() - t0
    prov = res.provenance
    print(
        f"emcee: {prov['walkers']} walkers x {prov['steps']} steps (burn-in {prov['burn']}), "
        f"{wall / 60:.0f} min; acceptance {res.acceptance:.2f}; retained chain spans 50 "
        f"autocorrelation times: {res.long_enough}"
    )
    print()
    print(
        f"{'parameter':16s}{'MAP':>10s}  {'Gauss-Newton 95%':22s}{'posterior median':>17s}  "
        f"{'posterior 2.5-97.5%':22s}{'tau (steps)':>12s}"
    )
    for name in fit.free:
        lo, hi = fit.ci95[name]
        q = res.chain[name].quantile([0.025, 0.5, 0.975]).to_numpy()
        print(
            f"{name:16s}{fit.params[name]:10.4g}  {f'[{lo:.3g}, {hi:.3g}]':22s}{q[1]:17.4g}  "
            f"{f'[{q[0]:.3g}, {q[2]:.3g}]':22s}{res.autocorr[name]:12.1f}"
        )

    chain = res.chain
    picks = np.linspace(0, len(chain) - 1, args.draws).round().astype(int)
    design = load("wu2016")
    probs: dict[str, list[float]] = {}
    for row in picks:
        params = fit.params.replace(**{k: float(chain[k].iloc[row]) for k in fit.free})
        result = simulate_trial(design, params, n_per_arm=args.n, seed=1, progress=False)
        for r in result.findings:
            if r.probability is not None and math.isfinite(r.probability):
                probs.setdefault(r.finding.describe(), []).append(r.probability)
    print()
    print(
        f"Wu 2016 findings over {args.draws} posterior draws (2,000 virtual patients per arm): "
        "P(replicate 40 vs 40 trial reproduces it)"
    )
    print(f"{'finding':60s}{'median':>8s}  {'10-90%':14s}{'share >= 0.8':>13s}")
    for label, values in probs.items():
        v = np.array(values)
        lo, med, hi = np.quantile(v, [0.1, 0.5, 0.9])
        print(f"{label[:60]:60s}{med:8.2f}  {f'[{lo:.2f}, {hi:.2f}]':14s}{np.mean(v >= 0.8):13.2f}")


if __name__ == "__main__":
    main()
