"""Calibration: objective properties, parameter recovery, errors, export round trip."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pdmodel as pm
from pdmodel import calibration as cal
from pdmodel import trials


def _synthetic_trial(params: pm.ParameterSet, n_pub: int = 400) -> trials.Trial:
    """A one-arm prednisone trial whose 'published' rates come from known parameters.

    The rates are the model's expectations under the objective's own observation model (smooth
    endpoints: 5% count variation), on other virtual patients than the fit uses.
    """
    base = trials.load("wei2016_prednisone")
    truth = trials.simulate_trial(base, params, n_per_arm=3000, seed=99, smooth_width=0.05)
    assert truth.smooth is not None
    s = truth.smooth["prednisone"]
    data = base.to_dict()
    data["id"] = "synthetic"
    data["arm"][0]["n"] = n_pub
    data["finding"] = [
        {"type": "proportion", "endpoint": e, "arm": "prednisone", "n": n_pub,
         "k": round(s[e].value * n_pub), "source": "simulated from known parameters"}
        for e in ("initial_response", "complete_response", "sustained_response")
    ] + [
        {"type": "mean", "endpoint": "recovery_level", "arm": "prednisone", "n": n_pub,
         "mean": s["recovery_level"].value, "sd": s["recovery_level"].sd,
         "source": "simulated from known parameters"}
    ]  # fmt: skip
    return trials.Trial.from_dict(data)


def test_objective_is_repeatable_and_continuous(params: pm.ParameterSet) -> None:
    obj = cal.Objective(
        [trials.load("wei2016_prednisone")], params, ["k_ab", "gc_imax_mac"], n_per_arm=150, seed=3
    )
    a = obj(params)
    assert obj(params) == a  # common random numbers: the same value every time
    b = obj(params.replace(k_ab=params["k_ab"] * (1 + 1e-4)))
    c = obj(params.replace(k_ab=params["k_ab"] * (1 + 2e-4)))
    assert a != b and abs(b - a) < 0.05 and abs((c - b) - (b - a)) < 0.5 * abs(b - a) + 1e-6


def test_parameter_recovery() -> None:
    truth = pm.default_parameters().replace(gc_ec50=8.0, prod_healthy=55.0)
    trial = _synthetic_trial(truth)
    names = ["gc_ec50", "prod_healthy"]
    start = truth.replace(gc_ec50=3.76, prod_healthy=40.0)  # the priors' centres
    res = cal.fit([trial], params=start, free=names, n_per_arm=300, seed=5, progress=False)
    for name in names:
        lo, hi = res.ci95[name]
        assert lo <= truth[name] <= hi, (name, res.params[name], (lo, hi))
    # the optimiser reached at least the truth's objective
    obj = cal.Objective([trial], start, names, n_per_arm=300, seed=5)
    assert res.objective <= obj(truth) + 1e-6
    assert -1.0 <= res.correl[("gc_ec50", "prod_healthy")] <= 1.0
    assert res.success and res.moved()["gc_ec50"]
    table = res.parameter_table()
    assert list(table.parameter) == names


def test_fit_export_round_trip(tmp_path: Path) -> None:
    truth = pm.default_parameters().replace(k_ab=1.2)
    res = cal.fit([_synthetic_trial(truth, 200)], params=truth, free=["k_ab"], n_per_arm=100, seed=1,
                  max_nfev=6, progress=False)  # fmt: skip
    path = pm.save_parameters(res.params, tmp_path / "fitted.json", fit=res)
    assert pm.load_parameters(path) == res.params
    body = json.loads(path.read_text())
    assert body["parameters"]["k_ab"]["free"] is True and "stderr" in body["parameters"]["k_ab"]
    assert body["parameters"]["mk_mtt"]["free"] is False
    prov = body["provenance"]
    assert prov["seed"] == 1 and prov["n_per_arm"] == 100 and prov["trials"][0]["id"] == "synthetic"
    assert body["fit"]["terms"] and "report" not in body
    csv_path = pm.save_parameters(res.params, tmp_path / "fitted.csv", fit=res)
    assert pm.load_parameters(csv_path) == res.params
    assert "stderr" in csv_path.read_text().splitlines()[0]
    assert "k_ab" in res.report()
    terms = res.terms_table()
    assert len(terms) == len(res.terms) and abs(terms["value"].sum() - res.objective) < 1e-9
    assert {"trial", "label", "kind", "value", "model", "probability"} <= set(terms.columns)
    # the whole fit reads back: estimates, SEs, intervals, correlations, terms, provenance
    back = cal.load_fit(path)
    assert back.params == res.params and back.free == res.free
    assert back.stderr == res.stderr and back.ci95 == res.ci95 and back.correl == res.correl
    assert back.objective == res.objective and back.terms == res.terms
    assert back.report() == res.report() and back.provenance == res.provenance
    bands = [cal.predictive_bands(r, "wei2016_prednisone", n_draws=2, n_per_arm=20)
             for r in (res, back)]  # fmt: skip
    assert bands[0].equals(bands[1])
    with pytest.raises(cal.CalibrationError, match="no fit"):
        cal.load_fit(pm.save_parameters(res.params, tmp_path / "plain.json"))
    body["fit"]["terms"] = [{"trial": "x"}]
    (tmp_path / "bad.json").write_text(json.dumps(body))
    with pytest.raises(cal.CalibrationError, match=r"bad.json: malformed fit section"):
        cal.load_fit(tmp_path / "bad.json")
    # a free parameter given as a bare value (a valid parameter file, but no fit entry)
    body = json.loads(path.read_text())
    name = body["provenance"]["free"][0]
    body["parameters"][name] = body["parameters"][name]["value"]
    (tmp_path / "bad.json").write_text(json.dumps(body))
    pm.load_parameters(tmp_path / "bad.json")  # fine as parameters
    with pytest.raises(cal.CalibrationError, match=r"bad.json: malformed fit section"):
        cal.load_fit(tmp_path / "bad.json")


def test_prior_scale_weakens_every_prior_and_travels_with_the_fit(tmp_path: Path) -> None:
    t = trials.load("wei2016_prednisone")
    base = pm.default_parameters()
    off = base.replace(k_ab=base["k_ab"] * 3.0, gc_ec50=base["gc_ec50"] / 2.0)
    free = ["k_ab", "gc_ec50"]

    def priors(scale: float) -> dict[str, float]:
        obj = cal.Objective([t], base, free, n_per_arm=20, prior_scale=scale)
        return {x.label: x.value for x in obj.terms(off) if x.kind == "prior"}

    one, three = priors(1.0), priors(3.0)
    sd = base.table["k_ab"].prior_sd
    assert sd is not None and one["k_ab"] == pytest.approx((math.log(3.0) / sd) ** 2, rel=1e-12)
    for name in free:  # (ln ratio / (3 sd))^2 = one / 9
        assert three[name] == pytest.approx(one[name] / 9.0, rel=1e-12)
    for bad in (0.0, -1.0, math.nan, math.inf, "x", True):  # (True was taken as 1)
        with pytest.raises(cal.CalibrationError, match="`prior_scale` must be"):
            cal.Objective([t], base, free, prior_scale=bad)  # type: ignore[arg-type]
    res = cal.fit([t], params=off, free=["k_ab"], n_per_arm=40, seed=1, max_nfev=3, progress=False,
                  prior_scale=4.0)  # fmt: skip
    assert res.provenance["prior_scale"] == 4.0
    assert "priors: the table's log-normal SDs x 4 (prior_scale)" in res.report()
    assert f"lognormal(ln {base['k_ab']:g}, {4 * sd:.3g})" in res.report()
    assert res.parameter_table().prior[0] == f"lognormal(ln {base['k_ab']:g}, {4 * sd:.3g})"
    prior = next(x for x in res.terms if x.kind == "prior")
    z = math.log(res.params["k_ab"] / base["k_ab"]) / (4.0 * sd)
    assert prior.value == pytest.approx(z * z, rel=1e-12)
    # moved-by-data is judged against the widened prior
    rel = res.stderr["k_ab"] / res.params["k_ab"]
    assert res.moved()["k_ab"] == (rel < 0.7 * 4.0 * sd)
    back = cal.load_fit(pm.save_parameters(res.params, tmp_path / "w.json", fit=res))
    assert back.provenance["prior_scale"] == 4.0 and back.report() == res.report()
    assert cal._settings(back)["prior_scale"] == 4.0
    body = json.loads((tmp_path / "w.json").read_text())
    body["provenance"]["prior_scale"] = -2
    (tmp_path / "bad.json").write_text(json.dumps(body))
    with pytest.raises(cal.CalibrationError, match=r"bad.json: malformed fit section.*prior_scale"):
        cal.load_fit(tmp_path / "bad.json")


def test_calibrated_parameters_are_the_shipped_fit() -> None:
    from pdmodel.shipped import shipped_parameters

    params = pm.calibrated_parameters()
    assert params == shipped_parameters()[0]
    defaults = pm.default_parameters()
    moved = [name for name in cal.DEFAULT_FREE if params[name] != defaults[name]]
    assert moved == list(cal.DEFAULT_FREE)  # every default free parameter was estimated
    assert all(params[name] == defaults[name] for name in defaults if name not in moved)


def test_calibrated_parameters_without_a_shipped_file(monkeypatch: pytest.MonkeyPatch) -> None:
    import pdmodel.shipped as rep

    monkeypatch.setattr(rep, "_CALIBRATED", "data/missing.json")
    with pytest.raises(cal.CalibrationError, match="no calibrated set is shipped"):
        pm.calibrated_parameters()
    with pytest.raises(cal.CalibrationError, match="no calibrated set is shipped"):
        rep.shipped_fit()
    assert rep.shipped_parameters()[1].startswith("parameter-table defaults")


def test_shipped_set_is_current() -> None:
    """The shipped fit still describes this package: same trial files, fixed values equal to the
    parameter table's, and the objective and each of its terms, recomputed at the shipped
    estimate with the recorded settings, equal to the stored ones.  A change to the model,
    engine, endpoints, parameter table or trial files that moves them fails here: refit with
    the command in docs/calibration.md."""
    from pdmodel.shipped import shipped_fit

    fit = shipped_fit()
    prov = fit.provenance
    table = pm.default_parameters()
    assert {k: fit.params[k] for k in table if k not in fit.free} == {
        k: table[k] for k in table if k not in fit.free
    }  # the parameters the fit did not estimate are the table's current values
    designs = [trials.load(t["id"]) for t in prov["trials"]]
    assert [d.sha256 for d in designs] == [t["sha256"] for t in prov["trials"]]
    obj = cal.Objective(designs, fit.params, fit.free, n_per_arm=prov["n_per_arm"],
                        seed=prov["seed"], width=prov["width"], rtol=prov["rtol"])  # fmt: skip
    terms = obj.terms(fit.params)
    assert [t.label for t in terms] == [t.label for t in fit.terms]
    # bit-identical on the development machine; the tolerance only absorbs last-digit
    # differences of other platforms' maths libraries
    np.testing.assert_allclose([t.value for t in terms], [t.value for t in fit.terms],
                               rtol=1e-7, atol=1e-9)  # fmt: skip
    assert sum(t.value for t in terms) == pytest.approx(fit.objective, rel=1e-8)


def test_shipped_fit_reads_the_shipped_file() -> None:
    """The shipped set loads as a fit with its default free parameters, SEs and correlations."""
    from pdmodel.shipped import shipped_fit, shipped_parameters

    fit = shipped_fit()
    assert fit.params == shipped_parameters()[0] and fit.free == cal.DEFAULT_FREE
    assert all(math.isfinite(fit.stderr[k]) for k in fit.free)
    assert len(fit.correl) == len(fit.free) * (len(fit.free) - 1)
    assert fit.objective == pytest.approx(sum(t.value for t in fit.terms))


def test_load_fit_keeps_correlations(tmp_path: Path) -> None:
    """Both orders of each correlated pair come back from the JSON file."""
    params = pm.default_parameters()
    res = cal.FitResult(
        params, ("k_ab", "gc_ec50"), {"k_ab": 0.1, "gc_ec50": 0.5},
        {"k_ab": (0.3, 0.8), "gc_ec50": (1.0, 9.0)},
        {("k_ab", "gc_ec50"): -0.7, ("gc_ec50", "k_ab"): -0.7}, 3.5, (), True, "ok", 12,
        {"free": ["k_ab", "gc_ec50"], "evaluations": 12},
    )  # fmt: skip
    back = cal.load_fit(pm.save_parameters(params, tmp_path / "f.json", fit=res))
    assert back.correl == res.correl and back.nfev == 12


def test_interval_of_an_undetermined_parameter_is_its_bounded_range() -> None:
    # log-symmetric around the estimate, inside the bounds
    lo, hi = cal._interval95(2.0, 0.2, 0.01, 100.0)
    assert lo == pytest.approx(2.0 / math.exp(1.96 * 0.1), rel=1e-4)
    assert hi == pytest.approx(2.0 * math.exp(1.96 * 0.1), rel=1e-4)
    # a standard error thousands of times the estimate (a fit that could not determine it):
    # the whole bounded range, not an overflow
    assert cal._interval95(0.04, 1e6, 0.001, 10.0) == (0.001, 10.0)
    assert cal._interval95(0.0, 1.0, -5.0, 5.0) == pytest.approx((-1.96, 1.96), rel=1e-4)
    assert all(math.isnan(x) for x in cal._interval95(1.0, math.nan, 0.0, 2.0))


def test_fit_errors(params: pm.ParameterSet, monkeypatch: pytest.MonkeyPatch) -> None:
    t = trials.load("wei2016_prednisone")
    with pytest.raises(cal.CalibrationError, match="unknown parameter `kab`"):
        cal.fit([t], params=params, free=["kab"], n_per_arm=20)
    with pytest.raises(cal.CalibrationError, match="repeated"):
        cal.Objective([t], params, ["k_ab", "k_ab"])
    with pytest.raises(cal.CalibrationError, match="at least one free parameter"):
        cal.Objective([t], params, [])
    with pytest.raises(pm.ParameterError, match="lies outside its bounds"):
        cal.fit([t], params=params.replace(k_ab=50.0), free=["k_ab"], n_per_arm=20)
    with pytest.raises(trials.TrialError, match="unknown trial"):
        cal.fit(["nope"], params=params, free=["k_ab"], n_per_arm=20)
    for bad in (0, 1.5, True):  # was silently turned into 1 start
        with pytest.raises(cal.CalibrationError, match="`starts` must be a whole number >= 1"):
            cal.fit([t], params=params, free=["k_ab"], n_per_arm=20, starts=bad)
    monkeypatch.setattr(cal.objective, "_finding_term", lambda *a: float("nan"))
    with pytest.raises(cal.CalibrationError, match="objective is not finite"):
        cal.Objective([t], params, ["k_ab"], n_per_arm=20)(params)


def test_fit_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pdmodel.cli import main

    assert main(["fit", "--n", "1", "--out", str(tmp_path / "f.json")]) == 2
    assert "`--n` must be a whole number >= 2" in capsys.readouterr().err
    assert main(["fit", "--free", "nope", "--n", "10", "--out", str(tmp_path / "f.json")]) == 2
    assert "unknown parameter `nope`" in capsys.readouterr().err
    assert main(["fit", "--out", str(tmp_path / "f.txt")]) == 2
    assert main(["fit", "--out", str(tmp_path / "no" / "f.json")]) == 2
    for opt in ("--free", "--profile"):  # an empty list ran the default fit without a word
        for empty in ("", " , "):
            assert main(["fit", opt, empty, "--out", str(tmp_path / "f.json")]) == 2
            assert f"{opt} needs at least one parameter name" in capsys.readouterr().err
    # options used after the fit are checked before it
    assert (
        main(["fit", "--free", "k_ab", "--profile", "gc_ec50", "--out", str(tmp_path / "f.json")])
        == 2
    )
    assert "--profile: ['gc_ec50'] are not estimated" in capsys.readouterr().err
    assert main(["fit", "--emcee", "1", "--out", str(tmp_path / "f.json")]) == 2
    assert "--emcee must be a number of steps >= 2" in capsys.readouterr().err
    assert main(["fit", "--free", "k_ab,gc_ec50", "--emcee", "5", "--walkers", "3",
                 "--out", str(tmp_path / "f.json")]) == 2  # fmt: skip
    assert (
        "--walkers must be at least 2 x the 2 free parameters (4), got 3" in capsys.readouterr().err
    )
    assert main(["fit", "--walkers", "8", "--out", str(tmp_path / "f.json")]) == 2
    assert "--walkers applies to posterior sampling" in capsys.readouterr().err
    for bad, why in (("0", "positive"), ("-2", "positive"), ("nan", "a finite number")):
        assert main(["fit", "--prior-scale", bad, "--out", str(tmp_path / "f.json")]) == 2
        assert f"--prior-scale must be {why}" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_fit_cli_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pdmodel.cli import main

    out = tmp_path / "f.json"
    code = main(["fit", "wei2016_prednisone", "--free", "k_ab", "--n", "60", "--max-nfev", "4",
                 "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    assert out.exists() and out.with_suffix(".csv").exists()
    body = json.loads(out.read_text())
    assert body["provenance"]["free"] == ["k_ab"]
    fitted, start = pm.load_parameters(out), pm.default_parameters()
    # only k_ab was estimated: it moved, everything else is the table's
    assert fitted["k_ab"] != start["k_ab"]
    assert fitted.replace(k_ab=start["k_ab"]) == start
    assert np.isfinite(body["fit"]["objective"]) and body["parameters"]["k_ab"]["free"] is True
    csv = pd.read_csv(out.with_suffix(".csv")).set_index("name")
    assert csv["free"].sum() == 1 and csv.loc["k_ab", "value"] == fitted["k_ab"]


def test_fit_cli_emcee(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("emcee")
    from pdmodel.cli import main

    out = tmp_path / "f.json"
    code = main(["fit", "wei2016_prednisone", "--free", "k_ab", "--n", "40", "--max-nfev", "3",
                 "--emcee", "4", "--walkers", "2", "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    chain = out.with_name("f_chain.csv")
    text = capsys.readouterr().out
    assert "emcee: 2 walkers x 4 steps (burn-in 1)" in text and str(chain) in text
    assert "note: the chain is shorter than 50 autocorrelation times" in text
    assert "N/50" not in text  # lmfit's own chain-length chatter is not passed through
    rows = chain.read_text().splitlines()
    assert rows[0] == "k_ab,lnprob" and len(rows) == 1 + 3 * 2


def test_profile_has_its_minimum_near_the_estimate() -> None:
    truth = pm.default_parameters().replace(k_ab=1.2)
    trial = _synthetic_trial(truth, 400)
    res = cal.fit(
        [trial],
        params=truth.replace(k_ab=0.9),
        free=["k_ab"],
        n_per_arm=200,
        seed=2,
        progress=False,
    )
    est = res.params["k_ab"]
    grid = [est * 0.7, est, est / 0.7]
    prof = cal.profile(res, "k_ab", grid, trials=[trial])
    values = [v for _, v in prof]
    assert cal.profile(res, "k_ab", grid, trials=[trial], workers=2) == prof
    assert values[1] == pytest.approx(res.objective, rel=1e-9)
    assert values[1] < values[0] and values[1] < values[2]
    with pytest.raises(cal.CalibrationError, match="was not estimated"):
        cal.profile(res, "gc_ec50", grid, trials=[trial])


def test_predictive_bands_bracket_the_estimate() -> None:
    truth = pm.default_parameters().replace(k_ab=1.2)
    trial = _synthetic_trial(truth, 200)
    res = cal.fit([trial], params=truth, free=["k_ab"], n_per_arm=150, seed=1, progress=False)
    assert np.isfinite(res.stderr["k_ab"])
    bands = cal.predictive_bands(res, trial, n_draws=8, n_per_arm=100, seed=2)
    row = bands[(bands.endpoint == "initial_response") & (bands.arm == "prednisone")].iloc[0]
    assert row["q0.025"] <= row["q0.5"] <= row["q0.975"]
    assert row["q0.975"] > row["q0.025"]  # parameter uncertainty propagates
    with pytest.raises(cal.CalibrationError, match="n_draws"):
        cal.predictive_bands(res, trial, n_draws=1)
    # an undetermined parameter (log-SD far beyond the float range): its draws sit at the
    # bounds, without an overflow (warnings are errors in this suite)
    loose = dataclasses.replace(res, stderr={"k_ab": 1e6 * res.params["k_ab"]})
    wide = cal.predictive_bands(loose, trial, n_draws=4, n_per_arm=50, seed=2)
    assert np.isfinite(wide.filter(like="q0.5").to_numpy(dtype=float)).all()


def test_emcee_sample_is_deterministic_and_respects_the_posterior() -> None:
    pytest.importorskip("emcee")
    truth = pm.default_parameters().replace(k_ab=1.2)
    trial = _synthetic_trial(truth, 200)
    res = cal.fit([trial], params=truth, free=["k_ab"], n_per_arm=60, seed=1, progress=False)
    a = cal.sample(res, steps=10, walkers=4, burn=2, seed=3, trials=[trial], progress=False)
    b = cal.sample(res, steps=10, walkers=4, burn=2, seed=3, trials=[trial], progress=False)
    assert list(a.chain.columns) == ["k_ab", "lnprob"] and len(a.chain) == 8 * 4
    np.testing.assert_array_equal(a.chain.to_numpy(), b.chain.to_numpy())
    spec = truth.table["k_ab"]
    assert a.chain.k_ab.between(spec.lower, spec.upper).all()
    assert a.chain.k_ab.std() > 0  # the walkers move
    # log posterior = -objective / 2: no draw beats the MAP estimate by more than noise
    assert a.chain.lnprob.max() <= -0.5 * res.objective + 0.05
    assert 0 < a.acceptance <= 1
    assert np.isfinite(a.autocorr["k_ab"]) and not a.long_enough  # 8 kept steps are too few
    row = a.summary.iloc[0]
    assert row.parameter == "k_ab" and row["q0.025"] <= row["median"] <= row["q0.975"]
    assert a.provenance["evaluations"] >= 10 * 4
    with pytest.raises(cal.CalibrationError, match="burn"):
        cal.sample(res, steps=4, burn=4, trials=[trial])
    with pytest.raises(cal.CalibrationError, match="walkers"):
        cal.sample(res, steps=4, walkers=1, trials=[trial])
    with pytest.raises(cal.CalibrationError, match="steps"):
        cal.sample(res, steps=1, trials=[trial])


def _count_prefetches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the size of every batch `Objective.prefetch` solves."""
    calls: list[int] = []
    original = cal.Objective.prefetch

    def counting(self: cal.Objective, points: list[np.ndarray]) -> None:
        calls.append(len(points))
        original(self, points)

    monkeypatch.setattr(cal.Objective, "prefetch", counting)
    return calls


def test_emcee_solves_each_half_ensemble_in_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The walkers of each emcee move go to the engine together; the chain is the one a plain
    map gives, to the last digit."""
    pytest.importorskip("emcee")
    import importlib

    mcmc = importlib.import_module("pdmodel.calibration.mcmc")
    truth = pm.default_parameters().replace(k_ab=1.2)
    trial = _synthetic_trial(truth, 200)
    res = cal.fit([trial], params=truth, free=["k_ab", "gc_ec50"], n_per_arm=30, seed=1,
                  max_nfev=4, progress=False)  # fmt: skip
    calls = _count_prefetches(monkeypatch)
    kw = dict(steps=8, walkers=6, burn=2, seed=3, trials=[trial], progress=False)
    batched = cal.sample(res, **kw)  # type: ignore[arg-type]
    assert calls == [6] + [3] * (2 * 8)  # the start, then two half-ensembles a step
    monkeypatch.setattr(mcmc, "_BatchMap", lambda obj: 1)  # lmfit's plain map
    plain = cal.sample(res, **kw)  # type: ignore[arg-type]
    assert len(calls) == 1 + 2 * 8  # no more batches
    np.testing.assert_array_equal(batched.chain.to_numpy(), plain.chain.to_numpy())


def test_parameter_recovery_from_numbers_and_findings() -> None:
    # a two-arm trial (prednisone vs prednisone + rhIL-11) of realistic size whose published
    # numbers AND comparison findings come from known parameters; refit from perturbed starts
    truth = pm.default_parameters().replace(gc_ec50=8.0, prod_healthy=55.0, il11_smax=2.5)
    data = trials.load("wu2016").to_dict()
    data["id"] = "synthetic2"
    for arm in data["arm"]:
        arm["n"] = 150
    sim = trials.simulate_trial(
        trials.Trial.from_dict(data), truth, n_per_arm=3000, seed=99, smooth_width=0.05
    )
    assert sim.smooth is not None
    numbers = []
    for arm in ("control", "observation"):
        s = sim.smooth[arm]
        numbers += [
            {"type": "proportion", "endpoint": e, "arm": arm, "n": 150,
             "k": round(s[e].value * 150), "source": "simulated"}
            for e in ("total_effective_rate", "complete_response")
        ] + [
            {"type": "mean", "endpoint": "recovery_level", "arm": arm, "n": 150,
             "mean": s["recovery_level"].value, "sd": s["recovery_level"].sd, "source": "simulated"}
        ]  # fmt: skip
    findings = [f for f in data["finding"] if f["endpoint"] in ("onset_time", "recovery_level")]
    assert all(r.status == "reproduced" for r in sim.findings if r.finding.endpoint in
               ("onset_time", "recovery_level"))  # fmt: skip
    data["finding"] = numbers + findings
    trial = trials.Trial.from_dict(data)
    names = ["gc_ec50", "prod_healthy", "il11_smax"]
    start = truth.replace(gc_ec50=3.76, prod_healthy=40.0, il11_smax=1.5)
    res = cal.fit([trial], params=start, free=names, n_per_arm=300, seed=5, progress=False)
    for name in names:
        lo, hi = res.ci95[name]
        assert lo <= truth[name] <= hi, (name, res.params[name], (lo, hi))
    assert res.success and all(res.moved().values())


def test_parallel_starts_give_the_same_fit() -> None:
    truth = pm.default_parameters().replace(k_ab=1.2)
    trial = _synthetic_trial(truth, 200)
    kw = dict(n_per_arm=60, seed=4, starts=2, max_nfev=8, progress=False)
    one = cal.fit(
        [trial], params=truth.replace(k_ab=0.8), free=["k_ab", "gc_ec50"], workers=1, **kw
    )
    two = cal.fit(
        [trial], params=truth.replace(k_ab=0.8), free=["k_ab", "gc_ec50"], workers=2, **kw
    )
    assert one.params == two.params and one.objective == two.objective
    assert one.stderr == two.stderr and one.nfev == two.nfev
    assert one.provenance["start_objectives"] == two.provenance["start_objectives"]
    spent = one.provenance["start_evaluations"]
    assert spent == two.provenance["start_evaluations"] and len(spent) == 2
    assert all(k >= 1 for k in spent) and sum(spent) < one.nfev  # + final and curvature
    with pytest.raises(cal.CalibrationError, match="workers"):
        cal.fit([trial], params=truth, free=["k_ab"], workers=0)
    with pytest.raises(cal.CalibrationError, match="callback"):
        cal.fit(
            [trial], params=truth, free=["k_ab"], workers=2, starts=2, callback=lambda i, v: None
        )


def test_objective_shared_over_processes_gives_the_same_value(params: pm.ParameterSet) -> None:
    designs = [trials.load("wu2016"), trials.load("wei2016_prednisone")]
    serial = cal.Objective(designs, params, ["k_ab", "il11_smax"], n_per_arm=60, seed=2)
    with cal.Objective(designs, params, ["k_ab", "il11_smax"], n_per_arm=60, seed=2,
                       workers=2) as shared:  # fmt: skip
        for p in (params, params.replace(k_ab=0.9)):
            assert [t.value for t in shared.terms(p)] == [t.value for t in serial.terms(p)]
        assert shared._pool is not None
    assert shared._pool is None  # closed on leaving the block
    # one start with two workers: the evaluations are shared, the fit is the same
    trial = designs[1]
    kw = dict(n_per_arm=60, seed=4, max_nfev=6, progress=False)
    a = cal.fit([trial], params=params, free=["k_ab"], workers=1, **kw)
    b = cal.fit([trial], params=params, free=["k_ab"], workers=2, **kw)
    assert a.params == b.params and a.objective == b.objective and a.stderr == b.stderr
    with pytest.raises(cal.CalibrationError, match="workers"):
        cal.Objective(designs, params, ["k_ab"], workers=0)


def test_objective_batches_parameter_samples_with_the_same_terms(
    params: pm.ParameterSet,
) -> None:
    """Several parameter sets in one engine call give the terms of one call each, bit for bit,
    and count one evaluation each; sets that enrol other patients or move a PK parameter are
    evaluated one after another, with the same terms."""
    from pdmodel.trials.simulate import _batchable

    designs = [trials.load("wu2016"), trials.load("bussel2001")]
    free = ["k_ab", "il11_smax", "gc_ec50"]
    obj = cal.Objective(designs, params, free, n_per_arm=20, seed=3)
    sets = [params, params.replace(il11_smax=2.0), params.replace(gc_ec50=9.0, k_ab=0.6)]
    assert _batchable(obj.trials, sets, obj.n_per_arm, obj.seed)
    batched = obj.terms_many(sets)
    assert obj.n_evaluations == 3
    one_by_one = [obj.terms(p) for p in sets]
    assert [[t.value for t in ts] for ts in batched] == [[t.value for t in ts] for ts in one_by_one]
    assert batched[0] != batched[1]  # the samples really differ
    with cal.Objective(designs, params, free, n_per_arm=20, seed=3, workers=2) as shared:
        pooled = shared.terms_many(sets)  # the batch's patients shared between two processes
    assert [[t.value for t in ts] for ts in pooled] == [[t.value for t in ts] for ts in batched]
    assert np.array_equal(obj.residuals_many([[0.4, 2.0, 5.0]])[0], obj.residuals([0.4, 2.0, 5.0]))
    # untreated platelets set the entry draw; il11_ka is a PK parameter: not batchable
    for name, value in (("plt_base", 12.0), ("il11_ka", 3.0)):
        other = params.replace(**{name: value})
        assert not _batchable(obj.trials, [params, other], obj.n_per_arm, obj.seed)
        obj2 = cal.Objective(designs, params, [name], n_per_arm=20, seed=3)
        got = obj2.terms_many([params, other])
        assert [[t.value for t in ts] for ts in got] == [
            [t.value for t in obj2.terms(p)] for p in (params, other)
        ]


def test_batched_arms_solve_only_the_parameters_they_read(
    params: pm.ParameterSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An arm without rhIL-11 is solved once for samples that differ only in rhIL-11
    parameters (Model.parameters_read), and every term is still that of one call each."""
    import pdmodel.trials.simulate as sim

    design = trials.load("wu2016")  # a prednisone arm and a prednisone + rhIL-11 arm
    obj = cal.Objective([design], params, ["il11_smax", "th1_k", "k_ab"], n_per_arm=10, seed=2)
    sets = [
        params,
        params.replace(il11_smax=2.0),
        params.replace(th1_k=0.05),
        params.replace(k_ab=0.6),
    ]
    sizes: dict[str, int] = {}
    original = sim.simulate_many

    def recording(jobs, *a, **kw):  # type: ignore[no-untyped-def]
        for pop, reg in jobs:
            sizes[reg.describe()] = len(pop)
        return original(jobs, *a, **kw)

    monkeypatch.setattr(sim, "simulate_many", recording)
    batched = obj.terms_many(sets)
    by_arm = {arm.name: sizes[arm.regimen.describe()] for arm in design.arms}
    assert sorted(by_arm.values()) == [20, 40], by_arm  # control: 2 distinct solves of 10
    monkeypatch.setattr(sim, "simulate_many", original)
    one_by_one = [obj.terms(p) for p in sets]
    assert [[t.value for t in ts] for ts in batched] == [[t.value for t in ts] for ts in one_by_one]
    assert batched[0] != batched[1] and batched[0] != batched[2]  # rhIL-11 arm: they differ


def test_batches_are_split_to_bound_memory(
    params: pm.ParameterSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pdmodel.trials.simulate as sim

    design = trials.load("jin2019")  # two arms
    obj = cal.Objective([design], params, ["il11_smax"], n_per_arm=10, seed=2)
    sets = [params.replace(il11_smax=v) for v in (1.0, 1.5, 2.0, 2.5, 3.0)]
    whole = obj.terms_many(sets)
    calls: list[int] = []
    original = sim.simulate_many

    def counting(jobs, *a, **kw):  # type: ignore[no-untyped-def]
        calls.append(len(jobs[0][0]))
        return original(jobs, *a, **kw)

    monkeypatch.setattr(sim, "simulate_many", counting)
    n_times = np.unique(design.endpoints.required_days()).size  # the objective's output times
    monkeypatch.setattr(sim, "_BATCH_VALUES", 2 * 10 * 2 * n_times)  # two samples per call
    split = obj.terms_many(sets)
    assert calls == [20, 20, 10]  # patients per arm in each call: 2, 2 and 1 samples
    assert [[t.value for t in ts] for ts in split] == [[t.value for t in ts] for ts in whole]


def test_prefetched_residuals_are_served_once(params: pm.ParameterSet) -> None:
    obj = cal.Objective([trials.load("wei2016_prednisone")], params, ["k_ab"], n_per_arm=20)
    obj.prefetch([[0.5], [0.6]])
    assert obj.n_evaluations == 0  # counted when served, as lmfit counts
    r = obj.residuals([0.6])
    assert obj.n_evaluations == 1  # served from the batch
    assert np.array_equal(r, obj.residuals([0.6]))  # computed again: same value
    assert obj.n_evaluations == 2


def test_fit_solves_each_jacobian_in_one_batch(
    params: pm.ParameterSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """least_squares' Jacobian points go to the engine together; the fit is the one the
    point-by-point Jacobian gives, to the last digit."""
    import importlib

    fit_module = importlib.import_module("pdmodel.calibration.fit")  # (`cal.fit` is the function)
    if not fit_module._JACOBIAN_MAP:
        pytest.skip("scipy < 1.16: least_squares takes no map for its Jacobian")
    calls = _count_prefetches(monkeypatch)
    kw = dict(params=params, free=["k_ab", "gc_ec50"], n_per_arm=30, seed=2, max_nfev=8,
              progress=False)  # fmt: skip
    batched = cal.fit(["wei2016_prednisone"], **kw)  # type: ignore[arg-type]
    assert calls and set(calls) == {2}  # one batch of two points per Jacobian
    monkeypatch.setattr(fit_module, "_JACOBIAN_MAP", False)
    n_before = len(calls)
    plain = cal.fit(["wei2016_prednisone"], **kw)  # type: ignore[arg-type]
    assert len(calls) == n_before  # no batch
    assert batched.params == plain.params and batched.objective == plain.objective
    assert batched.nfev == plain.nfev and batched.stderr == plain.stderr


def test_objective_fits_to_a_published_p_value(
    params: pm.ParameterSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finding with its P value is fitted to it (it was read and then ignored)."""
    data = trials.load("wu2016").to_dict()
    i = next(k for k, f in enumerate(data["finding"]) if f["endpoint"] == "ab_positive_after")

    def terms(p: float | None) -> list[cal.Term]:
        d = json.loads(json.dumps(data))
        if p is not None:
            d["finding"][i]["p"] = p
        obj = cal.Objective([trials.Trial.from_dict(d)], params, ["k_ab"], n_per_arm=40, seed=2)
        return obj.terms(params)

    plain, strong, weak = terms(None), terms(1e-4), terms(0.04)
    label = next(k for k, t in enumerate(plain) if t.label.startswith("ab_positive_after"))
    assert strong[label].label.endswith("P = 0.0001")
    assert "; typical P " in strong[label].model and "typical" not in plain[label].model
    # the other terms are untouched; this one is no longer -2 ln P(replicate verdict)
    for k in range(len(plain)):
        if k != label:
            assert strong[k].value == plain[k].value == weak[k].value
    p_rep = plain[label].probability
    assert p_rep is not None and plain[label].value == pytest.approx(-2 * math.log(p_rep))
    assert strong[label].probability == p_rep  # still reported
    assert len({plain[label].value, strong[label].value, weak[label].value}) == 3
    # it is the trial module's P-value term, evaluated on the objective's smooth summaries
    seen: list[float] = []

    def spy(f: trials.Finding, trial: trials.Trial, summaries: object) -> float:
        seen.append(trials.p_value_term(f, trial, summaries))  # type: ignore[arg-type]
        return seen[-1]

    monkeypatch.setattr(cal.objective, "p_value_term", spy)
    assert terms(1e-4)[label].value == seen[-1] == strong[label].value


def test_parameter_recovery_from_published_p_values() -> None:
    """P values simulated from known parameters pull the estimate closer to the truth than
    verdicts alone ("P < 0.05") do, and with a weak prior the truth lies in its interval.  (Until
    2026-12-06 the interval was asserted under the table's prior, which shrinks the estimate
    towards the prior's centre: that held only when the interval came out wide.)"""
    truth = pm.calibrated_parameters().replace(il11_smax=4.5)
    wu = trials.load("wu2016")
    # the 'published' P values: the typical P of each finding under the truth, on other virtual
    # patients than the fit uses
    sim = trials.simulate_trial(wu, truth, n_per_arm=1000, seed=77, smooth_width=0.05,
                                progress=False)  # fmt: skip
    chosen = ("onset_time", "recovery_level", "treatment_course")
    with_p, verdicts = [], []
    for f in wu.findings:
        if f.type == "comparison" and f.endpoint in chosen:
            d = f.to_dict()
            verdicts.append(d)
            with_p.append({k: v for k, v in d.items() if k != "significant"}
                          | {"p": trials._typical_p(f, wu, sim.smooth)})  # fmt: skip
    assert len(with_p) == 3 and all(g["p"] < 0.001 for g in with_p)
    start = truth.replace(il11_smax=1.5)  # the prior's centre
    fits = {}
    for scale in (1.0, 10.0):
        for name, findings in (("p", with_p), ("verdict", verdicts)):
            t = trials.Trial.from_dict({**wu.to_dict(), "finding": findings})
            fits[name, scale] = cal.fit(
                [t], params=start, free=["il11_smax"], n_per_arm=300, seed=5, progress=False,
                prior_scale=scale,
            )  # fmt: skip
        err = {name: abs(fits[name, scale].params["il11_smax"] - 4.5) for name in ("p", "verdict")}
        assert err["p"] < err["verdict"], scale
    # with the table's prior the estimate is shrunk towards the prior's centre (three findings;
    # about 3.2 here), so the truth need not lie in its interval; with the prior's SDs x 10 it
    # does (the estimate about 3.9-4.4 over seeds and calibrated sets, 2026-12-06)
    lo, hi = fits["p", 10.0].ci95["il11_smax"]
    assert lo <= 4.5 <= hi
    assert fits["p", 1.0].params["il11_smax"] > 2.5  # well away from the prior centre 1.5


def test_fit_and_objective_refuse_wrong_kinds_of_argument(params: pm.ParameterSet) -> None:
    t = trials.load("wei2016_prednisone")
    with pytest.raises(cal.CalibrationError, match="unknown fit method 'foo'; use one of"):
        cal.fit(
            [t], params=params, free=["k_ab"], n_per_arm=10, method="foo"
        )  # was run as another method
    with pytest.raises(cal.CalibrationError, match=r"`free` must be parameter names, got 1\.5"):
        cal.fit([t], params=params, free=1.5, n_per_arm=10)  # type: ignore[arg-type]
    with pytest.raises(cal.CalibrationError, match="`trials` must be trial names, files or Trial"):
        cal.fit(1.5, params=params, free=["k_ab"], n_per_arm=10)  # type: ignore[arg-type]
    with pytest.raises(cal.CalibrationError, match="`max_nfev` must be a whole number >= 1"):
        cal.fit([t], params=params, free=["k_ab"], n_per_arm=10, max_nfev=0)
    for kw, match in (
        ({"n_per_arm": 1.5}, "`n_per_arm` must be a whole number >= 1"),  # was truncated to 1
        ({"seed": -1}, "`seed` must be a whole number >= 0"),
        ({"width": 0.0}, r"`width` must be positive"),
        ({"rtol": "x"}, r"`rtol` must be a finite number"),
    ):
        with pytest.raises(cal.CalibrationError, match=match):
            cal.Objective([t], params, ["k_ab"], **kw)  # type: ignore[arg-type]
    with pytest.raises(pm.ParameterError, match="`base` must be a pdmodel ParameterSet"):
        cal.Objective([t], 0, ["k_ab"])  # type: ignore[arg-type]
    with pytest.raises(trials.TrialError, match="`trials` must hold pdmodel Trial objects"):
        cal.Objective(["wei2016_prednisone"], params, ["k_ab"])  # type: ignore[list-item]
    # one name is one free parameter; one trial name is one trial
    obj = cal.Objective([t], params, "k_ab", n_per_arm=10)  # type: ignore[arg-type]
    assert obj.free == ("k_ab",)
    res = cal.fit("wei2016_prednisone", params=params, free="k_ab", n_per_arm=10, max_nfev=1,
                  uncertainty=False, progress=False)  # type: ignore[arg-type]  # fmt: skip
    assert res.free == ("k_ab",) and res.provenance["trials"][0]["id"] == "wei2016_prednisone"


def test_flags_and_the_joint_check_against_exact_values() -> None:
    """The joint check by enumeration: P(a verdict pattern no more likely than the published)."""
    from pdmodel.calibration.consistency import flag

    assert [flag(p) for p in (0.9, 0.5, 0.49, 0.1, 0.09)] == [
        "consistent", "consistent", "tension", "tension", "inconsistent",
    ]  # fmt: skip
    cases = {
        (0.7,): 1.0,  # both outcomes are no more likely than 0.7
        (0.3,): 0.3,  # only the published one
        (0.9, 0.2): 0.18 + 0.02 + 0.08,  # all patterns but (yes, no), of likelihood 0.72
    }
    for probs, exact in cases.items():
        got = cal.joint_probability(np.array([probs]), 200_000, seed=1)
        assert abs(got - exact) < 0.005, (probs, got, exact)
    # over draws it is the mean of the per-draw values
    two = cal.joint_probability(np.array([[0.3], [0.7]]), 200_000, seed=2)
    assert abs(two - 0.65) < 0.005


def test_below_half_against_enumeration() -> None:
    """The count of verdicts rated below 0.5, published and in the model's own replicates,
    against brute-force enumeration of every verdict pattern."""
    import itertools

    rng = np.random.default_rng(3)
    cases = [np.array([[0.7, 0.3]]), np.array([[0.3], [0.7]]), rng.uniform(size=(3, 4))]
    for probs in cases:
        low = probs.mean(axis=0) < 0.5
        pmf = np.zeros(probs.shape[1] + 1)
        for row in probs:
            for x in itertools.product((True, False), repeat=row.size):  # True: as published
                lik = np.prod(np.where(x, row, 1 - row))
                pmf[int(np.sum(np.array(x) == low))] += lik / probs.shape[0]
        got = cal.below_half(probs)
        assert got.published == low.sum()
        assert got.expected == pytest.approx(np.dot(np.arange(pmf.size), pmf))
        assert got.p_at_least == pytest.approx(pmf[got.published :].sum())
        assert got.p_none == pytest.approx(pmf[0])
    # by hand: one draw (0.7, 0.3): the second is below half; each replicate verdict is the
    # less likely one with probability 0.3, so P(none) = 0.49, P(>= 1) = 0.51
    one = cal.below_half(np.array([[0.7, 0.3]]))
    assert one.published == 1 and one.expected == pytest.approx(0.6)
    assert one.p_at_least == pytest.approx(0.51) and one.p_none == pytest.approx(0.49)


def test_consistency_carries_parameter_uncertainty() -> None:
    from pdmodel.shipped import shipped_fit

    rep = cal.consistency(shipped_fit(), "wu2016", n_draws=4, n_per_arm=40, patterns=500)
    assert len(rep.findings) == 10 and 0.0 <= rep.joint <= 1.0
    for f in rep.findings:
        assert 0.0 <= f.low <= f.mean <= f.high <= 1.0
    assert "joint check" in rep.format() and "findings below 0.5" in rep.format()
    assert rep.below_half.published == sum(f.mean < 0.5 for f in rep.findings)
    assert 0.0 <= rep.below_half.p_none <= 1.0 and 0.0 <= rep.below_half.p_at_least <= 1.0
    with pytest.raises(pm.CalibrationError, match="n_draws"):
        cal.consistency(shipped_fit(), "wu2016", n_draws=1, n_per_arm=40)


def test_compare_fitted_variants() -> None:
    """Two variants fitted to the same trial, compared by -2 log L, an AIC-like size penalty
    and the -2 log L of a held-out trial they never saw."""
    base = pm.default_model()
    no_kill = base.with_expression("e_kill", "0.0 * e_hi").replace(name="itp_no_gc_kill")
    kw = dict(n_per_arm=20, seed=1, max_nfev=2, progress=False, uncertainty=False)
    fits = {
        "v2": cal.fit(["wei2016_prednisone"], params=base.default_parameters(),
                      free=["k_ab", "gc_kill"], **kw),
        "no glucocorticoid kill": cal.fit(["wei2016_prednisone"],
                                          params=no_kill.default_parameters(), free=["k_ab"], **kw),
    }  # fmt: skip
    table = cal.compare(fits, validation=["yu2020_dexamethasone"], n_per_arm=20)
    assert set(table["variant"]) == set(fits) and list(table["aic"]) == sorted(table["aic"])
    for _, row in table.iterrows():
        fit = fits[row["variant"]]
        assert row["k"] == len(fit.free)
        assert row["aic"] == pytest.approx(row["neg2logL"] + 2 * row["k"])
        assert row["neg2logL"] <= fit.objective + 1e-12  # the priors come on top
        assert np.isfinite(row["validation_neg2logL"]) and row["validation_neg2logL"] >= 0
    assert set(table["model"]) == {"itp_v2", "itp_no_gc_kill"}
    with pytest.raises(pm.CalibrationError, match="must be a FitResult"):
        cal.compare({"x": 1})  # type: ignore[dict-item]
