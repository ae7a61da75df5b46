"""pdmodel: mechanistic pharmacodynamic modelling of immune thrombocytopenia (ITP) treated with
glucocorticoids with or without recombinant human interleukin-11 (rhIL-11).

Quick start::

    import pdmodel as pm
    params = pm.calibrated_parameters()  # shipped fit; pm.default_parameters(): sourced table
    reg = pm.regimens.prednisone(mg_per_kg=1.0, days=28, taper_days=28) + pm.regimens.il11(
        ug_per_kg=50, days=14, stop_if_platelets_above=100)
    pop = pm.Population.sample(n=1000, params=params, seed=1)
    res = pm.simulate(pop, reg, days=180)
    res.to_frame()
"""

from __future__ import annotations

from . import (
    calibration,
    drugs,
    endpoints,
    events,
    io,
    model,
    pk,
    plotting,
    regimens,
    sbml,
    stats,
    trials,
    units,
)
from ._version import __version__
from .calibration import FitResult, fit
from .drugs import DrugSpec, register_drug
from .errors import (
    CalibrationError,
    DataError,
    MissingExtraError,
    ModelError,
    OptionError,
    ParameterError,
    PDModelError,
    PopulationError,
    RegimenError,
    ScenarioError,
    SolverError,
    TrialError,
    UnknownParameterError,
)
from .io import load_parameters, save_parameters
from .model import OBSERVABLES, Model, default_model
from .parameters import (
    ParameterSet,
    ParameterSpec,
    ParameterTable,
    default_parameters,
    parameter_table,
)
from .population import Population
from .regimens import Course, Regimen, Rule
from .shipped import calibrated_parameters
from .solver import (
    SimulationResult,
    SolverOptions,
    get_threads,
    set_threads,
    simulate,
    simulate_many,
)
from .trials import TrialResult, simulate_trial, simulate_trials

__all__ = [
    "OBSERVABLES",
    "CalibrationError",
    "Course",
    "DataError",
    "DrugSpec",
    "FitResult",
    "MissingExtraError",
    "Model",
    "ModelError",
    "OptionError",
    "PDModelError",
    "ParameterError",
    "ParameterSet",
    "ParameterSpec",
    "ParameterTable",
    "Population",
    "PopulationError",
    "Regimen",
    "RegimenError",
    "Rule",
    "ScenarioError",
    "SimulationResult",
    "SolverError",
    "SolverOptions",
    "TrialError",
    "TrialResult",
    "UnknownParameterError",
    "__version__",
    "calibrated_parameters",
    "calibration",
    "default_model",
    "default_parameters",
    "drugs",
    "endpoints",
    "events",
    "fit",
    "get_threads",
    "io",
    "load_parameters",
    "model",
    "parameter_table",
    "pk",
    "plotting",
    "regimens",
    "register_drug",
    "save_parameters",
    "sbml",
    "set_threads",
    "simulate",
    "simulate_many",
    "simulate_trial",
    "simulate_trials",
    "stats",
    "trials",
    "units",
]
