"""Template of the compiled kernels: the Dormand-Prince 5(4) integrator, patient by patient.

This file is not compiled as it stands.  :mod:`pdmodel.model.kernel` generates, for each model,
a module made of the model's right-hand side (``rhs_point``, printed from the model definition)
followed by this file's code below its header, and compiles it with numba (``cache=True``:
later processes load the machine code from the cache next to the generated file).  Every
function works on one patient at a time, so a patient's result does not depend on which other
patients are computed with it, in which order, or on how many threads share the work.  The
kernels release the GIL; :mod:`pdmodel.solver` runs slices of the patients on threads.

The template calls ``rhs_point(y, c, j, par, i, out)``: the derivatives of patient `i` (column
`i` of the packed parameters `par`) at states `y` and drug inputs ``c[j, :]`` into `out`; the
generator rewrites each call to pass the inputs as scalars, ``rhs_point(y, c[j, 0], ...,
c[j, n - 1], par, i, out)``, the signature of the generated function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np


# --- header: the code generator (pdmodel.model.kernel) replaces everything down to the
# "end of header" line with the generated right-hand side's module header.
def _jit(fn: Callable[..., Any]) -> Any:  # pragma: no cover - placeholder
    return fn


N_STATES = 1
N_INPUTS = 1
#: Rows of the states solved in closed form (:attr:`pdmodel.model.Model.exact_states`).
EXACT = np.zeros(0, dtype=np.int64)


def rhs_point(
    y: np.ndarray, c: np.ndarray, j: int, par: np.ndarray, i: int, out: np.ndarray
) -> None:  # pragma: no cover - placeholder
    raise NotImplementedError("the generated module defines the model's right-hand side")


# --- end of header

#: Status codes returned per patient by :func:`segment`.
OK, STEP_LIMIT, UNDERFLOW = 0, 1, 2

# Dormand-Prince 5(4) tableau (Dormand & Prince, J Comput Appl Math 1980;6:19).  The stage
# times c = 18/90, 27/90, 72/90, 80/90, 90/90 share the base exp(-k h / 90) (see `segment`).
_A21 = 1 / 5
_A31, _A32 = 3 / 40, 9 / 40
_A41, _A42, _A43 = 44 / 45, -56 / 15, 32 / 9
_A51, _A52, _A53, _A54 = 19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729
_A61, _A62, _A63, _A64, _A65 = 9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656
_B1, _B3, _B4, _B5, _B6 = 35 / 384, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84
_E1, _E3, _E4, _E5, _E6, _E7 = (
    71 / 57600,
    -71 / 16695,
    71 / 1920,
    -17253 / 339200,
    22 / 525,
    -1 / 40,
)
# continuous extension of order 4 (Hairer, Norsett & Wanner, Solving ODEs I, 2nd ed., II.6;
# the coefficients of their DOPRI5 code)
_D1, _D3, _D4, _D5, _D6, _D7 = (
    -12715105075 / 11282082432,
    87487479700 / 32700410799,
    -10690763975 / 1880347072,
    701980252875 / 199316789632,
    -1453857185 / 822651844,
    69997945 / 29380423,
)


@_jit
def rhs_many(
    y: np.ndarray, c: np.ndarray, par: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """:func:`rhs_point` for every column of `y` (shape ``(N_STATES, n)``) into `out`; the
    drug inputs of patient `i` are ``c[:, i]`` (shape ``(N_INPUTS, n)``)."""
    yi = np.empty(N_STATES)
    di = np.empty(N_STATES)
    ci = np.zeros((1, max(N_INPUTS, 1)))
    for i in range(y.shape[1]):
        for s in range(N_STATES):
            yi[s] = y[s, i]
        for m in range(N_INPUTS):
            ci[0, m] = c[m, i]
        rhs_point(yi, ci, 0, par, i, di)
        for s in range(N_STATES):
            out[s, i] = di[s]


@_jit
def exact_coefficients(y: np.ndarray, par: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Coefficients of the states solved in closed form, shape ``(len(EXACT), N_INPUTS + 2,
    n)``: for exact state ``q`` of patient ``i``, ``[a, b, w_0, ..., w_{M-1}]`` of its rate
    ``a - b s + sum_m w_m c_m``, read off the right-hand side at unit points (exact for an
    affine rate; the other states, which the rate does not read, are taken from `y`)."""
    n = y.shape[1]
    out = np.empty((EXACT.shape[0], N_INPUTS + 2, n))
    yu = np.empty(N_STATES)
    du = np.empty(N_STATES)
    cu = np.zeros((N_INPUTS + 1, max(N_INPUTS, 1)))  # row 0: no drug; row m + 1: unit input m
    for m in range(N_INPUTS):
        cu[m + 1, m] = 1.0
    for i in range(n):
        for q in range(EXACT.shape[0]):
            s = EXACT[q]
            for t in range(N_STATES):
                yu[t] = y[t, i]
            yu[s] = 0.0
            rhs_point(yu, cu, 0, par, i, du)
            a = du[s]
            yu[s] = 1.0
            rhs_point(yu, cu, 0, par, i, du)
            out[q, 0, i] = a
            out[q, 1, i] = a - du[s]
            yu[s] = 0.0
            for m in range(N_INPUTS):
                row = m + 1
                rhs_point(yu, cu, row, par, i, du)
                out[q, 2 + m, i] = du[s] - a
    return out


@_jit
def _exact_stage(
    ys: np.ndarray,
    j: int,
    ok: np.ndarray,
    const: np.ndarray,
    hom: np.ndarray,
    pwb: np.ndarray,
    g: np.ndarray,
    e0: np.ndarray,
    pw: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Set the exact states of `ys` to their closed-form values at stage time `j`."""
    for q in range(EXACT.shape[0]):
        if ok[q]:
            v = const[q] + hom[q] * pwb[q, j]
            for r in range(e0.shape[0]):
                if e0[r] != 0.0:
                    v += g[q, r] * e0[r] * pw[r, j]
            ys[EXACT[q]] = v


@_jit
def _powers(q: float, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out = q**18, q**27, q**72, q**80, q**90`` (the stage times in units of h/90)."""
    q2 = q * q
    q4 = q2 * q2
    q8 = q4 * q4
    q16 = q8 * q8
    q18 = q16 * q2
    q64 = q16 * q16 * q16 * q16
    out[0] = q18
    out[1] = q18 * q8 * q
    out[2] = q64 * q8
    out[3] = q64 * q16
    out[4] = q64 * q16 * q8 * q2


@_jit
def segment(
    y: np.ndarray,
    h: np.ndarray,
    length: float,
    rates: np.ndarray,
    coefs: np.ndarray,
    input_start: np.ndarray,
    par: np.ndarray,
    exact: np.ndarray,
    out_tau: np.ndarray,
    y_out: np.ndarray,
    rtol: float,
    atol: float,
    max_steps: int,
    hmin: float,
    start: int,
    stop: int,
    n_steps: np.ndarray,
    n_rejected: np.ndarray,
    n_rhs: np.ndarray,
    status: np.ndarray,
    where: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Integrate patients ``start..stop-1`` over ``[0, length]`` days of segment time.

    Dormand-Prince 5(4) with first-same-as-last, per-patient step size and error control: the
    error is the RMS over states of ``err / (atol + rtol max(|y|, |y_new|))``; the standard
    controller (safety 0.9, step change limited to [0.2, 10], no growth after a rejection).
    Updates `y` (shape ``(N_STATES, n)``) in place and sets ``h[i]`` to the step size proposed after
    the patient's first accepted step (the next segment starts with it: it follows a dose when
    the segment does).

    Drug inputs are sums of exponentials in segment time: input ``m`` of patient ``i`` is
    ``sum_r coefs[r, i] exp(rates[r] tau)`` over the terms ``input_start[m] <= r <
    input_start[m + 1]`` (the terms are grouped by input, in input order).
    Per step, each term takes one exponential, ``exp(rate h / 90)``: its values at the stage
    times are powers of it times the term at the step start (carried from step to step, so the
    last stages and the next step's start see the same value).

    The states of `EXACT` are not stepped: with `exact` (:func:`exact_coefficients`) their
    rates are ``a - b s + sum_m w_m c_m`` and, the inputs being exponentials, the state is
    ``a / b + sum_r g_r term_r(tau) + D exp(-b tau)`` with ``g_r = w_m / (b - x_r)`` (``x_r`` =
    ``-rates[r]``); the kernel sets it to that value at every stage and leaves it out of the
    error norm.  A patient whose `b` is not positive, or within 0.1% of a present term's rate
    (where the closed form loses digits), has the state stepped like the others instead.

    Interior output times `out_tau` (sorted, in ``(0, length)``) do not end a step: the states
    there are written to ``y_out[k, :, i]`` from the integrator's continuous extension of order
    4 (the exact states from their closed form).

    Per patient the counts of accepted and rejected steps are added to `n_steps`, `n_rejected`,
    the right-hand-side evaluations to `n_rhs`; `status` is `OK`, `STEP_LIMIT` (more than
    `max_steps` attempts) or `UNDERFLOW` (a rejected step below `hmin`), with the segment time
    reached in `where`.
    """
    n_terms = rates.shape[0]
    k0 = np.empty(N_STATES)
    k1 = np.empty(N_STATES)
    k2 = np.empty(N_STATES)
    k3 = np.empty(N_STATES)
    k4 = np.empty(N_STATES)
    k5 = np.empty(N_STATES)
    k6 = np.empty(N_STATES)
    yi = np.empty(N_STATES)
    ys = np.empty(N_STATES)
    y5 = np.empty(N_STATES)
    e0 = np.empty(n_terms)
    pw = np.empty((n_terms, 5))
    # drug inputs at the five stage times (rows 0-4) and at the step start (row 5)
    cs = np.zeros((6, max(N_INPUTS, 1)))
    n_ex = EXACT.shape[0]
    ok = np.zeros(n_ex, dtype=np.bool_)
    const = np.zeros(n_ex)
    hom = np.zeros(n_ex)  # D exp(-b tau) at the step start
    decay = np.zeros(n_ex)  # b
    pwb = np.ones((n_ex, 5))
    g = np.zeros((n_ex, n_terms))
    stepped = np.ones(N_STATES, dtype=np.bool_)
    for i in range(start, stop):
        for s in range(N_STATES):
            yi[s] = y[s, i]
        tau = 0.0
        for m in range(N_INPUTS):
            acc = 0.0
            for r in range(input_start[m], input_start[m + 1]):
                e0[r] = coefs[r, i]  # term r at the step start
                acc += e0[r]
            cs[5, m] = acc
        n_stepped = N_STATES
        for q in range(n_ex):
            a = exact[q, 0, i]
            b = exact[q, 1, i]
            good = b > 0.0 and math.isfinite(a) and math.isfinite(b)
            particular = 0.0
            for m in range(N_INPUTS):
                w = exact[q, 2 + m, i]
                good = good and math.isfinite(w)
                for r in range(input_start[m], input_start[m + 1]):
                    g[q, r] = 0.0
                    if good and w != 0.0 and e0[r] != 0.0:
                        x = -rates[r]
                        if abs(b - x) <= 1e-3 * max(b, abs(x)):
                            good = False
                        else:
                            g[q, r] = w / (b - x)
                            particular += g[q, r] * e0[r]
            ok[q] = good
            stepped[EXACT[q]] = not good
            if good:
                n_stepped -= 1
                decay[q] = b
                const[q] = a / b
                hom[q] = yi[EXACT[q]] - const[q] - particular
        rhs_point(yi, cs, 5, par, i, k0)
        evaluations = 1
        step = min(h[i], length)
        first_h = math.nan
        attempts = 0
        nxt = 0  # next interior output time
        while True:
            attempts += 1
            if attempts > max_steps:
                status[i] = STEP_LIMIT
                break
            hh = min(step, length - tau)
            # drug concentrations at the stage times tau + c hh
            for r in range(n_terms):
                if e0[r] != 0.0:  # (a drug this patient has not had: its terms stay zero)
                    _powers(math.exp(rates[r] * hh / 90.0), pw[r])
            for q in range(n_ex):
                if ok[q]:
                    _powers(math.exp(-decay[q] * hh / 90.0), pwb[q])
            for j in range(5):
                for m in range(N_INPUTS):
                    acc = 0.0
                    for r in range(input_start[m], input_start[m + 1]):
                        if e0[r] != 0.0:
                            acc += e0[r] * pw[r, j]
                    cs[j, m] = acc
            for s in range(N_STATES):
                ys[s] = yi[s] + hh * (_A21 * k0[s])
            if n_ex > 0:
                _exact_stage(ys, 0, ok, const, hom, pwb, g, e0, pw)
            rhs_point(ys, cs, 0, par, i, k1)
            for s in range(N_STATES):
                ys[s] = yi[s] + hh * (_A31 * k0[s] + _A32 * k1[s])
            if n_ex > 0:
                _exact_stage(ys, 1, ok, const, hom, pwb, g, e0, pw)
            rhs_point(ys, cs, 1, par, i, k2)
            for s in range(N_STATES):
                ys[s] = yi[s] + hh * (_A41 * k0[s] + _A42 * k1[s] + _A43 * k2[s])
            if n_ex > 0:
                _exact_stage(ys, 2, ok, const, hom, pwb, g, e0, pw)
            rhs_point(ys, cs, 2, par, i, k3)
            for s in range(N_STATES):
                ys[s] = yi[s] + hh * (_A51 * k0[s] + _A52 * k1[s] + _A53 * k2[s] + _A54 * k3[s])
            if n_ex > 0:
                _exact_stage(ys, 3, ok, const, hom, pwb, g, e0, pw)
            rhs_point(ys, cs, 3, par, i, k4)
            for s in range(N_STATES):
                ys[s] = yi[s] + hh * (
                    _A61 * k0[s] + _A62 * k1[s] + _A63 * k2[s] + _A64 * k3[s]
                    + _A65 * k4[s]
                )  # fmt: skip
            if n_ex > 0:
                _exact_stage(ys, 4, ok, const, hom, pwb, g, e0, pw)
            rhs_point(ys, cs, 4, par, i, k5)
            for s in range(N_STATES):
                y5[s] = yi[s] + hh * (
                    _B1 * k0[s] + _B3 * k2[s] + _B4 * k3[s] + _B5 * k4[s] + _B6 * k5[s]
                )
            if n_ex > 0:
                _exact_stage(y5, 4, ok, const, hom, pwb, g, e0, pw)
            rhs_point(y5, cs, 4, par, i, k6)
            evaluations += 6
            acc = 0.0
            for s in range(N_STATES):
                if not stepped[s]:
                    continue
                err = hh * (
                    _E1 * k0[s] + _E3 * k2[s] + _E4 * k3[s] + _E5 * k4[s]
                    + _E6 * k5[s] + _E7 * k6[s]
                )  # fmt: skip
                ratio = err / (max(abs(yi[s]), abs(y5[s])) * rtol + atol)
                acc += ratio * ratio
            en = math.sqrt(acc / max(n_stepped, 1))
            # non-finite trial values (a step far too large) fail the test and shrink the step
            if math.isfinite(en):
                fac = min(max(0.9 * max(en, 1e-10) ** -0.2, 0.2), 10.0)
            else:
                fac = 0.2
            if math.isfinite(en) and en <= 1.0:
                n_steps[i] += 1
                while nxt < out_tau.shape[0] and out_tau[nxt] <= tau + hh:
                    th = (out_tau[nxt] - tau) / hh
                    th1 = 1.0 - th
                    for s in range(N_STATES):
                        r2 = y5[s] - yi[s]
                        r3 = hh * k0[s] - r2
                        r4 = r2 - hh * k6[s] - r3
                        r5 = hh * (
                            _D1 * k0[s] + _D3 * k2[s] + _D4 * k3[s] + _D5 * k4[s]
                            + _D6 * k5[s] + _D7 * k6[s]
                        )  # fmt: skip
                        y_out[nxt, s, i] = yi[s] + th * (r2 + th1 * (r3 + th * (r4 + th1 * r5)))
                    for q in range(n_ex):
                        if ok[q]:
                            v = const[q] + hom[q] * math.exp(-decay[q] * th * hh)
                            for r in range(n_terms):
                                if e0[r] != 0.0:
                                    v += g[q, r] * e0[r] * math.exp(rates[r] * th * hh)
                            y_out[nxt, EXACT[q], i] = v
                    nxt += 1
                yi, y5 = y5, yi  # (the accepted step's end and last stage start the next)
                k0, k6 = k6, k0
                for r in range(n_terms):  # the terms at the step end, as the last stages saw them
                    if e0[r] != 0.0:
                        e0[r] *= pw[r, 4]
                for q in range(n_ex):
                    hom[q] *= pwb[q, 4]
                reached_end = hh >= length - tau
                tau = length if reached_end else tau + hh
                step = hh * fac
                if math.isnan(first_h):
                    first_h = step
                if reached_end:
                    break
            else:
                n_rejected[i] += 1
                step = hh * min(fac, 1.0)
                if step < hmin:
                    status[i] = UNDERFLOW
                    break
        if status[i] == OK:
            while nxt < out_tau.shape[0]:  # (an output within rounding of the end)
                for s in range(N_STATES):
                    y_out[nxt, s, i] = yi[s]
                nxt += 1
        for s in range(N_STATES):
            y[s, i] = yi[s]
        h[i] = step if math.isnan(first_h) else first_h
        n_rhs[i] += evaluations
        where[i] = tau
