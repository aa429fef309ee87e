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
approach. Each system is the smaller of two (``|m|`` or ``|o|``
unknowns), and systems with as many unknowns are solved together (batched).
A table of few columns (up to ``_CACHE_MAX_FEATURES``) has few hole
patterns (at most ``2**d``): rows with the same pattern share one solve (its
regression matrix), and a model remembers each pattern's matrix across its
fills, so that the minibatches Adam masks afresh (:mod:`skae._imputation`)
solve almost nothing after the first epoch; a fill costs ``O(u min(|m|,
|o|)^2 d + n d^2)`` for ``u`` new patterns among ``n`` rows. Wider tables,
whose patterns rarely repeat, solve one system per row: ``O(n min(|m|,
|o|)^3)``, rather than ``O(n d^3)``.

Deterministic; pure numpy.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

#: Most floats a batch of per-row fill matrices holds (8 MiB): rows are
#: filled in blocks of ``_BLOCK_FLOATS // d**2``.
_BLOCK_FLOATS = 2**20
#: Rows per batched solve of :func:`_by_rows` (``rows * d * d`` floats).
_BLOCK_ROWS = 1024
#: Up to this many features rows are filled per hole pattern, and a model
#: remembers the fill matrix of every pattern it has filled (at most ``2**d``
#: of ``d * d`` floats: 25 MiB at 14), so that the many fills of one model
#: (Adam's minibatches, masked afresh each time) solve each pattern once;
#: above, patterns rarely repeat and each row solves its own system (on
#: digits' 61 columns the per-pattern matrices cost 3-7x the row solves).
_CACHE_MAX_FEATURES = 14


@dataclass(frozen=True)
class Gaussian:
    """``N(mean, covariance)``, with its ``precision`` (the inverse)."""

    mean: np.ndarray
    covariance: np.ndarray
    precision: np.ndarray
    #: hole pattern code -> its fill matrix (few features only); not pickled
    _maps: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def fill(self, X: np.ndarray) -> np.ndarray:
        """``X`` with each NaN replaced by its expectation given the row's
        observed entries (a new array; a row without any gets the mean)."""
        out = np.array(X, copy=True)
        missing = np.isnan(out)
        if missing.any():
            conditional(self, out, missing, cache=self._maps)
        return out

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_maps"}

    def __setstate__(self, state):
        self.__dict__.update(state, _maps={})


def _gather(A: np.ndarray, rows_idx: np.ndarray, cols_idx: np.ndarray):
    """``A[r[i], c[i]]`` for each row ``i``: shape (n, len(r[i]), len(c[i]))."""
    return A[rows_idx[:, :, None], cols_idx[:, None, :]]


def _codes(missing: np.ndarray) -> np.ndarray:
    """Each row's hole pattern as an integer: bit ``j`` set where column ``j``
    is missing (at most 62 columns)."""
    bits = np.left_shift(np.int64(1), np.arange(missing.shape[1], dtype=np.int64))
    return missing.astype(np.int64) @ bits


def _patterns(missing: np.ndarray):
    """``(patterns, inverse, codes)``: the distinct rows of ``missing``, the
    index of each row's among them, and their :func:`_codes` (None from 63
    columns on)."""
    if missing.shape[1] <= 62:
        codes, first, inverse = np.unique(
            _codes(missing), return_index=True, return_inverse=True
        )
        return missing[first], inverse.reshape(-1), codes
    patterns, inverse = np.unique(missing, axis=0, return_inverse=True)
    return patterns, inverse.reshape(-1), None


def _layout(patterns: np.ndarray) -> list:
    """How :func:`_maps` reads and writes each group of hole patterns with
    ``k`` holes (``0 < k < d``): ``(k, m, o, at_mo, at_mm)``: the missing
    and observed columns ``m`` (g, k) and ``o`` (g, d - k) of the group's
    ``g`` patterns, and the flat indices of blocks ``[m, o]`` and
    ``[m, m]`` in a (u, d, d) array; depends on the patterns only, so EM
    makes it once (:class:`_PatternStep`)."""
    u, d = patterns.shape
    counts = patterns.sum(axis=1)
    groups = []
    for k in np.unique(counts):
        if k == 0 or k == d:
            continue
        g = np.flatnonzero(counts == k)
        m = np.nonzero(patterns[g])[1].reshape(g.size, k)
        o = np.nonzero(~patterns[g])[1].reshape(g.size, d - k)
        base = (g * d * d)[:, None, None] + m[:, :, None] * d
        groups.append((k, m, o, base + o[:, None, :], base + m[:, None, :]))
    return groups


def _maps(model: Gaussian, patterns: np.ndarray, cov: bool, layout=None):
    """``(B, C)`` for each hole pattern (a row of ``patterns``, missing ``m``,
    observed ``o``): ``B`` (d, d) holds at ``[m, o]`` the regression of the
    missing entries on the centred observed ones, 0 elsewhere, so that a
    row's fill is ``mean + B @ x_centred`` (holes at 0); with ``cov``, ``C``
    (d, d) holds their conditional covariance at ``[m, m]``. Each pattern
    takes the smaller of its two systems (``|m|`` or ``|o|`` unknowns).
    ``layout``: :func:`_layout` of ``patterns``, if already made."""
    S, P = model.covariance, model.precision
    u, d = patterns.shape
    B = np.zeros((u, d, d))
    C = np.zeros((u, d, d)) if cov else None
    if cov:  # nothing observed: the mean, and the whole covariance
        C[patterns.all(axis=1)] = S
    for k, m, o, at_mo, at_mm in _layout(patterns) if layout is None else layout:
        if k <= d - k:  # |m| unknowns: the precision's block
            P_mm, P_mo = _gather(P, m, m), _gather(P, m, o)
            if cov:
                Cg = np.linalg.inv(P_mm)
                Bg = -(Cg @ P_mo)
            else:
                Bg = -np.linalg.solve(P_mm, P_mo)
        else:  # |o| unknowns: the covariance's block
            S_mo = _gather(S, m, o)
            T = np.linalg.solve(_gather(S, o, o), S_mo.transpose(0, 2, 1))
            Bg = T.transpose(0, 2, 1)
            if cov:
                Cg = _gather(S, m, m) - S_mo @ T
        B.flat[at_mo] = Bg
        if cov:
            C.flat[at_mm] = Cg
    return B, C


def _cached_maps(model: Gaussian, cache: dict, missing: np.ndarray):
    """``(B, at)``: every fill matrix :func:`_maps` made for ``model`` so far
    (held in ``cache``; those of new patterns in ``missing`` solved and
    added) and the index of each row's among them."""
    d = missing.shape[1]
    if not cache:
        cache["index"] = np.full(2**d, -1, dtype=np.intp)
        cache["B"] = np.zeros((0, d, d))
    index = cache["index"]
    codes = _codes(missing)
    at = index[codes]
    new = at < 0
    if new.any():
        patterns, _, fresh = _patterns(missing[new])
        index[fresh] = len(cache["B"]) + np.arange(fresh.size)
        cache["B"] = np.concatenate([cache["B"], _maps(model, patterns, False)[0]])
        at = index[codes]
    return cache["B"], at


def conditional(
    model: Gaussian, X: np.ndarray, missing: np.ndarray, cov=False, w=None, cache=None
):
    """Fill the ``missing`` entries of ``X`` in place with their conditional
    expectation; with ``cov``, return the sum over rows of their conditional
    covariances (weighted by ``w``, if given), each placed at its missing
    entries (shape (d, d)). Up to ``_CACHE_MAX_FEATURES`` columns, rows with
    the same hole pattern share one solve (per call, or across calls through
    ``cache``, a dict that only this ``model`` may fill,
    :attr:`Gaussian._maps`); above, where patterns rarely repeat, each row
    solves its own system (:func:`_by_rows`)."""
    n, d = X.shape
    if d > _CACHE_MAX_FEATURES:
        return _by_rows(model, X, missing, cov, w)
    mu = model.mean
    total = np.zeros((d, d)) if cov else None
    step = max(1, _BLOCK_FLOATS // (d * d))
    rows = np.flatnonzero(missing.any(axis=1))
    if rows.size == n:  # every row has a hole (masked rows): blocks are views
        rows = np.arange(n)
    for a in range(0, rows.size, step):
        r = rows[a : a + step]
        r = slice(a, a + r.size) if rows.size == n else r
        holes = missing[r]
        if cache is not None and not cov:
            B, inverse = _cached_maps(model, cache, holes)
        else:
            patterns, inverse, _ = _patterns(holes)
            B, C = _maps(model, patterns, cov)
        block = X[r]
        centred = block - mu
        np.copyto(centred, 0.0, where=holes)
        # np.take, not B[inverse]: the same rows, gathered 1.6x faster
        fill = np.einsum("nij,nj->ni", np.take(B, inverse, axis=0), centred)
        fill += mu
        np.copyto(block, fill, where=holes, casting="same_kind")
        if isinstance(r, np.ndarray):
            X[r] = block
        if cov:
            weight = np.bincount(
                inverse, None if w is None else w[r], minlength=len(patterns)
            )
            total += np.tensordot(weight, C, axes=1)
    return total


def _by_rows(model: Gaussian, X, missing, cov=False, w=None):
    """:func:`conditional` one system per row: rows with as many holes are
    solved together (one batched solve per hole count and row block), each
    the smaller of its two systems, solved for its own right-hand side."""
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
            if k <= d - k:  # |m| unknowns: the precision's block
                P_mm = _gather(P, m, m)
                # P_mo (x_o - mu_o), read off (x - mu) P with the holes at 0:
                # one product instead of a gather of P_mo per row (digits: a
                # third of an EM step)
                centred = np.where(missing[rows], 0.0, X[rows] - mu)
                b = np.take_along_axis(centred @ P, m, axis=1)
                if cov:
                    C = np.linalg.inv(P_mm)
                    xm = -np.einsum("nkl,nl->nk", C, b)
                else:
                    xm = -np.linalg.solve(P_mm, b[:, :, None])[:, :, 0]
            else:  # |o| unknowns: the covariance's block
                o = np.nonzero(~missing[rows])[1].reshape(rows.size, d - k)
                xo = X[rows[:, None], o] - mu[o]
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
    return fit_gaussians(X, [ridge], sample_weight, max_iter=max_iter, tol=tol)[ridge]


def fit_gaussians(X, ridges, sample_weight=None, **kwargs) -> dict:
    """``{ridge: fit_gaussian(X, ridge, sample_weight, **kwargs)}``, the rows'
    statistics gathered once for all ridges."""
    X = np.array(X, dtype=np.float64)
    missing = np.isnan(X)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
    keep = ~missing.all(axis=1) & (w > 0)
    X, missing, w = X[keep], missing[keep], w[keep]
    d = X.shape[1]
    observed = ~missing
    mean = (w @ np.where(observed, X, 0.0)) / np.maximum(w @ observed, 1e-300)
    F = np.where(observed, X - mean, 0.0)
    cov = (F.T * w) @ F / w.sum()
    scale = max(float(np.trace(cov)) / d, 1e-12) * np.eye(d)
    if not missing.any():
        return {r: _model(mean, cov + r * scale) for r in ridges}
    if d <= _CACHE_MAX_FEATURES:
        step = _PatternStep(X, missing, w)
    else:
        step = functools.partial(_row_step, X, missing, w)
    return {
        r: _em(step, _model(mean, cov + r * scale), r * scale, **kwargs) for r in ridges
    }


def _em(step, model: Gaussian, lam, max_iter: int = 50, tol: float = 1e-3):
    """EM from ``model``: ``step(model)`` gives the E-step's statistics."""
    for _ in range(max_iter):
        mean, scatter, spread, total = step(model)
        new = (scatter + spread) / total + lam
        change = np.linalg.norm(new - model.covariance) / np.linalg.norm(new)
        model = _model(mean, new)
        if change < tol:
            break
    return model


def _row_step(X, missing, w, model: Gaussian):
    """:class:`_PatternStep`'s statistics from the filled rows themselves."""
    Xf = X.copy()
    spread = conditional(model, Xf, missing, cov=True, w=w)
    total = w.sum()
    mean = (w @ Xf) / total
    Xf -= mean
    return mean, (Xf.T * w) @ Xf, spread, total


class _PatternStep:
    """EM's E-step statistics on few columns, from each hole pattern's sums
    (gathered once) rather than from every filled row: a row ``i`` of
    pattern ``p`` fills to ``mu + M_p c_i``, where ``c_i`` is its observed
    entries centred (0 at holes) and ``M_p`` the identity on the observed
    columns plus the pattern's regression (:func:`_maps`), so the weighted
    sums over rows follow from ``W_p = sum w``, ``r_p = sum w x0`` and
    ``R_p = sum w x0 x0^T`` (``x0``: the row, 0 at holes) in ``O(u d^3)`` per
    iteration, for ``u`` patterns, instead of ``O(n d^2)``."""

    def __init__(self, X, missing, w):
        patterns, inverse, _ = _patterns(missing)
        u, d = patterns.shape
        x0 = np.where(missing, 0.0, X)
        self.patterns, self.total = patterns, w.sum()
        self.layout = _layout(patterns)
        self.W = np.bincount(inverse, w, minlength=u)
        # rows sorted by pattern, every pattern present: sums by reduceat
        order = np.argsort(inverse, kind="stable")
        starts = np.searchsorted(inverse[order], np.arange(u))
        wx = x0[order] * w[order, None]
        self.r = np.add.reduceat(wx, starts, axis=0)
        outer = (wx[:, :, None] * x0[order][:, None, :]).reshape(-1, d * d)
        self.R = np.add.reduceat(outer, starts, axis=0).reshape(u, d, d)

    def __call__(self, model: Gaussian):
        """``(mean, scatter, spread, total)``: the filled rows' weighted mean,
        their weighted scatter about it, the sum of their weighted conditional
        covariances, and the sum of the weights."""
        B, C = _maps(model, self.patterns, True, self.layout)
        seen = ~self.patterns
        d = seen.shape[1]
        M = B
        M[:, np.arange(d), np.arange(d)] += seen
        a = seen * model.mean  # the centre of each pattern's observed entries
        W = self.W
        # sum_p M_p (x0 - a_p)(x0 - a_p)^T M_p^T summed over rows, from
        # y_p = M_p r_p and z_p = M_p a_p: sum_p M_p R_p M_p^T (one product
        # of (d, u d) matrices) - Y^T Z - Z^T Y + Z^T diag(W) Z
        Y = np.einsum("pij,pj->pi", M, self.r)
        Z = np.einsum("pij,pj->pi", M, a)
        left = (M @ self.R).transpose(1, 0, 2).reshape(d, -1)
        scatter = left @ M.transpose(1, 0, 2).reshape(d, -1).T
        cross = Y.T @ Z
        scatter -= cross + cross.T
        scatter += (Z.T * W) @ Z
        shift = Y.sum(axis=0) - W @ Z
        scatter -= np.outer(shift, shift) / self.total
        mean = model.mean + shift / self.total
        return mean, scatter, np.tensordot(W, C, axes=1), self.total
