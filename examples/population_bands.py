"""
Virtual-population platelet bands per arm: prednisone vs prednisone + rhIL-11
=============================================================================

Median and 5-95% / 25-75% bands of platelet counts over 180 days.

    python examples/population_bands.py [--n 2000] [--seed 1] [--out population_bands.png]
"""

from __future__ import annotations

import argparse

import numpy as np

import pdmodel as pm


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000, help="patients per arm")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="population_bands.png", help="figure file")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = pm.calibrated_parameters()  # the shipped fit (docs/calibration.md)
    pop = pm.Population.sample(args.n, params, seed=args.seed)
    gc = pm.regimens.prednisone(mg_per_kg=1.0, days=28, taper_days=28)
    arms = {
        "prednisone": gc,
        "prednisone + rhIL-11": gc
        + pm.regimens.il11(ug_per_kg=50, days=14, stop_if_platelets_above=100),
    }
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, constrained_layout=True)
    for ax, (label, reg) in zip(axes, arms.items(), strict=True):
        res = pm.simulate(pop, reg, 180, observables=["platelets"])
        q = np.percentile(res["platelets"], [5, 25, 50, 75, 95], axis=1)
        ax.fill_between(res.times, q[0], q[4], color="tab:blue", alpha=0.15, label="5-95%")
        ax.fill_between(res.times, q[1], q[3], color="tab:blue", alpha=0.3, label="25-75%")
        ax.plot(res.times, q[2], color="tab:blue", label="median")
        for level in (30, 100):
            ax.axhline(level, color="grey", lw=0.6, ls=":")
        ax.set_yscale("log")
        ax.set_title(f"{label} (n = {args.n})", fontsize=10)
        ax.set_xlabel("time (days)")
        ax.legend(fontsize=8, frameon=False, loc="upper right")
    axes[0].set_ylabel("platelets (10$^9$/L)")
    fig.savefig(args.out, dpi=120)
    plt.close(fig)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
