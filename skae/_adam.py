"""The Adam solver: minibatch epochs over batches someone else builds.

:func:`minimize_adam` is the first-order twin of
:func:`skae._optimize.minimize_lbfgs`: the same :class:`~skae._optimize.Monitor`
records each iteration (here an *epoch*, one pass over the training rows),
prints, applies early stopping and the user callback, keeps the last
completed epoch on ``KeyboardInterrupt`` and warns when the budget runs out,
and it returns the same :class:`~skae._optimize.OptimizeResult`.

Each step is Adam (Kingma and Ba, 2015) with scikit-learn's MLP defaults
``beta_1=0.9`` and ``beta_2=0.999`` but ``epsilon=1e-3`` (scikit-learn: 1e-8),
written as a fused in-place update of the flat parameter vector with one
preallocated buffer (:func:`adam_step`, the only Adam step in skae). The
parameters and moments live in the run's ``dtype``: the fit runs in the
data's, so float32 data runs Adam in float32, as PyTorch does (half the memory
traffic of the update, and no float64 copy of the parameters or of the
gradient per minibatch; the fitted coefficients are float32 anyway, and a
``partial_fit`` stream resumes from them), float64 data in float64. When
asked, a run scores, reports and returns the exponential moving average of its
iterates (:data:`AVERAGE`; one more pass over the vector per step), not the
last one. The fit pipeline asks where held-out rows choose the iterate (early
stopping, cross-validation): early in a run the average lags the iterates
(after 30 epochs on digits, 8 % worse on held-out rows), which a held-out loss
sees but a run without one, or a stream (``partial_fit``, which continues from
what it returns), would not.

Both choices come from measurements (issue 10, tests/test_solvers.py). The
average takes out the minibatch noise: on 50,000 image patches the default's
held-out error falls from 0.916x PCA's to 0.902x within the same 120 s, on
randhie and fair (bench_crossover, 3,000 to 10,000 rows) by 0-7 %; on digits
it changes little. On standardized digits (1,131 training rows) Adam's
held-out error was 1.10x L-BFGS's over seeds 0-5, up to 1.29x: at the same
training loss it generalised worse. Its steps are about the same size for
every coordinate, also for the encoder branch's first layer, whose gradients
there are mostly below 1e-3 (98% of them after 20 epochs), where L-BFGS's
steps follow the gradient's size; an ``epsilon`` of 1e-3 damps those steps:
1.05x, at most 1.09x. Where Adam runs out of its 500 epochs on small,
data-rich tables, that damping slows it: randhie at 3,000 rows goes from
0.087x PCA's error to 0.099x and fair at 4,456 from 0.461x to 0.501x, while
randhie at 5,000 and 10,000 rows goes from 0.072x and 0.049x to 0.068x and
0.041x (medians of 3 seeds); patches 0.901x.

The minibatches run with BLAS held at one thread, process-wide and restored
when the run ends, except for the steps where timing both ways finds BLAS's
own threads faster (:class:`skae._guard.BlasSteps`): on a quiet machine they
speed up a minibatch's products by about 20%, but on a loaded one they
spin-wait (one 50,000 x 256 epoch, batch 128: 86 s with OpenBLAS's 2 threads
against 1.5 s at one). A step's result does not depend on the way it ran.
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
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from skae._guard import BlasSteps
from skae._optimize import (
    EarlyStopping,
    Monitor,
    NoImprovement,
    OptimizeResult,
    diverged,
    not_finite_at_start,
)

BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-3
#: Decay per step of the moving average of the iterates a run returns.
AVERAGE = 0.99


@dataclass
class AdamState:
    """Adam's moment estimates, step count and the generator that shuffles
    the epochs (and draws their noise): what a later call continues.

    The moments are stored unnormalised, ``m = m_Adam / (1 - beta_1)`` and
    ``v = v_Adam / (1 - beta_2)``, which saves two passes over the vector per
    step (:func:`adam_step`); :meth:`first_moment` and :meth:`second_moment`
    return Adam's usual estimates. In float32 the unnormalised ``v`` overflows
    once gradient entries reach about 6e17 (Adam's own ``v`` at about 2e19):
    far past what a float32 network's loss survives."""

    m: np.ndarray
    v: np.ndarray
    t: int
    rng: np.random.RandomState

    @classmethod
    def fresh(
        cls, n_params: int, rng: np.random.RandomState, dtype=np.float64
    ) -> AdamState:
        return cls(np.zeros(n_params, dtype), np.zeros(n_params, dtype), 0, rng)

    def copy(self, dtype=None) -> AdamState:
        """A deep copy, its moments in ``dtype`` (by default theirs)."""
        m = np.array(self.m, dtype=dtype or self.m.dtype)
        v = np.array(self.v, dtype=dtype or self.v.dtype)
        return AdamState(m, v, self.t, copy.deepcopy(self.rng))

    def first_moment(self, beta1: float = BETA_1) -> np.ndarray:
        return self.m * (1.0 - beta1)

    def second_moment(self, beta2: float = BETA_2) -> np.ndarray:
        return self.v * (1.0 - beta2)

    def to_plain(self) -> dict:
        """Arrays, numbers and tuples only (what skops trusts)."""
        return {"m": self.m, "v": self.v, "t": self.t, "rng": self.rng.get_state()}

    @classmethod
    def from_plain(cls, plain: dict) -> AdamState:
        rng = np.random.RandomState()
        rng.set_state(plain["rng"])
        return cls(plain["m"].copy(), plain["v"].copy(), plain["t"], rng)


def adam_step(
    theta: np.ndarray,
    grad: np.ndarray,
    state: AdamState,
    learning_rate: float,
    buf: np.ndarray,
    *,
    beta1: float = BETA_1,
    beta2: float = BETA_2,
    eps: float = EPSILON,
    pool=None,
) -> None:
    """One Adam update of ``theta`` and ``state`` in place (scikit-learn's
    ``AdamOptimizer``: ``eps`` added to ``sqrt(v)`` before ``v``'s bias
    correction, as in Kingma and Ba's "more efficient" ordering)::

        m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
        theta -= lr sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)

    in ten allocation-free passes over the vector, on the unnormalised
    moments (:class:`AdamState`) ``mu = beta1 mu + g``, ``nu = beta2 nu + g^2``
    and ``theta -= s * mu / (sqrt(nu) + e)`` with ``c = sqrt(1 - beta2)``,
    ``e = eps / c`` and ``s = lr sqrt(1 - beta2^t) (1 - beta1) / ((1 -
    beta1^t) c)`` (the textbook form takes twelve: measured 5% slower on
    149,000 parameters). ``grad`` is only read; ``buf`` is scratch of
    ``theta``'s size. With a ``pool`` (a ``ThreadPoolExecutor``) the vector is
    split between the calling thread and one pool thread; every element gets
    the same operations either way, so the result does not depend on it.
    """
    state.t += 1
    t = state.t
    c = math.sqrt(1.0 - beta2)
    e = eps / c
    s = learning_rate * math.sqrt(1.0 - beta2**t) * (1.0 - beta1)
    s /= (1.0 - beta1**t) * c
    n = theta.shape[0]
    if pool is None or n < 2 * 2**14:
        _adam_update(theta, grad, state, buf, slice(0, n), beta1, beta2, e, s)
        return
    half = n // 2
    future = pool.submit(
        _adam_update, theta, grad, state, buf, slice(half, n), beta1, beta2, e, s
    )
    _adam_update(theta, grad, state, buf, slice(0, half), beta1, beta2, e, s)
    future.result()


def _adam_update(theta, grad, state, buf, sl, b1, b2, e, s) -> None:
    mu, nu, tmp, g = state.m[sl], state.v[sl], buf[sl], grad[sl]
    mu *= b1
    mu += g
    np.multiply(g, g, out=tmp)
    nu *= b2
    nu += tmp
    np.sqrt(nu, out=tmp)
    tmp += e
    np.divide(mu, tmp, out=tmp)
    tmp *= s
    theta[sl] -= tmp


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
    average: float | None = None,
    dtype=None,
) -> tuple[OptimizeResult, AdamState]:
    """Run up to ``max_iter`` epochs of Adam from ``theta0`` and ``state``.

    ``epoch(state.rng)`` is called once per epoch. The parameters that
    ``batch_fun`` receives, and the moments, are in ``dtype`` (module
    docstring; by default ``theta0``'s, float64 unless it is float32); the
    result's ``theta`` is float64. With ``average`` (e.g. :data:`AVERAGE`)
    the monitor (held-out loss, callback, the parameters kept) sees after each
    epoch the exponential moving average of the run's iterates with that decay
    per step, bias-corrected (the mean of the iterates so far weighted by
    ``average ** age``), and the run returns it; with None, the last iterate.
    Returns the result and the Adam state of its parameters (of the last
    completed epoch, moments in ``dtype``; ``state`` itself is left untouched,
    so a failed run changes nothing).
    """
    remedy = "lower learning_rate_init"
    monitor = Monitor(callback, early_stopping, verbose, name, remedy=remedy)
    plateau = NoImprovement(n_iter_no_change, tol)
    theta = np.array(theta0, dtype=dtype or np.result_type(theta0, np.float32))
    work = state.copy(theta.dtype)
    kept = work.copy()
    buf = np.empty_like(theta)
    message, converged, steps = f"{max_iter} epochs run", False, 0
    mean = None if average is None else theta.copy()  # of the iterates so far
    # gradient entries past this overflow the unnormalised second moment
    limit = math.sqrt(np.finfo(theta.dtype).max * (1.0 - BETA_2))
    try:
        with BlasSteps() as blas:  # the minibatches' products (module docstring)
            for _ in range(max_iter):
                total, weight = 0.0, 0.0
                for w, batch in epoch(work.rng):
                    blas.tick()
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        loss, grad = batch_fun(theta, batch)
                        # finite, and small enough for the moments (class
                        # AdamState): max |g| by max and min, no temporary
                        big = max(grad.max(), -grad.min()) if grad.size else 0.0
                        finite = np.isfinite(loss) and big < limit
                    steps += 1
                    if not finite:
                        if steps == 1 and state.t == 0:
                            raise not_finite_at_start(name, loss)
                        raise diverged(name, len(monitor.loss_curve) + 1, remedy)
                    adam_step(theta, grad, work, learning_rate, buf)
                    blas.done()
                    if mean is not None:  # mean += (theta - mean) * rate
                        rate = (1.0 - average) / (1.0 - average**steps)
                        np.subtract(theta, mean, out=buf)
                        buf *= rate
                        mean += buf
                    total, weight = total + w * float(loss), weight + w
                loss = total / weight
                kept = work.copy()  # with theta, what the monitor keeps
                if monitor(loss, theta if mean is None else mean):
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
