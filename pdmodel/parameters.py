"""The parameter table and frozen parameter sets.

The table (package data ``pdmodel/data/parameters.toml``) is the single source of truth for every
parameter's value, unit, bounds, prior and source (design decision D6).  Everything else -- the
documentation table, lmfit ``Parameters``, exports -- is generated from it.
"""

from __future__ import annotations

import math
import numbers
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from .errors import ParameterError, UnknownParameterError

if TYPE_CHECKING:
    import lmfit
    import pandas as pd

    from .model import Model

__all__ = [
    "ParameterSet",
    "ParameterSpec",
    "ParameterTable",
    "default_parameters",
    "parameter_table",
]

_STATUSES = ("literature", "derived", "assumed", "fitted")
_REQUIRED = ("name", "value", "unit", "lower", "upper", "status", "description", "source")


@dataclass(frozen=True)
class ParameterSpec:
    """One row of the parameter table.

    Parameters
    ----------
    name : str
        Identifier used everywhere (code, files, lmfit).
    value : float
        Default value, in `unit`.
    unit : str
        Unit of `value`, `lower` and `upper` (model units: day, L, mg, ug, ng/mL, 10^9/L, %).
    lower, upper : float
        Admissible range, in `unit`; ``lower <= value <= upper``.
    status : str
        ``"literature"``, ``"derived"``, ``"assumed"`` or ``"fitted"``.
    description : str
        One-line meaning.
    source : str
        Citation of the original source, or ``"assumed"`` / ``"to be fitted ..."`` with a reason.
    prior_sd : float or None
        Scale of a log-normal prior centred on `value` (dimensionless, natural-log units);
        ``None`` when the parameter is fixed.
    fixed : bool
        True if calibration never moves this parameter.
    """

    name: str
    value: float
    unit: str
    lower: float
    upper: float
    status: str
    description: str
    source: str
    prior_sd: float | None = None
    fixed: bool = False

    def __post_init__(self) -> None:
        where = f"parameter table entry `{self.name}`"
        for field in ("value", "lower", "upper"):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise ParameterError(f"{where}: `{field}` must be a finite number, got {v!r}")
        if not self.lower <= self.value <= self.upper:
            raise ParameterError(
                f"{where}: value {self.value} lies outside its bounds [{self.lower}, {self.upper}]"
            )
        if self.status not in _STATUSES:
            raise ParameterError(f"{where}: status must be one of {_STATUSES}, got {self.status!r}")
        if self.prior_sd is not None and not (math.isfinite(self.prior_sd) and self.prior_sd > 0):
            raise ParameterError(f"{where}: prior_sd must be positive, got {self.prior_sd!r}")
        if not self.fixed and self.prior_sd is None:
            raise ParameterError(
                f"{where}: a free parameter needs a prior_sd (or set fixed = true)"
            )

    @property
    def prior(self) -> str:
        """Human-readable prior, e.g. ``"lognormal(ln 0.53, 0.7)"`` or ``"fixed"``."""
        if self.fixed or self.prior_sd is None:
            return "fixed"
        return f"lognormal(ln {self.value:g}, {self.prior_sd:g})"


class ParameterTable(Mapping[str, ParameterSpec]):
    """Ordered, read-only collection of :class:`ParameterSpec` rows keyed by name.

    Parameters
    ----------
    specs : list of ParameterSpec
        The rows, in table order; a name given twice is an error.
    """

    def __init__(self, specs: list[ParameterSpec]) -> None:
        rows: dict[str, ParameterSpec] = {}
        for spec in specs:
            if spec.name in rows:
                raise ParameterError(f"parameter table: `{spec.name}` is defined twice")
            rows[spec.name] = spec
        self._rows = rows

    def __getitem__(self, name: str) -> ParameterSpec:
        try:
            return self._rows[name]
        except KeyError:
            raise UnknownParameterError(unknown_parameter_message(name, self._rows)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def defaults(self) -> ParameterSet:
        """Return the table's default values as a :class:`ParameterSet`.

        Returns
        -------
        ParameterSet
            The table's values.
        """
        return ParameterSet({n: s.value for n, s in self._rows.items()}, table=self)

    def to_records(self) -> list[dict[str, Any]]:
        """Rows as plain dictionaries (for tables, CSV and documentation).

        Returns
        -------
        list of dict
            One per row, in table order.
        """
        return [
            {
                "name": s.name,
                "value": s.value,
                "unit": s.unit,
                "lower": s.lower,
                "upper": s.upper,
                "prior": s.prior,
                "status": s.status,
                "description": s.description,
                "source": s.source,
            }
            for s in self._rows.values()
        ]

    @classmethod
    def from_toml(cls, text: str, origin: str = "<string>") -> ParameterTable:
        """Parse a parameter table from TOML text.

        Parameters
        ----------
        text : str
            TOML with a ``[[parameter]]`` array of tables.
        origin : str
            File name used in error messages.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ParameterError(f"{origin}: malformed TOML: {exc}") from None
        rows = data.get("parameter")
        if not isinstance(rows, list) or not rows:
            raise ParameterError(f"{origin}: expected a non-empty [[parameter]] array")
        specs = []
        allowed = set(_REQUIRED) | {"prior_sd", "fixed"}
        for i, row in enumerate(rows):
            name = row.get("name", f"#{i + 1}")
            missing = [k for k in _REQUIRED if k not in row]
            if missing:
                raise ParameterError(f"{origin}: parameter `{name}` lacks {', '.join(missing)}")
            extra = sorted(set(row) - allowed)
            if extra:
                raise ParameterError(f"{origin}: parameter `{name}` has unknown keys {extra}")
            specs.append(ParameterSpec(**row))
        return cls(specs)


@cache
def parameter_table() -> ParameterTable:
    """Return the package's parameter table (parsed once, read-only)."""
    text = resources.files("pdmodel").joinpath("data/parameters.toml").read_text("utf-8")
    return ParameterTable.from_toml(text, origin="pdmodel/data/parameters.toml")


def default_parameters() -> ParameterSet:
    """Return the default parameter set built from the package's parameter table.

    Returns
    -------
    ParameterSet
        Frozen mapping from parameter name to value (units as in the table).

    Examples
    --------
    >>> import pdmodel as pm
    >>> p = pm.default_parameters()
    >>> p["mk_mtt"]
    5.9
    """
    return parameter_table().defaults()


#: Parameters of earlier model versions: name -> what replaced them.
RETIRED: dict[str, str] = {
    "il11_imax_teff": "removed on 2026-11-25: rhIL-11 now acts through the Th1 polarisation "
    "state (il11_kpol, th1_k); refit, or drop the entry to use the table's defaults",
}


def parameters_or_default(params: Any, name: str = "params") -> ParameterSet:
    """`params` if it is a :class:`ParameterSet`, the table's defaults if it is None.

    Raises
    ------
    ParameterError
        Anything else (a dict, a number, a file name), naming the argument.
    """
    if params is None:
        return default_parameters()
    if not isinstance(params, ParameterSet):
        raise ParameterError(
            f"`{name}` must be a pdmodel ParameterSet (pm.default_parameters(), "
            f"pm.calibrated_parameters() or pm.load_parameters(file)), got {type(params).__name__}"
        )
    return params


def unknown_parameter_message(name: object, known: Mapping[str, Any]) -> str:
    """Error text for an unknown parameter name, suggesting the closest known one."""
    import difflib

    if str(name) in RETIRED:
        return f"unknown parameter `{name}`: {RETIRED[str(name)]}"
    hint = difflib.get_close_matches(str(name), list(known), n=1)
    suffix = f"; did you mean `{hint[0]}`?" if hint else "; see `pdmodel params` for the list"
    return f"unknown parameter `{name}`{suffix}"


class ParameterSet(Mapping[str, float]):
    """A frozen, validated set of model parameter values.

    Every parameter of the table is present; values are finite and within the table's bounds.
    Use :meth:`replace` to obtain a modified copy.

    Parameters
    ----------
    values : mapping of str to float
        A value for every parameter of `table` (units as in the table).
    table : ParameterTable, optional
        Table the values are checked against; defaults to the model's table.
    model : Model, optional
        The model the values are for (default: :func:`pdmodel.default_model`).
    """

    __slots__ = ("_model", "_table", "_values")

    def __init__(
        self,
        values: Mapping[str, float],
        table: ParameterTable | None = None,
        model: Model | None = None,
    ) -> None:
        if table is None:
            table = parameter_table() if model is None else model.table
        assert table is not None
        for name in values:
            if name not in table:
                raise UnknownParameterError(unknown_parameter_message(name, table))
        missing = [n for n in table if n not in values]
        if missing:
            raise ParameterError(f"missing values for parameters: {', '.join(missing)}")
        checked: dict[str, float] = {}
        for name, spec in table.items():
            checked[name] = _check_value(spec, values[name])
        if "cd25_base" in checked and checked["cd25_base"] <= checked.get("treg_base", 0.0):
            raise ParameterError(
                "`cd25_base` must exceed `treg_base` (CD4+CD25+ includes the FoxP3+ Tregs); "
                f"got {checked['cd25_base']} <= {checked['treg_base']}"
            )
        self._values = checked
        self._table = table
        self._model = model

    @property
    def table(self) -> ParameterTable:
        """The table these values were validated against."""
        return self._table

    @property
    def model(self) -> Model:
        """The model these parameters are for.

        :func:`pdmodel.default_model` unless the set was made by a model variant, e.g.
        ``variant.default_parameters()``.
        """
        if self._model is None:
            from .model import default_model

            return default_model()
        return self._model

    def with_model(self, model: Model) -> ParameterSet:
        """The same values for another model (checked against that model's table).

        Parameters
        ----------
        model : Model
            A model whose table has every parameter of this set.

        Returns
        -------
        ParameterSet
            The same values, for `model`.
        """
        assert model.table is not None
        values = {n: self._values.get(n, spec.value) for n, spec in model.table.items()}
        return ParameterSet(values, model.table, model)

    def __getitem__(self, name: str) -> float:
        try:
            return self._values[name]
        except KeyError:
            raise UnknownParameterError(unknown_parameter_message(name, self._values)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        changed = {n: v for n, v in self._values.items() if v != self._table[n].value}
        return (
            f"ParameterSet({len(self)} parameters, {len(changed)} changed from the table: "
            f"{changed})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParameterSet):
            return NotImplemented
        return self._values == other._values and self.model == other.model

    def __hash__(self) -> int:
        return hash(tuple(self._values.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (ParameterSet, (dict(self._values), self._table, self._model))

    def _repr_html_(self) -> str:
        """Notebook view: the parameters that differ from the table (or the first ten)."""
        frame = self.to_frame()
        changed = frame[frame["changed"]]
        shown = changed if len(changed) else frame.head(10)
        what = f"{len(changed)} changed from the table" if len(changed) else "none changed"
        cols = ["value", "unit", "table_value", "status", "description"]
        return (
            f"<p><b>ParameterSet</b>: {len(self)} parameters, {what}"
            f"{'' if len(changed) else ' (first 10 shown)'}</p>"
            + shown[cols].to_html(float_format=lambda v: f"{v:.4g}")
        )

    def to_frame(self) -> pd.DataFrame:
        """The parameters as a table: one row per parameter, indexed by name.

        Returns
        -------
        pandas.DataFrame
            Columns ``value``, ``unit``, ``lower``, ``upper`` (in the unit), ``prior_sd``
            (log-scale SD, NaN if none), ``fixed``, ``status``, ``description``, ``source``,
            ``table_value`` (the table's value) and ``changed`` (value differs from it).
        """
        import pandas as pd

        rows = []
        for name, spec in self._table.items():
            value = self._values[name]
            rows.append({
                "name": name, "value": value, "unit": spec.unit, "lower": spec.lower,
                "upper": spec.upper,
                "prior_sd": math.nan if spec.prior_sd is None else spec.prior_sd,
                "fixed": spec.fixed, "status": spec.status, "description": spec.description,
                "source": spec.source, "table_value": spec.value, "changed": value != spec.value,
            })  # fmt: skip
        return pd.DataFrame(rows).set_index("name")

    def to_lmfit(self, free: Sequence[str] = ()) -> lmfit.Parameters:
        """The parameters as :class:`lmfit.Parameters` (bounds from the table).

        Parameters
        ----------
        free : sequence of str
            Parameters to mark ``vary=True`` (default: none; all others ``vary=False``).

        Returns
        -------
        lmfit.Parameters
            Each parameter's ``user_data`` holds its ``unit``, ``status``, ``source``,
            ``description`` and ``prior_sd`` (log-scale SD or None).
        """
        import lmfit

        for name in free:
            if name not in self._values:
                raise UnknownParameterError(unknown_parameter_message(name, self._values))
        out = lmfit.Parameters()
        for name, spec in self._table.items():
            out.add(name, value=self._values[name], min=spec.lower, max=spec.upper,
                    vary=name in free and spec.lower < spec.upper)  # fmt: skip
            out[name].user_data = {
                "unit": spec.unit, "status": spec.status, "source": spec.source,
                "description": spec.description, "prior_sd": spec.prior_sd,
            }  # fmt: skip
        return out

    @classmethod
    def from_lmfit(cls, params: lmfit.Parameters, base: ParameterSet | None = None) -> ParameterSet:
        """A parameter set from :class:`lmfit.Parameters` (e.g. after your own lmfit fit).

        Parameters
        ----------
        params : lmfit.Parameters
            Values by parameter name (units as in the table); names outside the table are
            refused.
        base : ParameterSet, optional
            Values of the parameters `params` does not name, and the model (default: the
            package defaults).

        Returns
        -------
        ParameterSet
        """
        import lmfit

        if not isinstance(params, lmfit.Parameters):
            raise ParameterError(
                f"from_lmfit needs an lmfit.Parameters, got {type(params).__name__}"
            )
        base = base if base is not None else default_parameters()
        return base.replace(**{name: float(p.value) for name, p in params.items()})

    def replace(self, **changes: float) -> ParameterSet:
        """Return a copy with some values changed (validated like the constructor).

        Parameters
        ----------
        **changes : float
            New values by parameter name (units as in the table).

        Returns
        -------
        ParameterSet
            The new set; this one is unchanged.

        Examples
        --------
        >>> import pdmodel as pm
        >>> pm.default_parameters().replace(il11_smax=2.0)["il11_smax"]
        2.0
        """
        for name in changes:
            if name not in self._values:
                raise UnknownParameterError(unknown_parameter_message(name, self._values))
        return ParameterSet({**self._values, **changes}, table=self._table, model=self._model)


def _check_value(spec: ParameterSpec, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"parameter `{spec.name}` must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ParameterError(f"parameter `{spec.name}` must be finite, got {value}")
    if not spec.lower <= value <= spec.upper:
        raise ParameterError(
            f"parameter `{spec.name}` = {value} {spec.unit} lies outside its bounds "
            f"[{spec.lower}, {spec.upper}]"
        )
    return value
