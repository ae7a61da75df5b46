"""The public surface: names, docstrings and signatures."""

from __future__ import annotations

import functools
import importlib
import inspect
import re

import pdmodel as pm
from pdmodel import (
    accel,
    checks,
    distributed,
    drugs,
    reproduce,
    scenarios,
    shipped,
    units,
    validate,
)
from pdmodel.model import expressions, kernel, spec

EXPECTED = {
    "__version__",
    "fit",
    "get_threads",
    "set_threads",
    "FitResult",
    "calibration",
    "sbml",
    "simulate_trial",
    "TrialResult",
    "trials",
    "endpoints",
    "stats",
    "plotting",
    "calibrated_parameters",
    "default_parameters",
    "parameter_table",
    "ParameterSet",
    "ParameterSpec",
    "ParameterTable",
    "Population",
    "Course",
    "Regimen",
    "Rule",
    "simulate",
    "simulate_many",
    "simulate_trials",
    "SimulationResult",
    "save_parameters",
    "load_parameters",
    "io",
    "OBSERVABLES",
    "model",
    "pk",
    "regimens",
    "PDModelError",
    "ParameterError",
    "RegimenError",
    "PopulationError",
    "SolverError",
    "OptionError",
    "MissingExtraError",
    "UnknownParameterError",
    "ModelError",
    "CalibrationError",
    "TrialError",
    "ScenarioError",
    "SolverOptions",
    "Model",
    "default_model",
    "DrugSpec",
    "register_drug",
    "drugs",
    "units",
    "events",
    "DataError",
}


def test_public_surface() -> None:
    assert set(pm.__all__) == EXPECTED
    for name in pm.__all__:
        assert hasattr(pm, name), name


def _public_objects():
    modules = [
        pm, pm.model, pm.pk, pm.regimens, pm.io, pm.parameters, pm.population, pm.solver,
        pm.endpoints, pm.stats, pm.trials, pm.plotting, reproduce, pm.calibration, pm.sbml,
        shipped, checks, drugs, units, spec, expressions, kernel, validate,
        pm.events, distributed, scenarios, accel,
        # the modules, not the functions of the same names that pdmodel.analysis exports
        *(importlib.import_module(f"pdmodel.analysis.{m}")
          for m in ("sensitivity", "design", "optimise", "vpc")),
    ]  # fmt: skip
    for mod in modules:
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if callable(obj):  # functions (also cached ones), classes
                yield f"{mod.__name__}.{name}", obj


def _members(cls: type) -> dict[str, object]:
    """Public methods, class and static methods and properties a class defines itself."""
    kinds = (classmethod, staticmethod, property, functools.cached_property)
    return {
        m: v
        for m, v in vars(cls).items()
        if not m.startswith("_") and (inspect.isfunction(v) or isinstance(v, kinds))
    }


def test_every_public_callable_is_documented() -> None:
    for qual, obj in _public_objects():
        assert inspect.getdoc(obj), f"{qual} has no docstring"
        if inspect.isclass(obj):
            for meth_name in _members(obj):
                member = getattr(obj, meth_name)  # a function, bound class method or property
                assert inspect.getdoc(member), f"{qual}.{meth_name} has no docstring"


def test_docstrings_pass_numpydoc_validation() -> None:
    """numpydoc's validation of every public callable, method and property, with the checks
    of ``[tool.numpydoc_validation]`` in pyproject.toml (the Sphinx build uses the same set):
    every parameter documented, in signature order, with a type; a Returns section with a
    description; one-line summaries; sections in order (docs/decisions.md, decision 38)."""
    import tomllib
    from pathlib import Path

    from numpydoc.validate import ERROR_MSGS, validate

    config = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["tool"][
        "numpydoc_validation"
    ]
    listed = config["checks"]
    assert listed[0] == "all"
    checks = set(ERROR_MSGS) - set(listed[1:])
    excluded = re.compile("|".join(config["exclude"]))
    names = set()
    for _, obj in _public_objects():
        canonical = f"{obj.__module__}.{obj.__qualname__}"  # where numpydoc finds the object
        names.add(canonical)
        if inspect.isclass(obj):
            names |= {f"{canonical}.{m}" for m in _members(obj)}
    bad = [
        f"{name}: {code} {msg}"
        for name in sorted(names)
        if not excluded.search(name)
        for code, msg in validate(name)["errors"]
        if code in checks
    ]
    assert not bad, "\n".join(bad)


def test_errors_subclass_builtins() -> None:
    assert issubclass(pm.ParameterError, ValueError) and issubclass(
        pm.ParameterError, pm.PDModelError
    )
    assert issubclass(pm.RegimenError, ValueError)
    assert issubclass(pm.UnknownParameterError, KeyError)
    assert pm.default_parameters().get("nope") is None and "nope" not in pm.parameter_table()
    assert issubclass(pm.SolverError, RuntimeError)
    assert issubclass(pm.MissingExtraError, ImportError)


def test_bands_label_counts_as_plain_numbers() -> None:
    """A log axis of platelet counts reads 10, 30, 100, not 10^1 or 3 x 10^1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pop = pm.Population.sample(n=20, params=pm.calibrated_parameters(), seed=1)
    res = pm.simulate(pop, pm.regimens.prednisone(mg_per_kg=1.0, days=14), days=20.0)
    ax = pm.plotting.plot_bands({"prednisone": res})
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() + ax.get_yticklabels(minor=True)]
    shown = [s for s in labels if s]
    assert shown and all(s.replace(".", "").isdigit() for s in shown), shown
    plt.close(ax.figure)


def test_plot_bands_of_one_patient_draws_the_course_without_bands() -> None:
    """Percentile bands of a single patient would be the course itself, labelled as bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = pm.calibrated_parameters()
    reg = pm.regimens.prednisone(mg_per_kg=1.0, days=14)
    one = pm.simulate(pm.Population.patient(params), reg, days=20.0)
    many = pm.simulate(pm.Population.sample(n=20, params=params, seed=1), reg, days=20.0)
    ax = pm.plotting.plot_bands({"typical patient": one, "population": many})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["typical patient", "population: median, 25-75%, 5-95%"]
    assert len(ax.collections) == 2  # the population's two bands only
    assert list(ax.lines[0].get_ydata()) == list(one["platelets"][:, 0])
    plt.close(ax.figure)
