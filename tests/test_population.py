"""Virtual populations."""

from __future__ import annotations

import numpy as np
import pytest

import pdmodel as pm


def test_sample_is_deterministic(params: pm.ParameterSet) -> None:
    a = pm.Population.sample(50, params, seed=3)
    b = pm.Population.sample(50, params, seed=3)
    c = pm.Population.sample(50, params, seed=4)
    for k in a.z:
        np.testing.assert_array_equal(a.z[k], b.z[k])
    assert not np.array_equal(a.z["k_ab"], c.z["k_ab"])


def test_sobol_sampling(params: pm.ParameterSet) -> None:
    a = pm.Population.sample(200, params, seed=3, sampling="sobol")
    b = pm.Population.sample(200, params, seed=3, sampling="sobol")
    c = pm.Population.sample(200, params, seed=4, sampling="sobol")
    iid = pm.Population.sample(200, params, seed=3)
    for k in a.z:
        np.testing.assert_array_equal(a.z[k], b.z[k])
        assert np.all(np.isfinite(a.z[k]))
    assert not np.array_equal(a.z["k_ab"], c.z["k_ab"])
    assert not np.array_equal(a.z["k_ab"], iid.z["k_ab"])
    # population means of every deviate are far closer to 0 than independent draws make them
    means = np.array([[pm.Population.sample(200, params, seed=s, sampling="sobol").z[k].mean()
                       for k in a.z] for s in range(20)])  # fmt: skip
    assert np.std(means) < 0.3 / np.sqrt(200)
    with pytest.raises(pm.PopulationError, match="unknown sampling `lhs`"):
        pm.Population.sample(10, params, seed=1, sampling="lhs")
    with pytest.raises(pm.PopulationError, match="seed"):
        pm.Population.sample(10, params, seed=-1, sampling="sobol")


def test_lognormal_variability(params: pm.ParameterSet) -> None:
    pop = pm.Population.sample(20000, params, seed=1)
    cov = pop.covariates()
    for key, omega in [
        ("plt_base", "omega_plt_base"),
        ("k_ab", "omega_k_ab"),
        ("weight", "omega_weight"),
    ]:
        logs = np.log(cov[key])
        assert np.median(cov[key]) == pytest.approx(params[key], rel=0.03)
        assert np.std(logs) == pytest.approx(params[omega], rel=0.03)


def test_common_random_numbers(params: pm.ParameterSet) -> None:
    pop = pm.Population.sample(10, params, seed=2)
    other = pop.with_params(params.replace(k_ab=2.0 * params["k_ab"]))
    np.testing.assert_allclose(
        other.covariates()["k_ab"], 2.0 * pop.covariates()["k_ab"], rtol=1e-12
    )


def test_patient_with_values(params: pm.ParameterSet) -> None:
    pat = pm.Population.patient(params, weight=72.0, plt_base=12.0)
    cov = pat.covariates()
    assert len(pat) == 1
    assert cov["weight"][0] == pytest.approx(72.0) and cov["plt_base"][0] == pytest.approx(12.0)
    assert cov["k_ab"][0] == pytest.approx(params["k_ab"])


def test_subsetting_keeps_ids(params: pm.ParameterSet) -> None:
    pop = pm.Population.sample(10, params, seed=2)
    sub = pop[np.array([7, 2])]
    assert sub.ids.tolist() == [7, 2]
    assert [len(c) for c in pop.chunks(4)] == [4, 4, 2]
    assert pop[pop.covariates()["plt_base"] < 1e9].n == 10


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda p: pm.Population.sample(0, p, seed=1),
            "`n` must be a whole number of patients >= 1",
        ),
        (lambda p: pm.Population.sample(5, p, seed=-1), "`seed` must be a non-negative integer"),
        (lambda p: pm.Population.patient(p, height=170.0), "unknown individual parameter `height`"),
        (lambda p: pm.Population.patient(p, weight=-70.0), "`weight` must be positive"),
        (
            lambda p: pm.Population.patient(p, weight=float("nan")),
            "`weight` must be a finite number",
        ),
        (
            lambda p: pm.Population.patient(p.replace(omega_weight=0.0), weight=70.0),
            "`weight` has no inter-individual variability",
        ),
        (lambda p: pm.Population.sample(5, p, seed=1)[5:], "selection is empty"),
        (lambda p: pm.Population.sample(5, p, seed=1).chunks(0), "chunk size must be"),
        (lambda p: pm.Population(dict(p), {}), "`params` must be a ParameterSet"),
    ],
)
def test_population_errors(params: pm.ParameterSet, call, match: str) -> None:
    with pytest.raises(pm.PopulationError, match=match):
        call(params)


def test_seed_is_required(params: pm.ParameterSet) -> None:
    with pytest.raises(TypeError):
        pm.Population.sample(5, params)  # type: ignore[call-arg]


def test_params_must_be_a_parameter_set() -> None:
    # `0` and `{}` were silently replaced by the default parameters (`params or default`)
    for bad in (0, {}, "calibrated"):
        with pytest.raises(pm.ParameterError, match="`params` must be a pdmodel ParameterSet"):
            pm.Population.sample(3, bad, seed=1)  # type: ignore[arg-type]
        with pytest.raises(pm.ParameterError, match="`params` must be a pdmodel ParameterSet"):
            pm.Population.patient(bad)  # type: ignore[arg-type]
    assert pm.Population.sample(3, None, seed=1).params == pm.default_parameters()
