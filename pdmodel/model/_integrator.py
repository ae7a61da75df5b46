"""Template of the compiled kernels: the Dormand-Prince 5(4) integrator over lanes of patients.

This file is not compiled as it stands.  :mod:`pdmodel.model.kernel` generates, for each model,
a module made of the model's right-hand side (``rhs_point`` for one patient, ``rhs_lanes`` for
`LANES` patients side by side, printed from the model definition) followed by this file's code
below its header, with the loops marked ``# unroll`` written out, and compiles it with numba
(``cache=True``: later processes load the machine code from the cache next to the generated
file).

The integrator runs `LANES` patients side by side so that the compiler turns the arithmetic
into vector instructions (one operation on the lanes at once), but each lane is one patient
with its own step sizes, error control and segment time, and a lane whose patient is done
takes the next: the lanes share instructions, not steps.  Every lane runs the same
instructions, so a patient's result does not depend on which other patients are computed with
it, in which lane or order, or on how many threads share the work.  The vector loops read and
write one workspace array at constant offsets (`w`, the `_P` ... `_UNI` blocks), which is what
lets the compiler prove them safe to vectorise; exponentials, logarithms and powers are this
file's own (`_exp`, `_log`, `_pow`), because numba's C-library calls cannot be vectorised.
The kernels release the GIL; :mod:`pdmodel.solver` runs blocks of the patients on threads.

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
from llvmlite import ir
from numba import types
from numba.extending import intrinsic


# --- header: the code generator (pdmodel.model.kernel) replaces everything down to the
# "end of header" line with the generated right-hand side's module header.
def _jit(fn: Callable[..., Any]) -> Any:  # pragma: no cover - placeholder
    return fn


_inline = _jit  # (compiled into its callers: numba.njit(inline="always"))


N_STATES = 1
N_INPUTS = 1
#: Rows of the packed per-patient parameters (:attr:`pdmodel.model.Individuals.packed`).
N_PAR = 1
#: Rows of the states solved in closed form (:attr:`pdmodel.model.Model.exact_states`).
EXACT = np.zeros(0, dtype=np.int64)
N_EXACT = 0
#: Exponential terms per drug input at most (:meth:`pdmodel.pk.DrugState.exponentials`); term
#: ``k`` of input ``m`` has the slot ``TERMS_PER_INPUT m + k`` in the lane integrator.
TERMS_PER_INPUT = 2


def rhs_point(
    y: np.ndarray, c: np.ndarray, j: int, par: np.ndarray, i: int, out: np.ndarray
) -> None:  # pragma: no cover - placeholder
    raise NotImplementedError("the generated module defines the model's right-hand side")


def rhs_lanes(w: np.ndarray) -> None:  # pragma: no cover - placeholder
    raise NotImplementedError("the generated module defines the model's right-hand side")


def lanes_uniform(w: np.ndarray) -> bool:  # pragma: no cover - placeholder
    raise NotImplementedError("the generated module defines the model's right-hand side")


# --- end of header


# --- elementary functions the compiler can vectorise ---------------------------------------
# numba calls the C library for math.exp, math.log and x**p, and a call is the end of
# vectorisation; these are plain arithmetic (IEEE bit manipulation and polynomials), accurate to
# about one unit in the last place, with the C library's results for zero, infinity, NaN and
# negative arguments.  Every exponential, logarithm and power the kernel computes goes through
# them, so the right-hand side of a patient does not depend on which lane computes it.


@intrinsic
def _bits(typingctx: Any, x: Any) -> Any:  # pragma: no cover - compiled
    """The IEEE-754 bits of a float64 as an int64."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _float(typingctx: Any, x: Any) -> Any:  # pragma: no cover - compiled
    """The float64 whose IEEE-754 bits are the int64 `x`."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


_LN2_HI = 6.93147180369123816490e-01  # ln 2 = _LN2_HI + _LN2_LO (fdlibm's split)
_LN2_LO = 1.90821492927058770002e-10
_LOG2E = 1.4426950408889634


@_inline
def _exp(x: float) -> float:  # pragma: no cover - compiled
    """exp(x): x = n ln 2 + r with |r| <= ln 2 / 2, Taylor polynomial of degree 13 in r
    (truncation below 4e-18), times 2**n built from its bits in two halves (so that
    results down to the subnormal range stay exact)."""
    xc = min(max(x, -746.0), 710.0)
    n = math.floor(xc * _LOG2E + 0.5)
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 + r * (
        1.0
        + r
        * (
            0.5
            + r
            * (
                1 / 6
                + r
                * (
                    1 / 24
                    + r
                    * (
                        1 / 120
                        + r
                        * (
                            1 / 720
                            + r
                            * (
                                1 / 5040
                                + r
                                * (
                                    1 / 40320
                                    + r
                                    * (
                                        1 / 362880
                                        + r
                                        * (
                                            1 / 3628800
                                            + r
                                            * (1 / 39916800 + r * (1 / 479001600 + r / 6227020800))
                                        )
                                    )
                                )
                            )
                        )
                    )
                )
            )
        )
    )
    k = np.int64(n)
    k1 = k >> 1
    v = p * _float((k1 + 1023) << 52) * _float((k - k1 + 1023) << 52)  # type: ignore[call-arg]
    v = math.inf if x > 709.782712893384 else v
    v = 0.0 if x < -745.1332191019412 else v
    return x if x != x else v  # (NaN)


@_inline
def _log(x: float) -> float:  # pragma: no cover - compiled
    """log(x): x = 2**e m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m - 1) / (m +
    1) (|s| < 0.172, series to s**21: truncation below 1e-19); subnormals scaled first."""
    tiny = x < 2.2250738585072014e-308
    xs = x * 18014398509481984.0 if tiny else x  # 2**54
    b = np.int64(_bits(xs))  # type: ignore[call-arg]
    e = np.float64(((b >> 52) & 0x7FF) - 1023) - (54.0 if tiny else 0.0)
    m = _float((b & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > 1.4142135623730951
    m = m * 0.5 if big else m
    e = e + 1.0 if big else e
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    p = 2.0 * s + 2.0 * s * s2 * (
        1 / 3
        + s2
        * (
            1 / 5
            + s2
            * (
                1 / 7
                + s2
                * (
                    1 / 9
                    + s2
                    * (
                        1 / 11
                        + s2 * (1 / 13 + s2 * (1 / 15 + s2 * (1 / 17 + s2 * (1 / 19 + s2 / 21))))
                    )
                )
            )
        )
    )
    v = e * _LN2_HI + (p + e * _LN2_LO)
    v = v if x > 0.0 else (-math.inf if x == 0.0 else math.nan)
    return v if x < math.inf else x  # (infinity, NaN)


@_inline
def _pow(x: float, p: float) -> float:  # pragma: no cover - compiled
    """x**p: squares when p is 2 (a Hill exponent often is), else exp(p log|x|) with the sign
    of an odd whole power of a negative x (NaN for a fractional one, as numpy)."""
    if p == 2.0:
        return x * x
    if p == 1.0:
        return x
    if p == 0.0:
        return 1.0
    a = _exp(p * _log(abs(x)))
    if x < 0.0:
        whole = math.floor(p) == p
        if not whole:
            return math.nan
        return -a if math.floor(p * 0.5) * 2.0 != p else a
    return a


@_inline
def _hypot(x: float, y: float) -> float:  # pragma: no cover - compiled
    """sqrt(x**2 + y**2) without overflow or underflow of the squares."""
    a = abs(x)
    b = abs(y)
    hi = max(a, b)
    lo = min(a, b)
    q = lo / hi if hi > 0.0 else 0.0
    v = hi * math.sqrt(1.0 + q * q)
    return math.inf if (a == math.inf or b == math.inf) else v


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


# --- the lane integrator ---------------------------------------------------------------------
#: Patients integrated side by side by :func:`segment` (two AVX-512 vectors of doubles, four
#: AVX2 vectors; 16 measured 9% faster than 8 and 3% faster than 32 on the development
#: machine).  Each lane is one patient with its own step size, step control and segment time;
#: the lanes share only the instructions, so a patient's result is the same in any lane,
#: beside any other patients.  A lane whose patient is done takes the next one.
LANES = 16
_NI = max(N_INPUTS, 1)
_NT = TERMS_PER_INPUT * _NI
_NX = max(N_EXACT, 1)
# The lane workspace `w` of `segment`: blocks of rows of LANES values at fixed offsets, so that
# the compiler sees every access as a constant offset into one array and vectorises the loops
# over the lanes (their inner loops marked "unroll" are written out by the code generator).
_P = 0  # packed parameters (N_PAR rows): what rhs_lanes reads
_YS = _P + N_PAR * LANES  # rhs_lanes: states in
_C = _YS + N_STATES * LANES  # rhs_lanes: drug inputs in (_NI rows)
_O = _C + _NI * LANES  # rhs_lanes: derivatives out
_YI = _O + N_STATES * LANES  # states at the step start
_Y5 = _YI + N_STATES * LANES  # states at the step end
_K0 = _Y5 + N_STATES * LANES  # stage derivatives k0 ... k6
_K1 = _K0 + N_STATES * LANES
_K2 = _K1 + N_STATES * LANES
_K3 = _K2 + N_STATES * LANES
_K4 = _K3 + N_STATES * LANES
_K5 = _K4 + N_STATES * LANES
_K6 = _O  # (the last stage's derivatives stay where rhs_lanes wrote them)
_MS = _K5 + N_STATES * LANES  # 1.0 for a state in the error norm, else 0.0
_RT = _MS + N_STATES * LANES  # each term slot's rate (the same in every lane)
_TP = _RT + _NT * LANES  # 1.0 for a term slot of the call (_NT values)
_E0 = _TP + _NT  # each term at the step start
_PW = _E0 + _NT * LANES  # each term's factor from the step start to the five stage times
_CS = _PW + 5 * _NT * LANES  # drug inputs at the five stage times (5 x _NI rows)
_G = _CS + 5 * _NI * LANES  # the exact states' term coefficients (_NX x _NT rows)
_XV = _G + _NX * _NT * LANES  # exact states at the five stage times (5 x _NX rows)
_XOK = _XV + 5 * _NX * LANES  # 1.0 where the exact state is in closed form (_NX rows)
_XC = _XOK + _NX * LANES  # its constant a / b
_XH = _XC + _NX * LANES  # its homogeneous term D exp(-b tau) at the step start
_XB = _XH + _NX * LANES  # its decay rate b
_XP = _XB + _NX * LANES  # exp(-b h) of the step (for the step end)
_HH = _XP + _NX * LANES  # the step size
_NS = _HH + LANES  # the number of stepped states
_EN = _NS + LANES  # the error norm of the step
_FAC = _EN + LANES  # the factor of the next step size
_ACC = _FAC + LANES  # 1.0 where the step is accepted
_UNI = _ACC + LANES  # 1.0 when every lane's choices on parameters take the cheap side
_NW = _UNI + 1


@_inline
def _powers5(q: float) -> tuple[float, float, float, float, float]:  # pragma: no cover - compiled
    """``q**18, q**27, q**72, q**80, q**90`` (the stage times in units of h/90)."""
    q2 = q * q
    q4 = q2 * q2
    q8 = q4 * q4
    q16 = q8 * q8
    q18 = q16 * q2
    q64 = q16 * q16 * q16 * q16
    return q18, q18 * q8 * q, q64 * q8, q64 * q16, q64 * q16 * q8 * q2


@_jit
def _lane_inputs(w: np.ndarray) -> None:  # pragma: no cover - compiled
    """Drug inputs (block `_CS`) and exact states (`_XV`) at the five stage times of every
    lane's step ``w[_HH]``, with each term's factors over them (`_PW`; row 4: the whole step).
    Term slots that no patient of the call has (``w[_TP + t]`` zero) are skipped."""
    for ln in range(LANES):
        hh = w[_HH + ln]
        for m in range(N_INPUTS):  # unroll
            w[_CS + (0 * _NI + m) * LANES + ln] = 0.0
            w[_CS + (1 * _NI + m) * LANES + ln] = 0.0
            w[_CS + (2 * _NI + m) * LANES + ln] = 0.0
            w[_CS + (3 * _NI + m) * LANES + ln] = 0.0
            w[_CS + (4 * _NI + m) * LANES + ln] = 0.0
        for q in range(N_EXACT):  # unroll
            p0, p1, p2, p3, p4 = _powers5(_exp(-w[_XB + q * LANES + ln] * hh / 90.0))
            cq = w[_XC + q * LANES + ln]
            hq = w[_XH + q * LANES + ln]
            w[_XV + (0 * _NX + q) * LANES + ln] = cq + hq * p0
            w[_XV + (1 * _NX + q) * LANES + ln] = cq + hq * p1
            w[_XV + (2 * _NX + q) * LANES + ln] = cq + hq * p2
            w[_XV + (3 * _NX + q) * LANES + ln] = cq + hq * p3
            w[_XV + (4 * _NX + q) * LANES + ln] = cq + hq * p4
            w[_XP + q * LANES + ln] = p4
    for t in range(_NT):  # unroll
        if w[_TP + t] != 0.0:
            _lane_term(w, t)


@_inline
def _lane_term(w: np.ndarray, t: int) -> None:  # pragma: no cover - compiled
    """Term slot `t` into the drug inputs and exact states at the stage times (see
    :func:`_lane_inputs`)."""
    for ln in range(LANES):
        p0, p1, p2, p3, p4 = _powers5(_exp(w[_RT + t * LANES + ln] * w[_HH + ln] / 90.0))
        w[_PW + (t * 5 + 0) * LANES + ln] = p0
        w[_PW + (t * 5 + 1) * LANES + ln] = p1
        w[_PW + (t * 5 + 2) * LANES + ln] = p2
        w[_PW + (t * 5 + 3) * LANES + ln] = p3
        w[_PW + (t * 5 + 4) * LANES + ln] = p4
        c = w[_E0 + t * LANES + ln]
        w[_CS + (0 * _NI + t // TERMS_PER_INPUT) * LANES + ln] += c * p0
        w[_CS + (1 * _NI + t // TERMS_PER_INPUT) * LANES + ln] += c * p1
        w[_CS + (2 * _NI + t // TERMS_PER_INPUT) * LANES + ln] += c * p2
        w[_CS + (3 * _NI + t // TERMS_PER_INPUT) * LANES + ln] += c * p3
        w[_CS + (4 * _NI + t // TERMS_PER_INPUT) * LANES + ln] += c * p4
        for q in range(N_EXACT):  # unroll
            gc = w[_G + (q * _NT + t) * LANES + ln] * c
            w[_XV + (0 * _NX + q) * LANES + ln] += gc * p0
            w[_XV + (1 * _NX + q) * LANES + ln] += gc * p1
            w[_XV + (2 * _NX + q) * LANES + ln] += gc * p2
            w[_XV + (3 * _NX + q) * LANES + ln] += gc * p3
            w[_XV + (4 * _NX + q) * LANES + ln] += gc * p4


@_inline
def _lane_stage(w: np.ndarray, ln: int, j: int) -> None:  # pragma: no cover - compiled
    """Lane `ln` of rhs_lanes' input rows at stage time `j`: the drug inputs, and the exact
    states where their closed form holds."""
    for m in range(N_INPUTS):  # unroll
        w[_C + m * LANES + ln] = w[_CS + (j * _NI + m) * LANES + ln]
    for q in range(N_EXACT):  # unroll
        stepped = w[_YS + EXACT[q] * LANES + ln]
        closed = w[_XV + (j * _NX + q) * LANES + ln]
        w[_YS + EXACT[q] * LANES + ln] = closed if w[_XOK + q * LANES + ln] != 0.0 else stepped


@_jit
def _lane_error(w: np.ndarray, rtol: float, atol: float) -> None:  # pragma: no cover - compiled
    """The error norm of each lane's step, the RMS over the stepped states of the scaled
    errors, into ``w[_EN]``, and the factor of the next step size into ``w[_FAC]``: the standard
    controller (safety 0.9, change limited to [0.2, 10]); non-finite trial values (a step far
    too large) give NaN and 0.2, which fail the test and shrink the step."""
    for ln in range(LANES):
        hh = w[_HH + ln]
        acc = 0.0
        for s in range(N_STATES):  # unroll
            err = hh * (
                _E1 * w[_K0 + s * LANES + ln] + _E3 * w[_K2 + s * LANES + ln]
                + _E4 * w[_K3 + s * LANES + ln] + _E5 * w[_K4 + s * LANES + ln]
                + _E6 * w[_K5 + s * LANES + ln] + _E7 * w[_K6 + s * LANES + ln]
            )  # fmt: skip
            scale = max(abs(w[_YI + s * LANES + ln]), abs(w[_Y5 + s * LANES + ln])) * rtol + atol
            ratio = err / scale
            acc += ratio * ratio if w[_MS + s * LANES + ln] != 0.0 else 0.0
        en = math.sqrt(acc / max(w[_NS + ln], 1.0))
        fac = min(max(0.9 * _exp(-0.2 * _log(max(en, 1e-10))), 0.2), 10.0)
        finite = en < math.inf  # (False for NaN)
        w[_EN + ln] = en if finite else math.nan
        w[_FAC + ln] = fac if finite else 0.2


@_jit
def _lane_steps(w: np.ndarray) -> None:  # pragma: no cover - compiled
    """The six stages of every lane's step (the seventh is the next step's first).  Each loop
    keeps the derivatives rhs_lanes just wrote, forms the next stage's states and inputs."""
    for ln in range(LANES):
        hh = w[_HH + ln]
        for s in range(N_STATES):  # unroll
            x = s * LANES + ln
            w[_YS + x] = w[_YI + x] + hh * (_A21 * w[_K0 + x])
        _lane_stage(w, ln, 0)
    rhs_lanes(w)
    for ln in range(LANES):
        hh = w[_HH + ln]
        for s in range(N_STATES):  # unroll
            x = s * LANES + ln
            k1 = w[_O + x]
            w[_K1 + x] = k1
            w[_YS + x] = w[_YI + x] + hh * (_A31 * w[_K0 + x] + _A32 * k1)
        _lane_stage(w, ln, 1)
    rhs_lanes(w)
    for ln in range(LANES):
        hh = w[_HH + ln]
        for s in range(N_STATES):  # unroll
            x = s * LANES + ln
            k2 = w[_O + x]
            w[_K2 + x] = k2
            w[_YS + x] = w[_YI + x] + hh * (_A41 * w[_K0 + x] + _A42 * w[_K1 + x] + _A43 * k2)
        _lane_stage(w, ln, 2)
    rhs_lanes(w)
    for ln in range(LANES):
        hh = w[_HH + ln]
        for s in range(N_STATES):  # unroll
            x = s * LANES + ln
            k3 = w[_O + x]
            w[_K3 + x] = k3
            w[_YS + x] = w[_YI + x] + hh * (
                _A51 * w[_K0 + x] + _A52 * w[_K1 + x] + _A53 * w[_K2 + x] + _A54 * k3
            )
        _lane_stage(w, ln, 3)
    rhs_lanes(w)
    for ln in range(LANES):
        hh = w[_HH + ln]
        for s in range(N_STATES):  # unroll
            x = s * LANES + ln
            k4 = w[_O + x]
            w[_K4 + x] = k4
            w[_YS + x] = w[_YI + x] + hh * (
                _A61 * w[_K0 + x] + _A62 * w[_K1 + x] + _A63 * w[_K2 + x]
                + _A64 * w[_K3 + x] + _A65 * k4
            )  # fmt: skip
        _lane_stage(w, ln, 4)
    rhs_lanes(w)
    for ln in range(LANES):
        hh = w[_HH + ln]
        for s in range(N_STATES):  # unroll
            x = s * LANES + ln
            k5 = w[_O + x]
            w[_K5 + x] = k5
            w[_YS + x] = w[_YI + x] + hh * (
                _B1 * w[_K0 + x] + _B3 * w[_K2 + x] + _B4 * w[_K3 + x]
                + _B5 * w[_K4 + x] + _B6 * k5
            )  # fmt: skip
        _lane_stage(w, ln, 4)
        for s in range(N_STATES):  # unroll
            w[_Y5 + s * LANES + ln] = w[_YS + s * LANES + ln]
    rhs_lanes(w)  # (k6, in the block _K6 = _O)


@_jit
def _lane_advance(w: np.ndarray) -> None:  # pragma: no cover - compiled
    """The accepted steps' end and last stage start the lanes' next step; their terms and
    exact states move to the step end, as the last stages saw them."""
    for ln in range(LANES):
        a = w[_ACC + ln] != 0.0
        for s in range(N_STATES):  # unroll
            x = s * LANES + ln
            yi = w[_YI + x]
            k0 = w[_K0 + x]
            y5 = w[_Y5 + x]
            k6 = w[_K6 + x]
            w[_YI + x] = y5 if a else yi
            w[_K0 + x] = k6 if a else k0
        for t in range(_NT):  # unroll
            c = w[_E0 + t * LANES + ln]
            w[_E0 + t * LANES + ln] = c * w[_PW + (t * 5 + 4) * LANES + ln] if a else c
        for q in range(N_EXACT):  # unroll
            hq = w[_XH + q * LANES + ln]
            w[_XH + q * LANES + ln] = hq * w[_XP + q * LANES + ln] if a else hq


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
    the segment does).  `LANES` patients are integrated side by side, each with its own steps;
    a lane whose patient is done takes the next.

    Drug inputs are sums of exponentials in segment time: input ``m`` of patient ``i`` is
    ``sum_r coefs[r, i] exp(rates[r] tau)`` over the terms ``input_start[m] <= r <
    input_start[m + 1]`` (the terms are grouped by input, in input order; at most
    `TERMS_PER_INPUT` per input).  Per step, each term takes one exponential,
    ``exp(rate h / 90)``: its values at the stage times are powers of it times the term at the
    step start (carried from step to step, so the last stages and the next step's start see
    the same value).

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
    w = np.zeros(_NW)
    slot = np.zeros(max(rates.shape[0], 1), dtype=np.int64)  # the term slot of each term
    for m in range(N_INPUTS):
        for r in range(input_start[m], input_start[m + 1]):
            slot[r] = TERMS_PER_INPUT * m + r - input_start[m]
            w[_TP + slot[r]] = 1.0
            for ln in range(LANES):
                w[_RT + slot[r] * LANES + ln] = rates[r]
    pid = np.full(LANES, -1, dtype=np.int64)
    done = np.zeros(LANES, dtype=np.bool_)
    tau = np.zeros(LANES)
    step = np.zeros(LANES)
    first_h = np.zeros(LANES)
    yp = np.empty(N_STATES)  # one patient's states, inputs and derivatives
    cp = np.zeros((1, _NI))
    kp = np.empty(N_STATES)
    attempts = np.zeros(LANES, dtype=np.int64)
    evaluations = np.zeros(LANES, dtype=np.int64)
    nxt = np.zeros(LANES, dtype=np.int64)  # next interior output time
    upcoming = start
    while True:
        # retire the lanes whose patient is done and give them the next patients
        busy = 0
        loaded = False
        for ln in range(LANES):
            if pid[ln] >= 0 and done[ln]:
                i = pid[ln]
                if status[i] == OK:
                    while nxt[ln] < out_tau.shape[0]:  # (an output within rounding of the end)
                        for s in range(N_STATES):
                            y_out[nxt[ln], s, i] = w[_YI + s * LANES + ln]
                        nxt[ln] += 1
                for s in range(N_STATES):
                    y[s, i] = w[_YI + s * LANES + ln]
                h[i] = step[ln] if math.isnan(first_h[ln]) else first_h[ln]
                n_rhs[i] += evaluations[ln]
                where[i] = tau[ln]
                pid[ln] = -1
            if pid[ln] < 0 and upcoming < stop:
                i = upcoming
                upcoming += 1
                _lane_load(w, ln, i, y, coefs, input_start, rates, slot, par, exact)
                loaded = True
                pid[ln] = i
                done[ln] = False
                tau[ln] = 0.0
                attempts[ln] = 0
                evaluations[ln] = 1
                nxt[ln] = 0
                first_h[ln] = math.nan
                step[ln] = min(h[i], length)
                # the first-same-as-last derivative of the new patient
                for s in range(N_STATES):
                    yp[s] = w[_YI + s * LANES + ln]
                for m in range(N_INPUTS):
                    cp[0, m] = w[_C + m * LANES + ln]
                rhs_point(yp, cp, 0, par, i, kp)
                for s in range(N_STATES):
                    w[_K0 + s * LANES + ln] = kp[s]
            if pid[ln] >= 0:
                busy += 1
        if busy == 0:
            break
        if loaded:
            w[_UNI] = 1.0 if lanes_uniform(w) else 0.0

        # the step of every lane (a lane without a patient steps by 0 on its last values)
        for ln in range(LANES):
            hh = 0.0
            if pid[ln] >= 0 and not done[ln]:
                attempts[ln] += 1
                if attempts[ln] > max_steps:
                    status[pid[ln]] = STEP_LIMIT
                    done[ln] = True
                else:
                    hh = min(step[ln], length - tau[ln])
            w[_HH + ln] = hh
        _lane_inputs(w)
        _lane_steps(w)
        _lane_error(w, rtol, atol)

        # accept or reject, lane by lane
        for ln in range(LANES):
            w[_ACC + ln] = 0.0
            if pid[ln] < 0 or done[ln]:
                continue
            i = pid[ln]
            hh = w[_HH + ln]
            evaluations[ln] += 6
            fac = w[_FAC + ln]
            if w[_EN + ln] <= 1.0:  # (False for NaN)
                n_steps[i] += 1
                t0 = tau[ln]
                while nxt[ln] < out_tau.shape[0] and out_tau[nxt[ln]] <= t0 + hh:
                    _lane_output(w, ln, nxt[ln], i, (out_tau[nxt[ln]] - t0) / hh, y_out)
                    nxt[ln] += 1
                w[_ACC + ln] = 1.0
                reached_end = hh >= length - t0
                tau[ln] = length if reached_end else t0 + hh
                step[ln] = hh * fac
                if math.isnan(first_h[ln]):
                    first_h[ln] = step[ln]
                if reached_end:
                    done[ln] = True
            else:
                n_rejected[i] += 1
                step[ln] = hh * min(fac, 1.0)
                if step[ln] < hmin:
                    status[i] = UNDERFLOW
                    done[ln] = True
        _lane_advance(w)


@_jit
def _lane_load(
    w: np.ndarray,
    ln: int,
    i: int,
    y: np.ndarray,
    coefs: np.ndarray,
    input_start: np.ndarray,
    rates: np.ndarray,
    slot: np.ndarray,
    par: np.ndarray,
    exact: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Put patient `i` in lane `ln`: parameters, states, terms and the exact states' closed
    form (see :func:`segment`)."""
    for k in range(N_PAR):
        w[_P + k * LANES + ln] = par[k, i]
    for s in range(N_STATES):
        w[_YI + s * LANES + ln] = y[s, i]
        w[_YS + s * LANES + ln] = y[s, i]
        w[_MS + s * LANES + ln] = 1.0
    w[_NS + ln] = N_STATES
    for t in range(_NT):
        w[_E0 + t * LANES + ln] = 0.0
    for m in range(N_INPUTS):
        acc = 0.0
        for r in range(input_start[m], input_start[m + 1]):
            w[_E0 + slot[r] * LANES + ln] = coefs[r, i]
            acc += coefs[r, i]
        w[_C + m * LANES + ln] = acc  # (the inputs at the step start, for k0)
    for q in range(N_EXACT):
        for t in range(_NT):
            w[_G + (q * _NT + t) * LANES + ln] = 0.0
        a = exact[q, 0, i]
        b = exact[q, 1, i]
        good = b > 0.0 and math.isfinite(a) and math.isfinite(b)
        particular = 0.0
        for m in range(N_INPUTS):
            wm = exact[q, 2 + m, i]
            good = good and math.isfinite(wm)
            for r in range(input_start[m], input_start[m + 1]):
                c = coefs[r, i]
                if good and wm != 0.0 and c != 0.0:
                    x = -rates[r]
                    if abs(b - x) <= 1e-3 * max(b, abs(x)):
                        good = False
                    else:
                        gq = wm / (b - x)
                        w[_G + (q * _NT + slot[r]) * LANES + ln] = gq
                        particular += gq * c
        if good:
            w[_MS + EXACT[q] * LANES + ln] = 0.0
            w[_NS + ln] -= 1.0
            w[_XOK + q * LANES + ln] = 1.0
            w[_XB + q * LANES + ln] = b
            w[_XC + q * LANES + ln] = a / b
            w[_XH + q * LANES + ln] = y[EXACT[q], i] - a / b - particular
        else:
            w[_XOK + q * LANES + ln] = 0.0
            w[_XB + q * LANES + ln] = 0.0
            w[_XC + q * LANES + ln] = 0.0
            w[_XH + q * LANES + ln] = 0.0
            for t in range(_NT):
                w[_G + (q * _NT + t) * LANES + ln] = 0.0


@_jit
def _lane_output(
    w: np.ndarray, ln: int, k: int, i: int, th: float, y_out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """States of lane `ln` (patient `i`) at the fraction `th` of its accepted step into
    ``y_out[k, :, i]``: the continuous extension, the exact states from their closed form."""
    hh = w[_HH + ln]
    th1 = 1.0 - th
    for s in range(N_STATES):
        x = s * LANES + ln
        yi = w[_YI + x]
        r2 = w[_Y5 + x] - yi
        r3 = hh * w[_K0 + x] - r2
        r4 = r2 - hh * w[_K6 + x] - r3
        r5 = hh * (
            _D1 * w[_K0 + x] + _D3 * w[_K2 + x] + _D4 * w[_K3 + x]
            + _D5 * w[_K4 + x] + _D6 * w[_K5 + x] + _D7 * w[_K6 + x]
        )  # fmt: skip
        y_out[k, s, i] = yi + th * (r2 + th1 * (r3 + th * (r4 + th1 * r5)))
    for q in range(N_EXACT):
        if w[_XOK + q * LANES + ln] != 0.0:
            v = w[_XC + q * LANES + ln] + w[_XH + q * LANES + ln] * _exp(
                -w[_XB + q * LANES + ln] * th * hh
            )
            for t in range(_NT):
                c = w[_E0 + t * LANES + ln]
                if c != 0.0:
                    v += (
                        w[_G + (q * _NT + t) * LANES + ln]
                        * c
                        * _exp(w[_RT + t * LANES + ln] * th * hh)
                    )
            y_out[k, EXACT[q], i] = v
