"""The fit pipeline (issue 10): one store, one callback adapter, the module
structure; and the defects of issue 16 it fixes (items 1, 7 and 9)."""

import ast
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils.validation import check_is_fitted

from skae import AutoencoderTransformer, DenoisingAutoencoder

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SKAE = Path(__file__).resolve().parents[1] / "skae"


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(80, 8))


# ------------------------------------------------------ the user's callback
@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_callback_snapshots_are_copies(solver, dtype, X):
    """Item 1: the estimator handed to the callback holds its own copies of
    the parameters: snapshots differ across iterations and never share
    memory with each other or with the final state, in float32 and float64."""
    X = X.astype(dtype)
    kept = []

    def keep(iteration, loss, est):
        kept.append(est.coefs_[0])
        assert est.n_features_in_ == 8 and est.n_iter_ == iteration

    est = AutoencoderTransformer(
        3,
        hidden_layer_sizes=(5,),
        max_iter=8,
        solver=solver,
        early_stopping=False,
        callback=keep,
    ).set_params(random_state=0)
    est.fit(X)
    assert len(kept) == 8
    assert all(W.dtype == dtype for W in kept)
    for a, b in zip(kept[:-1], kept[1:]):
        assert not np.array_equal(a, b)
        assert not np.shares_memory(a, b)
    for W in kept:
        assert not np.shares_memory(W, est.coefs_[0])
    np.testing.assert_array_equal(kept[-1], est.coefs_[0])


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_writing_into_the_callbacks_parameters_never_changes_the_fit(solver, dtype, X):
    """Item 1: zeroing the callback's coefs_ in place leaves the fit exactly
    as without a callback, in both dtypes (it used to change the optimizer's
    iterate in float64 only)."""
    X = X.astype(dtype)
    kw = dict(hidden_layer_sizes=(5,), max_iter=8, solver=solver, random_state=0)

    def vandal(iteration, loss, est):
        for W in est.coefs_:
            W[...] = 0

    plain = AutoencoderTransformer(3, **kw).fit(X)
    touched = AutoencoderTransformer(3, callback=vandal, **kw).fit(X)
    for A, B in zip(plain.coefs_, touched.coefs_):
        np.testing.assert_array_equal(A, B)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_callback_that_detaches_itself(solver, X):
    """Item 7: the callback is read once per fit; detaching it from inside
    (set_params(callback=None) on the estimator it was given, or on the
    fitted one) does not crash the fit."""
    calls = []
    est = AutoencoderTransformer(
        3, hidden_layer_sizes=(5,), max_iter=6, early_stopping=False
    )

    def once(iteration, loss, view):
        calls.append(iteration)
        view.set_params(callback=None)
        est.set_params(callback=None)

    est.set_params(callback=once, solver=solver, random_state=0).fit(X)
    assert calls == list(range(1, 7))
    assert est.n_iter_ == 6 and est.callback is None


# ----------------------------------------------------------- atomic store
def _consistent(est, n_features):
    check_is_fitted(est)
    assert est.n_features_in_ == n_features
    assert est.coefs_[0].shape[0] == n_features == est.coefs_[-1].shape[1]
    assert est.intercepts_[-1].shape == (n_features,)
    assert len(est.loss_curve_) == est.n_iter_


def test_concurrent_fits_of_one_object_store_one_of_them_whole():
    """Item 9: two threads fitting 8- and 5-feature data on the same object:
    the result is one of the two fits, whole (n_features_in_, coefs_,
    intercepts_ and the curves agree), never a mix."""
    rng = np.random.RandomState(0)
    data = [rng.normal(size=(60, 8)), rng.normal(size=(60, 5))]
    for _ in range(5):
        est = AutoencoderTransformer(
            2, hidden_layer_sizes=(4,), max_iter=20, early_stopping=False
        )
        barrier = threading.Barrier(2)

        def work(Xi, est=est, barrier=barrier):
            barrier.wait()
            est.fit(Xi)

        threads = [threading.Thread(target=work, args=(Xi,)) for Xi in data]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _consistent(est, est.n_features_in_)
        assert est.n_features_in_ in (8, 5)


def test_reentrant_fit_from_the_callback_leaves_the_outer_fit(X):
    """Item 9: a callback that fits the same object on other data: the outer
    fit completes and its state, whole, is what remains."""
    other = np.random.RandomState(1).normal(size=(40, 5))
    est = AutoencoderTransformer(
        2, hidden_layer_sizes=(4,), max_iter=5, early_stopping=False
    )

    def refit(iteration, loss, view):
        if iteration == 2:
            est.set_params(callback=None).fit(other)

    est.set_params(callback=refit, random_state=0).fit(X)
    _consistent(est, 8)
    assert est.n_iter_ == 5


def test_failed_fit_removes_every_fitted_attribute_at_once(X):
    """A failed fit leaves no fitted attribute behind, the private Adam
    state included."""
    est = AutoencoderTransformer(2, hidden_layer_sizes=(4,)).partial_fit(X)
    assert hasattr(est, "_adam_state")
    with pytest.raises(ValueError):
        est.fit(np.full((5, 8), np.nan))
    assert not [k for k in vars(est) if k.endswith("_") or k == "_adam_state"]


# --------------------------------------------------------------- structure
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
    {"_activations", "_architecture", "_noise", "_optimize", "_docstrings", "_select"},
    {"_network"},
    {"_pca", "_kernel"},
    {"_minibatch"},
    {"_validation", "_inference", "_memory", "_pretrain", "_adam"},
    {"_chunks"},
    {"_dask"},
    {"_fit", "_transform"},
    {"_base"},
    {"_autoencoder", "_denoising", "_sparse", "_outlier"},
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


def test_fitted_state_is_the_same_for_every_estimator_kind(X):
    """One store: every estimator and both solvers set the same attributes."""
    names = set()
    for est in [
        AutoencoderTransformer(2, max_iter=3),
        AutoencoderTransformer(2, max_iter=3, solver="adam"),
        DenoisingAutoencoder(2, max_iter=3, early_stopping=True),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = {k for k in vars(est.fit(X)) if k.endswith("_")}
        names.add(frozenset(fitted))
    assert len(names) == 1


def test_inference_blocks_respect_working_memory_for_deep_networks():
    """One block-size rule, from the real per-row footprint (every layer
    output ``forward`` keeps): a deep network's ``score_samples`` stays
    within ``working_memory`` (it used to assume three times the widest
    layer, and peaked at 88 MiB for 16 MiB here)."""
    import tracemalloc

    from sklearn import config_context

    rng = np.random.RandomState(0)
    X = rng.normal(size=(20000, 50))
    est = AutoencoderTransformer(
        2, hidden_layer_sizes=(100,) * 8, max_iter=1, random_state=0
    )
    est.fit(X[:200])
    with config_context(working_memory=16):
        tracemalloc.start()
        scores = est.score_samples(X)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert scores.shape == (20000,)
    assert peak < 16 * 2**20 * 1.25, peak / 2**20
