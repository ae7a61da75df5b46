"""Analyses benchmark (printed, not asserted): one Sobol analysis (10 parameters x 3
endpoints) and one regimen optimisation, with wall times on this machine.

    python benchmarks/analyses.py [--n 64]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from pdmodel.analysis import optimise, sensitivity

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PARAMETERS = ["k_ab", "gc_ec50", "gc_imax_mk", "prod_healthy", "il11_smax", "il11_ec50",
              "clone_r", "gc_ec50_hi", "gc_ke0", "omega_k_ab"]  # fmt: skip
ENDPOINTS = ["initial_response", "complete_response", "treatment_course"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=64, help="Sobol base sample (power of 2)")
    n = ap.parse_args().n
    print(f"cores: {os.cpu_count()}")
    problem = os.path.join(ROOT, "examples", "problems", "response_by_day14.toml")
    t0 = time.perf_counter()
    res = optimise(problem)
    print(f"optimisation ({problem}): {len(res.candidates)} regimens, {res.evaluations} "
          f"simulations of {res.problem.n} patients, {time.perf_counter() - t0:.1f} s")  # fmt: skip
    scenario = os.path.join(ROOT, "examples", "scenarios", "prednisone_il11_50.toml")
    walls = {}
    tables = {}
    for label, batch in (("batched (default)", None), ("one engine call per sample", 1)):
        t0 = time.perf_counter()
        s = sensitivity(scenario, PARAMETERS, ENDPOINTS, n=n, batch_size=batch)
        walls[label] = time.perf_counter() - t0
        tables[label] = s.table["value"].to_numpy()
        print(f"Sobol, {len(PARAMETERS)} parameters x {len(ENDPOINTS)} endpoints, n = {n}, "
              f"{label}: {s.n_evaluations} evaluations of 200 patients, "
              f"{walls[label]:.1f} s")  # fmt: skip
    a, b = tables.values()
    same = bool(((a == b) | (np.isnan(a) & np.isnan(b))).all())
    ratio = walls["one engine call per sample"] / walls["batched (default)"]
    print(f"batching speed-up: {ratio:.1f}x (indices identical: {same})")


if __name__ == "__main__":
    main()
