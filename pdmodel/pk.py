r"""Exact, analytic pharmacokinetics of prednisone, dexamethasone and rhIL-11.

Every drug follows a linear one-compartment model with an optional first-order absorption depot
(design decision D2).  For a depot amount :math:`A_d` and a central amount :math:`A_c`

.. math::

    \frac{dA_d}{dt} = -k_a A_d, \qquad \frac{dA_c}{dt} = k_a A_d - k A_c,
    \qquad C = f \, A_c / V,

so over a dose-free interval of length :math:`\tau`

.. math::

    A_d(\tau) = A_d(0) e^{-k_a \tau}, \qquad
    A_c(\tau) = A_c(0) e^{-k \tau} + A_d(0) \frac{k_a}{k_a - k} (e^{-k \tau} - e^{-k_a \tau}).

Oral and subcutaneous doses enter the depot multiplied by their bioavailability; IV doses enter
the central compartment.  Bolus doses are exact jumps, not short infusions.  Clearance and volume
scale linearly with body weight, so :math:`k = CL/V` and :math:`k_a` are the same for every
patient and only :math:`V` is per patient.

Units: time in days, glucocorticoid amounts in mg, rhIL-11 amounts in ug, concentrations in ng/mL.
Prednisone is represented by the unbound prednisolone it yields (apparent parameters relative to
the oral prednisone dose).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import RegimenError

__all__ = [
    "DRUGS",
    "ROUTES",
    "DrugPK",
    "concentration",
    "drug_pk",
    "propagate",
    "state_concentration",
]

#: Drugs the model knows, with the analyte whose concentration drives the effects.
DRUGS: dict[str, str] = {
    "prednisone": "unbound prednisolone",
    "dexamethasone": "dexamethasone",
    "il11": "rhIL-11",
}

#: Routes allowed for each drug.
ROUTES: dict[str, tuple[str, ...]] = {
    "prednisone": ("oral",),
    "dexamethasone": ("oral", "iv"),
    "il11": ("sc",),
}

_REF_WEIGHT = 70.0  # kg; the glucocorticoid CL and V of the table are for a 70 kg adult


@dataclass(frozen=True)
class DrugPK:
    """Linear PK of one drug.

    Parameters
    ----------
    drug : str
        Drug name (a key of :data:`DRUGS`).
    ka : float
        First-order absorption rate from the depot, 1/day.
    k : float
        Elimination rate from the central compartment, 1/day.
    v_per_kg : float
        Volume of the central compartment per kg of body weight, L/kg.
    conc_factor : float
        Concentration in ng/mL per (amount unit / L): 1000 for mg, 1 for ug.
    amount_unit : str
        ``"mg"`` or ``"ug"``.
    bioavailability : mapping of str to float
        Fraction of a dose reaching the system by route (dimensionless).
    f_dose_exp, f_dose_ref : float
        Dose-dependent relative bioavailability ``(dose / f_dose_ref) ** f_dose_exp`` applied to
        depot doses (``f_dose_ref`` in `amount_unit`); exponent 0 disables it.
    """

    drug: str
    ka: float
    k: float
    v_per_kg: float
    conc_factor: float
    amount_unit: str
    bioavailability: Mapping[str, float]
    f_dose_exp: float = 0.0
    f_dose_ref: float = 1.0

    def volume(self, weight: ArrayLike) -> NDArray[np.float64]:
        """Central volume, L, for body weight(s) in kg."""
        return self.v_per_kg * np.asarray(weight, dtype=float)

    def absorbed(self, route: str, amount: ArrayLike) -> NDArray[np.float64]:
        """Amount reaching the depot (oral, sc) or central compartment (iv).

        Parameters
        ----------
        route : str
            Administration route.
        amount : array_like
            Administered amount(s), mg or ug (see `amount_unit`).
        """
        if route not in self.bioavailability:
            raise RegimenError(
                f"{self.drug} cannot be given by route `{route}`; allowed: "
                f"{', '.join(self.bioavailability)}"
            )
        a = np.asarray(amount, dtype=float)
        f = self.bioavailability[route]
        if self.f_dose_exp != 0.0 and route != "iv":
            with np.errstate(divide="ignore"):
                rel = np.where(
                    a > 0, (np.maximum(a, 1e-300) / self.f_dose_ref) ** self.f_dose_exp, 0.0
                )
            return f * a * rel
        return f * a

    def compartment(self, route: str) -> str:
        """``"central"`` for IV doses, ``"depot"`` otherwise."""
        return "central" if route == "iv" else "depot"


def drug_pk(params: Mapping[str, float]) -> dict[str, DrugPK]:
    """Build the PK model of every drug from a parameter set.

    Parameters
    ----------
    params : mapping
        Parameter set (see :func:`pdmodel.default_parameters`).

    Returns
    -------
    dict of str to DrugPK
    """
    return {
        "prednisone": DrugPK(
            drug="prednisone",
            ka=params["pred_ka"],
            k=params["pred_cl"] / params["pred_v"],
            v_per_kg=params["pred_v"] / _REF_WEIGHT,
            conc_factor=1000.0,
            amount_unit="mg",
            bioavailability={"oral": 1.0},
            f_dose_exp=params["pred_f_exp"],
            f_dose_ref=params["pred_f_ref"],
        ),
        "dexamethasone": DrugPK(
            drug="dexamethasone",
            ka=params["dex_ka"],
            k=params["dex_cl"] / params["dex_v"],
            v_per_kg=params["dex_v"] / _REF_WEIGHT,
            conc_factor=1000.0,
            amount_unit="mg",
            bioavailability={"oral": params["dex_f"], "iv": 1.0},
        ),
        "il11": DrugPK(
            drug="il11",
            ka=params["il11_ka"],
            k=params["il11_k"],
            v_per_kg=params["il11_v"],
            conc_factor=1.0,
            amount_unit="ug",
            bioavailability={"sc": params["il11_f"]},
        ),
    }


def _bateman(ka: float, k: float, tau: ArrayLike) -> NDArray[np.float64]:
    """Return ``ka/(ka-k) (exp(-k tau) - exp(-ka tau))``, with its limit ``ka tau exp(-k tau)``."""
    tau = np.asarray(tau, dtype=float)
    d = ka - k
    if abs(d) <= 1e-9 * max(ka, k):
        return ka * tau * np.exp(-k * tau)
    # expm1 keeps full precision when (ka - k) tau is small
    return ka * np.exp(-k * tau) * (-np.expm1(-d * tau)) / d


def propagate(
    depot: NDArray[np.float64], central: NDArray[np.float64], ka: float, k: float, tau: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Advance depot and central amounts exactly over dose-free time(s) `tau` (days)."""
    tau = np.asarray(tau, dtype=float)
    return depot * np.exp(-ka * tau), central * np.exp(-k * tau) + depot * _bateman(ka, k, tau)


def state_concentration(
    pk: DrugPK,
    depot: NDArray[np.float64],
    central: NDArray[np.float64],
    volume: NDArray[np.float64],
    tau: ArrayLike = 0.0,
) -> NDArray[np.float64]:
    """Concentration (ng/mL) a dose-free time `tau` (days) after the given amounts."""
    _, c = propagate(depot, central, pk.ka, pk.k, tau)
    return pk.conc_factor * c / volume


def concentration(
    pk: DrugPK,
    times: ArrayLike,
    dose_times: ArrayLike,
    amounts: ArrayLike,
    route: str,
    weight: ArrayLike,
) -> NDArray[np.float64]:
    """Concentrations by superposition of doses (vectorised over patients).

    Parameters
    ----------
    pk : DrugPK
        The drug's PK model.
    times : array_like, shape (n_times,)
        Times at which to evaluate, days.  A dose given at exactly ``t`` counts at ``t``.
    dose_times : array_like, shape (n_doses,)
        Dose times, days.
    amounts : array_like, shape (n_doses,) or (n_doses, n_patients)
        Administered amounts (mg or ug; 0 for a dose not given to a patient).
    route : str
        Administration route (all doses).
    weight : array_like, shape (n_patients,) or scalar
        Body weight, kg.

    Returns
    -------
    ndarray, shape (n_times, n_patients)
        Concentration, ng/mL.
    """
    t = np.atleast_1d(np.asarray(times, dtype=float))
    td = np.atleast_1d(np.asarray(dose_times, dtype=float))
    w = np.atleast_1d(np.asarray(weight, dtype=float))
    amt = np.asarray(amounts, dtype=float)
    if amt.ndim == 1:
        amt = np.repeat(amt[:, None], w.size, axis=1)
    if amt.shape != (td.size, w.size):
        raise RegimenError(
            f"`amounts` must have shape ({td.size},) or ({td.size}, {w.size}), got {amt.shape}"
        )
    absorbed = pk.absorbed(route, amt)
    tau = t[:, None] - td[None, :]  # (n_times, n_doses)
    after = tau >= 0
    tau0 = np.where(after, tau, 0.0)
    if pk.compartment(route) == "central":
        unit = np.exp(-pk.k * tau0)
    else:
        unit = _bateman(pk.ka, pk.k, tau0)
    unit = np.where(after, unit, 0.0)
    return pk.conc_factor * (unit @ absorbed) / pk.volume(w)[None, :]
