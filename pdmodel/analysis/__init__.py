"""Analyses users bring to the model: global sensitivity, regimen optimisation, trial design
and visual predictive checks against observed data."""

from __future__ import annotations

from .design import Comparison, DesignResult, design
from .optimise import (
    COSTS,
    OptimisationProblem,
    OptimisationResult,
    load_problem,
    optimise,
    problem_from_dict,
    regimen_costs,
)
from .sensitivity import (
    SENSITIVITY_ENDPOINTS,
    SensitivityResult,
    analyse,
    parameter_ranges,
    sensitivity,
)
from .vpc import VPCResult, vpc

__all__ = [
    "COSTS",
    "SENSITIVITY_ENDPOINTS",
    "Comparison",
    "DesignResult",
    "OptimisationProblem",
    "OptimisationResult",
    "SensitivityResult",
    "VPCResult",
    "analyse",
    "design",
    "load_problem",
    "optimise",
    "parameter_ranges",
    "problem_from_dict",
    "regimen_costs",
    "sensitivity",
    "vpc",
]
