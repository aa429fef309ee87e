"""Inference from fitted parameters, in row blocks of bounded memory.

One block-size rule serves every path that runs the network over many rows
(inference in memory, inference and training tasks on dask chunks):
:func:`block_rows` divides a byte budget, scikit-learn's ``working_memory``
by default, by the real per-row footprint, that is every layer output that
:func:`skae._network.forward` keeps (plus any scratch the caller names).

:func:`apply` evaluates ``transform``, ``inverse_transform``, ``reconstruct``,
``score_samples`` or ``reconstruction_errors`` on an array held in memory (a
dask chunk is one) and reports overflow once, as a ``ValueError``, never as
inf/NaN results. Missing entries (NaN) of the input enter the network as the
fitted fill values, and the errors count observed entries only
(:mod:`skae._missing`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn import get_config
from sklearn.utils import gen_batches

from skae._missing import filled, has_nan, masked_sq_errors, row_scales
from skae._network import _subtract_target, predict, skip_terms, sq_errors

METHODS = (
    "transform",
    "inverse_transform",
    "reconstruct",
    "score_samples",
    "reconstruction_errors",
)


def working_memory_bytes() -> int:
    """scikit-learn's ``working_memory`` setting (MiB), in bytes."""
    return int(get_config()["working_memory"] * 2**20)


def block_rows(widths: Sequence[int], dtype, budget_bytes: int, n_rows: int) -> int:
    """Rows per block so that one row of each of ``widths`` (the layer
    outputs kept at once) fits ``budget_bytes``; between 1 and ``n_rows``."""
    row_bytes = max(1, sum(widths)) * np.dtype(dtype).itemsize
    return int(max(1, min(max(n_rows, 1), budget_bytes // row_bytes)))


def layers(coefs, intercepts, activations, skips, method: str, dtype):
    """``(coefs, intercepts, activations, skip terms)`` of the layers
    ``method`` runs: the encoder, the decoder, or both, cast to ``dtype``."""
    c = len(coefs) // 2
    part = {"transform": "encoder", "inverse_transform": "decoder"}.get(
        method, "network"
    )
    sl = {"encoder": slice(0, c), "decoder": slice(c, None)}.get(part, slice(None))
    skips = [S.astype(dtype, copy=False) for S in skips]
    return (
        [W.astype(dtype, copy=False) for W in coefs[sl]],
        [b.astype(dtype, copy=False) for b in intercepts[sl]],
        tuple(activations[sl]),
        skip_terms(skips, len(coefs), part),
    )


def n_outputs(coefs, method: str) -> int | None:
    """Width of ``method``'s result; None for the per-sample scores."""
    if method == "score_samples":
        return None
    if method == "transform":
        return coefs[len(coefs) // 2 - 1].shape[1]
    return coefs[-1].shape[1]


def apply(
    X,
    method: str,
    network,
    name: str,
    budget_bytes: int | None = None,
    fill: np.ndarray | None = None,
    row_offset: int = 0,
):
    """``method`` of the fitted ``network`` (coefs, intercepts, activations,
    skip matrices) on ``X``, block by block; an ndarray in ``X``'s dtype.

    Missing entries (NaN, dense ``X``) enter the network as ``fill`` (the
    fitted ``fill_values_``); the scores and per-feature errors count the
    observed entries only, rescaled as :mod:`skae._missing` states (rows are
    numbered from ``row_offset`` in its errors: a dask chunk's first row)."""
    dtype = X.dtype
    coefs, intercepts, acts, skips = layers(*network, method, dtype)
    n_out = n_outputs(network[0], method)
    budget = working_memory_bytes() if budget_bytes is None else budget_bytes
    rows = block_rows([W.shape[1] for W in coefs], dtype, budget, X.shape[0])
    out = np.empty((X.shape[0],) if n_out is None else (X.shape[0], n_out), dtype)
    holes = method != "inverse_transform" and has_nan(X)
    if holes and fill is None:
        raise ValueError(f"{name}: X holds NaN, and this model has no fill_values_.")
    # Overflow is reported once, below, never as inf/NaN results or warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for batch in gen_batches(X.shape[0], rows):
            B = X[batch]
            if holes and has_nan(B):
                layers_ = (coefs, intercepts, acts, skips)
                at = row_offset + batch.start
                out[batch] = _apply_with_holes(B, method, layers_, fill, at)
            elif n_out is None:
                out[batch] = -sq_errors(B, coefs, intercepts, acts, skips)
            elif method == "reconstruction_errors":
                R = predict(B, coefs, intercepts, acts, skips)
                _subtract_target(R, B)
                np.multiply(R, R, out=out[batch])
            else:
                out[batch] = predict(B, coefs, intercepts, acts, skips)
    if not np.isfinite(out).all():
        raise ValueError(
            f"{name}: the result overflowed {np.dtype(dtype)} (non-finite "
            "values): the input's values are too large for this network. Scale "
            "the input as the training data was scaled, or pass float64 data "
            "instead of float32."
        )
    return out


def _apply_with_holes(B, method, layers_, fill, offset):
    """:func:`apply` on one block holding NaN: the network reads the filled
    block; the errors are :func:`skae._missing.masked_sq_errors`."""
    coefs, intercepts, acts, skips = layers_
    mask = np.isnan(B)
    if method in ("score_samples", "reconstruction_errors"):
        row_scales(mask, offset)  # no observed entry: an error, before any work
    F = filled(B, fill)
    R = predict(F, coefs, intercepts, acts, skips)
    if method in ("transform", "reconstruct"):
        return R
    R -= B
    errors = masked_sq_errors(R, mask, offset)
    return -errors.sum(axis=1) if method == "score_samples" else errors
