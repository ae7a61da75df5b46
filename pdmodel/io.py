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

import contextlib
import csv
import io as _io
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ParameterError, UnknownParameterError
from .parameters import ParameterSet, default_parameters, unknown_parameter_message

__all__ = [
    "EXPORTERS",
    "OutputSet",
    "check_writable",
    "from_event_table",
    "load_parameters",
    "metadata_path",
    "parameters_to_csv",
    "parameters_to_json",
    "parameters_to_markdown",
    "read_table",
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

    Returns
    -------
    str
        The JSON document, ending in a newline.
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

    Parameters
    ----------
    params : ParameterSet
        Values.
    fit : pdmodel.calibration.FitResult, optional
        Adds the fit's columns.

    Returns
    -------
    str
        The CSV text, a header line first.
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
    """Markdown table of a parameter set (used to generate ``docs/parameters.md``).

    Parameters
    ----------
    params : ParameterSet
        Values.

    Returns
    -------
    str
        The table, one line per parameter after the header.
    """
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

    Returns
    -------
    Path
        `path`.
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

    Returns
    -------
    Path
        `path`.
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


def check_writable(path: str | os.PathLike[str], option: str = "output") -> Path:
    """Refuse, before any work, an output path that cannot be written.

    Checks that no existing ancestor of `path` is a file, that `path` is not a folder, and
    that a file can be created in its nearest existing folder (a probe file, removed at once:
    catches read-only file systems and permissions, for root too).

    Parameters
    ----------
    path : path-like
        The output file, or (for folder outputs) the folder.
    option : str
        The option that named it, for the message (``--out``, ``--figure``).

    Returns
    -------
    Path
        `path`.
    """
    from .errors import OptionError

    dest = Path(path)
    probe_dir = dest.parent
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise OptionError(f"{option} {dest}: {probe_dir} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=probe_dir):
            pass
    except OSError as exc:
        raise OptionError(f"{option} {dest}: cannot write in {probe_dir}: {exc.strerror}") from None
    return dest


class OutputSet:
    """All-or-nothing outputs.

    Files are staged next to their destinations, then moved into place together when the
    ``with`` block succeeds.

    On any exception in the block (an error, Ctrl-C, a full disk) the staged files are removed
    and the destinations are untouched.  `stale` names files of the same folder that the
    command owns: those not produced this time are removed at commit, so a rerun into a
    folder replaces its whole set (no result of an earlier run is left beside new ones).

    Parameters
    ----------
    folder : path-like, optional
        Folder of the `stale` names (created at commit if needed).
    stale : sequence of str
        File names in `folder` owned by the command.
    inputs : sequence of path-like
        The command's input files: an output onto one of them is refused.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str] | None = None,
        stale: Sequence[str] = (),
        inputs: Sequence[str | os.PathLike[str] | None] = (),
    ) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.stale = tuple(stale)
        self._inputs = {Path(p).resolve() for p in inputs if p is not None}
        self._staged: dict[Path, str] = {}
        self._made: list[Path] = []  # folders created for staging, removed again on failure

    def __enter__(self) -> OutputSet:
        return self

    def path(self, name: str | os.PathLike[str]) -> Path:
        """Destination of `name` (relative names are in `folder`).

        Parameters
        ----------
        name : path-like
            File name, relative to `folder`, or absolute.

        Returns
        -------
        Path
            Where `name` will be written.
        """
        p = Path(name)
        return self.folder / p if self.folder is not None and not p.is_absolute() else p

    def claim(self, name: str | os.PathLike[str]) -> Path:
        """Check an output before any work: not an input, not twice, writable.

        Parameters
        ----------
        name : path-like
            File name, as for :meth:`path`.

        Returns
        -------
        Path
            The destination.
        """
        from .errors import OptionError

        dest = self.path(name)
        if dest.resolve() in self._inputs:
            raise OptionError(f"output {dest} is one of the command's inputs; it would be "
                              "overwritten: choose another name")  # fmt: skip
        check_writable(dest)
        return dest

    def write(self, name: str | os.PathLike[str], writer: Callable[[str], None]) -> Path:
        """Stage a file: `writer` fills a temporary file (same suffix as the destination).

        Parameters
        ----------
        name : path-like
            File name, as for :meth:`path`.
        writer : callable
            Called with the temporary file's name; writes the content there.

        Returns
        -------
        Path
            The destination (written when the ``with`` block succeeds).
        """
        from .errors import OptionError

        dest = self.claim(name)
        if dest in self._staged:
            raise OptionError(f"output {dest} is named twice")
        missing = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._made.extend(missing)  # deepest first
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=dest.suffix, dir=dest.parent)
        os.close(fd)
        self._staged[dest] = tmp
        writer(tmp)
        return dest

    def text(self, name: str | os.PathLike[str], content: str) -> Path:
        """Stage a UTF-8 text file.

        Parameters
        ----------
        name : path-like
            File name, as for :meth:`path`.
        content : str
            The text.

        Returns
        -------
        Path
            The destination.
        """

        def put(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                fh.write(content)

        return self.write(name, put)

    def figure(self, name: str | os.PathLike[str], fig: Any) -> Path:
        """Stage a matplotlib figure (format from the suffix).

        Parameters
        ----------
        name : path-like
            File name, as for :meth:`path` (``.png``, ``.pdf``, ``.svg``, ...).
        fig : matplotlib.figure.Figure
            The figure (saved at 120 dpi).

        Returns
        -------
        Path
            The destination.
        """
        return self.write(name, lambda tmp: fig.savefig(tmp, dpi=120))

    def table(
        self, name: str | os.PathLike[str], frame: Any, meta: Mapping[str, Any]
    ) -> list[Path]:
        """Stage a table as :func:`write_table` writes it (CSV and sidecar, or Parquet).

        Parameters
        ----------
        name : path-like
            File name ending in ``.csv`` or ``.parquet``, as for :meth:`path`.
        frame : pandas.DataFrame
            The table.
        meta : mapping of str to object
            Provenance (JSON-serialisable).

        Returns
        -------
        list of Path
            The destinations: the CSV file and its sidecar, or the Parquet file.
        """
        dest = self.path(name)
        if dest.suffix.lower() not in (".csv", ".parquet"):
            from .errors import OptionError

            raise OptionError(
                f"cannot write a table to {dest}: give a file name ending in .csv or .parquet"
            )
        if dest.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            arrow = arrow_table(frame, meta)
            return [self.write(dest, lambda tmp: pq.write_table(arrow, tmp))]
        doc = _sidecar(dest, frame, meta)
        return [self.text(dest, frame.to_csv(index=False)), self.text(metadata_path(dest), doc)]

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if kind is not None:
            for tmp in self._staged.values():
                Path(tmp).unlink(missing_ok=True)
            for folder in self._made:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if empty
            return
        mode = _file_mode()
        for tmp in self._staged.values():
            os.chmod(tmp, mode)
        for dest, tmp in self._staged.items():
            os.replace(tmp, dest)
        if self.folder is not None:
            for name in self.stale:
                old = self.folder / name
                if old not in self._staged and old.is_file():
                    old.unlink()

    @property
    def written(self) -> list[Path]:
        """The destinations staged so far, in order."""
        return list(self._staged)


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

    Returns
    -------
    Path
        The sidecar's path, beside `path`.
    """
    p = Path(path)
    return p.with_name(f"{p.name}-metadata.json")


def arrow_table(frame: Any, meta: Mapping[str, Any]) -> Any:
    """A frame as a pyarrow Table with `meta` as its key-value metadata under ``pdmodel``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    meta : mapping
        Provenance (JSON-serialisable).

    Returns
    -------
    pyarrow.Table
    """
    require_pyarrow()
    import pyarrow as pa

    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    kv = dict(arrow.schema.metadata or {})
    kv[b"pdmodel"] = json.dumps(dict(meta)).encode()
    return arrow.replace_schema_metadata(kv)


def require_pyarrow() -> None:
    """Raise :class:`~pdmodel.errors.MissingExtraError` unless pyarrow (Parquet) is installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        from .errors import MissingExtraError

        raise MissingExtraError(
            "Parquet files need pyarrow: pip install 'pdmodel[parquet]'"
        ) from None


def _sidecar(dest: Path, frame: Any, meta: Mapping[str, Any]) -> str:
    """The JSON sidecar of a CSV table: provenance and the column names."""
    doc = {"format": "pdmodel-table", "url": dest.name, **dict(meta),
           "columns": [str(c) for c in frame.columns]}  # fmt: skip
    return json.dumps(doc, indent=1) + "\n"


def write_table(path: str | os.PathLike[str], frame: Any, meta: Mapping[str, Any]) -> list[Path]:
    """Write a table as plain CSV (provenance in a JSON sidecar) or Parquet (in its metadata).

    The CSV has no comment lines, so ``pandas.read_csv(path)`` reads it with no options.
    The files are written all or nothing (:class:`OutputSet`).

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
    with OutputSet() as outputs:
        return outputs.table(path, frame, meta)


def _format_of(path: Path, fmt: str | None) -> str:
    fmt = fmt or path.suffix.lower().lstrip(".")
    if fmt not in ("json", "csv"):
        raise ParameterError(
            f"{path}: cannot tell the format from the extension; name the file .json or .csv"
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

    Returns
    -------
    Path
        The file written.
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

    Returns
    -------
    ParameterSet
        The file's values over `base`.

    Raises
    ------
    ParameterError
        Unreadable file, unknown parameter, unit that differs from the table, value that is not
        a finite number within its bounds.  The message names the file and the parameter.
    """
    src = Path(path)
    base = base or default_parameters()
    text = read_text(src, "parameter", ParameterError)
    kind = _format_of(src, fmt)
    table = base.table
    entries = _parse_json(text, src, table) if kind == "json" else _parse_csv(text, src)
    values: dict[str, Any] = {}
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


def read_table(path: str | os.PathLike[str], what: str) -> Any:
    """Read a CSV (UTF-8, optional BOM) or Parquet input table; errors name the file.

    Parameters
    ----------
    path : str or path
        The file (``.parquet`` is read as Parquet, anything else as CSV).
    what : str
        What the table is (``event``, ``cohort``), for the error messages.

    Returns
    -------
    pandas.DataFrame
        The table as read.
    """
    import pandas as pd

    from .errors import DataError

    file = Path(path)
    if not file.is_file():
        raise DataError(f"{what} file {path} not found")
    try:
        if file.suffix.lower() == ".parquet":
            return pd.read_parquet(file)
        return pd.read_csv(file, encoding="utf-8-sig")
    except (UnicodeDecodeError, ValueError, OSError, ImportError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read the {what} table: {reason}") from None


def read_text(src: Path, what: str, error: type[Exception]) -> str:
    """The text of an input file (UTF-8, a byte-order mark allowed); errors name the file.

    Parameters
    ----------
    src : Path
        The file.
    what : str
        What it is, for the message (``parameter``, ``fit``, ...).
    error : type
        Exception class to raise (one of the package's errors).

    Returns
    -------
    str
    """
    try:
        raw = src.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what} file {src}: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(
            f"{src}: not UTF-8 text (byte {exc.start}: {exc.reason}); save the file as UTF-8"
        ) from None


def strict_json(text: str, src: Path, error: type[Exception]) -> Any:
    """Parse JSON, refusing duplicate keys (which plain ``json`` lets the last one win).

    Parameters
    ----------
    text : str
        The document.
    src : Path
        Its file, for messages.
    error : type
        Exception class to raise.

    Returns
    -------
    object
    """

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise error(f"{src}: duplicate key `{key}` in JSON (each key once)")
            out[key] = value
        return out

    try:
        return json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise error(f"{src}: malformed JSON: {exc}") from None
    except RecursionError:
        raise error(f"{src}: JSON nested too deeply to be a pdmodel file") from None


#: Keys of a parameter file's top level and of a parameter entry (what `save_parameters` writes).
_FILE_KEYS = ("format", "format_version", "pdmodel_version", "parameters", "provenance", "fit")
_ENTRY_KEYS = ("value", "unit", "lower", "upper", "prior", "status", "description", "source",
               "free", "stderr", "ci95")  # fmt: skip
#: Parameter file format versions this package reads.
FORMAT_VERSIONS = (1,)


def _unknown_key(src: Path, key: str, allowed: Sequence[str], where: str) -> ParameterError:
    import difflib

    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean `{close[0]}`? " if close else ""
    return ParameterError(
        f"{src}: unknown key `{key}` {where}; {hint}allowed: {', '.join(allowed)}"
    )


def _parse_json(
    text: str, src: Path, table: Mapping[str, Any]
) -> dict[str, tuple[Any, str | None]]:
    data = strict_json(text, src, ParameterError)
    if not isinstance(data, Mapping) or not isinstance(data.get("parameters"), Mapping):
        raise ParameterError(f"{src}: expected an object with a `parameters` object")
    for key in data:
        if key not in _FILE_KEYS:
            raise _unknown_key(src, key, _FILE_KEYS, "at the top level")
    if data.get("format", _FORMAT) != _FORMAT:
        raise ParameterError(f"{src}: `format` is {data.get('format')!r}, expected {_FORMAT!r}")
    version = data.get("format_version", 1)
    if isinstance(version, bool) or version not in FORMAT_VERSIONS:
        raise ParameterError(
            f"{src}: `format_version` {version!r} is not one this pdmodel reads "
            f"({', '.join(map(str, FORMAT_VERSIONS))}); upgrade pdmodel or re-export the file"
        )
    out: dict[str, tuple[Any, str | None]] = {}
    for name, entry in data["parameters"].items():
        if isinstance(entry, Mapping):
            if "value" not in entry:
                raise ParameterError(
                    f"{src}: parameter `{name}` has no `value` (a parameter file lists "
                    '`"parameters": {"name": {"value": ...}}`; is this one?)'
                )
            for key in entry:
                if key not in _ENTRY_KEYS:
                    raise _unknown_key(src, key, _ENTRY_KEYS, f"in parameter `{name}`")
            spec = table[name] if name in table else None
            for key in ("lower", "upper", "prior"):
                if spec is not None and key in entry and entry[key] != getattr(spec, key):
                    raise ParameterError(
                        f"{src}: parameter `{name}` has `{key}` {entry[key]!r} but the "
                        f"parameter table says {getattr(spec, key)!r}: bounds and priors come "
                        "from the table, a file gives values; remove the key (or derive a "
                        "model variant with other bounds)"
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
