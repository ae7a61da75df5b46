"""Analyses benchmark (printed, not asserted): one Sobol analysis (10 parameters x 3
endpoints) and one regimen optimisation, with wall times on this machine.

    python benchmarks/analyses.py [--n 64]
"""

from __future__ import annotations

import argparse
import os
import time

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
    t0 = time.perf_counter()
    s = sensitivity(scenario, PARAMETERS, ENDPOINTS, n=n)
    print(f"Sobol, {len(PARAMETERS)} parameters x {len(ENDPOINTS)} endpoints, n = {n}: "
          f"{s.n_evaluations} evaluations, {time.perf_counter() - t0:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
