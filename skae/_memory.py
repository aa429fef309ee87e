"""The in-memory data backend: rows held as a NumPy array or a CSR/CSC matrix.

:class:`ArrayData` answers what the fit pipeline (:mod:`skae._fit`) asks of
the data; :class:`skae._dask.DaskData` answers the same for a dask array.
``X_in`` are the rows the network sees, ``target`` what it must reproduce
(the clean rows; the same object unless a denoising fit corrupted ``X_in``).

``ArrayData.objective`` builds the objective L-BFGS minimises: it is the
documented seam through which tests inject faults into an in-memory fit.
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
from skae._missing import fill_values, has_nan
from skae._network import Workspace, loss_grad, row_sq_errors
from skae._pca import Moments, moments, tree_sum


def objective(X_in, target, arch, *, alpha, beta, rho):
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
    evaluated by blocks, its rows indexed, never tiled."""
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
        )
    ws = Workspace(arch, X_in.shape[0], X_in.dtype)
    return partial(
        loss_grad,
        X=X_in,
        target=target,
        ws=ws,
        alpha=alpha,
        sparsity_weight=beta,
        sparsity_target=rho,
    )


def _column_mean(A) -> np.ndarray:
    """Column means of the observed (non-NaN) entries of ``A``."""
    if not sp.issparse(A) and has_nan(A):
        return fill_values(A)
    return np.asarray(A.mean(axis=0)).ravel()


class TrainingRows:
    """What every data backend holds: the rows the network sees (``X_in``)
    and those it must reproduce (``target``)."""

    def __init__(self, X_in, target=None):
        self.X_in = X_in
        self.target = X_in if target is None else target

    @property
    def n_rows(self) -> int:
        """Number of clean rows."""
        return self.target.shape[0]

    @property
    def dtype(self):
        """The working dtype."""
        return self.X_in.dtype


class ArrayData(TrainingRows):
    """Training rows in memory, cut into ``row_blocks`` for Adam's epochs
    (one block unless told otherwise)."""

    def __init__(self, X, target=None, row_blocks=None):
        super().__init__(X, target)
        n = self.target.shape[0]
        self.row_blocks = (n,) if row_blocks is None else tuple(row_blocks)

    def split(self, held_out: np.ndarray):
        """``(train, validation)`` parts, each row block keeping its rows in
        their order (network input and target alike)."""
        X, X_in = self.target, self.X_in
        ends = np.cumsum(self.row_blocks)
        starts = ends - np.asarray(self.row_blocks)
        parts = []
        for keep in (~held_out, held_out):
            blocks = [int(keep[a:b].sum()) for a, b in zip(starts, ends)]
            rows = np.flatnonzero(keep)
            target = None if X_in is X else X[rows]
            parts.append(
                ArrayData(X_in[rows], target, row_blocks=[b for b in blocks if b])
            )
        return tuple(parts)

    def corrupted(self, noise, rng) -> ArrayData:
        """The training pair of a fixed objective: every row of the network
        input (missing entries filled) corrupted ``noise.n_corruptions``
        times, by one generator in row order, against the target."""
        X_in, _ = noise.pair(self.X_in, rng)
        return ArrayData(X_in, self.target, self.row_blocks)

    def objective(self, arch, *, alpha, beta, rho):
        return objective(self.X_in, self.target, arch, alpha=alpha, beta=beta, rho=rho)

    def mean_sq_error(self, arch):
        """``theta -> mean_i ||x_i - x_hat_i||^2`` over these rows."""
        errors = self.row_errors(arch)
        return lambda theta: safe_mean(errors(theta))

    def row_errors(self, arch):
        """``theta -> ||x_i - x_hat_i||^2`` of each of these rows."""
        return partial(row_sq_errors, arch=arch, X=self.target)

    def moments(self) -> Moments:
        """The :class:`~skae._pca.Moments` of the clean rows (PCA start),
        summed over the row blocks as the dask backend sums its chunks."""
        return tree_sum([moments(B) for B in self.blocks()])

    def column_mean(self) -> np.ndarray:
        return _column_mean(self.target)

    def column_range(self):
        """Per-feature ``(minimum, maximum)`` of the clean rows."""
        X = self.target
        if not sp.issparse(X):  # fmin/fmax skip missing entries
            return np.fmin.reduce(X, axis=0), np.fmax.reduce(X, axis=0)
        low, high = X.min(axis=0), X.max(axis=0)
        return low.toarray().ravel(), high.toarray().ravel()

    def pretrain_hooks(self, *, alpha, rho) -> dict:
        """How :func:`skae._pretrain.greedy_pretrain` evaluates a stage."""

        def make_objective(inputs, targets, stage, beta):
            return objective(inputs, targets, stage, alpha=alpha, beta=beta, rho=rho)

        return dict(make_objective=make_objective, column_mean=_column_mean)

    def blocks(self):
        """The clean rows, one row block at a time."""
        start = 0
        for size in self.row_blocks:
            yield self.target[start : start + size]
            start += size

    def pairs(self):
        """``(network input, target)`` of each row block, in order (the same
        array twice when the input is the target): Adam's epochs."""
        same = self.X_in is self.target
        start = 0
        for size in self.row_blocks:
            T = self.target[start : start + size]
            yield (T if same else self.X_in[start : start + size]), T
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
