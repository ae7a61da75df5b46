"""Parameter samples batched into one engine call: Population.batch and SimulationResult.take."""

from __future__ import annotations

import numpy as np
import pytest

import pdmodel as pm

SAMPLES = {"il11_smax": [0.5, 1.0, 2.5], "gc_ec50": [5.0, 20.0, 80.0]}


def _regimen() -> pm.Regimen:
    return pm.regimens.prednisone(1.0, days=14, taper_days=14) + pm.regimens.il11(50.0, days=14)


def test_batch_equals_one_simulation_per_sample(params: pm.ParameterSet) -> None:
    pop = pm.Population.sample(25, params, seed=4)
    batched = pop.batch(SAMPLES)
    assert len(batched) == 75
    np.testing.assert_array_equal(batched.ids, np.tile(pop.ids, 3))
    reg = _regimen()
    res = pm.simulate(batched, reg, 42.0)
    for j in range(3):
        one = pm.simulate(
            pop.with_params(params.replace(**{k: v[j] for k, v in SAMPLES.items()})), reg, 42.0
        )
        part = res.take(slice(25 * j, 25 * (j + 1)))
        for name, value in one.observables.items():
            np.testing.assert_allclose(part[name], value, rtol=1e-12, atol=0.0, err_msg=name)
        np.testing.assert_array_equal(part.treatment_days(), one.treatment_days())
        np.testing.assert_array_equal(part.diagnostics.n_steps, one.diagnostics.n_steps)
        np.testing.assert_array_equal(part.patient_ids, one.patient_ids)
    # the samples differ (the batch is not the same simulation three times)
    assert not np.allclose(res["platelets"][:, :25], res["platelets"][:, 50:])


def test_batch_survives_chunking_and_simulate_many(params: pm.ParameterSet) -> None:
    pop = pm.Population.sample(10, params, seed=2)
    batched = pop.batch({"il11_smax": [0.5, 3.0]})
    reg = _regimen()
    whole = pm.simulate(batched, reg, 21.0)
    chunked = pm.simulate(batched, reg, 21.0, chunk_size=7)
    np.testing.assert_array_equal(whole["platelets"], chunked["platelets"])
    plain, over = pm.simulate_many([(pop, reg), (batched, reg)], 21.0)
    np.testing.assert_array_equal(over["platelets"], whole["platelets"])
    np.testing.assert_array_equal(plain["platelets"], pm.simulate(pop, reg, 21.0)["platelets"])
    # subsetting keeps each patient's override; a nested batch tiles the earlier one
    sub = batched[12:14]
    np.testing.assert_array_equal(sub.overrides["il11_smax"], [3.0, 3.0])
    nested = batched.batch({"gc_ec50": [5.0, 9.0]})
    assert len(nested) == 40
    np.testing.assert_array_equal(
        nested.overrides["il11_smax"], np.tile(np.repeat([0.5, 3.0], 10), 2)
    )
    np.testing.assert_array_equal(nested.overrides["gc_ec50"], np.repeat([5.0, 9.0], 20))


@pytest.mark.parametrize(
    ("samples", "match"),
    [
        ({"pred_cl": [1.0, 2.0]}, "`pred_cl` is a PK parameter of prednisone"),
        ({"il11_smaxx": [1.0]}, "unknown parameter `il11_smaxx`; did you mean `il11_smax`"),
        ({"il11_smax": [1.0, -1.0]}, "override `il11_smax` = -1 .* outside its bounds"),
        ({"il11_smax": [1.0], "gc_ec50": [1.0, 2.0]}, "same .* number of values"),
        ({}, "at least one parameter"),
    ],
)
def test_batch_errors_name_the_culprit(params, samples, match) -> None:
    pop = pm.Population.sample(3, params, seed=1)
    with pytest.raises(pm.PopulationError, match=match):
        pop.batch(samples)


def test_take_errors_and_shares(params: pm.ParameterSet) -> None:
    res = pm.simulate(pm.Population.sample(4, params, seed=1), _regimen(), 7.0)
    with pytest.raises(pm.OptionError, match="selection is empty"):
        res.take(np.zeros(4, dtype=bool))
    half = res.take(np.array([True, False, True, False]))
    assert half.n_patients == 2
    assert half.diagnostics.wall_time == pytest.approx(res.diagnostics.wall_time / 2)
