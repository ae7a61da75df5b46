"""
Reproduce the Wu 2016 endpoints and compare them with the published findings
============================================================================

Simulates both arms with the shipped calibrated parameters, prints every finding with the
probability that a replicate 40 vs 40 trial reproduces it, and saves the comparison figure.

    python examples/reproduce_wu2016.py [--n 1000] [--out reproduce_wu2016.png]
"""

from __future__ import annotations

import argparse

import pdmodel as pm
from pdmodel.shipped import shipped_parameters


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000, help="virtual patients per arm")
    ap.add_argument("--out", default="reproduce_wu2016.png", help="figure file")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params, label = shipped_parameters()
    result = pm.simulate_trial(pm.trials.load("wu2016"), params, n_per_arm=args.n, seed=1)
    print(f"parameters: {label}")
    print(result.findings_table()[["finding", "probability", "status"]].to_string(index=False))
    fig = pm.plotting.plot_findings(result)
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
