"""Optional accelerator backend: the model's right-hand side in JAX, for a GPU.

``pdmodel.simulate(..., method="jax")`` integrates each segment with JAX: the right-hand side is
the model definition's numpy printing (the code of :meth:`pdmodel.model.Model.reference_rhs`)
evaluated with ``jax.numpy``, the drug inputs are the same exponential terms the compiled engine
uses, and every patient is integrated with its own adaptive step size by JAX's Dormand-Prince
5(4) (``jax.experimental.ode.odeint``) under ``vmap``, in 64-bit floating point, on JAX's
default device (a GPU when JAX has one, else the CPU).  The event loop, dosing, rules and
observables are the engine's own, so the results are those of ``method="dopri5"`` to the
integration tolerance.

JAX is not a dependency: install it with ``pip install "pdmodel[jax]"`` (CPU) or JAX's own
instructions for a GPU.  Without it, ``method="jax"`` fails with an error saying so and
everything else works.  Step counts are not reported by this backend (zeros, as for the scipy
methods).  ``benchmarks/population.py`` prints its speed next to the compiled engine's.  JAX
starts threads when it first runs: a process pool forked afterwards in the same process (e.g.
``workers=`` of the calibration functions) gets JAX's warning that fork may deadlock, so keep
JAX runs and forked pools in separate processes.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import OptionError

if TYPE_CHECKING:
    from .model import Individuals, Model

__all__ = ["available", "device_kind"]


def available() -> bool:
    """Whether JAX can be imported (the ``jax`` method is usable).

    Returns
    -------
    bool
        True when ``import jax`` succeeds.
    """
    try:
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


def device_kind() -> str | None:
    """The platform of JAX's default device (``"gpu"``, ``"tpu"``, ``"cpu"``), None without JAX.

    Returns
    -------
    str or None
        The platform name.
    """
    if not available():
        return None
    import jax

    return str(jax.devices()[0].platform)


def _jax() -> Any:
    try:
        import jax
    except ImportError:
        raise OptionError(
            'method "jax" needs JAX: pip install "pdmodel[jax]" (or JAX for your GPU), or use '
            'the compiled engine, method="dopri5"'
        ) from None
    return jax


@functools.cache
def _integrator(model: Model, input_start: tuple[int, ...], rtol: float, atol: float) -> Any:
    """A jitted function ``(y0, length, rates, coefs, values) -> y_end`` over patients (axis 0
    of `y0`, `coefs` and the `values` arrays)."""
    jax = _jax()
    import jax.numpy as jnp
    from jax.experimental.ode import odeint

    states = model.state_names
    inputs = model.inputs
    codes = [(a.name, model.expression(a.name)._numpy_code) for a in model.assignments]
    rates = [model.expression(f"rate:{s}")._numpy_code for s in states]
    space = {"np": jnp}

    def rhs(y: Any, tau: Any, exponents: Any, coefs: Any, values: dict[str, Any]) -> Any:
        terms = coefs * jnp.exp(exponents * tau)
        v = dict(values)
        for j, name in enumerate(states):
            v[name] = y[j]
        for m, name in enumerate(inputs):
            v[name] = jnp.sum(terms[input_start[m] : input_start[m + 1]])
        for name, code in codes:
            v[name] = eval(code, space, v)
        return jnp.stack([jnp.asarray(eval(code, space, v), dtype=y.dtype) for code in rates])

    def one(y0: Any, length: Any, exponents: Any, coefs: Any, values: dict[str, Any]) -> Any:
        ts = jnp.stack([jnp.zeros_like(length), length])
        path = odeint(rhs, y0, ts, exponents, coefs, values, rtol=rtol, atol=atol, mxstep=100_000)
        return path[-1]

    return jax.jit(jax.vmap(one, in_axes=(0, None, None, 0, 0)))


def segment(
    model: Model,
    y: np.ndarray,
    length: float,
    exponents: np.ndarray,
    coefs: np.ndarray,
    input_start: np.ndarray,
    ind: Individuals,
    rtol: float,
    atol: float,
) -> np.ndarray:
    """Integrate every patient over ``[0, length]`` days of one segment (engine arguments as
    for the compiled kernel's ``segment``); returns the states at the end, shape
    ``(n_states, n)``."""
    jax = _jax()
    n = y.shape[1]
    names = [p for p in model.kernel_parameters]
    values = {k: np.broadcast_to(np.asarray(ind.values[k], dtype=float), (n,)) for k in names}
    fn = _integrator(model, tuple(int(v) for v in input_start), float(rtol), float(atol))
    with jax.enable_x64(True):
        out = fn(
            np.ascontiguousarray(y.T), np.float64(length), np.asarray(exponents, dtype=float),
            np.ascontiguousarray(coefs.T), values,
        )  # fmt: skip
        out = np.asarray(out, dtype=float).T
    return np.ascontiguousarray(out)
