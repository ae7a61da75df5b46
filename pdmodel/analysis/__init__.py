"""Analyses users bring to the model: global sensitivity (more to come: see the issues)."""

from __future__ import annotations

from .sensitivity import (
    SENSITIVITY_ENDPOINTS,
    SensitivityResult,
    analyse,
    parameter_ranges,
    sensitivity,
)

__all__ = [
    "SENSITIVITY_ENDPOINTS",
    "SensitivityResult",
    "analyse",
    "parameter_ranges",
    "sensitivity",
]
