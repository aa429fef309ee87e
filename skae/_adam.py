"""The Adam solver: minibatch epochs over batches someone else builds.

:func:`minimize_adam` is the first-order twin of
:func:`skae._optimize.minimize_lbfgs`: the same :class:`~skae._optimize.Monitor`
records each iteration (here an *epoch*, one pass over the training rows),
prints, applies early stopping and the user callback, keeps the last
completed epoch on ``KeyboardInterrupt`` and warns when the budget runs out,
and it returns the same :class:`~skae._optimize.OptimizeResult`.

Each step is Adam (Kingma and Ba, 2015) with scikit-learn's MLP defaults
``beta_1=0.9``, ``beta_2=0.999``, ``epsilon=1e-8``, written as a fused in-place
update of the flat float64 parameter vector with one preallocated buffer.
Stopping follows ``MLPRegressor(solver="adam")``: with early stopping, when
the held-out loss has not improved by ``tol`` (relatively) for
``n_iter_no_change`` epochs, keeping the best parameters; without, when the
training loss (the mean minibatch loss of an epoch) has not, which counts as
convergence.

It knows nothing of networks or estimators: ``epoch()`` yields
``(weight, batch)`` pairs and ``batch_fun(theta, batch)`` returns the batch's
``(loss, grad)``; the epoch's loss is the ``weight``-weighted mean.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from skae._optimize import (
    EarlyStopping,
    Monitor,
    NoImprovement,
    OptimizeResult,
    diverged,
    not_finite_at_start,
)

BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-8


@dataclass
class AdamState:
    """Adam's moment estimates, step count and the generator that shuffles
    the epochs (and draws their noise): what a later call continues."""

    m: np.ndarray
    v: np.ndarray
    t: int
    rng: np.random.RandomState

    @classmethod
    def fresh(cls, n_params: int, rng: np.random.RandomState) -> AdamState:
        return cls(np.zeros(n_params), np.zeros(n_params), 0, rng)

    def copy(self) -> AdamState:
        return AdamState(self.m.copy(), self.v.copy(), self.t, copy.deepcopy(self.rng))

    def to_plain(self) -> dict:
        """Arrays, numbers and tuples only (what skops trusts)."""
        return {"m": self.m, "v": self.v, "t": self.t, "rng": self.rng.get_state()}

    @classmethod
    def from_plain(cls, plain: dict) -> AdamState:
        rng = np.random.RandomState()
        rng.set_state(plain["rng"])
        return cls(plain["m"].copy(), plain["v"].copy(), plain["t"], rng)


def adam_step(theta, grad, state: AdamState, learning_rate: float, buf) -> None:
    """One Adam step, in place on ``theta`` and the moments (``buf``: scratch
    of ``theta``'s size)."""
    state.t += 1
    m, v = state.m, state.v
    m *= BETA_1
    np.multiply(grad, 1 - BETA_1, out=buf)
    m += buf
    v *= BETA_2
    np.multiply(grad, grad, out=buf)
    buf *= 1 - BETA_2
    v += buf
    step = learning_rate * np.sqrt(1 - BETA_2**state.t) / (1 - BETA_1**state.t)
    np.sqrt(v, out=buf)
    buf += EPSILON
    np.divide(m, buf, out=buf)
    buf *= step
    theta -= buf


def minimize_adam(
    batch_fun: Callable[[np.ndarray, object], tuple[float, np.ndarray]],
    epoch: Callable[[np.random.RandomState], Iterable[tuple[float, object]]],
    theta0: np.ndarray,
    state: AdamState,
    *,
    learning_rate: float = 1e-3,
    max_iter: int = 200,
    tol: float = 1e-4,
    n_iter_no_change: int = 10,
    callback: Callable[[int, float, np.ndarray], bool] | None = None,
    early_stopping: EarlyStopping | None = None,
    verbose: int = 0,
    name: str = "Adam",
    warn: bool = True,
) -> tuple[OptimizeResult, AdamState]:
    """Run up to ``max_iter`` epochs of Adam from ``theta0`` and ``state``.

    ``epoch(state.rng)`` is called once per epoch. Returns the result and the
    Adam state of its parameters (of the last completed epoch; ``state``
    itself is left untouched, so a failed run changes nothing).
    """
    remedy = "lower learning_rate_init"
    monitor = Monitor(callback, early_stopping, verbose, name, remedy=remedy)
    plateau = NoImprovement(n_iter_no_change, tol)
    theta = np.array(theta0, dtype=np.float64)
    work = state.copy()
    kept = work.copy()
    buf = np.empty_like(theta)
    message, converged, steps = f"{max_iter} epochs run", False, 0
    try:
        for _ in range(max_iter):
            total, weight = 0.0, 0.0
            for w, batch in epoch(work.rng):
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    loss, grad = batch_fun(theta, batch)
                    finite = np.isfinite(loss) and np.isfinite(grad).all()
                steps += 1
                if not finite:
                    if steps == 1 and state.t == 0:
                        raise not_finite_at_start(name, loss)
                    raise diverged(name, len(monitor.loss_curve) + 1, remedy)
                adam_step(theta, grad, work, learning_rate, buf)
                total, weight = total + w * float(loss), weight + w
            loss = total / weight
            kept = work.copy()  # with theta, what the monitor keeps
            if monitor(loss, theta):
                message = f"stopped by {monitor.stopped_by}"
                break
            if early_stopping is None and plateau.update(loss):
                message = (
                    f"training loss did not improve by more than tol={tol} for "
                    f"{n_iter_no_change} consecutive epochs"
                )
                converged = True
                break
    except KeyboardInterrupt as exc:
        message = monitor.interrupted(exc, warn=True)
    theta = monitor.theta
    budget_out = not converged and monitor.stopped_by is None
    result = monitor.result(
        theta,
        monitor.loss_curve[-1],
        steps,
        message,
        budget_out,
        warn,
        f"max_iter={max_iter} epochs",
    )
    return result, kept
