"""Missing values (NaN): where they are, what enters the network instead, and
the squared errors of rows that have holes.

The rules, written once here (docs/user_guide.rst, "Missing values"):

* **The loss counts observed entries only.** Row ``i`` with ``d_i`` observed
  entries of ``d`` contributes ``(d / d_i) * sum_{j observed} r_ij^2``: its
  error over the observed features, rescaled to ``d`` features so that rows
  with holes weigh as much as complete rows (and a complete row's error is
  the plain one). The same number is the row's ``-score_samples``.
* **Missing inputs enter the network as the training column means** of the
  observed entries (``fill_values_``) wherever a model meets NaN after its
  fit: ``transform``, the scores, dask chunks, ``partial_fit`` (every call),
  a dask ``fit``. The network input never holds NaN; a mean-filled entry is
  neutral for the PCA start (its centred value is 0, so it moves neither the
  code nor the other features' reconstruction), and the means travel with
  the model. The alternative, a mask fed beside the input, doubles the input
  layer and breaks the PCA start; learned fill values would add parameters
  whose gradient only the rows with holes carry. The means need neither.
* **Training holes are drawn, in a fit in memory** (:mod:`skae._draws`):
  each hole of a training input is a draw from its distribution given the
  row's observed entries under a Gaussian fitted by EM, afresh for every
  copy of the rows (8 in an L-BFGS objective) and every Adam minibatch; the
  held-out rows of early stopping read each hole's conditional expectation.
  A network trained on mean-filled rows meets no complete row in training
  and fits the fixed fills: its codes of complete rows reconstruct them
  worse (20% missing, the complete fit's error relative to PCA's times:
  digits, 8 codes, 1.41x, with the draws 1.22x; breast_cancer, 4 codes,
  1.13x, with the draws 0.99x; tests/test_missing.py). The loss still
  counts observed entries only. ``_draw_holes = False`` on an estimator fills the means.
  (:class:`skae.AutoencoderImputer` feeds its network each hole's
  conditional expectation instead, :mod:`skae._imputation`, through the
  ``_noise_fill`` hook, which the draws leave alone.)
* **Per-feature errors** (``reconstruction_errors``) are the rescaled
  ``(d / d_i) r_ij^2`` at observed entries and 0 at missing ones, so that
  each row still sums to ``-score_samples``.
* A row with no observed entry has no error: fitting rejects it (the error
  names it), and so do the scores; ``transform`` and ``reconstruct`` accept it
  (the code of the mean row). A column with no observed entry in ``fit`` has
  no fill value and is rejected. NaN in sparse input is rejected (a sparse
  matrix's implicit zeros are observed zeros; a NaN stored among them is
  almost always a mistake), as is ``inf`` anywhere.

Only numpy; the layers above call these on arrays in memory or on dask
chunks.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from skae._terms import has_nan

#: Row indices named in an error message, at most.
_SHOWN = 10


def _indices(idx: np.ndarray, offset: int = 0) -> str:
    shown = ", ".join(str(int(i) + offset) for i in idx[:_SHOWN])
    more = f" and {len(idx) - _SHOWN} more" if len(idx) > _SHOWN else ""
    return f"[{shown}{more}]"


def empty_rows_error(rows: np.ndarray, what: str) -> ValueError:
    """The one message for rows without an observed entry."""
    return ValueError(
        f"{len(rows)} sample(s) of X have no observed (non-NaN) value, at rows "
        f"{_indices(rows)}: {what}. Drop those rows, or impute them first "
        "(e.g. with skae.AutoencoderImputer, which accepts them)."
    )


def empty_columns_error(columns: np.ndarray) -> ValueError:
    """The one message for training columns without an observed entry."""
    return ValueError(
        f"{len(columns)} feature(s) of X have no observed (non-NaN) value in the "
        f"training data, at columns {_indices(columns)}: there is nothing to "
        "learn them from, nor a mean to fill them with. Drop those columns."
    )


def check_missing(X, *, rows: bool, columns: bool) -> None:
    """Reject NaN in sparse ``X``; with ``rows`` (``columns``), rows
    (columns) of dense ``X`` that hold no observed value."""
    if sp.issparse(X):
        if has_nan(X):
            raise ValueError(
                "Sparse input X holds NaN: missing values are supported in "
                "dense input only (a sparse matrix's implicit zeros are "
                "observed zeros). Pass a dense array, or replace the NaN."
            )
        return
    if not (rows or columns) or not has_nan(X):
        return
    observed = ~np.isnan(X)
    if rows:
        empty = np.flatnonzero(~observed.any(axis=1))
        if len(empty):
            raise empty_rows_error(empty, "their reconstruction error is undefined")
    if columns:
        empty = np.flatnonzero(~observed.any(axis=0))
        if len(empty):
            raise empty_columns_error(empty)


def fill_values(X, sample_weight=None) -> np.ndarray:
    """Column means of the observed entries of ``X`` (dense or sparse),
    weighted by ``sample_weight`` (rows of zero weight count where a column
    has no other observed entry), in ``X``'s dtype, computed in float64."""
    n = X.shape[0]
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    if sp.issparse(X):
        sums, total = np.asarray(X.T @ s).ravel(), np.full(X.shape[1], s.sum())
    elif not has_nan(X):  # no mask and no zero-filled copy of X
        sums = sum(s[a:b] @ X[a:b].astype(np.float64) for a, b in _row_blocks(n))
        total = np.full(X.shape[1], s.sum())
    else:
        observed = ~np.isnan(X)
        sums = s @ np.where(observed, X, 0).astype(np.float64)
        total = s @ observed
        if not (total > 0).all():  # observed only where the weight is 0
            counts = observed.sum(axis=0)
            plain = np.where(observed, X, 0).sum(axis=0) / np.maximum(counts, 1)
            sums = np.where(total > 0, sums, plain)
            total = np.where(total > 0, total, 1.0)
    return (sums / total).astype(X.dtype)


def _row_blocks(n: int, rows: int = 4096):
    """``(start, stop)`` of consecutive row blocks: a float64 copy of one block
    of ``X`` at a time (a few MiB), never of all of it."""
    return [(a, min(a + rows, n)) for a in range(0, n, rows)] or [(0, 0)]


def filled(X, values: np.ndarray):
    """``X`` with every NaN replaced by its column's ``values``: a new array,
    or ``X`` itself when it holds no NaN (sparse ``X`` never does)."""
    if sp.issparse(X) or not has_nan(X):
        return X
    mask = np.isnan(X)
    out = np.array(X, copy=True)
    np.copyto(out, np.broadcast_to(values.astype(X.dtype), X.shape), where=mask)
    return out


def row_scales(mask: np.ndarray, offset: int = 0) -> np.ndarray:
    """``d / d_i`` of each row of the missing-entry ``mask``; rows without an
    observed entry are an error (their row numbers shifted by ``offset``)."""
    d = mask.shape[1]
    observed = d - mask.sum(axis=1)
    empty = np.flatnonzero(observed == 0)
    if len(empty):
        raise empty_rows_error(empty + offset, "they have no reconstruction error")
    return d / observed


def masked_sq_errors(R: np.ndarray, mask: np.ndarray, offset: int = 0):
    """``R`` (reconstruction minus target, NaN at missing entries) made the
    rescaled per-feature squared errors in place: ``(d / d_i) r_ij^2`` at
    observed entries, 0 at missing ones (module docstring)."""
    R[mask] = 0
    np.multiply(R, R, out=R)
    R *= row_scales(mask, offset).astype(R.dtype)[:, None]
    return R
