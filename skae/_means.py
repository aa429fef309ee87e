"""Means over per-row values that stay finite where the values are (issue 16,
item 8): a plain float64 sum of values near the float64 maximum overflows to
inf, so the values are scaled by their largest finite magnitude first. In
memory (:func:`safe_mean`) and per chunk, combined (:func:`mean_parts`,
:func:`combine_means`: a dask reduction)."""

from __future__ import annotations

import numpy as np


def safe_mean(values, axis=None, weights=None):
    """Mean of ``values`` in float64, taken over values scaled by their
    largest magnitude: finite whenever every value is, where a plain sum of
    values near the float64 maximum overflows to inf. With ``weights`` (one
    per value along ``axis``, or of ``values``' shape when ``axis`` is None)
    the weighted mean ``sum w v / sum w``."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return np.mean(v, axis=axis)
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if axis is not None and v.ndim > 1:  # weights along axis
            shape = [1] * v.ndim
            shape[axis] = -1
            w = w.reshape(shape)
        w = np.broadcast_to(w / np.max(w), v.shape)
        return safe_mean(v * w, axis) / safe_mean(w, axis)
    finite = np.where(np.isfinite(v), np.abs(v), 0.0)  # inf stays inf below
    scale = np.max(finite, axis=axis, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    with np.errstate(invalid="ignore"):  # inf - inf is NaN, as in np.mean
        out = np.mean(v / scale, axis=axis, keepdims=True) * scale
    return float(out.reshape(())) if axis is None else np.squeeze(out, axis)


def mean_parts(values) -> tuple[int, float, float]:
    """``(count, scale, scaled mean)`` of one block of ``values``, which
    :func:`combine_means` joins into the mean of all blocks (a dask
    reduction that cannot overflow where :func:`safe_mean` would not)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if not v.size:
        return 0, 1.0, 0.0
    scale = float(np.max(np.where(np.isfinite(v), np.abs(v), 0.0)))
    scale = scale if scale > 0 else 1.0
    with np.errstate(invalid="ignore"):
        return v.size, scale, float(np.mean(v / scale))


def combine_means(parts) -> float:
    """The mean of the blocks that :func:`mean_parts` summarised."""
    parts = [p for p in parts if p[0]]
    total = sum(p[0] for p in parts)
    top = max(p[1] for p in parts)
    return top * (sum(n * (scale / top) * m for n, scale, m in parts) / total)
