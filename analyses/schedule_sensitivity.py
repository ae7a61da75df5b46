"""Sensitivity of the Wu 2016 findings to the assumed rhIL-11 schedule (docs/calibration.md).

The trial file assumes rhIL-11 50 ug/kg/day for at most 14 days, stopped once platelets reach
100 x 10^9/L.  With the shipped calibrated set (2,000 virtual patients per arm, seed 1, hard
endpoints) this script scores copies of the trial with a fixed 14-day course (no stop rule) and
with a course of at most 7 days; with ``--refit`` it also refits under the fixed 14-day course
with the shipped command's settings (four starts, two processes, 400 evaluations per start;
about 5 minutes) and scores that fit.

    python analyses/schedule_sensitivity.py [--refit]
"""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path

from _common import arguments

import pdmodel as pm
from pdmodel import calibration as cal
from pdmodel import trials

SHIPPED = "ug_per_kg = 50.0\ndays = 14\nstop_if_platelets_above = 100.0\n"
VARIANTS = {
    "fixed 14 days (no stop rule)": "ug_per_kg = 50.0\ndays = 14\n",
    "at most 7 days": "ug_per_kg = 50.0\ndays = 7\nstop_if_platelets_above = 100.0\n",
}
SHORT = ("recurrence_rate", "ab_positive_after", "onset_time")


def _variant(text: str, folder: Path, name: str) -> trials.Trial:
    raw = resources.files("pdmodel").joinpath("data/trials/wu2016.toml").read_text()
    if SHIPPED not in raw:
        raise SystemExit("the shipped rhIL-11 regimen changed; update this script")
    path = folder / f"{name}.toml"
    path.write_text(raw.replace(SHIPPED, text))
    return trials.load(path)


def _score(trial: trials.Trial, params: pm.ParameterSet, n: int) -> str:
    res = trials.simulate_trial(trial, params, n_per_arm=n, seed=1, progress=False)
    probs = {
        f.finding.endpoint: f.probability
        for f in res.findings
        if f.finding.type == "comparison" and f.probability is not None
    }
    rec = res.summaries
    return (
        f"recurrence {rec['observation']['recurrence_rate'].value:.3f} vs "
        f"{rec['control']['recurrence_rate'].value:.3f}; P(replicate) "
        + ", ".join(f"{k} {probs[k]:.2f}" for k in SHORT)
        + f"; >= 0.8 for {sum(p >= 0.8 for p in probs.values())} of {len(probs)} comparisons"
    )


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__, argv, n=2000, max_nfev=400, refit=False)
    params = pm.calibrated_parameters()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("shipped schedule:", _score(trials.load("wu2016"), params, args.n))
        for i, (label, text) in enumerate(VARIANTS.items()):
            print(f"{label}:", _score(_variant(text, folder, f"wu_variant{i}"), params, args.n))
        if args.refit:
            nostop = _variant(VARIANTS["fixed 14 days (no stop rule)"], folder, "wu_nostop")
            fit = cal.fit(
                [nostop, "wei2016_prednisone"], starts=4, workers=2, max_nfev=args.max_nfev
            )
            prov = fit.provenance
            print(f"refit under the fixed 14-day course: objective {fit.objective:.2f}, "
                  f"{prov['evaluations']} evaluations, {prov['wall_time_s']} s, starts "
                  f"{prov['start_objectives']}, th1_k {fit.params['th1_k']:.4f}/day")  # fmt: skip
            print("  scored:", _score(nostop, fit.params, args.n))
            wei = trials.simulate_trial(trials.load("wei2016_prednisone"), fit.params,
                                        n_per_arm=args.n, seed=1, progress=False)  # fmt: skip
            print("  Wei 2016:", "; ".join(f"{f.model} P {f.probability:.2f}"
                                           for f in wei.findings))  # fmt: skip


if __name__ == "__main__":
    main()
