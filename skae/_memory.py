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

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

from skae._inference import block_rows, safe_mean
from skae._network import (
    Workspace,
    _sq_norm,
    backprop,
    kl_sparsity,
    loss_grad,
    predict,
    row_sq_errors,
    skip_terms,
    unpack,
    unpack_skips,
)
from skae._pca import Moments, moments

#: Bytes of layer outputs one in-memory objective evaluation keeps at once:
#: above it the rows are evaluated in blocks (docs/scaling.rst, "Memory").
OBJECTIVE_BLOCK_BYTES = 64 * 2**20


def workspace_widths(arch) -> list[int]:
    """Per-row widths a :class:`~skae._network.Workspace` holds: every layer
    output and one scratch row of the widest layer (an upper bound)."""
    return [*arch.sizes[1:], max(arch.sizes[1:])]


def n_copies(X_in, target) -> int:
    """How many times each ``target`` row appears among the ``X_in`` rows
    (copy after copy: :func:`skae._noise.corrupt`)."""
    n, m = target.shape[0], X_in.shape[0]
    if m % n:
        raise ValueError(f"{m} input rows do not repeat {n} target rows.")
    return m // n


def code_sum(X_in, theta, arch, dtype, rows: int) -> np.ndarray:
    """Sum over the rows of ``X_in`` of the code-layer activations, ``rows``
    rows at a time."""
    c = arch.code_layer
    theta = np.asarray(theta, dtype=dtype)
    coefs, intercepts = unpack(theta, arch)
    skips = skip_terms(unpack_skips(theta, arch), arch.n_layers, "encoder")
    total = np.zeros(arch.sizes[c])
    for sl in gen_batches(X_in.shape[0], rows):
        A = predict(X_in[sl], coefs[:c], intercepts[:c], arch.activations[:c], skips)
        total += A.sum(axis=0, dtype=np.float64)
    return total


def rows_loss_grad(
    X_in, target, theta, arch, dtype, beta, rho, code_mean, rows, workspaces=None
):
    """``(sse, kl, gradient of 0.5 * sse + n * beta * KL)`` over the rows of
    ``X_in`` against ``target`` (repeated :func:`n_copies` times, never
    tiled), evaluated ``rows`` target rows at a time with
    :func:`skae._network.backprop`; float64 sums. ``code_mean=None`` with a
    sparsity penalty is only right in one block (the block's own mean);
    ``workspaces`` caches a workspace per block height across calls."""
    n = target.shape[0]
    reps = n_copies(X_in, target)
    grad = np.zeros(arch.n_params)
    sse, kl = 0.0, 0.0
    workspaces = {} if workspaces is None else workspaces
    loaded = set()
    for r in range(reps):
        for sl in gen_batches(n, rows):
            h = sl.stop - sl.start
            ws = workspaces.get(h)
            if ws is None:
                ws = workspaces[h] = Workspace(arch, h, dtype)
            if h not in loaded:
                np.copyto(ws.theta, theta, casting="same_kind")
                loaded.add(h)
            whole = reps == 1 and h == n
            inputs = X_in if whole else X_in[r * n + sl.start : r * n + sl.stop]
            s, kl = backprop(
                inputs, target if h == n else target[sl], ws, beta, rho, code_mean
            )
            sse += s
            grad += ws.grad
    return sse, kl, grad


class Objective:
    """``theta -> (J, grad J)`` of :func:`skae._network.loss_grad` on arrays
    in memory, where each ``target`` row stands for its :func:`n_copies`
    rows of ``X_in``.

    One workspace per fit. When the layer outputs of every row fit
    ``block_bytes`` (and no row repeats) one :func:`~skae._network.loss_grad`
    call evaluates it; otherwise the rows run in blocks that do, as a dask
    chunk does (:func:`rows_loss_grad`), a sparsity penalty's code mean taken
    over all rows by a first pass, so the fit's peak memory stays bounded
    whatever ``n_samples`` and ``n_corruptions``.
    """

    def __init__(self, X_in, target, arch, *, alpha, beta, rho, block_bytes=None):
        self.X_in, self.target, self.arch = X_in, target, arch
        self.alpha, self.beta, self.rho = alpha, beta, rho
        self.dtype = np.dtype(X_in.dtype)
        self.reps = n_copies(X_in, target)
        budget = OBJECTIVE_BLOCK_BYTES if block_bytes is None else block_bytes
        n, widths = target.shape[0], workspace_widths(arch)
        if self.reps > 1 or block_rows(widths, self.dtype, budget, n) < n:
            budget //= 2  # the full blocks' workspace and the last block's
        self.rows = block_rows(widths, self.dtype, budget, n)
        self.whole = self.reps == 1 and self.rows >= n
        self.workspaces: dict[int, Workspace] = {}
        if self.whole:
            self.ws = Workspace(arch, n, self.dtype)

    def __call__(self, theta):
        if self.whole:
            return loss_grad(
                theta, self.X_in, self.target, self.ws, self.alpha, self.beta, self.rho
            )
        return pair_loss_grad(
            theta,
            self.X_in,
            self.target,
            self.arch,
            alpha=self.alpha,
            beta=self.beta,
            rho=self.rho,
            rows=self.rows,
            workspaces=self.workspaces,
        )


def pair_loss_grad(theta, X_in, target, arch, *, alpha, beta, rho, rows, workspaces):
    """:func:`skae._network.loss_grad` of ``X_in`` against ``target``
    repeated :func:`n_copies` times, ``rows`` target rows at a time (a first
    pass takes a sparsity penalty's code mean over all rows)."""
    dtype, m = np.dtype(X_in.dtype), X_in.shape[0]
    workspaces = {} if workspaces is None else workspaces
    code_mean, kl = None, 0.0
    if beta > 0:
        code_mean = code_sum(X_in, theta, arch, dtype, rows) / m
        kl, _ = kl_sparsity(code_mean, rho)
    sse, _, grad = rows_loss_grad(
        X_in, target, theta, arch, dtype, beta, rho, code_mean, rows, workspaces
    )
    nw = arch.n_decayed
    loss = 0.5 * sse
    if alpha > 0:  # the decay of the weights in the working dtype, as loss_grad
        w = next(iter(workspaces.values())).theta[:nw]
        loss += 0.5 * alpha * _sq_norm(w)
        grad[:nw] += alpha * w.astype(np.float64)
    grad *= 1.0 / m
    return loss / m + beta * kl, grad


def objective(X_in, target, arch, *, alpha, beta, rho):
    """The :class:`Objective` of a training pair in memory."""
    return Objective(X_in, target, arch, alpha=alpha, beta=beta, rho=rho)


def _column_mean(A) -> np.ndarray:
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
        their order."""
        X = self.target
        ends = np.cumsum(self.row_blocks)
        starts = ends - np.asarray(self.row_blocks)
        parts = []
        for keep in (~held_out, held_out):
            blocks = [int(keep[a:b].sum()) for a, b in zip(starts, ends)]
            rows = np.flatnonzero(keep)
            parts.append(ArrayData(X[rows], row_blocks=[b for b in blocks if b]))
        return tuple(parts)

    def corrupted(self, noise, rng) -> ArrayData:
        """The training pair of a fixed objective: every row corrupted
        ``noise.n_corruptions`` times, by one generator in row order."""
        X_in, target = noise.pair(self.target, rng)
        return ArrayData(X_in, target, self.row_blocks)

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
        """The :class:`~skae._pca.Moments` of the clean rows (PCA start)."""
        return moments(self.target)

    def column_mean(self) -> np.ndarray:
        return _column_mean(self.target)

    def column_range(self):
        """Per-feature ``(minimum, maximum)`` of the clean rows."""
        X = self.target
        low, high = X.min(axis=0), X.max(axis=0)
        if sp.issparse(X):
            low, high = low.toarray().ravel(), high.toarray().ravel()
        return low, high

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


def peak_bytes(
    kind: str,
    n_samples: int,
    n_features: int,
    sizes,
    dtype,
    *,
    n_corruptions: int = 0,
    validation_fraction: float = 0.1,
    block_bytes: int | None = None,
    working_memory: int | None = None,
) -> int:
    """The memory model of docs/scaling.rst ("Memory"): bytes a call
    allocates on top of ``X`` at its peak, for ``kind`` ``"lbfgs"`` or
    ``"adam"`` (a fit, held-out early stopping when ``validation_fraction``,
    a denoising fit when ``n_corruptions``), ``"transform"`` or ``"score"``.
    ``sizes`` are the layer widths, input first (:class:`Architecture`)."""
    from skae._inference import working_memory_bytes

    s = np.dtype(dtype).itemsize
    widths = list(sizes[1:])
    per_row = (sum(widths) + max(widths)) * s  # a workspace row
    wm = working_memory_bytes() if working_memory is None else working_memory
    if kind in ("transform", "score"):
        c = len(sizes) // 2  # the code layer
        run = widths[:c] if kind == "transform" else widths  # layers evaluated
        n_out = 1 if kind == "score" else sizes[c]
        return n_samples * n_out * s + min(n_samples * sum(run) * s, wm)
    budget = OBJECTIVE_BLOCK_BYTES if block_bytes is None else block_bytes
    n_val = int(round(validation_fraction * n_samples))
    n_train = n_samples - n_val
    split = n_samples * n_features * s if n_val else 0
    held_out = n_val * 2 * max(widths) * s  # two layers of the held-out rows
    pair = n_corruptions * n_train * n_features * s
    rows = max(n_corruptions, 1) * n_train
    workspace = rows * per_row
    if n_corruptions > 1 or workspace > budget:
        workspace = budget
    return split + pair + workspace + held_out
