"""Streaming to Parquet against gathering in memory (printed, not asserted).

N virtual patients x 180 days of prednisone 1 mg/kg/day x 28 days + taper and rhIL-11
50 ug/kg/day x 14 days (stop at 100), nine observables daily (the scenario default), written
as a wide Parquet table.  Each mode runs in its own process so that its peak resident memory
is its own:

- ``memory``: ``pm.simulate`` then ``SimulationResult.to_frame`` and ``io.write_table`` (every
  trajectory in memory at once);
- ``stream``: ``pdmodel.distributed.simulate_to_parquet`` in this process, chunks of 2,000;
- ``stream-dask``: the same on ``--dask local:2`` (the peak is the client process's; the
  workers hold a few chunks each).

    python benchmarks/stream.py [--n 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(mode: str, n: int, out: str) -> dict[str, float]:
    import pdmodel as pm
    from pdmodel.distributed import dask_executor, simulate_to_parquet
    from pdmodel.io import write_table
    from pdmodel.scenarios import DEFAULT_OBSERVABLES
    from pdmodel.solver import use_executor

    pop = pm.Population.sample(n, pm.calibrated_parameters(), seed=1)
    reg = pm.regimens.prednisone(mg_per_kg=1.0, days=28, taper_days=28) + pm.regimens.il11(
        ug_per_kg=50, days=14, stop_if_platelets_above=100
    )
    obs = list(DEFAULT_OBSERVABLES)
    t0 = time.perf_counter()
    if mode == "memory":
        res = pm.simulate(pop, reg, 180.0, observables=obs, progress=False)
        write_table(out, res.to_frame(arm="A"), {"mode": mode})
    elif mode == "stream":
        simulate_to_parquet(out, pop, reg, 180.0, arm="A", observables=obs, chunk_size=2000,
                            progress=False)  # fmt: skip
    else:
        with dask_executor("local:2") as ex, use_executor(ex):
            simulate_to_parquet(out, pop, reg, 180.0, arm="A", observables=obs,
                                chunk_size=2000, progress=False)  # fmt: skip
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"wall_s": wall, "peak_mb": peak_mb, "file_mb": os.path.getsize(out) / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=50_000, help="patients")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_run(args.child[0], args.n, args.child[1])))
        return
    print(f"{args.n:,} patients x 180 days, 9 observables daily, wide Parquet; "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'mode':<12}{'wall (s)':>10}{'peak RSS (MB)':>15}{'file (MB)':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("memory", "stream", "stream-dask"):
            out = str(Path(tmp) / f"{mode}.parquet")
            cmd = [sys.executable, __file__, "--n", str(args.n), "--child", mode, out]
            line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            r = json.loads(line.strip().splitlines()[-1])
            print(f"{mode:<12}{r['wall_s']:>10.1f}{r['peak_mb']:>15.0f}{r['file_mb']:>11.0f}")


if __name__ == "__main__":
    main()
