"""pdmodel's engine vs libroadrunner patient by patient (printed, not asserted).

The same population (default 1,000 patients x 180 days, prednisone 1 mg/kg x 28 d + taper and
rhIL-11 50 ug/kg x 14 d with a stop rule) is simulated by the compiled engine and, patient by
patient, by libroadrunner from the exported SBML (model compiled once; each patient's individual
parameters, dose amounts and baseline states are set before its run), both at the engine's
default rtol and atol.  Prints ms per patient for each, their ratio, and the largest platelet
difference.

    python benchmarks/vs_roadrunner.py [--n 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import roadrunner

import pdmodel as pm
from pdmodel import sbml


def _individual_values(
    pop: pm.Population, i: int, reg: pm.Regimen, ids: set[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """The patient's constants (per-patient values the SBML holds, volumes, dose amounts) and
    its baseline states, by SBML id."""
    ind = pop[i : i + 1].individuals()
    model = pop.params.model
    pks = pm.pk.drug_pk(pop.params)
    values = {
        name: float(np.asarray(v).reshape(-1)[0])
        for name, v in ind.values.items()
        if isinstance(v, np.ndarray) and name in ids  # per-patient values only
    }
    for drug in model.drugs:
        values[f"pk_{drug}_V"] = pks[drug].volume(ind.weight)[0]
    for ci, c in enumerate(reg.courses):
        absorbed = pks[c.drug].absorbed(c.route, c.amounts(ind.weight))[0]
        for k in range(c.n_doses):
            values[f"c{ci}_amount{k}"] = absorbed
    y0 = model.baseline(ind)[:, 0]
    states = {name: float(y0[j]) for j, name in enumerate(model.state_names)}
    return {k: float(v) for k, v in values.items()}, states


def roadrunner_loop(
    params: pm.ParameterSet, pop: pm.Population, reg: pm.Regimen, days: float
) -> tuple[float, np.ndarray]:
    """Seconds and daily platelets (shape ``(days + 1, n)``) of a patient-by-patient
    libroadrunner loop on the exported SBML at the engine's default tolerances."""
    grid = np.arange(0.0, days + 0.5, 1.0)
    rr = roadrunner.RoadRunner(sbml.to_sbml(params, reg))
    rr.integrator.relative_tolerance = pm.SolverOptions().rtol
    rr.integrator.absolute_tolerance = pm.SolverOptions().atol
    rr.integrator.maximum_num_steps = 100_000
    rr.timeCourseSelections = ["time", "platelets"]
    out = np.empty((grid.size, len(pop)))
    ids = set(rr.model.getGlobalParameterIds())
    t0 = time.perf_counter()
    for i in range(len(pop)):
        constants, states = _individual_values(pop, i, reg, ids)
        rr.resetAll()
        for name, v in constants.items():
            rr.setValue(name, v)
        rr.reset()  # re-applies the day-0 dose events with this patient's amounts
        for name, v in states.items():
            rr.setValue(name, v)
        out[:, i] = rr.simulate(0.0, days, grid.size)[:, 1]
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--days", type=float, default=180.0)
    args = ap.parse_args()
    params = pm.default_parameters()
    reg = pm.regimens.prednisone(mg_per_kg=1.0, days=28, taper_days=28) + pm.regimens.il11(
        ug_per_kg=50, days=14, stop_if_platelets_above=100
    )
    pop = pm.Population.sample(args.n, params, seed=2026)
    grid = np.arange(0.0, args.days + 0.5, 1.0)

    pm.simulate(pop[:20], reg, args.days)  # warm-up
    t0 = time.perf_counter()
    res = pm.simulate(pop, reg, args.days, observables=["platelets"])
    engine = time.perf_counter() - t0

    loop, out = roadrunner_loop(params, pop, reg, args.days)
    # check the parameter-setting shortcut against a model built for the patient itself
    own = roadrunner.RoadRunner(sbml.to_sbml(params, reg, pop[1:2]))
    own.integrator.relative_tolerance = pm.SolverOptions().rtol
    own.integrator.absolute_tolerance = pm.SolverOptions().atol
    own.timeCourseSelections = ["time", "platelets"]
    check = np.max(np.abs(own.simulate(0.0, args.days, grid.size)[:, 1] - out[:, 1]) / out[:, 1])
    # compare away from dose times is not needed for platelets: they are continuous
    diff = np.max(np.abs(out - res["platelets"]) / res["platelets"])
    per_engine, per_rr = 1e3 * engine / args.n, 1e3 * loop / args.n
    print(f"{args.n} patients x {args.days:g} days, rtol {pm.SolverOptions().rtol:g}")
    print(
        f"pdmodel engine (1 process, {pm.get_threads()} threads): {engine:.2f} s = "
        f"{per_engine:.3f} ms/patient"
    )
    print(f"libroadrunner loop: {loop:.2f} s = {per_rr:.2f} ms/patient")
    print(f"speed-up per patient: {per_rr / per_engine:.1f}x (target >= 20x)")
    print(f"max relative platelet difference engine vs roadrunner: {diff:.1e}; "
          f"parameter-setting shortcut vs per-patient model: {check:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
