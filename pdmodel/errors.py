"""Exceptions raised by pdmodel.

Every library exception derives from :class:`PDModelError` *and* from the matching built-in
exception, so callers may catch either (``except ValueError`` keeps working).  Every exception
class of the package is defined here and exported from :mod:`pdmodel`; the input checks that
raise them are in :mod:`pdmodel.checks`.
"""

from __future__ import annotations

__all__ = [
    "CalibrationError",
    "DataError",
    "MissingExtraError",
    "ModelError",
    "OptionError",
    "PDModelError",
    "ParameterError",
    "PopulationError",
    "RegimenError",
    "ScenarioError",
    "SolverError",
    "TrialError",
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


class TrialError(PDModelError, ValueError):
    """A trial file or trial specification is invalid; the message names file, key and problem."""


class ScenarioError(TrialError):
    """A scenario file is invalid; the message names the file and the key."""


class CalibrationError(PDModelError, ValueError):
    """A calibration input is invalid or the objective cannot be evaluated."""


class DataError(PDModelError, ValueError):
    """An event table or cohort table is invalid; the message names the row and the column."""


class MissingExtraError(PDModelError, ImportError):
    """An optional dependency is missing; the message names the ``pip install`` that fixes it."""
