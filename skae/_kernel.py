"""Row-parallel, cache-blocked evaluation of the objective, and a fused Adam step.

The objective of :mod:`skae._network` is a sum over rows, so its forward and
backward passes split by rows. :class:`BlockedObjective` is a drop-in for
:func:`skae._network.loss_grad` with a whole-data
:class:`~skae._network.Workspace`:

* the rows are cut into ``n_threads`` contiguous parts (static, so the work a
  thread does never depends on timing), each part into blocks of at most
  ``block_rows`` rows, small enough that a block's layer outputs stay in a
  core's cache while the element-wise work (activations, derivatives, the
  residual, bias adds) runs over them;
* each thread owns one block-sized Workspace and evaluates its blocks in
  order with :func:`skae._network.backprop`, adding each block's ``(sse,
  gradient)`` into its own float64 accumulator; numpy's ufuncs and BLAS
  release the GIL, so the threads run on separate cores;
* the parts' sums are then added in part order: for a given ``n_threads``
  (and ``block_rows``) every evaluation performs exactly the same floating-
  point operations in the same order, so a fit is bit-identical run to run;
* while the threads run, BLAS is held at one thread (its products on a block
  are too small to share, and OpenBLAS's own pool would oversubscribe the
  cores); the limit is process-wide, so it is set on entry and restored on
  exit of each evaluation;
* with a sparsity penalty a first parallel pass sums the code activations
  (the KL term needs the mean code over *all* rows, as in ``loss_grad``),
  exactly as the dask backend does with ``code_mean``.

:func:`block_loss_grad` is the per-part block loop on its own: what a dask
chunk task calls (``skae._dask._chunk_loss_grad``), so that in memory and on
dask one kernel evaluates the rows.

:func:`use_blocked` chooses between the blocked objective and one whole-data
evaluation with BLAS's own threads, by rules measured on the benchmark shapes
(see its docstring); :func:`available_threads` is how many threads it may use.
:class:`skae._minibatch.BatchGradient` builds minibatch Adam's per-batch
objective on the same pieces.

Imports only the numerical core.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from skae._network import (
    Architecture,
    Workspace,
    _sq_norm,
    backprop,
    forward,
    kl_sparsity,
    skip_terms,
    unpack,
    unpack_skips,
)
from skae._terms import row_weights, total_weight, weighted_target

#: Target bytes of one block's workspace (layer outputs plus scratch): about
#: half of a core's L2 (1 MiB on the machine measured), leaving room for the
#: block's input rows and the weights.
BLOCK_BYTES = 512 * 2**10
#: Bounds on the rows of a block. Below about 256 rows the Python overhead of
#: a backprop call (about 40 numpy calls) and BLAS's efficiency on short
#: products cost more than the cache saves (measured: narrow table and digits
#: equally fast from 256 to 1024 rows, 128 rows 10% slower); above 4096
#: nothing is gained.
MIN_BLOCK_ROWS, MAX_BLOCK_ROWS = 256, 4096
#: Products-to-elements ratio (:func:`intensity`) above which an evaluation is
#: dominated by matrix products: blocks then need at least
#: ``PRODUCT_BLOCK_ROWS`` rows to keep BLAS efficient (784-256-32 float32 at
#: one thread: 64 rows 1.42x, 256 rows 1.15x, 1024 rows 1.0x the whole-data
#: time), and the cache matters less.
FLOPS_PER_ELEMENT_MAX = 64.0
PRODUCT_BLOCK_ROWS = 1024


def intensity(arch: Architecture) -> float:
    """Multiply-adds of the matrix products per layer-output element (per row,
    so independent of the row count): narrow table 12, digits 56, 784-wide
    data with h=256, k=32 about 315."""
    sizes = arch.sizes
    products = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return products / sum(sizes[1:])


def block_rows_for(arch: Architecture, dtype) -> int:
    """Rows per block: a workspace of about ``BLOCK_BYTES``, within the bounds
    above (at least ``PRODUCT_BLOCK_ROWS`` on product-dominated shapes)."""
    row_bytes = (sum(arch.sizes[1:]) + max(arch.sizes[1:])) * np.dtype(dtype).itemsize
    rows = max(MIN_BLOCK_ROWS, BLOCK_BYTES // row_bytes)
    if intensity(arch) > FLOPS_PER_ELEMENT_MAX:
        rows = max(rows, PRODUCT_BLOCK_ROWS)
    return int(min(MAX_BLOCK_ROWS, rows))


def _row_parts(n: int, n_parts: int) -> list[tuple[int, int]]:
    """``n_parts`` contiguous, nearly equal row ranges covering ``range(n)``."""
    bounds = [(n * i) // n_parts for i in range(n_parts + 1)]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _pairs(X, T, start: int, stop: int, rows: int, W=None):
    """``(X block, target block, weights block)`` over rows ``start:stop`` of
    ``X``, ``rows`` at a time. A target of ``n`` rows shorter than ``X`` (and its
    weights ``W``, None or per target row) stands for each of its copies in
    ``X`` (row ``i + r * n`` against row ``i``, :func:`skae._noise.corrupt`):
    blocks are cut at copy boundaries and it is indexed, never tiled."""
    m, n = X.shape[0], T.shape[0]
    if n and m % n:
        raise ValueError(f"{m} input rows do not repeat {n} target rows.")
    a = start
    while a < stop:
        end = min(a + rows, stop, (a // n + 1) * n)
        t = slice(a % n, a % n + end - a)
        yield X[a:end], T[t], None if W is None else W[t]
        a = end


def _blocks_loss_grad(
    pairs, theta, arch, dtype, beta, rho, code_mean, ws, spare, grad
) -> float:
    """Add into ``grad`` the blocks' gradients, in order; return their sse.

    ``pairs`` are ``(X, target, weights)`` blocks; blocks of ``ws``'s row
    count use ``ws``, a shorter (last) block ``spare[0]`` (made on demand)."""
    sse = 0.0
    for Xb, Tb, Wb in pairs:
        size = Xb.shape[0]
        w = ws
        if size != ws.ones.shape[0]:
            if spare[0] is None or spare[0].ones.shape[0] != size:
                spare[0] = Workspace(arch, size, dtype)
            w = spare[0]
        np.copyto(w.theta, theta, casting="same_kind")
        s, _ = backprop(Xb, Tb, w, beta, rho, code_mean, Wb)
        sse += s
        grad += w.grad
    return sse


def block_loss_grad(
    X,
    target,
    theta: np.ndarray,
    arch: Architecture,
    dtype,
    sparsity_weight: float = 0.0,
    sparsity_target: float = 0.05,
    code_mean: np.ndarray | None = None,
    block_rows: int | None = None,
    sample_weight=None,
) -> tuple[float, np.ndarray]:
    """``(sse, gradient of 0.5 * sse + S * beta * KL)`` of the rows of ``X``
    (:func:`skae._network.backprop`).

    Evaluated block by block on one Workspace of ``block_rows`` rows, the
    blocks' results added in row order into a float64 gradient: what one dask
    chunk task computes. ``code_mean`` is the mean code over *all* training
    rows, needed with ``sparsity_weight > 0`` (it is computed from the
    block otherwise, as in :func:`skae._network.backprop`). No weight decay, no
    division by the sample count: the caller finishes the objective.
    ``X`` and ``target`` are dense or sparse, converted to ``dtype``;
    ``theta`` is float64. ``target`` may hold NaN (missing entries, dense
    only) and ``sample_weight`` weighs its rows: both become the weights of
    :func:`skae._terms.weighted_target`, derived here, once per call.
    """
    dtype = np.dtype(dtype)
    X = _as_rows(X, dtype)
    target, weights = weighted_target(_as_rows(target, dtype), sample_weight)
    n = X.shape[0]
    grad = np.zeros(arch.n_params)
    if n == 0:
        return 0.0, grad
    rows = min(target.shape[0], block_rows or block_rows_for(arch, dtype))
    # sliced as they are evaluated: a sparse block's copy lives one block long
    pairs = _pairs(X, target, 0, n, rows, weights)
    ws = Workspace(arch, rows, dtype)
    sse = _blocks_loss_grad(
        pairs,
        theta,
        arch,
        dtype,
        sparsity_weight,
        sparsity_target,
        code_mean,
        ws,
        [None],
        grad,
    )
    return sse, grad


def _as_rows(A, dtype):
    """``A`` in ``dtype``: CSR if sparse, else C-contiguous."""
    if sp.issparse(A):
        return sp.csr_matrix(A, dtype=dtype)
    return np.ascontiguousarray(A, dtype=dtype)


def _code_sum(blocks, theta_d: np.ndarray, arch: Architecture) -> np.ndarray:
    """Sum of the code activations (float64) over the rows of ``blocks``, each
    ``(X_block, s_block)``: weighted by the sample weights ``s`` unless None."""
    c = arch.code_layer
    coefs, intercepts = unpack(theta_d, arch)
    skips = skip_terms(unpack_skips(theta_d, arch), arch.n_layers, "encoder")
    total = np.zeros(arch.sizes[c])
    for Xb, sb in blocks:
        A = forward(
            Xb,
            coefs[:c],
            intercepts[:c],
            arch.activations[:c],
            skips=skips,
            keep=False,
        )[-1]
        if sb is None:
            total += A.sum(axis=0, dtype=np.float64)
        else:
            total += np.asarray(sb, np.float64) @ A
    return total


def available_threads() -> int:
    """Threads an evaluation may use: as many as BLAS would use, in
    threadpoolctl's view of the loaded BLAS libraries (OpenBLAS and MKL default
    to the cores available to the process, and honour ``OMP_NUM_THREADS``,
    ``OPENBLAS_NUM_THREADS`` and an enclosing ``threadpoolctl.threadpool_limits``),
    capped by the CPUs the process may run on: 1 on a 1-core machine."""
    from threadpoolctl import threadpool_info

    blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(max(blas, default=cpus), cpus))


class BlasOneThread:
    """Hold every BLAS library at one thread inside ``with`` (process-wide).

    The controller is built once (scanning the loaded libraries costs about a
    millisecond); entering and leaving only calls ``set_num_threads``.
    """

    _libs = None

    def __enter__(self):
        if BlasOneThread._libs is None:
            from threadpoolctl import ThreadpoolController

            ctl = ThreadpoolController()
            BlasOneThread._libs = [
                lib for lib in ctl.lib_controllers if lib.user_api == "blas"
            ]
        self._old = [(lib, lib.num_threads) for lib in BlasOneThread._libs]
        for lib, n in self._old:
            if n != 1:
                lib.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        for lib, n in self._old:
            if n != 1:
                lib.set_num_threads(n)
        return False


class BlockedObjective:
    """``theta -> (J, grad J)``: :func:`skae._network.loss_grad` by row blocks.

    Parameters
    ----------
    arch : Architecture
    X, target : arrays of shape (n_samples, n_features)
        Network input and reconstruction target, dense or sparse; converted
        once to ``dtype`` (C-contiguous, or CSR). ``target`` may hold
        ``n_samples / r`` rows, each standing for its ``r`` copies among the
        rows of ``X`` (copy after copy; indexed, never tiled).
    dtype : float32 or float64
        The dtype the passes run in; ``theta`` and the gradient are float64.
    alpha, sparsity_weight, sparsity_target : float
        As in :func:`skae._network.loss_grad`.
    n_threads : int
        Threads evaluating blocks (1: blocks in sequence on the caller's
        thread). Results are bit-identical from call to call for a given
        ``n_threads`` and ``block_rows``.
    block_rows : int, optional
        Rows per block; default :func:`block_rows_for`.
    limit_blas : bool
        Hold BLAS at one thread during each evaluation (process-wide, restored
        after). Always on with ``n_threads > 1``.
    sample_weight : ndarray of shape (n_target_rows,), optional
        Weights of the target rows (and their copies); with NaN in a dense
        ``target``, :func:`skae._terms.weighted_target`'s weights, derived once.
    """

    def __init__(
        self,
        arch: Architecture,
        X,
        target,
        dtype,
        alpha: float = 0.0,
        sparsity_weight: float = 0.0,
        sparsity_target: float = 0.05,
        n_threads: int = 1,
        block_rows: int | None = None,
        limit_blas: bool = True,
        sample_weight=None,
    ) -> None:
        self.arch, self.dtype = arch, np.dtype(dtype)
        X_d = _as_rows(X, self.dtype)
        T_d = X_d if target is X else _as_rows(target, self.dtype)
        T_d, W = weighted_target(T_d, sample_weight)
        self.m = X_d.shape[0]
        # sum of the weights of every row of X (r copies of each target row)
        d, n_t = arch.sizes[-1], max(1, T_d.shape[0])
        self.total = total_weight(W, T_d.shape[0], d) * (self.m // n_t)
        self.alpha = alpha
        self.sparsity_weight, self.sparsity_target = sparsity_weight, sparsity_target
        self.block_rows = int(block_rows or block_rows_for(arch, dtype))
        parts = _row_parts(self.m, max(1, int(n_threads)))
        self.n_threads = len(parts)
        self.limit_blas = limit_blas or self.n_threads > 1
        rows = min(self.block_rows, max(1, T_d.shape[0]))
        # (X, target, weights) blocks per part, sliced once (copies if sparse)
        self._pairs = [list(_pairs(X_d, T_d, a, b, rows, W)) for a, b in parts]
        self._code_blocks = [
            [(Xb, row_weights(Wb, d)) for Xb, _, Wb in part] for part in self._pairs
        ]
        self._ws = [Workspace(arch, rows, dtype) for _ in parts]
        self._spare = [[None] for _ in parts]
        self._grads = [np.zeros(arch.n_params) for _ in parts]
        self._theta_d = np.empty(arch.n_params, self.dtype)
        self._pool = (
            ThreadPoolExecutor(self.n_threads - 1, thread_name_prefix="skae-block")
            if self.n_threads > 1
            else None
        )

    def _map(self, func):
        """``[func(i) for each part i]``, part 0 on the calling thread."""
        if self._pool is None:
            return [func(i) for i in range(self.n_threads)]
        futures = [self._pool.submit(func, i) for i in range(1, self.n_threads)]
        first = func(0)
        return [first] + [f.result() for f in futures]

    def _code_mean(self) -> np.ndarray:
        def part(i):
            return _code_sum(self._code_blocks[i], self._theta_d, self.arch)

        sums = self._map(part)
        total = sums[0]
        for s in sums[1:]:
            total = total + s
        return (total / self.total).astype(self.dtype)

    def _evaluate(self, theta):
        beta = self.sparsity_weight
        code_mean = self._code_mean() if beta > 0 else None

        def part(i):
            g = self._grads[i]
            g[...] = 0.0
            return _blocks_loss_grad(
                self._pairs[i],
                theta,
                self.arch,
                self.dtype,
                beta,
                self.sparsity_target,
                code_mean,
                self._ws[i],
                self._spare[i],
                g,
            )

        return code_mean, self._map(part)

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        arch, beta = self.arch, self.sparsity_weight
        np.copyto(self._theta_d, theta, casting="same_kind")
        if self.m == 0:
            raise ValueError("no rows to evaluate")
        if self.limit_blas:
            with BlasOneThread():
                code_mean, sses = self._evaluate(theta)
        else:
            code_mean, sses = self._evaluate(theta)
        # parts summed in part order: the same operations every call
        sse = 0.0
        grad = self._grads[0].copy()
        for i, s in enumerate(sses):
            sse += s
            if i > 0:
                grad += self._grads[i]
        kl = 0.0
        if beta > 0:
            kl = kl_sparsity(code_mean, self.sparsity_target)[0]
        loss = 0.5 * sse
        nw = arch.n_decayed
        if self.alpha > 0:
            w = self._theta_d[:nw]
            loss += 0.5 * self.alpha * _sq_norm(w)
            grad[:nw] += self.alpha * w
        grad *= 1.0 / self.total
        return loss / self.total + beta * kl, grad

    def close(self) -> None:
        """Stop the thread pool (also done when the object is collected)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def __del__(self):
        self.close()


# ----------------------------------------------------------- when to block


def use_blocked(arch: Architecture, n_samples: int, dtype, n_threads: int) -> bool:
    """Whether :class:`BlockedObjective` should replace one whole-data
    ``loss_grad`` (BLAS at ``n_threads``): when there are rows for at least two
    blocks per thread.

    Measured (``benchmarks/bench_kernel.py``, interleaved in one process, the
    machine under a load of 9-10 on 2 cores): at one thread the blocked
    evaluation is 2.5x faster than whole-data on the narrow table (20000 x 10,
    h=100) and 1.5x on digits, where the element-wise work dominates and the
    whole-data layers do not fit in cache; on 784-wide data (h=256, k=32),
    where the products dominate, both are equally fast with 1024-row blocks.
    At two threads the blocked evaluation was 1.7-2.3x faster than whole-data
    with BLAS's two threads on 784-wide data, and far ahead on the narrow
    table (BLAS's threads spin-wait on a loaded machine; the blocked threads
    run whole blocks and only meet once per evaluation). It also holds one
    block-sized workspace per thread instead of one of the data's size.
    """
    rows = block_rows_for(arch, dtype)
    return n_samples >= 2 * rows * max(1, n_threads)


# ------------------------------------------------------------- minibatches
