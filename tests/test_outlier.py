"""Issue 13: the outlier detector and per-feature reconstruction errors.

The common checks (outlier checks included) run from ``tests/estimators.py``
in ``tests/test_common.py``; here: the scores' definitions, the threshold
(``contamination``), DataFrame output, dask, sparse input, and that the
per-feature errors point at the feature that makes a row anomalous.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    DenoisingAutoencoder,
    SparseAutoencoder,
)
from skae._outlier import auto_offset

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N, D = 400, 10


def nonlinear_table(n=N, d=D, latent=3, noise=0.05, seed=0):
    """Rows ``tanh(z A)`` of a 3-dimensional ``z``, plus a little noise:
    a low-rank nonlinear table."""
    rng = np.random.RandomState(seed)
    Z = rng.normal(size=(n, latent))
    X = np.tanh(Z @ rng.normal(size=(latent, d)) / np.sqrt(latent) * 1.5)
    return X + noise * rng.normal(size=X.shape)


@pytest.fixture(scope="module")
def X():
    return StandardScaler().fit_transform(nonlinear_table())


@pytest.fixture(scope="module")
def detector(X):
    return AutoencoderOutlierDetector(
        3, hidden_layer_sizes=(16,), max_iter=100, random_state=0
    ).fit(X)


def _estimators():
    small = dict(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    return [
        AutoencoderTransformer(3, **small),
        DenoisingAutoencoder(3, **small),
        SparseAutoencoder(6, max_iter=20, random_state=0),
        AutoencoderOutlierDetector(3, **small),
        AutoencoderOutlierDetector(3, noise="gaussian", **small),
    ]


# ------------------------------------------------------------------ the scores
def test_scores_decision_predict(detector, X):
    scores = detector.score_samples(X)
    assert_allclose(detector.decision_function(X), scores - detector.offset_)
    assert_array_equal(
        detector.predict(X), np.where(detector.decision_function(X) < 0, -1, 1)
    )
    assert_allclose(scores, AutoencoderTransformer.score_samples(detector, X))
    assert_array_equal(detector.fit_predict(X), detector.predict(X))


@pytest.mark.parametrize("contamination", [0.01, 0.05, 0.1, 0.25, 0.5])
def test_contamination_is_the_training_fraction(X, contamination):
    det = AutoencoderOutlierDetector(
        3, hidden_layer_sizes=(), contamination=contamination, random_state=0
    )
    labels = det.fit_predict(X)
    assert abs(np.mean(labels == -1) - contamination) <= 1 / len(X)
    assert det.offset_ == pytest.approx(
        np.percentile(det.score_samples(X), 100 * contamination)
    )


def test_auto_is_tukeys_fence(detector, X):
    scores = detector.score_samples(X)
    q1, q3 = np.percentile(scores, [25, 75])
    assert detector.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1))
    assert auto_offset(scores) == detector.offset_
    # on clean data it flags a small tail, and no more than a quarter
    assert 0 < np.mean(detector.predict(X) == -1) < 0.1


def test_auto_is_robust_to_the_outliers_it_flags(X):
    rng = np.random.RandomState(1)
    X_dirty = X.copy()
    rows = rng.choice(len(X), 20, replace=False)  # 5 % gross outliers
    X_dirty[rows] += rng.normal(scale=5, size=(20, X.shape[1]))
    det = AutoencoderOutlierDetector(3, hidden_layer_sizes=(), random_state=0)
    labels = det.fit_predict(X_dirty)
    assert np.all(labels[rows] == -1)
    assert np.mean(labels == -1) < 0.15


@pytest.mark.parametrize("bad", [0.0, 0.6, -0.1, "high"])
def test_contamination_out_of_range(X, bad):
    with pytest.raises(ValueError, match="contamination"):
        AutoencoderOutlierDetector(contamination=bad).fit(X)


def test_refit_replaces_offset_atomically(X):
    det = AutoencoderOutlierDetector(3, hidden_layer_sizes=(), random_state=0)
    det.fit(X)
    with pytest.raises(ValueError):
        det.set_params(n_components=0).fit(X)
    assert not hasattr(det, "offset_") and not hasattr(det, "coefs_")


def test_noise_none_equals_the_plain_autoencoder(X):
    # The detector starts from random weights by default, the transformer
    # from PCA: compare them at the same start.
    kw = dict(hidden_layer_sizes=(8,), init="random", max_iter=20, random_state=0)
    det = AutoencoderOutlierDetector(3, **kw).fit(X)
    ae = AutoencoderTransformer(3, **kw).fit(X)
    assert_allclose(det.score_samples(X), ae.score_samples(X))
    noisy = AutoencoderOutlierDetector(3, noise="gaussian", noise_level=0.3, **kw)
    assert not np.allclose(noisy.fit(X).score_samples(X), ae.score_samples(X))


def test_in_a_pipeline_after_a_scaler():
    raw = 10 * nonlinear_table() + 3
    pipe = make_pipeline(
        StandardScaler(),
        AutoencoderOutlierDetector(
            3, hidden_layer_sizes=(), contamination=0.1, random_state=0
        ),
    )
    labels = pipe.fit_predict(raw)
    assert np.mean(labels == -1) == pytest.approx(0.1, abs=1 / len(raw))
    assert_array_equal(pipe.predict(raw), labels)
    assert pipe.decision_function(raw).shape == (len(raw),)
    assert pipe.score_samples(raw).shape == (len(raw),)


def test_partial_fit_sets_offset_from_the_piece(X):
    det = AutoencoderOutlierDetector(3, contamination=0.1, random_state=0)
    det.partial_fit(X[:200]).partial_fit(X[200:])
    assert det.offset_ == pytest.approx(np.percentile(det.score_samples(X[200:]), 10))


# ------------------------------------------------------ per-feature errors
@pytest.mark.parametrize("est", _estimators(), ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rows_sum_to_minus_score_samples(X, est, dtype):
    Xd = X.astype(dtype)
    if isinstance(est, SparseAutoencoder):
        Xd = (Xd - Xd.min()) / (Xd.max() - Xd.min())
    est.fit(Xd)
    errors = est.reconstruction_errors(Xd)
    assert errors.shape == Xd.shape and errors.dtype == dtype
    assert np.all(errors >= 0)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert_allclose(errors.sum(axis=1), -est.score_samples(Xd), rtol=rtol)
    assert_allclose(errors, (Xd - est.reconstruct(Xd)) ** 2, rtol=rtol, atol=1e-7)


def test_sparse_input_gives_dense_errors(X):
    Xs = sp.random(60, D, density=0.3, format="csr", random_state=0)
    ae = AutoencoderTransformer(3, hidden_layer_sizes=(), random_state=0).fit(Xs)
    errors = ae.reconstruction_errors(Xs)
    assert isinstance(errors, np.ndarray) and errors.shape == Xs.shape
    assert_allclose(errors, ae.reconstruction_errors(Xs.toarray()))
    assert_allclose(errors.sum(axis=1), -ae.score_samples(Xs))


def test_pandas_output_with_names(X):
    pd = pytest.importorskip("pandas")
    cols = [f"f{i}" for i in range(D)]
    df = pd.DataFrame(X, columns=cols, index=np.arange(len(X)) + 1000)
    det = AutoencoderOutlierDetector(3, hidden_layer_sizes=(), random_state=0)
    det.set_output(transform="pandas").fit(df)
    errors = det.reconstruction_errors(df)
    assert isinstance(errors, pd.DataFrame)
    assert list(errors.columns) == cols
    assert_array_equal(errors.index, df.index)
    assert_allclose(errors.sum(axis=1), -det.score_samples(df))
    # an ndarray keeps the default names; the default output is an ndarray
    unnamed = AutoencoderTransformer(3, hidden_layer_sizes=(), random_state=0)
    unnamed.set_output(transform="pandas").fit(X)
    assert list(unnamed.reconstruction_errors(X).columns) == [f"x{i}" for i in range(D)]
    assert isinstance(
        det.set_output(transform="default").reconstruction_errors(df), np.ndarray
    )


def test_polars_output_with_names(X):
    pl = pytest.importorskip("polars")
    cols = [f"f{i}" for i in range(D)]
    df = pl.DataFrame(X, schema=cols, orient="row")
    ae = SparseAutoencoder(6, max_iter=20, random_state=0)
    ae.set_output(transform="polars").fit((X - X.min()) / (X.max() - X.min()))
    ae = AutoencoderTransformer(3, hidden_layer_sizes=(), random_state=0)
    ae.set_output(transform="polars").fit(df)
    errors = ae.reconstruction_errors(df)
    assert isinstance(errors, pl.DataFrame)
    assert errors.columns == cols
    assert_allclose(errors.to_numpy().sum(axis=1), -ae.score_samples(df))


# ---------------------------------------------------------------------- dask
def test_dask_scores_are_lazy_and_equal_in_memory(X):
    da = pytest.importorskip("dask.array")
    Xd = da.from_array(X, chunks=(100, D))
    det = AutoencoderOutlierDetector(
        3, hidden_layer_sizes=(8,), max_iter=30, contamination=0.1, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        det.fit(Xd)
    assert np.isfinite(det.offset_)
    for method in ["score_samples", "decision_function", "predict"]:
        lazy = getattr(det, method)(Xd)
        assert isinstance(lazy, da.Array), method
        assert_allclose(lazy.compute(), getattr(det, method)(X), rtol=1e-12)
    lazy = det.reconstruction_errors(Xd)
    assert isinstance(lazy, da.Array) and lazy.chunks == Xd.chunks
    assert_allclose(lazy.compute(), det.reconstruction_errors(X), rtol=1e-12)
    assert_allclose(lazy.sum(axis=1).compute(), -det.score_samples(X), rtol=1e-12)
    # the threshold flags the stated fraction of the training rows
    assert np.mean(det.predict(X) == -1) == pytest.approx(0.1, abs=1 / len(X))


# ----------------------------------------------------------- explanations
def _corrupt_one_feature(X, n_rows, seed):
    """Rows of ``X`` with one random feature each shifted by 3 to 5 standard
    deviations, up or down; returns the rows and the corrupted features."""
    rng = np.random.RandomState(seed)
    rows = X[rng.choice(len(X), n_rows, replace=False)].copy()
    features = rng.randint(X.shape[1], size=n_rows)
    shift = rng.uniform(3, 5, n_rows) * rng.choice([-1, 1], n_rows)
    rows[np.arange(n_rows), features] += shift
    return rows, features


#: Measured (shifts of 3 to 5 standard deviations, 200 corrupted rows per
#: seed): 99.5 %, 99.5 % and 96.5 % on seeds 0, 1 and 2. The test asks for
#: 93 % on each seed: the issue's 90 % with three points to spare, and 3.5
#: points below the worst measured seed.
EXPLAINED_FRACTION = 0.93


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_largest_error_names_the_corrupted_feature(seed):
    clean = nonlinear_table(n=600, d=12, seed=seed)
    scaler = StandardScaler().fit(clean)
    X = scaler.transform(clean)
    det = AutoencoderOutlierDetector(3, random_state=seed).fit(X)
    rows, features = _corrupt_one_feature(X, 200, seed)
    named = np.argmax(det.reconstruction_errors(rows), axis=1)
    fraction = np.mean(named == features)
    assert fraction >= EXPLAINED_FRACTION, fraction
    # and the detector flags them
    assert np.mean(det.predict(rows) == -1) >= 0.9
