"""Shared fixtures: small populations and the usual regimens."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

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


def _mutations(data: dict, bad_values: tuple) -> Iterator[tuple[list, object, dict]]:
    """Every key of nested `data` removed (``"delete"``) or set to each of `bad_values`.

    Yields ``(path, value, mutated deep copy)``.
    """
    paths: list[list[str | int]] = []

    def walk(obj: object, at: list[str | int]) -> None:
        items = (
            obj.items()
            if isinstance(obj, dict)
            else enumerate(obj)
            if isinstance(obj, list)
            else ()
        )
        for k, v in items:
            if isinstance(k, str):
                paths.append([*at, k])
            walk(v, [*at, k])

    walk(data, [])
    for path in paths:
        for bad in bad_values:
            d = copy.deepcopy(data)
            target = d
            for k in path[:-1]:
                target = target[k]
            if bad == "delete":
                del target[path[-1]]
            else:
                target[path[-1]] = bad
            yield path, bad, d


@pytest.fixture(scope="session")
def mutations() -> Callable[[dict, tuple], Iterator[tuple[list, object, dict]]]:
    """:func:`_mutations`: malformed variants of a parsed file, key by key."""
    return _mutations
