"""The fit pipeline: every fit, for every data backend and every solver.

:func:`fit` takes plain values (a data backend, the
:class:`~skae._network.Architecture`, the validated
:class:`~skae._validation.Hyperparameters`, where to :class:`Start`, a random
generator and a callback over the flat parameter vector) and returns a
:class:`FittedState`; it never sees an estimator. Its steps, written once:

1. split: with early stopping, hold out the rows
   :func:`~skae._validation.held_out_rows` draws (first from the generator);
2. training pair: a denoising L-BFGS fit corrupts its rows once, so that it
   minimises one fixed objective (Adam corrupts each minibatch afresh);
3. start: :func:`initial_theta`, the one place that chooses the starting
   parameters (continued, greedy pretraining, or Glorot's with the output bias
   at the data mean);
4. solve: ``"lbfgs"`` (:func:`skae._optimize.minimize_lbfgs` on the whole
   objective) or ``"adam"`` (:func:`skae._adam.minimize_adam` over minibatch
   epochs);
5. return the state, once its parameters and loss are known to be finite.

A data backend (:class:`skae._memory.ArrayData`, :class:`skae._dask.DaskData`)
answers: ``n_rows`` and ``dtype``; ``split(held_out)``; ``corrupted(noise,
rng)``; ``objective(arch, alpha=, beta=, rho=)`` for L-BFGS;
``mean_sq_error(arch)`` for the held-out loss; ``column_mean()`` and
``column_range()``; ``pretrain_hooks(alpha=, rho=)`` with its ``X_in`` and
``target``; and ``blocks()``, its rows in memory one row block at a time,
for Adam.

Adam's epochs (the definition that makes a dask fit equal an in-memory one):
each epoch visits the row blocks in order, shuffles each block's rows with
the fit's generator, and cuts them into minibatches of ``batch_size`` rows
(the last of a block may be smaller); each minibatch is corrupted, when
denoising, by the same generator right after it is cut. In memory the data is
one block; on a dask array the blocks are its row chunks (after the held-out
rows are removed). The same rows in the same blocks with the same generator
therefore give the same steps, wherever the blocks live.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from sklearn.utils import gen_batches

from skae._adam import AdamState, minimize_adam
from skae._network import (
    _EPS,
    Architecture,
    Workspace,
    _sq_norm,
    init_params,
    loss_grad,
    unpack,
)
from skae._optimize import EarlyStopping, minimize_lbfgs
from skae._pretrain import greedy_pretrain
from skae._validation import Hyperparameters, held_out_rows


@dataclass
class Start:
    """Where a fit starts: fresh (``theta=None``), or from parameters it
    continues (``warm_start``, ``partial_fit``), with, for a continued Adam
    stream, its state and the history the new iterations extend."""

    theta: np.ndarray | None = None
    adam: AdamState | None = None
    n_iter: int = 0
    loss_curve: list = field(default_factory=list)


@dataclass
class FittedState:
    """Everything a fit produced; an estimator stores it in one step."""

    coefs: list
    intercepts: list
    activations: tuple
    n_iter: int
    loss: float
    loss_curve: list
    validation_scores: list | None
    best_validation_score: float | None
    stopped_by: str | None
    adam_state: dict | None = None

    def attributes(self) -> dict:
        """The estimator attributes, by name."""
        return {
            "coefs_": self.coefs,
            "intercepts_": self.intercepts,
            "layer_activations_": self.activations,
            "n_iter_": self.n_iter,
            "loss_": self.loss,
            "loss_curve_": self.loss_curve,
            "validation_scores_": self.validation_scores,
            "best_validation_score_": self.best_validation_score,
            "stopped_by_": self.stopped_by,
            "_adam_state": self.adam_state,
        }


def network_arrays(theta: np.ndarray, arch: Architecture, dtype):
    """``(coefs, intercepts)`` of ``theta`` in ``dtype``: new C-contiguous
    arrays that share no memory with ``theta`` (which a solver may
    overwrite), whatever the dtype."""
    coefs, intercepts = unpack(np.asarray(theta, dtype=np.float64), arch)
    coefs = [np.array(W, dtype=dtype, order="C", copy=True) for W in coefs]
    intercepts = [np.array(b, dtype=dtype, copy=True) for b in intercepts]
    return coefs, intercepts


def initial_theta(start: Start, data, arch, hyper: Hyperparameters, rng):
    """The starting parameters: those ``start`` continues, greedy
    pretraining's, or Glorot's with the output bias at the data mean."""
    if start.theta is not None:
        return np.array(start.theta, dtype=np.float64)
    mean = data.column_mean()
    if hyper.pretrain == "greedy" and arch.code_layer > 1:
        return greedy_pretrain(
            data.X_in,
            data.target,
            arch,
            rng,
            output_bias=mean,
            max_iter=hyper.pretrain_max_iter,
            max_fun=hyper.max_fun,
            tol=hyper.tol,
            sparsity_weight=hyper.sparsity_weight,
            verbose=hyper.verbose,
            **data.pretrain_hooks(alpha=hyper.alpha, rho=hyper.sparsity_target),
        )
    return init_params(arch, rng, output_bias=mean)


def check_penalties(theta0, arch: Architecture, hyper: Hyperparameters, dtype):
    """Blame ``alpha`` or ``sparsity_weight``, not the data, when a penalty
    (or its gradient) overflows the working dtype from the start."""
    big = float(np.finfo(dtype).max)
    w = theta0[: arch.n_weights].astype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        decay = 0.5 * hyper.alpha * _sq_norm(w)
        slope = hyper.alpha * float(np.abs(w).max(initial=0.0))
    if not (np.isfinite(decay) and slope < big):
        raise ValueError(
            f"alpha={hyper.alpha} is too large: the weight decay overflows "
            f"{np.dtype(dtype)} at the initial parameters. Use a smaller alpha."
        )
    # |d KL / d rho_hat| reaches max(rho, 1 - rho) / eps at saturated codes
    rho = hyper.sparsity_target
    if hyper.sparsity_weight * max(rho, 1 - rho) / _EPS >= big:
        raise ValueError(
            f"sparsity_weight={hyper.sparsity_weight} is too large: the sparsity "
            f"penalty's gradient overflows {np.dtype(dtype)}. Use a smaller "
            "sparsity_weight."
        )


def _adam_epochs(data, hyper: Hyperparameters):
    """``epoch(rng)`` of :func:`skae._adam.minimize_adam` (module docstring)."""
    rows = hyper.batch_rows(data.n_rows)
    noise = hyper.noise
    low = high = None
    if noise is not None and noise.kind == "salt_and_pepper":
        low, high = data.column_range()

    def epoch(rng):
        for block in data.blocks():
            perm = rng.permutation(block.shape[0])
            for batch in gen_batches(block.shape[0], rows):
                B = block[perm[batch]]
                pair = (B, B) if noise is None else noise.pair(B, rng, low, high)
                yield B.shape[0], pair

    return epoch


def batch_objective(arch, hyper: Hyperparameters, dtype):
    """``batch_fun(theta, (X_in, target))``: the objective on one minibatch,
    one workspace per batch height (the seam through which tests inject
    faults into Adam's steps)."""
    workspaces: dict[int, Workspace] = {}

    def batch_fun(theta, pair):
        X_in, target = pair
        rows = X_in.shape[0]
        if rows not in workspaces:
            workspaces[rows] = Workspace(arch, rows, dtype)
        return loss_grad(
            theta,
            X_in,
            target,
            workspaces[rows],
            hyper.alpha,
            hyper.sparsity_weight,
            hyper.sparsity_target,
        )

    return batch_fun


def fit(
    data,
    arch: Architecture,
    hyper: Hyperparameters,
    *,
    rng: np.random.RandomState,
    start: Start | None = None,
    callback=None,
    name: str = "fit",
    warn: bool = True,
) -> FittedState:
    """Fit ``arch`` to ``data`` (module docstring); nothing is stored."""
    start = Start() if start is None else start
    dtype = data.dtype
    early = None
    if hyper.early_stopping:
        held_out = held_out_rows(data.n_rows, hyper.validation_fraction, rng)
        data, validation = data.split(held_out)
        early = EarlyStopping(
            validation.mean_sq_error(arch), hyper.n_iter_no_change, hyper.tol
        )
    if callback is not None and start.n_iter:  # count from the stream's start

        def callback(iteration, loss, theta, _user=callback, _offset=start.n_iter):
            return _user(_offset + iteration, loss, theta)

    adam = hyper.solver == "adam"
    pair = data
    pretrains = hyper.pretrain == "greedy" and arch.code_layer > 1
    needs_pair = not adam or (pretrains and start.theta is None)
    if hyper.noise is not None and needs_pair:
        pair = data.corrupted(hyper.noise, rng)
    theta0 = initial_theta(start, pair, arch, hyper, rng)
    check_penalties(theta0, arch, hyper, dtype)
    common = dict(
        tol=hyper.tol,
        max_iter=hyper.max_iter,
        callback=callback,
        early_stopping=early,
        verbose=hyper.verbose,
        name=name,
        warn=warn,
    )
    adam_state = None
    if adam:
        state = start.adam or AdamState.fresh(arch.n_params, rng)
        result, adam_state = minimize_adam(
            batch_objective(arch, hyper, dtype),
            _adam_epochs(data, hyper),
            theta0,
            state,
            learning_rate=hyper.learning_rate_init,
            n_iter_no_change=hyper.n_iter_no_change,
            **common,
        )
        adam_state = adam_state.to_plain()
    else:
        fun = pair.objective(
            arch,
            alpha=hyper.alpha,
            beta=hyper.sparsity_weight,
            rho=hyper.sparsity_target,
        )
        result = minimize_lbfgs(fun, theta0, max_fun=hyper.max_fun, **common)
    if not (np.isfinite(result.theta).all() and np.isfinite(result.loss)):
        raise ValueError(
            f"{name} diverged: the parameters or the loss became non-finite. "
            "Scale the input (e.g. StandardScaler), lower the values' range, "
            "or increase alpha."
        )
    coefs, intercepts = network_arrays(result.theta, arch, dtype)
    return FittedState(
        coefs=coefs,
        intercepts=intercepts,
        activations=tuple(arch.activations),
        n_iter=start.n_iter + result.n_iter,
        loss=result.loss,
        loss_curve=[*start.loss_curve, *result.loss_curve],
        validation_scores=None if early is None else early.scores,
        best_validation_score=None if early is None else -early.best_loss,
        stopped_by=result.stopped_by,
        adam_state=adam_state,
    )


def with_one_pass(hyper: Hyperparameters) -> Hyperparameters:
    """``partial_fit``'s hyperparameters: one Adam epoch, no held-out rows."""
    return dataclasses.replace(hyper, solver="adam", max_iter=1, early_stopping=False)
