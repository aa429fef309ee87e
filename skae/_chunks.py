"""What dask workers run: one call per row chunk, for :mod:`skae._dask`.

Module-level functions of a chunk and of plain values drawn on the client
(parameters, seeds, a byte budget), so that the scheduler can recompute any
of them where a worker was lost; each evaluates its rows with the in-memory
kernels, in blocks whose workspace fits the budget. A chunk's sample weights
arrive as the matching chunk of the weight vector (None without weights),
one per clean row; a chunk's missing target entries (NaN) are masked here,
chunk by chunk (:func:`skae._terms.weighted_target`). The reductions of their
results (:func:`reduce`) have a fixed shape: a tree of fan-in
:data:`skae._pca.FAN_IN`, as :func:`skae._pca.tree_sum` sums in memory.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import gen_batches

from skae._inference import block_rows
from skae._kernel import _code_sum, block_loss_grad
from skae._network import row_sq_errors
from skae._pca import FAN_IN
from skae._terms import has_missing, weighted_target


def column_sums(block, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Float64 ``(sum_i s_i m_ij x_ij, sum_i s_i m_ij)`` of one chunk (``m``
    its observed mask, ``s`` its weights, 1 without): a weighted mean over the
    observed entries once summed. An overflow is left to the magnitude check
    that follows, not reported as a warning here."""
    B = np.asarray(block)
    s = None if weights is None else np.asarray(weights, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if not has_missing(B):
            sums = B.sum(axis=0, dtype=np.float64) if s is None else s @ B
            total = float(B.shape[0]) if s is None else float(s.sum())
            return sums, np.full(B.shape[1], total)
        observed = ~np.isnan(B)
        s = np.ones(B.shape[0]) if s is None else s
        return s @ np.where(observed, B, 0.0), s @ observed


def repeat(weights, n_rows: int):
    """A chunk's weights for its ``n_rows`` input rows (copies of its clean
    rows, copy after copy, in a denoising pair)."""
    if weights is None:
        return None
    return np.tile(np.asarray(weights), n_rows // max(1, len(weights)))


def loss_grad(X_in, target, weights, theta, arch, dtype, beta, rho, code_mean, budget):
    """``(sse, gradient of 0.5 * sse + S * beta * KL)`` of one row chunk: the
    in-memory kernel :func:`skae._kernel.block_loss_grad`; each ``target`` row
    stands for its copies in ``X_in`` (a denoising pair, never tiled)."""
    widths = [*arch.sizes[1:], max(arch.sizes[1:])]  # a workspace's row
    rows = block_rows(widths, dtype, budget, target.shape[0])
    return block_loss_grad(
        X_in,
        target,
        theta,
        arch,
        dtype,
        beta,
        rho,
        code_mean,
        block_rows=rows,
        sample_weight=weights,
    )


def code_sum(X_in, weights, theta, arch, dtype, budget):
    """Sum over the rows of one chunk of the code-layer activations, weighted
    by the rows' sample weights (None: unweighted)."""
    X_in = np.asarray(X_in, dtype=dtype)
    s = repeat(weights, len(X_in))
    rows = block_rows(arch.sizes[1 : arch.code_layer + 1], dtype, budget, len(X_in))
    blocks = (
        (X_in[sl], None if s is None else s[sl]) for sl in gen_batches(len(X_in), rows)
    )
    return _code_sum(blocks, np.asarray(theta, dtype=dtype), arch)


def row_errors(X_in, target, theta, arch, dtype, budget):
    """Squared reconstruction error of each row of one chunk, without the
    sample weights; ``target`` (None: ``X_in``) may hold NaN: its rows'
    observed errors times ``d / d_i``."""
    X_in = np.asarray(X_in, dtype=dtype)
    T, W = None, None
    if target is not None:
        T, W = weighted_target(np.asarray(target, dtype=dtype))
    n = X_in.shape[0]
    out = np.empty(n)
    for sl in gen_batches(n, block_rows(arch.sizes[1:], dtype, budget, n)):
        t = None if T is None else T[sl]
        w = None if W is None else W[sl]
        out[sl] = row_sq_errors(theta, arch, X_in[sl], t, w)
    return out


def sse(X_in, target, weights, theta, arch, dtype, budget):
    """Sum of the (weighted) squared reconstruction errors of one row chunk."""
    e = row_errors(X_in, target, theta, arch, dtype, budget)
    if weights is None:
        return float(e.sum(dtype=np.float64))
    return float(np.asarray(weights, dtype=np.float64) @ e)


def sum_parts(*parts):
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(sum_parts(*items) for items in zip(*parts))
    total = first.copy() if isinstance(first, np.ndarray) else first
    for p in parts[1:]:
        total = total + p
    return total


def corrupt(block, *, seeds, noise, low, high, block_id):
    """Chunk ``block_id`` corrupted by ``RandomState(seeds[chunk index])``."""
    rng = np.random.RandomState(seeds[block_id[0]])
    return noise.pair(np.asarray(block), rng, low, high)[0]


def chunk_seeds(rng: np.random.RandomState, n_chunks: int) -> np.ndarray:
    """One noise seed per row chunk, drawn from the fit's generator."""
    return rng.randint(np.iinfo(np.int32).max, size=n_chunks)


def reduce(parts):
    """Sum delayed chunk results by a tree reduction, on the active scheduler."""
    import dask

    while len(parts) > 1:
        parts = [
            dask.delayed(sum_parts)(*parts[i : i + FAN_IN])
            for i in range(0, len(parts), FAN_IN)
        ]
    return dask.compute(parts[0])[0]


def column_means(A, weights=None) -> np.ndarray:
    """Weighted mean of the observed entries of each column of the dask array
    ``A`` (``weights`` a dask vector chunked like its rows, or None)."""
    import dask

    x_blocks = A.to_delayed().ravel()
    w_blocks = [None] * len(x_blocks) if weights is None else weights.to_delayed()
    task = dask.delayed(column_sums)
    parts = dask.compute(*[task(b, s) for b, s in zip(x_blocks, np.ravel(w_blocks))])
    return np.sum([s for s, _ in parts], axis=0) / np.sum([c for _, c in parts], axis=0)
