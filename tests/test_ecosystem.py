"""skae among scikit-learn's tools and the data containers users pass (issue 7).

DataFrames in and out (pandas, polars), sparse input (scipy.sparse, TF-IDF),
meta-estimators (Pipeline, GridSearchCV, ColumnTransformer, cross_validate,
clone, the HTML repr) and persistence (pickle, joblib, skops). ONNX export is
in ``test_onnx.py``, dask arrays in ``test_dask.py``.
"""

import pickle
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_digits
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skae import AutoencoderTransformer, DenoisingAutoencoder, SparseAutoencoder
from tests.estimators import CONFIGS, accepts_sparse, make_estimator

QUIET = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _small(cls=AutoencoderTransformer, **kw):
    params = dict(max_iter=30, random_state=0)
    if cls is not SparseAutoencoder:
        params["hidden_layer_sizes"] = (8,)
    params.update(kw)
    return cls(**params)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16.0, y[:400]


# ------------------------------------------------------------- DataFrames
@QUIET
def test_set_output_pandas_and_feature_names(digits):
    pd = pytest.importorskip("pandas")
    X, _ = digits
    df = pd.DataFrame(
        X,
        columns=[f"px{i}" for i in range(64)],
        index=X.shape[0] + np.arange(X.shape[0]),
    )
    ae = _small(n_components=3).set_output(transform="pandas")
    out = ae.fit_transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == [f"autoencodertransformer{i}" for i in range(3)]
    assert (out.index == df.index).all()
    np.testing.assert_array_equal(ae.feature_names_in_, df.columns)
    np.testing.assert_array_equal(ae.get_feature_names_out(), out.columns)
    # names are checked at transform time, as in scikit-learn
    with pytest.raises(ValueError, match="feature names"):
        ae.transform(df.rename(columns={"px0": "other"}))
    assert isinstance(ae.transform(df.iloc[:5]), pd.DataFrame)


@QUIET
def test_set_output_polars(digits):
    pl = pytest.importorskip("polars")
    X, _ = digits
    df = pl.DataFrame(X, schema=[f"px{i}" for i in range(64)])
    ae = _small(SparseAutoencoder, n_components=4).set_output(transform="polars")
    out = ae.fit_transform(df)
    assert isinstance(out, pl.DataFrame)
    assert out.columns == [f"sparseautoencoder{i}" for i in range(4)]


# ----------------------------------------------------------- sparse input
_CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "cats and dogs are friends",
    "a mat and a log",
    "the quick brown fox jumps over the lazy dog",
    "lazy cats sleep on warm mats",
    "dogs chase cats around the garden",
    "the fox and the dog are not friends",
    "a warm garden in the sun",
    "the sun sets over the quiet garden",
] * 3


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("name", [n for n in sorted(CONFIGS) if accepts_sparse(n)])
@QUIET
def test_sparse_input_tfidf(fmt, name):
    est = make_estimator(name)
    X = TfidfVectorizer().fit_transform(_CORPUS).asformat(fmt)
    assert sp.issparse(X)
    assert est.__sklearn_tags__().input_tags.sparse
    est = est.fit(X)
    Z = est.transform(X)
    assert Z.shape == (X.shape[0], est.n_components)
    assert np.isfinite(Z).all()
    # the sparse and dense paths compute the same function
    np.testing.assert_allclose(Z, est.transform(X.toarray()), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        est.score_samples(X), est.score_samples(X.toarray()), rtol=1e-10
    )


def test_sparse_fit_equals_dense_fit():
    X = TfidfVectorizer().fit_transform(_CORPUS)
    ae = _small(n_components=3, max_iter=15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Z_sparse = clone(ae).fit_transform(X)
        Z_dense = clone(ae).fit_transform(X.toarray())
    np.testing.assert_allclose(Z_sparse, Z_dense, rtol=1e-6, atol=1e-8)


def test_gaussian_denoising_refuses_sparse_in_tags():
    assert (
        not DenoisingAutoencoder(noise="gaussian").__sklearn_tags__().input_tags.sparse
    )
    assert DenoisingAutoencoder(noise="masking").__sklearn_tags__().input_tags.sparse


# --------------------------------------------------------- meta-estimators
@QUIET
def test_grid_search_with_downstream_classifier(digits):
    X, y = digits
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("ae", _small(max_iter=40)),
            ("clf", LogisticRegression(max_iter=300)),
        ]
    )
    grid = GridSearchCV(
        pipe,
        {"ae__n_components": [2, 16], "ae__hidden_layer_sizes": [(8,), (32,)]},
        cv=2,
    ).fit(X, y)
    assert set(grid.cv_results_["param_ae__n_components"]) == {2, 16}
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    # 16 codes carry more of the digit than 2
    assert grid.best_params_["ae__n_components"] == 16
    assert grid.score(X, y) > 0.8


@QUIET
def test_grid_search_unsupervised_uses_score(digits):
    X, _ = digits
    grid = GridSearchCV(
        _small(max_iter=40),
        {"n_components": [2, 12], "hidden_layer_sizes": [(16,), ()]},
        cv=2,
    ).fit(X)
    scores = grid.cv_results_["mean_test_score"]
    assert np.all(scores < 0)  # negative reconstruction error
    assert grid.best_params_["n_components"] == 12
    assert grid.best_score_ == pytest.approx(scores.max())


@QUIET
def test_column_transformer_and_cross_validate(digits):
    pd = pytest.importorskip("pandas")
    X, y = digits
    df = pd.DataFrame(X[:, :20], columns=[f"x{i}" for i in range(20)])
    df["colour"] = np.where(y % 2 == 0, "red", "blue")
    ct = ColumnTransformer(
        [
            ("ae", _small(n_components=4), [f"x{i}" for i in range(20)]),
            ("cat", OneHotEncoder(), ["colour"]),
        ]
    )
    out = ct.fit_transform(df)
    assert out.shape == (len(df), 4 + 2)
    names = ct.get_feature_names_out()
    assert names[0] == "ae__autoencodertransformer0"

    res = cross_validate(_small(n_components=4), X, cv=3, return_estimator=True)
    assert res["test_score"].shape == (3,)
    assert np.all(res["test_score"] < 0)
    assert all(hasattr(e, "coefs_") for e in res["estimator"])


@QUIET
def test_clone_and_html_repr(digits):
    X, _ = digits
    ae = _small(DenoisingAutoencoder, n_components=3, noise="masking").fit(X)
    fresh = clone(ae)
    assert not hasattr(fresh, "coefs_")
    assert fresh.get_params() == ae.get_params()
    html = ae._repr_html_()
    assert "DenoisingAutoencoder" in html and "masking" in html
    pipe_html = make_pipeline(StandardScaler(), ae)._repr_html_()
    assert "DenoisingAutoencoder" in pipe_html


# ------------------------------------------------------------- persistence
@pytest.mark.parametrize("name", sorted(CONFIGS))
@QUIET
def test_pickle_and_joblib_round_trip(name, X_small, tmp_path):
    """Every configuration, pickled or dumped with joblib and loaded back,
    gives the same codes, decodings, reconstructions and scores, bit for bit,
    and the same parameters."""
    est = make_estimator(name).fit(X_small)
    Z = est.transform(X_small)
    joblib.dump(est, tmp_path / "est.joblib")
    for again in [
        pickle.loads(pickle.dumps(est)),
        joblib.load(tmp_path / "est.joblib"),
    ]:
        np.testing.assert_array_equal(again.transform(X_small), Z)
        np.testing.assert_array_equal(
            again.inverse_transform(Z), est.inverse_transform(Z)
        )
        np.testing.assert_array_equal(
            again.reconstruct(X_small), est.reconstruct(X_small)
        )
        np.testing.assert_array_equal(
            again.score_samples(X_small), est.score_samples(X_small)
        )
        assert again.get_params().keys() == est.get_params().keys()


@pytest.mark.parametrize("name", sorted(CONFIGS))
@QUIET
def test_skops_reports_only_skae_estimator_classes(name, X_small):
    sio = pytest.importorskip("skops.io")
    X = X_small
    est = make_estimator(name).fit(X)
    dumped = sio.dumps(est)
    untrusted = sio.get_untrusted_types(data=dumped)
    cls = type(est)
    assert untrusted == [f"{cls.__module__}.{cls.__qualname__}"]
    assert cls.__module__.startswith("skae.")
    loaded = sio.loads(dumped, trusted=untrusted)
    assert type(loaded) is cls
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
