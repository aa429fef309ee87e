"""Reliability claims of issue 6, each proven by a test.

Fuzzing (claim 1) lives in ``test_fuzz.py``. Here: numerical safety (2),
parameter validation (3), nothing lost (4), determinism (5), concurrency (6)
and interruption (7), for every public estimator.
"""

import pickle
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

import skae._fit
import skae._memory
from skae import AutoencoderTransformer, DenoisingAutoencoder, SparseAutoencoder
from skae._activations import ACTIVATIONS
from skae._base import _FITTED_ATTRIBUTES
from skae._network import kl_sparsity
from skae._optimize import minimize_lbfgs

# Small fixed budgets: running out of iterations is expected, not tested here.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = dict(max_iter=15, random_state=0)

# One configuration per variant; ids name them in the test report.
CONFIGS = {
    "plain": AutoencoderTransformer(hidden_layer_sizes=(6,), **SMALL),
    "linear": AutoencoderTransformer(
        hidden_layer_sizes=(), activation="identity", **SMALL
    ),
    "deep-greedy-tied": AutoencoderTransformer(
        hidden_layer_sizes=(6, 4),
        pretrain="greedy",
        pretrain_max_iter=5,
        tied_weights=True,
        **SMALL,
    ),
    "early-stopping": AutoencoderTransformer(
        hidden_layer_sizes=(5,), early_stopping=True, **SMALL
    ),
    "gaussian": DenoisingAutoencoder(hidden_layer_sizes=(6,), **SMALL),
    "masking": DenoisingAutoencoder(
        noise="masking", noise_level=0.3, n_corruptions=2, **SMALL
    ),
    "salt-and-pepper": DenoisingAutoencoder(
        noise="salt_and_pepper",
        noise_level=0.2,
        code_activation="logistic",
        sparsity_weight=0.1,
        **SMALL,
    ),
    "sparse": SparseAutoencoder(n_components=12, **SMALL),
    "sparse-relu-tied": SparseAutoencoder(
        n_components=12, activation="relu", tied_weights=True, **SMALL
    ),
}
# Configurations whose training accepts sparse input.
SPARSE_OK = {
    "plain",
    "linear",
    "deep-greedy-tied",
    "early-stopping",
    "masking",
    "sparse",
    "sparse-relu-tied",
}
ESTIMATOR_CLASSES = [AutoencoderTransformer, DenoisingAutoencoder, SparseAutoencoder]


try:
    import dask.array as da
except ImportError:  # the dask extra is optional
    da = None

# In-memory inputs and dask arrays must make the same promises (issue 16).
CONTAINERS = [
    "numpy",
    pytest.param(
        "dask", marks=pytest.mark.skipif(da is None, reason="needs dask[array]")
    ),
]


def _as(container, A):
    """``A`` itself, or as a dask array of row chunks of 2 rows."""
    return da.from_array(A, chunks=(2, -1)) if container == "dask" else A


def _result(out):
    """A lazy dask result computed (where a dask path raises)."""
    return out.compute() if hasattr(out, "compute") else out


def make_estimator(name, **params):
    return clone(CONFIGS[name]).set_params(**params)


def make_iterating(name, **params):
    """``make_estimator`` for tests of what happens during iterations: one
    run of the solver on every row (no cross-validated iteration choice,
    whose final run, the only one a callback sees, may have 0 iterations),
    and for the linear model Glorot's start (PCA's is its optimum, where
    L-BFGS converges at once)."""
    est = make_estimator(name, **params)
    if name != "early-stopping":
        est.set_params(early_stopping=False)
    if name == "linear":
        est.set_params(init="random")
    return est


@pytest.fixture(scope="module")
def X_small():
    rng = np.random.RandomState(0)
    return rng.uniform(size=(60, 8))


def assert_unfitted(est):
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    for name in _FITTED_ATTRIBUTES:
        assert not hasattr(est, name), name
    with pytest.raises(NotFittedError):
        est.transform(np.ones((2, 8)))


# --------------------------------------------------------------------------
# 2. numerical safety
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logistic_never_overflows(dtype):
    Z = np.array([-1e30, -1e4, -745.0, -50.0, 0.0, 50.0, 745.0, 1e4, 1e30], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        A = Z.copy()
        ACTIVATIONS["logistic"](A)
    assert A.dtype == dtype
    assert np.isfinite(A).all() and (A >= 0).all() and (A <= 1).all()
    np.testing.assert_allclose(A, expit(Z.astype(np.float64)), rtol=1e-6)


def test_kl_sparsity_finite_at_saturated_codes():
    """rho_hat of exactly 0 or 1 (saturated logistic units) gives a large but
    finite penalty and gradient, never inf or NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        kl, grad = kl_sparsity(np.array([0.0, 1.0, 0.05, 0.5]), 0.05)
    assert np.isfinite(kl) and np.isfinite(grad).all()
    assert grad[2] == pytest.approx(0.0, abs=1e-12)


def test_line_search_backtracks_over_overflowing_trial_points():
    """A trial point whose loss overflows (inf or NaN) is a step too long: the
    line search must step back and still reach the optimum, silently."""
    target = np.array([1.0, -1.0])
    calls = {"bad": 0}

    def fun(theta):
        # sum log cosh(theta - target): secant steps from far away overshoot
        if np.abs(theta).max() > 6:
            calls["bad"] += 1
            return (np.nan if calls["bad"] % 2 else np.inf), np.full(2, np.nan)
        r = theta - target
        return float(np.logaddexp(r, -r).sum()), np.tanh(r)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = minimize_lbfgs(fun, np.array([-5.0, 5.0]), tol=1e-10)
    assert calls["bad"] > 0
    np.testing.assert_allclose(res.theta, target, atol=1e-6)
    assert np.isfinite(res.loss)


def _wrap_objective(monkeypatch, wrap):
    """Make every in-memory L-BFGS objective built from now on
    ``wrap(fun, count)``, through the documented seam
    ``skae._memory.ArrayData.objective`` (``count[0]`` counts evaluations)."""
    original = skae._memory.ArrayData.objective

    def objective(self, *args, **kwargs):
        return wrap(original(self, *args, **kwargs), [0])

    monkeypatch.setattr(skae._memory.ArrayData, "objective", objective)


def _poison_objective(monkeypatch, from_eval, loss_value, grad_value):
    """The objective returns ``loss_value`` (and a gradient times
    ``grad_value``) from its ``from_eval``-th evaluation on: a run whose
    parameters have blown up."""

    def wrap(fun, count):
        def poisoned(theta):
            count[0] += 1
            loss, grad = fun(theta)
            if count[0] >= from_eval:
                with np.errstate(invalid="ignore", over="ignore"):
                    return loss_value, grad * grad_value
            return loss, grad

        return poisoned

    _wrap_objective(monkeypatch, wrap)


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("cls", ESTIMATOR_CLASSES)
def test_divergence_mid_run_is_a_clear_value_error(cls, bad, X_small, monkeypatch):
    """Loss and gradient turning non-finite during the run (after three good
    evaluations): fit raises a ValueError saying training diverged, warns
    nothing else, and leaves the (previously fitted) estimator unfitted."""
    est = cls(hidden_layer_sizes=(4,), max_iter=50, random_state=0).fit(X_small)
    _poison_objective(monkeypatch, 4, bad, bad)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="diverged"):
            est.fit(X_small)
    assert_unfitted(est)


@pytest.mark.parametrize("cls", ESTIMATOR_CLASSES)
def test_non_finite_gradient_with_finite_loss_never_gives_nan_parameters(
    cls, X_small, monkeypatch
):
    """A gradient that overflows while the loss stays finite (the gradient
    norm is checked too): either a clear error or finite parameters."""
    est = cls(hidden_layer_sizes=(4,), max_iter=30, random_state=0)
    _poison_objective(monkeypatch, 4, 1.0, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            est.fit(X_small)
        except ValueError as exc:
            assert "non-finite" in str(exc) or "not finite" in str(exc)
            assert_unfitted(est)
        else:
            assert all(np.isfinite(W).all() for W in est.coefs_)
            assert np.isfinite(est.transform(X_small)).all()


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_overflowing_transform_input_is_a_clear_value_error(dtype, container, X_small):
    """A model fitted on unit-scale data, asked to transform or score values
    whose squares overflow the dtype: a ValueError, never inf/NaN outputs
    or an overflow warning; in memory and on a dask array alike (issue 16,
    item 3). (Glorot's decoder: a PCA start's decoder has orthonormal rows,
    which codes at the dtype's maximum need not overflow.)"""
    est = AutoencoderTransformer(
        hidden_layer_sizes=(),
        activation="identity",
        init="random",
        max_iter=10,
        random_state=0,
    ).fit(X_small.astype(dtype))
    huge = np.full((3, 8), np.finfo(dtype).max / 4, dtype=dtype)
    top_codes = np.full((3, 2), np.finfo(dtype).max, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="overflowed"):
            _result(est.score_samples(_as(container, huge)))
        with pytest.raises(ValueError, match="overflowed"):
            est.score(_as(container, huge))
        # the fitted decoder is orthonormal (PCA's axes): the largest codes
        # may decode to finite values, or must be refused, never inf/NaN
        try:
            decoded = _result(est.inverse_transform(_as(container, top_codes)))
        except ValueError as exc:
            assert "overflowed" in str(exc)
        else:
            assert np.isfinite(decoded).all()
    scores = _result(est.score_samples(_as(container, X_small.astype(dtype))))
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("bad", [np.inf, -np.inf], ids=["inf", "-inf"])
def test_non_finite_input_is_a_clear_value_error_everywhere(bad, container, X_small):
    """An infinite cell in the data of ``fit`` and of every inference method,
    or in the codes of ``inverse_transform``: a ValueError that names it, in
    memory and on a dask array alike, never NaN rows or a warning (issue 16,
    item 3). A NaN in the data is a missing value (issue 14,
    tests/test_missing.py); in the codes it is an error (test_autoencoder.py)."""
    est = AutoencoderTransformer(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    est.fit(X_small)
    X = X_small[:6].copy()
    X[3, 2] = bad
    codes = est.transform(X_small[:6])
    codes[4, 0] = bad
    calls = [
        ("transform", X),
        ("reconstruct", X),
        ("score_samples", X),
        ("score", X),
        ("inverse_transform", codes),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for method, arg in calls:
            with pytest.raises(ValueError, match="NaN|infinity"):
                _result(getattr(est, method)(_as(container, arg)))
        with pytest.raises(ValueError, match="NaN|infinity"):
            clone(est).fit(_as(container, X))


@pytest.mark.parametrize("container", CONTAINERS)
def test_score_is_finite_where_every_sample_score_is(container, X_small):
    """Issue 16 item 8: 100 rows of 1e153 on a linear model score -6e306
    each, finite; their mean is too, where a plain sum overflowed to -inf
    with a RuntimeWarning."""
    est = AutoencoderTransformer(
        hidden_layer_sizes=(), activation="identity", max_iter=10, random_state=0
    ).fit(X_small)
    big = np.full((100, 8), 1e153)  # 100 x -6e306 sums past float64
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        scores = _result(est.score_samples(_as(container, big)))
        score = est.score(_as(container, big))
    assert np.isfinite(scores).all() and scores.min() < -1e306
    assert isinstance(score, float) and np.isfinite(score)
    np.testing.assert_allclose(score / 1e306, np.mean(scores / 1e306), rtol=1e-12)


def test_means_of_finite_per_row_values_never_overflow():
    """The class of item 8: every mean over per-row values (held-out error,
    cross-validation scores, ``score``) is finite where the values are."""
    from skae._means import combine_means, mean_parts, safe_mean

    values = np.full((3, 4), -1.5e308)
    values[1] /= 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert safe_mean(values) == pytest.approx(values.mean(dtype=np.float128))
        np.testing.assert_allclose(safe_mean(values, axis=1), values[:, 0])
        parts = [mean_parts(v) for v in values]
        assert combine_means(parts) == pytest.approx(safe_mean(values))
    assert safe_mean(np.zeros(3)) == 0.0


def test_n_corruptions_beyond_memory_is_a_clear_error_before_allocating(
    monkeypatch,
):
    """Issue 16 item 6: ``n_corruptions=10**7`` on 40 x 5 built a list of
    10^7 arrays until the out-of-memory killer stopped it at 24 GB. Now the
    size is checked before anything is allocated: a ValueError naming the
    parameter and the bytes, on any machine."""
    import tracemalloc

    import skae._noise

    X = np.random.RandomState(0).uniform(size=(40, 5))
    monkeypatch.setattr(skae._noise, "available_memory_bytes", lambda: 8 * 2**30)
    for solver in ("lbfgs", "adam"):
        est = DenoisingAutoencoder(n_corruptions=10**7, solver=solver, max_iter=2)
        tracemalloc.start()
        with pytest.raises(
            ValueError, match=r"n_corruptions=10000000 would need [\d,]+ MiB"
        ):
            est.fit(X)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 50 * 2**20
        assert not hasattr(est, "coefs_")
    monkeypatch.undo()  # the machine's own memory, whatever it is
    with pytest.raises(ValueError, match="n_corruptions=1000000000000"):
        DenoisingAutoencoder(n_corruptions=10**12, max_iter=2).fit(X)
    fitted = DenoisingAutoencoder(n_corruptions=3, max_iter=2, random_state=0)
    assert np.isfinite(fitted.fit(X).transform(X)).all()


# --------------------------------------------------------------------------
# 3. invalid parameters are rejected at fit, naming the parameter
# --------------------------------------------------------------------------

COMMON_INVALID = [
    ("alpha", dict(alpha=-1e-3)),
    ("alpha", dict(alpha="big")),
    ("sparsity_target", dict(sparsity_target=0.0)),
    ("sparsity_target", dict(sparsity_target=1.0)),
    ("sparsity_target", dict(sparsity_target=-0.5)),
    ("sparsity_target", dict(sparsity_target=1.5)),
    ("sparsity_weight", dict(sparsity_weight=-1.0)),
    ("sparsity_weight", dict(sparsity_weight=1.0, code_activation="tanh")),
    ("activation", dict(activation="softmax")),
    ("code_activation", dict(code_activation="sigmoid")),
    ("output_activation", dict(output_activation="tanh")),
    ("pretrain", dict(pretrain="layerwise")),
    ("n_components", dict(n_components=0)),
    ("n_components", dict(n_components=2.5)),
    ("hidden_layer_sizes", dict(hidden_layer_sizes=(0,))),
    ("hidden_layer_sizes", dict(hidden_layer_sizes=(3.5,))),
    ("max_iter", dict(max_iter=0)),
    ("max_fun", dict(max_fun=0)),
    ("tol", dict(tol=-1.0)),
    ("validation_fraction", dict(validation_fraction=1.0)),
    ("validation_fraction", dict(early_stopping=True, validation_fraction=0.001)),
    ("n_iter_no_change", dict(n_iter_no_change=0)),
    ("tied_weights", dict(tied_weights="yes")),
    ("callback", dict(callback="print")),
    # a linear network without noise would learn the identity
    (
        "n_components",
        dict(
            n_components=9,
            hidden_layer_sizes=(),
            activation="identity",
            code_activation="identity",
            sparsity_weight=0.0,
        ),
    ),
]

DENOISING_INVALID = [
    ("noise", dict(noise="poisson")),
    ("noise_level", dict(noise_level=-0.1)),
    ("noise_level", dict(noise="masking", noise_level=1.5)),
    ("noise_level", dict(noise="salt_and_pepper", noise_level=1.01)),
    ("n_corruptions", dict(n_corruptions=0)),
    (
        "n_components",
        dict(
            noise_level=0.0,
            n_components=9,
            hidden_layer_sizes=(),
            activation="identity",
        ),
    ),
]

INVALID = [
    (cls, name, params)
    for cls in ESTIMATOR_CLASSES
    for name, params in COMMON_INVALID
    # with its default noise, a linear DenoisingAutoencoder may be overcomplete
    if not (cls is DenoisingAutoencoder and params.get("n_components") == 9)
] + [(DenoisingAutoencoder, name, params) for name, params in DENOISING_INVALID]


@pytest.mark.parametrize(
    "cls, name, params",
    INVALID,
    ids=[f"{c.__name__}-{n}-{i}" for i, (c, n, _) in enumerate(INVALID)],
)
def test_invalid_parameter_rejected_at_fit_naming_it(cls, name, params, X_small):
    est = cls(**{"max_iter": 5, "random_state": 0, **params})  # never fails here
    with pytest.raises(ValueError, match=name):
        est.fit(X_small)
    assert_unfitted(est)


def test_valid_overcomplete_codes_are_not_rejected(X_small):
    """n_components > n_features is allowed wherever it is meaningful: a
    nonlinear network, or a linear one trained on noise."""
    d = X_small.shape[1]
    for est in [
        AutoencoderTransformer(
            d + 3, hidden_layer_sizes=(), code_activation="tanh", **SMALL
        ),
        DenoisingAutoencoder(
            d + 3, hidden_layer_sizes=(), activation="identity", **SMALL
        ),
        SparseAutoencoder(d + 3, **SMALL),
    ]:
        assert est.fit(X_small).transform(X_small).shape == (len(X_small), d + 3)


# --------------------------------------------------------------------------
# 4. nothing lost
# --------------------------------------------------------------------------


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
    if sp.issparse(X) and name not in SPARSE_OK:
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


@pytest.mark.parametrize("name", ["plain", "masking", "sparse", "early-stopping"])
def test_failed_refit_leaves_estimator_clearly_unfitted(name, X_small, monkeypatch):
    """A fit that fails on a previously fitted estimator (bad data, a bad
    parameter, or divergence) leaves no fitted attribute behind."""
    est = make_estimator(name).fit(X_small)
    X_nan = X_small.copy()
    X_nan[0] = np.nan  # a row without an observed value
    with pytest.raises(ValueError, match="NaN"):
        est.fit(X_nan)
    assert_unfitted(est)

    est.fit(X_small).set_params(alpha=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        est.fit(X_small)
    assert_unfitted(est)

    est.set_params(alpha=1e-4).fit(X_small)
    with pytest.raises(ValueError, match="warm_start"):
        est.set_params(warm_start=True).fit(X_small[:, :5])
    assert_unfitted(est)

    est.set_params(warm_start=False).fit(X_small)
    _poison_objective(monkeypatch, 4, np.nan, np.nan)
    with pytest.raises(ValueError, match="diverged"):
        est.fit(X_small)
    assert_unfitted(est)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_pickle_round_trip_gives_identical_outputs(name, X_small):
    est = make_estimator(name).fit(X_small)
    clone_ = pickle.loads(pickle.dumps(est))
    Z = est.transform(X_small)
    np.testing.assert_array_equal(clone_.transform(X_small), Z)
    np.testing.assert_array_equal(clone_.inverse_transform(Z), est.inverse_transform(Z))
    np.testing.assert_array_equal(
        clone_.score_samples(X_small), est.score_samples(X_small)
    )
    assert clone_.get_params().keys() == est.get_params().keys()


# --------------------------------------------------------------------------
# 5. determinism
# --------------------------------------------------------------------------


def _params(est):
    return np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])


@pytest.fixture(scope="module")
def X_digits():
    # big enough that numpy's BLAS really uses several threads
    return load_digits().data[:800] / 16.0


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_same_random_state_same_threads_gives_bit_identical_fits(name, X_small):
    """Two fits with the same integer random_state under the same thread
    settings are bit-identical (weights, noise, validation split)."""
    a = _params(make_estimator(name).fit(X_small))
    b = _params(make_estimator(name).fit(X_small))
    np.testing.assert_array_equal(a, b)


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
    default = _params(clone(est).fit(X_digits))
    with threadpool_limits(1):
        single = _params(clone(est).fit(X_digits))
        single_again = _params(clone(est).fit(X_digits))
    np.testing.assert_array_equal(single, single_again)
    np.testing.assert_allclose(single, default, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------
# 6. concurrency
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# 7. interrupt
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_keyboard_interrupt_in_callback_keeps_last_completed_iterate(name, X_small):
    """Ctrl-C once iteration 3 has completed (simulated by the callback
    raising KeyboardInterrupt at iteration 3): the estimator is fitted at
    iteration 3's parameters (with early stopping: the best held-out ones so
    far), says so with stopped_by_ == "interrupt" and a warning, and works."""
    seen = {}

    def callback(iteration, loss, est):
        if iteration == 3:
            seen["coefs"] = [W.copy() for W in est.coefs_]
            seen["loss"] = loss
            raise KeyboardInterrupt

    est = make_iterating(name, max_iter=30, callback=callback)
    if name == "early-stopping":
        est.set_params(n_iter_no_change=50)
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(X_small)
    assert est.stopped_by_ == "interrupt"
    assert est.n_iter_ == 3 and len(est.loss_curve_) == 3
    if name == "early-stopping":
        # with early stopping the best held-out iterate so far is kept
        best = int(np.argmax(est.validation_scores_))
        assert est.loss_ == est.loss_curve_[best]
    else:
        assert est.loss_ == seen["loss"]
        for W, W_seen in zip(est.coefs_, seen["coefs"]):
            np.testing.assert_array_equal(W, W_seen)
    Z = est.transform(X_small)
    assert np.isfinite(Z).all()
    assert np.isfinite(est.score_samples(X_small)).all()


def _interrupting_objective(monkeypatch, at_eval):
    def wrap(fun, count):
        def interrupted(theta):
            count[0] += 1
            if count[0] == at_eval:
                raise KeyboardInterrupt
            return fun(theta)

        return interrupted

    _wrap_objective(monkeypatch, wrap)


@pytest.mark.parametrize("at_eval", [1, 2])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_keyboard_interrupt_before_any_iteration_leaves_estimator_unfitted(
    name, at_eval, X_small, monkeypatch
):
    """KeyboardInterrupt raised inside the objective before the first
    iteration completes propagates, and the estimator, even if previously
    fitted, is left unfitted (never half-updated)."""
    est = make_iterating(name).fit(X_small)
    _interrupting_objective(monkeypatch, at_eval)
    with pytest.raises(KeyboardInterrupt) as info:
        est.fit(X_small)
    assert_unfitted(est)
    notes = getattr(info.value, "__notes__", None)
    if notes is not None:  # Python >= 3.11
        assert any("nothing was fitted" in n for n in notes)


@pytest.mark.parametrize("name", ["plain", "gaussian", "sparse"])
def test_keyboard_interrupt_in_objective_after_some_iterations(
    name, X_small, monkeypatch
):
    """KeyboardInterrupt raised inside the objective mid-run (in a line
    search) keeps the last completed iterate, with the warning."""
    est = make_iterating(name, max_iter=50)
    _interrupting_objective(monkeypatch, 10)
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(X_small)
    assert est.stopped_by_ == "interrupt"
    assert 1 <= est.n_iter_ < 10
    assert est.loss_ == est.loss_curve_[-1]
    assert np.isfinite(est.transform(X_small)).all()


def test_keyboard_interrupt_during_pretraining_stops_the_whole_fit(
    X_small, monkeypatch
):
    """Ctrl-C during a greedy pretraining stage stops the fit (it does not
    silently carry on to fine-tuning) and leaves the estimator unfitted."""
    calls = {"n": 0}
    original = skae._memory.loss_grad

    def loss_grad(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:  # after stage 1 completed a few iterations
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(skae._memory, "loss_grad", loss_grad)
    est = make_estimator("deep-greedy-tied", pretrain_max_iter=20)
    fine_tuned = []
    est.set_params(callback=lambda *a: fine_tuned.append(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        with pytest.raises(KeyboardInterrupt):
            est.fit(X_small)
    assert not fine_tuned
    assert_unfitted(est)


# --------------------------------------------------------------------------
# partial_fit: the same promises for the streaming fit
# --------------------------------------------------------------------------


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
@pytest.mark.parametrize("name", ["plain", "masking", "sparse"])
def test_failed_partial_fit_leaves_previous_state_intact(
    name, exc, X_small, monkeypatch
):
    """A partial_fit call that fails mid-pass (here the minibatch objective
    raises at the third Adam step, through the seam
    ``skae._fit.batch_objective``) leaves the estimator exactly as the
    previous call left it, parameters and stream state consistent, never
    half-updated."""
    est = make_estimator(name, batch_size=10)
    est.partial_fit(X_small)
    before = _params(est)
    n_iter, curve = est.n_iter_, list(est.loss_curve_)
    original = skae._fit.batch_objective

    def failing(*args, **kwargs):
        fun, count = original(*args, **kwargs), [0]

        def batch_fun(theta, batch):
            count[0] += 1
            if count[0] == 3:
                raise exc
            return fun(theta, batch)

        return batch_fun

    monkeypatch.setattr(skae._fit, "batch_objective", failing)
    with pytest.raises(exc):
        est.partial_fit(X_small)
    monkeypatch.undo()
    np.testing.assert_array_equal(_params(est), before)
    assert est.n_iter_ == n_iter and est.loss_curve_ == curve
    # the stream resumes from that state as if the failed call never happened
    est.partial_fit(X_small)
    reference = make_estimator(name, batch_size=10)
    reference.partial_fit(X_small)
    reference.partial_fit(X_small)
    assert est.n_iter_ == 2
    np.testing.assert_allclose(_params(est), _params(reference), rtol=1e-5)


@pytest.mark.parametrize("name", ["plain", "gaussian", "sparse"])
def test_partial_fit_deterministic_and_pickle_resumes(name, X_small):
    """Same random_state: bit-identical streams; a pickled stream resumes
    bit-identically; X is never modified."""
    X = X_small.copy()
    X.flags.writeable = False
    a, b = make_estimator(name, batch_size=16), make_estimator(name, batch_size=16)
    for est in (a, b):
        est.partial_fit(X)
    np.testing.assert_array_equal(_params(a), _params(b))
    c = pickle.loads(pickle.dumps(a))
    a.partial_fit(X)
    c.partial_fit(X)
    np.testing.assert_array_equal(_params(a), _params(c))
    np.testing.assert_array_equal(X, X_small)


def test_fit_peak_memory_follows_the_documented_model():
    """Issue 16's memory model (docs/scaling.rst, "Memory"): an L-BFGS fit
    on 100,000 x 50 float64 with ``hidden_layer_sizes=(100,)`` allocates at
    most the model's bytes and at most issue 12's 4.5x ``X.nbytes`` (it
    allocated 9.2x, its workspace holding every row)."""
    import tracemalloc

    from skae._memory import peak_bytes

    X = np.random.RandomState(0).standard_normal((100_000, 50))
    est = AutoencoderTransformer(
        10, hidden_layer_sizes=(100,), solver="lbfgs", max_iter=1, random_state=0
    )
    est.fit(X[:300])  # one-time allocations
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    est.fit(X)
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    sizes = [50, *(W.shape[1] for W in est.coefs_)]
    model = peak_bytes("lbfgs", *X.shape, sizes, X.dtype, validation_fraction=0.1)
    assert peak <= 1.05 * model, (peak / 2**20, model / 2**20)
    assert peak <= 4.5 * X.nbytes, peak / X.nbytes
