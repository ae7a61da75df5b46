"""
Fitted-parameter uncertainty: profile likelihood of one parameter
=================================================================

Fits the glucocorticoid effect and clearance to the prednisone anchor trial, then profiles
`gc_imax_mac` (refitting `k_ab` at each value) and plots -2 log posterior with the 95% threshold.

    python examples/parameter_uncertainty.py [--n 150] [--points 5] [--out FIGURE.png]
"""

from __future__ import annotations

import argparse

import numpy as np

import pdmodel as pm
from pdmodel import calibration


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=150, help="virtual patients per arm")
    ap.add_argument("--points", type=int, default=5, help="profile points")
    ap.add_argument("--max-nfev", type=int, default=30, help="evaluation budget per fit")
    ap.add_argument("--out", default="parameter_uncertainty.png", help="figure file")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trial = pm.trials.load("wei2016_prednisone")
    result = pm.fit([trial], free=["gc_imax_mac", "k_ab"], n_per_arm=args.n, max_nfev=args.max_nfev,
                    progress=False)  # fmt: skip
    est = result.params["gc_imax_mac"]
    grid = np.unique(np.clip(np.linspace(est - 0.15, est + 0.15, args.points), 0.3, 0.99))
    prof = calibration.profile(
        result, "gc_imax_mac", list(grid), trials=[trial], max_nfev=max(4, args.max_nfev // 2)
    )
    xs, ys = np.array(prof).T
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.plot(xs, ys - ys.min(), "o-", label="profile (k_ab refitted)")
    ax.axhline(3.84, color="grey", ls=":", label="95% threshold (3.84)")
    ax.axvline(est, color="k", lw=0.8, label=f"estimate {est:.3f}")
    ax.set_xlabel("gc_imax_mac (maximal suppression of Fc clearance, fraction)")
    ax.set_ylabel("-2 log posterior - minimum")
    ax.legend(fontsize=8, frameon=False)
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
