"""Input and parameter validation (skae._validation): what is refused, with
which message, before anything is fitted.

Invalid parameters are named at ``fit`` and ``partial_fit``; bad input
(infinity, rows or columns without an observed value, complex, strings, wrong
shapes, values whose squares overflow) is a ValueError that says what is
wrong, in memory and on a dask array alike, never NaN outputs or a warning;
valid edge cases are not refused.
"""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    DenoisingAutoencoder,
    SparseAutoencoder,
)
from tests.conftest import assert_unfitted

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = dict(max_iter=15, random_state=0)

ESTIMATOR_CLASSES = [
    AutoencoderTransformer,
    DenoisingAutoencoder,
    SparseAutoencoder,
    AutoencoderOutlierDetector,
]


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


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(60, 8))


def _params(est):
    return [a.copy() for a in est.coefs_ + est.intercepts_]


def _assert_same(a, b):
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# ------------------------------------------------------------- parameters
#: Each case: a regular expression the error message must match (it names
#: the parameter), and the parameters that make the estimator invalid.
LOGISTIC_CODE = "sparsity_weight > 0 requires code_activation='logistic'"
COMMON_INVALID = [
    ("alpha", dict(alpha=-1e-3)),
    ("alpha", dict(alpha="big")),
    ("sparsity_target", dict(sparsity_target=0.0)),
    ("sparsity_target", dict(sparsity_target=1.0)),
    ("sparsity_target", dict(sparsity_target=-0.5)),
    ("sparsity_target", dict(sparsity_target=1.5)),
    ("sparsity_weight", dict(sparsity_weight=-1.0)),
    (LOGISTIC_CODE, dict(sparsity_weight=1.0, code_activation="tanh")),
    (LOGISTIC_CODE, dict(sparsity_weight=1.0, code_activation="identity")),
    ("activation", dict(activation="softmax")),
    ("activation", dict(activation="sigmoid")),
    ("code_activation", dict(code_activation="sigmoid")),
    ("output_activation", dict(output_activation="tanh")),
    ("pretrain", dict(pretrain="layerwise")),
    ("n_components", dict(n_components=0)),
    ("n_components", dict(n_components=2.5)),
    ("hidden_layer_sizes", dict(hidden_layer_sizes=(0,))),
    ("hidden_layer_sizes", dict(hidden_layer_sizes=(3, 0))),
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
        "n_components=9 must be <= n_features=8",
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
        "n_components=9 must be <= n_features=8",
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
    ids=[
        f"{c.__name__}-{n.split()[0].split('=')[0]}-{i}"
        for i, (c, n, _) in enumerate(INVALID)
    ],
)
def test_invalid_parameter_rejected_at_fit_naming_it(cls, name, params, X_small):
    est = cls(**{"max_iter": 5, "random_state": 0, **params})  # never fails here
    with pytest.raises(ValueError, match=name):
        est.fit(X_small)
    assert_unfitted(est)


@pytest.mark.parametrize(
    "name, value",
    [
        ("n_components", True),
        ("max_iter", True),
        ("max_fun", True),
        ("n_iter_no_change", False),
        ("batch_size", True),
        ("batch_size", np.inf),
        ("batch_size", 1.5),
        ("batch_size", "10"),
        ("batch_size", 0),
        ("learning_rate_init", np.inf),
        ("learning_rate_init", np.nan),
        ("learning_rate_init", 0.0),
        ("alpha", np.inf),
        ("tol", np.inf),
    ],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_invalid_value_is_named_at_fit_and_partial_fit(name, value, method, X):
    """A bool is not an int, an infinite float is not a number of iterations
    or a step size, batch_size is "auto" or an int >= 1: each rejected with a
    ValueError naming the parameter, before anything is fitted."""
    est = AutoencoderTransformer(3, hidden_layer_sizes=(4,), max_iter=5)
    with pytest.raises(ValueError, match=name):
        getattr(est.set_params(**{name: value}), method)(X)
    assert not hasattr(est, "coefs_")


@pytest.mark.parametrize("name", ["alpha", "sparsity_weight"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_penalty_is_blamed_on_the_parameter(name, dtype, X):
    """alpha=1e308 (or sparsity_weight) overflows the objective: the error
    names the parameter, never "the input's values are too large"."""
    params = {name: 1e308, "max_iter": 5, "random_state": 0}
    est = SparseAutoencoder(12, **params)
    with pytest.raises(ValueError, match=f"{name}=1e\\+308 is too large") as info:
        est.fit(X.astype(dtype))
    assert "input" not in str(info.value)
    assert not hasattr(est, "coefs_")


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


def test_drawn_holes_beyond_memory_name_the_copies_not_a_parameter(monkeypatch):
    """A plain estimator fitted with L-BFGS on data with holes draws them in
    8 copies of the rows (skae._draws): when those would not fit in memory,
    the error says so, instead of naming an n_corruptions the user never
    set; the estimator stays unfitted and the caller's X unchanged."""
    import skae._noise

    X = np.random.RandomState(0).normal(size=(1500, 1000))  # 8 copies: 96 MB
    X[3, 7] = np.nan
    before = X.copy()
    monkeypatch.setattr(skae._noise, "available_memory_bytes", lambda: 2**27)
    kw = dict(solver="lbfgs", early_stopping=False, random_state=0)
    est = AutoencoderTransformer(2, hidden_layer_sizes=(), **kw)
    with pytest.raises(ValueError, match=r"training holes \(NaN\) afresh") as err:
        est.fit(X)
    assert "n_corruptions=" not in str(err.value)
    assert "8 copies of" in str(err.value)
    assert not hasattr(est, "coefs_")
    np.testing.assert_array_equal(X, before)


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


def test_partial_fit_after_an_architecture_change_is_refused(X):
    """fit, set_params(n_components=3), partial_fit: refused as warm_start
    refuses it, naming the architecture, and the fitted model stays."""
    est = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=5).fit(X)
    before = _params(est)
    with pytest.raises(ValueError, match="partial_fit needs the same architecture"):
        est.set_params(n_components=3).partial_fit(X)
    _assert_same(_params(est), before)


@pytest.mark.parametrize("lr", [np.inf, np.nan])
def test_non_finite_learning_rate_never_reaches_a_fitted_model(lr, X):
    """partial_fit with a non-finite step size, after fit: a clear error and
    the fitted model intact (it used to store an all-NaN model silently)."""
    est = AutoencoderTransformer(3, hidden_layer_sizes=(4,), max_iter=5).fit(X)
    before = _params(est)
    with pytest.raises(ValueError, match="learning_rate_init"):
        est.set_params(learning_rate_init=lr).partial_fit(X)
    _assert_same(_params(est), before)
    assert np.isfinite(est.transform(X)).all()


def test_batch_size_auto_and_clipping(X):
    """ "auto" is min(200, n_samples) rows per step; a larger int is clipped
    to n_samples: one Adam step per pass here (60 rows)."""
    for batch_size in ["auto", 10_000]:
        est = AutoencoderTransformer(3, batch_size=batch_size, random_state=0)
        assert est.partial_fit(X)._adam_state["t"] == 1
    assert AutoencoderTransformer(batch_size=7).partial_fit(X)._adam_state["t"] == 9
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        AutoencoderTransformer(batch_size=7).partial_fit(X)  # one pass: no warning


# ------------------------------------------------------------------ input
# Infinity: test_non_finite_input_is_a_clear_value_error_everywhere. A NaN is
# a missing value (tests/test_missing.py); a row of them is an error.
BAD_INPUTS = [
    (np.array([[np.nan, np.nan], [1.0, 2.0], [3.0, 1.0]]), r"no observed \(non-NaN\)"),
    (np.empty((0, 3)), "0 sample"),
    (np.ones((1, 3)), "1 sample"),
    (np.array([[1 + 1j, 2], [3, 4]]), "[Cc]omplex"),
    (np.array([["a", "b"], ["c", "d"]], dtype=object), "[Ss]tring|convert"),
]


@pytest.mark.parametrize("X, match", BAD_INPUTS)
def test_bad_input_gets_clear_error(X, match):
    with pytest.raises(ValueError, match=match):
        AutoencoderTransformer(1, max_iter=5).fit(X)


def test_bad_shapes_at_transform_and_inverse_transform(digits_unit):
    ae = AutoencoderTransformer(
        3, hidden_layer_sizes=(), max_iter=300, random_state=0
    ).fit(digits_unit[:100])
    with pytest.raises(ValueError, match="64 features"):
        ae.transform(np.ones((2, 5)))
    with pytest.raises(ValueError, match="3 columns"):
        ae.inverse_transform(np.ones((2, 4)))
    with pytest.raises(ValueError, match="NaN"):  # codes: never missing
        ae.inverse_transform(np.full((2, 3), np.nan))


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("bad", [np.inf, -np.inf], ids=["inf", "-inf"])
def test_non_finite_input_is_a_clear_value_error_everywhere(bad, container, X_small):
    """An infinite cell in the data of ``fit`` and of every inference method,
    or in the codes of ``inverse_transform``: a ValueError that names it, in
    memory and on a dask array alike, never NaN rows or a warning (issue 16,
    item 3). A NaN in the data is a missing value (issue 14,
    tests/test_missing.py)."""
    named = "infinity"
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
            with pytest.raises(ValueError, match=named):
                _result(getattr(est, method)(_as(container, arg)))
        with pytest.raises(ValueError, match=named):
            clone(est).fit(_as(container, X))


@pytest.mark.parametrize("container", ["numpy", "dask"])
@pytest.mark.parametrize("top", [False, True], ids=["squares-overflow", "at-max"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_overflowing_input_is_a_clear_value_error(dtype, top, container):
    """Values whose squares overflow the working dtype, up to the dtype's
    largest finite values (whose mere sum overflows), cannot be trained on:
    a ValueError naming the remedy, not an overflow warning or NaN codes; in
    memory and on a dask array alike (issue 16, item 3)."""
    big = np.finfo(dtype).max / 4 if top else np.finfo(dtype).max ** 0.5 * 4
    X = np.random.RandomState(0).uniform(-3, 3, (20, 3)).astype(dtype) * big
    if container == "dask":
        da = pytest.importorskip("dask.array")
        X = da.from_array(X, chunks=(5, -1))
    est = AutoencoderTransformer(hidden_layer_sizes=(3,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="overflow"):
            est.fit(X)
    assert not hasattr(est, "coefs_")


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
