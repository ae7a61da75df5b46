"""
A real cohort: simulate *these* patients under two regimens
===========================================================

Reads a cohort table (``examples/cohort.csv``: ID, weight in kg, untreated platelets in 10^9/L
and the antibody-mediated clearance ``k_ab`` in 1/day; any random effect of the model can be a
column), draws the effects the table does not give from the model's distributions (seeded),
and simulates each patient under high-dose dexamethasone (40 mg/day x 4 days) and under
prednisone 1 mg/kg/day x 28 days with a taper.  Writes a tidy long table with the covariates
and the NONMEM-style event table of the dexamethasone arm next to the figure.

    python examples/cohort.py [--cohort examples/cohort.csv] [--out cohort_simulation.png]

The same from the command line: ``pdmodel simulate SCENARIO.toml --cohort examples/cohort.csv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import pdmodel as pm

try:
    HERE = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery runs the script in its own folder, without __file__
    HERE = Path.cwd()


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cohort", default=str(HERE / "cohort.csv"), help="cohort table (CSV)")
    ap.add_argument("--out", default="cohort_simulation.png", help="figure file")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = pm.calibrated_parameters()
    cohort = pd.read_csv(args.cohort)
    patients = pm.Population.from_frame(cohort, params, seed=1)
    regimens = {
        "dexamethasone 40 mg x 4 d": pm.regimens.dexamethasone(mg=40, days=4),
        "prednisone 1 mg/kg x 28 d + taper": pm.regimens.prednisone(
            mg_per_kg=1.0, days=28, taper_days=28
        ),
    }
    results = {name: pm.simulate(patients, reg, 120.0) for name, reg in regimens.items()}

    covariates = pm.events.cohort_frame(patients)
    tidy = pd.concat(
        [r.to_frame(["platelets"], long=True, arm=name, covariates=covariates)
         for name, r in results.items()],
        ignore_index=True,
    )  # fmt: skip
    out = Path(args.out)
    tidy_path, events_path = (out.with_name(f"{out.stem}-{k}.csv") for k in ("tidy", "events"))
    tidy.to_csv(tidy_path, index=False)
    first = next(iter(results))
    table = pm.events.to_event_table(results[first], patients, arm=first)
    table.to_csv(events_path, index=False)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True, constrained_layout=True)
    for ax, (name, res) in zip(axes, results.items(), strict=True):
        for j, pid in enumerate(res.patient_ids):
            base = cohort.plt_base.iloc[j]
            ax.plot(res.times, res["platelets"][:, j], lw=1, label=f"ID {pid} ({base:g})")
        ax.axhline(30, color="grey", lw=0.6, ls=":")
        ax.axhline(100, color="grey", lw=0.6, ls=":")
        ax.set(title=name, xlabel="time (days)", yscale="log")
    axes[0].set_ylabel("platelets (10$^9$/L)")
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", title="patient\n(untreated count)",
               fontsize=7, frameon=False)  # fmt: skip
    fig.suptitle(f"{len(patients)} patients of {Path(args.cohort).name}", fontsize=10)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    print(f"wrote {out}, {tidy_path} and {events_path}")
    return str(out)


if __name__ == "__main__":
    main()
