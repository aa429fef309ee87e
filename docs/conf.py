"""Sphinx configuration of the skae documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` from the
repository root (``pip install ".[docs]"`` first). The gallery runs every
``examples/plot_*.py``; add ``-D plot_gallery=0`` to build without running
them.
"""

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import skae  # noqa: E402

project = "skae"
author = "the skae developers"
copyright = "the skae developers, BSD-3-Clause"
release = skae.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"

autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Doctest prompts stay visible, so readers can copy them as doctests.
numpydoc_use_plots = False

html_theme = "pydata_sphinx_theme"
html_title = f"skae {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []

sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "show_memory": False,
    "download_all_examples": False,
    "matplotlib_animations": False,
    "within_subsection_order": "FileNameSortKey",
}

# Pages another part of the project may add: listed in the index's table of
# contents when present, so the build neither fails nor orphans them.
OPTIONAL_PAGES = ["scaling"]


def _add_optional_pages(app, docname, source):
    if docname != "index":
        return
    present = [p for p in OPTIONAL_PAGES if (HERE / f"{p}.rst").exists()]
    entries = "".join(f"   {p}\n" for p in present)
    source[0] = source[0].replace("   .. optional pages\n", entries)


def setup(app):
    app.connect("source-read", _add_optional_pages)


os.environ.setdefault("MPLBACKEND", "Agg")
