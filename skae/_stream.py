"""``partial_fit``: minibatch Adam for data that arrives in pieces.

L-BFGS needs the whole objective at every evaluation; a stream that never
sits anywhere at once gets a first-order optimizer instead. Each call to
``partial_fit(X)`` makes one pass over ``X`` in shuffled minibatches and takes
one Adam step (Kingma and Ba, 2015, with scikit-learn's MLP defaults
``beta_1=0.9``, ``beta_2=0.999``, ``epsilon=1e-8``) per minibatch, on the same
objective as ``fit`` evaluated on the minibatch (:func:`skae._network.loss_grad`:
mean squared error, weight decay ``alpha / (2 b)`` for a batch of ``b``
samples, as scikit-learn's MLP, and the KL sparsity penalty at the batch's
mean code). A denoising autoencoder corrupts every minibatch afresh.

The first call initialises the network exactly as ``fit`` would on that first
piece (output bias at its mean); later calls continue, Adam's moments
included. A fitted estimator (from ``fit``) is refined from its parameters with
fresh moments. The optimizer state lives in ``est._stream_state`` (pickled
with the estimator, so a stream may resume after a restart) and is tied to the
``coefs_`` it produced: a later ``fit`` discards it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils.validation import validate_data

from skae._dask import is_dask_collection
from skae._network import Architecture, Workspace, init_params, loss_grad, pack

BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-8


@dataclass
class AdamState:
    """Parameters (float64), Adam moments and step count, and the stream's
    random generator (shuffling, noise)."""

    arch: Architecture
    theta: np.ndarray
    m: np.ndarray
    v: np.ndarray
    t: int
    rng: np.random.RandomState
    coefs: list | None = None  # the est.coefs_ these parameters were written to


def _state(est, arch, X) -> AdamState:
    state = getattr(est, "_stream_state", None)
    fitted = getattr(est, "coefs_", None)
    if state is not None and state.arch == arch and state.coefs is fitted:
        return state
    rng = check_random_state(est.random_state)
    expected = [(a, b) for a, b in zip(arch.sizes[:-1], arch.sizes[1:])]
    if fitted is not None and [W.shape for W in fitted] == expected:
        theta = pack(fitted, est.intercepts_, arch)  # refine a fitted network
    else:
        mean = np.asarray(X.mean(axis=0)).ravel()
        theta = init_params(arch, rng, output_bias=mean)
    zeros = np.zeros_like(theta)
    return AdamState(arch, theta, zeros, zeros.copy(), 0, rng)


def _pass(est, X, state, batch_size, learning_rate, callback):
    """One shuffled pass of Adam over ``X``; returns (sum of batch losses,
    number of samples, stopped by callback)."""
    n = X.shape[0]
    dtype = X.dtype
    workspaces: dict[int, Workspace] = {}
    total, stopped = 0.0, False
    perm = state.rng.permutation(n)
    for batch in gen_batches(n, max(1, min(batch_size, n))):
        B = X[perm[batch]]
        X_in, target = est._training_pair(B, state.rng)
        rows = X_in.shape[0]
        if rows not in workspaces:
            workspaces[rows] = Workspace(state.arch, rows, dtype)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # overflow is reported below as a ValueError, not as a warning
            loss, grad = loss_grad(
                state.theta,
                X_in,
                target,
                workspaces[rows],
                est.alpha,
                est.sparsity_weight,
                est.sparsity_target,
            )
            sq_grad = grad**2
        if not (np.isfinite(loss) and np.isfinite(sq_grad).all()):
            raise ValueError(
                f"{type(est).__name__}.partial_fit diverged: the loss or its "
                "gradient became non-finite. Scale the input (e.g. "
                "StandardScaler) or lower learning_rate."
            )
        state.t += 1
        state.m *= BETA_1
        state.m += (1 - BETA_1) * grad
        state.v *= BETA_2
        state.v += (1 - BETA_2) * sq_grad
        step = learning_rate * np.sqrt(1 - BETA_2**state.t) / (1 - BETA_1**state.t)
        state.theta -= step * state.m / (np.sqrt(state.v) + EPSILON)
        total += loss * B.shape[0]
        if callback is not None and callback(state.t, loss, state.theta):
            stopped = True
            break
    return total, n, stopped


def partial_fit(est, X, *, batch_size: int = 200, learning_rate: float = 1e-3):
    """One pass of minibatch Adam over ``X`` (module docstring)."""
    if isinstance(batch_size, bool) or not batch_size >= 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}.")
    first = not hasattr(est, "coefs_")
    saved = None if first else (est.coefs_, est.intercepts_)
    try:
        return _partial_fit(est, X, int(batch_size), float(learning_rate), first)
    except BaseException:
        if first:  # do not leave n_features_in_ behind on a failed first call
            est._clear_fitted_state()
        else:  # the callback wrote mid-pass parameters: undo, never half-update
            est.coefs_, est.intercepts_ = saved
        raise


def _partial_fit(est, X, batch_size, learning_rate, first):
    from skae._base import _check_value_range  # _base imports this module

    if is_dask_collection(X):
        # One chunk at a time on the client: memory bounded by one chunk.
        from skae._dask import _as_dask_matrix

        X = _as_dask_matrix(X)
        pieces = (blk.compute() for blk in X.to_delayed().ravel())
    else:
        pieces = iter([X])

    state = None
    total, count, stopped = 0.0, 0, False
    for piece in pieces:
        with np.errstate(over="ignore", invalid="ignore"):  # see _validate_input
            piece = validate_data(
                est,
                piece,
                reset=first and state is None,
                accept_sparse=("csr", "csc"),
                dtype=[np.float64, np.float32],
            )
        _check_value_range(piece)
        if state is None:
            arch = est._architecture(piece.shape[1])
            old = _state(est, arch, piece)
            # Work on copies: a failure leaves the estimator as it was.
            state = AdamState(
                old.arch,
                old.theta.copy(),
                old.m.copy(),
                old.v.copy(),
                old.t,
                copy.deepcopy(old.rng),  # a failed call must not advance it
                old.coefs,
            )
            new_stream = state.t == 0
            dtype = piece.dtype

        callback = None
        if est.callback is not None:

            def callback(t, loss, theta, arch=state.arch, dtype=dtype):
                est._set_params_from_theta(theta, arch, dtype)
                return bool(est.callback(t, loss, est))

        s, c, stopped = _pass(est, piece, state, batch_size, learning_rate, callback)
        total, count = total + s, count + c
        if stopped:
            break

    est._set_params_from_theta(state.theta, state.arch, dtype)
    state.coefs = est.coefs_
    est._stream_state = state
    loss = total / max(count, 1)
    if new_stream:  # passes are counted from the first call of this stream
        est.n_iter_, est.loss_curve_ = 0, []
    est.n_iter_ += 1
    est.loss_ = loss
    est.loss_curve_ = [*est.loss_curve_, loss]
    est.stopped_by_ = "callback" if stopped else None
    est.validation_scores_ = None
    est.best_validation_score_ = None
    if est.verbose:
        print(
            f"partial_fit pass {est.n_iter_}: mean minibatch loss = {loss:.8g}, "
            f"{state.t} Adam steps in total"
        )
    return est
