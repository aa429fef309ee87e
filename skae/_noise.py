"""Corruption functions for denoising autoencoders, dense and sparse.

Each function returns a new corrupted array and never modifies its input.
``rng`` is a :class:`numpy.random.RandomState`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


def gaussian(X, level: float, rng, **_) -> np.ndarray:
    """Additive Gaussian noise of standard deviation ``level``."""
    if sp.issparse(X):
        raise ValueError(
            "noise='gaussian' would make sparse input dense; use noise='masking' "
            "for sparse X, or pass a dense array."
        )
    noise = rng.standard_normal(X.shape).astype(X.dtype, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        noise *= level
        noise += X
    if not np.isfinite(noise).all():
        raise ValueError(
            f"noise_level={level} is too large for {X.dtype} data: the "
            "corrupted input overflows. Use a smaller noise_level, scale the "
            "input, or pass float64 data."
        )
    return noise


def masking(X, level: float, rng, **_):
    """Set a fraction ``level`` of each sample's entries to zero.

    Dense input: exactly ``round(level * n_features)`` entries per row, chosen
    uniformly. Sparse input: each stored entry is dropped with probability
    ``level`` (entries already zero stay zero, so the expected fraction of a
    row's entries that are zero after masking is at least ``level``).
    """
    if sp.issparse(X):
        X = X.tocsr(copy=True)
        keep = rng.uniform(size=X.nnz) >= level
        X.data *= keep
        X.eliminate_zeros()
        return X
    n, d = X.shape
    k = int(round(level * d))
    out = np.array(X, copy=True)
    if k == 0:
        return out
    if k >= d:
        out[...] = 0
        return out
    cols = rng.uniform(size=(n, d)).argpartition(k, axis=1)[:, :k]
    np.put_along_axis(out, cols, 0, axis=1)
    return out


def salt_and_pepper(X, level: float, rng, *, low=None, high=None) -> np.ndarray:
    """Set a fraction ``level`` of each sample's entries to the feature's
    minimum or maximum (``low`` / ``high``, by default those of ``X``), by a
    fair coin."""
    if sp.issparse(X):
        raise ValueError(
            "noise='salt_and_pepper' would make sparse input dense; use "
            "noise='masking' for sparse X, or pass a dense array."
        )
    n, d = X.shape
    low = X.min(axis=0) if low is None else low
    high = X.max(axis=0) if high is None else high
    out = np.array(X, copy=True)
    k = int(round(level * d))
    if k == 0:
        return out
    cols = rng.uniform(size=(n, d)).argpartition(min(k, d - 1), axis=1)[:, :k]
    coin = rng.uniform(size=cols.shape) < 0.5
    high_at = np.take_along_axis(np.broadcast_to(high, (n, d)), cols, axis=1)
    low_at = np.take_along_axis(np.broadcast_to(low, (n, d)), cols, axis=1)
    values = np.where(coin, high_at, low_at)
    np.put_along_axis(out, cols, values.astype(out.dtype, copy=False), axis=1)
    return out


NOISES = {
    "gaussian": gaussian,
    "masking": masking,
    "salt_and_pepper": salt_and_pepper,
}


def corrupt(X, noise: str, level: float, n_corruptions: int, rng, **kwargs):
    """``(inputs, targets)``: ``n_corruptions`` corrupted copies of ``X`` stacked
    by rows, and the clean ``X`` repeated to match."""
    copies = [NOISES[noise](X, level, rng, **kwargs) for _ in range(n_corruptions)]
    if sp.issparse(X):
        fmt = X.format
        return sp.vstack(copies, format=fmt), sp.vstack([X] * n_corruptions, format=fmt)
    if n_corruptions == 1:
        return copies[0], X
    return np.vstack(copies), np.tile(X, (n_corruptions, 1))


@dataclass(frozen=True)
class NoiseSpec:
    """How a denoising fit corrupts its training input: a plain value the fit
    pipeline and the data backends read (``None`` where nothing is corrupted)."""

    kind: str
    level: float
    n_corruptions: int = 1

    @property
    def active(self) -> bool:
        """Whether the input really changes (a zero level corrupts nothing)."""
        return self.level > 0

    def pair(self, X, rng, low=None, high=None):
        """``(inputs, targets)`` of :func:`corrupt` for this specification."""
        return corrupt(
            X, self.kind, self.level, self.n_corruptions, rng, low=low, high=high
        )
