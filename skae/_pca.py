"""PCA from summed moments: the statistics of the PCA start.

A PCA start needs the data's mean and its leading principal axes. Both follow
from three sums over rows (the row count, the column sums and the Gram matrix
``X^T X``), which any data backend can compute where the rows live and add up:
in memory in one pass (dense or sparse, never densifying a sparse ``X``), on
a dask array by map-reduce over the row chunks. The axes are the leading
eigenvectors of the centred scatter matrix, computed in float64.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from skae._network import Architecture, forward, init_params, unpack, unpack_skips


@dataclass
class Moments:
    """Row count, column sums and Gram matrix ``X^T X`` (float64)."""

    count: float
    sums: np.ndarray
    gram: np.ndarray

    def __add__(self, other: Moments) -> Moments:
        return Moments(
            self.count + other.count, self.sums + other.sums, self.gram + other.gram
        )


#: Fan-in of a tree sum of per-block results (the dask backend's reductions).
FAN_IN = 8


def tree_sum(parts: list):
    """Sum ``parts`` in groups of :data:`FAN_IN`, left to right, then the
    group sums likewise: the order of the dask backend's tree reduction, so
    that the same row blocks give bit-identical sums in memory and on dask."""
    while len(parts) > 1:
        groups = [parts[i : i + FAN_IN] for i in range(0, len(parts), FAN_IN)]
        parts = [functools.reduce(operator.add, g) for g in groups]
    return parts[0]


def moments(X) -> Moments:
    """The :class:`Moments` of the rows of ``X`` (dense or sparse)."""
    if sp.issparse(X):
        X = X.astype(np.float64)
        gram = np.asarray((X.T @ X).todense())
        sums = np.asarray(X.sum(axis=0)).ravel()
    else:
        X = np.asarray(X, dtype=np.float64)
        gram = X.T @ X
        sums = X.sum(axis=0)
    return Moments(float(X.shape[0]), sums, gram)


def principal_axes(stats: Moments, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, components)``: the mean row and the leading principal axes,
    shape ``(min(n_components, n_features), n_features)``, each axis's sign
    fixed so its largest entry is positive (as scikit-learn's ``svd_flip``)
    so that the start is deterministic."""
    mean = stats.sums / stats.count
    scatter = stats.gram - stats.count * np.outer(mean, mean)
    k = min(n_components, scatter.shape[0])
    _, vecs = np.linalg.eigh((scatter + scatter.T) / 2)
    V = vecs[:, ::-1][:, :k].T.copy()
    signs = np.sign(V[np.arange(k), np.argmax(np.abs(V), axis=1)])
    V *= np.where(signs == 0, 1.0, signs)[:, None]
    return mean, V


def pca_params(
    arch: Architecture,
    rng: np.random.RandomState,
    mean: np.ndarray,
    components: np.ndarray,
) -> np.ndarray:
    """Parameters at which the network computes PCA's reconstruction exactly.

    Needs identity code and output activations. The linear path carries PCA:
    codes ``(x - mean) V`` and reconstruction ``mean + z V^T`` (``V`` the
    ``components`` transposed, padded with zero columns beyond the data's
    rank). Without hidden layers that path is the network itself. With a skip
    path, the nonlinear branches start Glorot-random except the last weight
    matrix into the code layer and into the output, which start at zero (with
    tied weights the decoder branch's first matrix is that zero's transpose,
    so its output is a constant, absorbed into the output bias): both
    branches add nothing at the start, and their gradients do not vanish.
    """
    code = arch.code_layer
    if arch.activations[code - 1] != "identity" or arch.activations[-1] != "identity":
        raise ValueError("a PCA start needs identity code and output activations")
    if code > 1 and not arch.skip:
        raise ValueError("a PCA start with hidden layers needs the skip path")
    d, k = arch.sizes[0], arch.sizes[code]
    V = np.zeros((d, k))
    V[:, : components.shape[0]] = components.T
    theta = init_params(arch, rng) if arch.skip else np.zeros(arch.n_params)
    coefs, intercepts = unpack(theta, arch)
    linear = unpack_skips(theta, arch) if arch.skip else [coefs[0], coefs[-1]]
    linear[0][...] = V
    if not arch.tied:
        linear[1][...] = V.T
    intercepts[code - 1][...] = -(mean @ V)
    if arch.skip:
        coefs[code - 1][...] = 0.0
        if not arch.tied:
            coefs[-1][...] = 0.0
        # the decoder branch's output at the start does not depend on z
        branch = forward(
            np.zeros((1, k)),
            coefs[code:],
            intercepts[code:-1] + [np.zeros(d)],
            arch.activations[code:],
        )[-1]
        intercepts[-1][...] = mean - branch[0]
    else:
        intercepts[-1][...] = mean
    return theta
