"""Shared fixtures: small populations and the usual regimens."""

from __future__ import annotations

import pytest

import pdmodel as pm


@pytest.fixture(scope="session")
def params() -> pm.ParameterSet:
    return pm.default_parameters()


@pytest.fixture(scope="session")
def pred_il11() -> pm.Regimen:
    return pm.regimens.prednisone(mg_per_kg=1.0, days=28, taper_days=28) + pm.regimens.il11(
        ug_per_kg=50, days=14, stop_if_platelets_above=100
    )


@pytest.fixture(scope="session")
def pred_only() -> pm.Regimen:
    return pm.regimens.prednisone(mg_per_kg=1.0, days=28, taper_days=28)


@pytest.fixture(scope="session")
def small_pop(params: pm.ParameterSet) -> pm.Population:
    return pm.Population.sample(24, params, seed=11)
