"""The package as a whole: imports point down the layers (issue 10's table)
and never cycle, no module passes 450 lines, ``python -OO`` imports and fits,
and importing skae loads no optional dependency (dask).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SKAE = Path(__file__).resolve().parents[1] / "skae"


@pytest.mark.slow
def test_import_under_python_OO():
    """Docstrings are stripped under -OO: importing and fitting still work."""
    code = (
        "import numpy as np, skae; "
        "ae = skae.DenoisingAutoencoder(2, max_iter=3, tol=0.1).fit(np.eye(6)); "
        "print(skae.AutoencoderTransformer.__doc__, ae.transform(np.eye(6)).shape)"
    )
    out = subprocess.run(
        [sys.executable, "-OO", "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        cwd=SKAE.parent,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "(6,", "2)"]


def _skae_imports(path):
    """Names of the skae modules ``path`` imports (at any depth)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("skae"):
            if node.module == "skae":  # modules, or public names of the package
                found.update(
                    f"skae.{a.name}" if (SKAE / f"{a.name}.py").exists() else "skae"
                    for a in node.names
                )
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("skae"))
    return found


#: Each layer imports only from the layers below it (issue 10's table): the
#: numerical core, then checks, inference and the L-BFGS solver, then the
#: Adam solver and the data backends, the fit pipeline, the base estimator,
#: the public estimators, and what uses the public API.
LAYERS = [
    {"_means", "_terms"},
    {
        "_missing",
        "_gaussian",
        "_activations",
        "_architecture",
        "_noise",
        "_optimize",
        "_docstrings",
        "_select",
    },
    {"_network"},
    {"_pca", "_kernel"},
    {"_minibatch", "_guard"},
    {"_validation", "_inference", "_memory", "_draws", "_pretrain", "_adam"},
    {"_chunks"},
    {"_dask"},
    {"_dask_io"},
    {"_fit", "_transform"},
    {"_base"},
    {"_autoencoder", "_denoising", "_sparse", "_outlier"},
    {"_imputation"},
    {"_imputer"},
    {"__init__"},
    {"plotting", "onnx", "_tables"},
    {"_cli_checks"},
    {"__main__"},
]


def test_imports_point_down_and_modules_stay_small():
    """No import cycle: the core, the solvers, the validation and the data
    backends import nothing from the estimator modules. No module is over
    450 lines."""
    level = {name: i for i, names in enumerate(LAYERS) for name in names}
    modules = sorted(SKAE.glob("*.py"))
    assert {p.stem for p in modules} == set(level), "update LAYERS"
    for path in modules:
        for imported in _skae_imports(path):
            parts = imported.split(".")
            target = parts[1] if len(parts) > 1 else "__init__"
            assert level[target] < level[path.stem], f"{path.name} imports {imported}"
        n_lines = len(path.read_text().splitlines())
        assert n_lines <= 450, f"{path.name} has {n_lines} lines"


def test_importing_skae_does_not_import_dask():
    code = "import sys, skae; from skae import _base; print('dask' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
