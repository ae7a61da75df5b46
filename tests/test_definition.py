"""The declarative model definition: validation, generated code and docs, model variants."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest

import pdmodel as pm
from pdmodel.model import Assignment, Constant, Observable, State
from pdmodel.model.docs import BEGIN, END
from pdmodel.model.expressions import parse
from pdmodel.model.kernel import source

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_docs_equations_are_current() -> None:
    """docs/model.md's equations are printed from the definition; regenerate on change."""
    text = (DOCS / "model.md").read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    assert pm.default_model().markdown().rstrip("\n") in text, (
        "docs/model.md is out of date: run `python docs/make_model_equations.py`"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a +", "cannot parse"),
        ("a.b", "Attribute is not allowed"),
        ("foo(a)", "unknown function `foo`"),
        ("exp(a, b)", "this call of `exp`"),
        ("a if b else c", "a condition that is not a comparison"),
        ("'x'", "the constant 'x'"),
        ("True * a", "the constant True"),
        ("a < b < c", "chained"),
        ("a % b", "the operator Mod"),
        ("", "non-empty string"),
    ],
)
def test_bad_expressions_are_refused(text: str, message: str) -> None:
    with pytest.raises(pm.ModelError, match=message):
        parse(text, "rate of `x`")


def test_zero_substitution_is_the_skipped_arithmetic() -> None:
    """With a drug absent, its effect's terms are dropped exactly as the kernel skips them."""
    cases = {
        "(e * s + 1.0) * k": "k",
        "e * (-m * g) + m - x * m": "m - x * m",
        "(t / b * r - d - c * r - e * g) * c": "(t / b * r - d - c * r) * c",
        "(1.0 - h) * k - e * h * p": "(1.0 - h) * k",
        "0.0 - e": "0.0",
        "k / (1.0 + e * 0.0)": "k",  # e * 0 -> 0, 1 + 0 -> 1, k / 1 -> k
        "exp(e) * k": "exp(0.0) * k",  # a function of zero is left to the target
    }
    for text, expect in cases.items():
        got = parse(text, "t").with_zero(frozenset({"e"}))
        assert got.to_python(str) == parse(expect, "t").to_python(str), text


def _definition_error(model: pm.Model, match: str, **change) -> None:
    with pytest.raises(pm.ModelError, match=match):
        model.replace(**change)


def test_definition_errors_name_the_culprit() -> None:
    m = pm.default_model()
    with pytest.raises(pm.ModelError, match=r"rate of `plt` reads `nope`"):
        m.with_expression("plt", "nope * plt")
    with pytest.raises(pm.ModelError, match=r"assignment `e_11`: gate `plt` must be a drug input"):
        m.replace(
            assignments=tuple(
                Assignment(a.name, a.expr, a.unit, gate="plt") if a.name == "e_11" else a
                for a in m.assignments
            )
        )
    with pytest.raises(pm.ModelError, match="`plt` is defined twice"):
        m.add(Assignment("plt", "1.0", "1"))
    with pytest.raises(pm.ModelError, match="has the name of a parameter of the table"):
        m.add(Constant("k_ab_x", "k_ab", "1/day"), Constant("mac_k", "1.0", "1/day"))
    with pytest.raises(pm.ModelError, match="unknown unit 'furlongs'"):
        m.add(Observable("x_obs", "plt", "furlongs"))
    with pytest.raises(pm.ModelError, match="unknown drug `rituximab`"):
        m.add(drugs=["rituximab"])
    with pytest.raises(pm.ModelError, match="no component or drug named"):
        m.remove("nothing")
    with pytest.raises(pm.ModelError, match="reads `e_gc`"):
        m.remove("e_gc")  # the rates still read it
    with pytest.raises(pm.ModelError, match="observable `mac` has the name of another"):
        m.add(Observable("mac", "plt", "10^9/L"))


def test_generated_kernel_skips_absent_drugs() -> None:
    """Every gated expression gets a branch without the effect (no drug, no arithmetic)."""
    text = source(pm.model.model_v1())
    assert "if v_c_gc != 0.0:" in text and "if v_conc_il11 != 0.0:" in text
    assert "out[5] = (v_mac_k - (v_mac * v_mac_k))" in text  # the drug-free macrophage rate
    # version 2's glucocorticoid effects read the effect site, which outlasts the drug: only
    # the rhIL-11 effect is gated
    text = source(pm.default_model())
    assert "if v_conc_il11 != 0.0:" in text and "if v_c_gc != 0.0:" not in text


_COURSES = {
    "none": pm.Regimen(),
    "prednisone": pm.regimens.prednisone(1.0, days=14, taper_days=7),
    "dexamethasone": pm.regimens.dexamethasone(40.0, days=4),
    "il11": pm.regimens.il11(50.0, days=10),
    "prednisone+il11": pm.regimens.prednisone(1.0, days=14) + pm.regimens.il11(50.0, days=10),
}


def _moved(spec: pm.ParameterSpec, value: float) -> float:
    """Another value of a parameter within its bounds."""
    for new in (value * 1.3, value * 0.7, value + 1.0, (spec.lower + spec.upper) / 2):
        if new != value and spec.lower <= new <= spec.upper:
            return new
    raise AssertionError(spec.name)


@pytest.mark.parametrize("model", [pm.default_model(), pm.model.model_v1()], ids=lambda m: m.name)
@pytest.mark.parametrize("regimen", list(_COURSES), ids=str)
def test_parameters_not_read_leave_the_course_bit_identical(model: pm.Model, regimen: str) -> None:
    """Model.parameters_read(drugs) is a proof: a parameter outside it can take another value
    and every observable of a patient given only those drugs stays bit-identical.  The
    parameters it keeps for this reason only (th1_k: rhIL-11 moves th1 off its baseline) do
    change the course, so the comparison can fail."""
    reg = _COURSES[regimen]
    params = model.default_parameters()
    drugs = {c.drug for c in reg.courses}
    read = model.parameters_read(drugs)
    assert read <= set(params) and read >= model.parameters_read(())
    pop = pm.Population.sample(12, params, seed=5)
    obs = list(model.observable_labels)
    base = pm.simulate(pop, reg, 30.0, observables=obs)
    table = params.table
    for name in sorted(set(params) - read):
        other = params.replace(**{name: _moved(table[name], params[name])})
        res = pm.simulate(pop.with_params(other), reg, 30.0, observables=obs)
        for o in obs:
            assert np.array_equal(res[o], base[o]), (name, o)
    if model.name == "itp_v2":
        assert ("th1_k" in read) == ("il11" in drugs)
        assert ("il11_smax" in read) == ("il11" in drugs)
        if "il11" in drugs:
            other = params.replace(th1_k=_moved(table["th1_k"], params["th1_k"]))
            res = pm.simulate(pop.with_params(other), reg, 30.0, observables=obs)
            assert not np.array_equal(res["platelets"], base["platelets"])


def test_parameters_read_refuses_an_unknown_drug() -> None:
    with pytest.raises(pm.ModelError, match=r"no drug.*aspirin"):
        pm.default_model().parameters_read(["aspirin"])


def _variant() -> pm.Model:
    """A test-only variant: a new state `x` driven by glucocorticoid, feeding back on platelet
    clearance, with two new parameters (one edit of the definition plus table rows)."""
    base = pm.default_model()
    rows = [
        pm.ParameterSpec("x_k", 0.3, "1/day", 0.01, 10.0, "assumed", "test state turnover",
                         "test only", prior_sd=0.5),
        pm.ParameterSpec("x_gain", 0.8, "1", 0.0, 5.0, "assumed", "test state gain",
                         "test only", prior_sd=0.5),
    ]  # fmt: skip
    plt_rate = base.states[base.state_names.index("plt")].rate
    return (
        base.add(
            *rows,
            State("x", "1", "(e_gc - x) * x_k", "0.0", "test state"),
            Observable("x_level", "x", "1", description="test observable"),
        )
        .with_expression("plt", f"{plt_rate} + x_gain * x * plt_ksen * plt")
        .replace(name="itp_test_variant")
    )


def test_variant_runs_in_the_engine_and_agrees_with_its_reference() -> None:
    variant = _variant()
    params = variant.default_parameters()
    assert params.model is variant and "x_k" in params
    pop = pm.Population.sample(3, params, seed=3)
    reg = pm.regimens.prednisone(days=10) + pm.regimens.il11(ug_per_kg=50, days=5)
    ours = pm.simulate(pop, reg, 30, rtol=1e-10, atol=1e-12)
    # the reference 100 times tighter than the comparison below (Radau with finite-difference
    # Jacobians on the numpy right-hand side: 1e-10 took 2.4x as long per patient)
    ref = pm.simulate(pop, reg, 30, rtol=1e-8, atol=1e-10, method="Radau")
    for name in ("platelets", "x_level", "cd4cd25_pct"):
        np.testing.assert_allclose(ours[name], ref[name], rtol=1e-6, atol=1e-9)
    assert ours["x_level"].max() > 0.1  # the new state moves
    base = pm.simulate(pm.Population.sample(3, pm.default_parameters(), seed=3), reg, 30)
    assert np.all(ours["platelets"][15] > base["platelets"][15])  # and acts on platelets
    # kernel and reference right-hand sides agree on random states and inputs
    ind = pop.individuals()
    rng = np.random.default_rng(1)
    y = variant.baseline(ind) * rng.uniform(0.5, 1.5, (len(variant.states), ind.n)) + 0.1
    c = rng.uniform(0.0, 100.0, (3, ind.n))
    np.testing.assert_allclose(
        variant.rhs(0.0, y, c, ind), variant.reference_rhs(0.0, y, c, ind), rtol=1e-13
    )


def test_variant_runs_through_trials_and_pickles() -> None:
    variant = _variant()
    params = variant.default_parameters().replace(x_gain=1.5)
    again = pickle.loads(pickle.dumps(params))
    assert again == params and again.model == variant
    trial = pm.trials.load("wei2016_prednisone")
    res = pm.simulate_trial(trial, params, n_per_arm=20, seed=1)
    assert res.simulations and np.isfinite(res.table()["value"]).all()
    # and through calibration: an objective with the variant's own parameter free
    obj = pm.calibration.Objective([trial], params, ["x_gain", "k_ab"], n_per_arm=20, seed=1)
    low, high = obj(params.replace(x_gain=0.1)), obj(params.replace(x_gain=3.0))
    assert np.isfinite(low) and np.isfinite(high) and low != high


def test_variant_exports_to_sbml_and_agrees_with_roadrunner() -> None:
    pytest.importorskip("libsbml")
    roadrunner = pytest.importorskip("roadrunner")
    from pdmodel import sbml

    params = _variant().default_parameters()
    reg = pm.regimens.prednisone(days=10)
    pop = pm.Population.sample(1, params, seed=2)
    text = sbml.to_sbml(params, reg, pop)
    assert sbml.validate_sbml(text, units=True) == []
    times = np.arange(0.5, 20.0, 1.0)
    ours = pm.simulate(pop, reg, 20, times=times, rtol=1e-11, atol=1e-13)
    rr = roadrunner.RoadRunner(text)
    rr.integrator.relative_tolerance = 1e-11
    rr.integrator.absolute_tolerance = 1e-14
    rr.timeCourseSelections = ["time", "platelets", "x"]
    out = rr.simulate(0.0, 19.5, 40)
    idx = np.searchsorted(out[:, 0], times)
    np.testing.assert_allclose(out[idx, 1], ours["platelets"][:, 0], rtol=1e-5)
    np.testing.assert_allclose(out[idx, 2], ours["x_level"][:, 0], rtol=1e-5, atol=1e-9)


def test_variant_without_a_mechanism() -> None:
    """Dropping rhIL-11 from the model: its drug input, effect and terms go, in one edit each;
    a regimen that gives it is then refused with a message naming the model."""
    base = pm.default_model()
    no_il11 = (
        base.with_expression(
            "influx", "kin * exp(fb_gamma * log(plt_base / plt)) * (mk_imp + 1.0) * mk_free"
        )
        .with_expression("th1", "(1.0 - th1) * th1_k")
        .remove("il11", "e_11", "conc_il11")
        .replace(name="itp_no_il11")
    )
    assert no_il11.inputs == ("conc_prednisolone", "conc_dexamethasone")
    params = no_il11.default_parameters()
    pop = pm.Population.sample(5, params, seed=4)
    reg = pm.regimens.prednisone(days=14)
    ours = pm.simulate(pop, reg, 20)
    full = pm.simulate(pm.Population.sample(5, pm.default_parameters(), seed=4), reg, 20)
    # th1 of the variant reads no drug: the engine solves it in closed form (exact_states),
    # so the two solves agree to the integration tolerance rather than bit for bit
    assert no_il11.exact_states == ("ce", "th1") and base.exact_states == ("ce",)
    np.testing.assert_allclose(ours["platelets"], full["platelets"], rtol=1e-5)
    with pytest.raises(pm.RegimenError, match="model `itp_no_il11` does not take"):
        pm.simulate(pop, reg + pm.regimens.il11(ug_per_kg=50, days=3), 10)
    assert base.default_parameters() == pm.default_parameters()


def test_an_iv_only_drug_follows_its_exact_pk() -> None:
    """A drug given IV only (no absorption rate) is one exponential: C = F dose / V e^(-k t)."""
    pm.register_drug(
        pm.DrugSpec(
            name="test_iv", analyte="test", concentration="conc_test_iv", amount_unit="mg",
            routes={"iv": "1.0"}, k="il11_k", v_per_kg="il11_v",
        )
    )  # fmt: skip
    model = pm.default_model().add(
        Observable("conc_test_iv", "conc_test_iv", "ng/mL"), drugs=["test_iv"]
    )
    params = model.default_parameters()
    pop = pm.Population.patient(params, weight=70.0)
    times = np.array([0.5, 1.0, 2.0])
    reg = pm.Regimen() + pm.Course("test_iv", 10.0, "mg", route="iv")
    res = pm.simulate(pop, reg, 2.0, times=times)
    k, v = params["il11_k"], params["il11_v"] * 70.0
    np.testing.assert_allclose(res["conc_test_iv"][:, 0], 1e4 / v * np.exp(-k * times), rtol=1e-12)
    with pytest.raises(pm.RegimenError, match="cannot be given by route `oral`"):
        pm.Course("test_iv", 10.0, "mg", route="oral")
    with pytest.raises(pm.ModelError, match="an extravascular route needs an absorption rate"):
        pm.DrugSpec(name="bad", analyte="x", concentration="c_bad", amount_unit="mg",
                    routes={"oral": "1.0"}, k="il11_k", v_per_kg="il11_v")  # fmt: skip


def test_a_copied_drug_leaves_the_original_alone() -> None:
    """``dataclasses.replace`` of a drug parses the copy's expressions into the copy: the
    parsed-expression cache is not a constructor argument the copy would share."""
    import dataclasses

    il11 = pm.drugs.get_drug("il11")
    params = pm.default_parameters()
    before = il11.pk(params).k
    faster = dataclasses.replace(il11, name="il11_fast", k="2.0 * il11_k")
    assert faster.pk(params).k == pytest.approx(2.0 * before, rel=1e-15)
    assert il11.pk(params).k == before


def test_a_variant_with_its_own_drug_runs_in_a_fresh_worker_process() -> None:
    """Pickled to a spawned process (as dask and spawn pools do), the model brings the specs
    of its drugs, which that process's drug table does not have."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pm.register_drug(
        pm.DrugSpec(
            name="test_spawned", analyte="test", concentration="conc_test_spawned",
            amount_unit="mg", routes={"iv": "1.0"}, k="il11_k", v_per_kg="il11_v",
        )
    )  # fmt: skip
    model = pm.default_model().add(
        Observable("conc_test_spawned", "conc_test_spawned", "ng/mL"), drugs=["test_spawned"]
    )
    pop = pm.Population.sample(4, model.default_parameters(), seed=1)
    reg = pm.Regimen() + pm.Course("test_spawned", 10.0, "mg", route="iv")
    here = pm.simulate(pop, reg, 3.0, observables=["platelets", "conc_test_spawned"])
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as ex:
        there = pm.simulate(pop, reg, 3.0, observables=["platelets", "conc_test_spawned"],
                            executor=ex, chunk_size=2)  # fmt: skip
    for name in ("platelets", "conc_test_spawned"):
        np.testing.assert_array_equal(here[name], there[name])


@pytest.mark.parametrize(
    ("text", "degree"),
    [
        ("(c - s) * k", 1),
        ("k * 2.0 - s / v + exp(k) * c", 1),
        ("k ** 2 + exp(v)", 0),
        ("s * c", None),
        ("k / s", None),
        ("s ** 2.0", None),
        ("exp(s)", None),
        ("k if s > 1.0 else 0.0", None),
        ("lin - s", 1),
        ("nonlin - s", None),
    ],
)
def test_expression_degree(text: str, degree: int | None) -> None:
    """The affine-ness analysis behind `Model.exact_states`, assignments resolved."""
    from pdmodel.model.expressions import parse

    subs = {"lin": parse("2.0 * c + k", "lin"), "nonlin": parse("c / (c + k)", "nonlin")}
    assert parse(text, "t").degree(frozenset({"s", "c"}), subs.get) == degree


def test_exact_states_of_the_models() -> None:
    """The effect compartment is detected as solvable in closed form; states that read other
    states or a nonlinear drug effect are not."""
    assert pm.default_model().exact_states == ("ce",)
    from pdmodel.model.definition import model_v1

    assert model_v1().exact_states == ()


def test_powers_to_a_parameter_square_when_the_value_is_two() -> None:
    """`x ** p` with a parameter `p` prints as the kernel's `_pow`, which squares for p = 2
    and is pow otherwise; a numeric exponent is printed as written."""
    from pdmodel.model.expressions import parse

    assert parse("x ** p", "t").to_python(str) == "_pow(x, p)"
    assert parse("x ** 2.0", "t").to_python(str) == "_pow(x, 2.0)"  # (folded when compiled)
    assert parse("x ** p", "t").to_python(str, "numpy") == "(x ** p)"
    kern = pm.default_model().kernel
    assert kern._pow(3.0, 2.0) == 9.0 and kern._pow(3.0, 1.0) == 3.0
    assert kern._pow(2.0, 0.5) == pytest.approx(2.0**0.5, rel=1e-15)
    assert np.isnan(kern._pow(-2.0, 0.5))  # numpy's error model, as before


def test_kernel_elementary_functions_match_the_c_library() -> None:
    """The kernel's own exp, log, pow and hypot (vectorisable: no C-library call) agree with
    numpy to about an ulp over the ranges the model meets, and on zero, infinity, NaN,
    subnormals and negative arguments."""
    kern = pm.default_model().kernel
    rng = np.random.default_rng(7)
    xs = np.concatenate([rng.uniform(-700.0, 700.0, 2000), rng.uniform(-1.0, 1.0, 2000)])
    got = np.array([kern._exp(x) for x in xs])
    np.testing.assert_allclose(got, np.exp(xs), rtol=4.5e-16, atol=0.0)
    pos = np.exp(rng.uniform(-700.0, 700.0, 2000))
    pos = np.concatenate([pos, 1.0 + rng.uniform(-1e-3, 1e-3, 500), [1e-310, 5e-324]])
    got = np.array([kern._log(x) for x in pos])
    np.testing.assert_allclose(got, np.log(pos), rtol=4.5e-16, atol=2.3e-16)
    base = np.exp(rng.uniform(-7.0, 7.0, 500))
    power = rng.uniform(-4.0, 4.0, 500)
    got = np.array([kern._pow(b, q) for b, q in zip(base, power, strict=True)])
    np.testing.assert_allclose(got, base**power, rtol=1e-14)
    inf, nan = math.inf, math.nan
    for x, want in [(inf, inf), (-inf, 0.0), (710.0, inf), (-746.0, 0.0), (0.0, 1.0)]:
        assert kern._exp(x) == want, x
    assert math.isnan(kern._exp(nan)) and kern._exp(-745.0) == np.exp(-745.0) > 0.0
    for x, want in [(0.0, -inf), (inf, inf), (1.0, 0.0)]:
        assert kern._log(x) == want, x
    assert math.isnan(kern._log(-1.0)) and math.isnan(kern._log(nan))
    assert kern._pow(-3.0, 3.0) == pytest.approx(-27.0, rel=1e-15)
    assert kern._pow(-3.0, 2.0) == 9.0 and kern._pow(nan, 0.0) == 1.0
    assert math.isnan(kern._pow(-8.0, 1.0 / 3.0))
    assert kern._pow(0.0, 2.5) == 0.0 and kern._pow(0.0, -1.0) == inf
    assert kern._hypot(3.0, 4.0) == 5.0 and kern._hypot(0.0, 0.0) == 0.0
    assert kern._hypot(inf, nan) == inf and math.isnan(kern._hypot(nan, 1.0))
    assert kern._hypot(1e300, 1e300) == pytest.approx(math.hypot(1e300, 1e300), rel=1e-15)


@pytest.mark.parametrize("hill", [2.0, 3.0], ids=["cheap-side", "general"])
def test_lane_right_hand_side_is_the_one_patient_one(hill: float) -> None:
    """rhs_lanes (the integrator's, LANES patients side by side) gives, in every lane, the
    derivatives rhs_point gives for that patient (to rounding: the compiler may fuse
    multiply-adds differently in vector code), with drugs present and absent, in its loop for
    lanes whose choices on parameters take the cheap side (Hill exponent 2) and in its general
    loop (one lane with exponent 3).  The two loops agree bit for bit, so a patient's course
    does not depend on the other patients of its lane group."""
    model = pm.default_model()
    kern = model.kernel
    lanes = kern.LANES
    params = pm.default_parameters()
    ind = pm.Population.sample(lanes, params, seed=11).individuals()
    packed = ind.packed.copy()
    hill_row = model.kernel_parameters.index("gc_hill_hi")
    packed[hill_row, 0] = hill
    rng = np.random.default_rng(3)
    y = model.baseline(ind) * rng.uniform(0.5, 2.0, (len(model.states), lanes))
    c = rng.uniform(0.0, 300.0, (len(model.inputs), lanes))
    c[:, ::3] = 0.0  # no drug in every third lane
    c[2, 1::3] = 0.0  # no rhIL-11 in others
    want = np.empty_like(y)
    kern.rhs_many(y, c, packed, want)
    w = np.zeros(kern._NW)
    w[kern._P : kern._P + packed.size] = packed.ravel()
    w[kern._YS : kern._YS + y.size] = y.ravel()
    w[kern._C : kern._C + c.size] = c.ravel()
    uniform = kern.lanes_uniform(w)
    assert uniform == (hill == 2.0)
    w[kern._UNI] = float(uniform)
    kern.rhs_lanes(w)
    got = w[kern._O : kern._O + y.size].reshape(y.shape).copy()
    scale = np.abs(want).max(axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0.0)
    assert np.all(np.abs(got - want) <= 1e-15 * scale)
    w[kern._UNI] = 0.0  # the general loop for the same lanes
    kern.rhs_lanes(w)
    np.testing.assert_array_equal(w[kern._O : kern._O + y.size].reshape(y.shape), got)


def test_uniform_choices_and_their_conditions() -> None:
    """A branch or power on parameters alone takes its cheap side, with the condition for it;
    a branch on a state is left alone."""
    fixed = frozenset({"p", "q"})
    expr, conds = parse(
        "(x ** p) * (a if q == 1.0 else b ** q) + (c if x > 0 else d)", "t"
    ).uniform(fixed)
    assert expr.text == "x * x * a + (c if x > 0 else d)"
    assert [c.text for c in conds] == ["p == 2.0", "q == 1.0"]


def test_unrolled_template_loops() -> None:
    """Loops marked ``# unroll`` are written out, nested ones too, with the variable a
    literal; the generated kernel keeps none."""
    from pdmodel.model.kernel import _unroll

    text = (
        "def f(w):\n"
        "    for ln in range(LANES):\n"
        "        for s in range(N):  # unroll\n"
        "            for q in range(M):  # unroll\n"
        "                w[s * 10 + q + ln] = s\n"
        "        w[ln] = 0\n"
    )
    out = _unroll(text, {"N": 2, "M": 2})
    assert out == (
        "def f(w):\n"
        "    for ln in range(LANES):\n"
        "        w[0 * 10 + 0 + ln] = 0\n"
        "        w[0 * 10 + 1 + ln] = 0\n"
        "        w[1 * 10 + 0 + ln] = 1\n"
        "        w[1 * 10 + 1 + ln] = 1\n"
        "        w[ln] = 0\n"
    )
    assert "# unroll" not in source(pm.default_model())


def test_observables_read_only_what_they_need() -> None:
    """At output times the engine evaluates only the assignments and drug concentrations the
    requested observables read; each observable is the same asked alone or with all others."""
    model = pm.default_model()
    assert model.drugs_read(("platelets", "production")) == frozenset()
    assert model.drugs_read(("conc_gc_equiv",)) == {"prednisone", "dexamethasone"}
    assert model.drugs_read(("platelets", "conc_il11")) == {"il11"}
    params = pm.default_parameters()
    pop = pm.Population.sample(20, params, seed=4)
    reg = pm.regimens.prednisone(1.0, days=10) + pm.regimens.il11(
        50.0, days=7, stop_if_platelets_above=60
    )
    names = list(model.observable_labels)
    every = pm.simulate(pop, reg, 14, observables=names)
    for name in ("platelets", "conc_gc_equiv", "conc_il11", "lifespan", "ab_positive"):
        alone = pm.simulate(pop, reg, 14, observables=[name])
        np.testing.assert_array_equal(alone[name], every[name])
