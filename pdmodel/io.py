"""Reading and writing parameter files (JSON and CSV) and the parameter table views.

Exporters are small pure functions returning text (``EXPORTERS``); writing goes through
:func:`write_text_atomic`, so a failed export never leaves a half-written file behind.

JSON layout (full float precision)::

    {"format": "pdmodel-parameters", "format_version": 1, "pdmodel_version": "0.1.0",
     "parameters": {"k_ab": {"value": 0.53, "unit": "1/day", "lower": 0.01, "upper": 5.0,
                             "prior": "lognormal(ln 0.53, 0.7)", "status": "derived",
                             "source": "..."}, ...}}

A file may list a subset of the parameters; the others keep their table defaults.  Each entry may
also be a bare number.  CSV files need the columns ``name`` and ``value``; a ``unit`` column, when
present, must match the table.
"""

from __future__ import annotations

import csv
import io as _io
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .errors import ParameterError, UnknownParameterError
from .parameters import ParameterSet, default_parameters, unknown_parameter_message

__all__ = [
    "EXPORTERS",
    "from_event_table",
    "load_parameters",
    "metadata_path",
    "parameters_to_csv",
    "parameters_to_json",
    "parameters_to_markdown",
    "save_parameters",
    "to_event_table",
    "write_atomic",
    "write_table",
    "write_text_atomic",
]

_FORMAT = "pdmodel-parameters"
_COLUMNS = ("name", "value", "unit", "lower", "upper", "prior", "status", "description", "source")


def _rows(params: ParameterSet) -> list[dict[str, Any]]:
    rows = []
    for name, spec in params.table.items():
        rows.append(
            {
                "name": name,
                "value": params[name],
                "unit": spec.unit,
                "lower": spec.lower,
                "upper": spec.upper,
                "prior": spec.prior,
                "status": spec.status,
                "description": spec.description,
                "source": spec.source,
            }
        )
    return rows


def _fit_rows(params: ParameterSet, fit: Any) -> dict[str, dict[str, Any]]:
    extra: dict[str, dict[str, Any]] = {}
    for name in params:
        free = fit is not None and name in fit.free
        row: dict[str, Any] = {"free": bool(free)}
        if free:
            row["stderr"] = _num(fit.stderr[name])
            row["ci95"] = [_num(x) for x in fit.ci95[name]]
        extra[name] = row
    return extra


def _num(x: float) -> float | None:
    return None if x != x else float(x)  # NaN -> null in JSON


def parameters_to_json(params: ParameterSet, fit: Any = None) -> str:
    """JSON text of a parameter set with units, bounds, priors and sources (full precision).

    Parameters
    ----------
    params : ParameterSet
        Values.
    fit : pdmodel.calibration.FitResult, optional
        Adds per parameter ``free``, ``stderr`` and ``ci95``, and the fit's provenance, terms
        and correlations of the estimates (read back by :func:`pdmodel.calibration.load_fit`).
    """
    from ._version import __version__

    extra = _fit_rows(params, fit)
    body: dict[str, Any] = {
        "format": _FORMAT,
        "format_version": 1,
        "pdmodel_version": __version__,
        "parameters": {
            r["name"]: {**{k: v for k, v in r.items() if k != "name"}, **extra[r["name"]]}
            for r in _rows(params)
        },
    }
    if fit is not None:
        body["provenance"] = fit.provenance
        body["fit"] = {
            "objective": fit.objective,
            "success": fit.success,
            "message": fit.message,
            "correl": [[a, b, _num(r)] for (a, b), r in fit.correl.items() if a < b],
            "terms": [
                {
                    "trial": t.trial,
                    "term": t.label,
                    "kind": t.kind,
                    "value": t.value,
                    "model": t.model,
                    "probability": t.probability,
                }
                for t in fit.terms
            ],
        }
    return json.dumps(body, indent=2) + "\n"


def parameters_to_csv(params: ParameterSet, fit: Any = None) -> str:
    """CSV table of a parameter set (one row per parameter, ``repr`` precision for floats).

    With a `fit`, the columns ``free``, ``stderr``, ``ci95_low`` and ``ci95_high`` are added.
    """
    buf = _io.StringIO()
    cols = [*_COLUMNS, "free", "stderr", "ci95_low", "ci95_high"] if fit is not None else _COLUMNS
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    extra = _fit_rows(params, fit)
    for row in _rows(params):
        if fit is not None:
            e = extra[row["name"]]
            ci = e.get("ci95", [None, None])
            row = {
                **row,
                "free": e["free"],
                "stderr": e.get("stderr"),
                "ci95_low": ci[0],
                "ci95_high": ci[1],
            }
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
    return buf.getvalue()


def parameters_to_markdown(params: ParameterSet) -> str:
    """Markdown table of a parameter set (used to generate ``docs/parameters.md``)."""
    lines = [
        "| name | value | unit | bounds | prior | status | description | source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in _rows(params):
        cells = [
            f"`{r['name']}`",
            f"{r['value']:g}",
            r["unit"],
            f"[{r['lower']:g}, {r['upper']:g}]",
            r["prior"],
            r["status"],
            r["description"],
            r["source"],
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


#: Registry of parameter exporters by format name.
EXPORTERS: dict[str, Callable[[ParameterSet], str]] = {
    "json": parameters_to_json,
    "csv": parameters_to_csv,
    "markdown": parameters_to_markdown,
}


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` to `path` via a temporary file and an atomic rename.

    Parameters
    ----------
    path : path-like
        Destination; its folder must exist.
    text : str
        Content (UTF-8).
    """

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)

    return write_atomic(path, write)


def write_atomic(path: str | os.PathLike[str], write: Callable[[str], None]) -> Path:
    """Let `write` fill a temporary file next to `path`, then rename it onto `path`.

    An interrupted or failing write leaves neither a partial `path` nor the temporary file.

    Parameters
    ----------
    path : path-like
        Destination; its folder must exist.
    write : callable
        Called with the temporary file's name (same suffix as `path`, so writers that infer
        the format from it, such as ``Figure.savefig``, work).
    """
    dest = Path(path)
    if not dest.parent.exists():
        raise ParameterError(f"cannot write {dest}: folder {dest.parent} does not exist")
    if dest.is_dir():
        raise ParameterError(f"cannot write {dest}: it is a folder; give a file name")
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=dest.suffix, dir=dest.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _file_mode() -> int:
    """Permissions of a new file under the current umask (mkstemp would give 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def metadata_path(path: str | os.PathLike[str]) -> Path:
    """The provenance sidecar of a CSV table: ``<name>.csv-metadata.json``.

    The name follows the W3C "CSV on the Web" convention for metadata next to a CSV file.

    Parameters
    ----------
    path : path-like
        The CSV file.
    """
    p = Path(path)
    return p.with_name(f"{p.name}-metadata.json")


def require_pyarrow() -> None:
    """Raise :class:`~pdmodel.errors.MissingExtraError` unless pyarrow (Parquet) is installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        from .errors import MissingExtraError

        raise MissingExtraError(
            "Parquet files need pyarrow: pip install 'pdmodel[parquet]'"
        ) from None


def write_table(path: str | os.PathLike[str], frame: Any, meta: Mapping[str, Any]) -> list[Path]:
    """Write a table as plain CSV (provenance in a JSON sidecar) or Parquet (in its metadata).

    The CSV has no comment lines, so ``pandas.read_csv(path)`` reads it with no options.
    Both files are written atomically; if the second fails, the first is removed again.

    Parameters
    ----------
    path : path-like
        Destination ending in ``.csv`` or ``.parquet``.
    frame : pandas.DataFrame
        The table.
    meta : mapping of str to str
        Provenance (version, scenario, parameter set, ...).

    Returns
    -------
    list of Path
        The files written.
    """
    dest = Path(path)
    if dest.suffix.lower() == ".parquet":
        require_pyarrow()
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        kv = dict(arrow.schema.metadata or {})
        kv[b"pdmodel"] = json.dumps(dict(meta)).encode()
        arrow = arrow.replace_schema_metadata(kv)
        return [write_atomic(dest, lambda tmp: pq.write_table(arrow, tmp))]
    side = metadata_path(dest)
    if dest.suffix.lower() != ".csv":
        from .errors import OptionError

        raise OptionError(
            f"cannot write a table to {dest}: give a file name ending in .csv or .parquet"
        )
    doc = {"format": "pdmodel-table", "url": dest.name, **dict(meta),
           "columns": [str(c) for c in frame.columns]}  # fmt: skip
    # both files are complete before either replaces what was there
    text = {dest: frame.to_csv(index=False), side: json.dumps(doc, indent=1) + "\n"}
    temps: dict[Path, str] = {}
    try:
        for p, content in text.items():
            if not p.parent.exists():
                raise ParameterError(f"cannot write {p}: folder {p.parent} does not exist")
            if p.is_dir():
                raise ParameterError(f"cannot write {p}: it is a folder; give a file name")
            fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=p.suffix, dir=p.parent)
            temps[p] = tmp
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(content)
        for p, tmp in temps.items():
            os.chmod(tmp, _file_mode())
            os.replace(tmp, p)
    finally:
        for tmp in temps.values():
            Path(tmp).unlink(missing_ok=True)
    return [dest, side]


def _format_of(path: Path, fmt: str | None) -> str:
    fmt = fmt or path.suffix.lower().lstrip(".")
    if fmt not in ("json", "csv"):
        raise ParameterError(
            f"{path}: cannot tell the format; use a .json or .csv file (or pass fmt='json'/'csv')"
        )
    return fmt


def save_parameters(
    params: ParameterSet, path: str | os.PathLike[str], fmt: str | None = None, fit: Any = None
) -> Path:
    """Write a parameter set to a JSON or CSV file (format from the extension by default).

    Parameters
    ----------
    params : ParameterSet
        Values to write.
    path : path-like
        Destination file (``.json`` or ``.csv``).
    fmt : {"json", "csv"}, optional
        Format, overriding the extension.
    fit : pdmodel.calibration.FitResult, optional
        Also write standard errors, 95% intervals, free/fixed flags and (JSON) the fit's
        provenance and terms.
    """
    dest = Path(path)
    kind = _format_of(dest, fmt)
    text = parameters_to_json(params, fit) if kind == "json" else parameters_to_csv(params, fit)
    return write_text_atomic(dest, text)


def load_parameters(
    path: str | os.PathLike[str], base: ParameterSet | None = None, fmt: str | None = None
) -> ParameterSet:
    """Read a parameter file; parameters it does not list keep their values in `base`.

    Parameters
    ----------
    path : path-like
        JSON or CSV parameter file.
    base : ParameterSet, optional
        Values for parameters absent from the file (default: the package table).
    fmt : {"json", "csv"}, optional
        Format, overriding the extension.

    Raises
    ------
    ParameterError
        Unreadable file, unknown parameter, unit that differs from the table, value that is not
        a finite number within its bounds.  The message names the file and the parameter.
    """
    src = Path(path)
    base = base or default_parameters()
    try:
        text = src.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParameterError(f"cannot read parameter file {src}: {exc.strerror or exc}") from None
    kind = _format_of(src, fmt)
    entries = _parse_json(text, src) if kind == "json" else _parse_csv(text, src)
    values: dict[str, Any] = {}
    table = base.table
    for name, (value, unit) in entries.items():
        if name not in table:
            raise UnknownParameterError(f"{src}: {unknown_parameter_message(name, table)}")
        if unit is not None and unit != table[name].unit:
            raise ParameterError(
                f"{src}: parameter `{name}` has unit `{unit}` but the model uses "
                f"`{table[name].unit}`; convert the value"
            )
        values[name] = value
    try:
        return base.replace(**values)
    except ParameterError as exc:
        raise ParameterError(f"{src}: {exc}") from None


def _parse_json(text: str, src: Path) -> dict[str, tuple[Any, str | None]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParameterError(f"{src}: malformed JSON: {exc}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("parameters"), Mapping):
        raise ParameterError(f"{src}: expected an object with a `parameters` object")
    if data.get("format", _FORMAT) != _FORMAT:
        raise ParameterError(f"{src}: `format` is {data.get('format')!r}, expected {_FORMAT!r}")
    out: dict[str, tuple[Any, str | None]] = {}
    for name, entry in data["parameters"].items():
        if isinstance(entry, Mapping):
            if "value" not in entry:
                raise ParameterError(
                    f"{src}: parameter `{name}` has no `value` (a parameter file lists "
                    '`"parameters": {"name": {"value": ...}}`; is this one?)'
                )
            out[name] = (entry["value"], entry.get("unit"))
        else:
            out[name] = (entry, None)
    return out


def _parse_csv(text: str, src: Path) -> dict[str, tuple[Any, str | None]]:
    reader = csv.DictReader(_io.StringIO(text))
    fields = reader.fieldnames or []
    missing = [c for c in ("name", "value") if c not in fields]
    if missing:
        raise ParameterError(f"{src}: missing column(s) {', '.join(missing)}")
    out: dict[str, tuple[Any, str | None]] = {}
    for line, row in enumerate(reader, start=2):
        name = (row.get("name") or "").strip()
        raw = (row.get("value") or "").strip()
        try:
            value = float(raw)
        except ValueError:
            raise ParameterError(
                f"{src}, line {line}: value {raw!r} of `{name}` is not a number"
            ) from None
        if name in out:
            raise ParameterError(f"{src}, line {line}: parameter `{name}` appears twice")
        unit = row.get("unit")
        out[name] = (value, unit.strip() if unit else None)
    return out


# NONMEM-style event tables live in :mod:`pdmodel.events`; re-exported here for discoverability.
from .events import from_event_table, to_event_table  # noqa: E402
