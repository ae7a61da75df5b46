"""
Adding a drug: a thrombopoietin-receptor agonist next to prednisone
===================================================================

Registers a drug (its dosing and one-compartment PK as data), extends the parameter table with
its sourced PK values, derives a model variant in which its concentration stimulates the
megakaryocyte production influx, and simulates prednisone with and without it on the same
virtual patients.  Nothing in the package is edited.

The drug is romiplostim, whose one-compartment subcutaneous PK is published (Petrov et al. Clin
Pharmacol Drug Dev 2025;14:116: ka 0.02 /h, V/F 2565 L, kel 0.03 /h, for chronic ITP).  rhTPO,
the thrombopoietic drug most used with glucocorticoids in China, is added the same way once
its PK is sourced.  **The effect is uncalibrated**: the Emax stimulation of the influx (Emax 9,
EC50 42 pg/mL) is taken from Petrov's model, whose platelet structure differs from ours; the
curves illustrate the mechanics of adding a drug, not a prediction.

    python examples/add_a_drug.py [--n 200] [--out add_a_drug.png]
"""

from __future__ import annotations

import argparse

import numpy as np

import pdmodel as pm
from pdmodel.model import Assignment, Observable

SOURCE = "Petrov et al. Clin Pharmacol Drug Dev 2025;14:116 (romiplostim, chronic ITP)"


def romiplostim_model() -> pm.Model:
    """The default model plus romiplostim (registered in the drug table on first call)."""
    pm.register_drug(
        pm.DrugSpec(
            name="romiplostim",
            analyte="romiplostim",
            concentration="conc_romiplostim",
            amount_unit="ug",
            routes={"sc": "1.0"},  # apparent V/F: bioavailability folded into the volume
            ka="romi_ka",
            k="romi_k",
            v_per_kg="romi_v",
            description="romiplostim, subcutaneous (example drug, uncalibrated effect)",
        )
    )
    rows = [
        pm.ParameterSpec("romi_ka", 0.48, "1/day", 0.05, 5.0, "literature",
                         "Absorption rate of SC romiplostim (0.02 /h x 24).", SOURCE, fixed=True),
        pm.ParameterSpec("romi_k", 0.72, "1/day", 0.05, 5.0, "literature",
                         "Elimination rate of romiplostim (0.03 /h x 24).", SOURCE, fixed=True),
        pm.ParameterSpec("romi_v", 36.64, "L/kg", 1.0, 500.0, "derived",
                         "Apparent volume V/F per kg (2565 L / 70 kg).", SOURCE, fixed=True),
        pm.ParameterSpec("romi_emax", 9.0, "1", 0.0, 50.0, "assumed",
                         "Maximal stimulation of the production influx (Petrov's Emax; not "
                         "calibrated in pdmodel).", SOURCE, fixed=True),
        pm.ParameterSpec("romi_ec50", 0.042, "ng/mL", 0.001, 10.0, "assumed",
                         "Concentration of half-maximal stimulation (42 pg/mL, Petrov; not "
                         "calibrated in pdmodel).", SOURCE, fixed=True),
    ]  # fmt: skip
    base = pm.default_model()
    influx = base.expression("influx").text
    return (
        base.add(
            *rows,
            Assignment(
                "e_tpo",
                "conc_romiplostim / (conc_romiplostim + romi_ec50)",
                "1",
                "thrombopoietin-receptor agonist effect (uncalibrated example)",
                gate="conc_romiplostim",
            ),
            Observable("conc_romiplostim", "conc_romiplostim", "ng/mL", description="romiplostim"),
            drugs=["romiplostim"],
        )
        .with_expression("influx", f"{influx} * (e_tpo * romi_emax + 1.0)")
        .replace(name="itp_romiplostim")
    )


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200, help="virtual patients")
    ap.add_argument("--out", default="add_a_drug.png", help="figure file")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = romiplostim_model()
    # the calibrated values of the default model's parameters, plus the drug's rows
    params = pm.calibrated_parameters().with_model(model)
    pop = pm.Population.sample(args.n, params, seed=1)
    pred = pm.regimens.prednisone(mg_per_kg=1.0, days=28, taper_days=28)
    romi = pm.Course("romiplostim", 3.0, "ug/kg", n_doses=8, interval=7.0, label="romiplostim")
    days = 84
    alone = pm.simulate(pop, pred, days, observables=["platelets"])
    both = pm.simulate(pop, pred + romi, days, observables=["platelets", "conc_romiplostim"])
    t = alone.times
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for res, label in ((alone, "prednisone"), (both, "prednisone + romiplostim 3 ug/kg/wk")):
        q = np.percentile(res["platelets"], [25, 50, 75], axis=1)
        axes[0].plot(t, q[1], label=label)
        axes[0].fill_between(t, q[0], q[2], alpha=0.25)
        print(f"{label}: median platelets day 28 {q[1][28]:.0f}, day 84 {q[1][-1]:.0f} x10^9/L")
    axes[0].set_ylabel("platelets (10$^9$/L), median and IQR")
    axes[0].legend(fontsize=8, frameon=False)
    axes[1].plot(t, np.median(both["conc_romiplostim"], axis=1) * 1000)
    axes[1].set_ylabel("romiplostim, median daily concentration (pg/mL)")
    for ax in axes:
        ax.set_xlabel("day")
    fig.suptitle(f"Adding a drug (uncalibrated effect, illustration only; n = {args.n})")
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
