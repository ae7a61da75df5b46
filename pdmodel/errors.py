"""Exceptions raised by pdmodel.

Every library exception derives from :class:`PDModelError` *and* from the matching built-in
exception, so callers may catch either (``except ValueError`` keeps working).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = [
    "MissingExtraError",
    "ModelError",
    "OptionError",
    "PDModelError",
    "ParameterError",
    "PopulationError",
    "RegimenError",
    "SolverError",
    "UnknownParameterError",
]


class PDModelError(Exception):
    """Base class of every error raised on purpose by pdmodel."""


class ParameterError(PDModelError, ValueError):
    """A parameter name, value, bound or table entry is invalid."""


class UnknownParameterError(ParameterError, KeyError):
    """A parameter name is not in the table (also a ``KeyError``, so mapping lookups work)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ModelError(PDModelError, ValueError):
    """A model definition, model variant or drug specification is invalid."""


class RegimenError(PDModelError, ValueError):
    """A dose, course, rule or regimen is invalid."""


class PopulationError(PDModelError, ValueError):
    """A virtual population or patient specification is invalid."""


class OptionError(PDModelError, ValueError):
    """An option passed to a function (observable name, tolerance, time grid, ...) is invalid."""


class SolverError(PDModelError, RuntimeError):
    """Numerical integration failed; the message names the patients and the time."""


class MissingExtraError(PDModelError, ImportError):
    """An optional dependency is missing; the message names the ``pip install`` that fixes it."""


def check_whole(value: Any, name: str, low: int, error: type[Exception] = OptionError) -> int:
    """`value` as an int if it is a whole number >= `low`; else `error` naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise error(f"`{name}` must be a whole number >= {low}, got {value!r}")
    return int(value)


def check_finite(value: Any, name: str, error: type[Exception] = OptionError) -> float:
    """`value` as a float if it is a finite real number (not a bool); else `error` naming
    `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise error(f"`{name}` must be a finite number, got {value!r}")
    return float(value)
