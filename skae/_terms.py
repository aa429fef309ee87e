"""The objective's terms beside the network: weights of the squared errors,
missing targets, and the sparsity penalty.

:mod:`skae._network` states the objective. Its data term weighs the squared
residual ``r_ij`` of entry ``(i, j)`` by

    w_ij = s_i * d / d_i   if target entry (i, j) is observed, else 0,

``s_i`` the row's sample weight (1 without weights), ``d`` the number of
features and ``d_i`` the row's observed (non-NaN) target entries: a row's
error is its observed errors rescaled to ``d`` features, so a row with holes
counts as much as a complete one. Since ``sum_j w_ij = s_i * d``, a row's
sample weight is the mean of its entry weights (:func:`row_weights`), for any
entry weights given.

:func:`weighted_target` turns a target (which may hold NaN) and sample weights
into what :func:`skae._network.backprop` takes: a NaN-free target (a copy with
0 at the missing entries, only when there are some; the caller's array is never
written) and the weights: ``None`` (none, nothing missing), the sample weights
``(n,)`` (nothing missing), or the entry weights ``(n, d)``. A missing entry has
weight 0 and a finite residual, so it contributes exactly 0 (a NaN residual
would give ``0 * NaN = NaN``). Callers derive them once per block of rows they
keep, not per evaluation. Imports nothing of skae.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# rho_hat is clipped to [_EPS, 1 - _EPS] inside the KL divergence.
_EPS = 1e-10


def _sq_norm(A: np.ndarray) -> float:
    flat = A.reshape(-1)
    return float(np.dot(flat, flat))


def kl_sparsity(rho_hat: np.ndarray, rho: float) -> tuple[float, np.ndarray]:
    """``sum_j KL(rho || rho_hat_j)`` and its derivative with respect to rho_hat."""
    r = np.clip(rho_hat.astype(np.float64), _EPS, 1 - _EPS)
    kl = rho * np.log(rho / r) + (1 - rho) * np.log((1 - rho) / (1 - r))
    return float(kl.sum()), -rho / r + (1 - rho) / (1 - r)


def has_nan(X) -> bool:
    """Whether ``X`` (dense or sparse, float) holds a NaN, without a copy."""
    data = X.data if sp.issparse(X) else X
    if data.size == 0:
        return False
    with np.errstate(invalid="ignore"):
        return bool(np.isnan(np.min(data)))  # min propagates NaN


def has_missing(target) -> bool:
    """Whether a dense ``target`` holds NaN (a sparse one may not: an error)."""
    if not has_nan(target):
        return False
    if sp.issparse(target):
        raise ValueError("Sparse input with NaN is not supported.")
    return True


def weighted_target(target, sample_weight=None, dtype=None):
    """``(target, weights)`` for :func:`skae._network.backprop` (module
    docstring): the weights in ``dtype`` (``target``'s by default).

    Raises a ``ValueError`` for a row with no observed entry (its error
    would be 0 / 0): the caller must drop or reject it first.
    """
    dtype = np.dtype(target.dtype if dtype is None else dtype)
    s = None if sample_weight is None else np.asarray(sample_weight, dtype=dtype)
    if not has_missing(target):
        return target, s
    observed = ~np.isnan(target)
    n_obs = observed.sum(axis=1)
    empty = np.flatnonzero(n_obs == 0)
    if empty.size:
        raise ValueError(
            f"{empty.size} row(s) of the target have no observed entry (first: "
            f"row {empty[0]}); their reconstruction error is undefined."
        )
    scale = target.shape[1] / n_obs  # float64
    if s is not None:
        scale = scale * s
    weights = np.multiply(observed, scale[:, None], dtype=dtype)
    return np.where(observed, target, 0).astype(target.dtype, copy=False), weights


def row_weights(weights, n_features: int):
    """The sample weights ``(n,)`` behind ``weights`` (None, ``(n,)`` or the
    entry weights ``(n, d)``, whose row means they are)."""
    if weights is None or weights.ndim == 1:
        return weights
    return weights.sum(axis=1, dtype=np.float64).astype(weights.dtype) / n_features


def total_weight(weights, n_rows: int, n_features: int) -> float:
    """``sum_i s_i`` (``n_rows`` without weights), in float64."""
    if weights is None:
        return float(n_rows)
    if weights.ndim == 1:
        return float(weights.sum(dtype=np.float64))
    return float(weights.sum(dtype=np.float64)) / n_features


def weigh_residual(R: np.ndarray, weights) -> float:
    """``sum w * R**2`` of a residual block, and ``R *= w`` in place (the
    output delta's factor): ``weights`` None, ``(n,)`` or ``(n, d)``."""
    if weights is None:
        return _sq_norm(R)
    if weights.ndim == 1:
        sse = float(np.dot(weights, np.einsum("ij,ij->i", R, R)))
        R *= weights[:, None]
    else:
        sse = float(np.einsum("ij,ij,ij->", R, R, weights))
        R *= weights
    return sse


def row_sse(R: np.ndarray, weights) -> np.ndarray:
    """``sum_j w_ij R_ij**2`` of each row (``R`` untouched)."""
    if weights is None:
        return np.einsum("ij,ij->i", R, R)
    if weights.ndim == 1:
        return weights * np.einsum("ij,ij->i", R, R)
    return np.einsum("ij,ij,ij->i", R, R, weights)


def _subtract_target(D: np.ndarray, target) -> None:
    """``D -= target`` for a dense or sparse ``target``, in place."""
    if sp.issparse(target):
        coo = target.tocoo()
        coo.sum_duplicates()
        D[coo.row, coo.col] -= coo.data
    else:
        np.subtract(D, target, out=D)


def check_split_weights(train_total: float, held_out_total: float) -> None:
    """A held-out split must leave rows of positive weight on both sides."""
    for side, total in (("training", train_total), ("held-out", held_out_total)):
        if total <= 0:
            raise ValueError(
                f"Early stopping left only rows of zero sample_weight on the "
                f"{side} side of its split: their error is undefined. Use "
                "early_stopping=False, another random_state or validation_fraction, "
                "or fewer zero weights."
            )
