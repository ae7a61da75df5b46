"""Sphinx configuration: Markdown pages (MyST), numpydoc API reference, sphinx-gallery examples.

Build:  python -m sphinx -W -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
from pathlib import Path

import pdmodel

project = "pdmodel"
author = "pdmodel developers"
release = version = pdmodel.__version__
root_doc = "contents"
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip"]
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]
numpydoc_show_class_members = False
# the same checks as tests/test_api.py, from pyproject.toml
_VALIDATION = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["tool"][
    "numpydoc_validation"
]
numpydoc_validation_checks = set(_VALIDATION["checks"])
numpydoc_validation_exclude = set(_VALIDATION["exclude"])
autodoc_typehints = "none"
html_theme = "alabaster"
suppress_warnings = ["myst.xref_missing", "config.cache"]

# examples run at reduced sizes in the gallery (examples/run_sizes.toml)
SMALL = tomllib.loads((Path(__file__).parents[1] / "examples" / "run_sizes.toml").read_text())[
    "gallery"
]


# examples write their figures (and any other files) here, never into the source tree
_OUT = Path(tempfile.mkdtemp(prefix="pdmodel-gallery-"))


def _argv(gallery_conf: dict, script_vars: dict) -> list[str]:
    name = Path(script_vars["src_file"]).name
    return [*SMALL.get(name, []), "--out", str(_OUT / f"{Path(name).stem}.png")]


def _png_scraper(block: object, block_vars: dict, gallery_conf: dict) -> str:
    """Collect the PNG files an example wrote (the examples save and close their figures)."""
    from sphinx_gallery.scrapers import figure_rst

    written = sorted(_OUT.glob(f"{Path(block_vars['src_file']).stem}*.png"))
    paths = []
    image_names = block_vars["image_path_iterator"]
    for png, target in zip(written, image_names, strict=False):
        shutil.move(str(png), target)
        paths.append(target)
    return figure_rst(paths, gallery_conf["src_dir"])


def _reset(gallery_conf: dict, fname: str) -> None:
    os.environ["MPLBACKEND"] = "Agg"


sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r".*\.py",
    "ignore_pattern": r"__init__\.py",
    "reset_argv": _argv,
    "image_scrapers": (_png_scraper,),
    "reset_modules": (_reset,),
    "download_all_examples": False,
    "remove_config_comments": True,
    "write_computation_times": False,
}
