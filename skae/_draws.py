"""The training fill of rows with holes: conditional draws from a Gaussian.

A network trained on rows whose holes hold one fixed value (the column mean,
or a hole's conditional expectation) meets in training only inputs that are
smoother than complete rows, and fits those particular values: on digits
(8 codes, 20% missing) its codes of complete held-out rows reconstruct them
1.41x worse (relative to PCA) than a fit on the complete rows, and more so
the longer it trains. Here each hole of a training input is instead drawn
from its distribution given the row's observed entries under a Gaussian
fitted by EM to the observed entries (:func:`skae._gaussian.fit_gaussian`,
ridge :data:`RIDGE`), afresh for every copy of the rows (:data:`COPIES` for
L-BFGS's fixed objective) and every Adam minibatch: the inputs are then
distributed as complete rows (as far as a Gaussian describes them), and no
hole's value is seen twice (digits: 1.22x; breast_cancer, 4 codes: 1.13x
with the means, 0.99x with the draws). The loss still counts observed
entries only; the held-out rows of early stopping read each hole's
conditional expectation (:meth:`ConditionalDraws.expected`).

Applies to ``fit`` in memory only (:mod:`skae._missing` says where not).
Pure numpy over :mod:`skae._gaussian`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from skae._gaussian import Gaussian, fit_gaussian
from skae._noise import NoiseSpec

#: The Gaussian's ridge, a fraction of the mean column variance (digits at
#: 20% missing, 4 copies: 1.18x with 0.1 and 0.3, 1.20x with 0.01; 8 copies,
#: the means of seeds 0-2: 1.21x with 0.1, 1.17x with 0.3, 1.16x with 1.0,
#: 1.21x with 3.0, 1.28x with independent draws of each column's marginal;
#: but with 1.0 breast_cancer 0.99x-1.03x and wine 1.04x, against 0.98x-1.02x
#: and 1.03x-1.04x with 0.1: kept at 0.1).
RIDGE = 0.1
#: Copies of the rows, each with its own draws, in an L-BFGS objective
#: (digits at 20% missing, seed 0: 1 copy 1.39x, 4 copies 1.18x-1.26x, 8
#: copies 1.14x-1.22x, 16 copies 1.19x; ranges over three series of draws;
#: the means of seeds 0-2: 4 copies 1.24x, 8 copies 1.21x).
COPIES = 8
#: Bytes of the largest temporary of a block of rows drawn at once.
_BLOCK_BYTES = 32 * 2**20


def draw_missing(model: Gaussian, X: np.ndarray, rng) -> np.ndarray:
    """``X`` with each NaN replaced by a draw from its conditional
    distribution given the row's observed entries under ``model``: mean
    ``mu_m - P_mm^-1 P_mo (x_o - mu_o)``, covariance ``P_mm^-1`` (``P`` the
    precision); a new array in ``X``'s dtype, the draws from ``rng``.

    Rows are taken in order of their hole counts, a block of rows at a time;
    each row's ``m`` holes are padded to the block's largest count ``K`` with
    a dummy feature of unit precision and no coupling, so that one batched
    Cholesky factorisation and one solve of ``K x K`` systems (two
    right-hand sides) serve the whole block (the padding's draws are thrown
    away). ``P_mo
    (x_o - mu_o)`` is read off ``(x - mu) P`` with the holes at 0."""
    out = np.array(X, dtype=np.float64, copy=True)
    missing = np.isnan(out)
    counts = missing.sum(axis=1)
    rows = np.flatnonzero(counts)
    if rows.size == 0:
        return out.astype(X.dtype, copy=False)
    rows = rows[np.argsort(counts[rows], kind="stable")]
    mu, P = model.mean, model.precision
    d = out.shape[1]
    P_ext = np.zeros((d + 1, d + 1))
    P_ext[:d, :d] = P  # the dummy feature d: no coupling (its 1 added below)
    mu_ext = np.append(mu, 0.0)
    start = 0
    while start < rows.size:
        K = int(counts[rows[min(start + 255, rows.size - 1)]])
        step = max(1, min(256, _BLOCK_BYTES // (16 * K * K)))
        block = rows[start : start + step]
        start += block.size
        K = int(counts[block[-1]])  # the largest count of the block
        hole = missing[block]
        centred = np.where(hole, 0.0, out[block] - mu)
        # each row's hole columns first (in column order), then padding
        m = np.argsort(~hole, axis=1, kind="stable")[:, :K]
        m[np.arange(K) >= counts[block][:, None]] = d
        b = np.take_along_axis(np.append(centred @ P, 0 * centred[:, :1], 1), m, 1)
        P_mm = P_ext[m[:, :, None], m[:, None, :]]
        P_mm[:, np.arange(K), np.arange(K)] += m == d  # unit precision
        # P_mm = L L^T, covariance L^-T L^-1: the spread L^-T z is P_mm^-1 L z,
        # so that one solve with two right-hand sides gives shift and spread
        L = np.linalg.cholesky(P_mm)
        z = rng.standard_normal((block.size, K, 1))
        rhs = np.concatenate([b[:, :, None], L @ z], axis=2)
        both = np.linalg.solve(P_mm, rhs)
        values = mu_ext[m] - both[:, :, 0] + both[:, :, 1]
        wide = np.append(out[block], np.zeros((block.size, 1)), axis=1)
        np.put_along_axis(wide, m, values, axis=1)
        out[block] = wide[:, :d]
    return out.astype(X.dtype, copy=False)


class ConditionalDraws:
    """``draws(X)``: :func:`draw_missing` under ``model``, from this fill's
    own generator (seeded by the fit's), so that every call draws afresh;
    ``expected(X)``: the holes at their conditional expectations."""

    def __init__(self, model: Gaussian, seed: int):
        self.model = model
        self.rng = np.random.RandomState(seed)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return draw_missing(self.model, X, self.rng)

    def expected(self, X: np.ndarray) -> np.ndarray:
        return self.model.fill(X).astype(X.dtype, copy=False)


def conditional_draws(X: np.ndarray, sample_weight, rng) -> ConditionalDraws:
    """The draws of the holes of ``X`` (dense, with NaN; every row and column
    has an observed entry) under the Gaussian of its observed entries,
    weighted by ``sample_weight``; one seed drawn from ``rng``."""
    model = fit_gaussian(X, RIDGE, sample_weight)
    return ConditionalDraws(model, rng.randint(np.iinfo(np.int32).max))


def with_draws(noise: NoiseSpec | None, draws, lbfgs: bool) -> NoiseSpec:
    """The noise of a fit whose holes ``draws`` fills before any corruption:
    the fit's own noise (none: masking at level 0, which corrupts nothing)
    with at least :data:`COPIES` copies for an L-BFGS objective."""
    copies = COPIES if lbfgs else 1
    if noise is None:
        return NoiseSpec("masking", 0.0, copies, holes=draws)
    copies = max(copies, noise.n_corruptions)
    return dataclasses.replace(noise, n_corruptions=copies, holes=draws)
