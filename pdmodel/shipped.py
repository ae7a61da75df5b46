"""The shipped calibrated parameter set, and the parameter sets and fits that ``--params``
arguments name (``calibrated``, ``table`` or a file)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .io import load_parameters
from .parameters import ParameterSet, default_parameters

if TYPE_CHECKING:
    from .calibration import FitResult

__all__ = [
    "SHIPPED_LABEL",
    "calibrated_parameters",
    "resolve_fit",
    "resolve_parameters",
    "shipped_fit",
    "shipped_parameters",
]

_CALIBRATED = "data/calibrated.json"


def _load_shipped(loader: Callable[[Path], Any]) -> Any:
    """`loader` applied to the shipped calibrated file, or None when none is shipped."""
    ref = resources.files("pdmodel").joinpath(_CALIBRATED)
    if not ref.is_file():
        return None
    with resources.as_file(ref) as path:
        return loader(path)


def _require_shipped(loader: Callable[[Path], Any]) -> Any:
    """`loader` applied to the shipped calibrated file; CalibrationError when none is shipped."""
    from .calibration import CalibrationError

    value = _load_shipped(loader)
    if value is None:
        raise CalibrationError(
            f"no calibrated set is shipped with this installation (pdmodel/{_CALIBRATED}); "
            "create one with `pdmodel fit --out FILE.json` and load it with "
            "pdmodel.load_parameters(FILE.json) or pdmodel.calibration.load_fit(FILE.json)"
        )
    return value


#: How reports name the shipped calibrated set.
SHIPPED_LABEL = f"shipped calibrated set (pdmodel/{_CALIBRATED})"


def calibrated_parameters() -> ParameterSet:
    """The shipped calibrated parameter set (also available as ``pdmodel.calibrated_parameters``).

    The maximum a posteriori estimate of ``pdmodel fit`` on the default trials (``wu2016`` and
    ``wei2016_prednisone``), read from ``pdmodel/data/calibrated.json``; the command that
    regenerates it and the fit report are in docs/calibration.md.  These are the parameters to
    simulate with; :func:`pdmodel.default_parameters` are the sourced table values before
    calibration.

    Returns
    -------
    ParameterSet
        Every parameter's value, in the unit of the parameter table (the estimates for the
        free parameters, the table values for the others).  Standard errors, intervals and
        correlations of the estimates: :func:`shipped_fit`.

    Raises
    ------
    CalibrationError
        If this installation ships no calibrated set.
    """
    return cast("ParameterSet", _require_shipped(load_parameters))


def shipped_parameters() -> tuple[ParameterSet, str]:
    """The parameter set `reproduce` uses by default, and where it comes from.

    The calibrated set (:func:`calibrated_parameters`) when the package ships one, else the
    parameter table's defaults.

    Returns
    -------
    ParameterSet
        The values.
    str
        ``"calibrated"`` or ``"table"``.
    """
    params = _load_shipped(load_parameters)
    if params is not None:
        return params, SHIPPED_LABEL
    return default_parameters(), "parameter-table defaults (no calibrated set is shipped yet)"


def resolve_parameters(spec: str | None, default: str = "calibrated") -> tuple[ParameterSet, str]:
    """The parameter set named by a ``--params`` argument, and a label saying where it is from.

    Parameters
    ----------
    spec : str or None
        A JSON/CSV parameter file, ``"calibrated"`` (:func:`calibrated_parameters`) or
        ``"table"`` (:func:`pdmodel.default_parameters`); None means `default`.
    default : {"calibrated", "table"}
        What None means.

    Returns
    -------
    (ParameterSet, str)
        The parameters and a label for reports (e.g. ``"file fitted.json"``).
    """
    key = default if spec is None else spec
    if key == "calibrated":
        return shipped_parameters()
    if key == "table":
        return default_parameters(), _TABLE_LABEL
    return load_parameters(_existing(key)), f"file {key}"


_TABLE_LABEL = "parameter-table values (before calibration)"


def _existing(key: str) -> str:
    """`key` if it names an existing file; else the error that lists the keywords too."""
    if not Path(key).exists():
        from .errors import ParameterError

        raise ParameterError(
            f"no parameter file {key}: give a JSON or CSV file, `calibrated` (the shipped "
            "calibrated set) or `table` (the parameter table's values)"
        )
    return key


def shipped_fit() -> FitResult:
    """The shipped calibrated set as a fit.

    Estimates, standard errors, correlations, terms and provenance
    (:func:`pdmodel.calibration.load_fit` of ``pdmodel/data/calibrated.json``).

    Returns
    -------
    FitResult
        The shipped fit.

    Raises
    ------
    CalibrationError
        If the package ships no calibrated set.
    """
    from .calibration import load_fit

    return cast("FitResult", _require_shipped(load_fit))


def resolve_fit(spec: str | None, required: bool = True) -> FitResult | None:
    """The fit behind a ``--params`` argument (see :func:`resolve_parameters`).

    ``None`` / ``"calibrated"``: the shipped fit; a file: :func:`pdmodel.calibration.load_fit`.
    With `required` False, None where there is no fit (``"table"``, a CSV file, a JSON file
    written without a fit, no shipped set) instead of a CalibrationError.

    Parameters
    ----------
    spec : str or None
        The ``--params`` argument.
    required : bool
        Raise when there is no fit.

    Returns
    -------
    FitResult or None
        The fit, or None where there is none and `required` is False.
    """
    from .calibration import CalibrationError, _read_fit

    if spec in (None, "calibrated"):
        if required:
            return shipped_fit()
        return cast("FitResult | None", _load_shipped(lambda path: _read_fit(path, None, False)))
    if spec == "table":
        if required:
            raise CalibrationError("the parameter table's values come with no fit")
        return None
    return _read_fit(_existing(spec), None, required)
