"""Trial files, enrolment and the simulated trial."""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as st

import pdmodel as pm
from pdmodel import stats, trials
from pdmodel.trials import TrialError

WU = resources.files("pdmodel").joinpath("data/trials/wu2016.toml").read_text("utf-8")


def test_shipped_trials_load_and_round_trip() -> None:
    assert set(trials.available()) >= {"wu2016", "wei2016_prednisone"}
    for name in trials.available():
        t = trials.load(name)
        assert t.sha256 and t.origin.endswith(f"{name}.toml")
        again = trials.Trial.from_dict(t.to_dict())
        assert again == t


def test_wu2016_lists_every_published_finding() -> None:
    t = trials.load("wu2016")
    endpoints = [f.endpoint for f in t.findings]
    for e in (
        "total_effective_rate", "effective_degree", "onset_time", "recovery_level",
        "ab_positive_after", "treatment_course", "recurrence_rate", "complications",
        "cd4cd25_change",
    ):  # fmt: skip
        assert e in endpoints
    assert [a.n for a in t.arms] == [40, 40]
    assert all(f.source for f in t.findings)
    assert len(t.assumptions) >= 5


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            'endpoint = "onset_time"',
            'endpoint = "onset"',
            r"finding\[2\].endpoint`: unknown endpoint `onset`",
        ),
        ('name = "control"\nn = 40\n', 'name = "control"\n', r"`arm\[0\].n`: missing"),
        (
            'arms = ["observation", "control"]\ndirection = "less"\ntest = "t"',
            'arms = ["observation", "placebo"]\ndirection = "less"\ntest = "t"',
            r"finding\[2\].arms`: unknown arm 'placebo'",
        ),
        (
            "ug_per_kg = 50.0",
            "ug_per_kg = 50.0\nweeks = 2",
            r"arm\[1\].regimen\[1\].weeks`: unknown argument of `il11`",
        ),
        (
            "ug_per_kg = 50.0",
            "ug_per_kg = -50.0",
            r"arm\[1\].regimen\[1\]`: il11 dose `amount` must be positive",
        ),
        (
            'builder = "il11"',
            'builder = "aspirin"',
            r"regimen\[1\].builder`: unknown builder `aspirin`",
        ),
        (
            'test = "chi2"',
            'test = "t"',
            r"finding\[0\].test`: test `t` does not suit a proportion endpoint",
        ),
        ("followup = 180", "followup = 180\ncolour = 1", r"`endpoints.colour`: unknown key"),
        ('grading = "cn3"', 'grading = "who"', r"`endpoints`: unknown grading `who`"),
        ("plt_max = 30.0", "plt_max = -1.0", r"`entry.plt_max`: must be a positive number"),
        ('direction = "greater"', 'direction = "up"', r"direction`: use one of"),
    ],
)
def test_malformed_trial_files(tmp_path: Path, old: str, new: str, match: str) -> None:
    assert old in WU
    path = _write(tmp_path, WU.replace(old, new, 1))
    with pytest.raises(TrialError, match=match) as info:
        trials.load(path)
    assert str(path) in str(info.value)


PROPORTION = """
id = "x"
title = "x"
citation = "x"
[entry]
plt_max = 30.0
[endpoints]
grading = "iwg2009"
effective_grades = ["CR", "R"]
[[arm]]
name = "a"
n = 10
[[arm.regimen]]
builder = "prednisone"
days = 7
[[finding]]
type = "proportion"
endpoint = "initial_response"
arm = "a"
{extra}
source = "test"
"""


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ("rate = 1.5\nn = 10", r"finding\[0\].rate`: a rate lies in \[0, 1\], got 1.5"),
        ("rate = 0.5", r"finding\[0\].n`: missing"),
        ("k = 11\nn = 10", r"finding\[0\].k`: must lie in \[0, n = 10\]"),
        ("n = 10", r"a proportion needs `k` or `rate`"),
        ('rate = "high"\nn = 10', r"`finding\[0\].rate`: expected Real"),
        ("k = 5\nrate = 0.5\nn = 10", r"finding\[0\].rate`: give `k` or `rate`, not both"),
        # a key of another finding type would be silently ignored: refused
        ("k = 5\nn = 10\np = 0.03", r"finding\[0\].p`: does not apply to a `proportion` find"),
        ("k = 5\nn = 10\nsd = 2.0", r"finding\[0\].sd`: does not apply to a `proportion`"),
    ],
)
def test_malformed_proportions(tmp_path: Path, extra: str, match: str) -> None:
    with pytest.raises(TrialError, match=match):
        trials.load(_write(tmp_path, PROPORTION.format(extra=extra)))


def test_unknown_trial_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(TrialError, match="unknown trial `wu2017`"):
        trials.load("wu2017")
    with pytest.raises(TrialError, match="cannot read trial file"):
        trials.load(tmp_path / "absent.toml")
    with pytest.raises(TrialError, match="malformed TOML"):
        trials.load(_write(tmp_path, "id = "))


def test_enrolment_meets_entry_and_is_smooth(params: pm.ParameterSet) -> None:
    t = trials.load("wu2016")
    pop = trials.enrol(t, params, 500, seed=3)
    base = pop.covariates()["plt_base"]
    assert base.max() < t.plt_max and base.min() > 0
    again = trials.enrol(t, params, 500, seed=3)
    np.testing.assert_array_equal(again.covariates()["plt_base"], base)
    # common random numbers: a small parameter step moves every patient a little
    moved = trials.enrol(t, params.replace(plt_base=15.001), 500, seed=3).covariates()["plt_base"]
    assert 0 < np.max(np.abs(moved - base)) < 0.01
    with pytest.raises(TrialError, match="no virtual patient can meet the entry criterion"):
        trials.enrol(t, params.replace(plt_base=150.0, omega_plt_base=0.01), 10, seed=1)


def test_enrolment_is_randomised_quasi_monte_carlo(params: pm.ParameterSet) -> None:
    t = trials.load("wu2016")
    n, seeds = 300, range(30)
    pops = [trials.enrol(t, params, n, seed=s) for s in seeds]
    z = np.array([[p.z[k] for k in p.z] for p in pops])  # (seeds, effects, patients)
    # every effect's marginal is standard normal; different effects are uncorrelated
    pooled = z.transpose(1, 0, 2).reshape(z.shape[1], -1)
    for k, row in zip(pops[0].z, pooled, strict=True):
        if k != "plt_base":  # (truncated at entry)
            assert st.kstest(row, "norm").pvalue > 1e-3, k
    corr = np.corrcoef(pooled)
    assert np.max(np.abs(corr - np.eye(len(corr)))) < 0.03
    # different seeds give different patients, the same seed the same ones
    assert not np.array_equal(z[0], z[1])
    np.testing.assert_array_equal(trials.enrol(t, params, n, seed=0).z["k_ab"], z[0, 2])
    # arm-level averages vary across seeds far less than with independent draws
    lognormal_sd = np.sqrt((np.e - 1) * np.e)  # SD of exp(Z)
    free = [i for i, k in enumerate(pops[0].z) if k != "plt_base"]
    spread = np.std(np.exp(z[:, free]).mean(axis=2), axis=0, ddof=1)
    iid = lognormal_sd / np.sqrt(n)
    assert np.all(spread < 0.5 * iid), spread / iid


def test_simulate_trial_small(params: pm.ParameterSet) -> None:
    t = trials.load("wu2016")
    res = trials.simulate_trial(t, params, n_per_arm=60, seed=2)
    table = res.table()
    assert set(table.arm) == {"control", "observation"}
    assert len(table) == 2 * len(res.summaries["control"])
    findings = res.findings_table()
    assert len(findings) == len(t.findings)  # none silently dropped
    assert set(findings.status) <= {"reproduced", "not reproduced", "not modelled"}
    assert findings.loc[findings.endpoint == "complications", "status"].item() == "not modelled"
    probs = findings.probability.dropna()
    assert ((probs >= 0) & (probs <= 1)).all()
    # the replicate interval of a proportion contains the model value
    row = table[(table.endpoint == "initial_response") & (table.arm == "control")].iloc[0]
    assert row.replicate_low <= row.value <= row.replicate_high


@pytest.mark.parametrize("name", ["wu2016", "wei2016_prednisone"])
def test_smooth_endpoints_agree_with_hard_as_width_shrinks(
    params: pm.ParameterSet, name: str
) -> None:
    t = trials.load(name)
    tiny = trials.simulate_trial(t, params, n_per_arm=150, seed=1, smooth_width=1e-8)
    wide = trials.simulate_trial(t, params, n_per_arm=150, seed=1, smooth_width=0.05)
    assert tiny.smooth is not None and wide.smooth is not None
    for arm, hard in tiny.summaries.items():
        for key, h in hard.items():
            s = tiny.smooth[arm][key]
            assert s.value == pytest.approx(h.value, abs=1e-9), (arm, key)
            assert s.n == h.n, (arm, key)
            if h.kind == "ordinal":
                np.testing.assert_allclose(s.distribution, h.distribution, atol=1e-9)
            # the documented width changes rates by little
            if h.kind == "proportion":
                assert abs(wide.smooth[arm][key].value - h.value) < 0.05, (arm, key)


def test_smooth_endpoints_are_continuous(params: pm.ParameterSet) -> None:
    t = trials.load("wei2016_prednisone")
    a = trials.simulate_trial(t, params, n_per_arm=200, seed=4, smooth_width=0.05)
    b = trials.simulate_trial(
        t, params.replace(k_ab=params["k_ab"] * 1.0001), n_per_arm=200, seed=4, smooth_width=0.05
    )
    assert a.smooth is not None and b.smooth is not None
    for key in ("initial_response", "complete_response", "sustained_response", "onset_time"):
        x, y = a.smooth["prednisone"][key].value, b.smooth["prednisone"][key].value
        assert x != y and abs(x - y) < 2e-3 * max(abs(x), 1e-3), key


def test_simulate_trials_batches_and_records_only_needed_days(params: pm.ParameterSet) -> None:
    designs = [trials.load("wu2016"), trials.load("wei2016_prednisone")]
    daily = [
        trials.simulate_trial(t, params, n_per_arm=80, seed=3, smooth_width=0.05) for t in designs
    ]
    sparse = trials.simulate_trials(designs, params, 80, 3, smooth_width=0.05, daily=False)
    for t, a, b in zip(designs, daily, sparse, strict=True):
        assert b.trial is t
        need = t.endpoints.required_days()
        assert {0.0, t.endpoints.recovery_day, t.endpoints.after_day} <= set(need)
        for arm in t.arms:
            assert set(b.simulations[arm.name].times) >= set(need)
            assert b.simulations[arm.name].times.size < a.simulations[arm.name].times.size
        assert a.smooth is not None and b.smooth is not None
        # other segment boundaries change the steps, not the endpoints (beyond the tolerance)
        for arm, summ in a.smooth.items():
            for key, s in summ.items():
                assert b.smooth[arm][key].value == pytest.approx(s.value, rel=1e-4, abs=1e-5), (
                    arm,
                    key,
                )


def test_a_trial_does_not_depend_on_the_trials_simulated_with_it(
    params: pm.ParameterSet,
) -> None:
    """Every arm ends at its own trial's follow-up: a 7-day trial gives the same numbers, bit
    for bit, alone or solved together with a 180-day one (it used to run to the longest
    follow-up, which moved its values at the solver tolerance)."""
    short, long = trials.load("hddxm_treg2007"), trials.load("wu2016")
    alone = trials.simulate_trials([short], params, 40, 2, smooth_width=0.05, daily=False)[0]
    both = trials.simulate_trials([long, short], params, 40, 2, smooth_width=0.05, daily=False)
    (arm,) = alone.simulations
    a, b = alone.simulations[arm], both[1].simulations[arm]
    assert a.times[-1] == b.times[-1] == short.endpoints.followup
    for name in a.observables:
        np.testing.assert_array_equal(a[name], b[name])
    assert [f.probability for f in alone.findings] == [f.probability for f in both[1].findings]


def test_smooth_only_scoring_matches_the_full_scoring(params: pm.ParameterSet) -> None:
    """The calibration objective's path (hard=False) computes the same smooth summaries and
    skips the hard endpoints and findings it does not read."""
    from pdmodel.trials.simulate import _simulate_samples

    designs = [trials.load("wu2016")]
    args = (designs, [params], 30, 2, 0.05, False, None)
    (full,), (smooth,) = _simulate_samples(*args), _simulate_samples(*args, hard=False)
    assert full[0].smooth is not None and smooth[0].smooth is not None
    assert smooth[0].smooth == full[0].smooth
    assert smooth[0].findings == () and smooth[0].summaries == {} and full[0].findings
    with pytest.raises(TrialError, match="smooth_width"):
        _simulate_samples(designs, [params], 30, 2, None, False, None, hard=False)


def test_simulate_trials_needs_a_trial(params: pm.ParameterSet) -> None:
    with pytest.raises(TrialError, match="at least one trial"):
        trials.simulate_trials([], params)


def test_replicate_probability_is_continuous_in_the_responder_fraction() -> None:
    # recurrence is read on responders: the replicate trial's responder counts are binomial,
    # so its probability moves smoothly as the model's responder fraction crosses a half-patient
    # (40 x 0.6125 = 24.5); a replicate size rounded to whole patients steps there
    from pdmodel.endpoints import ArmSummary

    wu = trials.load("wu2016")
    finding = next(f for f in wu.findings if f.endpoint == "recurrence_rate")
    a, b = finding.arms

    def probability(fraction: float) -> float:
        arm = {"total_effective_rate": ArmSummary("proportion", 0.9, 0.3, 1000)}
        summaries = {
            a: {**arm, "recurrence_rate": ArmSummary("proportion", 0.21, 0.4, 950)},
            b: {**arm, "recurrence_rate": ArmSummary("proportion", 0.49, 0.5, 1000 * fraction)},
        }
        prob = trials.evaluate_finding(finding, wu, summaries).probability
        assert prob is not None
        return prob

    lo, hi = probability(0.6125 - 1e-6), probability(0.6125 + 1e-6)
    assert 0.5 < lo < hi < lo + 1e-4
    sizes, weights = trials.replicate_sizes(40, 0.6125)
    assert sizes.min() >= 2 and sizes.max() == 40
    assert weights.sum() == pytest.approx(1.0, abs=1e-7)
    assert np.sum(sizes * weights) == pytest.approx(24.5, abs=1e-6)
    np.testing.assert_array_equal(trials.replicate_sizes(40, 1.0)[0], [40])
    assert trials.replicate_sizes(40, 0.0)[0].size == 0
    for n, fraction in ((0, 0.5), (2.5, 0.5), (True, 0.5), (40, -0.1), (40, 1.5), (40, math.nan)):
        with pytest.raises(TrialError, match=r"replicate arm size|fraction of the arm"):
            trials.replicate_sizes(n, fraction)  # type: ignore[arg-type]


def test_published_p_values_are_read_checked_and_kept() -> None:
    data = trials.load("wu2016").to_dict()
    i = next(k for k, f in enumerate(data["finding"]) if f["endpoint"] == "ab_positive_after")
    data["finding"][i]["p"] = 0.032
    t = trials.Trial.from_dict(data)
    f = t.findings[i]
    assert f.p == 0.032 and f.significant is True
    assert f.describe() == "ab_positive_after: observation < control, P = 0.032"
    assert trials.Trial.from_dict(t.to_dict()).findings[i] == f  # round trip
    # `significant` may be left out: it follows from the P value and alpha
    del data["finding"][i]["significant"]
    data["finding"][i]["p"] = 0.2
    assert trials.Trial.from_dict(data).findings[i].significant is False
    cases = [
        ({"p": 0.2, "significant": True}, r"significant`: is True but P = 0.2 is not below"),
        ({"p": 0.01, "significant": False}, r"significant`: is False but P = 0.01 is below"),
        ({"p": 0.0}, r"finding\[4\].p`: a P value lies in \(0, 1\], got 0.0"),
        ({"p": 1.5}, r"a P value lies in \(0, 1\]"),
        ({"p": "0.03"}, r"finding\[4\].p`: expected Real"),
        ({"alpha": "0.05", "significant": True}, r"finding\[4\].alpha`: expected Real"),
        ({"n": 40, "significant": True}, r"finding\[4\].n`: does not apply to a `comparison`"),
    ]
    for extra, match in cases:
        bad = trials.load("wu2016").to_dict()
        bad["finding"][i].pop("significant")
        bad["finding"][i].update(extra)
        with pytest.raises(TrialError, match=match):
            trials.Trial.from_dict(bad)
    for extra, match in (
        ({"low": "a"}, r"finding\[0\].low`: expected Real"),
        ({"low": 5.0, "high": 8.0}, r"finding\[0\].median`: must lie within \[low, high\]"),
    ):
        med = trials.load("wei2016_prednisone").to_dict()
        med["finding"][0] = {"type": "median", "endpoint": "onset_time", "arm": "prednisone",
                             "n": 97, "median": 10.0, "source": "test", **extra}  # fmt: skip
        with pytest.raises(TrialError, match=match):
            trials.Trial.from_dict(med)


def test_p_value_term_against_an_independent_calculation() -> None:
    from pdmodel.endpoints import ArmSummary

    data = trials.load("wu2016").to_dict()
    i = next(k for k, f in enumerate(data["finding"]) if f["endpoint"] == "ab_positive_after")
    data["finding"][i]["p"] = 0.032
    j = next(k for k, f in enumerate(data["finding"]) if f["type"] == "change")
    data["finding"][j]["p"] = 0.004
    t = trials.Trial.from_dict(data)
    f, change = t.findings[i], t.findings[j]
    summaries = {
        "observation": {"ab_positive_after": ArmSummary("proportion", 0.12, 0.32, 1000)},
        "control": {
            "ab_positive_after": ArmSummary("proportion", 0.32, 0.47, 1000),
            "cd4cd25_change": ArmSummary("continuous", -5.3, 3.8, 1000),
        },
    }
    # the replicate trial's mean z statistic by brute force over its 41 x 41 outcomes, with
    # scipy's chi-square test (observation vs control: negative when observation is lower)
    pmf_o, pmf_c = st.binom.pmf(np.arange(41), 40, 0.12), st.binom.pmf(np.arange(41), 40, 0.32)
    mu = 0.0
    for a in range(41):
        for b in range(41):
            table = [[a, 40 - a], [b, 40 - b]]
            if min(a + b, 80 - a - b) == 0:
                continue  # both arms alike: z = 0
            pv = st.chi2_contingency(table, correction=False).pvalue
            mu += pmf_o[a] * pmf_c[b] * np.sign(a - b) * st.norm.isf(pv / 2)
    z_pub = -st.norm.isf(0.032 / 2)  # published: lower with rhIL-11
    assert trials.p_value_term(f, t, summaries) == pytest.approx((z_pub - mu) ** 2, rel=1e-9)
    # the same model, a published P value further from its expectation: a larger term
    weaker = trials.Trial.from_dict({**data, "finding": [
        {**g, "p": 0.2, "significant": False} if k == i else g
        for k, g in enumerate(data["finding"])]})  # fmt: skip
    assert trials.p_value_term(weaker.findings[i], weaker, summaries) > (z_pub - mu) ** 2
    # a within-arm change: the paired t statistic's z equivalent, 39 degrees of freedom
    t_exp = -5.3 / (3.8 / np.sqrt(40))
    z_exp = -st.norm.isf(st.t.sf(-t_exp, 39))
    z_pub = -st.norm.isf(0.004 / 2)
    assert trials.p_value_term(change, t, summaries) == pytest.approx((z_pub - z_exp) ** 2)
    # the report shows the model's typical P value (that at the mean z statistic)
    r = trials.evaluate_finding(f, t, summaries)
    assert r.typical_p == pytest.approx(2 * st.norm.sf(abs(mu)), rel=1e-9)
    assert trials.evaluate_finding(f, t, summaries, typical_p=False).typical_p is None
    r = trials.evaluate_finding(change, t, summaries)
    assert r.typical_p == pytest.approx(2 * st.t.sf(-t_exp, 39), rel=1e-9)
    with pytest.raises(TrialError, match="only comparisons and changes with `p`"):
        trials.p_value_term(trials.load("wu2016").findings[i], t, summaries)


def test_p_value_term_averages_over_the_replicate_responders() -> None:
    from pdmodel.endpoints import ArmSummary

    data = trials.load("wu2016").to_dict()
    i = next(k for k, f in enumerate(data["finding"]) if f["endpoint"] == "onset_time")
    data["finding"][i]["p"] = 0.012
    t = trials.Trial.from_dict(data)
    f = t.findings[i]

    def summaries(fraction: float) -> dict[str, dict[str, ArmSummary]]:
        arm = {"total_effective_rate": ArmSummary("proportion", 0.9, 0.3, 1000)}
        return {
            "observation": {**arm, "onset_time": ArmSummary("continuous", 4.4, 2.9, 970)},
            "control": {**arm, "onset_time": ArmSummary("continuous", 9.6, 12.0, 1000 * fraction)},
        }

    z = -st.norm.isf(0.012 / 2)
    # responders in the replicate: Binomial(40, fraction) per arm, a mixture over both arms' sizes
    for fraction in (1.0, 0.6):
        size_a = trials.replicate_sizes(40, 0.97)
        size_b = trials.replicate_sizes(40, fraction)
        mu, w = stats.expected_z_means(4.4, 2.9, size_a, 9.6, 12.0, size_b, "t")
        assert len(mu) == len(size_a[0]) * len(size_b[0]) > 1
        mix = np.sum(w * st.norm.pdf(z - mu)) / st.norm.pdf(0)
        got = trials.p_value_term(f, t, summaries(fraction))
        assert got == pytest.approx(-2 * np.log(mix), rel=1e-10)
    assert trials.p_value_term(f, t, summaries(0.6)) != trials.p_value_term(f, t, summaries(1.0))


@pytest.mark.parametrize("name", ["wu2016", "wei2016_prednisone"])
def test_any_malformed_value_is_a_trial_error(name: str, mutations) -> None:
    """Every key of a shipped trial, removed or given a value of the wrong kind, gives a
    TrialError (naming the key), never a bare TypeError or ValueError."""
    bad_values = ("delete", "x", True, [1, 2], 1.5, math.nan, {"a": 1})
    n_tried = n_errors = 0
    for _path, _bad, d in mutations(trials.load(name).to_dict(), bad_values):
        n_tried += 1
        try:
            trials.Trial.from_dict(d)
        except TrialError:
            n_errors += 1
    assert n_tried > 300 and n_errors > n_tried / 2  # most are refused; some are valid (a note)


def test_simulate_trial_refuses_wrong_kinds_of_argument(params: pm.ParameterSet) -> None:
    with pytest.raises(TrialError, match="`trial` must be a pdmodel Trial"):
        trials.simulate_trial("wu2016", params, n_per_arm=5)  # type: ignore[arg-type]
    with pytest.raises(TrialError, match="`trials` must be a list of pdmodel Trial objects"):
        trials.simulate_trials(1.5, params)  # type: ignore[arg-type]
    with pytest.raises(TrialError, match="`trials` must hold pdmodel Trial objects"):
        trials.simulate_trials([trials.load("wu2016"), "x"], params)  # type: ignore[list-item]
    with pytest.raises(pm.ParameterError, match="`params` must be a pdmodel ParameterSet"):
        trials.simulate_trial(trials.load("wu2016"), {"k_ab": 1.0}, n_per_arm=5)  # type: ignore[arg-type]
    for bad in ("300", -1, 2.5):
        with pytest.raises(TrialError, match="`n_per_arm` must be a whole number >= 1"):
            trials.simulate_trials([trials.load("wu2016")], params, n_per_arm=bad)  # type: ignore[arg-type]
