"""How the glucocorticoid effects follow the drug: three time courses fitted and compared.

* ``effect_site`` (the shipped model): every glucocorticoid effect reads an effect-site
  concentration ``C_e`` (link model, rate ``gc_ke0``); the receptor-mediated effect is an Emax
  of ``C_e`` with ``gc_ec50``, the high-intensity effect a Hill function with ``gc_ec50_hi``.
* ``receptor_binding``: each effect is a receptor-binding state, ``dS/dt = ke0 (C/K (1 - S) -
  S)`` with ``K`` = ``gc_ec50`` or the patient's high-intensity potency: onset faster at high
  concentrations (kon C), offset at ``ke0`` whatever the dose (the state ``ce`` then holds the
  receptor-mediated occupancy, a fraction, and ``occ_hi`` the high-intensity one).
* ``plasma_high_intensity``: the high-intensity effects follow the plasma concentration
  directly (fast, nongenomic-like), the receptor-mediated ones the effect site.

Each is fitted with the default settings (default trials and free parameters, one start, two
processes) from the shipped calibrated set's values and printed with its objective and
regimen-behaviour checks.

    python analyses/gc_time_course_variants.py [--n 300] [--max-nfev 400]
"""

from __future__ import annotations

from _common import arguments, print_regimen_checks

import pdmodel as pm
from pdmodel.model import Model, State


def variants() -> dict[str, Model]:
    """The three time-course variants (the first is the shipped model)."""
    base = pm.default_model()
    binding = (
        base.with_expression("ce", "(c_gc / gc_ec50 * (1.0 - ce) - ce) * gc_ke0")
        .add(
            State(
                "occ_hi",
                "1",
                "(c_gc / ec50_hi * (1.0 - occ_hi) - occ_hi) * gc_ke0",
                "0.0",
                "high-intensity receptor-binding signal",
            )
        )
        .with_expression("e_gc", "ce")
        .with_expression("e_hi", "occ_hi")
        .replace(name="itp_v2_receptor_binding")
    )
    plasma = base.with_expression("ce_hi", "(c_gc / ec50_hi) ** gc_hill_hi").replace(
        name="itp_v2_plasma_high_intensity"
    )
    return {"effect_site": base, "receptor_binding": binding, "plasma_high_intensity": plasma}


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__, argv, n=300, max_nfev=400)
    for label, model in variants().items():
        start = pm.calibrated_parameters().with_model(model)
        fit = pm.fit(params=start, n_per_arm=args.n, max_nfev=args.max_nfev, workers=2,
                     progress=False)  # fmt: skip
        print(f"{label}: objective {fit.objective:.2f} ({fit.nfev} evaluations)")
        print_regimen_checks(fit.params, args.n)


if __name__ == "__main__":
    main()
