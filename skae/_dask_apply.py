"""Inference on a dask array: lazily, one task per row chunk.

Each chunk is evaluated by :func:`skae._inference.apply`, the in-memory
inference, under the same block-size rule and with the same handling of
missing values (NaN enters the network as the fitted fill values; a chunk's
rows are numbered from its first row in error messages) and of overflow. A
chunk holding inf raises when it is computed. dask is imported only by the
caller's array.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from skae._dask import as_dask_matrix
from skae._inference import apply as apply_in_memory
from skae._inference import n_outputs, working_memory_bytes
from skae._means import combine_means, mean_parts
from skae._validation import check_width


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
