"""How strong the shipped set expects Wu 2016's findings to have been (docs/calibration.md).

The abstract reports each finding as "P < 0.05" only.  For each significant Wu 2016 finding this
script takes the shipped calibrated set (2,000 virtual patients per arm, hard endpoints, as
`pdmodel reproduce`) and prints

* P(replicate): the probability that a replicate 40 vs 40 trial reaches the published verdict
  at alpha 0.05 (the number `pdmodel reproduce` reports and the acceptance asks to be >= 0.8);
* the median P value of such a replicate trial: the alpha at which P(replicate) is 0.5, i.e.
  the P value the model expects the published trial to have seen (found by bisection on the
  finding's alpha with the same exact power functions; replicate trials whose P value is
  below it are as likely as those above);
* the P value a trial must typically reach for a replicate to reproduce the finding with
  probability 0.8 at alpha 0.05: with the normal approximation, P(replicate) =
  Phi(delta - 1.96) for an expected z statistic delta, so 0.8 needs delta >= 2.80, a median
  two-sided P value of 0.005 (Goodman, Stat Med 1992;11:875: a result at exactly P = 0.05 is
  reproduced by a same-size trial with probability 0.5 if the true effect is the observed one).

`pdmodel reproduce` prints the same quantity for every finding as "typical P", from the
normal approximation (the P value at the replicate trial's mean z statistic); this script's
bisection with the exact power functions checks it (onset 0.01 vs 0.011, recurrence 0.012 vs
0.012, antibody positivity 0.032 vs 0.031).  About 4 s.

    python analyses/replication_strength.py
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from _common import arguments
from scipy.stats import norm

import pdmodel as pm
from pdmodel import trials
from pdmodel.endpoints import ArmSummary


def _alpha_at(
    f: trials.Finding,
    trial: trials.Trial,
    summaries: Mapping[str, Mapping[str, ArmSummary]],
    target: float,
) -> float:
    """The alpha at which P(replicate) of finding `f` equals `target` (bisection in log alpha)."""

    def prob(alpha: float) -> float:
        r = trials.evaluate_finding(
            dataclasses.replace(f, alpha=alpha), trial, summaries, typical_p=False
        )
        assert r.probability is not None
        return r.probability

    lo, hi = 1e-12, 0.5  # P(replicate) rises with alpha
    if prob(hi) < target:
        return float("nan")
    if prob(lo) >= target:
        return lo
    for _ in range(50):
        mid = (lo * hi) ** 0.5
        if prob(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__, argv, n=2000)
    params = pm.calibrated_parameters()
    trial = trials.load("wu2016")
    res = trials.simulate_trial(trial, params, n_per_arm=args.n, seed=1, progress=False)
    delta80 = 1.96 + norm.ppf(0.8)
    print(
        "normal approximation: P(replicate) >= 0.8 at alpha 0.05 needs an expected z of "
        f"{delta80:.2f}, a median replicate P value of {2 * norm.sf(delta80):.4f}\n"
    )
    print(f"{'finding':<34} {'P(replicate)':>12} {'median replicate P':>19}")
    for f in trial.findings:
        if f.type not in ("comparison", "change") or not f.significant:
            continue
        r = trials.evaluate_finding(f, trial, res.summaries)
        if r.probability is None:
            continue
        where = f" in {f.arm}" if f.type == "change" else ""
        median_p = _alpha_at(f, trial, res.summaries, 0.5)
        shown = "< 1e-12" if median_p <= 1e-12 else f"{median_p:.2g}"
        print(f"{f.endpoint + where:<34} {r.probability:>12.2f} {shown:>19}")


if __name__ == "__main__":
    main()
