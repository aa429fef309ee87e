"""What a fit leaves behind when it fails, diverges or is interrupted.

One atomic store of the fitted state (skae._base): a fit that raises leaves
the estimator unfitted (never half-updated), a failed ``partial_fit`` leaves
the previous state intact, concurrent or re-entrant fits of one object store
one fit whole. Divergence (non-finite loss or gradient) is a clear
ValueError; Ctrl-C keeps the last completed iterate, or propagates and
leaves nothing when no iteration completed. Faults are injected through the
documented seams ``skae._memory.ArrayData.objective`` (L-BFGS) and
``skae._fit.batch_objective`` (Adam).
"""

import threading
import warnings

import numpy as np
import pytest
from sklearn.utils.validation import check_is_fitted

import skae._fit
import skae._memory
from skae import AutoencoderTransformer, DenoisingAutoencoder
from tests.conftest import assert_unfitted, flat_params
from tests.estimators import CONFIGS, LBFGS, make_estimator, make_iterating

# Small fixed budgets: running out of iterations is expected, not tested here.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(80, 8))


def _wrap_objective(monkeypatch, wrap):
    """Make every in-memory L-BFGS objective built from now on
    ``wrap(fun, count)``, through the documented seam
    ``skae._memory.ArrayData.objective`` (``count[0]`` counts evaluations)."""
    original = skae._memory.ArrayData.objective

    def objective(self, *args, **kwargs):
        return wrap(original(self, *args, **kwargs), [0])

    monkeypatch.setattr(skae._memory.ArrayData, "objective", objective)


def _poison_objective(monkeypatch, from_eval, loss_value, grad_value):
    """The objective returns ``loss_value`` (and a gradient times
    ``grad_value``) from its ``from_eval``-th evaluation on: a run whose
    parameters have blown up."""

    def wrap(fun, count):
        def poisoned(theta):
            count[0] += 1
            loss, grad = fun(theta)
            if count[0] >= from_eval:
                with np.errstate(invalid="ignore", over="ignore"):
                    return loss_value, grad * grad_value
            return loss, grad

        return poisoned

    _wrap_objective(monkeypatch, wrap)


def _interrupting_objective(monkeypatch, at_eval):
    def wrap(fun, count):
        def interrupted(theta):
            count[0] += 1
            if count[0] == at_eval:
                raise KeyboardInterrupt
            return fun(theta)

        return interrupted

    _wrap_objective(monkeypatch, wrap)


# ------------------------------------------------------------- divergence
#: The linear model starts at its optimum (PCA), where L-BFGS stops before a
#: fourth evaluation: Glorot's start gives it a run to poison.
LINEAR_RANDOM = {"linear": dict(init="random")}


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("name", LBFGS)
def test_divergence_mid_run_is_a_clear_value_error(name, bad, X_small, monkeypatch):
    """Loss and gradient turning non-finite during the run (after three good
    evaluations): fit raises a ValueError saying training diverged, warns
    nothing else, and leaves the (previously fitted) estimator unfitted."""
    est = make_estimator(name, **LINEAR_RANDOM.get(name, {})).fit(X_small)
    _poison_objective(monkeypatch, 4, bad, bad)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="diverged"):
            est.fit(X_small)
    assert_unfitted(est)


@pytest.mark.parametrize("name", LBFGS)
def test_non_finite_gradient_with_finite_loss_never_gives_nan_parameters(
    name, X_small, monkeypatch
):
    """A gradient that overflows while the loss stays finite (the gradient
    norm is checked too): either a clear error or finite parameters."""
    est = make_estimator(name, **LINEAR_RANDOM.get(name, {}))
    _poison_objective(monkeypatch, 4, 1.0, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            est.fit(X_small)
        except ValueError as exc:
            assert "non-finite" in str(exc) or "not finite" in str(exc)
            assert_unfitted(est)
        else:
            assert all(np.isfinite(W).all() for W in est.coefs_)
            assert np.isfinite(est.transform(X_small)).all()


@pytest.mark.parametrize("cls", [AutoencoderTransformer, DenoisingAutoencoder])
def test_exploding_step_is_a_divergence_error_and_keeps_the_model(cls, X):
    """A finite but absurd step size blows the parameters up: the error says
    training diverged and names the step size; nothing is stored."""
    est = cls(3, hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X)
    before = flat_params(est)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="diverged.*learning_rate_init"):
            est.set_params(learning_rate_init=1e300, batch_size=5).partial_fit(X)
    np.testing.assert_array_equal(flat_params(est), before)


def test_adam_divergence_is_a_clear_error_and_leaves_nothing_fitted():
    X = np.random.RandomState(0).normal(size=(50, 4))
    est = AutoencoderTransformer(
        2, solver="adam", learning_rate_init=1e300, batch_size=5, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="diverged"):
            est.fit(X)
    assert not hasattr(est, "coefs_")


# ---------------------------------------------------- failed and refitted
@pytest.mark.parametrize("name", ["plain", "masking", "sparse", "early-stopping"])
def test_failed_refit_leaves_estimator_clearly_unfitted(name, X_small, monkeypatch):
    """A fit that fails on a previously fitted estimator (bad data, a bad
    parameter, or divergence) leaves no fitted attribute behind."""
    est = make_estimator(name).fit(X_small)
    X_nan = X_small.copy()
    X_nan[0] = np.nan  # a row without an observed value
    with pytest.raises(ValueError, match="NaN"):
        est.fit(X_nan)
    assert_unfitted(est)

    est.fit(X_small).set_params(alpha=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        est.fit(X_small)
    assert_unfitted(est)

    est.set_params(alpha=1e-4).fit(X_small)
    with pytest.raises(ValueError, match="warm_start"):
        est.set_params(warm_start=True).fit(X_small[:, :5])
    assert_unfitted(est)

    est.set_params(warm_start=False).fit(X_small)
    _poison_objective(monkeypatch, 4, np.nan, np.nan)
    with pytest.raises(ValueError, match="diverged"):
        est.fit(X_small)
    assert_unfitted(est)


def test_failed_fit_removes_every_fitted_attribute_at_once(X):
    """A failed fit leaves no fitted attribute behind, the private Adam
    state included."""
    est = AutoencoderTransformer(2, hidden_layer_sizes=(4,)).partial_fit(X)
    assert hasattr(est, "_adam_state")
    with pytest.raises(ValueError):
        est.fit(np.full((5, 8), np.nan))
    assert not [k for k in vars(est) if k.endswith("_") or k == "_adam_state"]


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
@pytest.mark.parametrize("name", ["plain", "masking", "sparse"])
def test_failed_partial_fit_leaves_previous_state_intact(
    name, exc, X_small, monkeypatch
):
    """A partial_fit call that fails mid-pass (here the minibatch objective
    raises at the third Adam step, through the seam
    ``skae._fit.batch_objective``) leaves the estimator exactly as the
    previous call left it, parameters and stream state consistent, never
    half-updated."""
    est = make_estimator(name, batch_size=10)
    est.partial_fit(X_small)
    before = flat_params(est)
    n_iter, curve = est.n_iter_, list(est.loss_curve_)
    original = skae._fit.batch_objective

    def failing(*args, **kwargs):
        fun, count = original(*args, **kwargs), [0]

        def batch_fun(theta, batch):
            count[0] += 1
            if count[0] == 3:
                raise exc
            return fun(theta, batch)

        return batch_fun

    monkeypatch.setattr(skae._fit, "batch_objective", failing)
    with pytest.raises(exc):
        est.partial_fit(X_small)
    monkeypatch.undo()
    np.testing.assert_array_equal(flat_params(est), before)
    assert est.n_iter_ == n_iter and est.loss_curve_ == curve
    # the stream resumes from that state as if the failed call never happened
    est.partial_fit(X_small)
    reference = make_estimator(name, batch_size=10)
    reference.partial_fit(X_small)
    reference.partial_fit(X_small)
    assert est.n_iter_ == 2
    np.testing.assert_allclose(flat_params(est), flat_params(reference), rtol=1e-5)


# -------------------------------------------------------------- interrupt
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_keyboard_interrupt_in_callback_keeps_last_completed_iterate(name, X_small):
    """Ctrl-C once iteration 3 has completed (simulated by the callback
    raising KeyboardInterrupt at iteration 3): the estimator is fitted at
    iteration 3's parameters (with early stopping: the best held-out ones so
    far), says so with stopped_by_ == "interrupt" and a warning, and works."""
    seen = {}

    def callback(iteration, loss, est):
        if iteration == 3:
            seen["coefs"] = [W.copy() for W in est.coefs_]
            seen["loss"] = loss
            raise KeyboardInterrupt

    est = make_iterating(name, max_iter=30, callback=callback)
    if name == "early-stopping":
        est.set_params(n_iter_no_change=50)
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(X_small)
    assert est.stopped_by_ == "interrupt"
    assert est.n_iter_ == 3 and len(est.loss_curve_) == 3
    if name == "early-stopping":
        # with early stopping the best held-out iterate so far is kept
        best = int(np.argmax(est.validation_scores_))
        assert est.loss_ == est.loss_curve_[best]
    else:
        assert est.loss_ == seen["loss"]
        for W, W_seen in zip(est.coefs_, seen["coefs"]):
            np.testing.assert_array_equal(W, W_seen)
    Z = est.transform(X_small)
    assert np.isfinite(Z).all()
    assert np.isfinite(est.score_samples(X_small)).all()


@pytest.mark.parametrize("at_eval", [1, 2])
@pytest.mark.parametrize("name", LBFGS)
def test_keyboard_interrupt_before_any_iteration_leaves_estimator_unfitted(
    name, at_eval, X_small, monkeypatch
):
    """KeyboardInterrupt raised inside the objective before the first
    iteration completes propagates, and the estimator, even if previously
    fitted, is left unfitted (never half-updated)."""
    est = make_iterating(name).fit(X_small)
    _interrupting_objective(monkeypatch, at_eval)
    with pytest.raises(KeyboardInterrupt) as info:
        est.fit(X_small)
    assert_unfitted(est)
    notes = getattr(info.value, "__notes__", None)
    if notes is not None:  # Python >= 3.11
        assert any("nothing was fitted" in n for n in notes)


@pytest.mark.parametrize("name", ["plain", "gaussian", "sparse"])
def test_keyboard_interrupt_in_objective_after_some_iterations(
    name, X_small, monkeypatch
):
    """KeyboardInterrupt raised inside the objective mid-run (in a line
    search) keeps the last completed iterate, with the warning."""
    est = make_iterating(name, max_iter=50)
    _interrupting_objective(monkeypatch, 10)
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(X_small)
    assert est.stopped_by_ == "interrupt"
    assert 1 <= est.n_iter_ < 10
    assert est.loss_ == est.loss_curve_[-1]
    assert np.isfinite(est.transform(X_small)).all()


def test_keyboard_interrupt_during_pretraining_stops_the_whole_fit(
    X_small, monkeypatch
):
    """Ctrl-C during a greedy pretraining stage stops the fit (it does not
    silently carry on to fine-tuning) and leaves the estimator unfitted. The
    interrupt comes from a stage's objective, built by the in-memory
    backend's documented hook for pretraining stages
    (``skae._memory.ArrayData.pretrain_hooks``)."""
    calls = {"n": 0}
    original = skae._memory.ArrayData.pretrain_hooks

    def pretrain_hooks(self, **kwargs):
        hooks = original(self, **kwargs)
        make_objective = hooks["make_objective"]

        def interrupting(*args):
            fun = make_objective(*args)

            def stage_fun(theta):
                calls["n"] += 1
                if calls["n"] == 6:  # after stage 1 completed a few iterations
                    raise KeyboardInterrupt
                return fun(theta)

            return stage_fun

        return {**hooks, "make_objective": interrupting}

    monkeypatch.setattr(skae._memory.ArrayData, "pretrain_hooks", pretrain_hooks)
    est = make_estimator("deep-greedy-tied", pretrain_max_iter=20)
    fine_tuned = []
    est.set_params(callback=lambda *a: fine_tuned.append(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        with pytest.raises(KeyboardInterrupt):
            est.fit(X_small)
    assert not fine_tuned
    assert_unfitted(est)


# ----------------------------------------------- one atomic store (issue 16)
def _consistent(est, n_features):
    check_is_fitted(est)
    assert est.n_features_in_ == n_features
    assert est.coefs_[0].shape[0] == n_features == est.coefs_[-1].shape[1]
    assert est.intercepts_[-1].shape == (n_features,)
    assert len(est.loss_curve_) == est.n_iter_


def test_concurrent_fits_of_one_object_store_one_of_them_whole():
    """Item 9: two threads fitting 8- and 5-feature data on the same object:
    the result is one of the two fits, whole (n_features_in_, coefs_,
    intercepts_ and the curves agree), never a mix."""
    rng = np.random.RandomState(0)
    data = [rng.normal(size=(60, 8)), rng.normal(size=(60, 5))]
    for _ in range(5):
        est = AutoencoderTransformer(
            2, hidden_layer_sizes=(4,), max_iter=20, early_stopping=False
        )
        barrier = threading.Barrier(2)

        def work(Xi, est=est, barrier=barrier):
            barrier.wait()
            est.fit(Xi)

        threads = [threading.Thread(target=work, args=(Xi,)) for Xi in data]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _consistent(est, est.n_features_in_)
        assert est.n_features_in_ in (8, 5)


def test_reentrant_fit_from_the_callback_leaves_the_outer_fit(X):
    """Item 9: a callback that fits the same object on other data: the outer
    fit completes and its state, whole, is what remains."""
    other = np.random.RandomState(1).normal(size=(40, 5))
    est = AutoencoderTransformer(
        2, hidden_layer_sizes=(4,), max_iter=5, early_stopping=False
    )

    def refit(iteration, loss, view):
        if iteration == 2:
            est.set_params(callback=None).fit(other)

    est.set_params(callback=refit, random_state=0).fit(X)
    _consistent(est, 8)
    assert est.n_iter_ == 5
