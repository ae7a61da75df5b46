"""Population engine: accuracy against reference solves, invariances, rules, errors."""

from __future__ import annotations

import concurrent.futures as cf

import numpy as np
import pytest

import pdmodel as pm
from pdmodel.regimens import Course, Regimen, Rule, dexamethasone, il11, prednisone

COMPARED = (
    "platelets",
    "antibody",
    "paigg",
    "cd4cd25_pct",
    "treg_pct",
    "teff_pct",
    "macrophage",
    "clone",
)

REGIMENS = {
    "prednisone": prednisone(days=28, taper_days=28),
    "prednisone+il11 stop": prednisone(days=28, taper_days=28)
    + il11(ug_per_kg=50, days=14, stop_if_platelets_above=100),
    "dexamethasone oral pulses+rescue": dexamethasone(
        mg=40, days=4, cycles=2, cycle_every=14, rescue_if_platelets_below=30
    ),
    "dexamethasone iv + late il11": dexamethasone(mg=40, days=4, route="iv")
    + il11(ug=3000, days=10, start=7),
}


def _max_rel_err(res: pm.SimulationResult, ref: pm.SimulationResult) -> float:
    worst = 0.0
    for name in COMPARED:
        a, b = res[name], ref[name]
        # relative error with an absolute floor of 1e-8 x the series' own scale
        floor = 1e-8 * np.max(np.abs(b), axis=0, keepdims=True)
        worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor))))
    return worst


def test_matches_radau_reference(params: pm.ParameterSet) -> None:
    pop = pm.Population.sample(2, params, seed=3)
    reg = REGIMENS["prednisone+il11 stop"]
    # a reference 1e4 times tighter than the bound tested (1e-10 gives the same error, 3.4x
    # slower: the error measured is the engine's)
    ref = pm.simulate(pop, reg, 30, method="Radau", rtol=1e-8, atol=1e-10)
    res = pm.simulate(pop, reg, 30)
    assert _max_rel_err(res, ref) < 1e-4


@pytest.mark.parametrize("name", list(REGIMENS))
def test_matches_tight_reference_over_regimens(params: pm.ParameterSet, name: str) -> None:
    pop = pm.Population.sample(3, params, seed=21)
    reg = REGIMENS[name]
    ref = pm.simulate(pop, reg, 45, method="DOP853", rtol=1e-12, atol=1e-14)
    res = pm.simulate(pop, reg, 45)
    err = _max_rel_err(res, ref)
    assert err < 1e-4
    # the accuracy is a contract, not a coincidence: a loose tolerance is visibly worse
    loose = pm.simulate(pop, reg, 45, rtol=1e-3, atol=1e-6)
    assert _max_rel_err(loose, ref) > 10 * err


def test_vectorised_equals_single_patient_runs(params: pm.ParameterSet, pred_il11) -> None:
    pop = pm.Population.sample(6, params, seed=4)
    res = pm.simulate(pop, pred_il11, 60)
    for i in range(len(pop)):
        one = pm.simulate(pop[i : i + 1], pred_il11, 60)
        for name in res.observables:
            np.testing.assert_allclose(one[name][:, 0], res[name][:, i], rtol=1e-12, atol=0)
        for a, b in zip(one.courses, res.courses, strict=True):
            np.testing.assert_array_equal(a.given[:, 0], b.given[:, i])


def _assert_same(a: pm.SimulationResult, b: pm.SimulationResult) -> None:
    np.testing.assert_array_equal(a.patient_ids, b.patient_ids)
    for name in a.observables:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=0)
    for ca, cb in zip(a.courses, b.courses, strict=True):
        np.testing.assert_array_equal(ca.given, cb.given)


def test_chunking_invariance(params: pm.ParameterSet, pred_il11) -> None:
    pop = pm.Population.sample(13, params, seed=9)
    whole = pm.simulate(pop, pred_il11, 30)
    for size in (1, 4, 13):
        _assert_same(whole, pm.simulate(pop, pred_il11, 30, chunk_size=size))


def test_process_pool_invariance(params: pm.ParameterSet, pred_il11) -> None:
    pop = pm.Population.sample(10, params, seed=9)
    whole = pm.simulate(pop, pred_il11, 40)
    with cf.ProcessPoolExecutor(max_workers=2) as ex:
        _assert_same(whole, pm.simulate(pop, pred_il11, 40, chunk_size=3, executor=ex))
    with cf.ThreadPoolExecutor(max_workers=2) as ex:
        _assert_same(whole, pm.simulate(pop, pred_il11, 40, chunk_size=4, executor=ex))


def test_pools_and_threads_together(
    params: pm.ParameterSet, pred_il11, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's thread pool whose chunks each run on the engine's own threads gives the same
    results; pdmodel's own process pools run one engine thread per process."""
    from pdmodel import solver

    pop = pm.Population.sample(10, params, seed=9)
    whole = pm.simulate(pop, pred_il11, 40)
    monkeypatch.setattr(solver, "_MIN_PER_THREAD", 1)
    monkeypatch.setattr(solver, "_threads", 3)
    with cf.ThreadPoolExecutor(max_workers=3) as ex:
        _assert_same(whole, pm.simulate(pop, pred_il11, 40, chunk_size=4, executor=ex))
    with solver.process_pool(2) as ex:
        assert ex.submit(pm.get_threads).result() == 1
        _assert_same(whole, pm.simulate(pop, pred_il11, 40, chunk_size=5, executor=ex))


def test_dask_local_cluster_invariance(params: pm.ParameterSet, pred_il11) -> None:
    distributed = pytest.importorskip("distributed")
    pop = pm.Population.sample(8, params, seed=9)
    whole = pm.simulate(pop, pred_il11, 40)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        res = pm.simulate(pop, pred_il11, 40, chunk_size=3, executor=client.get_executor())
    _assert_same(whole, res)


REGIMEN_SWEEP = [
    *REGIMENS.values(),
    il11(ug_per_kg=75, days=21),
    prednisone(mg=80.0, days=7) + dexamethasone(mg=40, days=4, start=10, route="iv"),
]


def _extreme_sets(params: pm.ParameterSet):
    for name, spec in params.table.items():
        if not spec.fixed:
            yield params.replace(**{name: spec.lower})
            yield params.replace(**{name: spec.upper})


@pytest.mark.parametrize("reg_index", range(len(REGIMEN_SWEEP)))
def test_finite_and_non_negative_at_parameter_bounds(
    params: pm.ParameterSet, reg_index: int
) -> None:
    reg = REGIMEN_SWEEP[reg_index]
    base = pm.Population.sample(6, params, seed=17)
    for p in _extreme_sets(params):
        res = pm.simulate(base.with_params(p), reg, 40, times=np.arange(0, 41, 4.0), rtol=1e-5)
        for name, x in res.observables.items():
            assert np.all(np.isfinite(x)), name
            assert np.all(x >= 0), name


def test_prednisone_raises_platelets_and_il11_adds(
    params: pm.ParameterSet, pred_only, pred_il11
) -> None:
    pop = pm.Population.sample(300, params, seed=5)
    gc = pm.simulate(pop, pred_only, 28, observables=["platelets"])["platelets"]
    both = pm.simulate(pop, pred_il11, 28, observables=["platelets"])["platelets"]
    med_gc, med_both = np.median(gc, axis=1), np.median(both, axis=1)
    assert med_gc[14] > 1.5 * med_gc[0]  # prednisone raises median platelets within 2 weeks
    assert med_both[7] > med_gc[7] and med_both[14] > med_gc[14]  # higher with IL-11

    def first_day_above(x: np.ndarray, level: float) -> np.ndarray:
        above = x >= level
        return np.where(above.any(axis=0), above.argmax(axis=0), np.inf)

    # sooner: median time to 50 x 10^9/L is shorter with IL-11
    assert np.median(first_day_above(both, 50.0)) < np.median(first_day_above(gc, 50.0))


def test_stop_rule_fires_per_patient(params: pm.ParameterSet, pred_il11) -> None:
    pop = pm.Population.sample(40, params, seed=5)
    res = pm.simulate(pop, pred_il11, 30)
    rec = next(c for c in res.courses if c.drug == "il11")
    plt = res["platelets"]  # pre-dose at dose days
    days = rec.times.astype(int)
    crossed = np.maximum.accumulate(plt[days] >= 100.0, axis=0)
    np.testing.assert_array_equal(rec.given, ~crossed)
    n_given = rec.given.sum(axis=0)
    assert (n_given < 14).any() and (n_given == 14).any()  # some stopped, some did not
    np.testing.assert_array_equal(res.treatment_days("il11"), n_given)


def test_give_if_rescue_pulse(params: pm.ParameterSet) -> None:
    reg = dexamethasone(mg=40, days=4, rescue_if_platelets_below=30, rescue_day=10)
    pop = pm.Population.sample(60, params, seed=6)
    res = pm.simulate(pop, reg, 20)
    rescue = res.courses[-1]
    low = res["platelets"][10] < 30
    assert low.any() and (~low).any()
    np.testing.assert_array_equal(rescue.given, np.repeat(low[None, :], 4, axis=0))
    np.testing.assert_array_equal(res.treatment_days(), 4 + 4 * low)


def test_doses_after_end_are_not_given(params: pm.ParameterSet) -> None:
    res = pm.simulate(pm.Population.patient(params), prednisone(days=10), 5)
    assert res.courses[0].given[:, 0].tolist() == [True] * 6 + [False] * 4


def test_result_tables(params: pm.ParameterSet, pred_il11) -> None:
    pop = pm.Population.sample(3, params, seed=1)
    res = pm.simulate(pop, pred_il11, 10, observables=["platelets", "conc_il11"])
    df = res.to_frame()
    assert list(df.columns) == ["patient", "time", "platelets", "conc_il11"]
    assert len(df) == 3 * 11
    row = df[(df.patient == 2) & (df.time == 5.0)]
    assert row.platelets.item() == res["platelets"][5, 2]
    doses = res.doses_frame()
    assert len(doses) == 3 * sum(c.n_doses for c in pred_il11)
    assert set(doses.columns) == {"patient", "course", "drug", "route", "time", "amount", "given"}
    with pytest.raises(pm.OptionError, match="observable `treg_pct` was not recorded"):
        res["treg_pct"]


def test_single_patient_and_custom_times(params: pm.ParameterSet) -> None:
    times = [0, 0.05, 0.1, 0.5, 1.5, 2]
    res = pm.simulate(pm.Population.patient(params), il11(days=3), 2, times=times)
    c = res["conc_il11"][:, 0]
    # pre-dose at dose times (days 0 and 1), analytic superposition elsewhere
    pk = pm.pk.drug_pk(params)["il11"]
    w = params["weight"]
    expected = pm.pk.concentration(pk, times, [0.0, 1.0, 2.0], [50.0 * w] * 3, "sc", w)[:, 0]
    expected[0] = 0.0
    expected[-1] = pm.pk.concentration(pk, [2.0 - 1e-12], [0.0, 1.0], [50.0 * w] * 2, "sc", w)[0, 0]
    np.testing.assert_allclose(c, expected, rtol=1e-9)


@pytest.mark.parametrize("threads", [2, 3, 5])
def test_threads_change_nothing(
    params: pm.ParameterSet, pred_il11, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    """Integrating blocks of the patients on threads gives bit-identical results, courses,
    step and evaluation counts, and the same errors, as one thread."""
    from pdmodel import solver

    pop = pm.Population.sample(13, params, seed=8)
    monkeypatch.setattr(solver, "_MIN_PER_THREAD", 1)  # thread even a handful of patients
    monkeypatch.setattr(solver, "_MIN_PER_BLOCK", 1)  # and share them out in blocks of ~1
    monkeypatch.setattr(solver, "_threads", None)  # the setting is restored after the test
    pm.set_threads(1)
    one = pm.simulate(pop, pred_il11, 40)
    with pytest.raises(pm.SolverError) as err_one:
        pm.simulate(pop, pred_il11, 40, max_steps=14)
    assert pm.set_threads(threads) == threads
    many = pm.simulate(pop, pred_il11, 40)
    with pytest.raises(pm.SolverError) as err_many:
        pm.simulate(pop, pred_il11, 40, max_steps=14)
    for name in one.observables:
        np.testing.assert_array_equal(one[name], many[name])
    for a, b in zip(one.courses, many.courses, strict=True):
        np.testing.assert_array_equal(a.given, b.given)
    for field in ("n_steps", "n_rejected", "n_rhs"):
        np.testing.assert_array_equal(
            getattr(one.diagnostics, field), getattr(many.diagnostics, field)
        )
    # a step limit hit by some patients (others finish the segment) names the same patients
    assert str(err_one.value) == str(err_many.value)
    assert "step limit (14) reached in the segment starting at day 0" in str(err_one.value)
    assert "patients 0, 1, 3, 7, 9, 11;" in str(err_one.value)


def test_a_failure_in_an_engine_thread_is_raised(
    params: pm.ParameterSet, pred_il11, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error inside a worker thread's slice reaches the caller (no silent half result)."""

    from pdmodel import solver

    kernel = params.model.kernel
    real = kernel.segment

    def segment(*args):
        if args[11] > 0:  # `start`: only the worker threads' slices fail
            raise MemoryError("worker slice failed")
        real(*args)

    monkeypatch.setattr(kernel, "segment", segment)
    monkeypatch.setattr(solver, "_MIN_PER_THREAD", 1)
    monkeypatch.setattr(solver, "_threads", 2)
    pop = pm.Population.sample(6, params, seed=3)
    with pytest.raises(MemoryError, match="worker slice failed"):
        pm.simulate(pop, pred_il11, 5)


def test_thread_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    from pdmodel import solver

    monkeypatch.setattr(solver, "_threads", None)  # the setting is restored after the test
    assert pm.set_threads(2) == 2
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(pm.OptionError, match="`n` must be a whole number >= 1"):
            pm.set_threads(bad)  # type: ignore[arg-type]
    assert pm.get_threads() == 2  # unchanged by the refused values
    monkeypatch.setenv("PDMODEL_THREADS", "3")
    assert pm.set_threads(None) == 3  # the default reads the environment
    for bad in ("two", "0", "-1"):
        monkeypatch.setenv("PDMODEL_THREADS", bad)
        with pytest.raises(pm.OptionError, match="PDMODEL_THREADS must be a positive whole"):
            pm.get_threads()


def test_solver_failure_names_patients_and_time(params: pm.ParameterSet, pred_il11) -> None:
    pop = pm.Population.sample(3, params, seed=1)
    with pytest.raises(
        pm.SolverError, match=r"step limit \(2\) reached .* day 0 for patients 0, 1, 2"
    ):
        pm.simulate(pop, pred_il11, 10, max_steps=2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"days": 0}, "`days` must be positive"),
        ({"days": float("nan")}, "`days` must be a finite number"),
        ({"times": [0, 20]}, r"`times` must lie within \[0, days\]"),
        ({"times": [3, 1]}, "`times` must be strictly increasing"),
        ({"times": []}, "`times` must be a non-empty array"),
        ({"observables": ["plt"]}, "unknown observable `plt`"),
        ({"method": "euler"}, "unknown method `euler`"),
        ({"rtol": -1.0}, "`rtol` must be positive"),
        ({"rtol": 1e-15}, "below what double precision supports"),
        ({"max_steps": 0}, "`max_steps` must be a positive integer"),
        ({"times": "x"}, "`times` must be an array of days, got 'x'"),
        ({"times": [[0, "a"]]}, "`times` must be an array of days"),
        ({"observables": 5}, "`observables` must be a sequence of names, got 5"),
        ({"observables": [["platelets"]]}, r"unknown observable `\['platelets'\]`"),
        ({"days": 1e308}, r"`days` = 1e\+308 would record every day .* pass the output `times`"),
    ],
)
def test_bad_options(params: pm.ParameterSet, kwargs: dict, match: str) -> None:
    call = {"days": 10, **kwargs}
    with pytest.raises(pm.OptionError, match=match):
        pm.simulate(pm.Population.patient(params), prednisone(days=3), **call)


def test_one_observable_by_name(params: pm.ParameterSet) -> None:
    res = pm.simulate(pm.Population.patient(params), prednisone(days=3), 5, observables="platelets")
    assert list(res.observables) == ["platelets"]


def test_bad_argument_types(params: pm.ParameterSet) -> None:
    with pytest.raises(pm.PopulationError, match="`population` must be a pdmodel Population"):
        pm.simulate(params, prednisone(days=3), 5)  # type: ignore[arg-type]
    with pytest.raises(pm.OptionError, match="`regimen` must be a pdmodel Regimen"):
        pm.simulate(pm.Population.patient(params), "prednisone", 5)  # type: ignore[arg-type]


def test_rules_on_other_observables(params: pm.ParameterSet) -> None:
    course = Course(
        "prednisone", 1.0, "mg/kg", n_doses=20, stop_if=Rule("cd4cd25_pct", "<", 12.0), label="p"
    )
    res = pm.simulate(pm.Population.sample(5, params, seed=2), Regimen((course,)), 20)
    given = res.courses[0].given
    below = np.maximum.accumulate(res["cd4cd25_pct"][:20] < 12.0, axis=0)
    np.testing.assert_array_equal(given, ~below)


def test_response_guided_prednisone_and_taper(params: pm.ParameterSet) -> None:
    reg = prednisone(days=28, taper_days=28, until_platelets_above=50, min_days=14) + il11(days=14)
    fixed = prednisone(days=28, taper_days=28) + il11(days=14)
    pop = pm.Population.sample(30, params, seed=12)
    res = pm.simulate(pop, reg, 70)
    ref = pm.simulate(pop, fixed, 70)
    plt = res["platelets"]
    full = next(c for c in res.courses if c.label == "prednisone")
    steps = [c for c in res.courses if c.label.startswith("prednisone taper")]
    n_full = full.given.sum(axis=0)
    # the full dose stops at the first day >= 14 with a pre-dose count >= 50, else after 28 days
    reached = (plt[14:28] >= 50.0) & (np.arange(14, 28)[:, None] >= 14)
    expected = np.where(reached.any(axis=0), 14 + reached.argmax(axis=0), 28)
    np.testing.assert_array_equal(n_full, expected)
    assert (expected < 28).any() and (expected == 28).any()
    for i in range(len(pop)):
        days_given = [t for c in steps for t, g in zip(c.times, c.given[:, i], strict=True) if g]
        assert days_given == list(range(expected[i], expected[i] + 28))  # taper right after
    total = res.treatment_days("prednisone")
    np.testing.assert_array_equal(total, expected + 28)
    # patients who never reached 50 got exactly the fixed schedule
    never = expected == 28
    np.testing.assert_allclose(res["platelets"][:, never], ref["platelets"][:, never], rtol=1e-12)


def test_follower_course_errors() -> None:
    a = Course("prednisone", 1.0, "mg/kg", n_doses=5, label="a")
    with pytest.raises(pm.RegimenError, match="follows `zz`, which is not in the regimen"):
        Regimen((a, Course("prednisone", 0.5, "mg/kg", n_doses=5, after="zz", label="b")))
    with pytest.raises(pm.RegimenError, match="cycle"):
        Regimen(
            (
                Course("il11", 1.0, "ug", label="x", after="y"),
                Course("il11", 1.0, "ug", label="y", after="x"),
            )
        )
    with pytest.raises(pm.RegimenError, match="cannot follow itself"):
        Course("il11", 1.0, "ug", label="x", after="x")
    with pytest.raises(pm.RegimenError, match="leaves no dose at which the stop rule is checked"):
        Course("il11", 1.0, "ug", n_doses=3, min_doses=3, stop_if=Rule("platelets", ">=", 1))


def test_follower_overlap_is_refused_at_run_time(params: pm.ParameterSet) -> None:
    reg = Regimen(
        (
            Course("prednisone", 1.0, "mg/kg", n_doses=3, label="a"),
            Course("prednisone", 0.5, "mg/kg", n_doses=3, after="a", label="b"),
            Course("prednisone", 0.2, "mg/kg", start=4, n_doses=2, label="c"),
        )
    )
    assert reg.last_dose == 5.0
    with pytest.raises(pm.RegimenError, match="two courses give prednisone on day 4 to patients 0"):
        pm.simulate(pm.Population.patient(params), reg, 10)


def test_simulate_many_equals_separate_runs(params: pm.ParameterSet) -> None:
    # three jobs with different populations and regimens (follower courses, stop rules, rescue
    # pulses, IV dosing) solved together give what each gives alone, course records included
    guided = prednisone(days=28, taper_days=28, until_platelets_above=50, min_days=14)
    jobs = [
        (
            pm.Population.sample(20, params, seed=3),
            guided + il11(days=14, stop_if_platelets_above=80),
        ),
        (pm.Population.sample(15, params, seed=4), guided),
        (pm.Population.sample(10, params, seed=5), REGIMENS["dexamethasone oral pulses+rescue"]),
        (pm.Population.sample(5, params, seed=6), pm.Regimen()),
    ]
    together = pm.simulate_many(jobs, 90, chunk_size=17)
    assert len(together) == len(jobs)
    for (pop, reg), res in zip(jobs, together, strict=True):
        alone = pm.simulate(pop, reg, 90)
        np.testing.assert_array_equal(res.patient_ids, alone.patient_ids)
        for name in COMPARED:
            np.testing.assert_allclose(res[name], alone[name], rtol=1e-12, atol=0)
        assert [c.label for c in res.courses] == [c.label for c in alone.courses]
        for a, b in zip(res.courses, alone.courses, strict=True):
            np.testing.assert_array_equal(a.given, b.given)
            np.testing.assert_array_equal(a.amount, b.amount)
        np.testing.assert_array_equal(res.treatment_days(), alone.treatment_days())
        np.testing.assert_array_equal(res.diagnostics.n_steps, alone.diagnostics.n_steps)


def test_simulate_many_with_one_days_per_job(params: pm.ParameterSet) -> None:
    """Each job ends at its own day, exactly as simulated alone to that day (not as a longer
    run cut short: a job's end is a step boundary), whatever the other jobs' days."""
    guided = prednisone(days=14, taper_days=7)
    jobs = [
        (pm.Population.sample(12, params, seed=3), guided + il11(days=10)),
        (pm.Population.sample(8, params, seed=4), REGIMENS["dexamethasone oral pulses+rescue"]),
        (pm.Population.sample(6, params, seed=5), guided),
    ]
    ends = [40.0, 9.5, 40.0]
    together = pm.simulate_many(jobs, ends, times=np.arange(0.0, 40.25, 0.5), chunk_size=7)
    for (pop, reg), end, res in zip(jobs, ends, together, strict=True):
        alone = pm.simulate(pop, reg, end, times=np.arange(0.0, end + 0.25, 0.5))
        np.testing.assert_array_equal(res.times, alone.times)
        for name in COMPARED:
            np.testing.assert_array_equal(res[name], alone[name])
        np.testing.assert_array_equal(res.diagnostics.n_steps, alone.diagnostics.n_steps)
    # the short job differs from the same job run longer and cut (its end ends a step)
    longer = pm.simulate(*jobs[1], 40.0, times=np.arange(0.0, 40.25, 0.5))
    assert not np.array_equal(
        longer["platelets"][: together[1].times.size], together[1]["platelets"]
    )
    # default output grid: every day up to each job's own end
    daily = pm.simulate_many(jobs[:2], np.array([5.0, 3.0]))
    assert [r.times[-1] for r in daily] == [5.0, 3.0]


@pytest.mark.parametrize(
    ("days", "times", "match"),
    [
        ([10.0], None, r"1 values for 2 jobs"),
        ("10", None, r"`days` must be a number or one number per job"),
        ([10.0, -1.0], None, r"days\[1\]"),
        ([10.0, True], None, r"days\[1\]"),
        (np.array([[10.0, 5.0]]), None, r"2 jobs"),
        ([10.0, 2.0], [3.0, 5.0], r"no output time within the 2 days of jobs \[1\]"),
        ([10.0, 2.0], [0.0, 12.0], r"within \[0, days\]"),
    ],
)
def test_simulate_many_days_per_job_bad_input(
    params: pm.ParameterSet, days: object, times: object, match: str
) -> None:
    pop = pm.Population.sample(3, params, seed=1)
    with pytest.raises(pm.OptionError, match=match):
        pm.simulate_many([(pop, pm.Regimen()), (pop, pm.Regimen())], days, times=times)  # type: ignore[arg-type]


def test_simulate_many_bad_input(params: pm.ParameterSet) -> None:
    pop = pm.Population.sample(3, params, seed=1)
    other = pm.Population.sample(3, params.replace(k_ab=1.0), seed=1)
    with pytest.raises(pm.PopulationError, match=r"jobs\[1\].*same parameter set"):
        pm.simulate_many([(pop, pm.Regimen()), (other, pm.Regimen())], 10)
    with pytest.raises(pm.OptionError, match="non-empty sequence"):
        pm.simulate_many([], 10)
    with pytest.raises(pm.OptionError, match=r"jobs\[0\].*pair"):
        pm.simulate_many([pop], 10)  # type: ignore[list-item]
    with pytest.raises(pm.OptionError, match=r"jobs\[1\]`: `regimen` must be"):
        pm.simulate_many([(pop, pm.Regimen()), (pop, "prednisone")], 10)  # type: ignore[list-item]


def test_engine_works_without_a_writable_cache() -> None:
    """When numba finds no folder to cache the compiled kernel in (read-only installation and
    home), pdmodel still imports and simulates, compiling in the process."""
    import os
    import subprocess
    import sys

    code = (
        "import pdmodel as pm\n"
        "p = pm.default_parameters()\n"
        "r = pm.simulate(pm.Population.sample(3, p, seed=1), pm.regimens.prednisone(days=5), 6)\n"
        "print(r['platelets'].shape)\n"
        "print(type(p.model.kernel.segment._cache).__name__)\n"
    )
    # a locator that never applies to a package file: numba then has nowhere to cache
    env = {**os.environ, "NUMBA_CACHE_LOCATOR_CLASSES": "IPythonCacheLocator"}
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    # the fallback was taken (no disk cache), and the simulation ran
    assert out.stdout.split() == ["(7,", "3)", "NullCache"]


def test_effect_site_is_solved_in_closed_form(params: pm.ParameterSet) -> None:
    """The effect compartment (affine in itself and the drug input) is not stepped: after an
    IV bolus, whose plasma course is C0 exp(-k t), the engine's effect-site concentration is
    the convolution C0 ke0 / (ke0 - k) (exp(-k t) - exp(-ke0 t)) to rounding (stepped, it is
    1e-7 off at the default tolerances)."""
    assert pm.default_model().exact_states == ("ce",)
    pop = pm.Population.sample(3, params, seed=5)
    times = np.linspace(0.0, 6.0, 25)
    res = pm.simulate(pop, dexamethasone(mg=40, days=1, route="iv"), 6.0, times=times)
    plasma = res["conc_gc_equiv"]  # prednisolone-equivalent plasma concentration
    k = np.log(plasma[4] / plasma[8]) / (times[8] - times[4])
    c0 = plasma[4] * np.exp(k * times[4])
    ke0 = params["gc_ke0"]
    t = times[:, None]
    expected = c0 * ke0 / (ke0 - k) * (np.exp(-k * t) - np.exp(-ke0 * t))
    np.testing.assert_allclose(res["conc_gc_effect"], expected, rtol=1e-9, atol=1e-12)


def test_degenerate_effect_site_rate_is_stepped(params: pm.ParameterSet) -> None:
    """Where the effect-site rate equals a drug's rate (the closed form's 1 / (ke0 - k) has no
    meaning there) the state is stepped like the others, and stays within the accuracy
    contract of a tight reference solve; so does a rate just outside the guard band."""
    from pdmodel.pk import drug_pk

    k = drug_pk(params)["prednisone"].k
    pop = pm.Population.sample(2, params, seed=9).batch({"gc_ke0": [k, 1.002 * k]})
    reg = REGIMENS["prednisone"]
    ref = pm.simulate(pop, reg, 20, method="DOP853", rtol=1e-12, atol=1e-14)
    res = pm.simulate(pop, reg, 20)
    assert _max_rel_err(res, ref) < 1e-4
    rel = np.abs(res["conc_gc_effect"] - ref["conc_gc_effect"]) / ref["conc_gc_effect"].max(0)
    assert rel.max() < 1e-4


def test_outputs_between_decision_times_do_not_end_steps(
    params: pm.ParameterSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Output times that are not decision times come from the continuous extension: off-grid
    times within the accuracy contract of a tight reference, the segments only the decision
    times, and fewer steps than when every output ends a step."""
    from pdmodel import solver

    pop = pm.Population.sample(3, params, seed=31)
    reg = dexamethasone(mg=40, days=4)
    times = np.concatenate([np.linspace(0.0, 6.0, 17), [9.37, 20.5, 44.01, 60.0]])
    ref = pm.simulate(pop, reg, 60, times=times, method="DOP853", rtol=1e-12, atol=1e-14)
    res = pm.simulate(pop, reg, 60, times=times)
    assert _max_rel_err(res, ref) < 1e-4
    assert res.diagnostics.n_segments == 4  # days 0-1, 1-2, 2-3, 3-60
    monkeypatch.setattr(solver, "_DENSE_OUTPUT", False)
    every = pm.simulate(pop, reg, 60, times=times)
    assert every.diagnostics.n_segments > 4
    assert res.diagnostics.n_steps.sum() < every.diagnostics.n_steps.sum()
    assert _max_rel_err(every, ref) < 1e-4


def test_a_drug_with_more_terms_than_the_kernel_slots_is_refused(
    params: pm.ParameterSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled kernel has TERMS_PER_INPUT exponential slots per drug input; a drug whose
    concentration needs more is refused by name, not written into another drug's slot."""
    from pdmodel.pk import DrugState

    real = DrugState.exponentials

    def three(self: DrugState) -> tuple[list[float], list[np.ndarray]]:
        rates, coefs = real(self)
        return ([*rates, 50.0], [*coefs, np.zeros_like(coefs[0])]) if rates else (rates, coefs)

    monkeypatch.setattr(DrugState, "exponentials", three)
    pop = pm.Population.sample(3, params, seed=1)
    with pytest.raises(pm.SolverError, match="prednisone: its concentration is a sum of 3"):
        pm.simulate(pop, pm.regimens.prednisone(1.0, days=3), 3)
