"""``sample_weight`` in ``fit`` and ``partial_fit`` (issue 13, item 3).

The objective (skae._network) weighs each row's squared error by its weight
and divides by the total weight: an integer weight is the row repeated, a
zero weight the row dropped, for every estimator and solver, as long as
nothing else draws on the rows (tests.estimators.sample_weight_equivalence_params
says what does: random splits, random corruption, minibatches).
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data,
    check_sample_weight_equivalence_on_sparse_data,
)

import skae._fit
from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    DenoisingAutoencoder,
    SparseAutoencoder,
)
from skae._validation import held_out_rows
from tests.estimators import ESTIMATORS, sample_weight_equivalence_params

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def table():
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(40, 3))
    X = np.tanh(Z @ rng.normal(size=(3, 7))) + 0.1 * rng.normal(size=(40, 7))
    s = rng.randint(0, 4, size=40)
    s[:2] = [0, 3]
    return X, s


def _repeated(X, s):
    return X[np.repeat(np.arange(len(s)), s)]


def _close(a, b, X, rtol=1e-6):
    np.testing.assert_allclose(a.transform(X), b.transform(X), rtol=rtol, atol=1e-8)
    np.testing.assert_allclose(
        a.score_samples(X), b.score_samples(X), rtol=rtol, atol=1e-8
    )


LBFGS = dict(solver="lbfgs", early_stopping=False, max_iter=40, random_state=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: AutoencoderTransformer(3, hidden_layer_sizes=(6,), **LBFGS),
        lambda: AutoencoderTransformer(3, hidden_layer_sizes=(), **LBFGS),
        lambda: AutoencoderTransformer(
            2, hidden_layer_sizes=(6, 4), tied_weights=True, init="random", **LBFGS
        ),
        lambda: SparseAutoencoder(8, **LBFGS),
        lambda: DenoisingAutoencoder(
            3, noise="masking", noise_level=0.0, n_corruptions=2, **LBFGS
        ),
        lambda: AutoencoderTransformer(
            2,
            hidden_layer_sizes=(6, 4),
            pretrain="greedy",
            pretrain_max_iter=5,
            **LBFGS,
        ),
        lambda: AutoencoderOutlierDetector(contamination=0.1, **LBFGS),
    ],
    ids=["plain", "linear", "deep-tied", "sparse", "denoising", "greedy", "outlier"],
)
def test_integer_weight_is_the_repeated_row_lbfgs(table, make):
    X, s = table
    weighted = make().fit(X, sample_weight=s)
    repeated = make().fit(_repeated(X, s))
    assert weighted.n_iter_ == repeated.n_iter_
    _close(weighted, repeated, X)
    if hasattr(weighted, "offset_"):
        assert weighted.offset_ == pytest.approx(repeated.offset_, rel=1e-6)
        np.testing.assert_array_equal(weighted.predict(X), repeated.predict(X))


def test_zero_weight_is_the_dropped_row(table):
    X, s = table
    keep = s > 0
    a = AutoencoderTransformer(3, **LBFGS).fit(X, sample_weight=s)
    b = AutoencoderTransformer(3, **LBFGS).fit(X[keep], sample_weight=s[keep])
    _close(a, b, X, rtol=1e-7)
    # and a row of zero weight may hold anything finite
    X_bad = X.copy()
    X_bad[~keep] = 1e3
    c = AutoencoderTransformer(3, **LBFGS).fit(X_bad, sample_weight=s)
    _close(a, c, X, rtol=1e-7)


def test_adam_full_batch_is_the_repeated_rows_and_minibatches_are_unbiased(table):
    """Adam with one batch of every row: weights equal repetition (the
    epoch's shuffle only reorders the batch). With minibatches the batches of
    repeated rows are other batches, so only what does not depend on them
    holds: a batch is divided by its row count times the mean weight, so a
    constant weight c is no weight with alpha / c (as in the full objective,
    where weights count as repetitions and dilute the weight decay)."""
    X, s = table
    adam = dict(solver="adam", early_stopping=False, max_iter=15, random_state=0)
    full = dict(adam, batch_size=10_000, learning_rate_init=0.01)
    weighted = AutoencoderTransformer(3, **full).fit(X, sample_weight=s)
    repeated = AutoencoderTransformer(3, **full).fit(_repeated(X, s))
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-9)
    _close(weighted, repeated, X)
    mini = dict(adam, batch_size=8)
    plain = AutoencoderTransformer(3, alpha=0.4, **mini).fit(X)
    constant = AutoencoderTransformer(3, alpha=1.0, **mini)
    constant.fit(X, sample_weight=np.full(40, 2.5))
    np.testing.assert_allclose(constant.loss_curve_, plain.loss_curve_, rtol=1e-9)
    _close(constant, plain, X, rtol=1e-7)
    uneven = AutoencoderTransformer(3, alpha=0.4, **mini).fit(X, sample_weight=s)
    assert not np.allclose(uneven.loss_curve_, plain.loss_curve_)


def test_partial_fit_takes_weights(table):
    X, s = table
    kw = dict(batch_size=10_000, learning_rate_init=0.01, random_state=0)
    a = AutoencoderTransformer(3, **kw)
    b = AutoencoderTransformer(3, **kw)
    for _ in range(3):
        a.partial_fit(X, sample_weight=s)
        b.partial_fit(_repeated(X, s))
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-9)
    _close(a, b, X)


def test_holdout_early_stopping_scores_weighted_held_out_rows(table):
    """The held-out score of each iteration is minus the weighted mean of the
    held-out rows' errors: recomputed here from the callback's parameters, it
    matches; unweighted, the rows of weight 0 (made to reconstruct badly)
    would dominate it and it would not."""
    X, s = table
    X = X.copy()
    s = s.astype(float)
    held = held_out_rows(len(X), 0.25, check_random_state(0))  # the fit's draw
    bad = np.flatnonzero(held)[:3]
    X[bad] += 4.0  # far off the data's plane
    s[bad] = 0.0
    est = AutoencoderTransformer(
        3,
        hidden_layer_sizes=(6,),
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=50,
        max_iter=12,
        random_state=0,
    )
    views = []
    est.set_params(callback=lambda i, loss, view: views.append(_network_of(view)))
    est.fit(X, sample_weight=s)
    assert len(est.validation_scores_) == len(views) == 12
    w = s[held]
    for score, net in zip(est.validation_scores_, views):
        errors = -net.score_samples(X[held])
        assert score == pytest.approx(-(w @ errors) / w.sum(), rel=1e-9)
        assert score != pytest.approx(-errors.mean(), rel=1e-3)


def _network_of(view):
    """A fitted copy holding the callback view's current parameters."""
    net = AutoencoderTransformer()
    for k in ("coefs_", "intercepts_", "skip_coefs_", "layer_activations_"):
        setattr(net, k, getattr(view, k))
    net.n_features_in_ = view.n_features_in_
    return net


def test_cross_validated_choice_uses_weighted_row_errors(table, monkeypatch):
    """The folds' held-out errors reach the 1-SE rule with the rows' weights
    (in the order of the stacked folds), and the validation scores are their
    weighted means."""
    X, s = table
    seen = {}
    original = skae._fit.choose_iteration

    def spy(errors, se_factor, weights=None):
        seen.update(errors=errors, weights=weights)
        return original(errors, se_factor, weights)

    monkeypatch.setattr(skae._fit, "choose_iteration", spy)
    est = AutoencoderTransformer(3, early_stopping="cv", max_iter=10, random_state=0)
    est.fit(X, sample_weight=s)
    w = seen["weights"]
    assert w is not None and sorted(w) == sorted(s)
    expected = -(seen["errors"] @ w) / w.sum()
    np.testing.assert_allclose(est.validation_scores_, expected[1:], rtol=1e-12)
    folds = skae._validation.fold_masks(
        len(X), skae._fit.N_FOLDS, check_random_state(0)
    )
    np.testing.assert_array_equal(w, np.concatenate([s[m] for m in folds]))


def test_weighted_pca_start_is_pca_of_the_repeated_rows(table):
    """A linear autoencoder starts at PCA, here of the weighted rows: the
    fitted codes are those of PCA on the repeated rows."""
    from sklearn.decomposition import PCA

    X, s = table
    kw = dict(hidden_layer_sizes=(), activation="identity", **LBFGS)
    est = AutoencoderTransformer(3, **kw).set_params(max_iter=1)
    est.fit(X, sample_weight=s)
    pca = PCA(3).fit(_repeated(X, s))
    R = X - pca.inverse_transform(pca.transform(X))
    np.testing.assert_allclose(
        -est.score_samples(X), np.einsum("ij,ij->i", R, R), rtol=1e-6
    )


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: repr(e)[:60])
def test_sklearn_sample_weight_equivalence(estimator):
    """scikit-learn's check on every configuration of the common tests, with
    the parameters of tests.estimators.sample_weight_equivalence_params
    (its docstring says why each is needed)."""
    est = clone(estimator).set_params(**sample_weight_equivalence_params(estimator))
    name = type(est).__name__
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check_sample_weight_equivalence_on_dense_data(name, est)
        if est.__sklearn_tags__().input_tags.sparse:
            check_sample_weight_equivalence_on_sparse_data(name, est)


BAD = [
    (np.ones(39), "shape"),
    (np.ones((40, 1)), "1D"),
    (np.r_[-1.0, np.ones(39)], "Negative"),
    (np.r_[np.nan, np.ones(39)], "NaN"),
    (np.r_[np.inf, np.ones(39)], "infinity"),
    (np.zeros(40), "non-zero"),
]


@pytest.mark.parametrize("weights, message", BAD)
def test_bad_weights_are_clear_errors_that_change_nothing(table, weights, message):
    X, _ = table
    est = AutoencoderTransformer(2, hidden_layer_sizes=(), max_iter=3).fit(X)
    before = [W.copy() for W in est.coefs_]
    for call in (est.fit, est.partial_fit):
        with pytest.raises(ValueError, match=message):
            call(X, sample_weight=weights)
        for W, B in zip(est.coefs_, before):
            np.testing.assert_array_equal(W, B)


def test_weights_are_never_written_and_sparse_x_is_weighted(table):
    X, s = table
    w = s.astype(float)
    w_copy, X_copy = w.copy(), X.copy()
    AutoencoderTransformer(3, **LBFGS).fit(X, sample_weight=w)
    np.testing.assert_array_equal(w, w_copy)
    np.testing.assert_array_equal(X, X_copy)
    Xs = sp.csr_matrix(np.where(np.abs(X) < 0.3, 0.0, X))
    a = AutoencoderTransformer(3, **LBFGS).fit(Xs, sample_weight=s)
    b = AutoencoderTransformer(3, **LBFGS).fit(Xs.toarray(), sample_weight=s)
    _close(a, b, Xs.toarray(), rtol=1e-6)


def test_outlier_offset_is_the_weighted_percentile():
    from skae._outlier import weighted_percentile

    rng = np.random.RandomState(5)
    x = rng.normal(size=25)
    w = rng.randint(0, 5, size=25)
    rep = np.repeat(x, w)
    for q in (0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0):
        assert weighted_percentile(x, q, w) == pytest.approx(np.percentile(rep, q))
    np.testing.assert_allclose(
        weighted_percentile(x, [25.0, 75.0], w), np.percentile(rep, [25.0, 75.0])
    )
