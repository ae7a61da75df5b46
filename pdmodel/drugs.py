"""Drugs as data: the drug table.

A drug is a :class:`DrugSpec`: how it is dosed (amount unit, routes and their bioavailability)
and its linear pharmacokinetics (one compartment, first-order absorption from a depot for the
extravascular routes, IV bolus into the central compartment), written as expressions of the
parameter table, and the name of the concentration it exposes to the model (a model input and
an observable).  The model uses a drug's concentration only if it lists the drug
(:attr:`pdmodel.model.Model.drugs`); the kernel takes any number of them.

The package's drugs are in :data:`DRUG_TABLE`; :func:`register_drug` adds one (see
``examples/add_a_drug.py``, which adds rhTPO).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import ModelError, RegimenError

if TYPE_CHECKING:
    from .model.expressions import Expression
    from .pk import DrugPK

__all__ = [
    "AMOUNT_UNITS",
    "BUILTIN_DRUGS",
    "DRUG_TABLE",
    "DrugSpec",
    "get_drug",
    "pk_parameters",
    "register_drug",
]

#: Amount units a drug may be dosed in, with their size in mg.
AMOUNT_UNITS: dict[str, float] = {"mg": 1.0, "ug": 1e-3}


@dataclass(frozen=True)
class DrugSpec:
    """One drug: dosing and linear one-compartment PK.

    Expressions (`ka`, `k`, `v_per_kg`, the bioavailabilities, `f_dose_exp`) are written over
    the names of the parameter table (see :mod:`pdmodel.model.expressions`), so their values,
    bounds and sources live in the table and calibration can move them.

    Parameters
    ----------
    name : str
        Name used in regimens (``Course(drug=...)``).
    analyte : str
        What the exposed concentration measures (e.g. ``"unbound prednisolone"``).
    concentration : str
        Name of the exposed concentration, ng/mL: a model input and an observable.
    amount_unit : {"mg", "ug"}
        Unit of dose amounts (per-kg doses are in this unit per kg).
    routes : mapping of str to str
        Bioavailability (dimensionless expression) by route; ``"iv"`` doses enter the central
        compartment, every other route the absorption depot.  The first route is the default.
    k : str
        Elimination rate constant, 1/day (expression).
    v_per_kg : str
        Central volume per kg of body weight, L/kg (expression).
    ka : str
        First-order absorption rate from the depot, 1/day (expression; may be empty when the
        drug is given IV only).
    f_dose_exp, f_dose_ref : str
        Dose-dependent relative bioavailability ``(dose / f_dose_ref) ** f_dose_exp`` of depot
        doses (dimensionless exponent; reference dose in `amount_unit`); empty: none.
    description : str
        One line for tables and help.
    max_dose_per_kg : float, optional
        Plausibility limit of one dose, `amount_unit` per kg (absolute doses: per 150 kg, the
        heaviest plausible patient); a larger dose is refused as a typo or a unit error.
        None: no limit.
    prednisone_equivalent : float, optional
        Glucocorticoids: mg of prednisone equivalent to 1 mg of this drug (anti-inflammatory
        potency, dimensionless); regimen optimisation counts glucocorticoid exposure with it.
        None: not a glucocorticoid.
    """

    name: str
    analyte: str
    concentration: str
    amount_unit: str
    routes: Mapping[str, str]
    k: str
    v_per_kg: str
    ka: str = ""
    f_dose_exp: str = ""
    f_dose_ref: str = ""
    description: str = ""
    max_dose_per_kg: float | None = None
    prednisone_equivalent: float | None = None
    _parsed: dict[str, Expression] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        from .model.expressions import parse

        where = f"drug `{self.name}`"
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ModelError(f"a drug name must be an identifier, got {self.name!r}")
        if not isinstance(self.concentration, str) or not self.concentration.isidentifier():
            raise ModelError(f"{where}: `concentration` must be an identifier")
        if self.amount_unit not in AMOUNT_UNITS:
            raise ModelError(
                f"{where}: `amount_unit` must be one of {tuple(AMOUNT_UNITS)}, "
                f"got {self.amount_unit!r}"
            )
        if not isinstance(self.routes, Mapping) or not self.routes:
            raise ModelError(f"{where}: `routes` must map at least one route to its F")
        object.__setattr__(self, "routes", dict(self.routes))
        if any(r != "iv" for r in self.routes) and not self.ka:
            raise ModelError(f"{where}: an extravascular route needs an absorption rate `ka`")
        if bool(self.f_dose_exp) != bool(self.f_dose_ref):
            raise ModelError(f"{where}: give both `f_dose_exp` and `f_dose_ref`, or neither")
        exprs = {"k": self.k, "v_per_kg": self.v_per_kg}
        for name in ("ka", "f_dose_exp", "f_dose_ref"):
            if getattr(self, name):
                exprs[name] = getattr(self, name)
        for route, f in self.routes.items():
            exprs[f"F[{route}]"] = str(f)
        for key, text in exprs.items():
            self._parsed[key] = parse(text, f"{where}, `{key}`")

    @property
    def default_route(self) -> str:
        """The route used when a course names none (the first of `routes`)."""
        return next(iter(self.routes))

    @property
    def parameters(self) -> frozenset[str]:
        """Parameter-table names the PK expressions read."""
        out: set[str] = set()
        for e in self._parsed.values():
            out |= e.names
        return frozenset(out)

    def pk(self, params: Mapping[str, float]) -> DrugPK:
        """The drug's PK for a parameter set (see :class:`pdmodel.pk.DrugPK`).

        Parameters
        ----------
        params : mapping
            Parameter values (units as in the table).

        Returns
        -------
        pdmodel.pk.DrugPK
            Rate constants, volume and bioavailabilities evaluated at `params`.
        """
        from .pk import DrugPK

        def value(key: str, default: float) -> float:
            expr = self._parsed.get(key)
            if expr is None:
                return default
            missing = sorted(expr.names - set(params))
            if missing:
                raise ModelError(
                    f"drug `{self.name}`: `{key}` needs parameters {missing}, which the "
                    "parameter set does not have (add them to the model's table)"
                )
            return float(expr.evaluate(params))

        return DrugPK(
            drug=self.name,
            ka=value("ka", math.inf),
            k=value("k", 0.0),
            v_per_kg=value("v_per_kg", 0.0),
            conc_factor=1000.0 * AMOUNT_UNITS[self.amount_unit],
            amount_unit=self.amount_unit,
            bioavailability={r: value(f"F[{r}]", 1.0) for r in self.routes},
            f_dose_exp=value("f_dose_exp", 0.0),
            f_dose_ref=value("f_dose_ref", 1.0),
        )

    def check_route(self, route: str) -> str:
        """`route`, or the default route when empty; a :class:`RegimenError` if not allowed.

        Parameters
        ----------
        route : str
            Administration route (``"oral"``, ``"sc"``, ``"iv"``, ...); empty for the default.

        Returns
        -------
        str
            The route.
        """
        route = route or self.default_route
        if route not in self.routes:
            raise RegimenError(
                f"{self.name} cannot be given by route `{route}`; allowed: {tuple(self.routes)}"
            )
        return route


_REF_WEIGHT = "70.0"  # kg: the glucocorticoid CL and V of the table are for a 70 kg adult

#: The drug table: every drug a regimen may name.
DRUG_TABLE: dict[str, DrugSpec] = {}


def register_drug(spec: DrugSpec, *, replace: bool = False) -> DrugSpec:
    """Add a drug to :data:`DRUG_TABLE`.

    Parameters
    ----------
    spec : DrugSpec
        The drug.
    replace : bool
        Allow replacing a drug of the same name (default: an error).

    Returns
    -------
    DrugSpec
        `spec`.
    """
    if not isinstance(spec, DrugSpec):
        raise ModelError(f"register_drug needs a DrugSpec, got {type(spec).__name__}")
    if spec.name in DRUG_TABLE and not replace and DRUG_TABLE[spec.name] != spec:
        raise ModelError(f"a drug named `{spec.name}` is registered already (replace=True)")
    DRUG_TABLE[spec.name] = spec
    return spec


def get_drug(name: str) -> DrugSpec:
    """The drug called `name`; a :class:`RegimenError` listing the known drugs if none is.

    Parameters
    ----------
    name : str
        Drug name (``prednisone``, ``dexamethasone``, ``il11``, ...).

    Returns
    -------
    DrugSpec
        The drug's entry in the drug table.
    """
    try:
        return DRUG_TABLE[name]
    except (KeyError, TypeError):
        raise RegimenError(f"unknown drug `{name}`; use one of {tuple(DRUG_TABLE)}") from None


def pk_parameters(drugs: Sequence[str]) -> dict[str, str]:
    """The PK parameters of `drugs`, each mapped to its drug.

    They cannot vary between the patients of one engine call (the drug inputs share their
    exponential rates), so batched samples and per-patient overrides must keep them fixed.

    Parameters
    ----------
    drugs : sequence of str
        Drug names (e.g. ``model.drugs``).

    Returns
    -------
    dict of str to str
        Parameter name -> drug name.
    """
    return {p: d for d in drugs for p in get_drug(d).parameters}


register_drug(
    DrugSpec(
        name="prednisone",
        analyte="unbound prednisolone",
        concentration="conc_prednisolone",
        amount_unit="mg",
        routes={"oral": "1.0"},
        ka="pred_ka",
        k="pred_cl / pred_v",
        v_per_kg=f"pred_v / {_REF_WEIGHT}",
        f_dose_exp="pred_f_exp",
        f_dose_ref="pred_f_ref",
        description="oral prednisone, represented by the unbound prednisolone it yields",
        max_dose_per_kg=20.0,  # assumed: 10 x the 2 mg/kg/day upper end of ITP practice
        prednisone_equivalent=1.0,
    )
)
register_drug(
    DrugSpec(
        name="dexamethasone",
        analyte="dexamethasone",
        concentration="conc_dexamethasone",
        amount_unit="mg",
        routes={"oral": "dex_f", "iv": "1.0"},
        ka="dex_ka",
        k="dex_cl / dex_v",
        v_per_kg=f"dex_v / {_REF_WEIGHT}",
        description="dexamethasone, oral or IV",
        max_dose_per_kg=7.0,  # assumed: 10 x the 40 mg/day pulse in a 60 kg adult
        # 0.75 mg dexamethasone ~ 5 mg prednisone: the conventional equivalence table
        # (Liu D et al. Allergy Asthma Clin Immunol 2013;9:30, table 1); used only as a cost
        prednisone_equivalent=5.0 / 0.75,
    )
)
register_drug(
    DrugSpec(
        name="il11",
        analyte="rhIL-11",
        concentration="conc_il11",
        amount_unit="ug",
        routes={"sc": "il11_f"},
        ka="il11_ka",
        k="il11_k",
        v_per_kg="il11_v",
        description="recombinant human interleukin-11, subcutaneous",
        max_dose_per_kg=750.0,  # assumed: 10 x 75 ug/kg/day, the highest dose studied
    )
)

#: The package's own drugs, in event-table compartment order (see
#: :func:`pdmodel.events.compartments`: their dosing compartments are always CMT 1-4).
BUILTIN_DRUGS: tuple[str, ...] = tuple(DRUG_TABLE)
