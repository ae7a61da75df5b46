"""Regenerate the equations section of docs/model.md from the model definition.

Run from the repository root:  python docs/make_model_equations.py
A test fails when the committed file is out of date.
"""

from __future__ import annotations

from pathlib import Path

import pdmodel as pm
from pdmodel.model.docs import BEGIN, END


def main() -> None:
    path = Path(__file__).with_name("model.md")
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(head + pm.default_model().markdown().rstrip("\n") + tail, encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
