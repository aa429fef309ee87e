"""The L-BFGS solver (scipy's L-BFGS-B) and what every solver shares.

:func:`minimize_lbfgs` owns everything around the call to
:func:`scipy.optimize.minimize`:

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

The per-iteration bookkeeping, interruption and the end of a run are written
once here (:class:`Monitor`) and shared with the Adam solver
(:mod:`skae._adam`), so that both solvers report, stop, warn and fail alike.
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
class NoImprovement:
    """Counts iterations whose loss did not improve on the best so far by
    more than ``tol`` (relatively); ``update`` says when there were
    ``n_iter_no_change`` of them in a row."""

    n_iter_no_change: int = 10
    tol: float = 1e-4
    best_loss: float = np.inf
    _no_change: int = 0

    def update(self, loss: float) -> bool:
        if loss < self.best_loss - self.tol * abs(self.best_loss):
            self._no_change = 0
        else:
            self._no_change += 1
        self.best_loss = min(self.best_loss, loss)
        return self._no_change >= self.n_iter_no_change


@dataclass
class EarlyStopping:
    """Stop when ``validation_loss(theta)`` has not improved by ``tol`` for
    ``n_iter_no_change`` iterations; remember the best parameters."""

    validation_loss: Callable[[np.ndarray], float]
    n_iter_no_change: int = 10
    tol: float = 1e-4
    scores: list = field(default_factory=list)
    best_theta: np.ndarray | None = None
    best_iter: int = 0
    start_loss: float | None = None  # training loss of a seeded start

    def __post_init__(self):
        self._count = NoImprovement(self.n_iter_no_change, self.tol)

    def seed(self, theta0: np.ndarray, training_loss: float) -> None:
        """Make the start candidate 0: a run whose iterates never beat it on
        the held-out rows returns it (``best_iter == 0``)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss = float(self.validation_loss(theta0))
        self._count.best_loss = loss if np.isfinite(loss) else np.inf
        self.best_theta = np.array(theta0, dtype=np.float64)
        self.best_iter, self.start_loss = 0, float(training_loss)

    @property
    def best_loss(self) -> float:
        return self._count.best_loss

    def __call__(self, theta: np.ndarray) -> bool:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss = float(self.validation_loss(theta))
        if not np.isfinite(loss):
            loss = np.inf  # an overflowing held-out error is never the best
        self.scores.append(-loss)
        if loss < self.best_loss:
            self.best_theta = theta.copy()
            self.best_iter = len(self.scores)
        return self._count.update(loss)


@dataclass
class OptimizeResult:
    """What a solver run produced (L-BFGS iterations or Adam epochs)."""

    theta: np.ndarray
    loss: float
    n_iter: int
    n_fev: int
    loss_curve: list
    converged: bool
    stopped_by: str | None  # None, "callback", "early_stopping", "interrupt"
    message: str


def not_finite_at_start(name: str, loss) -> ValueError:
    return ValueError(
        f"{name}: the loss or its gradient is not finite at the initial "
        f"parameters, or too large for Adam's moments (loss={loss}): most "
        "likely the input's values are too "
        "large for the working dtype (their squares overflow). Scale the input "
        "(e.g. with StandardScaler), or pass float64 data instead of float32."
    )


def diverged(name: str, iteration: int, remedy: str = "increase alpha") -> ValueError:
    return ValueError(
        f"{name}: training diverged: the loss became non-finite (overflow) at "
        f"iteration {iteration}. Scale the input (e.g. with StandardScaler), "
        f"or {remedy}."
    )


class Monitor:
    """What every solver does after each iteration (record the loss and a
    copy of the parameters, print, early stopping, the user callback) and
    at the end of a run (interruption, best held-out parameters, warning,
    summary)."""

    def __init__(
        self, callback, early_stopping, verbose, name, verbose_every=10, remedy=None
    ):
        self.callback, self.early_stopping = callback, early_stopping
        self.remedy = remedy or "increase alpha"
        self.verbose, self.verbose_every, self.name = verbose, verbose_every, name
        self.loss_curve: list[float] = []
        self.theta: np.ndarray | None = None  # the last completed iterate
        self.stopped_by: str | None = None
        self.start = time.perf_counter()

    def __call__(self, loss: float, theta: np.ndarray) -> bool:
        """Record an iteration; True when the run must stop."""
        if not (np.isfinite(loss) and np.isfinite(theta).all()):
            raise diverged(self.name, len(self.loss_curve) + 1, self.remedy)
        self.loss_curve.append(loss)
        self.theta = theta.copy()
        it = len(self.loss_curve)
        if self.verbose >= 2 or (self.verbose == 1 and it % self.verbose_every == 0):
            elapsed = time.perf_counter() - self.start
            print(f"Iteration {it}, loss = {loss:.8g}, elapsed = {elapsed:.2f} s")
        if self.early_stopping is not None and self.early_stopping(theta):
            self.stopped_by = "early_stopping"
        elif self.callback is not None and self.callback(it, loss, theta):
            self.stopped_by = "callback"
        return self.stopped_by is not None

    def interrupted(self, exc: KeyboardInterrupt, warn: bool) -> str:
        """Keep the last completed iterate (re-raise when there is none)."""
        n = len(self.loss_curve)
        if self.theta is None:
            if hasattr(exc, "add_note"):
                exc.add_note(
                    f"{self.name}: interrupted before any iteration completed; "
                    "nothing was fitted."
                )
            raise exc
        self.stopped_by = "interrupt"
        if warn:
            warnings.warn(
                f"{self.name}: training interrupted (KeyboardInterrupt) after {n} "
                "iterations; keeping the parameters of the last completed "
                "iteration (stopped_by_='interrupt').",
                UserWarning,
                stacklevel=4,
            )
        return f"interrupted by the user after {n} iterations"

    def result(self, theta, loss, n_fev, message, budget_out, warn, budget):
        """The run's :class:`OptimizeResult`: with early stopping, the best
        held-out parameters; warns when the budget ran out."""
        early = self.early_stopping
        if early is not None and early.best_theta is not None:
            theta = early.best_theta
            if early.best_iter:
                loss = self.loss_curve[early.best_iter - 1]
            else:
                loss = early.start_loss
        if budget_out and warn:
            warnings.warn(
                f"{self.name}: the optimizer did not converge within {budget} "
                f"({message}). Increase max_iter or max_fun, or scale the data.",
                ConvergenceWarning,
                stacklevel=4,
            )
        if self.verbose:
            elapsed = time.perf_counter() - self.start
            print(
                f"{self.name}: {len(self.loss_curve)} iterations, {n_fev} "
                f"evaluations, final loss = {loss:.8g}, {elapsed:.2f} s ({message})"
            )
        return OptimizeResult(
            theta=np.asarray(theta, dtype=np.float64),
            loss=float(loss),
            n_iter=len(self.loss_curve),
            n_fev=n_fev,
            loss_curve=self.loss_curve,
            converged=not budget_out and self.stopped_by is None,
            stopped_by=self.stopped_by,
            message=message,
        )


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
    n_iter_no_change: int | None = None,
) -> OptimizeResult:
    """Minimise ``fun`` from ``theta0`` with L-BFGS-B (``jac=True``).

    With ``n_iter_no_change``, the run also ends, converged, once the loss
    has not improved by more than ``tol`` (relatively) for that many
    iterations in a row, the rule Adam applies to its epochs; this is what
    ends most fits, long before L-BFGS-B's own tests would.

    ``tol`` is L-BFGS-B's ``gtol`` (projected gradient), as in scikit-learn's
    MLP. ``callback(iteration, loss, theta)`` runs after every iteration
    and stops the run by returning True. With ``early_stopping`` the returned
    parameters are the best on its held-out loss. ``KeyboardInterrupt`` stops
    the run at the last completed iteration (and is re-raised when none
    completed). Warns with ``ConvergenceWarning`` when ``max_iter`` or
    ``max_fun`` runs out, unless ``warn=False``.
    """
    monitor = Monitor(callback, early_stopping, verbose, name, verbose_every)
    plateau = None if n_iter_no_change is None else NoImprovement(n_iter_no_change, tol)
    state = {"plateau": False}
    n_fev = 0

    def _callback(intermediate_result):
        # the line search found no finite point and accepted an overflow:
        # the monitor raises the divergence error
        loss = float(intermediate_result.fun)
        if monitor(loss, intermediate_result.x):
            raise StopIteration
        if plateau is not None and plateau.update(loss):
            state["plateau"] = True
            raise StopIteration

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
                raise not_finite_at_start(name, loss)
            curve = monitor.loss_curve
            ref = curve[-1] if curve else state["loss0"]
            return ref + 2.0 * abs(ref) + 1.0, np.zeros_like(grad, dtype=np.float64)
        if n_fev == 1:
            state["loss0"] = loss
        return loss, grad

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
            if state["plateau"]:
                message = (
                    f"the loss did not improve by more than tol={tol} for "
                    f"{n_iter_no_change} consecutive iterations"
                )
            if not state["last_finite"]:
                # the run ended on an overflowing trial point
                if not budget_out:
                    raise diverged(name, len(monitor.loss_curve) + 1)
                # out of evaluations mid line search: the last iterate stands
                theta = theta0 if monitor.theta is None else monitor.theta
                curve = monitor.loss_curve
                loss = curve[-1] if curve else state["loss0"]
        except KeyboardInterrupt as exc:
            message = monitor.interrupted(exc, warn)
            theta, loss, budget_out = monitor.theta, monitor.loss_curve[-1], False
    budget = f"max_iter={max_iter} iterations and max_fun={max_fun} evaluations"
    return monitor.result(theta, loss, n_fev, message, budget_out, warn, budget)
