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
``column_range()``; ``weight_mean()`` and ``weights_in_memory()``;
``pretrain_hooks(alpha=, rho=)`` with its ``X_in`` and ``target``; and
``blocks()``, its ``(X_in, target, sample_weight)`` in memory one row block at
a time, for Adam. Its ``sample_weight`` (None, or one per row) weighs every one
of these (:mod:`skae._network`'s objective); its ``target`` may hold NaN
(missing entries, masked by the objective) where ``X_in`` holds filled values.

Adam's epochs (the definition that makes a dask fit equal an in-memory one):
each epoch visits the row blocks in order, shuffles each block's rows with
the fit's generator, and cuts them into minibatches of ``batch_size`` rows
(the last of a block may be smaller); each minibatch is corrupted, when
denoising, by the same generator right after it is cut; its sample weights go
with it, and its objective is divided by its row count times the training
rows' mean weight (:class:`skae._minibatch.BatchGradient`). In memory the data is
one block; on a dask array the blocks are its row chunks (after the held-out
rows are removed). The same rows in the same blocks with the same generator
therefore give the same steps, wherever the blocks live.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from skae._adam import AVERAGE, AdamState, minimize_adam
from skae._means import safe_mean
from skae._minibatch import BatchGradient, adam_epochs
from skae._network import (
    _EPS,
    Architecture,
    _sq_norm,
    init_params,
    unpack,
    unpack_skips,
)
from skae._optimize import EarlyStopping, OptimizeResult, minimize_lbfgs
from skae._pca import pca_params, principal_axes
from skae._pretrain import greedy_pretrain
from skae._select import RowErrorTrace, choose_iteration, stack_traces
from skae._validation import Hyperparameters, fold_masks, held_out_rows

#: ``solver="auto"``: Adam from these many rows, PCA start / random start.
ADAM_MIN_ROWS, ADAM_MIN_ROWS_RANDOM = 3_000, 10_000
#: ``early_stopping="auto"`` cross-validates up to this many rows, and holds
#: out ``validation_fraction`` of the rows above.
CV_MAX_ROWS = 1_000
#: Its folds, standard errors (best's lead on the start to train, margin to the
#: best of the earliest kept, lead to fit the next fold) and a fold's patience
#: as a fraction of ``n_iter_no_change`` (benchmarks/README, issue 11).
N_FOLDS, SE_FACTOR, NEAR_BEST_SE, NEXT_FOLD_SE, FOLD_PATIENCE = 3, 2.0, 0.5, 1.0, 0.75


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
    skip_coefs: list
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
            "skip_coefs_": self.skip_coefs,
            "n_iter_": self.n_iter,
            "loss_": self.loss,
            "loss_curve_": self.loss_curve,
            "validation_scores_": self.validation_scores,
            "best_validation_score_": self.best_validation_score,
            "stopped_by_": self.stopped_by,
            "_adam_state": self.adam_state,
        }


def network_arrays(theta: np.ndarray, arch: Architecture, dtype):
    """``(coefs, intercepts, skip_coefs)`` of ``theta`` in ``dtype``: new
    C-contiguous arrays that share no memory with ``theta`` (which a solver
    may overwrite), whatever the dtype."""
    theta = np.asarray(theta, dtype=np.float64)
    coefs, intercepts = unpack(theta, arch)

    def own(arrays):
        return [np.array(A, dtype=dtype, order="C", copy=True) for A in arrays]

    return own(coefs), own(intercepts), own(unpack_skips(theta, arch))


def initial_theta(start: Start, data, arch, hyper: Hyperparameters, rng):
    """The starting parameters: those ``start`` continues, PCA's
    (``init="pca"``, :func:`skae._pca.pca_params`), greedy pretraining's, or
    Glorot's with the output bias at the data mean."""
    if start.theta is not None:
        return np.array(start.theta, dtype=np.float64)
    if hyper.init == "pca":
        k = arch.sizes[arch.code_layer]
        mean, axes = principal_axes(data.moments(), k)
        return pca_params(arch, rng, mean, axes)
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
    w = theta0[: arch.n_decayed].astype(dtype)
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


def batch_objective(arch, hyper: Hyperparameters, dtype, mean_weight: float = 1.0):
    """``batch_fun(theta, (X_in, target))``: the objective on one minibatch
    (:meth:`skae._minibatch.BatchGradient.evaluate`: workspaces per batch height
    and the gradient preallocated, the returned gradient overwritten by the
    next call; ``mean_weight`` that of the training rows), the seam through
    which tests inject faults into Adam's steps."""
    batches = BatchGradient(
        arch,
        None,
        None,
        dtype,
        0,  # no rows bound: the epoch gathers them
        alpha=hyper.alpha,
        sparsity_weight=hyper.sparsity_weight,
        sparsity_target=hyper.sparsity_target,
        mean_weight=mean_weight,
    )

    def batch_fun(theta, batch):
        X_in, target, *weights = batch  # (X_in, target[, sample_weight])
        s = weights[0] if weights else None
        reps = X_in.shape[0] // max(1, target.shape[0])
        if reps > 1:  # n_corruptions copies of a minibatch: its rows repeated
            if sp.issparse(target):
                target = sp.vstack([target] * reps, format="csr")
            else:
                target = np.tile(target, (reps, 1))
            s = None if s is None else np.tile(s, reps)
        return batches.evaluate(theta, X_in, target, s)

    return batch_fun


def resolve(hyper: Hyperparameters, n_rows: int) -> Hyperparameters:
    """``solver``/``early_stopping="auto"`` made concrete for ``n_rows`` rows
    (benchmarks/README.md): Adam and a held-out split on large data, L-BFGS and
    cross-validation (``"cv"``) on small; Adam averages its iterates where
    held-out rows choose one (skae._adam)."""
    solver = hyper.solver
    if solver == "auto":
        least = ADAM_MIN_ROWS if hyper.init == "pca" else ADAM_MIN_ROWS_RANDOM
        solver = "adam" if n_rows >= least else "lbfgs"
    early = hyper.early_stopping
    if early == "auto":
        early = "cv" if n_rows <= CV_MAX_ROWS else True
    hyper = dataclasses.replace(hyper, average=early is not False)  # docstring
    return dataclasses.replace(hyper, solver=solver, early_stopping=early)


def _solve(data, arch, hyper, rng, start, callback, early, name, warn, stream=False):
    """Training pair, start, solver: ``(OptimizeResult, theta0, adam_state)``.
    With ``early``, the start is its candidate 0; without, an Adam fit that
    ran to its end (not a ``stream`` pass, not stopped by the callback or an
    interrupt, which keep the last completed epoch) also keeps the start
    unless it improved on it."""
    dtype = data.dtype
    adam = hyper.solver == "adam"
    pair = data
    pretrains = hyper.pretrain == "greedy" and arch.code_layer > 1
    needs_pair = not adam or (pretrains and start.theta is None)
    if hyper.noise is not None and (needs_pair or hyper.noise.fills):
        pair = data.corrupted(hyper.noise if needs_pair else hyper.noise.plain, rng)
    theta0 = initial_theta(start, pair, arch, hyper, rng)
    check_penalties(theta0, arch, hyper, dtype)
    penalties = hyper.penalties
    if early is not None:  # an overflow here is the solver's error to report
        with np.errstate(over="ignore", invalid="ignore"):
            early.seed(theta0, float(pair.objective(arch, **penalties)(theta0)[0]))
    common = dict(
        tol=hyper.tol,
        max_iter=hyper.max_iter,
        callback=callback,
        early_stopping=early,
        verbose=hyper.verbose,
        name=name,
        warn=warn,
        n_iter_no_change=hyper.n_iter_no_change,
    )
    if adam:
        state = start.adam or AdamState.fresh(arch.n_params, rng, dtype)
        result, adam_state = minimize_adam(
            batch_objective(arch, hyper, dtype, data.weight_mean()),
            adam_epochs(data, hyper),
            theta0.astype(dtype, copy=False),  # Adam runs in the data's dtype
            state,
            learning_rate=hyper.learning_rate_init,
            average=AVERAGE if hyper.average else None,
            **common,
        )
        if early is None and not stream and result.stopped_by is None:
            # Adam's epoch losses are means over moving minibatches: keep the
            # start unless the whole objective says the run improved on it
            objective = pair.objective(arch, **penalties)
            loss = float(objective(result.theta)[0])
            start_loss = float(objective(theta0)[0])
            result.theta, result.loss = (
                (result.theta, loss) if loss <= start_loss else (theta0, start_loss)
            )
        return result, theta0, adam_state.to_plain()
    fun = pair.objective(arch, **penalties)
    return minimize_lbfgs(fun, theta0, max_fun=hyper.max_fun, **common), theta0, None


def _cross_validated_iterations(data, arch, hyper, rng, start, name) -> tuple:
    """``(iterations, validation scores)``: training length for ``data`` by
    K-fold cross-validation from the start (:func:`skae._select.choose_iteration`).
    Each fold draws the final fit's start (a copy of ``rng``) and stops after
    ``FOLD_PATIENCE * n_iter_no_change`` iterations without progress. After a
    fold but the last, the start is kept (0 iterations), the other folds not
    fitted, when no iteration beats it by ``NEXT_FOLD_SE`` standard errors on
    the rows so far. ``ConvergenceWarning``: every fold ran out of iterations."""
    patience = max(1, round(FOLD_PATIENCE * hyper.n_iter_no_change))
    quiet = dataclasses.replace(hyper, verbose=0, n_iter_no_change=patience)
    traces, weights, budget_out = [], [], 0
    masks = fold_masks(data.n_rows, N_FOLDS, rng)
    for held_out in masks:
        train, validation = data.split(held_out)
        weights.append(validation.weights_in_memory())
        trace = RowErrorTrace(validation.row_errors(arch), weights=weights[-1])
        early = EarlyStopping(trace, patience, hyper.tol)
        result = _solve(
            train, arch, quiet, copy.deepcopy(rng), start, None, early, name, False
        )[0]
        budget_out += not result.converged and result.stopped_by is None
        traces.append(trace.rows)
        errors = stack_traces(traces)
        w = None if weights[0] is None else np.concatenate(weights)
        if len(traces) < len(masks) and not choose_iteration(errors, NEXT_FOLD_SE, w):
            n_iter = 0  # the start looks unbeatable: the other folds are not fitted
            break
    else:
        n_iter = choose_iteration(errors, SE_FACTOR, w, near=NEAR_BEST_SE)
    if budget_out == len(traces):
        warnings.warn(
            f"{name}: every cross-validation fold ran out of max_iter="
            f"{hyper.max_iter} iterations while the held-out error still fell. "
            "Increase max_iter.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return n_iter, list(-safe_mean(errors, axis=1, weights=w))


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
    stream: bool = False,
) -> FittedState:
    """Fit ``arch`` to ``data`` (module docstring); nothing is stored.
    ``stream``: a ``partial_fit`` pass, which continues wherever it ends."""
    start = Start() if start is None else start
    hyper = resolve(hyper, data.n_rows)
    early, cv_scores = None, None
    if hyper.early_stopping == "cv":
        n_iter, cv_scores = _cross_validated_iterations(
            data, arch, hyper, rng, start, name
        )
        hyper = dataclasses.replace(hyper, max_iter=n_iter, early_stopping=False)
        warn = False  # the budget is the chosen number of iterations
    elif hyper.early_stopping:
        held_out = held_out_rows(data.n_rows, hyper.validation_fraction, rng)
        all_rows = data
        data, validation = data.split(held_out)
        early = EarlyStopping(
            validation.mean_sq_error(arch), hyper.n_iter_no_change, hyper.tol
        )
    if callback is not None and start.n_iter:  # count from the stream's start

        def callback(iteration, loss, theta, _user=callback, _offset=start.n_iter):
            return _user(_offset + iteration, loss, theta)

    if hyper.max_iter == 0:  # cross-validation kept the start
        result, theta0, adam_state = _start_only(data, arch, hyper, rng, start)
    else:
        result, theta0, adam_state = _solve(
            data, arch, hyper, rng, start, callback, early, name, warn, stream
        )
        if early is not None and early.best_iter == 0 and start.theta is None:
            # no iterate beat the start on the held-out rows: the start, as
            # computed from every row (PCA's, for init="pca"), is the model;
            # the iterations run and their losses are still reported
            run = result
            result, theta0, adam_state = _start_only(all_rows, arch, hyper, rng, start)
            result.n_iter, result.loss_curve = run.n_iter, run.loss_curve
            result.stopped_by = run.stopped_by
    if not (np.isfinite(result.theta).all() and np.isfinite(result.loss)):
        raise ValueError(
            f"{name} diverged: the parameters or the loss became non-finite. "
            "Scale the input (e.g. StandardScaler), lower the values' range, "
            "or increase alpha."
        )
    coefs, intercepts, skips = network_arrays(result.theta, arch, data.dtype)
    if cv_scores is not None:
        scores, best = cv_scores[1:], cv_scores[hyper.max_iter]
    elif early is not None:
        scores, best = early.scores, -early.best_loss
    else:
        scores = best = None
    # iterations run: with cross-validation, those the folds explored (the
    # final run repeats the chosen number, which may be 0: the start)
    n_iter = result.n_iter if cv_scores is None else len(cv_scores) - 1
    return FittedState(
        coefs=coefs,
        intercepts=intercepts,
        activations=tuple(arch.activations),
        skip_coefs=skips,
        n_iter=start.n_iter + n_iter,
        loss=result.loss,
        loss_curve=[*start.loss_curve, *result.loss_curve],
        validation_scores=scores,
        best_validation_score=best,
        stopped_by="early_stopping" if cv_scores is not None else result.stopped_by,
        adam_state=adam_state,
    )


def _start_only(data, arch, hyper, rng, start):
    """What a run of zero iterations returns: the start and its loss."""
    theta0 = initial_theta(start, data, arch, hyper, rng)
    pair = data if hyper.noise is None else data.corrupted(hyper.noise, rng)
    loss = float(pair.objective(arch, **hyper.penalties)(theta0)[0])
    result = OptimizeResult(theta0, loss, 0, 1, [], True, None, "kept the start")
    return result, theta0, None


def with_one_pass(hyper: Hyperparameters) -> Hyperparameters:
    """``partial_fit``'s hyperparameters: one Adam epoch, no held-out rows."""
    return dataclasses.replace(hyper, solver="adam", max_iter=1, early_stopping=False)
