"""Choosing how far to train: held-out errors per row, and the 1-SE rule.

A fit that starts at PCA (:func:`skae._pca.pca_params`) has PCA as its
iteration 0, so "never worse than PCA" becomes a model-selection question:
which iteration, 0 included, to keep. On small tables a single validation
split of a few rows is noise, so the selection uses K-fold cross-validation
and then refits on every row for the chosen number of iterations; on large
tables one held-out split is enough and the best iterate is kept.

The choice follows the one-standard-error rule of cross-validation (Breiman
et al., 1984; Hastie, Tibshirani and Friedman, *The Elements of Statistical
Learning*, 7.10): among the iterations whose held-out error is within
``se_factor`` standard errors of the best, keep the earliest, the simplest
model; the standard error is that of the per-row paired differences, so an
iteration must beat PCA clearly on these rows before it replaces it.

With sample weights the held-out error is the weighted mean of the rows'
errors, and the standard error is that of a weighted mean of the paired
differences, over Kish's effective number of rows ``(sum s)^2 / sum s^2``
(the unweighted one when the weights are equal; invariant to their scale).
"""

from __future__ import annotations

import numpy as np

from skae._means import safe_mean


class RowErrorTrace:
    """Wraps a per-row held-out error function ``errors(theta) -> (n,)``:
    each call records the row errors and returns their mean, so it can serve
    as an early-stopping score; ``rows`` holds one array per call. With
    ``weights`` (one per row) the mean is weighted."""

    def __init__(self, errors, theta0=None, weights=None):
        self.errors = errors
        self.weights = weights
        self.rows: list[np.ndarray] = []
        if theta0 is not None:
            self(theta0)

    def __call__(self, theta) -> float:
        r = np.asarray(self.errors(theta), dtype=np.float64)
        self.rows.append(r)
        return safe_mean(r, weights=self.weights)


def stack_traces(traces: list[list[np.ndarray]]) -> np.ndarray:
    """``(n_iterations, n_rows)`` errors of several folds side by side, a fold
    that stopped early holding its last errors (its kept state) thereafter."""
    length = max(len(t) for t in traces)
    return np.hstack([np.vstack(t + [t[-1]] * (length - len(t))) for t in traces])


def choose_iteration(errors: np.ndarray, se_factor: float = 2.0, weights=None) -> int:
    """The earliest iteration (row of ``errors``) whose mean error exceeds the
    best iteration's by at most ``se_factor`` standard errors of the paired
    per-row differences; with ``weights`` (one per column), weighted means
    and standard errors (module docstring)."""
    errors = np.asarray(errors, dtype=np.float64)
    means = safe_mean(errors, axis=1, weights=weights)
    best = int(np.argmin(means))
    for t in range(best):
        diff = errors[t] - errors[best]
        mean, se = _mean_and_se(diff, weights)
        if mean <= se_factor * se:
            return t
    return best


def _mean_and_se(diff: np.ndarray, weights=None) -> tuple[float, float]:
    """Mean of ``diff`` and its standard error (``ddof=1``), weighted by
    ``weights`` over Kish's effective sample size."""
    if weights is None:
        n = diff.shape[0]
        return diff.mean(), diff.std(ddof=1) / np.sqrt(n) if n > 1 else np.inf
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mean = float(w @ diff)
    n_eff = 1.0 / float(w @ w)
    if n_eff <= 1:
        return mean, np.inf
    var = float(w @ (diff - mean) ** 2) * n_eff / (n_eff - 1)
    return mean, np.sqrt(var / n_eff)
