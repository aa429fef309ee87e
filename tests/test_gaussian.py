"""skae._gaussian: the conditional fill of AutoencoderImputer (issue 14)."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose

import skae._gaussian as gaussian_module
from skae._gaussian import Gaussian, conditional, fit_gaussian


def _model(d=7, seed=0):
    rng = np.random.RandomState(seed)
    A = rng.normal(size=(d, d))
    S = A @ A.T + 0.5 * np.eye(d)
    return Gaussian(rng.normal(size=d), S, np.linalg.inv(S))


def _by_hand(model, x):
    """The textbook conditional mean and covariance of one row's holes."""
    m = np.isnan(x)
    o = ~m
    S, mu = model.covariance, model.mean
    T = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)])
    mean = mu[m] + T @ (x[o] - mu[o])
    cov = S[np.ix_(m, m)] - T @ S[np.ix_(o, m)]
    return mean, cov


@pytest.mark.parametrize("d", [7, 20, 70])
def test_conditional_mean_and_covariance_are_the_textbook_ones(d):
    """Rows with 1 to d holes and a row without data, through both systems
    (the precision's block for few holes, the covariance's for many); 70
    columns: hole patterns found without integer codes."""
    model = _model(d)
    rng = np.random.RandomState(1)
    X = rng.normal(size=(60, d))
    for i in range(60):
        X[i, rng.permutation(d)[: 1 + i % d]] = np.nan
    missing = np.isnan(X)
    filled = X.copy()
    total = conditional(model, filled, missing, cov=True)
    expected = np.zeros((d, d))
    for i, x in enumerate(X):
        m = np.isnan(x)
        mean, cov = _by_hand(model, x) if (~m).any() else (model.mean, model.covariance)
        assert_allclose(filled[i, m], mean, rtol=1e-9, atol=1e-12)
        assert_allclose(filled[i, ~m], x[~m])
        expected[np.ix_(m, m)] += cov
    assert_allclose(total, expected, rtol=1e-9, atol=1e-10)
    assert_allclose(model.fill(X), filled)


def test_em_recovers_the_gaussian_from_incomplete_rows():
    model = _model(d=5, seed=2)
    rng = np.random.RandomState(3)
    L = np.linalg.cholesky(model.covariance)
    X = model.mean + rng.normal(size=(20000, 5)) @ L.T
    X_nan = X.copy()
    X_nan[rng.uniform(size=X.shape) < 0.3] = np.nan
    fitted = fit_gaussian(X_nan, 1e-6, max_iter=200, tol=1e-6)
    assert_allclose(fitted.mean, model.mean, atol=0.05)
    assert_allclose(fitted.covariance, model.covariance, atol=0.1 * 5)
    plain = fit_gaussian(X, 1e-6)  # complete rows: the sample moments
    assert_allclose(plain.mean, X.mean(axis=0))
    assert_allclose(plain.covariance, np.cov(X.T, bias=True), rtol=1e-4, atol=1e-5)


def test_the_fill_beats_the_mean_and_keeps_observed_entries():
    model = _model(d=6, seed=4)
    rng = np.random.RandomState(5)
    X = model.mean + rng.normal(size=(500, 6)) @ np.linalg.cholesky(model.covariance).T
    X_nan = X.copy()
    hole = rng.uniform(size=X.shape) < 0.2
    X_nan[hole] = np.nan
    out = fit_gaussian(X_nan, 0.01).fill(X_nan)
    assert (out[~hole] == X[~hole]).all()
    mean_fill = np.where(hole, np.nanmean(X_nan, axis=0), X)
    err = np.sqrt(np.mean((out - X)[hole] ** 2))
    err_mean = np.sqrt(np.mean((mean_fill - X)[hole] ** 2))
    assert err < 0.8 * err_mean, (err, err_mean)


@pytest.mark.parametrize("d", [5, 20])
def test_rows_with_one_pattern_share_it_and_weights_count_per_row(d):
    """Repeated hole patterns (as Adam's masked minibatches have on few
    columns) fill as the textbook does, and the conditional covariance sums
    each row's weight (5 columns: one solve per pattern; 20: per row)."""
    model = _model(d=d, seed=6)
    rng = np.random.RandomState(7)
    X = rng.normal(size=(300, d))
    X[rng.uniform(size=X.shape) < 0.4] = np.nan
    w = rng.uniform(0.5, 2, size=300)
    filled = X.copy()
    total = conditional(model, filled, np.isnan(X), cov=True, w=w)
    expected = np.zeros((d, d))
    for i, x in enumerate(X):
        m = np.isnan(x)
        if not m.any():
            continue
        mean, cov = _by_hand(model, x) if (~m).any() else (model.mean, model.covariance)
        assert_allclose(filled[i, m], mean, rtol=1e-9, atol=1e-12)
        expected[np.ix_(m, m)] += w[i] * cov
    assert_allclose(total, expected, rtol=1e-9, atol=1e-10)


def test_the_pattern_cache_fills_as_a_fresh_solve_and_is_not_pickled():
    """A model's remembered pattern matrices give the fill of a fresh solve,
    call after call (patterns seen before and new ones), and stay out of a
    pickle."""
    model = _model(d=6, seed=8)
    rng = np.random.RandomState(9)
    for _ in range(3):
        X = rng.normal(size=(200, 6))
        X[rng.uniform(size=X.shape) < 0.3] = np.nan
        expected = X.copy()
        conditional(model, expected, np.isnan(X))  # no cache
        assert_allclose(model.fill(X), expected, rtol=1e-12, atol=1e-12)
    assert len(model._maps["B"]) > 0
    clone = pickle.loads(pickle.dumps(model))
    assert clone._maps == {}
    assert_allclose(clone.fill(X), expected, rtol=1e-12, atol=1e-12)


def test_em_from_pattern_sums_equals_em_from_filled_rows(monkeypatch):
    """On few columns EM's statistics come from each hole pattern's sums
    (skae._gaussian._PatternStep); the same fit as from the filled rows,
    weights and complete rows included."""
    rng = np.random.RandomState(10)
    model = _model(d=6, seed=11)
    X = model.mean + rng.normal(size=(400, 6)) @ np.linalg.cholesky(model.covariance).T
    X[rng.uniform(size=X.shape) < 0.3] = np.nan
    w = rng.uniform(0, 3, size=400)
    by_patterns = fit_gaussian(X, 0.01, w, max_iter=5, tol=0)
    monkeypatch.setattr(gaussian_module, "_CACHE_MAX_FEATURES", 0)
    by_rows = fit_gaussian(X, 0.01, w, max_iter=5, tol=0)
    assert_allclose(by_patterns.mean, by_rows.mean, rtol=1e-10, atol=1e-12)
    assert_allclose(by_patterns.covariance, by_rows.covariance, rtol=1e-10, atol=1e-12)
