"""Minibatch Adam's per-batch objective, with nothing allocated per batch.

:class:`BatchGradient` evaluates :func:`skae._network.loss_grad`'s objective on
one minibatch from preallocated buffers, on the pieces of the row-parallel
kernel (:mod:`skae._kernel`); the Adam step itself is
:func:`skae._adam.adam_step`. Imports only the numerical core and the kernel.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

from skae._kernel import BlasOneThread, _as_rows, _row_parts
from skae._network import (
    Architecture,
    Workspace,
    _sq_norm,
    backprop,
)
from skae._terms import total_weight, weighted_target


class BatchGradient:
    """``(theta, rows) -> (loss, grad)`` of the objective on a minibatch.

    The per-batch work of minibatch Adam with nothing allocated per batch:
    the rows are gathered into a preallocated buffer (the only copy), the
    passes run on preallocated Workspaces (made once per batch height, so a
    shorter last batch costs one more), and the gradient is written into one
    preallocated vector in ``theta``'s dtype (returned; overwritten by the
    next call). A ``theta`` in ``dtype`` is read in place, not copied
    (:meth:`skae._network.Workspace.load`): Adam in the data's dtype
    (:mod:`skae._adam`) costs no copy of the parameters or the gradient. The
    objective is :func:`skae._network.loss_grad`'s on the batch (weight decay
    ``alpha / (2 b)``, sparsity at the batch's mean code), equal to it up to
    rounding. :meth:`evaluate` takes rows someone else gathered (``X`` and
    ``target`` may then be None): what the fit's ``batch_objective`` calls.

    With ``n_threads > 1`` the batch's rows are split into that many parts
    evaluated on a thread pool (BLAS held at one thread; a batch's products are
    too small for BLAS's own threads, which spin-wait on a loaded machine:
    measured 50x slower), the parts' gradients added in part order. A
    sparsity penalty needs the batch's mean code before the backward pass, so
    it evaluates the batch in one part.

    Sample weights ``s`` (and NaN in the target, dense only: missing entries,
    :func:`skae._terms.weighted_target`) weigh the batch's squared errors as in
    :func:`skae._network.loss_grad`, but the batch's objective is divided by
    its *expected* total weight ``b * s_bar`` (``s_bar``, ``mean_weight``, the
    mean of ``s`` over the training rows), not by its own::

        [0.5 sum_(i in batch) s_i e_i + 0.5 alpha ||W||^2 + S_b beta KL] / (b s_bar)

    with ``S_b`` the batch's total weight and ``KL`` at its ``s``-weighted mean
    code. A batch covering every row is then exactly the full objective (an
    integer weight is the repeated row); over a shuffled epoch a minibatch's
    data-term gradient is an unbiased estimate of the full one, and a batch of
    small total weight takes a small step rather than a rescaled one.
    """

    def __init__(
        self,
        arch: Architecture,
        X,
        target,
        dtype,
        batch_size: int,
        alpha: float = 0.0,
        sparsity_weight: float = 0.0,
        sparsity_target: float = 0.05,
        n_threads: int = 1,
        sample_weight=None,
        mean_weight: float | None = None,
    ) -> None:
        self.arch, self.dtype = arch, np.dtype(dtype)
        self.sample_weight = None
        if sample_weight is not None:
            self.sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if mean_weight is None:  # the stored rows' (1 without weights)
            s = self.sample_weight
            mean_weight = 1.0 if s is None else float(s.mean())
        self.mean_weight = float(mean_weight)
        self.X = None if X is None else _as_rows(X, self.dtype)
        same = target is X
        self.target = self.X if same or target is None else _as_rows(target, dtype)
        self.alpha = alpha
        self.sparsity_weight, self.sparsity_target = sparsity_weight, sparsity_target
        self.batch_size = int(batch_size)
        self.n_threads = 1 if sparsity_weight > 0 else max(1, int(n_threads))
        self._ws = {}  # (part, rows) -> Workspace
        self._xbuf = self._buffer(self.X, arch.sizes[0])
        self._tbuf = None if same else self._buffer(self.target, arch.sizes[-1])
        self._vectors = {}  # dtype -> (gradient, scratch)
        self.pool = (
            ThreadPoolExecutor(self.n_threads - 1, thread_name_prefix="skae-batch")
            if self.n_threads > 1
            else None
        )

    def _buffers(self, dtype) -> tuple[np.ndarray, np.ndarray]:
        """The gradient vector and a scratch vector in ``dtype``, made once."""
        pair = self._vectors.get(dtype)
        if pair is None:
            n = self.arch.n_params
            pair = self._vectors[dtype] = (np.empty(n, dtype), np.empty(n, dtype))
        return pair

    def _buffer(self, A, width):
        if A is None or sp.issparse(A):
            return None
        return np.empty((self.batch_size, width), self.dtype)

    def _gather(self, A, buf, rows):
        if buf is None or len(rows) > buf.shape[0]:
            return A[rows]
        out = buf[: len(rows)]
        np.take(A, rows, axis=0, out=out)
        return out

    def _part(self, i, xb, tb, wb, theta, scale):
        n = xb.shape[0]
        ws = self._ws.get((i, n))
        if ws is None:
            ws = self._ws[(i, n)] = Workspace(self.arch, n, self.dtype)
        ws.load(theta)
        beta, rho = self.sparsity_weight, self.sparsity_target
        sse, kl = backprop(xb, tb, ws, beta, rho, None, wb)
        ws.grad *= scale
        return sse, kl, ws

    def __call__(self, theta: np.ndarray, rows: np.ndarray) -> tuple[float, np.ndarray]:
        xb = self._gather(self.X, self._xbuf, rows)
        if self.target is self.X:
            tb = xb
        else:
            tb = self._gather(self.target, self._tbuf, rows)
        sw = None if self.sample_weight is None else self.sample_weight[rows]
        return self.evaluate(theta, xb, tb, sw)

    def evaluate(
        self, theta: np.ndarray, xb, tb, sample_weight=None
    ) -> tuple[float, np.ndarray]:
        """``(loss, grad)`` on the batch ``(xb, tb)`` (in ``dtype``), its rows
        weighted by ``sample_weight`` (class docstring)."""
        b = xb.shape[0]
        m = b * self.mean_weight  # the batch's expected total weight
        scale = 1.0 / m
        grad, tmp = self._buffers(theta.dtype)
        tb, wts = weighted_target(tb, sample_weight, self.dtype)
        if self.pool is None or b < 2 * self.n_threads:
            sse, kl, ws = self._part(0, xb, tb, wts, theta, scale)
            if grad.dtype == ws.grad.dtype:
                grad = ws.grad  # scaled in place: no copy
            else:
                np.copyto(grad, ws.grad)
        else:
            parts = _row_parts(b, self.n_threads)
            with BlasOneThread():
                futures = [
                    self.pool.submit(
                        self._part, i, xb[p:q], tb[p:q], _rows(wts, p, q), theta, scale
                    )
                    for i, (p, q) in enumerate(parts)
                    if i > 0
                ]
                p, q = parts[0]
                results = [
                    self._part(0, xb[p:q], tb[p:q], _rows(wts, p, q), theta, scale)
                ]
                results += [f.result() for f in futures]
            # each part scaled its gradient on its own thread; the sum, in part
            # order, is the only pass over the vector left here
            sse, kl = 0.0, 0.0
            for i, (s, _, ws) in enumerate(results):
                sse += s
                if i == 1:
                    np.add(results[0][2].grad, ws.grad, out=grad, dtype=grad.dtype)
                elif i > 1:
                    np.add(grad, ws.grad, out=grad, dtype=grad.dtype)
        loss = 0.5 * sse
        if self.alpha > 0:
            nw = self.arch.n_decayed
            w = ws.theta[:nw]
            loss += 0.5 * self.alpha * _sq_norm(w)
            decay = tmp[:nw]
            np.multiply(w, self.alpha / m, out=decay)
            grad[:nw] += decay
        S_b = total_weight(wts, b, self.arch.sizes[-1])
        return loss / m + self.sparsity_weight * kl * (S_b / m), grad

    def close(self) -> None:
        """Stop the thread pool (also done when the object is collected)."""
        if self.pool is not None:
            self.pool.shutdown(wait=False)
            self.pool = None

    def __del__(self):
        self.close()


def _rows(w, p: int, q: int):
    """Rows ``p:q`` of the batch's weights (None stays None)."""
    return None if w is None else w[p:q]


def gather_rows(A, idx, bufs: dict, key: str, rows: int):
    """Rows ``idx`` of a block: a dense block's gathered into ``bufs[key]``
    (``rows`` high, made on first use and reused by every later batch)."""
    if not isinstance(A, np.ndarray):
        return A[idx]
    buf = bufs.get(key)
    if buf is None or buf.shape[1:] != A.shape[1:] or buf.dtype != A.dtype:
        buf = bufs[key] = np.empty((rows, *A.shape[1:]), A.dtype)
    out = buf[: len(idx)]
    np.take(A, idx, axis=0, out=out)
    return out


#: The most entries (rows x columns) a run of minibatches corrupts in one
#: call (:func:`adam_epochs`): 2 MiB of float64.
RUN_FLOATS = 2**18


def adam_epochs(data, hyper):
    """``epoch(rng)`` of :func:`skae._adam.minimize_adam`: batches
    ``(X_in, target, sample_weight)`` of ``hyper.batch_rows`` rows of each
    of ``data``'s blocks, in a fresh permutation. The noise corrupts a run
    of consecutive batches (up to :data:`RUN_FLOATS` entries) in one call,
    not batch by batch: the same distribution, and a conditional fill of
    masked entries (:mod:`skae._imputation`) solves once per run; with
    ``n_corruptions > 1`` (each batch its copies) a run is one batch."""
    rows = hyper.batch_rows(data.n_rows)
    noise = hyper.noise
    low = high = None
    if noise is not None and noise.kind == "salt_and_pepper":
        low, high = data.column_range()

    def epoch(rng):
        bufs = {}  # dense rows are gathered into them: a run lives until the next
        for X_in, T, s in data.blocks():
            per_run = rows
            if noise is not None and noise.n_corruptions == 1:
                per_run *= max(1, RUN_FLOATS // (rows * max(1, T.shape[1])))
            perm = rng.permutation(T.shape[0])
            for run in gen_batches(T.shape[0], per_run):
                idx = perm[run]
                Tr = gather_rows(T, idx, bufs, "target", per_run)
                Xr = Tr if X_in is T else gather_rows(X_in, idx, bufs, "input", per_run)
                if noise is not None:
                    Xr = noise.pair(Xr, rng, low, high, Tr)[0]
                if per_run == rows:  # one batch (its input perhaps in copies)
                    yield len(idx), (Xr, Tr, None if s is None else s[idx])
                    continue
                for b in gen_batches(len(idx), rows):
                    sb = None if s is None else s[idx[b]]
                    yield b.stop - b.start, (Xr[b], Tr[b], sb)

    return epoch
