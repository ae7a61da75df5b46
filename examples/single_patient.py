"""
One typical patient under prednisone alone and prednisone + rhIL-11
===================================================================

Plots platelets, antibody (circulating and platelet-associated), CD4+CD25+ and FoxP3+ Treg
percentages, and drug concentrations over the first 8 weeks.

    python examples/single_patient.py [--out single_patient.png]
"""

from __future__ import annotations

import argparse

import numpy as np

import pdmodel as pm


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="single_patient.png", help="figure file")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    patient = pm.Population.patient(pm.calibrated_parameters(), plt_base=12.0, weight=60.0)
    gc = pm.regimens.prednisone(mg_per_kg=1.0, days=28, taper_days=28)
    both = gc + pm.regimens.il11(ug_per_kg=50, days=14, stop_if_platelets_above=100)
    times = np.arange(0.0, 56.0 + 1e-9, 1.0 / 24.0)  # hourly, to show the PK
    runs = {
        "prednisone": pm.simulate(patient, gc, 56, times=times),
        "prednisone + rhIL-11": pm.simulate(patient, both, 56, times=times),
    }

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True, constrained_layout=True)
    colours = {"prednisone": "tab:blue", "prednisone + rhIL-11": "tab:red"}
    for label, res in runs.items():
        c = colours[label]
        axes[0, 0].plot(res.times, res["platelets"][:, 0], color=c, label=label)
        axes[0, 1].plot(res.times, res["antibody"][:, 0], color=c, label=f"circulating, {label}")
        axes[0, 1].plot(
            res.times, res["paigg"][:, 0], color=c, ls="--", label=f"per platelet, {label}"
        )
        axes[1, 0].plot(res.times, res["cd4cd25_pct"][:, 0], color=c, label=f"CD4+CD25+, {label}")
        axes[1, 0].plot(
            res.times, res["treg_pct"][:, 0], color=c, ls=":", label=f"FoxP3+ Treg, {label}"
        )
    both_res = runs["prednisone + rhIL-11"]
    axes[1, 1].plot(
        both_res.times,
        both_res["conc_prednisolone"][:, 0],
        color="tab:green",
        lw=0.8,
        label="prednisolone (unbound)",
    )
    axes[1, 1].plot(
        both_res.times, both_res["conc_il11"][:, 0], color="tab:purple", lw=0.8, label="rhIL-11"
    )
    axes[1, 1].set_yscale("log")
    axes[1, 1].set_ylim(0.1, 1000.0)

    axes[0, 0].axhline(30, color="grey", lw=0.6, ls=":")
    axes[0, 0].axhline(100, color="grey", lw=0.6, ls=":")
    axes[0, 0].set_ylabel("platelets (10$^9$/L)")
    axes[0, 1].set_ylabel("antibody (relative to untreated)")
    axes[1, 0].set_ylabel("% of CD4$^+$ T cells")
    axes[1, 1].set_ylabel("concentration (ng/mL)")
    for ax in axes[1]:
        ax.set_xlabel("time (days)")
    for ax in axes.flat:
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle(
        "Typical patient (baseline 12 x 10$^9$/L, 60 kg): prednisone 1 mg/kg x 28 d + "
        "taper, with or without rhIL-11 50 ug/kg x 14 d (stop at 100)",
        fontsize=10,
    )
    fig.savefig(args.out, dpi=120)
    plt.close(fig)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
