"""The edges of the dask path: training data checked into a
:class:`skae._dask.DaskData`, and lazy inference out, one task per row chunk.

:func:`training_data` makes the checks of
:func:`skae._validation.check_training_data` on the workers, in one pass over
the chunks (:func:`_column_stats`), and fills missing entries (NaN) of the
network input lazily, chunk by chunk (:mod:`skae._missing`).

:func:`apply` evaluates each chunk by :func:`skae._inference.apply`, the
in-memory inference, under the same block-size rule and with the same
handling of missing values (NaN enters the network as the fitted fill
values; a chunk's rows are numbered from its first row in error messages)
and of overflow. A chunk holding inf raises when it is computed. dask is
imported only for a dask array.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from skae._chunks import column_sums
from skae._dask import DaskData, _on_distributed, as_dask_matrix
from skae._inference import apply as apply_in_memory
from skae._inference import n_outputs, working_memory_bytes
from skae._means import combine_means, mean_parts
from skae._missing import empty_columns_error, empty_rows_error, filled
from skae._validation import (
    check_sample_weight,
    check_value_magnitude,
    check_weight_values,
    check_width,
)


def training_data(X, sample_weight=None, fill=None) -> DaskData:
    """The checks of :func:`skae._validation.check_training_data` (and of
    :func:`skae._validation.check_sample_weight`), made on the workers in one
    pass; the data persisted there under a distributed client. Missing
    entries (NaN) are filled lazily, chunk by chunk, with ``fill`` (a
    continued fit's ``fill_values_``; by default the column means of the
    observed entries) in the network input; the target keeps them."""
    import dask
    import dask.array as da

    X = as_dask_matrix(X)
    n, d = X.shape
    if n < 2 or d < 1:
        what = f"{n} sample(s)" if n < 2 else "0 feature(s)"
        raise ValueError(
            f"Found array with {what} (shape={X.shape}) while a minimum of "
            f"{2 if n < 2 else 1} is required."
        )
    w = check_sample_weight(sample_weight, X)
    persist = _on_distributed(X)
    if persist:
        X = X.persist()
        w = None if w is None else w.persist()
    x_blocks = X.to_delayed().ravel()
    w_blocks = [None] * len(x_blocks) if w is None else w.to_delayed().ravel()
    stats = dask.compute(
        *[dask.delayed(_column_stats)(b, s) for b, s in zip(x_blocks, w_blocks)]
    )
    checks = None if w is None else (da.isfinite(w).all(), w.min(), w.sum())
    # apart: computed with the delayed sums, dask 2026.8 mixed up the results
    weights = None if w is None else dask.compute(*checks)
    if any(s["inf"] for s in stats):
        raise ValueError("Input X contains infinity.")
    starts = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]])
    empty = np.concatenate([s["empty_rows"] + a for s, a in zip(stats, starts)])
    if len(empty):
        raise empty_rows_error(empty, "their reconstruction error is undefined")
    counts = np.sum([s["counts"] for s in stats], axis=0)
    if fill is None and not counts.all():
        raise empty_columns_error(np.flatnonzero(counts == 0))
    low = np.fmin.reduce([s["low"] for s in stats], axis=None)
    high = np.fmax.reduce([s["high"] for s in stats], axis=None)
    check_value_magnitude(max(abs(float(low)), abs(float(high))), X.dtype, d)
    if weights is not None:
        check_weight_values(*weights)
    # the magnitude check bounds the values, so the sums were finite
    total = np.sum([s["weighted"][1] for s in stats], axis=0)
    sums = np.sum([s["weighted"][0] for s in stats], axis=0)
    mean = sums / np.where(total > 0, total, 1.0)
    if counts.sum() == n * d:
        return DaskData(X, persist=persist, mean=mean, sample_weight=w)
    values = (mean if fill is None else np.asarray(fill)).astype(X.dtype)
    kernel = partial(filled, values=values)
    X_in = X.map_blocks(kernel, dtype=X.dtype, meta=np.empty((0, 0), X.dtype))
    X_in = X_in.persist() if persist else X_in
    return DaskData(X_in, X, persist=persist, mean=mean, sample_weight=w)


def _column_stats(block, weights=None) -> dict:
    """One chunk's share of :func:`training_data`'s checks: whether it holds
    inf, its rows without an observed value (chunk-local), and per column the
    observed entries' counts, minimum and maximum (NaN where a column has
    none here) and weighted ``(sums, total weights)``
    (:func:`skae._chunks.column_sums`)."""
    B = np.asarray(block)
    observed = ~np.isnan(B)
    return {
        "inf": bool(np.isinf(B).any()),
        "empty_rows": np.flatnonzero(~observed.any(axis=1)),
        "counts": observed.sum(axis=0),
        "weighted": column_sums(B, weights),
        "low": np.fmin.reduce(B, axis=0),
        "high": np.fmax.reduce(B, axis=0),
    }


def _apply_block(
    B, *, method, network, name, input_name, budget, fill, starts, block_id=None
):
    """One chunk of :func:`apply` (dask passes ``block_id``); NaN in X, not in
    codes, is a missing value."""
    B = np.asarray(B)
    if np.isinf(B).any() or (input_name == "codes" and np.isnan(B).any()):
        raise ValueError(f"Input {input_name} contains NaN or infinity.")
    offset = int(starts[block_id[0]])
    return apply_in_memory(B, method, network, name, budget, fill, offset)


def apply(X, method: str, network, n_features_in: int, name: str, fill=None):
    """``method`` of the fitted ``network`` as a lazy dask array, one task per
    row chunk, each evaluated by :func:`skae._inference.apply` (missing
    entries of ``X`` enter the network as ``fill``)."""
    inverse = method == "inverse_transform"
    input_name = "codes" if inverse else "X"
    X = as_dask_matrix(X, input_name)
    expected = n_outputs(network[0], "transform") if inverse else n_features_in
    check_width(X.shape[1], expected, input_name, name)
    func = partial(
        _apply_block,
        method=method,
        network=network,
        name=name,
        input_name=input_name,
        budget=working_memory_bytes(),
        fill=fill,
        starts=np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]),
    )
    dtype = X.dtype
    n_out = n_outputs(network[0], method)
    if n_out is None:
        return X.map_blocks(func, drop_axis=1, dtype=dtype, meta=np.empty((0,), dtype))
    return X.map_blocks(
        func, chunks=(X.chunks[0], (n_out,)), dtype=dtype, meta=np.empty((0, 0), dtype)
    )


def mean(values) -> float:
    """The mean of a 1-D dask array, per chunk then combined, without the
    overflow a plain sum of large values has (:func:`skae._means.safe_mean`)."""
    import dask

    parts = [dask.delayed(mean_parts)(b) for b in values.to_delayed().ravel()]
    return combine_means(dask.compute(*parts))
