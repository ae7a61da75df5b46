"""The model: one declarative definition from which everything that evaluates it is generated.

- :mod:`pdmodel.model.spec`: the components (:class:`State`, :class:`RandomEffect`,
  :class:`Constant`, :class:`Assignment`, :class:`Observable`), :class:`Model` and
  :class:`Individuals`;
- :mod:`pdmodel.model.definition`: the models, as data (:func:`default_model`, version 2;
  :func:`model_v1`; :func:`durable_effect_variants`);
- :mod:`pdmodel.model.expressions`: parsing and printing of expressions;
- :mod:`pdmodel.model.kernel`: the generated, compiled right-hand side and integrator;
- :mod:`pdmodel.model.docs`: the generated equations of ``docs/model.md``.

The functions below evaluate the model of the :class:`Individuals` they are given.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from .definition import (
    N_TRANSIT,
    antibody_elimination_variants,
    default_model,
    durable_effect_variants,
    model_v1,
)
from .spec import Assignment, Constant, Individuals, Model, Observable, RandomEffect, State

__all__ = [
    "N_TRANSIT",
    "OBSERVABLES",
    "STATE_NAMES",
    "Assignment",
    "Constant",
    "Individuals",
    "Model",
    "Observable",
    "RandomEffect",
    "State",
    "antibody_elimination_variants",
    "baseline_state",
    "default_model",
    "durable_effect_variants",
    "model_v1",
    "observables",
    "rhs",
]

Array = NDArray[np.float64]

OBSERVABLES: dict[str, str]  #: Observables of the default model, units as shown to users.
STATE_NAMES: tuple[str, ...]  #: State names of the default model, in row order.


def __getattr__(name: str) -> object:
    # built on first use: the drug table (pdmodel.drugs) imports this package's expressions
    if name == "OBSERVABLES":
        return default_model().observable_labels
    if name == "STATE_NAMES":
        return default_model().state_names
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def rhs(
    t: float | Array, y: Array, c: Array | None, ind: Individuals, out: Array | None = None
) -> Array:
    """Right-hand side ``dy/dt`` of the patients' model (compiled; solve_ivp argument order).

    Parameters
    ----------
    t : float or ndarray
        Time, days (not used: the model is autonomous given its inputs).
    y : ndarray, shape (n_states, n)
        States.
    c : ndarray, shape (n_inputs, n), or None
        Drug concentrations (:attr:`Model.inputs`), ng/mL; None: no drug.
    ind : Individuals
        Patient parameters (their model is evaluated).
    out : ndarray, shape (n_states, n), optional
        Array to write the derivatives into.

    Returns
    -------
    ndarray, shape (n_states, n)
        Derivatives, state units per day.
    """
    return _model_of(ind).rhs(t, y, c, ind, out)


def baseline_state(ind: Individuals) -> Array:
    """Untreated steady state of the patients, shape ``(n_states, n)``.

    Parameters
    ----------
    ind : Individuals
        Patient parameters.

    Returns
    -------
    ndarray, shape (n_states, n)
        In the states' units.
    """
    return _model_of(ind).baseline(ind)


def observables(
    y: Array,
    concentrations: Mapping[str, Array],
    ind: Individuals,
    names: tuple[str, ...] | None = None,
) -> dict[str, Array]:
    """Observables from states and drug concentrations (:meth:`Model.evaluate_observables`).

    Parameters
    ----------
    y : ndarray, shape (n_states, n)
        States.
    concentrations : mapping of str to ndarray, shape (n,)
        Concentration (ng/mL) by drug name for the drugs present; absent drugs are zero.
    ind : Individuals
        Patient parameters.
    names : tuple of str, optional
        Observables to compute (default: all of the model's).

    Returns
    -------
    dict of str to ndarray, shape (n,)
        By observable name, in the observables' units.
    """
    return _model_of(ind).evaluate_observables(y, concentrations, ind, names)


def _model_of(ind: Individuals) -> Model:
    from ..errors import OptionError

    if not isinstance(ind, Individuals):
        raise OptionError(f"`ind` must be Individuals, got {type(ind).__name__}")
    return ind.model
