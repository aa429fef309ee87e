"""The documentation: numpydoc docstrings, runnable pages, a clean Sphinx build.

* every public class, public method and public plotting function passes
  ``numpydoc.validate`` except for the few checks listed in ``IGNORED``;
* every class and function, and every method skae defines, has an Examples
  section (pytest runs them: ``--doctest-modules`` on ``skae/``);
* the ``>>>`` examples in the narrative pages run (doctest);
* ``sphinx-build -W -b html`` (warnings as errors) builds the site and runs
  the gallery, when sphinx, numpydoc and sphinx-gallery are importable (they
  are in the ``test`` extra);
* ``docs/cli.rst`` documents exactly the options of ``python -m skae``'s
  argument parser, with their metavars, choices and defaults.
"""

import argparse
import doctest
import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import skae
import skae.plotting
from skae.__main__ import _parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: numpydoc checks skae does not follow, and why:
#: - ES01 (no extended summary): a one-line summary is enough for short methods.
#: - SA01 (no See Also): required on the classes (checked below), optional on
#:   methods and plotting functions, as in scikit-learn.
#: - RT02 (Returns line with a name): skae names its return values as
#:   scikit-learn does (``X_new : ndarray of shape ...``).
IGNORED = {"ES01", "SA01", "RT02"}
CLASSES = [
    "AutoencoderTransformer",
    "DenoisingAutoencoder",
    "SparseAutoencoder",
    "AutoencoderOutlierDetector",
    "AutoencoderImputer",
]


def _public_names():
    names = []
    for cls_name in CLASSES:
        cls = getattr(skae, cls_name)
        names.append((f"skae.{cls_name}", cls))
        for attr, member in inspect.getmembers(cls):
            if not attr.startswith("_") and callable(member):
                names.append((f"skae.{cls_name}.{attr}", member))
    for func in skae.plotting.__all__:
        names.append((f"skae.plotting.{func}", getattr(skae.plotting, func)))
    return names


def _defined_by_skae(obj) -> bool:
    return getattr(obj, "__module__", "").startswith("skae")


_PUBLIC = dict(_public_names())


@pytest.mark.parametrize("name", list(_PUBLIC))
def test_numpydoc_docstring(name):
    validate = pytest.importorskip("numpydoc.validate").validate
    obj = _PUBLIC[name]
    errors = [(code, msg) for code, msg in validate(name)["errors"]]
    if not _defined_by_skae(obj):
        # scikit-learn's own docstrings (get_params, set_output, ...) follow
        # scikit-learn's conventions, which do not give methods Examples.
        errors = [(c, m) for c, m in errors if c != "EX01"]
    if inspect.isclass(obj):
        errors = [(c, m) for c, m in errors if c not in IGNORED - {"SA01"}]
    else:
        errors = [(c, m) for c, m in errors if c not in IGNORED]
    assert not errors, f"{name}: " + "; ".join(f"{c} {m}" for c, m in errors)


def test_every_public_name_is_checked():
    names = set(_PUBLIC)
    for required in [
        "skae.AutoencoderTransformer.fit",
        "skae.DenoisingAutoencoder.reconstruct",
        "skae.SparseAutoencoder.score_samples",
        "skae.plotting.plot_filters",
    ]:
        assert required in names


@pytest.mark.parametrize("page", ["getting_started.rst", "user_guide.rst"])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_doc_page_examples_run(page, tmp_path, monkeypatch):
    if page == "user_guide.rst":
        pytest.importorskip("pandas")
        pytest.importorskip("skops.io")
    monkeypatch.chdir(tmp_path)
    result = doctest.testfile(
        str(DOCS / page),
        module_relative=False,
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
        raise_on_error=False,
        verbose=False,
    )
    assert result.attempted > 0
    assert result.failed == 0


def test_readme_names_the_docs_build_command():
    readme = (ROOT / "README.md").read_text()
    assert "python -m sphinx -W -b html docs docs/_build/html" in readme
    # the README keeps starting with its two commands
    assert readme.splitlines()[3] == 'pip install ".[plot]" && python -m skae'


def _documented_options(page: Path) -> dict[str, tuple[str, str]]:
    """``{option string: (signature, indented body)}`` from ``.. option::``."""
    options = {}
    for block in re.split(r"^\.\. option:: ", page.read_text(), flags=re.M)[1:]:
        signature, *lines = block.splitlines()
        body = []
        for line in lines:
            if line and not line.startswith("   "):
                break
            body.append(line.strip())
        for name in signature.split(", "):
            options[name.split()[0]] = (signature, " ".join(body))
    return options


def _signature(action) -> str:
    """How argparse's help writes an option: "--kind {a,b}", "--n K [K ...]"."""
    names = ", ".join(action.option_strings)
    if action.nargs == 0:  # a flag
        return names
    value = action.metavar
    if value is None:
        value = "{" + ",".join(action.choices) + "}" if action.choices else None
    value = value or action.dest.upper()
    if action.nargs == "+":
        value = f"{value} [{value} ...]"
    return f"{names} {value}"


def test_cli_page_lists_every_option_of_the_parser():
    """The CLI page cannot drift from the program: same options, metavars,
    choices and defaults as the argument parser."""
    documented = _documented_options(DOCS / "cli.rst")
    actions = _parser()._actions
    assert set(documented) == {s for a in actions for s in a.option_strings}
    for action in actions:
        signature, body = documented[action.option_strings[-1]]
        assert signature == _signature(action)
        if action.default not in (None, argparse.SUPPRESS):
            assert f"Default: {action.default}." in body, (signature, body)
        assert body, f"{signature}: no description"


@pytest.mark.slow
def test_sphinx_build_with_warnings_as_errors(tmp_path):
    """Build the site from a copy of docs/ and examples/, gallery included."""
    for module in ["sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme"]:
        pytest.importorskip(module)
    pytest.importorskip("matplotlib")
    shutil.copytree(
        DOCS,
        tmp_path / "docs",
        ignore=shutil.ignore_patterns(
            "_build", "generated", "auto_examples", "sg_execution_times.rst"
        ),
    )
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = dict(os.environ, MPLBACKEND="Agg")
    # The gallery's networks are small: one BLAS thread is fastest for them,
    # and the build time stops depending on what else the machine runs.
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-b",
            "html",
            str(tmp_path / "docs"),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    html = tmp_path / "html"
    for page in [
        "index.html",
        "getting_started.html",
        "user_guide.html",
        "api.html",
        "cli.html",
        "generated/skae.AutoencoderTransformer.html",
        "generated/skae.plotting.plot_filters.html",
        "auto_examples/index.html",
        "auto_examples/plot_sparse_filters.html",
    ]:
        assert (html / page).exists(), page
    n_examples = len(list((ROOT / "examples").glob("plot_*.py")))
    images = list((html / "_images").glob("sphx_glr_plot_*_001.png"))
    assert len(images) == n_examples
