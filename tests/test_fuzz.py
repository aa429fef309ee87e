"""Property-based fuzzing of every public estimator (issue 6, claim 1).

Random shapes (1 to 50 features, 2 to 200 samples, more features than samples
included), dtypes (float32, float64, int, bool), scales (1e-30 to 1e30,
constant columns, duplicated rows, the all-zero matrix) and random valid
parameter combinations. Each example must either fit and give finite
``transform`` / ``inverse_transform`` / ``score_samples`` of the right shape
and dtype (float32 in, float32 out, float64 otherwise), or raise a
``ValueError`` raised by skae's or scikit-learn's own validation (never one
from deep inside numpy or scipy). ``RuntimeWarning`` (overflow, invalid value,
division by zero) is an error throughout: none may escape.

Properties: one per public estimator on dense data, one on CSR/CSC input,
one for ``partial_fit`` (absurd learning rates included), and one for the
table of configurations (``tests/estimators.py``), fitted, given unseen data
and codes of any scale. The generated networks are small and ``max_iter <= 20``
so that each property runs its examples (300 under the
"ci" profile, 100 otherwise, see ``conftest.py``) in a second or two.
"""

import os
import re
import traceback
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer, DenoisingAutoencoder, SparseAutoencoder
from skae._activations import ACTIVATIONS
from tests.estimators import CONFIGS, make_estimator

SKAE_DIR = os.path.dirname(os.path.abspath(__import__("skae").__file__))


SKLEARN_DIR = os.path.dirname(os.path.abspath(__import__("sklearn").__file__))


DTYPES = ["float32", "float64", "int64", "bool"]


@st.composite
def datasets(draw, n_features=None):
    """A dense array with an adversarial shape, dtype, scale and structure."""
    n_samples = draw(st.integers(2, 200))
    if n_features is None:
        n_features = draw(st.integers(1, 50))
    dtype = draw(st.sampled_from(DTYPES))
    kind = draw(
        st.sampled_from(["normal", "zeros", "constant_columns", "duplicated_rows"])
    )
    # one scale for all, or per column, from 1e-30 to 1e30
    per_column = draw(st.booleans())
    exponent = draw(st.integers(-30, 30))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, n_features))
    if per_column:
        X *= 10.0 ** rng.randint(-30, 31, size=n_features)
    else:
        X *= 10.0**exponent
    if kind == "zeros":
        X[...] = 0.0
    elif kind == "constant_columns":
        cols = rng.uniform(size=n_features) < 0.5
        X[:, cols] = X[0, cols]
    elif kind == "duplicated_rows":
        X = X[rng.randint(0, max(1, n_samples // 3), size=n_samples)]
    if dtype == "bool":
        X = X > 0
    elif dtype == "int64":
        X = np.clip(np.round(X), -(2**53), 2**53).astype(np.int64)
    else:
        X = X.astype(dtype)
    return X


def _common_params(draw, n_features_hint=None):
    hidden = tuple(draw(st.lists(st.integers(1, 6), max_size=2)))
    return dict(
        n_components=draw(st.integers(1, 6)),
        hidden_layer_sizes=hidden,
        activation=draw(st.sampled_from(sorted(ACTIVATIONS))),
        code_activation=draw(st.sampled_from(sorted(ACTIVATIONS))),
        output_activation=draw(st.sampled_from(["identity", "logistic"])),
        alpha=draw(st.sampled_from([0.0, 1e-4, 1.0, 100.0])),
        tied_weights=draw(st.booleans()),
        pretrain=draw(st.sampled_from([None, "greedy"])),
        pretrain_max_iter=draw(st.integers(1, 5)),
        max_iter=draw(st.integers(1, 20)),
        tol=draw(st.sampled_from([0.0, 1e-4, 1e-1])),
        max_fun=draw(st.sampled_from([1, 5, 15000])),
        early_stopping=draw(st.booleans()),
        validation_fraction=draw(st.sampled_from([0.1, 0.3, 0.5])),
        n_iter_no_change=draw(st.integers(1, 5)),
        random_state=draw(st.integers(0, 2**31 - 1)),
    )


@st.composite
def autoencoders(draw):
    params = _common_params(draw)
    if params["code_activation"] == "logistic" and draw(st.booleans()):
        params["sparsity_weight"] = draw(st.sampled_from([0.1, 3.0]))
        params["sparsity_target"] = draw(st.floats(0.01, 0.99))
    return AutoencoderTransformer(**params)


@st.composite
def denoising_autoencoders(draw):
    params = _common_params(draw)
    noise = draw(st.sampled_from(["gaussian", "masking", "salt_and_pepper"]))
    level = st.floats(0.0, 1.0)
    if noise == "gaussian":  # a standard deviation: any size, even absurd
        level = st.floats(0.0, 2.0) | st.sampled_from([1e10, 1e40, 1e300])
    params.update(
        noise=noise,
        noise_level=draw(level),
        n_corruptions=draw(st.integers(1, 3)),
    )
    if params["code_activation"] == "logistic" and draw(st.booleans()):
        params["sparsity_weight"] = draw(st.sampled_from([0.1, 3.0]))
    return DenoisingAutoencoder(**params)


@st.composite
def sparse_autoencoders(draw):
    return SparseAutoencoder(
        n_components=draw(st.integers(1, 30)),
        activation=draw(st.sampled_from(sorted(ACTIVATIONS))),
        output_activation=draw(st.sampled_from(["identity", "logistic"])),
        alpha=draw(st.sampled_from([0.0, 1e-4, 1.0])),
        sparsity_weight=draw(st.sampled_from([0.0, 0.1, 3.0, 30.0])),
        sparsity_target=draw(st.floats(0.001, 0.999)),
        tied_weights=draw(st.booleans()),
        max_iter=draw(st.integers(1, 20)),
        early_stopping=draw(st.booleans()),
        validation_fraction=draw(st.sampled_from([0.1, 0.3])),
        random_state=draw(st.integers(0, 2**31 - 1)),
    )


@st.composite
def sparse_datasets(draw):
    """A CSR or CSC matrix of random density, scale and dtype."""
    n_samples = draw(st.integers(2, 200))
    n_features = draw(st.integers(1, 50))
    density = draw(st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0]))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    fmt = draw(st.sampled_from(["csr", "csc"]))
    scale = 10.0 ** draw(st.integers(-30, 30))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.RandomState(seed)
    X = sp.random(n_samples, n_features, density=density, format=fmt, random_state=rng)
    X.data = (X.data - 0.5) * scale
    return X.astype(dtype)


@st.composite
def sparse_input_estimators(draw):
    """Any estimator configuration whose training accepts sparse input."""
    kind = draw(st.sampled_from(["plain", "masking", "sparse"]))
    if kind == "sparse":
        return draw(sparse_autoencoders())
    est = draw(autoencoders())
    if kind == "masking":
        params = est.get_params()
        return DenoisingAutoencoder(
            **params,
            noise="masking",
            noise_level=draw(st.floats(0.0, 1.0)),
            n_corruptions=draw(st.integers(1, 3)),
        )
    return est


def _raised_by_validation(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by skae's or scikit-learn's own code."""
    frames = traceback.extract_tb(exc.__traceback__)
    filename = os.path.abspath(frames[-1].filename)
    return filename.startswith((SKAE_DIR, SKLEARN_DIR))


def _assert_unchanged(X, X_before):
    if sp.issparse(X):
        assert X.format == X_before.format
        for attr in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(getattr(X, attr), getattr(X_before, attr))
    else:
        np.testing.assert_array_equal(X, X_before)


def check_fit_or_clear_error(est, X, fit=None):
    expected_dtype = np.float32 if X.dtype == np.float32 else np.float64
    X_before = X.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            if fit is None:
                est.fit(X)
            else:
                fit(est, X)
        except ValueError as exc:
            assert _raised_by_validation(exc), "".join(traceback.format_exception(exc))
            assert len(str(exc)) > 20, str(exc)
            _assert_unchanged(X, X_before)
            if fit is None:  # (a failed later partial_fit keeps the earlier state)
                assert not hasattr(est, "coefs_")
            event("ValueError: " + re.sub(r"\d[-+.e\d]*", "#", str(exc))[:50])
            return "error"
        Z = est.transform(X)
        R = est.inverse_transform(Z)
        s = est.score_samples(X)
    n, d = X.shape
    assert Z.shape == (n, est.n_components) and Z.dtype == expected_dtype
    assert R.shape == (n, d) and R.dtype == expected_dtype
    assert s.shape == (n,) and s.dtype == expected_dtype
    for name, a in [("transform", Z), ("inverse_transform", R), ("score", s)]:
        assert np.isfinite(a).all(), f"{name} returned non-finite values"
    assert all(np.isfinite(W).all() for W in est.coefs_)
    assert np.isfinite(est.loss_)
    _assert_unchanged(X, X_before)
    event("fitted")
    return "fitted"


# Regression examples: float32 values whose squares overflow float32, and
# float64 values at the top of the range.
_BIG32 = np.full((5, 3), 1e30, dtype=np.float32) * np.arange(1, 4, dtype=np.float32)


_BIG64 = np.random.RandomState(0).standard_normal((30, 4)) * 1e30


_FUZZ = settings(
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@pytest.mark.slow
@_FUZZ
@given(X=datasets(), est=autoencoders())
@example(X=_BIG32, est=AutoencoderTransformer(hidden_layer_sizes=(3,), max_iter=5))
@example(X=_BIG64, est=AutoencoderTransformer(hidden_layer_sizes=(3,), max_iter=5))
def test_fuzz_autoencoder(X, est):
    check_fit_or_clear_error(est, X)


@pytest.mark.slow
@_FUZZ
@given(X=datasets(), est=denoising_autoencoders())
@example(X=_BIG32, est=DenoisingAutoencoder(hidden_layer_sizes=(3,), max_iter=5))
@example(
    X=_BIG64,
    est=DenoisingAutoencoder(noise="salt_and_pepper", noise_level=0.5, max_iter=5),
)
@example(  # noise whose squared errors overflow: noise_level's error, not a warning
    X=np.random.RandomState(0).standard_normal((6, 1)),
    est=DenoisingAutoencoder(
        1, hidden_layer_sizes=(), activation="identity", noise_level=1e300, max_iter=1
    ),
)
def test_fuzz_denoising(X, est):
    check_fit_or_clear_error(est, X)


@pytest.mark.slow
@_FUZZ
@given(X=datasets(), est=sparse_autoencoders())
@example(X=_BIG32, est=SparseAutoencoder(n_components=4, max_iter=5))
# found by hypothesis: 1 training sample, a saturated code and zero loss at
# the start, while the held-out sample's squared error overflows float32
@example(
    X=np.array([[-5.2e22, -1.1e27, 1.0e18], [-1.3e24, 7.5e27, -1.7e18]], np.float32),
    est=SparseAutoencoder(
        activation="identity",
        n_components=1,
        max_iter=1,
        sparsity_weight=0.0,
        early_stopping=True,
        validation_fraction=0.3,
        random_state=0,
    ),
)
def test_fuzz_sparse(X, est):
    check_fit_or_clear_error(est, X)


@pytest.mark.slow
@_FUZZ
@given(X=sparse_datasets(), est=sparse_input_estimators())
def test_fuzz_sparse_input(X, est):
    check_fit_or_clear_error(est, X)


@pytest.mark.slow
@_FUZZ
@given(
    X=datasets(),
    est=st.one_of(autoencoders(), denoising_autoencoders(), sparse_autoencoders()),
    n_calls=st.integers(1, 3),
    batch_size=st.integers(1, 300),
    learning_rate=st.sampled_from([1e-3, 1.0, 100.0]),
)
@example(  # float32 gradients of 1e20 whose squares overflow Adam's moments
    X=np.array([[1.7640524], [0.4001572]], dtype=np.float32),
    est=DenoisingAutoencoder(
        1, hidden_layer_sizes=(), activation="identity", noise_level=1e10, alpha=0.0
    ),
    n_calls=1,
    batch_size=1,
    learning_rate=1e-3,
)
def test_fuzz_partial_fit(X, est, n_calls, batch_size, learning_rate):
    """partial_fit (minibatch Adam) under the same adversarial inputs,
    including absurd learning rates."""

    def fit(est, X):
        for _ in range(n_calls):
            est.partial_fit(X)

    est.set_params(
        early_stopping=False, batch_size=batch_size, learning_rate_init=learning_rate
    )
    check_fit_or_clear_error(est, X, fit)


_FITTED = {}


def _fitted(name, dtype):
    """The table's configurations (``tests/estimators.py``), each fitted once
    on well-scaled data."""
    key = (name, dtype)
    if key not in _FITTED:
        X = np.random.RandomState(0).standard_normal((60, 5)).astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            _FITTED[key] = make_estimator(name).fit(X)
    return _FITTED[key]


@pytest.mark.slow
@_FUZZ
@given(
    Y=datasets(n_features=5),
    name=st.sampled_from(sorted(CONFIGS)),
    fit_dtype=st.sampled_from([np.float32, np.float64]),
    code_scale=st.sampled_from([1.0, 1e20, 1e40, 1e300]),
)
def test_fuzz_inference_on_unseen_data(Y, name, fit_dtype, code_scale):
    """A fitted estimator given new data (and codes) of any scale and dtype:
    finite results of the right dtype, or a ValueError; never a warning."""
    est = _fitted(name, fit_dtype)
    expected_dtype = np.float32 if Y.dtype == np.float32 else np.float64
    Y_before = Y.copy()
    code_scale = min(code_scale, float(np.finfo(expected_dtype).max))
    codes = np.linspace(-1, 1, 3 * est.n_components).reshape(3, -1) * code_scale
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for method, arg in [
            ("transform", Y),
            ("reconstruct", Y),
            ("score_samples", Y),
            ("inverse_transform", codes.astype(expected_dtype)),
        ]:
            try:
                out = getattr(est, method)(arg)
            except ValueError as exc:
                assert _raised_by_validation(exc)
                assert "overflow" in str(exc)
                event(f"{method}: ValueError")
                continue
            assert out.dtype == expected_dtype, method
            assert np.isfinite(out).all(), method
            assert out.shape[0] == arg.shape[0]
    np.testing.assert_array_equal(Y, Y_before)
