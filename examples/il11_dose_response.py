"""
rhIL-11 dose-response and schedule sweep on top of prednisone
=============================================================

Runs the `prednisone_il11_50` scenario over rhIL-11 doses and course lengths on the same
virtual patients and plots IWG response, complete response and peak platelets against dose.

    python examples/il11_dose_response.py [--n 300] [--out il11_dose_response.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pdmodel as pm
from pdmodel.scenarios import sweep

# the scenario next to this script (the docs gallery runs scripts here, without __file__)
HERE = Path(globals().get("__file__", "il11_dose_response.py")).resolve().parent
SCENARIO = HERE / "scenarios" / "prednisone_il11_50.toml"


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=300, help="virtual patients")
    ap.add_argument("--out", default="il11_dose_response.png", help="figure file")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = pm.calibrated_parameters()  # the shipped fit
    table = sweep(SCENARIO, {"il11.ug_per_kg": [5, 10, 25, 50, 75], "il11.days": [7, 14]},
                  params, n=args.n, seed=1)  # fmt: skip
    print(table.round(3).to_string(index=False))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for days, g in table.groupby("il11.days"):
        axes[0].plot(
            g["il11.ug_per_kg"], g["initial_response"], "o-", label=f"IWG response, {days} d"
        )
        axes[0].plot(g["il11.ug_per_kg"], g["complete_response"], "s--", label=f"CR, {days} d")
        axes[1].plot(g["il11.ug_per_kg"], g["peak_platelets"], "o-", label=f"{days}-day course")
    axes[0].set_ylabel("fraction of patients")
    axes[1].set_ylabel("mean peak platelets (10$^9$/L)")
    for ax in axes:
        ax.set_xlabel("rhIL-11 dose (ug/kg/day)")
        ax.legend(fontsize=8, frameon=False)
    fig.suptitle(f"Prednisone 1 mg/kg/day + rhIL-11: dose and course length (n = {args.n})")
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
