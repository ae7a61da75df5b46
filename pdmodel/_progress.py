"""Progress bars: shown on a terminal, silent otherwise (and always silent when asked)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def want_progress(progress: bool | None) -> bool:
    """Explicit choice, or (None) whether stderr is a terminal."""
    if progress is not None:
        return bool(progress)
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress_iter(
    items: Iterable[T], show: bool, desc: str, total: int | None = None
) -> Iterator[T]:
    """Iterate over `items`, with a tqdm bar on stderr when `show`."""
    if not show:
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, desc=desc, total=total, leave=False)
