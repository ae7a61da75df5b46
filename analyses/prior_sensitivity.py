"""How much the priors hold the shipped calibration back (docs/calibration.md).

The acceptance of the calibration asks each significant Wu 2016 finding to be reproduced by a
replicate 40 vs 40 trial with probability >= 0.8; with the shipped set three are not.  This
script asks whether that is the priors' doing or the model's: it refits with every prior SD
of the parameter table multiplied by 2 and by 10 (``fit(..., prior_scale=K)``, i.e. ``pdmodel
fit --prior-scale K``; centres and bounds unchanged), each from the shipped estimate (one
local fit, two processes, 300 patients per arm, seed 1, as the shipped fit), then scores each
refit as ``pdmodel reproduce`` does (2,000 virtual patients per arm, hard endpoints): the Wei
2016 prednisone arm and P(replicate) of every Wu 2016 finding.  It also prints what the
refits' estimates cost under the table's own priors.  About 2 minutes on a 2-core machine.

With ``--one-at-a-time`` it instead widens one parameter's prior at a time (its SD x 2, all
other priors as in the table), refits from the shipped estimate and scores the three Wu 2016
findings below 0.8: which single prior, if a source justified a wider one, would matter.
About 10 minutes.

    python analyses/prior_sensitivity.py [--one-at-a-time]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

from _common import arguments

from pdmodel import calibration as cal
from pdmodel.parameters import ParameterSet, ParameterTable
from pdmodel.shipped import shipped_fit
from pdmodel.trials import load, simulate_trial

SCALES = (2.0, 10.0)


def _score(params: ParameterSet, n: int) -> dict[str, tuple[float, str]]:
    out = {}
    for trial in ("wu2016", "wei2016_prednisone"):
        result = simulate_trial(load(trial), params, n_per_arm=n, seed=1, progress=False)
        for r in result.findings:
            if r.probability is not None and math.isfinite(r.probability):
                out[f"{trial}: {r.finding.describe()}"] = (r.probability, r.model)
    return out


def _table_prior_cost(fit: cal.FitResult) -> float:
    return sum(cal._prior_term(fit.params, name, 1.0) for name in fit.free)


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__, argv, n=2000, fit_n=0, max_nfev=400, one_at_a_time=False)
    if args.one_at_a_time:
        one_at_a_time(2.0, args)
        return
    shipped = shipped_fit()
    prov = shipped.provenance
    fit_n = args.fit_n or prov["n_per_arm"]
    fits = {1.0: shipped}
    for scale in SCALES:
        t0 = time.perf_counter()
        fits[scale] = cal.fit(None, params=shipped.params, free=shipped.free, n_per_arm=fit_n,
                              seed=prov["seed"], max_nfev=args.max_nfev, workers=2,
                              progress=False,
                              uncertainty=False, prior_scale=scale)  # fmt: skip
        print(f"prior SDs x {scale:g}: refit in {time.perf_counter() - t0:.0f} s, "
              f"{fits[scale].nfev} evaluations")  # fmt: skip
    print("\n" + "".ljust(44) + "".join(f"priors x {s:g}".ljust(14) for s in fits))
    rows = {
        "-2 log L of the findings": lambda f: sum(t.value for t in f.terms if t.kind != "prior"),
        "prior cost under the table's priors": _table_prior_cost,
    }
    for label, fn in rows.items():
        print(label.ljust(44) + "".join(f"{fn(f):<14.2f}" for f in fits.values()))
    print(
        "\nparameter".ljust(17) + "bounds".ljust(18) + "".join(f"x {s:g}".ljust(12) for s in fits)
    )
    for name in shipped.free:
        spec = shipped.params.table[name]
        cells = []
        for f in fits.values():
            v = f.params[name]
            at = "*" if v <= spec.lower * 1.001 or v >= spec.upper * 0.999 else ""
            cells.append(f"{v:.4g}{at}".ljust(12))
        print(f"{name:<16}" + f"[{spec.lower:g}, {spec.upper:g}]".ljust(18) + "".join(cells))
    print("(* at a bound)")
    print("\nP(replicate), 2,000 virtual patients per arm".ljust(66)
          + "".join(f"x {s:g}".ljust(8) for s in fits))  # fmt: skip
    scores = [_score(f.params, args.n) for f in fits.values()]
    for label in scores[0]:
        print(label[:64].ljust(66) + "".join(f"{s[label][0]:<8.2f}" for s in scores))
    print("\nmodel at the widest priors:")
    for label, (_, model) in scores[-1].items():
        print(f"  {label[:64]:<66}{model}")


#: the Wu 2016 findings the shipped set reproduces with probability below 0.8
SHORT = ("recurrence_rate", "onset_time", "ab_positive_after")


def _sd(prior_sd: float | None) -> float:
    """A free parameter's prior SD (every default free parameter has one)."""
    assert prior_sd is not None
    return prior_sd


def one_at_a_time(factor: float, args: argparse.Namespace) -> None:
    shipped = shipped_fit()
    prov = shipped.provenance
    fit_n = args.fit_n or prov["n_per_arm"]
    base = _score(shipped.params, args.n)
    short = [k for k in base if k.startswith("wu2016") and k.split(": ")[1].startswith(SHORT)]
    print(f"each prior SD x {factor:g} in turn, refit from the shipped estimate; P(replicate) "
          "at 2,000 virtual patients per arm")  # fmt: skip
    print("widened prior".ljust(16) + "".join(k.split(": ")[1][:16].ljust(18) for k in short)
          + "-2 log posterior   moved parameters (> 0.5 prior SD of the table)")  # fmt: skip
    print("(none)".ljust(16) + "".join(f"{base[k][0]:<18.2f}" for k in short)
          + f"{shipped.objective:<19.2f}")  # fmt: skip
    table = shipped.params.table
    for name in shipped.free:
        specs = [
            dataclasses.replace(s, prior_sd=_sd(s.prior_sd) * factor) if s.name == name else s
            for s in table.values()
        ]
        params = ParameterSet(dict(shipped.params.items()), table=ParameterTable(specs))
        refit = cal.fit(None, params=params, free=shipped.free, n_per_arm=fit_n,
                        seed=prov["seed"], max_nfev=args.max_nfev // 2, progress=False,
                        uncertainty=False)  # fmt: skip
        scores = _score(ParameterSet(dict(refit.params.items())), args.n)
        moved = [
            f"{k} {shipped.params[k]:.3g}->{refit.params[k]:.3g}"
            for k in shipped.free
            if abs(math.log(refit.params[k] / shipped.params[k])) > 0.5 * _sd(table[k].prior_sd)
        ]
        print(name.ljust(16) + "".join(f"{scores[k][0]:<18.2f}" for k in short)
              + f"{refit.objective:<19.2f}" + ", ".join(moved))  # fmt: skip


if __name__ == "__main__":
    main()
