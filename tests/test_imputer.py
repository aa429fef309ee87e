"""Issue 14: AutoencoderImputer, scikit-learn's imputer API on a denoising
autoencoder (its common checks run in tests/test_common.py)."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skae import AutoencoderImputer
from skae._imputation import RIDGES
from skae._noise import masking

SMALL = dict(hidden_layer_sizes=(8,), max_iter=50, random_state=0)


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _low_rank(n=300, d=8, rank=2, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d))
    return X * rng.uniform(0.5, 20, size=d) + rng.normal(size=d) * 10


def _remove(X, rate, seed=0):
    mask = np.random.RandomState(seed).uniform(size=X.shape) < rate
    out = X.copy()
    out[mask] = np.nan
    return out, mask


def test_observed_entries_are_returned_bit_for_bit():
    X, _ = _remove(_low_rank(), 0.3)
    kept = X.copy()
    out = AutoencoderImputer(**SMALL).fit(X).transform(X)
    observed = ~np.isnan(X)
    assert_array_equal(kept, X)  # the caller's X is not written
    assert (out[observed] == X[observed]).all()
    assert not np.isnan(out).any()
    assert out.dtype == np.float64


def test_float32_stays_float32():
    X, _ = _remove(_low_rank(), 0.2)
    X = X.astype(np.float32)
    out = AutoencoderImputer(**SMALL).fit_transform(X)
    assert out.dtype == np.float32
    observed = ~np.isnan(X)
    assert (out[observed] == X[observed]).all()


def test_imputes_low_rank_data_better_than_the_mean():
    """Rank-2 data in 8 columns of very different scales, without noise: on
    standardized columns, the Gaussian fill (the network is not kept here)
    recovers removed entries almost exactly. Measured RMSE 0.00098 against
    the column means' 1.03; the bound leaves a factor 10 (it was 0.5x with
    mean-filled inputs)."""
    X_full = _low_rank()
    X, mask = _remove(X_full, 0.2)
    ae = AutoencoderImputer(random_state=0).fit_transform(X)
    mean = SimpleImputer().fit_transform(X)
    scale = X_full.std(axis=0)

    def rmse(out):
        return np.sqrt(np.mean(((out - X_full) / scale)[mask] ** 2))

    assert rmse(ae) < 0.01 * rmse(mean), (rmse(ae), rmse(mean))


def test_numeric_missing_values_marker():
    X, mask = _remove(_low_rank(), 0.2)
    X_marked = np.where(mask, -999.0, X)
    a = AutoencoderImputer(missing_values=-999.0, **SMALL).fit_transform(X_marked)
    b = AutoencoderImputer(**SMALL).fit_transform(X)
    assert_allclose(a, b)
    with pytest.raises(ValueError, match="NaN"):  # NaN is not the marker here
        AutoencoderImputer(missing_values=-999.0, **SMALL).fit(X)


def test_indicator_and_feature_names():
    pd = pytest.importorskip("pandas")
    X, _ = _remove(_low_rank(d=4), 0.2)
    X[:, 2] = _low_rank(d=4)[:, 2]  # column c never missing
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    imp = AutoencoderImputer(add_indicator=True, **SMALL).set_output(transform="pandas")
    out = imp.fit_transform(frame)
    names = ["a", "b", "c", "d"] + [f"missingindicator_{c}" for c in "abd"]
    assert list(imp.get_feature_names_out()) == names
    assert list(out.columns) == names
    assert_array_equal(out.iloc[:, 4:].to_numpy(), np.isnan(X[:, [0, 1, 3]]))


def test_empty_columns_and_rows():
    X, _ = _remove(_low_rank(d=5), 0.2)
    X[:, 1] = np.nan  # never observed: dropped, or kept as 0
    X[7] = np.nan  # a row without data: left out of training, still imputed
    out = AutoencoderImputer(**SMALL).fit_transform(X)
    assert out.shape == (len(X), 4) and not np.isnan(out).any()
    kept = AutoencoderImputer(keep_empty_features=True, **SMALL).fit(X)
    out = kept.transform(X)
    assert out.shape == X.shape and (out[:, 1] == 0).all()
    cols = [0, 2, 3, 4]  # the reconstruction of the mean row: near the means
    assert (np.abs(out[7, cols] - kept.mean_[cols]) < kept.scale_[cols]).all()
    assert list(kept.get_feature_names_out()) == [f"x{i}" for i in range(5)]


def test_more_fill_rounds_feed_the_reconstruction_back():
    X, _ = _remove(_low_rank(), 0.3)
    kept = dict(SMALL, early_stopping=False)  # a network, always
    one = AutoencoderImputer(fill_rounds=1, **kept).fit(X)
    three = AutoencoderImputer(fill_rounds=3, **kept).fit(X)
    assert_array_equal(one.autoencoder_.coefs_[0], three.autoencoder_.coefs_[0])
    observed = ~np.isnan(X)
    a, b = one.transform(X), three.transform(X)
    assert_array_equal(a[observed], b[observed])
    assert not np.allclose(a[~observed], b[~observed])


def test_in_a_pipeline_and_under_grid_search():
    X_full = _low_rank(n=200)
    X, _ = _remove(X_full, 0.2)
    y = X_full[:, 0] - 2 * X_full[:, 3]
    pipe = make_pipeline(AutoencoderImputer(**SMALL), Ridge())
    assert pipe.fit(X, y).score(X, y) > 0.5
    grid = GridSearchCV(
        pipe, {"autoencoderimputer__n_components": [1, 2, 4]}, cv=3
    ).fit(X, y)
    assert grid.best_score_ > 0.5  # the Gaussian fill alone already recovers rank 2
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()


def test_sparse_input_is_refused():
    sp = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="[Ss]parse"):
        AutoencoderImputer(**SMALL).fit(sp.random(20, 4, density=0.5, format="csr"))


def test_holes_enter_as_the_gaussian_conditional_expectation():
    """The network reads each hole as the Gaussian fill; where no training
    iteration imputed the held-out entries better than that fill, the
    imputer keeps no network and returns the fill itself."""
    X, mask = _remove(_low_rank(n=400, rank=3), 0.2)
    imp = AutoencoderImputer(random_state=0).fit(X)
    errors = imp.validation_errors_
    assert set(errors["gaussian"]) == set(RIDGES)
    Z = (X - imp.mean_) / imp.scale_
    fill = imp.gaussian_.fill(Z) * imp.scale_ + imp.mean_
    out = imp.transform(X)
    if imp.autoencoder_ is None:
        assert errors["network"] >= min(errors["gaussian"].values())
        assert_allclose(out[mask], fill[mask])
    else:
        assert errors["network"] < min(errors["gaussian"].values())
        R = imp.autoencoder_.reconstruct(imp.gaussian_.fill(Z))
        assert_allclose(out[mask], (R * imp.scale_ + imp.mean_)[mask])


def test_masking_noise_fills_what_it_hides_with_the_row_fill():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 6))
    X[0, 2] = np.nan  # a hole of the data: filled with the masked entries
    seen = []

    def fill(A):
        seen.append(np.isnan(A))
        return np.where(np.isnan(A), 7.0, A)

    out = masking(X, 0.5, np.random.RandomState(1), fill=fill)
    plain = masking(np.nan_to_num(X), 0.5, np.random.RandomState(1))
    (hidden,) = seen
    assert (hidden.sum(axis=1) >= 3).all() and hidden[0, 2]
    assert_array_equal(out == 7.0, hidden)
    assert_array_equal(plain == 0, hidden & (X != 0))


def test_integer_weights_are_repeated_rows():
    X, _ = _remove(_low_rank(n=60), 0.2)
    s = np.random.RandomState(1).randint(0, 3, size=len(X))
    params = dict(SMALL, early_stopping=False, noise_level=0.0)
    a = AutoencoderImputer(**params).fit(X, sample_weight=s)
    b = AutoencoderImputer(**params).fit(np.repeat(X, s, axis=0))
    assert_allclose(a.mean_, b.mean_)
    assert_allclose(a.gaussian_.covariance, b.gaussian_.covariance, rtol=1e-8)
    assert_allclose(a.transform(X), b.transform(X), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("solver, budget", [("adam", 10), ("lbfgs", 500)])
def test_max_iter_auto_is_10_adam_epochs_or_500_lbfgs_iterations(solver, budget):
    """``max_iter="auto"`` resolves by the solver that trains (Adam's epochs
    cost a pass over the rows each; benchmarks/README.md); an explicit value
    is kept."""
    X, _ = _remove(_low_rank(n=200), 0.2)
    params = dict(hidden_layer_sizes=(8,), early_stopping=False, random_state=0)
    imp = AutoencoderImputer(solver=solver, **params).fit(X)
    assert imp.autoencoder_.max_iter == budget
    imp = AutoencoderImputer(solver=solver, max_iter=7, **params).fit(X)
    assert imp.autoencoder_.max_iter == 7
    with pytest.raises(ValueError, match="max_iter"):
        AutoencoderImputer(max_iter="many").fit(X)


def test_the_auto_budget_running_out_does_not_warn():
    """``max_iter="auto"`` is a budget chosen to run out on large tables
    (Adam's 10 epochs): no ConvergenceWarning then; an explicit budget that
    runs out still warns."""
    X, _ = _remove(_low_rank(n=200), 0.2)
    params = dict(hidden_layer_sizes=(8,), solver="adam", random_state=0)
    params.update(n_iter_no_change=50)  # only the budget stops training
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        AutoencoderImputer(tol=0, **params).fit(X)
        with pytest.warns(ConvergenceWarning):
            AutoencoderImputer(tol=0, max_iter=2, **params).fit(X)


def test_the_held_out_scorer_ends_an_automatic_budget_itself(monkeypatch):
    """With ``max_iter="auto"`` the held-out scorer stops the run at the
    budget's last epoch (the held-out entries choose the iterate): the fit
    skips its closing whole-objective comparison of the end with the start;
    with an explicit ``max_iter`` the run ends by its budget, as any fit."""
    import skae._fit

    X, _ = _remove(_low_rank(n=200), 0.2)
    params = dict(hidden_layer_sizes=(8,), solver="adam", random_state=0)
    params.update(n_iter_no_change=50, tol=0)  # only the budget stops training
    stops = []
    minimize_adam = skae._fit.minimize_adam

    def spy(*args, **kwargs):
        result, state = minimize_adam(*args, **kwargs)
        stops.append((result.n_iter, result.stopped_by))
        return result, state

    monkeypatch.setattr(skae._fit, "minimize_adam", spy)
    AutoencoderImputer(**params).fit(X)
    assert stops[0] == (10, "callback")  # the probe: 10 epochs, then its end
    stops.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        AutoencoderImputer(max_iter=3, **params).fit(X)
    assert stops[0] == (3, None)


def test_the_network_is_float32_where_adam_trains_it():
    """Adam trains the imputer's network on float32 rows (faster, imputations
    equal to 3 digits on randhie: benchmarks/README.md); L-BFGS keeps the
    data's dtype; the imputed output keeps the input's dtype either way."""
    X, _ = _remove(_low_rank(n=200), 0.2)
    params = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    for solver, dtype in (("adam", np.float32), ("lbfgs", np.float64)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            imp = AutoencoderImputer(solver=solver, early_stopping=False, **params)
            out = imp.fit_transform(X)
        assert imp.autoencoder_.coefs_[0].dtype == dtype
        assert out.dtype == np.float64 and not np.isnan(out).any()
