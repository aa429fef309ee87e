"""The estimator API every public estimator shares (skae._base, skae._transform).

Shapes, fitted attributes and scores; inference that does not depend on how
it is evaluated (row blocks, threads, ``set_params`` after fit); inputs never
modified; determinism. scikit-learn's own checks run in ``test_common.py``;
parameter and input errors in ``test_validation.py``.
"""

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from skae import AutoencoderTransformer
from tests.conftest import flat_params
from tests.estimators import CONFIGS, accepts_sparse, make_estimator

QUIET = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def X_digits():
    # big enough that numpy's BLAS really uses several threads
    return load_digits().data[:800] / 16.0


# ------------------------------------------------ shapes, attributes, scores
def test_api_shapes_and_score(digits_unit):
    X = digits_unit[:300]
    ae = AutoencoderTransformer(5, hidden_layer_sizes=(7,), max_iter=20, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter=20"):
        Z = ae.fit_transform(X)
    assert Z.shape == (300, 5)
    X_hat = ae.inverse_transform(Z)
    assert X_hat.shape == X.shape
    np.testing.assert_allclose(ae.reconstruct(X), X_hat)
    s = ae.score_samples(X)
    np.testing.assert_allclose(s, -np.sum((X - X_hat) ** 2, axis=1))
    assert ae.score(X) == pytest.approx(s.mean())
    assert [W.shape for W in ae.coefs_] == [(64, 7), (7, 5), (5, 7), (7, 64)]
    assert ae.n_iter_ == 20 == len(ae.loss_curve_)
    assert ae.loss_ == pytest.approx(ae.loss_curve_[-1])
    assert np.all(np.diff(ae.loss_curve_) <= 1e-12)  # L-BFGS never goes uphill
    names = ae.get_feature_names_out()
    assert list(names) == [f"autoencodertransformer{i}" for i in range(5)]


def test_loss_curve_records_the_objective(digits_unit):
    X = digits_unit[:200]
    ae = AutoencoderTransformer(
        4,
        hidden_layer_sizes=(),
        alpha=0.0,
        max_iter=2000,
        activation="identity",
        random_state=0,
    ).fit(X)
    # with alpha = 0 the objective is half the mean squared error
    assert ae.loss_ == pytest.approx(-ae.score(X) / 2, rel=1e-9)


@QUIET
def test_fitted_state_is_the_same_for_every_estimator_kind(X_small):
    """One store: every configuration of the table, both solvers, sets the
    same fitted attributes (the outlier detector adds its ``offset_``)."""
    names = {}
    for name in CONFIGS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = make_estimator(name).fit(X_small)
        names[name] = frozenset(k for k in vars(est) if k.endswith("_"))
    assert len(set(names.values()) - {names["outlier"]}) == 1, names
    assert names["outlier"] == names["plain"] | {"offset_"}


# ------------------------------------------- inference, however evaluated
@QUIET
def test_transform_in_chunks_equals_one_block(digits_unit):
    from sklearn import config_context

    X = digits_unit
    ae = AutoencoderTransformer(
        3, hidden_layer_sizes=(16,), max_iter=300, tol=1e-3, random_state=0
    ).fit(X)
    full, full_scores = ae.transform(X), ae.score_samples(X)
    with config_context(working_memory=0.01):  # ~10 kB blocks: many chunks
        np.testing.assert_allclose(ae.transform(X), full, rtol=1e-12)
        # computed in one block outside, in many blocks here: it can fail
        np.testing.assert_allclose(ae.score_samples(X), full_scores, rtol=1e-12)


@QUIET
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


@QUIET
def test_set_params_after_fit_does_not_change_inference(digits_unit):
    X = digits_unit[:200]
    ae = AutoencoderTransformer(
        3, hidden_layer_sizes=(8,), max_iter=300, tol=1e-3, random_state=0
    ).fit(X)
    Z, X_hat = ae.transform(X), ae.reconstruct(X)
    ae.set_params(n_components=5, hidden_layer_sizes=(4, 4), activation="relu")
    np.testing.assert_array_equal(ae.transform(X), Z)
    np.testing.assert_array_equal(ae.reconstruct(X), X_hat)
    assert ae.layer_activations_ == ("tanh", "identity", "tanh", "identity")
    assert len(ae.get_feature_names_out()) == 3


@QUIET
@pytest.mark.parametrize("name", ["plain", "masking", "sparse", "deep-greedy-tied"])
def test_transform_from_eight_threads_equals_serial(name, X_digits):
    """transform, inverse_transform and score_samples called from 8 threads at
    once (released together by a barrier) on one fitted estimator give the
    serial results exactly."""
    est = make_estimator(name, max_iter=5).fit(X_digits)
    Z = est.transform(X_digits)
    expected = (Z, est.inverse_transform(Z), est.score_samples(X_digits))
    barrier = threading.Barrier(8)

    def work(_):
        barrier.wait()
        out = []
        for _ in range(5):
            Zt = est.transform(X_digits)
            out = (Zt, est.inverse_transform(Zt), est.score_samples(X_digits))
        return out

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    for got in results:
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g, e)


# ------------------------------------------------- inputs never modified
def _input_variants(X, tmp_path):
    """The same data as every kind of container a user may pass."""
    read_only = X.copy()
    read_only.flags.writeable = False
    path = tmp_path / "X.dat"
    mm = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape)
    mm[...] = X
    mm.flush()
    mm_ro = np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)
    # a non-canonical CSR: unsorted indices and a duplicate entry
    Xs = sp.csr_matrix(X)
    coo = Xs.tocoo()
    half = coo.data / 2
    dup = sp.csr_matrix(
        (
            np.r_[half, half][::-1],
            (np.r_[coo.row, coo.row][::-1], np.r_[coo.col, coo.col][::-1]),
        ),
        shape=X.shape,
    )
    dup.has_canonical_format = False
    return {
        "C": np.ascontiguousarray(X),
        "F": np.asfortranarray(X),
        "float32": X.astype(np.float32),
        "read-only": read_only,
        "memmap-r+": mm,
        "memmap-r": mm_ro,
        "csr": Xs,
        "csc": sp.csc_matrix(X),
        "csr-non-canonical": dup,
    }


def _snapshot(X):
    if sp.issparse(X):
        return (X.format, X.data.copy(), X.indices.copy(), X.indptr.copy())
    return (X.flags.c_contiguous, X.flags.f_contiguous, X.flags.writeable, X.copy())


def _assert_same(before, X):
    after = _snapshot(X)
    assert before[0] == after[0]
    for a, b in zip(before[1:], after[1:]):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b


@QUIET
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_input_never_modified(name, X_small, tmp_path):
    """fit, fit_transform, transform, inverse_transform, reconstruct,
    score_samples and score leave X untouched, dense (C, F, read-only,
    memory-mapped) or sparse, whatever the corruption noise."""
    for kind, X in _input_variants(X_small, tmp_path).items():
        try:
            _check_input_untouched(name, X)
        except AssertionError as exc:
            raise AssertionError(f"{kind} input: {exc}") from exc


def _check_input_untouched(name, X):
    before = _snapshot(X)
    est = make_estimator(name)
    if sp.issparse(X) and not accepts_sparse(name):
        with pytest.raises(ValueError, match="sparse"):
            est.fit(X)
        _assert_same(before, X)
        return
    Z = est.fit_transform(X)
    Z.flags.writeable = False
    Z_before = Z.copy()
    est.fit(X)
    est.transform(X)
    est.reconstruct(X)
    est.score_samples(X)
    est.score(X)
    est.inverse_transform(Z)
    np.testing.assert_array_equal(Z, Z_before)
    _assert_same(before, X)


# ------------------------------------------------------------ determinism
def test_another_random_state_gives_another_fit(digits_unit):
    """The same random_state gives the same fit:
    ``test_same_random_state_same_threads_gives_bit_identical_fits``."""
    X = digits_unit[:300]
    kw = dict(hidden_layer_sizes=(10,), max_iter=30)
    with pytest.warns(ConvergenceWarning):
        a = AutoencoderTransformer(4, random_state=42, **kw).fit(X)
    with pytest.warns(ConvergenceWarning):
        c = AutoencoderTransformer(4, random_state=1, **kw).fit(X)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


@QUIET
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_same_random_state_same_threads_gives_bit_identical_fits(name, X_small):
    """Two fits with the same integer random_state under the same thread
    settings are bit-identical (weights, noise, validation split)."""
    a = flat_params(make_estimator(name).fit(X_small))
    b = flat_params(make_estimator(name).fit(X_small))
    np.testing.assert_array_equal(a, b)


@QUIET
@pytest.mark.parametrize(
    "name", ["plain", "deep-greedy-tied", "gaussian", "masking", "sparse"]
)
def test_one_blas_thread_and_default_threads_agree_to_tolerance(name, X_digits):
    """Under threadpool_limits(1) and under the default thread count the fits
    agree to floating-point tolerance (rtol 1e-6 on the parameters), not
    bitwise: a multithreaded BLAS may sum in another order, and L-BFGS carries
    such rounding differences from one iteration to the next. The same
    setting twice is bitwise identical."""
    est = make_estimator(name, hidden_layer_sizes=(32,), max_iter=10)
    if name == "sparse":
        est.set_params(hidden_layer_sizes=(), n_components=40)
    if name == "deep-greedy-tied":
        est.set_params(hidden_layer_sizes=(32, 16))
    default = flat_params(clone(est).fit(X_digits))
    with threadpool_limits(1):
        single = flat_params(clone(est).fit(X_digits))
        single_again = flat_params(clone(est).fit(X_digits))
    np.testing.assert_array_equal(single, single_again)
    np.testing.assert_allclose(single, default, rtol=1e-6, atol=1e-9)
