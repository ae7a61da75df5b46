"""Calibration benchmark (printed, not asserted).

Times one objective evaluation (wu2016 + wei2016_prednisone, all findings, smooth endpoints) at
the fit's default size and at 2,000 patients per arm, and reports the wall time of the shipped
calibration run from its provenance.

    python benchmarks/calibration.py
"""

from __future__ import annotations

import json
import time
from importlib import resources

import pdmodel as pm
from pdmodel import calibration as cal
from pdmodel.trials import load


def main() -> None:
    params = pm.default_parameters()
    designs = [load(t) for t in cal.DEFAULT_TRIALS]
    for n in (300, 2000):
        obj = cal.Objective(designs, params, cal.DEFAULT_FREE, n_per_arm=n, seed=1)
        obj(params)  # warm-up
        t0 = time.perf_counter()
        value = obj(params)
        dt = time.perf_counter() - t0
        print(f"objective at {n} patients per arm (3 arms x 180 days): {dt:.2f} s "
              f"(value {value:.2f}); target <= 0.5 s at 2,000")  # fmt: skip
    ref = resources.files("pdmodel").joinpath("data/calibrated.json")
    if ref.is_file():
        prov = json.loads(ref.read_text())["provenance"]
        print(
            f"shipped calibration: {prov['evaluations']} evaluations, {prov['starts']} start(s), "
            f"{prov['n_per_arm']} patients per arm, wall time {prov['wall_time_s']} s "
            "(target <= 300 s)"
        )
    else:
        print("no shipped calibration to report")


if __name__ == "__main__":
    main()
