"""The fit pipeline (skae._fit), through ``fit`` and ``partial_fit``.

Where a fit starts (PCA's axes, Glorot's random start, a warm start), that it
never ends above its start, how the user's callback sees the run, and
``partial_fit``: one Adam pass of the same pipeline over data that arrives
in pieces. The pipeline's start (:func:`skae._fit.initial_theta`) and
:func:`skae._fit.fit` take plain values: tests call them directly, the
documented seam, rather than reaching into an estimator. Failed, diverged
and interrupted fits are in ``test_fit_failures.py``; the solvers alone and
early stopping in ``test_solvers.py``.
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skae import AutoencoderTransformer, DenoisingAutoencoder, SparseAutoencoder, _fit
from skae._adam import BETA_2, EPSILON
from skae._memory import ArrayData
from skae._network import (
    Workspace,
    init_params,
    loss_grad,
    make_architecture,
    row_sq_errors,
)
from skae._validation import check_params
from tests.conftest import flat_params, pca_error
from tests.estimators import make_estimator

QUIET = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _plain(est, X):
    params = est.get_params(deep=False)
    return check_params(params, est._parameter_constraints, X.shape[1])


def _table(n=80, d=7, seed=0):
    rng = np.random.RandomState(seed)
    Z = rng.normal(size=(n, 3))
    return np.tanh(Z @ rng.normal(size=(3, d))) + 0.1 * rng.normal(size=(n, d))


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(80, 8))


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


# ------------------------------------------------------------------ starts
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
    rng = np.random.RandomState(0)
    theta0 = _fit.initial_theta(_fit.Start(), ArrayData(X), arch, hyper, rng)
    err = row_sq_errors(theta0, arch, X).mean()
    X64 = X.astype(np.float64)
    assert err == pytest.approx(pca_error(PCA(3).fit(X64), X64), rel=rtol)


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
    with pytest.raises(ValueError, match="warm_start=True needs the same architecture"):
        ae.fit(X)


# ------------------------------------------- never above the start (issue 11)
@pytest.mark.parametrize(
    "params",
    [
        dict(solver="lbfgs", early_stopping=False),
        dict(solver="lbfgs", early_stopping="auto"),
        dict(solver="adam", early_stopping=False, learning_rate_init=0.05),
    ],
)
def test_fit_never_ends_above_its_start(params):
    """The fit's loss is at most its start's. Without weight decay every PCA
    start has the same loss, whatever its hidden branch drew (the branch adds
    nothing to the reconstruction yet), so the start built here is as good as
    the fit's own, which the cross-validated choice draws after its folds."""
    X = _table(n=120)
    est = AutoencoderTransformer(
        3, hidden_layer_sizes=(20,), max_iter=40, alpha=0.0, **params
    )
    arch, hyper = _plain(est, X)
    data = ArrayData(X)
    objective = data.objective(arch, alpha=hyper.alpha, beta=0.0, rho=0.05)
    rng = np.random.RandomState(0)
    theta0 = _fit.initial_theta(_fit.Start(), data, arch, hyper, rng)
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


class _CountingData(ArrayData):
    """In-memory rows that count the folds cross-validation fits (splits)."""

    splits = 0

    def split(self, held_out):
        type(self).splits += 1
        return super().split(held_out)


def _cv_fit(X, k, hidden=(100,), seed=0):
    """The default fit (cross-validated below 1,000 rows): its state, its
    training error over PCA's, and how many folds it fitted."""
    _CountingData.splits = 0
    est = AutoencoderTransformer(k, hidden_layer_sizes=hidden, random_state=seed)
    arch, hyper = _plain(est, X)
    state = _fit.fit(_CountingData(X), arch, hyper, rng=np.random.RandomState(seed))
    error = row_sq_errors(_fit_theta(state, arch), arch, X).mean()
    return state, error / pca_error(PCA(k).fit(X), X), _CountingData.splits


def test_cross_validation_on_noise_keeps_the_start_mostly_after_one_fold():
    """Gaussian noise, 30 rows: nothing beats PCA. Every fit keeps the start
    (no iteration on all rows), and where the first fold already shows no
    iteration ahead of it by a standard error the other folds are not fitted
    (measured: 6 of 8 seeds)."""
    folds = []
    for seed in range(8):
        X = np.random.RandomState(seed).normal(size=(30, 6))
        state, ratio, splits = _cv_fit(X, 2, seed=seed)
        assert state.loss_curve == [] and ratio == pytest.approx(1.0, rel=1e-9)
        folds.append(splits)
    assert set(folds) <= {1, _fit.N_FOLDS} and folds.count(1) >= 5, folds


@pytest.mark.parametrize("n_iter_no_change", [20, 8])
def test_a_cross_validation_fold_stops_at_three_quarters_of_the_patience(
    n_iter_no_change,
):
    """Noise, 30 rows: where the first fold alone is fitted, it ran until
    ``FOLD_PATIENCE * n_iter_no_change`` (15, or 6) iterations had passed
    without a better held-out error: its length is the best iteration plus
    that (the start, iteration 0, has no entry in validation_scores)."""
    patience = round(_fit.FOLD_PATIENCE * n_iter_no_change)
    lengths = []
    for seed in range(8):
        X = np.random.RandomState(seed).normal(size=(30, 6))
        est = AutoencoderTransformer(
            2, n_iter_no_change=n_iter_no_change, random_state=seed
        )
        arch, hyper = _plain(est, X)
        _CountingData.splits = 0
        state = _fit.fit(_CountingData(X), arch, hyper, rng=np.random.RandomState(seed))
        if _CountingData.splits == 1:
            scores = state.validation_scores
            best = int(np.argmax(scores)) + 1
            assert len(scores) in (patience, best + patience), (len(scores), best)
            lengths.append(len(scores))
    assert len(lengths) >= 4 and patience in lengths, lengths


def test_cross_validation_fits_every_fold_when_training_helps():
    # a parabola and a noise column, one code: PCA keeps a straight line,
    # the network follows the curve
    rng = np.random.RandomState(0)
    t = rng.uniform(-1.5, 1.5, size=150)
    X = np.c_[t, t**2 - 0.75, 0.05 * rng.normal(size=150)]
    state, ratio, splits = _cv_fit(X, 1, hidden=(20,))
    assert splits == _fit.N_FOLDS and len(state.loss_curve) > 0
    assert ratio < 0.5


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


def test_default_fit_ends_without_warning():
    X = _table(n=300)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ae = AutoencoderTransformer(3, random_state=0).fit(X)
    assert ae.n_iter_ < ae.max_iter


# ------------------------------------------------------ the user's callback
# ------------------------------------------------------ the user's callback
@QUIET
@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_callback_snapshots_are_copies(solver, dtype, X):
    """Item 1: the estimator handed to the callback holds its own copies of
    the parameters: snapshots differ across iterations and never share
    memory with each other or with the final state, in float32 and float64."""
    X = X.astype(dtype)
    kept = []

    def keep(iteration, loss, est):
        kept.append(est.coefs_[0])
        assert est.n_features_in_ == 8 and est.n_iter_ == iteration

    est = AutoencoderTransformer(
        3,
        hidden_layer_sizes=(5,),
        max_iter=8,
        solver=solver,
        early_stopping=False,
        callback=keep,
    ).set_params(random_state=0)
    est.fit(X)
    assert len(kept) == 8
    assert all(W.dtype == dtype for W in kept)
    for a, b in zip(kept[:-1], kept[1:]):
        assert not np.array_equal(a, b)
        assert not np.shares_memory(a, b)
    for W in kept:
        assert not np.shares_memory(W, est.coefs_[0])
    np.testing.assert_array_equal(kept[-1], est.coefs_[0])


@QUIET
@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_writing_into_the_callbacks_parameters_never_changes_the_fit(solver, dtype, X):
    """Item 1: zeroing the callback's coefs_ in place leaves the fit exactly
    as without a callback, in both dtypes (it used to change the optimizer's
    iterate in float64 only)."""
    X = X.astype(dtype)
    kw = dict(hidden_layer_sizes=(5,), max_iter=8, solver=solver, random_state=0)

    def vandal(iteration, loss, est):
        for W in est.coefs_:
            W[...] = 0

    plain = AutoencoderTransformer(3, **kw).fit(X)
    touched = AutoencoderTransformer(3, callback=vandal, **kw).fit(X)
    for A, B in zip(plain.coefs_, touched.coefs_):
        np.testing.assert_array_equal(A, B)


@QUIET
@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_callback_that_detaches_itself(solver, X):
    """Item 7: the callback is read once per fit; detaching it from inside
    (set_params(callback=None) on the estimator it was given, or on the
    fitted one) does not crash the fit."""
    calls = []
    est = AutoencoderTransformer(
        3, hidden_layer_sizes=(5,), max_iter=6, early_stopping=False
    )

    def once(iteration, loss, view):
        calls.append(iteration)
        view.set_params(callback=None)
        est.set_params(callback=None)

    est.set_params(callback=once, solver=solver, random_state=0).fit(X)
    assert calls == list(range(1, 7))
    assert est.n_iter_ == 6 and est.callback is None


def test_callback_sees_estimator_and_stops_training(digits):
    X, _ = digits
    seen = []

    def callback(iteration, loss, estimator):
        # the estimator holds the current parameters, usable as is
        seen.append((iteration, loss, estimator.score(X[:10])))
        return iteration == 5

    ae = _small(max_iter=100, early_stopping=False, callback=callback).fit(X)
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5]
    assert ae.n_iter_ == 5
    assert ae.stopped_by_ == "callback"
    assert ae.loss_curve_ == [s[1] for s in seen]
    assert ae.score(X[:10]) == pytest.approx(seen[-1][2])


def test_callback_returning_falsy_values_does_not_stop(digits):
    X, _ = digits
    with pytest.warns(Warning):
        ae = _small(
            max_iter=8, early_stopping=False, callback=lambda i, loss, est: None
        ).fit(X)
    assert ae.n_iter_ == 8
    assert ae.stopped_by_ is None


# ------------------------------------------- partial_fit: one pass of Adam
ADAM = dict(batch_size=50, learning_rate_init=3e-3, random_state=0)


@pytest.mark.parametrize(
    "est",
    [
        AutoencoderTransformer(3, hidden_layer_sizes=(16,), **ADAM),
        DenoisingAutoencoder(3, hidden_layer_sizes=(16,), **ADAM),
        SparseAutoencoder(12, sparsity_weight=0.1, **ADAM),
    ],
    ids=["plain", "denoising", "sparse"],
)
def test_passes_decrease_the_loss(stream, est):
    X = np.vstack(stream[:4])
    before = None
    for _ in range(8):
        est.partial_fit(X)
        if before is None:
            before = est.score(X)
    assert est.n_iter_ == 8
    assert len(est.loss_curve_) == 8
    # measured 0.41, 0.53 and 0.29 of the first pass's loss (plain, denoising,
    # sparse); bound 0.69 = 1.3x the highest. (With Adam's epsilon at 1e-8,
    # 0.25, 0.37 and 0.27: on this unstandardized stream, whose gradients are
    # small, epsilon 1e-3 damps more of the steps; skae._adam)
    assert est.loss_curve_[-1] < 0.69 * est.loss_curve_[0]
    assert np.all(np.diff(est.loss_curve_) < 0)
    assert est.score(X) > before


def test_loop_over_chunks_of_a_stream_and_transform_in_between(stream):
    X_test = stream[-1]
    est = AutoencoderTransformer(
        3, hidden_layer_sizes=(16,), batch_size=25, learning_rate_init=3e-3
    ).set_params(random_state=0)
    with pytest.raises(NotFittedError):
        est.transform(X_test)
    scores = []
    for piece in stream[:-1]:
        est.partial_fit(piece)
        Z = est.transform(X_test)  # usable after every piece
        assert Z.shape == (250, 3)
        scores.append(est.score(X_test))
    assert est.n_iter_ == len(stream) - 1
    assert est.n_features_in_ == 10
    assert scores[-1] > scores[0]
    assert_allclose(est.reconstruct(X_test), est.inverse_transform(Z))


def test_first_step_is_adam_on_the_fit_objective(stream):
    """One full-batch call = one Adam step on the in-memory objective from the
    initialisation ``fit`` uses: ``theta - lr * g / (|g| + e)``, ``g = grad J``
    and ``e = epsilon / sqrt(1 - beta_2)`` (the moving average of one iterate
    is that iterate)."""
    X = stream[0]
    alpha, lr = 0.3, 1e-3
    est = AutoencoderTransformer(
        3,
        hidden_layer_sizes=(5,),
        alpha=alpha,
        batch_size=len(X),
        learning_rate_init=lr,
        init="random",  # the Glorot start built below
        random_state=0,
    )
    est.partial_fit(X)

    arch = make_architecture(X.shape[1], (5,), 3, "tanh", "identity", "identity")
    theta0 = init_params(arch, np.random.RandomState(0), output_bias=X.mean(axis=0))
    loss, grad = loss_grad(theta0, X, X, Workspace(arch, len(X), X.dtype), alpha)
    expected = theta0 - lr * grad / (np.abs(grad) + EPSILON / np.sqrt(1 - BETA_2))
    theta1 = np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])
    assert_allclose(theta1, expected, rtol=1e-10, atol=1e-12)
    assert est.loss_ == pytest.approx(loss)


def test_refines_a_fitted_estimator_and_fit_restarts_the_stream(stream):
    X = np.vstack(stream[:4])
    est = AutoencoderTransformer(
        3, hidden_layer_sizes=(16,), max_iter=5, batch_size=50, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    after_fit = est.score(X)
    coefs = [W.copy() for W in est.coefs_]
    for _ in range(3):
        est.partial_fit(X)
    assert est.n_iter_ == 3  # passes of this stream
    assert est._adam_state["t"] == 3 * 20  # Adam steps continue across calls
    assert est.score(X) > after_fit
    # continued from the fitted parameters, not from a fresh initialisation
    # (measured: the encoder moved by at most 0.046; bound 0.06 = 1.3x)
    assert np.abs(est.coefs_[0] - coefs[0]).max() < 0.06

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)  # a new fit discards the Adam moments
    est.partial_fit(X)
    assert est._adam_state["t"] == 20
    assert est.n_iter_ == 1


@QUIET
@pytest.mark.parametrize("name", ["plain", "gaussian", "sparse"])
def test_partial_fit_deterministic_and_pickle_resumes(name, X_small):
    """Same random_state: bit-identical streams; a pickled stream resumes
    bit-identically; X is never modified."""
    X = X_small.copy()
    X.flags.writeable = False
    a, b = make_estimator(name, batch_size=16), make_estimator(name, batch_size=16)
    for est in (a, b):
        est.partial_fit(X)
    np.testing.assert_array_equal(flat_params(a), flat_params(b))
    c = pickle.loads(pickle.dumps(a))
    a.partial_fit(X)
    c.partial_fit(X)
    np.testing.assert_array_equal(flat_params(a), flat_params(c))
    np.testing.assert_array_equal(X, X_small)


def test_dtypes_sparse_input_and_errors(stream):
    X = stream[0]
    est = AutoencoderTransformer(3, hidden_layer_sizes=(5,), random_state=0)
    est.partial_fit(X.astype(np.float32))
    assert est.coefs_[0].dtype == np.float32
    assert est.transform(X.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :-1])

    S = sp.random(200, 30, density=0.1, format="csr", random_state=0)
    dae = DenoisingAutoencoder(4, noise="masking", noise_level=0.2, random_state=0)
    dae.partial_fit(S).partial_fit(S)
    assert dae.transform(S).shape == (200, 4)

    bad = AutoencoderTransformer(3, random_state=0)
    with pytest.raises(ValueError, match="NaN"):
        bad.partial_fit(np.full((5, 10), np.nan))
    assert not hasattr(bad, "n_features_in_")  # a failed first call leaves nothing


def test_callback_runs_once_per_pass_and_can_stop(stream):
    """The callback runs after each epoch, partial_fit's pass included, with
    the stream's pass count; returning True marks the pass as stopped."""
    seen = []

    def callback(epoch, loss, est):
        seen.append((epoch, loss, est.coefs_[0].copy()))
        return epoch == 3

    est = AutoencoderTransformer(
        3, hidden_layer_sizes=(5,), batch_size=10, callback=callback
    )
    for _ in range(3):
        est.partial_fit(stream[0])
    assert [s for s, _, _ in seen] == [1, 2, 3]
    assert est.stopped_by_ == "callback"
    assert [loss for _, loss, _ in seen] == est.loss_curve_
    assert_allclose(est.coefs_[0], seen[-1][2])

    seen.clear()
    est = AutoencoderTransformer(
        3,
        hidden_layer_sizes=(5,),
        solver="adam",
        early_stopping=False,
        callback=callback,
    ).fit(stream[0])
    assert est.n_iter_ == 3 and est.stopped_by_ == "callback"


def test_fit_after_partial_fit_drops_the_stream_state():
    pytest.importorskip("skops")
    import skops.io as sio

    X = np.random.RandomState(0).normal(size=(100, 5))
    ae = AutoencoderTransformer(2, hidden_layer_sizes=(), random_state=0)
    ae.partial_fit(X)
    ae.set_params(tol=1e-2).fit(X)
    assert not hasattr(ae, "_stream_state")
    assert sio.get_untrusted_types(data=sio.dumps(ae)) == [
        "skae._autoencoder.AutoencoderTransformer"
    ]


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


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="lbfgs", early_stopping="auto"),
        dict(solver="lbfgs", early_stopping=True),
        dict(solver="adam", early_stopping=True, batch_size=16),
        dict(solver="lbfgs", early_stopping=False, pretrain="greedy", init="random"),
    ],
    ids=["lbfgs-cv", "lbfgs-holdout", "adam-holdout", "greedy"],
)
@pytest.mark.parametrize("noise", [None, "masking"])
def test_pipeline_trains_through_missing_targets(params, noise):
    """The contract the NaN-aware estimators build on: a backend whose target
    holds NaN and whose input is filled (here with the column means), with
    sample weights, trains with every solver and stopping rule (denoising
    corrupting the filled input) to finite parameters."""
    from skae import DenoisingAutoencoder

    X = _table(n=90, d=6, seed=5)
    X[np.random.RandomState(6).uniform(size=X.shape) < 0.15] = np.nan
    filled = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    s = np.random.RandomState(7).randint(1, 4, size=90).astype(float)
    kw = dict(hidden_layer_sizes=(5, 4) if "pretrain" in params else (5,))
    est = (
        AutoencoderTransformer(2, max_iter=15, **kw, **params)
        if noise is None
        else DenoisingAutoencoder(2, noise=noise, max_iter=15, **kw, **params)
    )
    arch, hyper = _plain(est, filled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        state = _fit.fit(
            ArrayData(filled, X, sample_weight=s),
            arch,
            hyper,
            rng=np.random.RandomState(0),
        )
    assert np.isfinite(state.loss)
    assert all(np.isfinite(W).all() for W in state.coefs + state.intercepts)


@pytest.mark.parametrize(
    "est, least",
    [
        (AutoencoderTransformer(2), 3_000),  # PCA start: bench_crossover
        (AutoencoderTransformer(2, init="random"), 10_000),
        (SparseAutoencoder(2), 10_000),  # logistic code: random start
        (DenoisingAutoencoder(2), 3_000),
    ],
    ids=["pca-start", "random", "sparse", "denoising"],
)
def test_solver_auto_switches_to_adam_by_rows_and_start(est, least):
    """``solver="auto"``: Adam from 3,000 rows where the network starts at
    PCA, from 10,000 where it starts from random weights (benchmarks/README,
    "Where solver="auto" switches to Adam"); ``"lbfgs"`` and ``"adam"`` as
    asked at every size."""
    _, hyper = check_params(est.get_params(deep=False), est._parameter_constraints, 6)
    assert _fit.resolve(hyper, least - 1).solver == "lbfgs"
    assert _fit.resolve(hyper, least).solver == "adam"
    for solver in ["lbfgs", "adam"]:
        asked = est.set_params(solver=solver).get_params(deep=False)
        _, hyper = check_params(asked, est._parameter_constraints, 6)
        assert {_fit.resolve(hyper, n).solver for n in (10, least, 10**6)} == {solver}
