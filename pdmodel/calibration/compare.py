"""Comparing fitted model variants: fit to the calibration trials against model size, and the
prediction of the held-out validation trials.

The criterion is stated, not tuned: each variant's ``-2 log L`` of the fitted findings (the
objective without its prior terms), an AIC-like ``-2 log L + 2 k`` with ``k`` its free
parameters, and, when validation trials are given, the ``-2 log L`` of their findings under the
variant's estimate (the same terms as the objective, from a fit that never saw them).  Lower is
better in each column; the columns are shown side by side, not merged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..errors import CalibrationError
from ..trials import Trial
from .fit import FitResult
from .objective import Objective, _designs

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["compare"]


def compare(
    fits: Mapping[str, FitResult],
    validation: Sequence[Trial | str] | None = None,
    n_per_arm: int = 300,
    seed: int = 1,
) -> pd.DataFrame:
    """Table comparing fitted variants (one row each, sorted by the AIC-like column).

    Parameters
    ----------
    fits : mapping of str to FitResult
        Fits by label, e.g. ``{"durable effect": fit_a, "on-drug only": fit_b}``; each fit's
        parameter set carries its model variant.
    validation : sequence of Trial or str, optional
        Held-out trials to score each variant's estimate on.
    n_per_arm : int
        Virtual patients per arm for the validation terms.
    seed : int
        Seed of the validation populations.

    Returns
    -------
    pandas.DataFrame
        Columns ``variant``, ``model``, ``k`` (free parameters), ``neg2logL`` (fitted
        findings), ``aic`` (``neg2logL + 2 k``), ``objective`` (with the priors), and with
        `validation` also ``validation_neg2logL``.
    """
    import pandas as pd

    if not isinstance(fits, Mapping) or not fits:
        raise CalibrationError("`fits` must map labels to FitResult objects (at least one)")
    designs = _designs(validation, ()) if validation is not None else ()
    rows = []
    for label, fit in fits.items():
        if not isinstance(fit, FitResult):
            raise CalibrationError(f"`fits[{label!r}]` must be a FitResult, got {fit!r:.60}")
        k = len(fit.free)
        neg2 = sum(t.value for t in fit.terms if t.kind != "prior")
        row = {
            "variant": label,
            "model": fit.params.model.name,
            "k": k,
            "neg2logL": neg2,
            "aic": neg2 + 2 * k,
            "objective": fit.objective,
        }
        if designs:
            obj = Objective(designs, fit.params, list(fit.free), n_per_arm=n_per_arm, seed=seed)
            row["validation_neg2logL"] = sum(
                t.value for t in obj.terms(fit.params) if t.kind != "prior"
            )
        rows.append(row)
    return pd.DataFrame(rows).sort_values("aic", kind="stable").reset_index(drop=True)
