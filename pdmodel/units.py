"""The units pdmodel knows: the unit strings of the parameter table and the model definition,
with their SBML unit definitions (one place for both).

Model units: time in days, volumes in L, amounts in mg or ug, concentrations in ng/mL,
platelets in 10^9/L, T-cell fractions in % of CD4+ T cells; ``"1"`` is dimensionless.
"""

from __future__ import annotations

__all__ = ["UNITS", "sbml_unit"]

#: Unit string -> (SBML unit id, SBML parts: (kind, exponent, scale, multiplier)).  An empty
#: part list is SBML's own ``dimensionless``.
UNITS: dict[str, tuple[str, list[tuple[str, float, int, float]]]] = {
    "1": ("dimensionless", []),
    "day": ("day", [("second", 1, 0, 86400.0)]),
    "1/day": ("per_day", [("second", -1, 0, 1 / 86400.0)]),
    "mg": ("mg", [("gram", 1, -3, 1.0)]),
    "ug": ("ug", [("gram", 1, -6, 1.0)]),
    "kg": ("kg", [("gram", 1, 3, 1.0)]),
    "L": ("litre_", [("litre", 1, 0, 1.0)]),
    "L/day": ("L_per_day", [("litre", 1, 0, 1.0), ("second", -1, 0, 1 / 86400.0)]),
    "L/kg": ("L_per_kg", [("litre", 1, 0, 1.0), ("gram", -1, 3, 1.0)]),
    "ng/mL": ("ng_per_mL", [("gram", 1, -9, 1.0), ("litre", -1, -3, 1.0)]),
    "mg/L": ("mg_per_L", [("gram", 1, -3, 1.0), ("litre", -1, 0, 1.0)]),
    "ug/L": ("ug_per_L", [("gram", 1, -6, 1.0), ("litre", -1, 0, 1.0)]),
    "10^9/L": ("plt", [("item", 1, 9, 1.0), ("litre", -1, 0, 1.0)]),
    "10^9/L/day": (
        "plt_per_day",
        [("item", 1, 9, 1.0), ("litre", -1, 0, 1.0), ("second", -1, 0, 1 / 86400.0)],
    ),
    "% of CD4+": ("percent", [("dimensionless", 1, -2, 1.0)]),
    "(% of CD4+)^2": ("percent_sq", [("dimensionless", 1, -4, 1.0)]),
    "(ng/mL)/(mg/L)": ("ng_mL_per_mg_L", [("dimensionless", 1, -3, 1.0)]),
    "(ng/mL)/(ug/L)": ("ng_mL_per_ug_L", [("dimensionless", 1, 0, 1.0)]),
}


def sbml_unit(unit: str) -> str:
    """SBML unit id of a unit string (a :class:`KeyError` naming the known units if unknown).

    Parameters
    ----------
    unit : str
        Unit as written in the parameter table (e.g. ``"1/day"``).

    Returns
    -------
    str
        The unit's SBML id.
    """
    try:
        return UNITS[unit][0]
    except KeyError:
        raise KeyError(f"unknown unit {unit!r}; known: {', '.join(UNITS)}") from None
