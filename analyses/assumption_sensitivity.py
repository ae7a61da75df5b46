"""Sensitivity of the Wu 2016 findings to unstated counting rules (docs/calibration.md).

With the shipped calibrated set (2,000 virtual patients per arm, seed 1, hard endpoints), on
copies of the shipped trial that differ only in one endpoint setting:

* response / recurrence confirmation (`response_confirm_days`, `relapse_confirm_days`):
  recurrence, initial (IWG) response and complete response per arm;
* onset rule (`onset_level`, `onset_fold`) and the window in which onsets are counted
  (`response_window`): onset time per arm and P(replicate).

About a minute.

    python analyses/assumption_sensitivity.py
"""

from __future__ import annotations

import dataclasses
from typing import Any

from _common import arguments

import pdmodel as pm
from pdmodel import trials


def _run(trial: trials.Trial, n: int, **settings: Any) -> trials.TrialResult:
    variant = dataclasses.replace(trial, endpoints=dataclasses.replace(trial.endpoints, **settings))
    return trials.simulate_trial(
        variant, pm.calibrated_parameters(), n_per_arm=n, seed=1, progress=False
    )


def _value(result: trials.TrialResult, arm: str, endpoint: str) -> float:
    return result.summaries[arm][endpoint].value


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__, argv, n=2000)
    trial = trials.load("wu2016")
    arms = ("observation", "control")
    print("response_confirm_days, relapse_confirm_days: recurrence | initial response | CR "
          "(rhIL-11 vs control)")  # fmt: skip
    for conf in ((0, 0), (0, 1), (7, 1)):
        r = _run(trial, args.n, response_confirm_days=conf[0], relapse_confirm_days=conf[1])
        cells = [
            " vs ".join(f"{_value(r, a, e):.3f}" for a in arms)
            for e in ("recurrence_rate", "initial_response", "complete_response")
        ]
        print(f"  {conf[0]}, {conf[1]}: " + " | ".join(cells))
    print("onset rule: onset time (days, rhIL-11 vs control), P(replicate)")
    for level, fold in ((30.0, 2.0), (50.0, 0.0), (30.0, 0.0)):
        r = _run(trial, args.n, onset_level=level, onset_fold=fold)
        (row,) = [x for x in r.findings if x.finding.endpoint == "onset_time"]
        print(f"  >= {level:g}" + (f" and >= {fold:g} x baseline" if fold else "")
              + f": {row.model}, P {row.probability:.2f}")  # fmt: skip
    print("onset window (days; shipped rule): onset time (days, rhIL-11 vs control), P(replicate)")
    for window in (28.0, 42.0, 56.0):
        r = _run(trial, args.n, response_window=window)
        (row,) = [x for x in r.findings if x.finding.endpoint == "onset_time"]
        print(f"  {window:g}: {row.model}, P {row.probability:.2f}")


if __name__ == "__main__":
    main()
