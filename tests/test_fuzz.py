"""Property-based fuzzing of every input reader (robustness issue).

Each reader either succeeds or raises one of the package's named errors (a one-line message),
never another exception.  Bounded examples and ``derandomize=True`` make the runs the same in
every CI run; :data:`EXAMPLES` inputs per reader.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import pdmodel as pm  # noqa: E402
from pdmodel import events  # noqa: E402
from pdmodel.errors import PDModelError  # noqa: E402
from pdmodel.scenarios import scenario_from_dict  # noqa: E402

#: Inputs tried per reader.
EXAMPLES = 150
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

SCENARIO = tomllib.loads(
    (Path(__file__).resolve().parents[1] / "examples" / "scenarios" / "prednisone.toml").read_text()
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _one_line(exc: BaseException) -> None:
    assert isinstance(exc, PDModelError), f"{type(exc).__name__}: {exc}"
    assert str(exc) and "\n" not in str(exc), repr(str(exc))


def _mutate(data: Any, path: list[Any], value: Any, delete: bool) -> Any:
    """`data` with the element at `path` replaced by `value` (or deleted)."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(data, dict):
        out = dict(data)
        k = list(out)[key % len(out)] if out else "x"
        if delete and not rest:
            out.pop(k, None)
        else:
            out[k] = _mutate(out.get(k), rest, value, delete)
        return out
    if isinstance(data, list) and data:
        out_list = list(data)
        i = key % len(out_list)
        out_list[i] = _mutate(out_list[i], rest, value, delete)
        return out_list
    return value


@FUZZ
@given(
    path=st.lists(st.integers(0, 20), min_size=1, max_size=3),
    value=values,
    delete=st.booleans(),
)
def test_scenario_parser(path, value, delete):
    data = _mutate(SCENARIO, path, value, delete)
    try:
        scenario_from_dict(data, origin="fuzz.toml")
    except Exception as exc:
        _one_line(exc)


TRIAL = tomllib.loads(
    (Path(pm.__file__).parent / "data" / "trials" / "wu2016.toml").read_text(encoding="utf-8")
)


@FUZZ
@given(
    path=st.lists(st.integers(0, 40), min_size=1, max_size=4),
    value=values,
    delete=st.booleans(),
)
def test_trial_parser(path, value, delete):
    from pdmodel.trials.files import _parse

    data = _mutate(TRIAL, path, value, delete)
    try:
        _parse(data, "fuzz.toml", "")
    except Exception as exc:
        _one_line(exc)


@FUZZ
@given(
    builder=st.sampled_from(["prednisone", "dexamethasone", "il11", "taper"]),
    kwargs=st.dictionaries(
        st.sampled_from(
            [
                "mg",
                "mg_per_kg",
                "ug_per_kg",
                "ug",
                "days",
                "start",
                "taper_days",
                "cycles",
                "cycle_every",
                "route",
                "stop_if_platelets_above",
                "until_platelets_above",
                "rescue_if_platelets_below",
                "min_days",
                "from_mg_per_kg",
                "weeks",
            ]
        ),
        scalars,
        max_size=4,
    ),
)
def test_regimen_builders(builder, kwargs):
    try:
        getattr(pm.regimens, builder)(**kwargs)
    except TypeError:
        pass  # an argument the builder does not take: Python's own signature check
    except Exception as exc:
        _one_line(exc)


@FUZZ
@given(
    text=st.one_of(st.binary(max_size=300), st.text(max_size=300)),
    suffix=st.sampled_from([".json", ".csv"]),
)
def test_parameter_loader_bytes(tmp_path_factory, text, suffix):
    path = tmp_path_factory.mktemp("p") / f"p{suffix}"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        pm.load_parameters(path)
    except Exception as exc:
        _one_line(exc)


@FUZZ
@given(
    entries=st.dictionaries(
        st.sampled_from(["k_ab", "plt_base", "nope", "mk_mtt", "weight"]),
        st.one_of(
            values,
            st.fixed_dictionaries(
                {"value": scalars}, optional={"unit": scalars, "lower": scalars, "free": scalars}
            ),
        ),
        max_size=4,
    ),
    top=st.dictionaries(st.sampled_from(["format", "format_version", "fit"]), values, max_size=2),
)
def test_parameter_loader_json_structure(tmp_path_factory, entries, top):
    import json

    path = tmp_path_factory.mktemp("p") / "p.json"
    try:
        text = json.dumps({"parameters": entries, **top}, allow_nan=True)
    except (TypeError, ValueError):
        return
    path.write_text(text)
    try:
        pm.load_parameters(path)
    except Exception as exc:
        _one_line(exc)


cells = st.one_of(
    st.integers(-3, 30),
    st.floats(-5, 200),
    st.just(float("nan")),
    st.sampled_from(["", "x", "1e3", None]),
)


@FUZZ
@given(
    columns=st.lists(
        st.sampled_from(
            [
                "ID",
                "TIME",
                "EVID",
                "AMT",
                "CMT",
                "RATE",
                "DV",
                "MDV",
                "ARM",
                "weight",
                "plt_base",
                "k_ab",
                "bogus",
            ]
        ),
        min_size=3,
        max_size=9,
        unique=True,
    ),
    rows=st.integers(0, 8),
    data=st.data(),
)
def test_event_table_reader(columns, rows, data):
    frame = pd.DataFrame(
        {c: data.draw(st.lists(cells, min_size=rows, max_size=rows)) for c in columns}
    )
    try:
        out = events.from_event_table(frame)
    except Exception as exc:
        _one_line(exc)
        return
    for regimen in out.regimens.values():
        assert isinstance(regimen, pm.Regimen)


@FUZZ
@given(
    columns=st.lists(
        st.sampled_from(["ID", "weight", "plt_base", "k_ab", "z_k_ab", "ab_positive", "x"]),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    rows=st.integers(0, 6),
    data=st.data(),
)
def test_cohort_reader(columns, rows, data):
    frame = pd.DataFrame(
        {c: data.draw(st.lists(cells, min_size=rows, max_size=rows)) for c in columns}
    )
    try:
        pop = pm.Population.from_frame(frame, seed=1)
    except Exception as exc:
        _one_line(exc)
        return
    assert len(pop) == rows and all(np.all(np.isfinite(v)) for v in pop.z.values())
