"""The hand-written kernel of version 0.1, kept for one purpose: benchmarks/population.py times
the generated kernel against it side by side (same patients, same tolerances).  It is the
package's former ``pdmodel/_kernel.py`` unchanged but for this paragraph; :func:`adapter` feeds
it the generated kernel's arguments.

Original docstring: compiled per-patient kernels: the model's right-hand side and the
Dormand-Prince integrator.

Compiled once with numba (``cache=True``: later processes load the machine code from the cache
next to this file, or from numba's user cache when the package folder is read-only).  Every
function works on one patient at a time, so a patient's result does not depend on which other
patients are computed with it, in which order, or on how many threads share the work.  The
kernels release the GIL; :mod:`pdmodel.solver` runs slices of the patients on threads.

The model equations exist once, in :func:`rhs_point`; :func:`pdmodel.model.rhs` (the public,
array-valued right-hand side used by the scipy reference solvers) calls it for each patient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

#: Fields of :class:`pdmodel.model.Individuals` in the row order of the packed parameter
#: matrix that the kernels read (population scalars are broadcast to one value per patient).
PACKED_FIELDS: tuple[str, ...] = (
    "kin",
    "kin_fb",
    "teff_drive0",
    "teff_base",
    "il11_ec50",
    "gc_ec50",
    "clone_rd",
    "clone_r",
    "k_ab",
    "fb_gamma",
    "treg_supp",
    "treg_base",
    "il11_smax",
    "th1_k",
    "il11_kpol",
    "clone_death",
    "mac_k",
    "gc_imax_mac",
    "gc_imax_teff",
    "treg_k",
    "gc_smax_treg",
    "gc_kill",
    "ktr",
    "ksen",
    "ab_kdeg",
    "teff_k",
)
(
    _KIN,
    _KIN_FB,
    _TEFF_DRIVE0,
    _TEFF_BASE,
    _IL11_EC50,
    _GC_EC50,
    _CLONE_RD,
    _CLONE_R,
    _K_AB,
    _FB_GAMMA,
    _TREG_SUPP,
    _TREG_BASE,
    _IL11_SMAX,
    _TH1_K,
    _IL11_KPOL,
    _CLONE_DEATH,
    _MAC_K,
    _GC_IMAX_MAC,
    _GC_IMAX_TEFF,
    _TREG_K,
    _GC_SMAX_TREG,
    _GC_KILL,
    _KTR,
    _KSEN,
    _AB_KDEG,
    _TEFF_K,
) = range(len(PACKED_FIELDS))

#: Number of model states (the row layout of :class:`pdmodel.model.State`).
N_STATES = 11

#: Floating-point licence of the compiled code: fused multiply-add only (no reassociation, and
#: NaN and infinity keep their meaning, which the step-size control relies on).
_FASTMATH = {"contract"}


def _compile(fn: Callable[..., Any]) -> Any:
    """Compile `fn` (nopython, GIL released), cached on disk when a cache folder is writable.

    numba refuses ``cache=True`` when neither the package folder nor its user cache folder can
    be written (a read-only installation and home); then the kernel is compiled in each
    process instead (about 1.4 s), rather than `import pdmodel` failing.
    """
    try:
        return numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)(fn)
    except RuntimeError as exc:  # "cannot cache function ...: no locator available"
        if "cannot cache" not in str(exc):
            raise
        return numba.njit(cache=False, nogil=True, fastmath=_FASTMATH)(fn)


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


@_compile
def rhs_point(
    y: np.ndarray, c_gc: float, c_il11: float, par: np.ndarray, i: int, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Derivatives of patient `i` (column `i` of the packed parameters `par`) into `out`.

    `y` holds the patient's 11 states; `c_gc` is the prednisolone-equivalent glucocorticoid and
    `c_il11` the rhIL-11 concentration, ng/mL (0 when the drug is absent: every drug term then
    vanishes exactly).  The equations are those of :mod:`pdmodel.model`.
    """
    mk1 = y[0]
    mk4 = y[3]
    p = y[4]
    mac = y[5]
    clone = y[6]
    ab = y[7]
    teff = y[8]
    treg = y[9]
    th1 = y[10]
    # production influx with bounded feedback (P0/P)^gamma = P0^gamma * exp(-gamma ln P)
    fb_gamma = par[_FB_GAMMA, i]
    if fb_gamma == 0.0:
        influx = par[_KIN, i]
    else:
        influx = math.exp(math.log(p) * -fb_gamma) * par[_KIN_FB, i]
    # effector activation drive, held back by Tregs
    supp = par[_TREG_SUPP, i]
    if supp == 1.0:
        drive = par[_TEFF_DRIVE0, i] / treg
    else:
        drive = (par[_TREG_BASE, i] / treg) ** supp * par[_TEFF_BASE, i]
    # Th1 polarisation: dH/dt = k_H (1 - H) - k_pol E11 H
    dth1 = (1.0 - th1) * par[_TH1_K, i]
    if c_il11 != 0.0:  # (without rhIL-11 every E11 term is exactly zero: skipped)
        e11 = c_il11 / (c_il11 + par[_IL11_EC50, i])
        influx *= e11 * par[_IL11_SMAX, i] + 1.0
        dth1 -= e11 * th1 * par[_IL11_KPOL, i]
    drive *= th1
    # clone: help-driven proliferation (r + d) T/T0 against death d and crowding r B, - kill
    dclone = (
        teff / par[_TEFF_BASE, i] * par[_CLONE_RD, i]
        - par[_CLONE_DEATH, i]
        - clone * par[_CLONE_R, i]
    )
    mac_k = par[_MAC_K, i]
    treg_k = par[_TREG_K, i]
    treg_base = par[_TREG_BASE, i]
    # dM/dt = kM (1 - Imax E) - kM M;  dR/dt = kR R0 (1 + S E) - kR R
    dmac = mac_k - mac * mac_k
    dtreg = treg_k * treg_base - treg * treg_k
    if c_gc != 0.0:  # (likewise the glucocorticoid terms)
        egc = c_gc / (c_gc + par[_GC_EC50, i])
        dclone -= egc * par[_GC_KILL, i]
        dmac = egc * (-mac_k * par[_GC_IMAX_MAC, i]) + mac_k - mac * mac_k
        drive *= egc * -par[_GC_IMAX_TEFF, i] + 1.0
        dtreg = (
            egc * (treg_k * treg_base * par[_GC_SMAX_TREG, i]) + treg_k * treg_base
            - treg * treg_k
        )  # fmt: skip
    dclone *= clone
    # megakaryocyte transit: influx -> MK1 -> ... -> MK4 -> platelets
    ktr = par[_KTR, i]
    out[0] = influx - mk1 * ktr
    out[1] = (y[0] - y[1]) * ktr
    out[2] = (y[1] - y[2]) * ktr
    out[3] = (y[2] - y[3]) * ktr
    # platelets: release - (senescent + antibody x macrophage clearance) P
    out[4] = mk4 * ktr - (ab * mac * par[_K_AB, i] + par[_KSEN, i]) * p
    out[5] = dmac
    out[6] = dclone
    out[7] = (clone * th1 - ab) * par[_AB_KDEG, i]
    out[8] = (drive - teff) * par[_TEFF_K, i]
    out[9] = dtreg
    out[10] = dth1


@_compile
def rhs_many(
    y: np.ndarray, c_gc: np.ndarray, c_il11: np.ndarray, par: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """:func:`rhs_point` for every column of `y` (shape ``(11, n)``) into `out`."""
    yi = np.empty(N_STATES)
    di = np.empty(N_STATES)
    for i in range(y.shape[1]):
        for s in range(N_STATES):
            yi[s] = y[s, i]
        rhs_point(yi, c_gc[i], c_il11[i], par, i, di)
        for s in range(N_STATES):
            out[s, i] = di[s]


@_compile
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


@_compile
def segment_old(
    y: np.ndarray,
    h: np.ndarray,
    length: float,
    rates: np.ndarray,
    coefs: np.ndarray,
    n_gc: int,
    par: np.ndarray,
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
    Updates `y` (shape ``(11, n)``) in place and sets ``h[i]`` to the step size proposed after
    the patient's first accepted step (the next segment starts with it: it follows a dose when
    the segment does).

    Drug inputs are sums of exponentials in segment time: concentration ``sum_r coefs[r, i]
    exp(rates[r] tau)``; rows ``0..n_gc-1`` are the glucocorticoid terms, the rest rhIL-11.
    Per step, each term takes one exponential, ``exp(rate h / 90)``: its values at the stage
    times are powers of it times the term at the step start (carried from step to step, so the
    last stages and the next step's start see the same value).

    Per patient the counts of accepted and rejected steps are added to `n_steps`, `n_rejected`,
    the right-hand-side evaluations to `n_rhs`; `status` is `OK`, `STEP_LIMIT` (more than
    `max_steps` attempts) or `UNDERFLOW` (a rejected step below `hmin`), with the segment time
    reached in `where`.
    """
    n_terms = rates.shape[0]
    k = np.empty((7, N_STATES))
    yi = np.empty(N_STATES)
    ys = np.empty(N_STATES)
    y5 = np.empty(N_STATES)
    e0 = np.empty(n_terms)
    pw = np.empty((n_terms, 5))
    c_gc = np.empty(5)
    c_il11 = np.empty(5)
    for i in range(start, stop):
        for s in range(N_STATES):
            yi[s] = y[s, i]
        tau = 0.0
        g0 = 0.0
        i0 = 0.0
        for r in range(n_terms):
            e0[r] = coefs[r, i]  # term r at the step start
            if r < n_gc:
                g0 += e0[r]
            else:
                i0 += e0[r]
        rhs_point(yi, g0, i0, par, i, k[0])
        evaluations = 1
        step = min(h[i], length)
        first_h = math.nan
        attempts = 0
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
            for j in range(5):
                g = 0.0
                c = 0.0
                for r in range(n_terms):
                    if e0[r] == 0.0:
                        continue
                    if r < n_gc:
                        g += e0[r] * pw[r, j]
                    else:
                        c += e0[r] * pw[r, j]
                c_gc[j] = g
                c_il11[j] = c
            for s in range(N_STATES):
                ys[s] = yi[s] + hh * (_A21 * k[0, s])
            rhs_point(ys, c_gc[0], c_il11[0], par, i, k[1])
            for s in range(N_STATES):
                ys[s] = yi[s] + hh * (_A31 * k[0, s] + _A32 * k[1, s])
            rhs_point(ys, c_gc[1], c_il11[1], par, i, k[2])
            for s in range(N_STATES):
                ys[s] = yi[s] + hh * (_A41 * k[0, s] + _A42 * k[1, s] + _A43 * k[2, s])
            rhs_point(ys, c_gc[2], c_il11[2], par, i, k[3])
            for s in range(N_STATES):
                ys[s] = yi[s] + hh * (
                    _A51 * k[0, s] + _A52 * k[1, s] + _A53 * k[2, s] + _A54 * k[3, s]
                )
            rhs_point(ys, c_gc[3], c_il11[3], par, i, k[4])
            for s in range(N_STATES):
                ys[s] = yi[s] + hh * (
                    _A61 * k[0, s] + _A62 * k[1, s] + _A63 * k[2, s] + _A64 * k[3, s]
                    + _A65 * k[4, s]
                )  # fmt: skip
            rhs_point(ys, c_gc[4], c_il11[4], par, i, k[5])
            for s in range(N_STATES):
                y5[s] = yi[s] + hh * (
                    _B1 * k[0, s] + _B3 * k[2, s] + _B4 * k[3, s] + _B5 * k[4, s] + _B6 * k[5, s]
                )
            rhs_point(y5, c_gc[4], c_il11[4], par, i, k[6])
            evaluations += 6
            acc = 0.0
            for s in range(N_STATES):
                err = hh * (
                    _E1 * k[0, s] + _E3 * k[2, s] + _E4 * k[3, s] + _E5 * k[4, s]
                    + _E6 * k[5, s] + _E7 * k[6, s]
                )  # fmt: skip
                ratio = err / (max(abs(yi[s]), abs(y5[s])) * rtol + atol)
                acc += ratio * ratio
            en = math.sqrt(acc / N_STATES)
            # non-finite trial values (a step far too large) fail the test and shrink the step
            if math.isfinite(en):
                fac = min(max(0.9 * max(en, 1e-10) ** -0.2, 0.2), 10.0)
            else:
                fac = 0.2
            if math.isfinite(en) and en <= 1.0:
                n_steps[i] += 1
                for s in range(N_STATES):
                    yi[s] = y5[s]
                    k[0, s] = k[6, s]
                for r in range(n_terms):  # the terms at the step end, as the last stages saw them
                    if e0[r] != 0.0:
                        e0[r] *= pw[r, 4]
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
        for s in range(N_STATES):
            y[s, i] = yi[s]
        h[i] = step if math.isnan(first_h) else first_h
        n_rhs[i] += evaluations
        where[i] = tau


def adapter(model: Any) -> Any:
    """An object with the generated kernel's interface (``segment`` and the status codes) that
    runs this hand-written kernel (default model only)."""
    import types

    names = model.kernel_parameters
    cache: dict[int, np.ndarray] = {}

    def packed(par: np.ndarray) -> np.ndarray:
        old = cache.get(id(par))
        if old is None:
            row = {n: par[j] for j, n in enumerate(names)}
            row["ksen"] = row["plt_ksen"]
            row["kin_fb"] = row["kin"] * row["plt_base"] ** row["fb_gamma"]
            old = np.ascontiguousarray(np.stack([row[f] for f in PACKED_FIELDS]))
            cache.clear()
            cache[id(par)] = old
        return old

    gc_inputs = (0, 1)  # prednisolone, dexamethasone (weighted by the potency)
    potency_row = names.index("dex_potency")

    def exact_coefficients(y, par):  # type: ignore[no-untyped-def]
        return np.empty((0, input_start_size, y.shape[1]))  # version 1 has no exact states

    input_start_size = len(model.inputs) + 2

    def segment(y, h, length, rates, coefs, input_start, par, exact, out_tau, y_out, *rest):  # type: ignore[no-untyped-def]
        assert out_tau.size == 0, "the v0.1 kernel has no continuous extension"
        term_input = np.repeat(np.arange(input_start.size - 1), np.diff(input_start))
        gc = np.isin(term_input, gc_inputs)
        weight = np.where(term_input == 1, par[potency_row, 0], 1.0)[:, None]
        order = np.concatenate([np.flatnonzero(gc), np.flatnonzero(~gc)])
        c = np.ascontiguousarray((coefs * weight)[order])
        segment_old(y, h, length, np.ascontiguousarray(rates[order]), c, int(gc.sum()),
                    packed(par), *rest)  # fmt: skip

    return types.SimpleNamespace(
        segment=segment,
        exact_coefficients=exact_coefficients,
        STEP_LIMIT=STEP_LIMIT,
        UNDERFLOW=UNDERFLOW,
    )
