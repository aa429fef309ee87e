"""A Gaussian model of rows with missing entries, and the expectation of the
missing entries given the observed ones (what :class:`skae.AutoencoderImputer`
feeds its network in place of a hole, and its linear imputation).

The model is a full-covariance Gaussian ``N(mu, S)`` fitted by EM on the
observed entries only (Little and Rubin, "Statistical Analysis with Missing
Data", section 11.2), with a ridge ``lambda * I`` added to the covariance at
each M-step (standardized columns: ``lambda`` is a fraction of a column's
variance), which keeps it well conditioned when columns are nearly collinear
or rows are few, and shrinks the regressions it implies. Given a row's
observed entries ``o``, its missing entries ``m`` have the conditional mean
``mu_m + S_mo S_oo^-1 (x_o - mu_o) = mu_m - P_mm^-1 P_mo (x_o - mu_o)``
(``P = S^-1``) and covariance ``S_mm - S_mo S_oo^-1 S_om = P_mm^-1``: the
fill is the limit that IterativeImputer's chained linear regressions
approach, in one solve per row. Each row takes the smaller of its two
systems (``|m|`` or ``|o|`` unknowns), and rows with as many holes are
solved together (one batched solve per hole count and row block), so a fill
costs ``O(n min(|m|, |o|)^3)``, rather than ``O(n d^3)``.

Deterministic; pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Rows per batched solve (memory ``rows * d * d`` floats at most).
_BLOCK_ROWS = 1024


@dataclass(frozen=True)
class Gaussian:
    """``N(mean, covariance)``, with its ``precision`` (the inverse)."""

    mean: np.ndarray
    covariance: np.ndarray
    precision: np.ndarray

    def fill(self, X: np.ndarray) -> np.ndarray:
        """``X`` with each NaN replaced by its expectation given the row's
        observed entries (a new array; a row without any gets the mean)."""
        out = np.array(X, copy=True)
        missing = np.isnan(out)
        if missing.any():
            conditional(self, out, missing)
        return out


def _gather(A: np.ndarray, rows_idx: np.ndarray, cols_idx: np.ndarray):
    """``A[r[i], c[i]]`` for each row ``i``: shape (n, len(r[i]), len(c[i]))."""
    return A[rows_idx[:, :, None], cols_idx[:, None, :]]


def conditional(model: Gaussian, X: np.ndarray, missing: np.ndarray, cov=False, w=None):
    """Fill the ``missing`` entries of ``X`` in place with their conditional
    expectation; with ``cov``, return the sum over rows of their conditional
    covariances (weighted by ``w``, if given), each placed at its missing
    entries (shape (d, d))."""
    w = np.ones(X.shape[0]) if w is None else w
    mu, S, P = model.mean, model.covariance, model.precision
    n, d = X.shape
    total = np.zeros((d, d)) if cov else None
    counts = missing.sum(axis=1)
    for k in np.unique(counts):
        if k == 0:
            continue
        group = np.flatnonzero(counts == k)
        for a in range(0, group.size, _BLOCK_ROWS):
            rows = group[a : a + _BLOCK_ROWS]
            if k == d:
                X[rows] = mu
                if cov:
                    total += w[rows].sum() * S
                continue
            m = np.nonzero(missing[rows])[1].reshape(rows.size, k)
            o = np.nonzero(~missing[rows])[1].reshape(rows.size, d - k)
            xo = X[rows[:, None], o] - mu[o]
            if k <= d - k:  # |m| unknowns: the precision's block
                P_mm = _gather(P, m, m)
                b = np.einsum("nko,no->nk", _gather(P, m, o), xo)
                if cov:
                    C = np.linalg.inv(P_mm)
                    xm = -np.einsum("nkl,nl->nk", C, b)
                else:
                    xm = -np.linalg.solve(P_mm, b[:, :, None])[:, :, 0]
            else:  # |o| unknowns: the covariance's block
                S_mo = _gather(S, m, o)
                if cov:
                    T = np.linalg.solve(_gather(S, o, o), S_mo.transpose(0, 2, 1))
                    xm = np.einsum("nok,no->nk", T, xo)
                    C = _gather(S, m, m) - S_mo @ T
                else:
                    z = np.linalg.solve(_gather(S, o, o), xo[:, :, None])[:, :, 0]
                    xm = np.einsum("nko,no->nk", S_mo, z)
            X[rows[:, None], m] = mu[m] + xm
            if cov:
                flat = (m[:, :, None] * d + m[:, None, :]).ravel()
                C = C * w[rows][:, None, None]
                total += np.bincount(flat, C.ravel(), minlength=d * d).reshape(d, d)
    return total


def _model(mean, covariance) -> Gaussian:
    return Gaussian(mean, covariance, np.linalg.inv(covariance))


def fit_gaussian(
    X: np.ndarray,
    ridge: float,
    sample_weight=None,
    *,
    max_iter: int = 50,
    tol: float = 1e-3,
) -> Gaussian:
    """The Gaussian of the observed (non-NaN) entries of ``X`` by EM, each
    row weighted by ``sample_weight`` (an integer weight is the row
    repeated), a ridge ``ridge * mean variance`` added to the covariance at
    each step; stops when the covariance changes by less than ``tol``
    (relatively, in Frobenius norm). Every column needs an observed entry of
    positive weight; rows without any observed entry are ignored. Starts at
    the moments of the rows with each hole at its column's observed mean."""
    X = np.array(X, dtype=np.float64)
    missing = np.isnan(X)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
    keep = ~missing.all(axis=1) & (w > 0)
    X, missing, w = X[keep], missing[keep], w[keep]
    d = X.shape[1]
    observed = ~missing
    total = w.sum()
    mean = (w @ np.where(observed, X, 0.0)) / np.maximum(w @ observed, 1e-300)
    F = np.where(observed, X - mean, 0.0)
    cov = (F.T * w) @ F / total
    lam = ridge * max(float(np.trace(cov)) / d, 1e-12) * np.eye(d)
    model = _model(mean, cov + lam)
    if not missing.any():
        return model
    for _ in range(max_iter):
        Xf = X.copy()
        spread = conditional(model, Xf, missing, cov=True, w=w)
        mean = (w @ Xf) / total
        Xf -= mean
        new = ((Xf.T * w) @ Xf + spread) / total + lam
        change = np.linalg.norm(new - model.covariance) / np.linalg.norm(new)
        model = _model(mean, new)
        if change < tol:
            break
    return model
