"""Scale-out: Dask clusters from a command-line string, and results streamed to Parquet.

``pdmodel <command> --dask SCHEDULER_ADDRESS`` (or ``--dask local:N`` for a local cluster of N
single-threaded worker processes) runs every simulation of the command on the cluster
(:func:`dask_executor` with :func:`pdmodel.solver.use_executor`).  Results do not depend on it:
the engine's step control is per patient.  :func:`simulate_to_parquet` writes a population's
trajectories chunk by chunk, so a population whose results do not fit in memory can still be
simulated; only a few chunks are held at a time.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from .errors import MissingExtraError, OptionError
from .population import Population
from .regimens import Regimen

__all__ = ["LAYOUTS", "dask_executor", "parse_dask", "simulate_to_parquet"]

#: Table layouts of :func:`simulate_to_parquet` (and ``pdmodel simulate --table``).
LAYOUTS = ("wide", "long", "nonmem")


def parse_dask(spec: str) -> tuple[str, int | str]:
    """Validate a ``--dask`` value: ``("local", n_workers)`` or ``("address", address)``.

    Parameters
    ----------
    spec : str
        ``local:N`` (N >= 1 worker processes) or a scheduler address such as
        ``tcp://10.0.0.5:8786``.

    Returns
    -------
    tuple
        The kind and its value.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise OptionError("--dask needs a scheduler address (tcp://host:8786) or local:N")
    spec = spec.strip()
    if spec.startswith("local"):
        _, _, n = spec.partition(":")
        if not n.isdigit() or int(n) < 1:
            raise OptionError(f"--dask {spec}: give local:N with N >= 1 worker processes")
        return "local", int(n)
    if "://" not in spec and ":" not in spec:
        raise OptionError(
            f"--dask {spec}: not a scheduler address; give e.g. tcp://host:8786 or local:2"
        )
    return "address", spec


@contextlib.contextmanager
def dask_executor(spec: str) -> Iterator[Executor]:
    """A Dask cluster's executor for the ``with`` block (needs the ``[dask]`` extra).

    Parameters
    ----------
    spec : str
        ``local:N`` starts a local cluster of N worker processes with one thread each (and
        one engine thread each) and stops it afterwards; otherwise the address of a running
        scheduler to connect to.

    Yields
    ------
    concurrent.futures.Executor
        ``Client.get_executor()`` of the cluster.
    """
    kind, value = parse_dask(spec)
    try:
        import distributed
    except ImportError:
        raise MissingExtraError(
            "--dask needs dask.distributed: pip install 'pdmodel[dask]'"
        ) from None
    with contextlib.ExitStack() as stack:
        if kind == "local":
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=int(value),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
            from .solver import set_threads

            client.run(set_threads, 1)
        else:
            try:
                client = stack.enter_context(distributed.Client(str(value), timeout="10s"))
            except (OSError, TimeoutError) as exc:
                raise OptionError(f"--dask: cannot reach the scheduler at {value}: {exc}") from None
        yield client.get_executor()


def simulate_to_parquet(
    path: str | os.PathLike[str],
    population: Population,
    regimen: Regimen,
    days: float,
    *,
    layout: str = "wide",
    arm: str = "",
    meta: Mapping[str, Any] | None = None,
    times: Any = None,
    observables: Sequence[str] | None = None,
    **solver: Any,
) -> dict[str, int]:
    """Simulate a population and stream its table to a Parquet file, chunk by chunk.

    Each chunk of patients is simulated (on the executor, if any), turned into a table and
    appended to the file as a row group; the trajectories are never gathered into one array.
    The file appears only when complete (written to a temporary file, then renamed); on any
    error nothing is left.  Reading it back gives the same table as the in-memory
    ``to_frame`` / ``to_event_table`` of :func:`pdmodel.simulate`.

    Parameters
    ----------
    path : path-like
        Destination ``.parquet`` file; its folder must exist.
    population : Population
        The patients.
    regimen : Regimen
        The regimen.
    days : float
        Simulated duration, days.
    layout : str
        ``wide``, ``long`` or ``nonmem`` (see ``pdmodel simulate --table``).
    arm : str
        Arm label (the ``arm`` / ``ARM`` column).
    meta : mapping, optional
        Provenance, stored as the file's key-value metadata under ``pdmodel``.
    times : array_like, optional
        Output times, days (default: every day).
    observables : sequence of str, optional
        Observables (default: all; ``nonmem``: platelets).
    **solver
        Solver options (``chunk_size``: patients per chunk, default 2,000; ``executor``;
        ``progress``; tolerances).

    Returns
    -------
    dict
        ``patients``, ``rows``, ``chunks`` and ``bytes`` written.
    """
    from .io import arrow_table, require_pyarrow

    require_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .events import cohort_frame, to_event_table
    from .solver import simulate_chunks

    if layout not in LAYOUTS:
        raise OptionError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    dest = Path(path)
    if dest.suffix.lower() != ".parquet":
        raise OptionError(f"cannot stream to {dest}: give a file name ending in .parquet")
    if not dest.parent.is_dir():
        raise OptionError(f"cannot write {dest}: folder {dest.parent} does not exist")
    size = solver.setdefault("chunk_size", None) or 2000
    solver["chunk_size"] = size
    chunks = population.chunks(size)
    if layout == "nonmem" and observables is None:
        observables = ("platelets",)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".parquet", dir=dest.parent)
    os.close(fd)
    writer = None
    rows = 0
    try:
        results = simulate_chunks(
            population, regimen, days, times=times, observables=observables, **solver
        )
        for chunk, res in zip(chunks, results, strict=True):
            if layout == "nonmem":
                assert observables is not None
                frame = to_event_table(res, chunk, arm=arm, observables=observables)
            else:
                cov = cohort_frame(chunk) if layout == "long" else None
                frame = res.to_frame(long=layout == "long", arm=arm, covariates=cov)
            if writer is None:
                table = arrow_table(frame, {**dict(meta or {}), "layout": layout})
                schema = table.schema
                writer = pq.ParquetWriter(tmp, schema)
            else:
                table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
            writer.write_table(table.replace_schema_metadata(schema.metadata))
            rows += len(frame)
        assert writer is not None
        writer.close()
        writer = None
        from .io import _file_mode

        os.chmod(tmp, _file_mode())
        os.replace(tmp, dest)
    except BaseException:
        if writer is not None:
            writer.close()
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"patients": len(population), "rows": rows, "chunks": len(chunks),
            "bytes": dest.stat().st_size}  # fmt: skip
