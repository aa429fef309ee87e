"""The L-BFGS wrapper: threads, callbacks, warnings."""

import os
import warnings

import numpy as np
import pytest
import scipy
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info, threadpool_limits

from skae import AutoencoderTransformer
from skae._optimize import minimize_lbfgs, scipy_blas_single_thread


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
