r"""Calibration of the model to published trial outcomes with lmfit.

The objective is minus twice the log posterior (MAP; design decision D8), summed over the
findings of any list of trials:

* **proportion** (k of n): binomial deviance
  ``2 [k ln(k / n p) + (n - k) ln((n - k) / n (1 - p))]``;
* **mean** (mean, SD, n): ``((mean - mu) / (SD / sqrt(n)))^2``;
* **median** with a range: the same with ``SE = (high - low) / 4 / sqrt(n)``;
* **comparison** / **change**: ``-2 ln P`` where ``P`` is the probability that a replicate
  trial of the published size reaches the published verdict (same direction and significance
  at the published alpha), from the model's predicted per-arm outcome distributions
  (:mod:`pdmodel.stats`); when the finding gives the published P value (``p``), instead
  ``(z - mu)^2``: its z statistic against the replicate trial's mean z statistic under the
  model (:func:`pdmodel.trials.p_value_term`);
* **prior** of every free parameter with a prior: ``((ln theta - ln theta_0) / sd)^2``.

Endpoints are computed with smooth thresholds (:func:`pdmodel.endpoints.smooth_patient_endpoints`,
width 0.05 in log-platelets) on a virtual population drawn once from a fixed seed (common random
numbers), so the objective is a deterministic, continuous function of the parameters.  lmfit's
``least_squares`` sees the square roots of the terms as a residual vector.

Modules: :mod:`~pdmodel.calibration.objective` (terms and the objective),
:mod:`~pdmodel.calibration.fit` (the fit, `FitResult`, fit files),
:mod:`~pdmodel.calibration.uncertainty` (profiles, sensitivity, predictive bands),
:mod:`~pdmodel.calibration.mcmc` (posterior sampling),
:mod:`~pdmodel.calibration.consistency` (findings judged with parameter uncertainty),
:mod:`~pdmodel.calibration.compare` (fitted variants compared); the fit report is
:meth:`FitResult.report`.
"""

from __future__ import annotations

# names with a leading underscore are re-exported for pdmodel.shipped and the tests
from ..errors import CalibrationError
from .compare import compare
from .consistency import BelowHalf, ConsistencyReport, below_half, consistency, joint_probability
from .fit import (
    FitResult,
    check_options,
    fit,
    load_fit,
)
from .fit import _interval95 as _interval95
from .fit import _read_fit as _read_fit
from .fit import _settings as _settings
from .mcmc import SampleResult, sample
from .objective import (
    CALIBRATION_RTOL,
    DEFAULT_FREE,
    DEFAULT_TRIALS,
    FIT_METHODS,
    Objective,
    Term,
)
from .objective import _prior_term as _prior_term
from .uncertainty import (
    chain_draws,
    posterior_draws,
    predictive_bands,
    profile,
    read_chain,
    sensitivity,
)

__all__ = [
    "CALIBRATION_RTOL",
    "DEFAULT_FREE",
    "DEFAULT_TRIALS",
    "FIT_METHODS",
    "BelowHalf",
    "CalibrationError",
    "ConsistencyReport",
    "FitResult",
    "Objective",
    "SampleResult",
    "Term",
    "below_half",
    "chain_draws",
    "check_options",
    "compare",
    "consistency",
    "fit",
    "joint_probability",
    "load_fit",
    "posterior_draws",
    "predictive_bands",
    "profile",
    "read_chain",
    "sample",
    "sensitivity",
]
