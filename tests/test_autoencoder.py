"""AutoencoderTransformer: the claims of the core issue."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skae import AutoencoderTransformer
from tests.conftest import pca_error


def _linear(k, **kw):
    return AutoencoderTransformer(
        k,
        hidden_layer_sizes=(),
        activation="identity",
        alpha=0.0,
        tol=1e-9,
        max_iter=5000,
        random_state=0,
        **kw,
    )


@pytest.mark.parametrize("k", [2, 8, 16])
def test_linear_autoencoder_equals_pca(digits_standardized, k):
    X = digits_standardized
    ae = _linear(k).fit(X)
    pca = PCA(k).fit(X)
    ae_err, pca_err = -ae.score(X), pca_error(pca, X)
    assert ae_err == pytest.approx(pca_err, rel=1e-3)
    # the code spans PCA's subspace: reconstructions live in the decoder's row
    # space (the encoder may add directions in which standardized digits are
    # constant, which change nothing)
    angles = subspace_angles(ae.coefs_[1].T, pca.components_.T)
    assert np.max(angles) < 1e-2


def test_linear_autoencoder_equals_pca_in_float32(digits_standardized):
    X = digits_standardized.astype(np.float32)
    ae = (
        _linear(
            8,
        )
        .set_params(tol=1e-5)
        .fit(X)
    )
    assert ae.coefs_[0].dtype == np.float32
    assert ae.transform(X).dtype == np.float32
    pca_err = pca_error(PCA(8).fit(X.astype(np.float64)), X.astype(np.float64))
    assert -ae.score(X) == pytest.approx(pca_err, rel=5e-3)


def test_deep_autoencoder_beats_pca_on_held_out_digits(digits_split):
    """Measured (int branch, defaults: PCA start, L-BFGS, held-out early
    stopping): 0.40x PCA's held-out error, stopped by early stopping at 186
    of 300 iterations without a warning (the old defaults, Glorot's start
    and 300 iterations, gave 0.49x). Bound: the measured 0.40 x 1.3."""
    X_tr, X_te, _, _ = digits_split
    ae = AutoencoderTransformer(
        8, hidden_layer_sizes=(128,), activation="tanh", max_iter=300, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ae.fit(X_tr)
    assert ae.stopped_by_ == "early_stopping"
    pca_err = pca_error(PCA(8).fit(X_tr), X_te)
    ae_err = -ae.score(X_te)
    assert ae_err < 0.52 * pca_err, ae_err / pca_err


@pytest.mark.parametrize("hidden", [(), (6,)])
def test_code_as_wide_as_the_input_needs_no_iteration(hidden):
    """With as many codes as features, the PCA start reconstructs the data
    exactly: L-BFGS converges before its first iteration (n_iter_ == 0, an
    empty loss curve), with or without the cross-validated iteration choice,
    and reconstruct is the identity."""
    X = np.random.RandomState(0).normal(size=(30, 2))
    for early_stopping in (False, "auto"):
        ae = AutoencoderTransformer(
            2,
            hidden_layer_sizes=hidden,
            solver="lbfgs",
            early_stopping=early_stopping,
            random_state=0,
        ).fit(X)
        assert ae.n_iter_ == 0 and ae.loss_curve_ == []
        np.testing.assert_allclose(ae.reconstruct(X), X, atol=1e-10)


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


def test_same_random_state_gives_identical_coefs(digits_unit):
    X = digits_unit[:300]
    kw = dict(hidden_layer_sizes=(10,), max_iter=30, random_state=42)
    with pytest.warns(ConvergenceWarning):
        a = AutoencoderTransformer(4, **kw).fit(X)
    with pytest.warns(ConvergenceWarning):
        b = AutoencoderTransformer(4, **kw).fit(X)
    for Wa, Wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(Wa, Wb)
    with pytest.warns(ConvergenceWarning):
        c = AutoencoderTransformer(4, **{**kw, "random_state": 1}).fit(X)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("order", ["C", "F"])
def test_input_never_modified(digits_unit, order):
    X = np.array(digits_unit[:100], order=order)
    X_copy = X.copy()
    X.setflags(write=False)
    ae = AutoencoderTransformer(3, hidden_layer_sizes=(), max_iter=200, random_state=0)
    ae.fit(X)
    for method in (ae.transform, ae.reconstruct, ae.score_samples):
        method(X)
    np.testing.assert_array_equal(X, X_copy)
    Xs = sp.csr_matrix(X_copy)
    data = Xs.data.copy()
    ae.fit(Xs).transform(Xs)
    np.testing.assert_array_equal(Xs.data, data)


BAD_INPUTS = [
    # a NaN is a missing value (tests/test_missing.py); a row of them is an error
    (np.array([[np.nan, np.nan], [1.0, 2.0], [3.0, 1.0]]), r"no observed \(non-NaN\)"),
    (np.array([[np.inf, 1.0], [1.0, 2.0]]), "infinity"),
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
    with pytest.raises(ValueError, match="NaN"):
        ae.inverse_transform(np.full((2, 3), np.nan))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"alpha": -1.0}, "alpha"),
        ({"activation": "sigmoid"}, "activation"),
        ({"hidden_layer_sizes": (3, 0)}, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": (2.5,)}, "hidden_layer_sizes"),
        ({"sparsity_target": 1.5}, "sparsity_target"),
        ({"sparsity_weight": 1.0}, "code_activation='logistic'"),
        (
            {"n_components": 9, "hidden_layer_sizes": (), "activation": "identity"},
            "n_components=9 must be <= n_features=4",
        ),
    ],
)
def test_invalid_parameters_are_named(params, match):
    X = np.random.RandomState(0).uniform(size=(10, 4))
    with pytest.raises(ValueError, match=match):
        AutoencoderTransformer(**params).fit(X)


def test_failed_fit_leaves_no_half_fitted_state(digits_unit):
    ae = AutoencoderTransformer(
        3, hidden_layer_sizes=(), max_iter=300, random_state=0
    ).fit(digits_unit[:100])
    with pytest.raises(ValueError):
        ae.fit(np.array([[np.nan] * 5, [1.0] * 5]))
    with pytest.raises(NotFittedError):
        ae.transform(digits_unit[:3])
    assert not hasattr(ae, "n_features_in_")
    assert not hasattr(ae, "coefs_")


def test_warm_start_continues_from_fitted_parameters(digits_unit):
    X = digits_unit[:300]
    ae = AutoencoderTransformer(
        4,
        hidden_layer_sizes=(8,),
        max_iter=10,
        solver="lbfgs",
        early_stopping=False,
        warm_start=True,
        random_state=0,
    )
    with pytest.warns(ConvergenceWarning):
        ae.fit(X)
    first = ae.loss_
    with pytest.warns(ConvergenceWarning):
        ae.fit(X)
    assert ae.loss_curve_[0] < first  # started where it stopped, not afresh
    ae.set_params(hidden_layer_sizes=(9,))
    with pytest.raises(ValueError, match="same architecture"):
        ae.fit(X)


def test_pickle_round_trip(digits_unit):
    X = digits_unit[:100]
    ae = AutoencoderTransformer(
        3, hidden_layer_sizes=(), max_iter=300, random_state=0
    ).fit(X)
    clone = pickle.loads(pickle.dumps(ae))
    np.testing.assert_array_equal(clone.transform(X), ae.transform(X))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
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


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
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
