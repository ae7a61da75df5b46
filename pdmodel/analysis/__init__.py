"""Analyses users bring to the model: global sensitivity, trial design."""

from __future__ import annotations

from .design import Comparison, DesignResult, design
from .sensitivity import (
    SENSITIVITY_ENDPOINTS,
    SensitivityResult,
    analyse,
    parameter_ranges,
    sensitivity,
)

__all__ = [
    "SENSITIVITY_ENDPOINTS",
    "Comparison",
    "DesignResult",
    "SensitivityResult",
    "analyse",
    "design",
    "parameter_ranges",
    "sensitivity",
]
