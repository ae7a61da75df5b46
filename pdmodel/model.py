r"""The ITP pharmacodynamic model: state layout, right-hand side, baseline and observables.

All arrays are vectorised over patients: states have shape ``(n_states, n_patients)``.  Drug
concentrations are inputs computed exactly by :mod:`pdmodel.pk`.  Time is in days.

Drug effects (per patient *i*)

.. math::

    C_{GC} = C_{pred,u} + \pi_{dex} C_{dex}, \quad
    E_{GC} = \frac{C_{GC}}{C_{GC} + EC50_{GC,i}}, \quad
    E_{11} = \frac{C_{11}}{C_{11} + EC50_{11,i}}

Megakaryocyte transit chain and platelets (:math:`k_{tr} = 4 / MTT`)

.. math::

    \frac{dMK_1}{dt} &= k_{in,i} (1 + S_{11} E_{11}) (P_{0,i}/P)^{\gamma} - k_{tr} MK_1 \\
    \frac{dMK_j}{dt} &= k_{tr} (MK_{j-1} - MK_j), \quad j = 2..4 \\
    \frac{dP}{dt} &= k_{tr} MK_4 - (k_{sen} + k_{ab,i} \, Ab \, M) P

Macrophage Fc clearance capacity, autoreactive clone, autoantibody

.. math::

    \frac{dM}{dt} &= k_M (1 - I_{M} E_{GC}) - k_M M \\
    \frac{dB}{dt} &= B \left[ (r_i + d) T_{eff} / T_{eff,0} - d - r_i B \right]
                     - k_{kill} E_{GC} B \\
    \frac{dAb}{dt} &= k_{Ab} (B H - Ab)

Activated effector CD4+CD25+ (FoxP3-) and FoxP3+ regulatory T cells (% of CD4+), Th1
polarisation of the effector response (relative)

.. math::

    \frac{dT_{eff}}{dt} &= k_E \left[ T_{eff,0} (R_0 / R)^{\theta} (1 - I_{E} E_{GC}) H
                          - T_{eff} \right] \\
    \frac{dR}{dt} &= k_R \left[ R_0 (1 + S_R E_{GC}) - R \right] \\
    \frac{dH}{dt} &= k_H (1 - H) - k_{pol} E_{11} H

The untreated steady state is closed-form: :math:`P = P_{0,i}`, :math:`MK_j = k_{in,i}/k_{tr}`,
:math:`M = B = Ab = H = 1`, :math:`T_{eff} = T_{eff,0}`, :math:`R = R_0`, with
:math:`k_{in,i} = (k_{sen} + k_{ab,i}) P_{0,i}`.  See ``docs/model.md`` for sources and
assumptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import IntEnum
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtri

from . import _kernel
from .errors import OptionError, PopulationError

__all__ = [
    "INDIVIDUAL_PARAMETERS",
    "N_TRANSIT",
    "OBSERVABLES",
    "STATE_NAMES",
    "Individuals",
    "State",
    "baseline_state",
    "observables",
    "rhs",
]

Array = NDArray[np.float64]

#: Number of megakaryocyte transit compartments (structural constant).
N_TRANSIT = 4


class State(IntEnum):
    """Row index of each state in the state array."""

    MK1 = 0
    MK2 = 1
    MK3 = 2
    MK4 = 3
    PLT = 4  #: circulating platelets, 10^9/L
    MAC = 5  #: macrophage Fc clearance capacity, relative to untreated
    CLONE = 6  #: autoreactive antibody-producing clone, relative to untreated
    AB = 7  #: circulating autoantibody, relative to untreated
    TEFF = 8  #: activated effector CD4+CD25+FoxP3- T cells, % of CD4+
    TREG = 9  #: FoxP3+ regulatory T cells, % of CD4+
    TH1 = 10  #: Th1 polarisation of effector activation, relative to untreated


STATE_NAMES: tuple[str, ...] = tuple(s.name.lower() for s in State)
_MK = slice(State.MK1, State.MK4 + 1)

#: Observables with their units.
OBSERVABLES: dict[str, str] = {
    "platelets": "10^9/L",
    "antibody": "relative to untreated",
    "paigg": "relative to untreated",
    "ab_signal": "assay signal / positivity threshold",
    "ab_positive": "1 = positive",
    "cd4cd25_pct": "% of CD4+",
    "treg_pct": "% of CD4+",
    "teff_pct": "% of CD4+",
    "macrophage": "relative to untreated",
    "clone": "relative to untreated",
    "th1": "relative to untreated",
    "conc_prednisolone": "ng/mL (unbound)",
    "conc_dexamethasone": "ng/mL",
    "conc_il11": "ng/mL",
    "conc_gc_equiv": "ng/mL prednisolone-equivalent",
}

#: Per-patient (random-effect) parameters: name -> (typical-value parameter, IIV SD parameter).
INDIVIDUAL_PARAMETERS: dict[str, tuple[str, str]] = {
    "weight": ("weight", "omega_weight"),
    "plt_base": ("plt_base", "omega_plt_base"),
    "k_ab": ("k_ab", "omega_k_ab"),
    "gc_ec50": ("gc_ec50", "omega_gc_ec50"),
    "il11_ec50": ("il11_ec50", "omega_il11_ec50"),
    "clone_r": ("clone_r", "omega_clone_r"),
    "ab_assay": ("", "ab_assay_sd"),
    "teff_base": ("", "omega_teff_base"),
}


@dataclass(frozen=True)
class Individuals:
    """Model parameters of a group of patients, ready for the right-hand side.

    Per-patient fields are arrays of shape ``(n,)``; the others are population scalars.
    Build with :meth:`from_parameters`.
    """

    weight: Array  # kg
    plt_base: Array  # 10^9/L
    k_ab: Array  # 1/day
    gc_ec50: Array  # ng/mL
    il11_ec50: Array  # ng/mL
    clone_r: Array  # 1/day
    ab_log_signal: Array  # log assay signal at baseline minus log threshold
    kin: Array  # 10^9/L/day, derived: (ksen + k_ab) plt_base
    kin_fb: Array  # derived: kin * plt_base**fb_gamma
    clone_rd: Array  # derived: clone_r + clone_death (help-driven proliferation rate)
    teff_drive0: Array  # derived: teff_base * treg_base
    ktr: float
    ksen: float
    fb_gamma: float
    mac_k: float
    gc_imax_mac: float
    gc_kill: float
    ab_kdeg: float
    ab_kp: float
    il11_smax: float
    il11_kpol: float
    clone_death: float
    th1_k: float
    teff_k: float
    gc_imax_teff: float
    treg_k: float
    gc_smax_treg: float
    treg_base: float
    teff_base: Array  # % of CD4+, per patient
    treg_supp: float
    dex_potency: float

    @property
    def n(self) -> int:
        """Number of patients."""
        return int(self.weight.shape[0])

    @classmethod
    def from_parameters(
        cls, params: Mapping[str, float], z: Mapping[str, NDArray[np.float64]]
    ) -> Individuals:
        """Combine a parameter set with standard-normal deviates into individual parameters.

        Parameters
        ----------
        params : mapping
            Parameter set (typical values and IIV SDs).
        z : mapping of str to ndarray, shape (n,)
            Standard-normal deviate per patient for each key of :data:`INDIVIDUAL_PARAMETERS`.
        """
        missing = [k for k in INDIVIDUAL_PARAMETERS if k not in z]
        if missing:
            raise PopulationError(f"missing standard-normal deviates for {missing}")
        ind: dict[str, Array] = {}
        for key, (typ, omega) in INDIVIDUAL_PARAMETERS.items():
            if typ:
                ind[key] = params[typ] * np.exp(params[omega] * np.asarray(z[key], dtype=float))
        # Assay signal: proportional to the clearance random effect times an assay-specific
        # factor; the threshold puts a fraction ab_pos_baseline of the untreated population above.
        sd_total = float(np.hypot(params["omega_k_ab"], params["ab_assay_sd"]))
        log_signal = params["omega_k_ab"] * np.asarray(z["k_ab"]) + params[
            "ab_assay_sd"
        ] * np.asarray(z["ab_assay"])
        log_thr = -sd_total * float(ndtri(params["ab_pos_baseline"]))
        ksen = params["plt_ksen"]
        kin = (ksen + ind["k_ab"]) * ind["plt_base"]
        teff_base = (params["cd25_base"] - params["treg_base"]) * np.exp(
            params["omega_teff_base"] * np.asarray(z["teff_base"], dtype=float)
        )
        return cls(
            weight=ind["weight"],
            plt_base=ind["plt_base"],
            k_ab=ind["k_ab"],
            gc_ec50=ind["gc_ec50"],
            il11_ec50=ind["il11_ec50"],
            clone_r=ind["clone_r"],
            ab_log_signal=log_signal - log_thr,
            kin=kin,
            kin_fb=kin * ind["plt_base"] ** params["fb_gamma"],
            clone_rd=ind["clone_r"] + params["clone_death"],
            teff_drive0=teff_base * params["treg_base"],
            ktr=N_TRANSIT / params["mk_mtt"],
            ksen=ksen,
            fb_gamma=params["fb_gamma"],
            mac_k=params["mac_k"],
            gc_imax_mac=params["gc_imax_mac"],
            gc_kill=params["gc_kill"],
            ab_kdeg=params["ab_kdeg"],
            ab_kp=params["ab_kp"],
            il11_smax=params["il11_smax"],
            il11_kpol=params["il11_kpol"],
            clone_death=params["clone_death"],
            th1_k=params["th1_k"],
            teff_k=params["teff_k"],
            gc_imax_teff=params["gc_imax_teff"],
            treg_k=params["treg_k"],
            gc_smax_treg=params["gc_smax_treg"],
            treg_base=params["treg_base"],
            teff_base=teff_base,
            treg_supp=params["treg_supp"],
            dex_potency=params["dex_potency"],
        )

    @cached_property
    def packed(self) -> Array:
        """Parameters as one C-ordered array, shape ``(26, n)``: the rows of
        :data:`pdmodel._kernel.PACKED_FIELDS` (population scalars repeated per patient), as
        the compiled kernels read them."""
        return np.ascontiguousarray(
            np.stack(
                [
                    np.broadcast_to(np.asarray(getattr(self, name), dtype=float), (self.n,))
                    for name in _kernel.PACKED_FIELDS
                ]
            )
        )

    def take(self, idx: NDArray[np.intp] | slice) -> Individuals:
        """The subset of patients selected by `idx`."""
        kw: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v[idx] if isinstance(v, np.ndarray) else v
        return Individuals(**kw)


def rhs(
    t: float | Array,
    y: Array,
    c_gc: Array | None,
    c_il11: Array | None,
    ind: Individuals,
    out: Array | None = None,
) -> Array:
    """Right-hand side ``dy/dt`` of the PD model (solve_ivp argument order).

    The equations are compiled once (:func:`pdmodel._kernel.rhs_point`, the same code the
    engine integrates) and evaluated patient by patient.

    Parameters
    ----------
    t : float or ndarray
        Time, days; not used (the model is autonomous given its inputs; kept for the
        solve_ivp interface).
    y : ndarray, shape (n_states, n)
        States (see :class:`State`).
    c_gc : ndarray, shape (n,), or None
        Prednisolone-equivalent unbound glucocorticoid concentration, ng/mL (None: no GC).
    c_il11 : ndarray, shape (n,), or None
        rhIL-11 concentration, ng/mL (None: no IL-11).
    ind : Individuals
        Patient parameters.
    out : ndarray, shape (n_states, n), optional
        Array to write the derivatives into.

    Returns
    -------
    ndarray, shape (n_states, n)
        Derivatives, state units per day.
    """
    # the compiled code does not check bounds: every shape is checked here
    shape = (len(State), ind.n)
    y = np.ascontiguousarray(y, dtype=float)
    if y.shape != shape:
        raise OptionError(f"`y` must have shape {shape} (states x patients), got {y.shape}")
    inputs = []
    for name, c in (("c_gc", c_gc), ("c_il11", c_il11)):
        c = np.zeros(ind.n) if c is None else np.ascontiguousarray(c, dtype=float)
        if c.shape != (ind.n,):
            raise OptionError(f"`{name}` must have shape ({ind.n},), got {c.shape}")
        inputs.append(c)
    if out is None:
        out = np.empty(shape)
    elif not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != np.float64:
        raise OptionError(f"`out` must be a float64 array of shape {shape}")
    _kernel.rhs_many(y, inputs[0], inputs[1], ind.packed, out)
    return out


def baseline_state(ind: Individuals) -> Array:
    """Closed-form untreated steady state, shape ``(n_states, n)``."""
    y = np.empty((len(State), ind.n))
    y[_MK] = ind.kin / ind.ktr
    y[State.PLT] = ind.plt_base
    y[State.MAC] = 1.0
    y[State.CLONE] = 1.0
    y[State.AB] = 1.0
    y[State.TEFF] = ind.teff_base
    y[State.TREG] = ind.treg_base
    y[State.TH1] = 1.0
    return y


def observables(
    y: Array,
    concentrations: Mapping[str, Array],
    ind: Individuals,
    names: tuple[str, ...] | None = None,
) -> dict[str, Array]:
    """Observables from states and drug concentrations.

    Parameters
    ----------
    y : ndarray, shape (n_states, n)
        States.
    concentrations : mapping of str to ndarray, shape (n,)
        Concentration (ng/mL) per drug present (keys ``prednisone``, ``dexamethasone``,
        ``il11``); absent drugs are zero.
    ind : Individuals
        Patient parameters.
    names : tuple of str, optional
        Observables to compute (default: all of :data:`OBSERVABLES`).

    Returns
    -------
    dict of str to ndarray, shape (n,)
    """
    names = tuple(OBSERVABLES) if names is None else names
    zero = np.zeros(ind.n)
    p = y[State.PLT]
    out: dict[str, Array] = {}
    paigg = y[State.AB] * (ind.ab_kp + ind.plt_base) / (ind.ab_kp + p)
    ab_signal = np.exp(ind.ab_log_signal) * paigg
    c_pred = concentrations.get("prednisone", zero)
    c_dex = concentrations.get("dexamethasone", zero)
    values = {
        "platelets": lambda: p,
        "antibody": lambda: y[State.AB],
        "paigg": lambda: paigg,
        "ab_signal": lambda: ab_signal,
        "ab_positive": lambda: (ab_signal >= 1.0).astype(float),
        "cd4cd25_pct": lambda: y[State.TEFF] + y[State.TREG],
        "treg_pct": lambda: y[State.TREG],
        "teff_pct": lambda: y[State.TEFF],
        "macrophage": lambda: y[State.MAC],
        "clone": lambda: y[State.CLONE],
        "th1": lambda: y[State.TH1],
        "conc_prednisolone": lambda: c_pred,
        "conc_dexamethasone": lambda: c_dex,
        "conc_il11": lambda: concentrations.get("il11", zero),
        "conc_gc_equiv": lambda: c_pred + ind.dex_potency * c_dex,
    }
    for name in names:
        if name not in values:
            raise OptionError(f"unknown observable `{name}`; available: {', '.join(OBSERVABLES)}")
        out[name] = np.array(values[name](), dtype=float, copy=True)
    return out
