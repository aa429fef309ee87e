"""The one optimizer wrapper: scipy's L-BFGS-B with skae's conventions.

It owns everything around the call to :func:`scipy.optimize.minimize`:

* threads: numpy and scipy wheels each ship their own OpenBLAS. scipy's
  L-BFGS-B calls level-1 BLAS on the parameter vector through scipy's copy,
  where a second thread costs far more than it gains (measured 14x slower per
  evaluation on a 2-core machine). :func:`scipy_blas_single_thread` limits
  only scipy's copy to one thread, leaving numpy's matrix products on all
  cores, and restores the previous setting afterwards;
* the per-iteration callback: loss curve, verbose lines, a user callback that
  may stop the run, early stopping on a held-out loss (keeping the best
  parameters);
* interruption: ``KeyboardInterrupt`` keeps the last completed iterate;
* the ``ConvergenceWarning`` when the budget runs out, as scikit-learn's MLP.

It knows nothing of estimators: it minimises ``fun(theta) -> (loss, grad)``.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import scipy
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import ThreadpoolController

_controller: ThreadpoolController | None = None


def _package_dirs(module) -> tuple[str, ...]:
    root = os.path.dirname(os.path.abspath(module.__file__))
    # PyPI wheels vendor their shared libraries in "<package>.libs" beside it.
    return (root + os.sep, root + ".libs" + os.sep)


def _scipy_own_blas(controller: ThreadpoolController) -> list[str]:
    """File paths of BLAS libraries shipped by scipy and not shared with numpy."""
    scipy_dirs = _package_dirs(scipy)
    numpy_dirs = _package_dirs(np)
    paths = []
    for lib in controller.lib_controllers:
        path = os.path.abspath(lib.filepath or "")
        if lib.user_api == "blas" and path.startswith(scipy_dirs):
            if not path.startswith(numpy_dirs):
                paths.append(lib.filepath)
    return paths


_lock = threading.Lock()
_active_fits = 0
_limiter = None


@contextmanager
def scipy_blas_single_thread():
    """Limit scipy's own BLAS (when distinct from numpy's) to one thread.

    The setting is process-wide, so concurrent fits (threads) share it: the
    first to enter applies the limit, the last to leave restores the limits
    found by the first, whatever happens inside.
    """
    global _controller, _active_fits, _limiter
    with _lock:
        if _active_fits == 0:
            if _controller is None:
                _controller = ThreadpoolController()
            paths = _scipy_own_blas(_controller)
            if paths:
                _limiter = _controller.select(filepath=paths).limit(limits=1)
        _active_fits += 1
    try:
        yield
    finally:
        with _lock:
            _active_fits -= 1
            if _active_fits == 0 and _limiter is not None:
                _limiter.restore_original_limits()
                _limiter = None


@dataclass
class EarlyStopping:
    """Stop when ``validation_loss(theta)`` has not improved by ``tol`` for
    ``n_iter_no_change`` iterations; remember the best parameters."""

    validation_loss: Callable[[np.ndarray], float]
    n_iter_no_change: int = 10
    tol: float = 1e-4
    scores: list = field(default_factory=list)
    best_loss: float = np.inf
    best_theta: np.ndarray | None = None
    best_iter: int = 0
    _no_change: int = 0

    def __call__(self, theta: np.ndarray) -> bool:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss = float(self.validation_loss(theta))
        if not np.isfinite(loss):
            loss = np.inf  # an overflowing held-out error is never the best
        self.scores.append(-loss)
        if loss < self.best_loss - self.tol * abs(self.best_loss):
            self._no_change = 0
        else:
            self._no_change += 1
        if loss < self.best_loss:
            self.best_loss = loss
            self.best_theta = theta.copy()
            self.best_iter = len(self.scores)
        return self._no_change >= self.n_iter_no_change


@dataclass
class OptimizeResult:
    """What a run of :func:`minimize_lbfgs` produced."""

    theta: np.ndarray
    loss: float
    n_iter: int
    n_fev: int
    loss_curve: list
    converged: bool
    stopped_by: str | None  # None, "callback", "early_stopping", "interrupt"
    message: str


def minimize_lbfgs(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    theta0: np.ndarray,
    *,
    max_iter: int = 200,
    max_fun: int = 15000,
    tol: float = 1e-4,
    callback: Callable[[int, float, np.ndarray], bool] | None = None,
    early_stopping: EarlyStopping | None = None,
    verbose: int = 0,
    verbose_every: int = 10,
    name: str = "L-BFGS",
    warn: bool = True,
) -> OptimizeResult:
    """Minimise ``fun`` from ``theta0`` with L-BFGS-B (``jac=True``).

    ``tol`` is L-BFGS-B's ``gtol`` (projected gradient), as in scikit-learn's
    MLP. ``callback(iteration, loss, theta)`` runs after every iteration
    and stops the run by returning True. With ``early_stopping`` the returned
    parameters are the best on its held-out loss. ``KeyboardInterrupt`` stops
    the run at the last completed iteration (and is re-raised when none
    completed). Warns with ``ConvergenceWarning`` when ``max_iter`` or
    ``max_fun`` runs out, unless ``warn=False``.
    """
    loss_curve: list[float] = []
    state = {"theta": None, "stopped_by": None}
    start = time.perf_counter()

    def _callback(intermediate_result):
        theta = intermediate_result.x
        loss = float(intermediate_result.fun)
        if not (np.isfinite(loss) and np.isfinite(theta).all()):
            # the line search found no finite point and accepted an overflow
            raise _diverged(len(loss_curve) + 1)
        loss_curve.append(loss)
        state["theta"] = theta.copy()
        it = len(loss_curve)
        if verbose >= 2 or (verbose == 1 and it % verbose_every == 0):
            elapsed = time.perf_counter() - start
            print(f"Iteration {it}, loss = {loss:.8g}, elapsed = {elapsed:.2f} s")
        if early_stopping is not None and early_stopping(theta):
            state["stopped_by"] = "early_stopping"
            raise StopIteration
        if callback is not None and callback(it, loss, theta):
            state["stopped_by"] = "callback"
            raise StopIteration

    n_fev = 0

    def _fun(theta):
        # Overflow in a trial point is handled here, not warned about: at the
        # initial parameters it is a clear error; later, the trial step was
        # too long. scipy's line search cannot interpolate an inf/NaN loss (it
        # collapses to a zero step and reports false convergence), so it gets
        # a finite loss well above the current iterate's and a zero gradient,
        # and backtracks as from any bad step.
        nonlocal n_fev
        n_fev += 1
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, grad = fun(theta)
            loss = float(loss)
            finite = np.isfinite(loss) and np.isfinite(grad).all()
        state["last_finite"] = finite
        if not finite:
            if n_fev == 1:
                raise ValueError(
                    f"{name}: the loss or its gradient is not finite at the "
                    f"initial parameters (loss={loss}): most likely the input's "
                    "values are too large for the working dtype (their squares "
                    "overflow). Scale the input (e.g. with StandardScaler), or "
                    "pass float64 data instead of float32."
                )
            ref = loss_curve[-1] if loss_curve else state["loss0"]
            return ref + 2.0 * abs(ref) + 1.0, np.zeros_like(grad, dtype=np.float64)
        if n_fev == 1:
            state["loss0"] = loss
        return loss, grad

    def _diverged(iteration):
        return ValueError(
            f"{name}: training diverged: the loss became non-finite (overflow) "
            f"at iteration {iteration} and the line search could not recover. "
            "Scale the input (e.g. with StandardScaler), or increase alpha."
        )

    with scipy_blas_single_thread():
        try:
            res = scipy.optimize.minimize(
                _fun,
                theta0,
                method="L-BFGS-B",
                jac=True,
                callback=_callback,
                options={"maxiter": max_iter, "maxfun": max_fun, "gtol": tol},
            )
            theta, loss, message = res.x, float(res.fun), str(res.message)
            budget_out = res.status == 1
            if not state["last_finite"]:
                # the run ended on an overflowing trial point
                if not budget_out:
                    raise _diverged(len(loss_curve) + 1)
                # out of evaluations mid line search: the last iterate stands
                theta = theta0 if state["theta"] is None else state["theta"]
                loss = loss_curve[-1] if loss_curve else state["loss0"]
        except KeyboardInterrupt as exc:
            if state["theta"] is None:
                if hasattr(exc, "add_note"):
                    exc.add_note(
                        f"{name}: interrupted before any iteration completed; "
                        "nothing was fitted."
                    )
                raise
            state["stopped_by"] = "interrupt"
            theta, loss = state["theta"], loss_curve[-1]
            message = f"interrupted by the user after {len(loss_curve)} iterations"
            budget_out = False
            if warn:
                warnings.warn(
                    f"{name}: training interrupted (KeyboardInterrupt) after "
                    f"{len(loss_curve)} iterations; keeping the parameters of the "
                    "last completed iteration (stopped_by_='interrupt').",
                    UserWarning,
                    stacklevel=3,
                )

    if early_stopping is not None and early_stopping.best_theta is not None:
        theta = early_stopping.best_theta
        loss = loss_curve[early_stopping.best_iter - 1]
    if budget_out and warn:
        warnings.warn(
            f"{name}: the optimizer did not converge within max_iter={max_iter} "
            f"iterations and max_fun={max_fun} evaluations ({message}). "
            "Increase max_iter or max_fun, or scale the data.",
            ConvergenceWarning,
            stacklevel=3,
        )
    if verbose:
        elapsed = time.perf_counter() - start
        print(
            f"{name}: {len(loss_curve)} iterations, {n_fev} evaluations, "
            f"final loss = {loss:.8g}, {elapsed:.2f} s ({message})"
        )
    return OptimizeResult(
        theta=np.asarray(theta, dtype=np.float64),
        loss=loss,
        n_iter=len(loss_curve),
        n_fev=n_fev,
        loss_curve=loss_curve,
        converged=not budget_out and state["stopped_by"] is None,
        stopped_by=state["stopped_by"],
        message=message,
    )
