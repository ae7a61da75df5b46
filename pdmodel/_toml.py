"""Reading TOML input files with errors that name the file (shared by trials and scenarios)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_toml(path: Path, error: type[Exception], what: str) -> tuple[dict[str, Any], bytes]:
    """Parse a TOML file; returns the data and the raw bytes (for hashing).

    Raises `error` with ``cannot read <what> file ...`` or ``<path>: malformed TOML: ...``.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what} file {path}: {exc.strerror or exc}") from None
    return parse_toml(raw, str(path), error), raw


def parse_toml(raw: bytes, origin: str, error: type[Exception]) -> dict[str, Any]:
    """Parse TOML bytes; raises `error` naming `origin` on malformed input."""
    try:
        return tomllib.loads(raw.decode("utf-8-sig"))  # a byte-order mark is fine
    except UnicodeDecodeError as exc:
        raise error(
            f"{origin}: not UTF-8 text (byte {exc.start}: {exc.reason}); save the file as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{origin}: malformed TOML: {exc}") from None
    except RecursionError:
        raise error(f"{origin}: TOML nested too deeply to be a pdmodel file") from None
