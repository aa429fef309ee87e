"""The dask data backend: rows that live in the row chunks of a dask array.

:class:`DaskData` answers what the fit pipeline (:mod:`skae._fit`) asks of the
data, as :class:`skae._memory.ArrayData` does in memory, from arrays and plain
values, never an estimator. The data never reaches the client (except one
chunk at a time for Adam). Under a ``dask.distributed`` client the (corrupted)
training data is persisted on the workers; otherwise each evaluation
recomputes the chunks, out of core. dask is imported only for a dask array.

L-BFGS by map-reduce, as Spark MLlib's and dask-glm's: L-BFGS-B runs on the
client; each evaluation maps :func:`skae._network.backprop` over the row
chunks (in blocks of bounded memory) and sums ``(sse, gradient)`` by a tree
reduction. A sparsity penalty first sums the code activations (the KL term at
the *global* mean code). Greedy pretraining fits each stage the same way.
Held-out rows are those the in-memory fit holds out, each chunk keeping its
own; held-out losses are map-reduces too. The PCA start's moments are
summed on the client, one chunk at a time, exactly as in memory.

Denoising (L-BFGS): chunk ``i`` is corrupted by ``RandomState(seeds[i])``,
the seeds drawn once from ``random_state``, so the noise depends on the seed
and the chunking, never on which worker runs a chunk: the fit equals the
in-memory fit of the per-chunk corrupted data (salt-and-pepper uses the
global extremes). Adam streams the chunks through the client as
:mod:`skae._fit` defines its epochs, so it equals the in-memory Adam fit with
the same row blocks.

Lost workers: every task is a pure function of its chunk and of seeds drawn on
the client, and the reductions have a fixed shape, so the scheduler recomputes
what a lost worker held and the fit completes with the undisturbed result;
when the data cannot be recomputed, the error propagates and the estimator
stays unfitted.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from sklearn.utils import gen_batches

from skae._inference import block_rows, working_memory_bytes
from skae._kernel import _code_sum, block_loss_grad
from skae._memory import TrainingRows
from skae._network import (
    _sq_norm,
    kl_sparsity,
    predict,
    row_sq_errors,
)
from skae._pca import FAN_IN, moments, tree_sum

#: Fan-in of the tree reduction of chunk results (as :func:`skae._pca.tree_sum`).
_SPLIT_EVERY = FAN_IN


def is_dask_collection(X) -> bool:
    """Whether ``X`` is a dask array or dataframe, without importing dask."""
    return type(X).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(
        X, "__dask_graph__"
    )


def as_dask_matrix(X, input_name="X"):
    """A 2-D float32/float64 dask array, one chunk across the columns."""
    import dask.array as da

    if not isinstance(X, da.Array):
        if hasattr(X, "to_dask_array"):  # dask dataframe or series
            X = X.to_dask_array(lengths=True)
        else:
            raise TypeError(f"Expected a dask array, got {type(X).__name__}.")
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D dask array for {input_name}, got {X.ndim} dimensions. "
            "Reshape your data, e.g. with X.reshape(-1, 1)."
        )
    if X.dtype not in (np.float32, np.float64):
        if X.dtype.kind not in "biuf":
            raise ValueError(
                f"{input_name} must hold numbers, got a dask array of dtype {X.dtype}."
            )
        X = X.astype(np.float64)
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


def _on_distributed(X) -> bool:
    import dask

    scheduler = dask.base.get_scheduler(collections=[X])
    owner = getattr(scheduler, "__self__", None)
    return type(owner).__name__ == "Client"


# --------------------------------------------------------------- chunk tasks
# Module-level functions: what the workers run, one call per row chunk.


def _chunk_loss_grad(X_in, target, theta, arch, dtype, beta, rho, code_mean, budget):
    """``(sse, gradient of 0.5 * sse + n * beta * KL)`` of one row chunk: the
    in-memory kernel :func:`skae._kernel.block_loss_grad`, in blocks whose
    workspace fits the ``budget``; each ``target`` row stands for its copies
    in ``X_in`` (a denoising pair, never tiled)."""
    widths = [*arch.sizes[1:], max(arch.sizes[1:])]  # a workspace's row
    rows = block_rows(widths, dtype, budget, target.shape[0])
    return block_loss_grad(
        X_in, target, theta, arch, dtype, beta, rho, code_mean, block_rows=rows
    )


def _chunk_code_sum(X_in, theta, arch, dtype, budget):
    """Sum over the rows of one chunk of the code-layer activations."""
    X_in = np.asarray(X_in, dtype=dtype)
    rows = block_rows(arch.sizes[1 : arch.code_layer + 1], dtype, budget, len(X_in))
    blocks = (X_in[sl] for sl in gen_batches(len(X_in), rows))
    return _code_sum(blocks, np.asarray(theta, dtype=dtype), arch)


def _chunk_row_errors(X, theta, arch, dtype, budget):
    """Squared reconstruction error of each row of one chunk."""
    X = np.asarray(X, dtype=dtype)
    n = X.shape[0]
    out = np.empty(n)
    for sl in gen_batches(n, block_rows(arch.sizes[1:], dtype, budget, n)):
        out[sl] = row_sq_errors(theta, arch, X[sl])
    return out


def _chunk_sse(X, theta, arch, dtype, budget):
    """Sum of squared reconstruction errors of one row chunk."""
    return float(_chunk_row_errors(X, theta, arch, dtype, budget).sum(dtype=np.float64))


def _sum_parts(*parts):
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(_sum_parts(*items) for items in zip(*parts))
    total = first.copy() if isinstance(first, np.ndarray) else first
    for p in parts[1:]:
        total = total + p
    return total


def _corrupt_chunk(block, *, seeds, noise, low, high, block_id):
    rng = np.random.RandomState(seeds[block_id[0]])
    return noise.pair(np.asarray(block), rng, low, high)[0]


def chunk_seeds(rng: np.random.RandomState, n_chunks: int) -> np.ndarray:
    """One noise seed per row chunk, drawn from the fit's generator."""
    return rng.randint(np.iinfo(np.int32).max, size=n_chunks)


def _reduce(parts):
    """Sum delayed chunk results by a tree reduction, on the active scheduler."""
    import dask

    while len(parts) > 1:
        parts = [
            dask.delayed(_sum_parts)(*parts[i : i + _SPLIT_EVERY])
            for i in range(0, len(parts), _SPLIT_EVERY)
        ]
    return dask.compute(parts[0])[0]


# ------------------------------------------------------------------ objective


class ChunkedObjective:
    """``theta -> (J, grad J)`` over row-chunked dask arrays ``X_in``, ``target``.

    The same objective as :func:`skae._network.loss_grad` on the concatenated
    chunks (to floating-point summation order), evaluated by map-reduce with
    whatever dask scheduler is active.
    """

    def __init__(self, X_in, target, arch, beta=0.0, *, alpha, rho):
        self.x_blocks = list(X_in.to_delayed().ravel())
        self.t_blocks = (
            self.x_blocks if target is X_in else list(target.to_delayed().ravel())
        )
        self.m = X_in.shape[0]
        self.arch, self.dtype = arch, np.dtype(X_in.dtype)
        self.alpha, self.beta, self.rho = alpha, beta, rho
        self.budget = working_memory_bytes()

    def __call__(self, theta):
        import dask

        arch, dtype, m, budget = self.arch, self.dtype, self.m, self.budget
        theta = np.array(theta, dtype=np.float64)
        theta_d = dask.delayed(theta)
        kl, code_mean = 0.0, None
        if self.beta > 0:
            sums = _reduce(
                [
                    dask.delayed(_chunk_code_sum)(xb, theta_d, arch, dtype, budget)
                    for xb in self.x_blocks
                ]
            )
            code_mean = sums / m
            kl, _ = kl_sparsity(code_mean, self.rho)
            code_mean = dask.delayed(code_mean)
        sse, grad = _reduce(
            [
                dask.delayed(_chunk_loss_grad)(
                    xb, tb, theta_d, arch, dtype, self.beta, self.rho, code_mean, budget
                )
                for xb, tb in zip(self.x_blocks, self.t_blocks)
            ]
        )
        nw = arch.n_decayed
        loss = 0.5 * sse
        if self.alpha > 0:
            w = theta[:nw].astype(dtype).astype(np.float64)
            loss += 0.5 * self.alpha * _sq_norm(w)
            grad[:nw] += self.alpha * w
        grad *= 1.0 / m
        return loss / m + self.beta * kl, grad


class ChunkedSquaredError:
    """``theta -> mean_i ||x_i - x_hat_i||^2`` over a row-chunked dask array
    (the held-out loss of early stopping), by map-reduce."""

    def __init__(self, X, arch):
        self.blocks = list(X.to_delayed().ravel())
        self.n = X.shape[0]
        self.arch, self.dtype = arch, np.dtype(X.dtype)
        self.budget = working_memory_bytes()

    def __call__(self, theta):
        import dask

        theta_d = dask.delayed(np.array(theta, dtype=np.float64))
        parts = [
            dask.delayed(_chunk_sse)(b, theta_d, self.arch, self.dtype, self.budget)
            for b in self.blocks
        ]
        return _reduce(parts) / self.n


# -------------------------------------------------------------------- backend


class DaskData(TrainingRows):
    """Training rows in the row chunks of a dask array (module docstring)."""

    def __init__(self, X, target=None, *, persist=False, mean=None):
        super().__init__(X, target)
        self.persist = persist
        self._mean = mean

    def _kept(self, A):
        return A.persist() if self.persist else A

    def split(self, held_out: np.ndarray):
        """``(train, validation)``: each chunk keeps its own rows, in order
        (network input and target alike)."""
        import dask.array as da

        arrays = [self.X_in] if self.X_in is self.target else [self.X_in, self.target]
        parts = {(a, v): [] for a in range(len(arrays)) for v in (False, True)}
        start = 0
        for i, size in enumerate(self.target.chunks[0]):
            mask = held_out[start : start + size]
            start += size
            for val in (False, True):
                rows = np.flatnonzero(mask == val)
                if len(rows):  # one chunk of this chunk's rows, in order
                    for a, A in enumerate(arrays):
                        parts[a, val].append(A.blocks[i][rows])
        cat = [
            [
                self._kept(da.concatenate(parts[a, v], axis=0))
                for a in range(len(arrays))
            ]
            for v in (False, True)
        ]
        return tuple(DaskData(*c, persist=self.persist) for c in cat)

    def corrupted(self, noise, rng) -> DaskData:
        """Each chunk of the network input (missing entries filled) corrupted
        by its own generator, seeded from ``rng``; the target kept."""
        X = self.X_in
        low = high = None
        if noise.kind == "salt_and_pepper":
            low, high = self.column_range()
        k = noise.n_corruptions
        seeds = chunk_seeds(rng, X.numblocks[0])
        chunks = (tuple(k * c for c in X.chunks[0]), X.chunks[1])
        meta = np.empty((0, 0), X.dtype)
        kernel = partial(_corrupt_chunk, seeds=seeds, noise=noise, low=low, high=high)
        X_in = self._kept(X.map_blocks(kernel, chunks=chunks, dtype=X.dtype, meta=meta))
        # each clean chunk stands for its k corrupted copies, never tiled
        return DaskData(X_in, self.target, persist=self.persist, mean=self._mean)

    def objective(self, arch, *, alpha, beta, rho):
        return ChunkedObjective(
            self.X_in, self.target, arch, alpha=alpha, beta=beta, rho=rho
        )

    def mean_sq_error(self, arch):
        return ChunkedSquaredError(self.target, arch)

    def row_errors(self, arch):
        """``theta -> ||x_i - x_hat_i||^2`` of each row, gathered chunk by
        chunk (the cross-validated choice, on small data only)."""
        import dask

        blocks, dtype = self.target.to_delayed().ravel(), self.target.dtype
        kernel, budget = dask.delayed(_chunk_row_errors), working_memory_bytes()

        def errors(theta):
            theta_d = dask.delayed(np.array(theta, dtype=np.float64))
            parts = [kernel(b, theta_d, arch, dtype, budget) for b in blocks]
            return np.concatenate(dask.compute(*parts))

        return errors

    def moments(self):
        """The :class:`~skae._pca.Moments` of the clean rows, summed chunk by
        chunk on the client as in memory: a worker's BLAS may round the Gram
        matrix differently, which Adam from the PCA start amplifies past 1e-9."""
        return tree_sum([moments(B) for B in self.blocks()])

    def column_mean(self) -> np.ndarray:
        if self._mean is None:
            import dask.array as da  # of the observed entries (no column is empty)

            self._mean = np.asarray(da.nanmean(self.target, axis=0).compute())
        return self._mean

    def column_range(self):
        import dask
        import dask.array as da

        X = self.target
        return dask.compute(da.nanmin(X, axis=0), da.nanmax(X, axis=0))

    def pretrain_hooks(self, *, alpha, rho) -> dict:
        """Each stage fitted by map-reduce L-BFGS, its codes computed (and
        persisted) on the workers."""

        def encode(inputs, coefs, intercepts, activations):
            dtype = inputs.dtype
            kernel = partial(
                predict, coefs=coefs, intercepts=intercepts, activations=activations
            )
            codes = inputs.map_blocks(
                kernel,
                chunks=(inputs.chunks[0], (coefs[-1].shape[1],)),
                dtype=dtype,
                meta=np.empty((0, 0), dtype),
            )
            return self._kept(codes)

        return dict(
            make_objective=partial(ChunkedObjective, alpha=alpha, rho=rho),
            encode=encode,
            column_mean=lambda A: np.asarray(A.mean(axis=0).compute()),
        )

    def blocks(self):
        """The clean rows, one chunk at a time, computed on the client, in
        aligned memory (a chunk received from a worker may start at any byte,
        where BLAS rounds differently than on the same rows in memory)."""
        for block in self.target.to_delayed().ravel():
            yield np.require(block.compute(), requirements=["C", "A"])

    def pairs(self):
        """``(network input, target)`` of each chunk, as :meth:`blocks`."""
        if self.X_in is self.target:
            yield from ((B, B) for B in self.blocks())
            return
        import dask

        for a, b in zip(
            self.X_in.to_delayed().ravel(), self.target.to_delayed().ravel()
        ):
            A, B = dask.compute(a, b)
            yield tuple(np.require(M, requirements=["C", "A"]) for M in (A, B))
