"""Inference from fitted parameters, in row blocks of bounded memory.

One block-size rule serves every path that runs the network over many rows
(inference in memory, inference and training tasks on dask chunks):
:func:`block_rows` divides a byte budget, scikit-learn's ``working_memory``
by default, by the real per-row footprint, that is every layer output that
:func:`skae._network.forward` keeps (plus any scratch the caller names).

:func:`apply` evaluates ``transform``, ``inverse_transform``, ``reconstruct``,
``score_samples`` or ``reconstruction_errors`` on an array held in memory (a
dask chunk is one) and reports overflow once, as a ``ValueError``, never as
inf/NaN results.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn import get_config
from sklearn.utils import gen_batches

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


def apply(X, method: str, network, name: str, budget_bytes: int | None = None):
    """``method`` of the fitted ``network`` (coefs, intercepts, activations,
    skip matrices) on ``X``, block by block; an ndarray in ``X``'s dtype."""
    dtype = X.dtype
    coefs, intercepts, acts, skips = layers(*network, method, dtype)
    n_out = n_outputs(network[0], method)
    budget = working_memory_bytes() if budget_bytes is None else budget_bytes
    rows = block_rows([W.shape[1] for W in coefs], dtype, budget, X.shape[0])
    out = np.empty((X.shape[0],) if n_out is None else (X.shape[0], n_out), dtype)
    # Overflow is reported once, below, never as inf/NaN results or warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for batch in gen_batches(X.shape[0], rows):
            if n_out is None:
                out[batch] = -sq_errors(X[batch], coefs, intercepts, acts, skips)
            elif method == "reconstruction_errors":
                R = predict(X[batch], coefs, intercepts, acts, skips)
                _subtract_target(R, X[batch])
                np.multiply(R, R, out=out[batch])
            else:
                out[batch] = predict(X[batch], coefs, intercepts, acts, skips)
    if not np.isfinite(out).all():
        raise ValueError(
            f"{name}: the result overflowed {np.dtype(dtype)} (non-finite "
            "values): the input's values are too large for this network. Scale "
            "the input as the training data was scaled, or pass float64 data "
            "instead of float32."
        )
    return out
