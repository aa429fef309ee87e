"""The PCA start, its protection, and fits that end when they are done (issue 11).

The pipeline's start (:func:`skae._fit.initial_theta`) and :func:`skae._fit.fit`
take plain values: these tests call them directly, the documented seam, rather
than reaching into an estimator.
"""

import warnings

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer, DenoisingAutoencoder, SparseAutoencoder, _fit
from skae._memory import ArrayData
from skae._network import row_sq_errors
from skae._optimize import minimize_lbfgs
from skae._validation import check_params


def _pca_error(X, k):
    pca = PCA(k).fit(X)
    R = X - pca.inverse_transform(pca.transform(X))
    return np.einsum("ij,ij->i", R, R).mean()


def _plain(est, X):
    params = est.get_params(deep=False)
    return check_params(params, est._parameter_constraints, X.shape[1])


def _table(n=80, d=7, seed=0):
    rng = np.random.RandomState(seed)
    Z = rng.normal(size=(n, 3))
    return np.tanh(Z @ rng.normal(size=(3, d))) + 0.1 * rng.normal(size=(n, d))


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-6), (np.float32, 1e-5)])
@pytest.mark.parametrize(
    "est",
    [
        AutoencoderTransformer(3),
        AutoencoderTransformer(3, hidden_layer_sizes=(8, 5), activation="relu"),
        AutoencoderTransformer(3, hidden_layer_sizes=(), activation="identity"),
        AutoencoderTransformer(3, hidden_layer_sizes=(), tied_weights=True),
        DenoisingAutoencoder(3, hidden_layer_sizes=(6,)),
    ],
    ids=["default", "deep-relu", "linear", "linear-tied", "denoising"],
)
def test_start_reconstructs_as_pca(est, dtype, rtol):
    X = _table().astype(dtype)
    arch, hyper = _plain(est, X)
    assert hyper.init == "pca" and arch.skip == bool(arch.code_layer > 1)
    theta0 = _fit.initial_theta(_fit.Start(), ArrayData(X), arch, hyper, np.random)
    err = row_sq_errors(theta0, arch, X).mean()
    assert err == pytest.approx(_pca_error(X.astype(np.float64), 3), rel=rtol)


@pytest.mark.parametrize(
    "est",
    [
        SparseAutoencoder(8),  # logistic code
        AutoencoderTransformer(3, output_activation="logistic"),
        AutoencoderTransformer(3, pretrain="greedy", hidden_layer_sizes=(6, 4)),
        AutoencoderTransformer(3, tied_weights=True),
        AutoencoderTransformer(3, init="random"),
    ],
    ids=["sparse", "logistic-output", "greedy", "tied-deep", "random"],
)
def test_where_pca_start_does_not_apply_the_start_is_random(est):
    X = _table()
    arch, hyper = _plain(est, X)
    assert hyper.init == "random" and not arch.skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 3 iterations
        fitted = est.set_params(max_iter=3, random_state=0).fit(X)
    assert fitted.skip_coefs_ == []


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="lbfgs", early_stopping=False),
        dict(solver="lbfgs", early_stopping="auto"),
        dict(solver="adam", early_stopping=False, learning_rate_init=0.05),
    ],
)
def test_fit_never_ends_above_its_start(params):
    X = _table(n=120)
    est = AutoencoderTransformer(3, hidden_layer_sizes=(20,), max_iter=40, **params)
    arch, hyper = _plain(est, X)
    data = ArrayData(X)
    objective = data.objective(arch, alpha=hyper.alpha, beta=0.0, rho=0.05)
    # the fit's own start (its generator's first draw without cross-validation):
    # the weight decay of the start's random branches depends on the draw, and
    # numpy's global generator made this test depend on the tests run before
    rng0 = np.random.RandomState(0)
    theta0 = _fit.initial_theta(_fit.Start(), data, arch, hyper, rng0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        state = _fit.fit(data, arch, hyper, rng=np.random.RandomState(0))
    loss = objective(_fit_theta(state, arch))[0]
    assert state.loss == pytest.approx(loss, rel=1e-9)
    assert loss <= objective(theta0)[0] * (1 + 1e-12)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_early_stopping_never_ends_above_its_start_on_held_out_rows(solver):
    from skae._validation import held_out_rows

    X = _table(n=120)
    est = AutoencoderTransformer(
        3, hidden_layer_sizes=(20,), max_iter=40, solver=solver, early_stopping=True
    )
    arch, hyper = _plain(est, X)
    rng = np.random.RandomState(0)
    train, val = ArrayData(X).split(held_out_rows(120, 0.1, rng))
    theta0 = _fit.initial_theta(_fit.Start(), train, arch, hyper, rng)
    start_error = row_sq_errors(theta0, arch, val.target).mean()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 40 epochs
        state = _fit.fit(ArrayData(X), arch, hyper, rng=np.random.RandomState(0))
    assert -state.best_validation_score <= start_error * (1 + 1e-12)


def _fit_theta(state, arch):
    from skae._network import pack

    return pack(state.coefs, state.intercepts, arch, state.skip_coefs)


def test_small_table_default_is_not_worse_than_pca():
    # 40 rows, a 100-unit network: without protection it overfits (issue 11)
    rng = np.random.RandomState(0)
    X = _table(n=60, d=6, seed=3)
    ratios = []
    for seed in range(3):
        perm = rng.permutation(len(X))
        tr, te = X[perm[:40]], X[perm[40:]]
        ae = AutoencoderTransformer(2, random_state=seed).fit(tr)
        pca = PCA(2).fit(tr)
        R = te - pca.inverse_transform(pca.transform(te))
        ratios.append(-ae.score(te) / np.einsum("ij,ij->i", R, R).mean())
    # measured: 1.000, 1.000, 1.000 (the start is kept); margin 5%
    assert max(ratios) <= 1.05


def _quartic(offset):
    def fun(theta):
        return offset + float(np.sum(theta**4)), 4 * theta**3

    return fun


def test_stopping_rule_stops_a_flattened_loss():
    res = minimize_lbfgs(
        _quartic(1e4), np.ones(5), max_iter=10_000, tol=1e-4, n_iter_no_change=5
    )
    # stopped by the plateau rule while the gradient was still large
    assert res.converged and "did not improve" in res.message
    assert res.n_iter < 20 and np.abs(4 * res.theta**3).max() > 1e-3


def test_stopping_rule_does_not_stop_a_falling_loss():
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = minimize_lbfgs(
            _quartic(0.0), 10 * np.ones(5), max_iter=8, tol=1e-4, n_iter_no_change=3
        )
    assert res.n_iter == 8 and not res.converged
    # every iteration improved by far more than tol
    curve = np.array(res.loss_curve)
    assert np.all(curve[1:] < curve[:-1] * (1 - 1e-3))


def test_default_fit_ends_without_warning():
    X = _table(n=300)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ae = AutoencoderTransformer(3, random_state=0).fit(X)
    assert ae.n_iter_ < ae.max_iter


def test_weighted_pca_start_equals_pca_on_repeated_rows():
    """The PCA start from weighted moments (integer weights, zeros included)
    is the start from the repeated rows (zero weight: the row dropped)."""
    from skae._network import make_architecture
    from skae._pca import pca_params, principal_axes

    X = _table(60, 7, seed=3)
    s = np.random.RandomState(4).randint(0, 4, size=60).astype(float)
    rows = np.repeat(np.arange(60), s.astype(int))
    arch = make_architecture(7, (5,), 3, "tanh", "identity", "identity", skip=True)
    starts = []
    for data in (ArrayData(X, sample_weight=s), ArrayData(X[rows])):
        mean, axes = principal_axes(data.moments(), 3)
        starts.append(pca_params(arch, np.random.RandomState(0), mean, axes))
        np.testing.assert_allclose(data.column_mean(), X[rows].mean(axis=0))
    np.testing.assert_allclose(starts[0], starts[1], rtol=1e-9, atol=1e-12)
    pca = PCA(3).fit(X[rows])
    np.testing.assert_allclose(mean, pca.mean_, rtol=1e-12)
    np.testing.assert_allclose(np.abs(axes @ pca.components_.T), np.eye(3), atol=1e-9)
