"""Issue 14: missing values (NaN) in every autoencoder's fit and inference.

The rules under test are :mod:`skae._missing`'s: the loss and the scores
count observed entries, each row rescaled by ``d / d_i``; missing inputs
enter the fitted network (and dask fits, ``partial_fit``) as
``fill_values_`` (the training column means of the observed entries), while
a fit in memory draws its training holes afresh (:mod:`skae._draws`); inf,
NaN in sparse input, and rows or columns without an observed value are
errors that name them. The objective's own gradient with
masks is tested with the core (tests/test_network.py); here one end-to-end
finite-difference check goes through the estimator's data backend.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    DenoisingAutoencoder,
)
from skae._draws import COPIES, conditional_draws, draw_missing, with_draws
from skae._gaussian import Gaussian
from skae._memory import ArrayData
from skae._missing import fill_values, filled
from skae._network import pack
from skae._validation import check_params

SMALL = dict(hidden_layer_sizes=(5,), max_iter=30, random_state=0)


def _quiet(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X)


def _holes(X, rate, seed=0):
    """``X`` with a fraction ``rate`` of its entries set to NaN (completely at
    random), never a whole row."""
    rng = np.random.RandomState(seed)
    mask = rng.uniform(size=X.shape) < rate
    mask[mask.all(axis=1), 0] = False
    out = X.copy()
    out[mask] = np.nan
    return out


@pytest.fixture(scope="module")
def table():
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(300, 3))
    X = np.tanh(Z @ rng.normal(size=(3, 8))) + 0.1 * rng.normal(size=(300, 8))
    return X, _holes(X, 0.2)


def _by_hand(est, X):
    """``(d / d_i) * sum_{j observed} r_ij^2`` per row and the per-entry
    errors, from ``reconstruct`` of the mean-filled rows."""
    mask = np.isnan(X)
    R = est.reconstruct(filled(X, est.fill_values_)) - X
    R[mask] = 0
    scale = X.shape[1] / (~mask).sum(axis=1)
    errors = R**2 * scale[:, None]
    return errors.sum(axis=1), errors


# ------------------------------------------------------------------- inputs
def test_nan_is_accepted_and_the_callers_data_is_not_changed(table):
    _, X_nan = table
    kept = X_nan.copy()
    est = _quiet(AutoencoderTransformer(2, **SMALL), X_nan)
    assert_array_equal(kept, X_nan)  # NaN where they were, nothing filled
    assert est.__sklearn_tags__().input_tags.allow_nan
    for method in ("transform", "reconstruct", "score_samples"):
        assert np.isfinite(getattr(est, method)(X_nan)).all(), method
    assert np.isfinite(est.reconstruction_errors(X_nan)).all()


def test_fill_values_are_the_observed_column_means(table):
    _, X_nan = table
    est = _quiet(AutoencoderTransformer(2, **SMALL), X_nan)
    assert_allclose(est.fill_values_, np.nanmean(X_nan, axis=0), rtol=1e-12)
    complete = _quiet(AutoencoderTransformer(2, **SMALL), table[0])
    assert_allclose(complete.fill_values_, table[0].mean(axis=0), rtol=1e-12)


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_inf_is_still_an_error(table, bad):
    X = table[0].copy()
    X[3, 2] = bad
    est = AutoencoderTransformer(2, **SMALL)
    with pytest.raises(ValueError, match="infinity"):
        est.fit(X)
    est = _quiet(est, table[0])
    with pytest.raises(ValueError, match="infinity"):
        est.transform(X)


def test_rows_and_columns_without_an_observed_value_are_named(table):
    X = table[0].copy()
    X[[4, 7]] = np.nan
    with pytest.raises(ValueError, match=r"2 sample\(s\).*rows \[4, 7\]"):
        AutoencoderTransformer(2, **SMALL).fit(X)
    X = table[0].copy()
    X[:, 5] = np.nan
    with pytest.raises(ValueError, match=r"1 feature\(s\).*columns \[5\]"):
        AutoencoderTransformer(2, **SMALL).fit(X)


def test_nan_in_sparse_input_is_a_clear_error(table):
    X = sp.csr_matrix(np.abs(table[0]))
    X.data[0] = np.nan
    with pytest.raises(ValueError, match="Sparse input X holds NaN"):
        AutoencoderTransformer(2, **SMALL).fit(X)


# ---------------------------------------------------------------- inference
def test_codes_read_the_filled_input(table):
    _, X_nan = table
    est = _quiet(AutoencoderTransformer(2, **SMALL), X_nan)
    X_fill = filled(X_nan, est.fill_values_)
    assert_array_equal(est.transform(X_nan), est.transform(X_fill))
    assert_array_equal(est.reconstruct(X_nan), est.reconstruct(X_fill))


def test_scores_count_observed_entries_rescaled(table):
    """Rows' errors are ``d / d_i`` times their observed squared errors; the
    per-feature errors are 0 at missing entries and sum to the scores."""
    _, X_nan = table
    est = _quiet(AutoencoderTransformer(2, **SMALL), X_nan)
    rows, entries = _by_hand(est, X_nan)
    scores = est.score_samples(X_nan)
    errors = est.reconstruction_errors(X_nan)
    assert_allclose(-scores, rows, rtol=1e-10)
    assert_allclose(errors, entries, rtol=1e-10, atol=1e-300)
    assert (errors[np.isnan(X_nan)] == 0).all()
    assert_allclose(errors.sum(axis=1), -scores, rtol=1e-10)
    complete = table[0]  # no NaN: the plain squared error
    plain = ((est.reconstruct(complete) - complete) ** 2).sum(axis=1)
    assert_allclose(-est.score_samples(complete), plain, rtol=1e-10)


def test_a_row_without_observed_value_is_encoded_but_not_scored(table):
    _, X_nan = table
    est = _quiet(AutoencoderTransformer(2, **SMALL), X_nan)
    X = X_nan[:5].copy()
    X[3] = np.nan
    mean_code = est.transform(est.fill_values_[None, :])
    assert_allclose(est.transform(X)[3], mean_code[0])
    for method in ("score_samples", "reconstruction_errors"):
        with pytest.raises(ValueError, match=r"rows \[3\]"):
            getattr(est, method)(X)


# ------------------------------------------------------------------ the loss
def _objective(est, X_in, target):
    arch, hyper = check_params(
        est.get_params(), est._parameter_constraints, X_in.shape[1]
    )
    theta = pack(est.coefs_, est.intercepts_, arch, est.skip_coefs_)
    data = ArrayData(X_in, target)
    return data, arch, hyper, theta


def test_masked_loss_equals_plain_loss_when_nothing_is_missing(table):
    X = table[0]
    est = _quiet(AutoencoderTransformer(2, **SMALL), X)
    data, arch, hyper, theta = _objective(est, X, X.copy())
    plain = ArrayData(X).objective(arch, **hyper.penalties)(theta)
    masked = data.objective(arch, **hyper.penalties)(theta)
    assert_allclose(masked[0], plain[0], rtol=1e-12)
    assert_allclose(masked[1], plain[1], rtol=1e-10, atol=1e-14)


def test_objective_with_holes_end_to_end(table):
    """The fit's objective on (filled input, target with NaN) is the
    contract's ``[0.5 sum_i (d / d_i) sum_obs r^2 + 0.5 alpha ||W||^2] / m``
    (the rows' errors are ``-score_samples``), and its gradient matches
    central differences."""
    _, X_nan = table
    est = _quiet(AutoencoderTransformer(2, alpha=0.1, **SMALL), X_nan)
    X_in = filled(X_nan, est.fill_values_)
    data, arch, hyper, theta = _objective(est, X_in, X_nan)
    fun = data.objective(arch, **hyper.penalties)
    loss, grad = fun(theta)
    w = theta[: arch.n_decayed]
    expected = (-0.5 * est.score_samples(X_nan).sum() + 0.05 * w @ w) / len(X_nan)
    assert_allclose(loss, expected, rtol=1e-10)
    assert_allclose(data.row_errors(arch)(theta), -est.score_samples(X_nan))
    rng = np.random.RandomState(0)
    for k in rng.choice(theta.size, 12, replace=False):
        e = np.zeros_like(theta)
        e[k] = 1e-6
        numeric = (fun(theta + e)[0] - fun(theta - e)[0]) / 2e-6
        assert_allclose(grad[k], numeric, rtol=1e-4, atol=1e-8)


# ------------------------------------------------------ drawn training holes
def test_draws_follow_the_conditional_distribution():
    """Many draws of one row's holes have the Gaussian's conditional mean
    (its ``fill``) and covariance ``P_mm^-1``; observed entries are kept."""
    rng = np.random.RandomState(0)
    A = rng.normal(size=(5, 5))
    S = A @ A.T + np.eye(5)
    model = Gaussian(rng.normal(size=5), S, np.linalg.inv(S))
    row = rng.normal(size=5)
    row[[1, 3]] = np.nan
    X = np.tile(row, (40_000, 1))
    drawn = draw_missing(model, X, np.random.RandomState(1))
    assert_array_equal(drawn[:, [0, 2, 4]], X[:, [0, 2, 4]])
    values = drawn[:, [1, 3]]
    cov = np.linalg.inv(model.precision[np.ix_([1, 3], [1, 3])])
    se = np.sqrt(np.diag(cov) / len(X))
    expected = model.fill(row[None])[0, [1, 3]]
    assert (np.abs(values.mean(axis=0) - expected) <= 4 * se).all()
    assert_allclose(np.cov(values.T), cov, rtol=0.03)  # measured: 2.1% at most


def test_draws_without_spread_are_the_expectations(table):
    """With the spread's normal deviates at 0, the drawn rows (padded by
    hole count, a block at a time) are the Gaussian's conditional
    expectations, row by row, whatever each row's holes."""
    _, X_nan = table
    X = X_nan.copy()
    X[:5, :6] = np.nan  # a few rows with many holes, and rows with none
    model = conditional_draws(X, None, np.random.RandomState(0)).model

    class Zeros:
        def standard_normal(self, shape):
            return np.zeros(shape)

    assert_allclose(draw_missing(model, X, Zeros()), model.fill(X), rtol=1e-10)


def test_each_copy_draws_the_holes_afresh(table):
    """An L-BFGS pair holds COPIES copies of the rows: observed entries as
    they are, each hole drawn anew in each copy; the target keeps its NaN,
    the held-out input holds the conditional expectations."""
    _, X_nan = table
    draws = conditional_draws(X_nan, None, np.random.RandomState(0))
    noise = with_draws(None, draws, lbfgs=True)
    data = ArrayData(draws.expected(X_nan), X_nan)
    assert not np.isnan(data.X_in).any()
    pair = data.corrupted(noise, np.random.RandomState(0))
    n, mask = len(X_nan), np.isnan(X_nan)
    copies = pair.X_in.reshape(COPIES, n, -1)
    assert not np.isnan(copies).any() and pair.target is X_nan
    for c in copies:
        assert_array_equal(c[~mask], X_nan[~mask])
    first, second = copies[0][mask], copies[1][mask]
    assert (first != second).all()
    assert np.corrcoef(first, second)[0, 1] > 0.6  # measured 0.75: near the means
    assert with_draws(None, draws, lbfgs=False).n_corruptions == 1  # Adam


def test_complete_data_draws_nothing(table):
    """Without NaN a fit draws nothing: it equals a fit with the draws off."""
    X = table[0]
    a = _quiet(AutoencoderTransformer(2, **SMALL), X)
    off = AutoencoderTransformer(2, **SMALL)
    off._draw_holes = False
    b = _quiet(off, X)
    for A, B in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_array_equal(A, B)


# --------------------------------------------------------- every fit path
@pytest.mark.parametrize(
    "make",
    [
        lambda: AutoencoderTransformer(2, solver="adam", **SMALL),
        lambda: AutoencoderTransformer(2, early_stopping=True, **SMALL),
        lambda: AutoencoderTransformer(2, init="random", **SMALL),
        lambda: DenoisingAutoencoder(2, noise="masking", noise_level=0.3, **SMALL),
        lambda: DenoisingAutoencoder(2, n_corruptions=2, **SMALL),
        lambda: DenoisingAutoencoder(2, noise="salt_and_pepper", **SMALL),
        lambda: DenoisingAutoencoder(2, solver="adam", noise="masking", **SMALL),
        lambda: AutoencoderOutlierDetector(2, contamination=0.1, **SMALL),
    ],
    ids=["adam", "holdout", "random", "masking", "2-copies", "s&p", "dae-adam", "od"],
)
def test_every_fit_path_trains_through_holes(table, make):
    _, X_nan = table
    est = _quiet(make(), X_nan)
    assert all(np.isfinite(W).all() for W in est.coefs_)
    assert np.isfinite(est.loss_)
    assert np.isfinite(est.score_samples(X_nan)).all()


def test_noise_corrupts_the_filled_input_and_keeps_the_target(table):
    _, X_nan = table
    est = DenoisingAutoencoder(2, noise="masking", noise_level=0.5, **SMALL)
    arch, hyper = check_params(est.get_params(), est._parameter_constraints, 8)
    X_in = filled(X_nan, fill_values(X_nan))
    pair = ArrayData(X_in, X_nan).corrupted(hyper.noise, np.random.RandomState(0))
    assert not np.isnan(pair.X_in).any()
    assert (pair.X_in == 0).sum() >= 4 * len(X_nan)  # half of 8 masked per row
    assert_array_equal(np.isnan(pair.target), np.isnan(X_nan))


def test_partial_fit_keeps_the_first_fill_values(table):
    _, X_nan = table
    est = AutoencoderTransformer(2, hidden_layer_sizes=(5,), random_state=0)
    est.partial_fit(X_nan[:150])
    first = est.fill_values_.copy()
    est.partial_fit(X_nan[150:])
    assert_array_equal(est.fill_values_, first)
    assert_allclose(first, np.nanmean(X_nan[:150], axis=0))


def test_dask_equals_in_memory_with_holes(table):
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    _, X_nan = table
    make = lambda: AutoencoderTransformer(2, early_stopping=False, **SMALL)  # noqa: E731
    with dask.config.set(scheduler="synchronous"):
        X_d = da.from_array(X_nan, chunks=75)
        lazy = _quiet(make(), X_d)
        ref = make()
        ref._draw_holes = False  # dask fills the means (in memory: draws)
        ref = _quiet(ref, X_nan)
        assert_allclose(lazy.fill_values_, ref.fill_values_, rtol=1e-12)
        for A, B in zip(lazy.coefs_ + lazy.intercepts_, ref.coefs_ + ref.intercepts_):
            assert_allclose(A, B, rtol=1e-6, atol=1e-8)
        for method in ("transform", "score_samples", "reconstruction_errors"):
            out = getattr(lazy, method)(X_d)
            assert hasattr(out, "compute"), method
            assert_allclose(out.compute(), getattr(lazy, method)(X_nan), rtol=1e-12)
        bad = X_nan.copy()
        bad[100] = np.nan
        with pytest.raises(ValueError, match=r"rows \[100\]"):
            lazy.score_samples(da.from_array(bad, chunks=75)).compute()
        with pytest.raises(ValueError, match=r"rows \[100\]"):
            make().fit(da.from_array(bad, chunks=75))


def test_fit_with_holes_codes_complete_rows_nearly_as_well(digits_split):
    """Issue 14's target: trained on digits with 20% of the entries missing,
    the codes of complete held-out rows reconstruct them (relative to PCA's
    error) within 10% of the fit on the complete data. MISSED on digits,
    closer: the default network with 8 codes, its training holes drawn from
    their conditional distribution afresh in each of 8 copies (skae._draws):
    0.478 against 0.391 of PCA's error (1.22x; seeds 1 and 2: 1.18x, 1.21x;
    4 copies: 1.26x, 1.21x, 1.24x). With the column means as training fill
    (``_draw_holes = False``): 0.552 (1.41x; seeds 1 and 2: 1.36x, 1.52x).
    What is left is the masked target: a fixed training fill gives
    1.28x-1.41x whatever it is (the means 1.41x, conditional expectations
    1.30x, one draw 1.39x, even the true values 1.28x), fills redrawn for
    each copy 1.14x-1.22x (16 copies: 1.19x). Under Adam (drawn per
    minibatch): 1.13x, the means 1.33x. Met on a table (the next test). A
    linear network meets it (0.99x with the draws, 1.02x with the means).
    The bounds are the measurements plus about 5%, so that a regression
    shows."""
    X_tr, X_te, _, _ = digits_split
    X_nan = _holes(X_tr, 0.2, seed=1)
    k = 8

    def relative(est):
        pca = PCA(k).fit(X_tr)
        R_pca = X_te - pca.inverse_transform(pca.transform(X_te))
        return -est.score_samples(X_te).mean() / (R_pca**2).sum(axis=1).mean()

    full = relative(_quiet(AutoencoderTransformer(k, random_state=0), X_tr))
    holes = relative(_quiet(AutoencoderTransformer(k, random_state=0), X_nan))
    means = AutoencoderTransformer(k, random_state=0)
    means._draw_holes = False
    means = relative(_quiet(means, X_nan))
    assert holes <= 1.28 * full, (holes, full)  # measured 1.222
    assert means >= 1.35 * full, (means, full)  # measured 1.41: the draws help
    linear = dict(hidden_layer_sizes=(), random_state=0)  # meets the target
    full = relative(_quiet(AutoencoderTransformer(k, **linear), X_tr))
    holes = relative(_quiet(AutoencoderTransformer(k, **linear), X_nan))
    assert holes <= 1.05 * full, (holes, full)  # measured 0.995


def test_fit_with_holes_codes_complete_rows_of_a_table_within_10_percent():
    """Issue 14's target on a table, met: breast_cancer (standardized, 75%
    to train), 4 codes, 20% missing: the codes of complete held-out rows
    reconstruct them 0.985x as well as the fit on the complete rows
    (relative to PCA's error; seeds 1 and 2: 0.977x, 1.015x), against 1.129x
    with the column means as training fill (1.146x, 1.180x). Bounds: the
    measurements plus about 3%. (wine: 1.03x-1.04x against 1.07x-1.10x;
    diabetes: 1.01x, 1.01x, 1.20x against 1.04x, 1.04x, 1.27x.)"""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X = load_breast_cancer().data
    X_tr, X_te = train_test_split(X, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    X_nan = _holes(X_tr, 0.2, seed=1)
    pca = PCA(4).fit(X_tr)
    pca_error = ((X_te - pca.inverse_transform(pca.transform(X_te))) ** 2).sum(1)

    def relative(X, draw=True):
        est = AutoencoderTransformer(4, random_state=0)
        est._draw_holes = draw
        return -_quiet(est, X).score_samples(X_te).mean() / pca_error.mean()

    full = relative(X_tr)
    assert relative(X_nan) <= 1.02 * full, full  # measured 0.985: met
    assert relative(X_nan, draw=False) >= 1.10 * full  # measured 1.129: missed
