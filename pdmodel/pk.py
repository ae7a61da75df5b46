r"""Exact, analytic pharmacokinetics of the drugs of the drug table (:mod:`pdmodel.drugs`).

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

Units: time in days, amounts in the drug's amount unit (mg or ug), concentrations in ng/mL.
Prednisone is represented by the unbound prednisolone it yields (apparent parameters relative to
the oral prednisone dose).

:func:`propagate` is the one implementation of the dose-free solution: the population engine
advances its per-patient drug amounts with it (:class:`DrugState`), and within a segment feeds
the compiled kernel the same solution as a sum of exponentials (:meth:`DrugState.exponentials`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import RegimenError, SolverError

__all__ = [
    "DrugPK",
    "DrugState",
    "concentration",
    "drug_pk",
    "propagate",
    "state_concentration",
]


@dataclass(frozen=True)
class DrugPK:
    """Linear PK of one drug.

    Parameters
    ----------
    drug : str
        Drug name (a key of :data:`pdmodel.drugs.DRUG_TABLE`).
    ka : float
        First-order absorption rate from the depot, 1/day (``inf`` for a drug given IV only).
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
        """Central volume, L, for body weight(s) in kg.

        Parameters
        ----------
        weight : array_like
            Body weight, kg.

        Returns
        -------
        ndarray
            Volume, L.
        """
        return self.v_per_kg * np.asarray(weight, dtype=float)

    def absorbed(self, route: str, amount: ArrayLike) -> NDArray[np.float64]:
        """Amount reaching the depot (oral, sc) or central compartment (iv).

        Parameters
        ----------
        route : str
            Administration route.
        amount : array_like
            Administered amount(s), mg or ug (see `amount_unit`).

        Returns
        -------
        ndarray
            Amount, mg or ug.
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
        """``"central"`` for IV doses, ``"depot"`` otherwise.

        Parameters
        ----------
        route : str
            Administration route.

        Returns
        -------
        str
            The compartment a dose by `route` enters.
        """
        return "central" if route == "iv" else "depot"


def drug_pk(params: Any) -> dict[str, DrugPK]:
    """Build the PK of every drug of the parameter set's model.

    Parameters
    ----------
    params : ParameterSet
        Parameter set (see :func:`pdmodel.default_parameters`); its model
        (:attr:`pdmodel.ParameterSet.model`) names the drugs.

    Returns
    -------
    dict of str to DrugPK
        By drug name.
    """
    from .drugs import get_drug

    return {name: get_drug(name).pk(params) for name in params.model.drugs}


def _bateman(ka: float, k: float, tau: ArrayLike) -> NDArray[np.float64]:
    """Return ``ka/(ka-k) (exp(-k tau) - exp(-ka tau))``, with its limit ``ka tau exp(-k tau)``."""
    tau = np.asarray(tau, dtype=float)
    d = ka - k
    if abs(d) <= 1e-9 * max(ka, k):
        return ka * tau * np.exp(-k * tau)
    # expm1 keeps full precision when (ka - k) tau is small; the slower exponential is factored
    # out so that the other factor stays within (0, 1] at any tau (no overflow when ka < k)
    if d > 0.0:
        return ka * np.exp(-k * tau) * (-np.expm1(-d * tau)) / d
    return ka * np.exp(-ka * tau) * np.expm1(d * tau) / d


def propagate(
    depot: NDArray[np.float64], central: NDArray[np.float64], ka: float, k: float, tau: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Advance depot and central amounts exactly over dose-free time(s) `tau`.

    Parameters
    ----------
    depot, central : ndarray
        Amounts (mg or ug) at the start.
    ka, k : float
        Absorption and elimination rate constants, 1/day (``ka = inf``: no depot).
    tau : array_like
        Elapsed time(s), days (broadcast against the amounts).

    Returns
    -------
    depot : ndarray
        The depot amount after `tau`, mg or ug.
    central : ndarray
        The central amount after `tau`, mg or ug.
    """
    tau = np.asarray(tau, dtype=float)
    if math.isinf(ka):
        return np.zeros_like(depot * tau), central * np.exp(-k * tau)
    return depot * np.exp(-ka * tau), central * np.exp(-k * tau) + depot * _bateman(ka, k, tau)


@dataclass
class DrugState:
    """The amounts of one drug in every patient of a simulation, between and at doses.

    Parameters
    ----------
    pk : DrugPK
        The drug's PK.
    scale : ndarray, shape (n,)
        ``conc_factor / V`` per patient, (ng/mL) per amount unit.
    depot, central : ndarray, shape (n,)
        Amounts, mg or ug.
    """

    pk: DrugPK
    scale: NDArray[np.float64]
    depot: NDArray[np.float64]
    central: NDArray[np.float64]

    @classmethod
    def empty(cls, pk: DrugPK, weight: NDArray[np.float64]) -> DrugState:
        """No drug yet in patients of the given weights (kg).

        Parameters
        ----------
        pk : DrugPK
            The drug's PK.
        weight : ndarray, shape (n_patients,)
            Body weights, kg.

        Returns
        -------
        DrugState
            Zero amounts in every compartment.
        """
        if not math.isinf(pk.ka) and abs(pk.ka - pk.k) <= 1e-9 * max(pk.ka, pk.k):
            raise SolverError(
                f"{pk.drug}: absorption and elimination rates are equal ({pk.k:g} /day); "
                "perturb one of them"
            )
        n = np.shape(weight)[0]
        return cls(pk, pk.conc_factor / pk.volume(weight), np.zeros(n), np.zeros(n))

    def exponentials(self) -> tuple[list[float], list[NDArray[np.float64]]]:
        """The concentration over the coming dose-free interval as exponentials.

        Returns
        -------
        rates : list of float
            Rate constants ``x_r`` (1/day): ``C(tau) = sum_r coefs_r exp(-x_r tau)``.
        coefs : list of ndarray, shape (n,)
            Coefficients, ng/mL.  Empty lists when the drug is absent in every patient.
        """
        if not (np.any(self.depot != 0.0) or np.any(self.central != 0.0)):
            return [], []
        ka, k = self.pk.ka, self.pk.k
        if math.isinf(ka):
            return [k], [self.central * self.scale]
        r = ka / (ka - k)
        b = -self.depot * r * self.scale
        a = self.central * self.scale - b
        return [k, ka], [a, b]

    def advance(self, tau: float) -> None:
        """Advance the amounts over `tau` dose-free days (:func:`propagate`).

        Parameters
        ----------
        tau : float
            Time, days.
        """
        self.depot, self.central = propagate(self.depot, self.central, self.pk.ka, self.pk.k, tau)

    def concentration(self, tau: float = 0.0) -> NDArray[np.float64]:
        """Concentration `tau` dose-free days from now (default: now), ng/mL, per patient.

        Parameters
        ----------
        tau : float
            Time from now, days.

        Returns
        -------
        ndarray, shape (n_patients,)
            Concentration, ng/mL.
        """
        if tau == 0.0:
            return self.central * self.scale
        return propagate(self.depot, self.central, self.pk.ka, self.pk.k, tau)[1] * self.scale

    def add(self, route: str, amount: NDArray[np.float64]) -> None:
        """Add absorbed `amount` (mg or ug, per patient) to the compartment of `route`.

        Parameters
        ----------
        route : str
            Administration route.
        amount : ndarray, shape (n_patients,)
            Absorbed amount, mg or ug.
        """
        if self.pk.compartment(route) == "central":
            self.central = self.central + amount
        else:
            self.depot = self.depot + amount


def state_concentration(
    pk: DrugPK,
    depot: NDArray[np.float64],
    central: NDArray[np.float64],
    volume: NDArray[np.float64],
    tau: ArrayLike = 0.0,
) -> NDArray[np.float64]:
    """Concentration (ng/mL) a dose-free time `tau` (days) after the given amounts.

    Parameters
    ----------
    pk : DrugPK
        The drug's PK.
    depot, central : ndarray
        Amounts in the depot and the central compartment, mg or ug.
    volume : ndarray
        Central volume, L.
    tau : array_like
        Dose-free time, days.

    Returns
    -------
    ndarray
        Concentration, ng/mL.
    """
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
