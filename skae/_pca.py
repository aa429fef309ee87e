"""PCA from summed moments: the statistics of the PCA start.

A PCA start needs the data's mean and its leading principal axes. Both follow
from three sums over rows (the row count, the column sums and the Gram matrix
``X^T X``), which any data backend can compute where the rows live and add up:
in memory in one pass (dense or sparse, never densifying a sparse ``X``), on
a dask array by map-reduce over the row chunks. The axes are the leading
eigenvectors of the centred scatter matrix, computed in float64.

Sample weights ``s`` make the sums weighted (``sum_i s_i``, ``sum_i s_i x_i``,
``X^T diag(s) X``): an integer weight is the row repeated, a zero weight the
row dropped. Missing entries (NaN) count as if at their column's weighted
observed mean, without a second pass over the rows: each block also sums the
observed weight of each column and two products with the missing pattern,
from which :meth:`Moments.filled` completes the Gram matrix exactly.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from skae._network import Architecture, forward, init_params, unpack, unpack_skips
from skae._terms import has_missing


@dataclass
class Moments:
    """Weighted row count, column sums and Gram matrix ``X^T diag(s) X``
    (float64). With missing entries, ``sums`` and ``gram`` read them as 0, and
    ``observed`` (``sum_i s_i m_ij``, ``m`` the observed mask), ``cross``
    (``sum_i s_i x_ij m_ij (1 - m_ik)``) and ``missing`` (``sum_i s_i (1 -
    m_ij) (1 - m_ik)``) are set; None means nothing is missing."""

    count: float
    sums: np.ndarray
    gram: np.ndarray
    observed: np.ndarray | None = None
    cross: np.ndarray | None = None
    missing: np.ndarray | None = None

    def __add__(self, other: Moments) -> Moments:
        total = Moments(
            self.count + other.count, self.sums + other.sums, self.gram + other.gram
        )
        if self.observed is not None or other.observed is not None:
            parts = zip(self._missing_parts(), other._missing_parts())
            total.observed, total.cross, total.missing = (a + b for a, b in parts)
        return total

    def _missing_parts(self):
        if self.observed is not None:
            return self.observed, self.cross, self.missing
        d = self.sums.shape[0]
        return np.full(d, self.count), np.zeros((d, d)), np.zeros((d, d))

    def filled(self) -> Moments:
        """The moments of the rows with each missing entry at its column's
        weighted observed mean ``mu``: ``gram + P + P^T + missing * mu mu^T``
        with ``P = cross * mu`` (column-wise)."""
        if self.observed is None:
            return self
        if not (self.observed > 0).all():
            empty = np.flatnonzero(self.observed <= 0)
            raise ValueError(
                f"{empty.size} feature(s) have no observed value in a row of "
                f"positive weight (first: feature {empty[0]})."
            )
        mu = self.sums / self.observed
        P = self.cross * mu[None, :]
        gram = self.gram + P + P.T + self.missing * np.outer(mu, mu)
        return Moments(self.count, self.sums + mu * (self.count - self.observed), gram)


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


def moments(X, sample_weight=None) -> Moments:
    """The :class:`Moments` of the rows of ``X`` (dense or sparse; NaN, dense
    only, marks a missing entry), weighted by ``sample_weight``."""
    s = None if sample_weight is None else np.asarray(sample_weight, np.float64)
    count = float(X.shape[0] if s is None else s.sum())
    if sp.issparse(X):
        X = X.astype(np.float64)
        Xs = X if s is None else sp.csr_matrix(X.multiply(s[:, None]))
        gram = np.asarray((X.T @ Xs).todense())
        return Moments(count, np.asarray(Xs.sum(axis=0)).ravel(), gram)
    X = np.asarray(X, dtype=np.float64)
    if not has_missing(X):
        Xs = X if s is None else X * s[:, None]
        return Moments(count, Xs.sum(axis=0), X.T @ Xs)
    gone = np.isnan(X).astype(np.float64)
    Z = np.where(gone > 0, 0.0, X)
    w = np.ones(X.shape[0]) if s is None else s
    Zs, Gs = Z * w[:, None], gone * w[:, None]
    observed = count - Gs.sum(axis=0)
    return Moments(count, Zs.sum(axis=0), Z.T @ Zs, observed, Zs.T @ gone, gone.T @ Gs)


def principal_axes(stats: Moments, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, components)``: the mean row and the leading principal axes,
    shape ``(min(n_components, n_features), n_features)``, each axis's sign
    fixed so its largest entry is positive (as scikit-learn's ``svd_flip``)
    so that the start is deterministic. Missing entries count as at their
    column's weighted observed mean (:meth:`Moments.filled`)."""
    stats = stats.filled()
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
