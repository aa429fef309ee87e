"""The in-memory data backend: rows held as a NumPy array or a CSR/CSC matrix.

:class:`ArrayData` answers what the fit pipeline (:mod:`skae._fit`) asks of
the data; :class:`skae._dask.DaskData` answers the same for a dask array.
``X_in`` are the rows the network sees, ``target`` what it must reproduce
(the clean rows; the same object unless a denoising fit corrupted ``X_in``).

``ArrayData.objective`` builds the objective L-BFGS minimises: it is the
documented seam through which tests inject faults into an in-memory fit.

A backend also carries the rows' ``sample_weight`` (None: all 1): the
objective, the held-out error (a weighted mean of the rows' errors), the PCA
start's moments, the column means and the rows ``blocks()`` yields for Adam
are weighted (:mod:`skae._network`'s objective). Missing target entries (NaN;
``X_in`` is then the filled input) are masked where the target is read.
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
from sklearn import get_config

from skae._kernel import (
    BlockedObjective,
    available_threads,
    block_rows_for,
    use_blocked,
)
from skae._means import safe_mean
from skae._network import Workspace, loss_grad, row_sq_errors
from skae._pca import Moments, moments, tree_sum
from skae._terms import check_split_weights, has_missing, weighted_target


def objective(X_in, target, arch, *, alpha, beta, rho, sample_weight=None):
    """``theta -> (J, grad J)`` of :func:`skae._network.loss_grad` on arrays in
    memory.

    Where :func:`skae._kernel.use_blocked` says so (rows for two cache-sized
    blocks per thread), a :class:`skae._kernel.BlockedObjective` evaluates it
    by row blocks on :func:`skae._kernel.available_threads` threads (BLAS held
    at one thread meanwhile); otherwise one whole-data ``loss_grad`` with BLAS's
    own threads and one workspace reused by every evaluation. Both are
    bit-identical from call to call for a given thread count, and equal to
    each other up to rounding. A ``target`` whose rows each stand for their
    ``n_corruptions`` copies in ``X_in`` (a denoising pair) is always
    evaluated by blocks, its rows indexed, never tiled. ``sample_weight``
    weighs ``target``'s rows; its NaN entries are missing (masked once)."""
    n_threads = available_threads()
    repeated = X_in.shape[0] != target.shape[0]
    blocked = use_blocked(arch, X_in.shape[0], X_in.dtype, n_threads)
    if repeated or blocked:
        n_threads = n_threads if blocked else 1
        return BlockedObjective(
            arch,
            X_in,
            target,
            X_in.dtype,
            alpha=alpha,
            sparsity_weight=beta,
            sparsity_target=rho,
            n_threads=n_threads,
            sample_weight=sample_weight,
        )
    ws = Workspace(arch, X_in.shape[0], X_in.dtype)
    target, weights = weighted_target(target, sample_weight, X_in.dtype)
    return partial(
        loss_grad,
        X=X_in,
        target=target,
        ws=ws,
        weights=weights,
        alpha=alpha,
        sparsity_weight=beta,
        sparsity_target=rho,
    )


def _column_mean(A, sample_weight=None) -> np.ndarray:
    """The ``sample_weight``-weighted mean of each column of ``A`` over its
    observed (non-NaN) entries."""
    if sample_weight is None and not has_missing(A):
        return np.asarray(A.mean(axis=0)).ravel()
    s = np.ones(A.shape[0]) if sample_weight is None else sample_weight
    s = np.asarray(s, dtype=np.float64)
    if sp.issparse(A):
        return np.asarray(A.T @ s).ravel() / s.sum()
    observed = ~np.isnan(A)
    return (s @ np.where(observed, A, 0.0)) / (s @ observed)


def repeat_weights(sample_weight, n_rows: int):
    """Weights of ``n_rows`` rows that repeat the weighted rows copy after
    copy (a denoising pair's corrupted copies and their codes)."""
    if sample_weight is None:
        return None
    return np.tile(sample_weight, n_rows // sample_weight.shape[0])


class TrainingRows:
    """What every data backend holds: the rows the network sees (``X_in``),
    those it must reproduce (``target``) and their ``sample_weight``."""

    def __init__(self, X_in, target=None, sample_weight=None):
        self.X_in = X_in
        self.target = X_in if target is None else target
        self.sample_weight = sample_weight

    @property
    def n_rows(self) -> int:
        """Number of clean rows."""
        return self.target.shape[0]

    @property
    def dtype(self):
        """The working dtype."""
        return self.X_in.dtype

    def weight_mean(self) -> float:
        """Mean sample weight of the rows (1 without weights)."""
        s = self.sample_weight
        return 1.0 if s is None else float(s.mean())

    def weights_in_memory(self):
        """The sample weights as a NumPy array (None without)."""
        return self.sample_weight


class ArrayData(TrainingRows):
    """Training rows in memory, cut into ``row_blocks`` for Adam's epochs
    (one block unless told otherwise)."""

    def __init__(self, X, target=None, row_blocks=None, sample_weight=None):
        super().__init__(X, target, sample_weight)
        n = self.target.shape[0]
        self.row_blocks = (n,) if row_blocks is None else tuple(row_blocks)

    def split(self, held_out: np.ndarray):
        """``(train, validation)`` parts, each row block keeping its rows in
        their order."""
        X, s = self.target, self.sample_weight
        ends = np.cumsum(self.row_blocks)
        starts = ends - np.asarray(self.row_blocks)
        parts = []
        for keep in (~held_out, held_out):
            blocks = [int(keep[a:b].sum()) for a, b in zip(starts, ends)]
            rows = np.flatnonzero(keep)
            T = X[rows]
            X_in = T if self.X_in is X else self.X_in[rows]
            w = None if s is None else s[rows]
            parts.append(ArrayData(X_in, T, [b for b in blocks if b], w))
        if s is not None:
            check_split_weights(*(float(p.sample_weight.sum()) for p in parts))
        return tuple(parts)

    def corrupted(self, noise, rng) -> ArrayData:
        """The training pair of a fixed objective: every row corrupted
        ``noise.n_corruptions`` times, by one generator in row order."""
        # the filled input, if NaN; the target's NaN mark the holes redrawn
        X_in = noise.pair(self.X_in, rng, target=self.target)[0]
        return ArrayData(X_in, self.target, self.row_blocks, self.sample_weight)

    def objective(self, arch, *, alpha, beta, rho):
        return objective(
            self.X_in,
            self.target,
            arch,
            alpha=alpha,
            beta=beta,
            rho=rho,
            sample_weight=self.sample_weight,
        )

    def mean_sq_error(self, arch):
        """``theta -> mean_i ||x_i - x_hat_i||^2`` over these rows (weighted)."""
        errors, s = self.row_errors(arch), self.sample_weight
        return lambda theta: safe_mean(errors(theta), weights=s)

    def row_errors(self, arch):
        """``theta -> ||x_i - x_hat_i||^2`` of each of these rows (without the
        sample weights; over the observed entries, times ``d / d_i``)."""
        if self.X_in is self.target:
            return partial(row_sq_errors, arch=arch, X=self.target)
        target, weights = weighted_target(self.target)
        return partial(
            row_sq_errors, arch=arch, X=self.X_in, target=target, weights=weights
        )

    def moments(self) -> Moments:
        """The :class:`~skae._pca.Moments` of the clean rows (PCA start),
        summed over the row blocks as the dask backend sums its chunks."""
        return tree_sum([moments(T, s) for _, T, s in self.blocks(inputs=False)])

    def column_mean(self) -> np.ndarray:
        return _column_mean(self.target, self.sample_weight)

    def column_range(self):
        """Per-feature ``(minimum, maximum)`` of the clean rows of positive
        weight (NaN ignored)."""
        X, s = self.target, self.sample_weight
        if s is not None:
            X = X[np.flatnonzero(s > 0)]
        if has_missing(X):
            return np.nanmin(X, axis=0), np.nanmax(X, axis=0)
        low, high = X.min(axis=0), X.max(axis=0)
        if sp.issparse(X):
            low, high = low.toarray().ravel(), high.toarray().ravel()
        return low, high

    def pretrain_hooks(self, *, alpha, rho) -> dict:
        """How :func:`skae._pretrain.greedy_pretrain` evaluates a stage."""
        s = self.sample_weight

        def make_objective(inputs, targets, stage, beta):
            sw = repeat_weights(s, targets.shape[0])
            penalties = dict(alpha=alpha, beta=beta, rho=rho)
            return objective(inputs, targets, stage, **penalties, sample_weight=sw)

        def column_mean(A):
            return _column_mean(A, repeat_weights(s, A.shape[0]))

        return dict(make_objective=make_objective, column_mean=column_mean)

    def blocks(self, inputs=True):
        """``(X_in, target, sample_weight)`` of the clean rows, one row block
        at a time (the weights None without; ``X_in`` is ``target`` unless
        it holds the filled input of a target with NaN; None unless
        ``inputs``)."""
        start, s = 0, self.sample_weight
        for size in self.row_blocks:
            rows = slice(start, start + size)
            T = self.target[rows]
            X_in = None
            if inputs:
                X_in = T if self.X_in is self.target else self.X_in[rows]
            yield X_in, T, None if s is None else s[rows]
            start += size


def peak_bytes(
    kind: str,
    n_samples: int,
    n_features: int,
    sizes,
    dtype,
    *,
    n_corruptions: int = 0,
    validation_fraction: float = 0.1,
    n_threads: int | None = None,
    working_memory: int | None = None,
) -> int:
    """The memory model of docs/scaling.rst ("Memory"): bytes a call
    allocates on top of ``X`` at its peak, for ``kind`` ``"lbfgs"`` or
    ``"adam"`` (a fit, held-out early stopping when ``validation_fraction``,
    a denoising fit when ``n_corruptions``), ``"transform"`` or ``"score"``.
    ``sizes`` are the layer widths, input first (:class:`Architecture`);
    ``n_threads`` those of :func:`skae._kernel.available_threads` by default."""
    s = np.dtype(dtype).itemsize
    widths = list(sizes[1:])
    per_row = (sum(widths) + max(widths)) * s  # a workspace row
    if working_memory is None:  # skae._inference.working_memory_bytes
        working_memory = int(get_config()["working_memory"] * 2**20)
    wm = working_memory
    if kind in ("transform", "score"):
        c = len(sizes) // 2  # the code layer
        run = widths[:c] if kind == "transform" else widths  # layers evaluated
        n_out = 1 if kind == "score" else sizes[c]
        return n_samples * n_out * s + min(n_samples * sum(run) * s, wm)
    n_threads = available_threads() if n_threads is None else n_threads
    arch = SimpleNamespace(sizes=list(sizes))
    n_val = int(round(validation_fraction * n_samples))
    n_train = n_samples - n_val
    split = n_samples * n_features * s if n_val else 0
    # the held-out error: two hidden layers, the reconstruction and the code
    # of the PCA start's linear skip path live at once
    held_out = n_val * (2 * max(widths) + n_features + min(widths)) * s
    pair = n_corruptions * n_train * n_features * s
    rows = max(n_corruptions, 1) * n_train
    workspace = rows * per_row  # one whole-data workspace
    blocked = use_blocked(arch, rows, dtype, n_threads)
    if blocked or n_corruptions > 1:  # skae._kernel.BlockedObjective
        # a block workspace per thread, and a spare for a shorter last block
        threads = max(1, n_threads) if blocked else 1
        workspace = 2 * threads * min(block_rows_for(arch, dtype), n_train) * per_row
    return split + pair + workspace + held_out
