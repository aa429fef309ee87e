"""PCA from summed moments: the statistics of the PCA start.

A PCA start needs the data's mean and its leading principal axes. Both follow
from three sums over rows (the row count, the column sums and the Gram matrix
``X^T X``), which any data backend can compute where the rows live and add up:
in memory in one pass (dense or sparse, never densifying a sparse ``X``), on
a dask array by map-reduce over the row chunks. The axes are the leading
eigenvectors of the centred scatter matrix, computed in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


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
