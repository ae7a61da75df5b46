"""Posterior sampling of the shipped calibration with emcee, against its Gauss-Newton intervals.

The shipped fit reports standard errors and 95% intervals from the Gauss-Newton (Laplace)
approximation at the MAP estimate.  This script samples the same posterior (the fit's objective
times -1/2: the same findings, priors, 300 virtual patients per arm, seed and tolerance) with
``pdmodel.calibration.sample`` and prints

1. per free parameter: the MAP estimate, the Gauss-Newton 95% interval, the posterior median
   and 2.5-97.5% quantiles, and the integrated autocorrelation time;
2. the acceptance fraction and whether the retained chain spans 50 autocorrelation times
   (emcee's guideline);
3. Wu 2016's consistency checks (``pdmodel.calibration.consistency``, as ``pdmodel
   reproduce`` prints them: each finding's posterior-mean probability of the published verdict
   with its flag, the joint check and the count below 0.5) over `--draws` rows of the chain,
   and over as many draws from the Gauss-Newton approximation, side by side (300 virtual
   patients per arm each by default).

``--chain-out FILE.csv`` writes the chain for ``pdmodel reproduce --chain FILE.csv``.

About 30 minutes with the defaults (22 free parameters, 44 walkers x 600 steps) on the 2-core
AVX-512 host; 39 minutes with ``--steps 800`` (docs/calibration.md, "Posterior sampling of the
shipped set").

    python analyses/posterior_shipped.py [--steps 600] [--walkers 2xFREE] [--draws 40]
        [--chain-out chain.csv]
"""

from __future__ import annotations

import argparse
import time

from pdmodel import calibration as cal
from pdmodel.shipped import shipped_fit


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
    ap.add_argument("--n", type=int, default=300, help="virtual patients per arm (scoring)")
    ap.add_argument("--chain-out", default=None, help="write the chain to this CSV file")
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

    if args.chain_out:
        from pdmodel.io import write_text_atomic

        write_text_atomic(args.chain_out, res.chain.to_csv(index=False))
        print(f"\nwrote the chain to {args.chain_out} (pdmodel reproduce --chain)")
    # Wu 2016's findings over draws from the chain and, side by side, from the Gaussian
    # approximation that pdmodel reproduce uses by default (the same patients and seed)
    for label, chain in (("the emcee chain", res), ("the Gauss-Newton approximation", None)):
        rep = cal.consistency(fit, "wu2016", n_draws=args.draws, n_per_arm=args.n, chain=chain)
        print(f"\nWu 2016 over {args.draws} draws from {label}:")
        print(rep.format(), end="")


if __name__ == "__main__":
    main()
