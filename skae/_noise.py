"""Corruption functions for denoising autoencoders, dense and sparse.

Each function returns a new corrupted array and never modifies its input.
``rng`` is a :class:`numpy.random.RandomState`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

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
        # a row's squared error overflows where the clean row's does not:
        # the noise's doing (large clean rows are the solver's to report)
        big = [  # max |a| without a temporary the size of the data
            np.square(max(A.max(), -A.min())) * A.shape[1] if A.size else 0.0
            for A in (noise, X)
        ]
    if not np.isfinite(noise).all() or (np.isfinite(big[1]) > np.isfinite(big[0])):
        raise ValueError(
            f"noise_level={level} is too large for {X.dtype} data: the "
            "corrupted input (or its squared error) overflows. Use a smaller "
            "noise_level, scale the input, or pass float64 data."
        )
    return noise


def masking(X, level: float, rng, fill=None, **_):
    """Set a fraction ``level`` of each sample's entries to zero (or, with
    ``fill``, to NaN and then to ``fill(X_masked)``'s values: a conditional
    fill of the masked entries and of any NaN ``X`` already holds, dense
    input only; :mod:`skae._imputation`).

    Dense input: exactly ``round(level * n_features)`` entries per row, chosen
    uniformly. Sparse input: each stored entry is dropped with probability
    ``level`` (entries already zero stay zero, so the expected fraction of a
    row's entries that are zero after masking is at least ``level``). A zero
    ``level`` draws nothing from ``rng``, for dense and sparse input alike.
    """
    if sp.issparse(X):
        X = X.tocsr(copy=True)
        if level == 0:
            return X
        keep = rng.uniform(size=X.nnz) >= level
        X.data *= keep
        X.eliminate_zeros()
        return X
    n, d = X.shape
    k = int(round(level * d))
    out = np.array(X, copy=True)
    value = 0 if fill is None else np.nan
    if k >= d:
        out[...] = value
    elif k > 0:
        cols = rng.uniform(size=(n, d)).argpartition(k, axis=1)[:, :k]
        np.put_along_axis(out, cols, value, axis=1)
    return out if fill is None else fill(out)


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


def available_memory_bytes() -> int | None:
    """Memory available to this process now, in bytes (``psutil`` when
    installed, else the free physical pages); None when unknown."""
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available)
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


#: Corrupted rows smaller than this are allocated without asking the system
#: how much memory is free (Adam's minibatches, small tables).
_CHECK_FROM_BYTES = 64 * 2**20


def _stored_bytes(X) -> int:
    if sp.issparse(X):
        X = X.tocsr()
        return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    return int(np.asarray(X).nbytes)


def check_pair_size(X, n_corruptions: int, holes: bool = False) -> None:
    """Raise before allocating when the ``n_corruptions`` corrupted copies of
    ``X`` would take more than half the memory available (the other half is
    left to the data itself and the fit's workspace); ``holes``: the copies
    are those of a fit drawing its training holes (:mod:`skae._draws`)."""
    need = n_corruptions * _stored_bytes(X)
    if need < _CHECK_FROM_BYTES:
        return
    available = available_memory_bytes()
    if available is not None and need > available // 2:
        size = f"{n_corruptions} copies of {X.shape[0]} x {X.shape[1]} {X.dtype} values"
        need_mib = f"{need / 2**20:,.0f} MiB"
        half = f"more than half of the {available / 2**20:,.0f} MiB of memory available"
        if holes:  # copies the user may not have asked for (skae._draws)
            raise ValueError(
                f"Drawing the training holes (NaN) afresh in each of the fit's "
                f"{size} would need {need_mib}, {half}. Use solver='adam', "
                "which draws them minibatch by minibatch (or a smaller "
                "n_corruptions, where that is what asked for copies)."
            )
        raise ValueError(
            f"n_corruptions={n_corruptions} would need {need_mib} for the "
            f"corrupted training rows ({size}), {half}. Use a smaller "
            "n_corruptions, or solver='adam', which corrupts each minibatch as "
            "it goes."
        )


def _holes_first(func, holes, X, level, rng, **kwargs):
    return func(holes(X), level, rng, **kwargs)


def corrupt(X, noise: str, level: float, n_corruptions: int, rng, holes=None, **kwargs):
    """``(inputs, targets)``: ``n_corruptions`` corrupted copies of ``X``
    stacked by rows (copy after copy), and the clean ``X`` itself, which row
    ``i + r * n_samples`` of the inputs must reproduce as row ``i`` (it is
    never tiled: :class:`skae._kernel.BlockedObjective` indexes it). With
    ``holes``, each copy's NaN are first replaced by ``holes(X)``'s values
    (a new fill per copy: :mod:`skae._draws`).

    The size of the inputs is checked (:func:`check_pair_size`) before any is
    allocated; each copy is written into the stacked array as it is drawn.
    """
    check_pair_size(X, n_corruptions, holes is not None)
    func = NOISES[noise]
    if holes is not None:  # each copy's holes drawn afresh, then corrupted
        func = partial(_holes_first, func, holes)
    if n_corruptions == 1:
        return func(X, level, rng, **kwargs), X
    if sp.issparse(X):
        copies = [func(X, level, rng, **kwargs) for _ in range(n_corruptions)]
        return sp.vstack(copies, format=X.format), X
    n = X.shape[0]
    out = np.empty((n_corruptions * n, X.shape[1]), dtype=X.dtype)
    for r in range(n_corruptions):
        out[r * n : (r + 1) * n] = func(X, level, rng, **kwargs)
    return out, X


@dataclass(frozen=True)
class NoiseSpec:
    """How a denoising fit corrupts its training input: a plain value the fit
    pipeline and the data backends read (``None`` where nothing is corrupted)."""

    kind: str
    level: float
    n_corruptions: int = 1
    #: masking only: a conditional fill of the masked (NaN) entries, given
    #: the rest of the row (:func:`masking`); None writes 0
    fill: Callable | None = field(default=None, compare=False)
    #: any kind: a fill of the data's own holes (NaN), drawn afresh for each
    #: copy before it is corrupted (:mod:`skae._draws`); None: the input
    #: holds no NaN
    holes: Callable | None = field(default=None, compare=False)

    @property
    def plain(self) -> NoiseSpec:
        """This noise at level 0, once: with a ``fill``, the pair whose
        input holds the filled holes, unmasked (Adam's whole objective reads
        it, as the filled input of the other fits; nothing is drawn)."""
        return NoiseSpec(self.kind, 0.0, 1, self.fill, self.holes)

    @property
    def fills(self) -> bool:
        """Whether this noise fills NaN of its input (``fill`` or ``holes``)."""
        return self.fill is not None or self.holes is not None

    @property
    def active(self) -> bool:
        """Whether the input really changes (a zero level corrupts nothing)."""
        return self.level > 0

    def pair(self, X, rng, low=None, high=None, target=None):
        """``(inputs, targets)`` of :func:`corrupt` for this specification;
        with ``holes``, the NaN of ``target`` (the rows ``X`` fills, if
        given) mark the entries it draws."""
        extra = {} if self.fill is None else {"fill": self.fill}
        if self.holes is not None:
            extra["holes"] = self.holes
            if target is not None:
                X = np.where(np.isnan(target), np.nan, X).astype(X.dtype)
        return corrupt(
            X,
            self.kind,
            self.level,
            self.n_corruptions,
            rng,
            low=low,
            high=high,
            **extra,
        )
