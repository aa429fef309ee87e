"""The solvers: the L-BFGS-B wrapper (skae._optimize) and Adam (skae._adam),
alone on functions and through the estimators (issue 10's solver seam).

Alone: convergence, the budget warning, the callback, BLAS thread limits,
line searches over overflowing trial points, the plateau stopping rule.
Through the estimators: both solvers minimise the same objective, set the
same fitted attributes and share the per-iteration machinery
(``skae._optimize.Monitor``): verbose lines, early stopping, interrupt,
divergence and the budget warning behave alike.
"""

import os
import re
import warnings

import numpy as np
import pytest
import scipy
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_info, threadpool_limits

from skae import AutoencoderTransformer, SparseAutoencoder
from skae._adam import AdamState, adam_step, minimize_adam
from skae._optimize import EarlyStopping, minimize_lbfgs, scipy_blas_single_thread

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


# ------------------------------------------------------- minimize_lbfgs alone
def _blas_threads():
    """{filepath: num_threads} of the loaded BLAS libraries."""
    return {
        i["filepath"]: i["num_threads"]
        for i in threadpool_info()
        if i["user_api"] == "blas"
    }


def _scipy_own(paths):
    scipy_dir = os.path.dirname(scipy.__file__)
    np_dir = os.path.dirname(np.__file__)
    return [p for p in paths if p.startswith(scipy_dir) and not p.startswith(np_dir)]


def test_only_scipys_own_blas_is_limited_during_fit_and_restored_after():
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS if it ships one)

    before = _blas_threads()
    scipy_libs = _scipy_own(before)
    if not scipy_libs:
        pytest.skip("scipy shares numpy's BLAS here: nothing to limit")
    seen = {}

    def record(iteration, loss, estimator):
        seen.update(_blas_threads())

    X = np.random.RandomState(0).uniform(size=(50, 6))
    with threadpool_limits(limits=2):
        expected = _blas_threads()
        est = AutoencoderTransformer(  # Glorot's start: PCA's would be optimal
            2,
            hidden_layer_sizes=(),
            init="random",
            solver="lbfgs",
            early_stopping=False,
            max_iter=3,
            tol=0,
            callback=record,
        )
        with pytest.warns(ConvergenceWarning):
            est.fit(X)
        after = _blas_threads()
    assert seen.keys() == expected.keys()
    for path, n in seen.items():
        assert n == (1 if path in scipy_libs else expected[path]), path
    assert after == expected


def test_context_manager_restores_limits_on_error():
    before = _blas_threads()
    with pytest.raises(RuntimeError):
        with scipy_blas_single_thread():
            raise RuntimeError("boom")
    assert _blas_threads() == before


def _quadratic(theta):
    return 0.5 * float(theta @ theta), theta.copy()


def test_minimize_lbfgs_records_loss_curve_and_converges():
    res = minimize_lbfgs(_quadratic, np.arange(5.0), max_iter=100, tol=1e-10)
    assert res.converged and res.stopped_by is None
    assert res.n_iter == len(res.loss_curve) >= 1
    assert res.loss == pytest.approx(0.0, abs=1e-12)


def test_callback_returning_true_stops():
    def f(theta):  # a slow valley: many iterations to converge
        scale = np.logspace(0, 4, theta.size)
        return 0.5 * float(theta @ (scale * theta)), scale * theta

    res = minimize_lbfgs(
        f, np.ones(30), max_iter=500, callback=lambda it, loss, theta: it == 3
    )
    assert res.n_iter == 3 and res.stopped_by == "callback"


def test_budget_out_warns():
    def f(theta):
        scale = np.logspace(0, 4, theta.size)
        return 0.5 * float(theta @ (scale * theta)), scale * theta

    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        res = minimize_lbfgs(f, np.ones(30), max_iter=2, tol=0)
    assert not res.converged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = minimize_lbfgs(f, np.ones(30), max_iter=2, tol=0, warn=False)
    assert res.n_iter == 2 and not res.converged


def test_overlapping_fits_restore_the_thread_limits():
    """Fits in several threads share the process-wide limit: when fit A
    starts, then B, then A ends before B, a save/restore per fit would let B
    restore A's limit of 1. The last fit to end restores what the first found."""
    import scipy.linalg  # noqa: F401

    if not _scipy_own(_blas_threads()):
        pytest.skip("scipy shares numpy's BLAS here: nothing to limit")
    with threadpool_limits(limits=2):
        expected = _blas_threads()
        a, b = scipy_blas_single_thread(), scipy_blas_single_thread()
        a.__enter__()
        b.__enter__()
        a.__exit__(None, None, None)
        assert min(_blas_threads().values()) == 1  # B still runs: still limited
        b.__exit__(None, None, None)
        assert _blas_threads() == expected


def test_line_search_backtracks_over_overflowing_trial_points():
    """A trial point whose loss overflows (inf or NaN) is a step too long: the
    line search must step back and still reach the optimum, silently."""
    target = np.array([1.0, -1.0])
    calls = {"bad": 0}

    def fun(theta):
        # sum log cosh(theta - target): secant steps from far away overshoot
        if np.abs(theta).max() > 6:
            calls["bad"] += 1
            return (np.nan if calls["bad"] % 2 else np.inf), np.full(2, np.nan)
        r = theta - target
        return float(np.logaddexp(r, -r).sum()), np.tanh(r)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = minimize_lbfgs(fun, np.array([-5.0, 5.0]), tol=1e-10)
    assert calls["bad"] > 0
    np.testing.assert_allclose(res.theta, target, atol=1e-6)
    assert np.isfinite(res.loss)


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


# ------------------------------------------------------- minimize_adam alone
def _quadratic_batches(n_batches=4):
    """``0.5 * ||theta - c_b||^2`` averaged over batches b: minimum at the
    mean of the centres."""
    centres = np.arange(n_batches * 3, dtype=float).reshape(n_batches, 3)

    def epoch(rng):
        for i in rng.permutation(n_batches):
            yield 1.0, centres[i]

    def batch_fun(theta, c):
        r = theta - c
        return 0.5 * float(r @ r), r.copy()

    return batch_fun, epoch, centres.mean(axis=0)


def test_minimize_adam_converges_and_stops_on_a_plateau():
    batch_fun, epoch, optimum = _quadratic_batches()
    state = AdamState.fresh(3, np.random.RandomState(0))
    res, new_state = minimize_adam(
        batch_fun, epoch, np.zeros(3), state, learning_rate=0.1, max_iter=2000
    )
    assert res.converged and res.stopped_by is None and res.n_iter < 2000
    np.testing.assert_allclose(res.theta, optimum, atol=0.05)
    assert res.n_iter == len(res.loss_curve) and res.n_fev == 4 * res.n_iter
    assert state.t == 0 and new_state.t == 4 * res.n_iter  # input state untouched


def test_minimize_adam_runs_in_the_dtype_of_its_start():
    """A float32 start runs Adam in float32 (what a float32 fit does): the
    batches see float32 parameters, the returned moments are float32 (cast
    from a float64 state), the result's theta is float64."""
    _, epoch, optimum = _quadratic_batches()
    seen = set()

    def batch_fun(theta, c):
        seen.add(theta.dtype)
        r = theta - c.astype(theta.dtype)
        return 0.5 * float(r @ r), r

    state = AdamState.fresh(3, np.random.RandomState(0))
    res, new_state = minimize_adam(
        batch_fun, epoch, np.zeros(3, np.float32), state, learning_rate=0.1,
        max_iter=2000,
    )
    assert seen == {np.dtype(np.float32)} and res.theta.dtype == np.float64
    assert new_state.m.dtype == new_state.v.dtype == np.float32
    assert state.m.dtype == np.float64
    np.testing.assert_allclose(res.theta, optimum, atol=0.05)


def test_float32_adam_fit_is_reproducible_and_as_good_as_float64():
    """Digits through float32 Adam (parameters and moments in float32):
    bit-identical for a seed, its moments stored in float32, and its training
    error that of the float64 fit up to rounding (measured: 3e-6 apart)."""
    X = load_digits().data[:600] / 16.0
    kw = dict(
        hidden_layer_sizes=(32,), solver="adam", max_iter=25, early_stopping=False,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a, b = (AutoencoderTransformer(8, **kw).fit(X.astype(np.float32)) for _ in "ab")
        c = AutoencoderTransformer(8, **kw).fit(X)
    for A, B in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert A.dtype == np.float32 and np.array_equal(A, B)
    assert a._adam_state["m"].dtype == np.float32
    e32 = -a.score_samples(X.astype(np.float32)).mean()
    e64 = -c.score_samples(X).mean()
    assert e32 == pytest.approx(e64, rel=1e-4)


def test_minimize_adam_budget_callback_interrupt_and_divergence():
    batch_fun, epoch, _ = _quadratic_batches()

    def fresh():
        return AdamState.fresh(3, np.random.RandomState(0))

    with pytest.warns(ConvergenceWarning, match="max_iter=3 epochs"):
        res, _ = minimize_adam(batch_fun, epoch, np.zeros(3), fresh(), max_iter=3)
    assert res.n_iter == 3 and not res.converged

    res, _ = minimize_adam(
        batch_fun, epoch, np.zeros(3), fresh(), callback=lambda i, *a: i == 2
    )
    assert res.n_iter == 2 and res.stopped_by == "callback"

    seen = {}

    def interrupt(i, loss, theta):
        if i == 3:
            seen["theta"] = theta.copy()
            raise KeyboardInterrupt

    with pytest.warns(UserWarning, match="interrupted"):
        res, state = minimize_adam(
            batch_fun, epoch, np.zeros(3), fresh(), callback=interrupt
        )
    assert res.stopped_by == "interrupt" and res.n_iter == 3 and state.t == 12
    np.testing.assert_array_equal(res.theta, seen["theta"])

    def explode(theta, c):
        return (np.inf, theta) if theta[0] > 0.002 else batch_fun(theta, c)

    with pytest.raises(ValueError, match="diverged.*at iteration 1"):
        minimize_adam(explode, epoch, np.zeros(3), fresh(), learning_rate=0.01)


def test_minimize_adam_scores_and_returns_the_moving_average_of_its_iterates():
    """Early stopping and the callback see, and the run returns (the best
    epoch's), the bias-corrected moving average of the iterates, replayed
    here from the textbook recursion; with ``average=None``, the iterates."""
    batch_fun, epoch, _ = _quadratic_batches()
    decay, lr = 0.9, 0.05
    theta, state = np.zeros(3), AdamState.fresh(3, np.random.RandomState(0))
    buf, z, t, iterates, averages = np.empty(3), np.zeros(3), 0, [], []
    for _ in range(3):
        for _, c in epoch(state.rng):
            adam_step(theta, batch_fun(theta, c)[1], state, lr, buf)
            t += 1
            z = decay * z + (1 - decay) * theta
        iterates.append(theta.copy())
        averages.append(z / (1 - decay**t))
    assert not np.allclose(averages[1], iterates[1], rtol=0.01)

    def run(average):
        scored, seen = [], []

        def held_out(theta):  # epoch 2 is the best
            scored.append(theta.copy())
            return [3.0, 1.0, 2.0][len(scored) - 1]

        res, _ = minimize_adam(
            batch_fun,
            epoch,
            np.zeros(3),
            AdamState.fresh(3, np.random.RandomState(0)),
            learning_rate=lr,
            max_iter=3,
            early_stopping=EarlyStopping(held_out),
            callback=lambda i, loss, theta: seen.append(theta.copy()),
            warn=False,
            average=average,
        )
        return res, scored, seen

    for average, expected in [(decay, averages), (None, iterates)]:
        res, scored, seen = run(average)
        np.testing.assert_allclose(scored, expected, rtol=1e-12)
        np.testing.assert_allclose(seen, expected, rtol=1e-12)
        np.testing.assert_allclose(res.theta, expected[1], rtol=1e-12)


# ----------------------------------------------------------- on estimators
@pytest.mark.slow
def test_adam_and_lbfgs_on_digits_at_their_defaults():
    """Standardized digits, 70/30 split, 8 codes, every other parameter at its
    default (early_stopping="auto": on these 1257 rows, a held-out 10 %; L-BFGS,
    or Adam epochs of 200 rows at 1e-3): the same fitted attributes, both
    stopped by early stopping, and held-out errors close to each other.

    Measured (random_state=0, one thread): L-BFGS 16.05 (0.46x PCA, 208
    iterations), Adam 17.56 (401 epochs): ratio 1.094. The bound below is
    issue 10's target itself, 1.10 (0.5 % above the measurement: the fit is
    deterministic at one thread); with epsilon at 1e-8, Adam measured 1.145
    (the last iterate) and 1.143 (the average) and fails it.

    History (issue 10): with Adam's epsilon at scikit-learn's 1e-8 and the
    last iterate returned, Adam reached 18.37 (ratio 1.14) and over seeds 0-5
    1.14, 1.06, 1.29, 1.06, 1.01, 1.06 (mean 1.10): at the same training
    loss it generalised worse (seed 2: 15.75 against L-BFGS's 14.22 at a
    training loss of 4.4). Without effect on seed 0: learning_rate_init=2e-3
    (18.67), batch_size=64 (18.42), n_iter_no_change=50 (18.37), an L-BFGS
    polish of Adam's result (18.36), a further stage at 1e-4 then 1e-5
    (18.36). Seeds 0-5, ratios (mean; worst): a moving average of the
    iterates, decay 0.99 per step, 1.10 (1.26), decay 0.999 1.11 (1.27);
    a linear learning-rate warm-up over 60 steps 1.09 (1.19), over 600 1.13
    (1.29); epsilon 1e-6 1.09 (1.18), 1e-4 1.07 (1.13), 5e-4 1.06 (1.13),
    1e-3 1.05 (1.09), 2e-3 1.04 (1.09), 1e-2 1.01 (1.06, but 500 epochs
    without stopping on 5 seeds), 1e-1 1.24. Chosen: epsilon 1e-3 (the
    smallest tried within 10 % on every seed) with the average (decay 0.99),
    which takes out the minibatch noise on 50,000 image patches (the
    default's held-out error 0.916x PCA's before, 0.923x with epsilon 1e-3
    alone, 0.901x with both, within 120 s); here seeds 0-5 give 1.09, 1.05,
    1.09, 1.05, 0.97, 1.03 (mean 1.05; mean errors 15.7 against 15.0).
    Epsilon's cost elsewhere (small data-rich tables) is in skae._adam.
    """
    X = load_digits().data
    X_tr, X_te = train_test_split(X, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    fitted, errors = {}, {}
    for solver in ["lbfgs", "adam"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            with threadpool_limits(1):  # small matrices: one thread is fastest
                ae = AutoencoderTransformer(
                    8, solver=solver, early_stopping="auto", random_state=0
                )
                ae.fit(X_tr)
        fitted[solver] = {k for k in vars(ae) if k.endswith("_")}
        errors[solver] = -ae.score(X_te)
        assert ae.n_iter_ == len(ae.loss_curve_) < 500
        assert ae.stopped_by_ == "early_stopping"
    assert fitted["lbfgs"] == fitted["adam"]
    ratio = errors["adam"] / errors["lbfgs"]
    assert 1 / 1.10 <= ratio <= 1.10, errors


@QUIET
def test_adam_early_stopping_keeps_the_best_epoch():
    X = load_digits().data[:300] / 16
    ae = AutoencoderTransformer(
        16,
        hidden_layer_sizes=(64,),
        alpha=0.0,
        solver="adam",
        learning_rate_init=1e-2,
        max_iter=300,
        early_stopping=True,
        validation_fraction=0.3,
        n_iter_no_change=5,
        init="random",  # an epoch beats Glorot's start (PCA's is kept here)
        random_state=0,
    ).fit(X)
    assert ae.stopped_by_ == "early_stopping" and ae.n_iter_ < 300
    scores = np.asarray(ae.validation_scores_)
    assert len(scores) == ae.n_iter_ == len(ae.loss_curve_)
    best = int(np.argmax(scores))
    assert ae.best_validation_score_ == scores[best]
    assert ae.loss_ == ae.loss_curve_[best]


# ---------------------------------------------------------- early stopping
def test_early_stopping_stops_on_overfitting_and_keeps_best(digits):
    # 100 samples, 64 features, 16 codes and no weight decay: the training
    # error keeps falling long after the held-out error has turned.
    X = digits[0][:100]
    ae = AutoencoderTransformer(
        16,
        hidden_layer_sizes=(64,),
        alpha=0.0,
        max_iter=1000,
        early_stopping=True,
        validation_fraction=0.3,
        n_iter_no_change=20,
        random_state=0,
    ).fit(X)
    assert ae.stopped_by_ == "early_stopping"
    assert ae.n_iter_ < 1000
    scores = np.asarray(ae.validation_scores_)
    assert len(scores) == ae.n_iter_ == len(ae.loss_curve_)
    best = int(np.argmax(scores))
    assert best < ae.n_iter_ - 1  # the last iterate is worse than the best
    assert ae.best_validation_score_ == scores[best] > scores[-1]
    # the kept parameters are those of the best iteration: the loss is that
    # iteration's, and the held-out part (drawn first from random_state)
    # scores exactly best_validation_score_
    assert ae.loss_ == ae.loss_curve_[best]
    X_val = X[check_random_state(0).permutation(100)[:30]]
    assert ae.score(X_val) == pytest.approx(ae.best_validation_score_, rel=1e-10)


@QUIET
def test_no_validation_scores_without_early_stopping(digits):
    X, _ = digits
    ae = _small(early_stopping=False).fit(X)
    assert ae.validation_scores_ is None
    assert ae.best_validation_score_ is None


@QUIET
@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_verbose_lines_are_the_same_for_both_solvers(solver, capsys):
    X = np.random.RandomState(0).normal(size=(50, 4))
    AutoencoderTransformer(
        2, solver=solver, max_iter=20, early_stopping=False, verbose=1
    ).fit(X)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [int(re.match(r"Iteration (\d+), loss", s).group(1)) for s in lines[:-1]]
    assert lines[-1].startswith("AutoencoderTransformer: 20 iterations")


# ---------------------------------------------------- verbose and callback
_ITER_LINE = re.compile(r"^Iteration (\d+), loss = [-+0-9.e]+, elapsed = \d+\.\d\d s$")


def test_verbose_1_prints_every_10_iterations_and_a_summary(digits, capsys):
    """On stdout only: every 10th iteration, then a summary line."""
    X, _ = digits
    with pytest.warns(Warning):  # the budget of 25 runs out
        _small(max_iter=25, verbose=1).fit(X)
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.strip().splitlines()
    iters = [int(_ITER_LINE.match(line).group(1)) for line in lines[:-1]]
    assert iters == [10, 20]
    assert re.match(
        r"^AutoencoderTransformer: 25 iterations, \d+ evaluations, "
        r"final loss = [-+0-9.e]+, \d+\.\d\d s \(.+\)$",
        lines[-1],
    )


def test_verbose_2_prints_every_iteration(digits, capsys):
    X, _ = digits
    with pytest.warns(Warning):
        ae = _small(max_iter=7, verbose=2).fit(X)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == ae.n_iter_ + 1 == 8
    assert all(_ITER_LINE.match(line) for line in lines[:-1])


def test_verbose_0_is_silent(digits, capsys):
    X, _ = digits
    with pytest.warns(Warning):
        _small(max_iter=5).fit(X)
    assert capsys.readouterr().out == ""


def test_adam_epochs_corrupt_runs_of_batches_in_one_call():
    """An epoch yields every row once, in batches of ``batch_rows``; masking
    corrupts whole runs of batches at once (a conditional fill solves once
    per run, not once per batch), each row with exactly its share masked;
    with copies per batch (``n_corruptions > 1``) a run is one batch."""
    from types import SimpleNamespace

    from skae._memory import ArrayData
    from skae._minibatch import RUN_FLOATS, adam_epochs
    from skae._noise import NoiseSpec

    n, d, rows = 1000, 10, 64
    X = np.arange(n * d, dtype=float).reshape(n, d) + 1.0
    calls = []

    def fill(Z):  # counts the calls, and marks the masked entries
        calls.append(Z.shape[0])
        return np.where(np.isnan(Z), -1.0, Z)

    for copies in (1, 3):
        calls.clear()
        noise = NoiseSpec("masking", 0.3, copies, fill)
        hyper = SimpleNamespace(batch_rows=lambda m: rows, noise=noise)
        epoch = adam_epochs(ArrayData(X), hyper)
        seen = []
        for size, (X_in, T, s) in epoch(np.random.RandomState(0)):
            assert s is None and size == T.shape[0] <= rows
            assert X_in.shape == (copies * size, d)
            masked = (X_in == -1.0).reshape(copies, size, d).sum(axis=2)
            assert (masked == 3).all()
            kept = X_in.reshape(copies, size, d) != -1.0
            assert (X_in.reshape(copies, size, d) == T)[kept].all()
            seen.append(T[:, 0].copy())
        assert np.sort(np.concatenate(seen)).tolist() == X[:, 0].tolist()
        if copies == 1:  # one run: 1000 rows (10,000 entries), one call
            assert n * d <= RUN_FLOATS and calls == [n]
        else:  # each batch's copies, one call each
            assert len(calls) == copies * -(-n // rows) and max(calls) == rows
