"""Trial designs and findings (files with provenance) and the simulated clinical trial.

A trial file (TOML; the shipped ones are package data, see :func:`available`) holds

* ``id``, ``title``, ``citation``;
* ``[entry]`` criteria (``plt_max``: untreated platelets below this, 10^9/L);
* ``[endpoints]``: an :class:`pdmodel.endpoints.EndpointConfig` (sampling schedule, windows,
  grading, ...);
* ``[[assumption]]`` tables (``key``, ``value``, ``reason``) for everything the source does not
  state;
* ``[[arm]]`` tables (``name``, ``n``, ``description``, and ``[[arm.regimen]]`` entries naming a
  regimen ``builder`` of :mod:`pdmodel.regimens` with its arguments, or ``builder = "course"``
  with the fields of a :class:`pdmodel.regimens.Course`);
* ``[[finding]]`` tables, one published result each (design decision D7):

  ============  =====================================================================
  type          fields
  ============  =====================================================================
  proportion    ``arm``, ``endpoint``, ``n`` and ``k`` or ``rate``
  mean          ``arm``, ``endpoint``, ``n``, ``mean``, ``sd``
  median        ``arm``, ``endpoint``, ``n``, ``median``, optional ``low``, ``high``
  comparison    ``arms = [a, b]``, ``endpoint``, ``direction`` (a ``greater``/``less``/
                ``different`` than b), ``test``, ``alpha``, ``significant``, optional ``p``
  change        ``arm``, ``endpoint`` (a ``*_change`` endpoint), ``direction`` (``greater``
                or ``less`` than zero), ``test = "paired_t"``, ``alpha``, ``significant``,
                optional ``p``
  ============  =====================================================================

  ``p`` is the published two-sided P value of the finding's test, when the source gives one
  (``significant`` may then be left out: it is ``p < alpha``, and must agree if given); the
  calibration then fits to it (:func:`p_value_term`) instead of to the verdict alone.  A key of
  another finding type is an error, not ignored.

  Every finding has a ``source``.

:func:`simulate_trial` enrols a virtual population meeting the entry criteria, simulates every
arm on the same virtual patients, scores them with the trial's endpoint definitions and says, for
each finding, whether the model reproduces it and how likely a replicate trial of the published
size is to reproduce it.

Modules: :mod:`~pdmodel.trials.spec` (the data types), :mod:`~pdmodel.trials.files` (trial
files), :mod:`~pdmodel.trials.simulate` (the simulated trial),
:mod:`~pdmodel.trials.replicate` (replicate-trial statistics of the findings).
"""

from __future__ import annotations

# names with a leading underscore are re-exported for pdmodel.calibration and the tests
from ..errors import TrialError
from .files import available, load, regimen_from_entries
from .replicate import (
    FindingResult,
    evaluate_finding,
    p_value_term,
    replicate_sizes,
)
from .replicate import (
    _typical_p as _typical_p,
)
from .simulate import (
    TrialResult,
    enrol,
    entry_deviates,
    entry_population,
    simulate_trial,
    simulate_trials,
)
from .simulate import _trial_list as _trial_list
from .spec import Arm, Finding, Trial

__all__ = [
    "Arm",
    "Finding",
    "FindingResult",
    "Trial",
    "TrialError",
    "TrialResult",
    "available",
    "enrol",
    "entry_deviates",
    "entry_population",
    "evaluate_finding",
    "load",
    "p_value_term",
    "regimen_from_entries",
    "replicate_sizes",
    "simulate_trial",
    "simulate_trials",
]
