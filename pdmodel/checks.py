"""Input checks: one place for the package's validation of numbers, choices and keys, and for
the wording of their errors ("<what> must be ..., got <value>").

Each check returns the checked value (converted) or raises `error` (default
:class:`pdmodel.OptionError`).  `name` is the argument's name, quoted in the message as
```name```; `subject` replaces that quoted name when the message needs more context (e.g.
``"prednisone dose `amount`"``).  A bool is never a number.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .errors import OptionError

__all__ = ["check_choice", "check_finite", "check_keys", "check_positive", "check_whole"]


def _subject(name: str, subject: str | None) -> str:
    return subject if subject is not None else f"`{name}`"


def check_whole(
    value: Any,
    name: str,
    low: int,
    error: type[Exception] = OptionError,
    *,
    subject: str | None = None,
) -> int:
    """`value` as an int if it is a whole number >= `low`.

    Parameters
    ----------
    value : object
        The value to check.
    name : str
        Its name (quoted in the message).
    low : int
        Smallest allowed value.
    error : type
        Exception raised.
    subject : str, optional
        Replaces the quoted name in the message.

    Returns
    -------
    int
        `value` as an int.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise error(f"{_subject(name, subject)} must be a whole number >= {low}, got {value!r}")
    return int(value)


def check_finite(
    value: Any, name: str, error: type[Exception] = OptionError, *, subject: str | None = None
) -> float:
    """`value` as a float if it is a finite real number.

    Parameters
    ----------
    value : object
        The value to check.
    name : str
        Its name (quoted in the message).
    error : type
        Exception raised.
    subject : str, optional
        Replaces the quoted name in the message.

    Returns
    -------
    float
        `value` as a float.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise error(f"{_subject(name, subject)} must be a finite number, got {value!r}")
    return float(value)


def check_positive(
    value: Any, name: str, error: type[Exception] = OptionError, *, subject: str | None = None
) -> float:
    """`value` as a float if it is a finite number > 0.

    Parameters
    ----------
    value : object
        The value to check.
    name : str
        Its name (quoted in the message).
    error : type
        Exception raised.
    subject : str, optional
        Replaces the quoted name in the message.

    Returns
    -------
    float
        `value` as a float.
    """
    number = check_finite(value, name, error, subject=subject)
    if number <= 0:
        raise error(f"{_subject(name, subject)} must be positive, got {value!r}")
    return number


def check_choice(
    value: Any,
    name: str,
    choices: Collection[str],
    error: type[Exception] = OptionError,
    *,
    subject: str | None = None,
) -> str:
    """`value` if it is one of `choices`; else "unknown <name> `value`; use one of ...".

    Parameters
    ----------
    value : object
        The value to check.
    name : str
        What it names (in the message).
    choices : collection of str
        The allowed values, in the order the message lists them.
    error : type
        Exception raised.
    subject : str, optional
        Replaces ``<name>`` in the message.

    Returns
    -------
    str
        `value`.
    """
    if not isinstance(value, str) or value not in choices:
        what = subject if subject is not None else name
        raise error(f"unknown {what} `{value}`; use one of {', '.join(map(str, choices))}")
    return value


def check_keys(
    mapping: Mapping[str, Any],
    allowed: Collection[str],
    error: Callable[[str, str], Exception],
) -> None:
    """Refuse keys of `mapping` not in `allowed`, naming the first unknown one.

    Parameters
    ----------
    mapping : mapping
        E.g. a TOML table.
    allowed : collection of str
        The keys it may have.
    error : callable
        ``error(key, problem)`` makes the exception (the caller's file-and-key message
        pattern); `problem` is ``"unknown key; allowed: a, b"``.
    """
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise error(unknown[0], f"unknown key; allowed: {', '.join(sorted(allowed))}")


def available_memory() -> int | None:
    """Memory available to a new allocation, bytes (``MemAvailable``; None if unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _size(nbytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if nbytes < 1000 or unit == "PB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1000
    raise AssertionError  # pragma: no cover


#: Allocations below this many bytes are not checked (any machine running pdmodel has them).
_SMALL = 256e6


def check_memory(
    nbytes: float, what: str, hint: str, error: Callable[[str], Exception] = OptionError
) -> None:
    """Refuse, before allocating, work that needs more memory than is available.

    Parameters
    ----------
    nbytes : float
        Estimated bytes the work needs.
    what : str
        What needs it, for the message.
    hint : str
        The options that reduce it.
    error : callable
        Builds the exception from the message.
    """
    if nbytes < _SMALL:  # the common case (every fit evaluation): no system call
        return
    available = available_memory()
    if available is not None and nbytes > 0.9 * available:
        raise error(
            f"{what} needs about {_size(nbytes)} of memory, more than the {_size(available)} "
            f"available; {hint}"
        )
