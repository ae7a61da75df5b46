"""The public surface: names, docstrings and signatures."""

from __future__ import annotations

import inspect

import pdmodel as pm
from pdmodel import checks, distributed, drugs, reproduce, shipped, units, validate
from pdmodel.analysis import sensitivity
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
        pm.events, distributed, sensitivity,
    ]  # fmt: skip
    for mod in modules:
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield f"{mod.__name__}.{name}", obj


def test_every_public_callable_is_documented() -> None:
    for qual, obj in _public_objects():
        assert inspect.getdoc(obj), f"{qual} has no docstring"
        if inspect.isclass(obj):
            for meth_name, meth in vars(obj).items():
                if not meth_name.startswith("_") and inspect.isfunction(meth):
                    assert inspect.getdoc(meth), f"{qual}.{meth_name} has no docstring"


def test_documented_parameters_match_the_signatures() -> None:
    """numpydoc's validation, for every public callable and public method: each documented
    parameter exists (PR02), in the signature's order (PR03), with standard type names (PR06)
    and a space before the colon (PR10).  The checks for undocumented parameters (PR01) and
    Returns sections (RT01) are not on yet (docs/decisions.md, decision 38)."""
    from numpydoc.validate import validate

    checks = {"PR02", "PR03", "PR06", "PR10"}
    bad = []
    for qual, obj in _public_objects():
        names = [qual]
        if inspect.isclass(obj):
            names += [
                f"{qual}.{m}"
                for m, v in vars(obj).items()
                if not m.startswith("_") and inspect.isfunction(v)
            ]
        for name in names:
            bad += [
                f"{name}: {code} {msg}" for code, msg in validate(name)["errors"] if code in checks
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
