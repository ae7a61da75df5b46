"""Progress bars (``tqdm.auto``): shown on a terminal and in Jupyter, silent otherwise.

``progress=None`` means "when someone is watching": stderr is a terminal, or the code runs in
an IPython kernel (a Jupyter notebook, where stderr is not a terminal but the output is shown).
``progress=False`` is always silent; ``progress=True`` always shows a bar.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def in_notebook() -> bool:
    """Whether the code runs in a Jupyter (IPython kernel) session."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = getattr(ipython, "get_ipython", lambda: None)()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def want_progress(progress: bool | None) -> bool:
    """Explicit choice, or (None) whether stderr is a terminal or the session a notebook."""
    if progress is not None:
        return bool(progress)
    return bool(getattr(sys.stderr, "isatty", lambda: False)()) or in_notebook()


def progress_iter(
    items: Iterable[T], show: bool, desc: str, total: int | None = None
) -> Iterator[T]:
    """Iterate over `items`, with a ``tqdm.auto`` bar (a widget in Jupyter) when `show`."""
    if not show:
        yield from items
        return
    with warnings.catch_warnings():
        # without ipywidgets tqdm.auto falls back to a text bar and says so; the text bar is fine
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm

        bar = tqdm(items, desc=desc, total=total, leave=False)
    yield from bar
