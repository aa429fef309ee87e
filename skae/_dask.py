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

Sample weights are a dask vector chunked like the rows: each task gets its
chunk of them. Lost workers: every task (:mod:`skae._chunks`) is a pure
function of its chunks and of values drawn on the client, and the reductions
have a fixed shape, so the scheduler recomputes what a lost worker held and
the fit completes with the undisturbed result; when the data cannot be
recomputed, the error propagates and the estimator stays unfitted.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from skae._chunks import (  # noqa: F401 (chunk_seeds: re-exported)
    chunk_seeds,
    code_sum,
    column_means,
    column_sums,
    corrupt,
    reduce,
    row_errors,
    sse,
)
from skae._chunks import loss_grad as chunk_loss_grad
from skae._inference import working_memory_bytes
from skae._memory import TrainingRows
from skae._network import _sq_norm, kl_sparsity, predict
from skae._pca import moments, tree_sum
from skae._terms import check_split_weights


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


# ------------------------------------------------------------------ objective


class ChunkedObjective:
    """``theta -> (J, grad J)`` over row-chunked dask arrays ``X_in``, ``target``.

    The same objective as :func:`skae._network.loss_grad` on the concatenated
    chunks (to floating-point summation order), evaluated by map-reduce with
    whatever dask scheduler is active; ``sample_weight`` is a dask vector
    chunked like ``target``'s rows (None: unweighted), whose total is computed
    once, here.
    """

    def __init__(self, X_in, target, arch, beta=0.0, *, alpha, rho, sample_weight=None):
        self.x_blocks = list(X_in.to_delayed().ravel())
        self.t_blocks = (
            self.x_blocks if target is X_in else list(target.to_delayed().ravel())
        )
        self.w_blocks = [None] * len(self.t_blocks)
        self.m = self.total = X_in.shape[0]
        if sample_weight is not None:
            self.w_blocks = list(sample_weight.to_delayed().ravel())
            reps = X_in.shape[0] // target.shape[0]  # copies of each target row
            self.total = reps * float(sample_weight.sum().compute())
        self.arch, self.dtype = arch, np.dtype(X_in.dtype)
        self.alpha, self.beta, self.rho = alpha, beta, rho
        self.budget = working_memory_bytes()

    def __call__(self, theta):
        import dask

        arch, dtype, total, budget = self.arch, self.dtype, self.total, self.budget
        theta = np.array(theta, dtype=np.float64)
        theta_d = dask.delayed(theta)
        blocks = list(zip(self.x_blocks, self.t_blocks, self.w_blocks))
        kl, code_mean = 0.0, None
        if self.beta > 0:
            task = dask.delayed(code_sum)
            sums = reduce(
                [task(xb, wb, theta_d, arch, dtype, budget) for xb, _, wb in blocks]
            )
            code_mean = sums / total
            kl, _ = kl_sparsity(code_mean, self.rho)
            code_mean = dask.delayed(code_mean)
        task = dask.delayed(chunk_loss_grad)
        penalty = (self.beta, self.rho, code_mean, budget)
        sse, grad = reduce(
            [task(xb, tb, wb, theta_d, arch, dtype, *penalty) for xb, tb, wb in blocks]
        )
        nw = arch.n_decayed
        loss = 0.5 * sse
        if self.alpha > 0:
            w = theta[:nw].astype(dtype).astype(np.float64)
            loss += 0.5 * self.alpha * _sq_norm(w)
            grad[:nw] += self.alpha * w
        grad *= 1.0 / total
        return loss / total + self.beta * kl, grad


class ChunkedSquaredError:
    """``theta -> mean_i ||x_i - x_hat_i||^2`` over row-chunked dask arrays
    (the held-out loss of early stopping), by map-reduce: a mean weighted by
    ``sample_weight``, of errors over the observed entries of ``target``."""

    def __init__(self, X_in, target, arch, sample_weight=None):
        self.x_blocks = list(X_in.to_delayed().ravel())
        self.t_blocks = [None] * len(self.x_blocks)
        if target is not X_in:
            self.t_blocks = list(target.to_delayed().ravel())
        self.w_blocks, self.n = [None] * len(self.x_blocks), X_in.shape[0]
        if sample_weight is not None:
            self.w_blocks = list(sample_weight.to_delayed().ravel())
            self.n = float(sample_weight.sum().compute())
        self.arch, self.dtype = arch, np.dtype(X_in.dtype)
        self.budget = working_memory_bytes()

    def __call__(self, theta):
        import dask

        theta_d = dask.delayed(np.array(theta, dtype=np.float64))
        args = (theta_d, self.arch, self.dtype, self.budget)
        blocks = zip(self.x_blocks, self.t_blocks, self.w_blocks)
        parts = [dask.delayed(sse)(xb, tb, wb, *args) for xb, tb, wb in blocks]
        return reduce(parts) / self.n


# -------------------------------------------------------------------- backend


class DaskData(TrainingRows):
    """Training rows in the row chunks of a dask array (module docstring);
    ``sample_weight`` is a dask vector chunked like the rows, or None."""

    def __init__(self, X, target=None, *, persist=False, mean=None, sample_weight=None):
        super().__init__(X, target, sample_weight)
        self.persist = persist
        self._mean = mean

    def _kept(self, A):
        return A.persist() if self.persist else A

    def split(self, held_out: np.ndarray):
        """``(train, validation)``: each chunk keeps its own rows, in order."""
        import dask.array as da

        def cut(A, val):
            parts, start = [], 0
            for i, size in enumerate(A.chunks[0]):
                rows = np.flatnonzero(held_out[start : start + size] == val)
                start += size
                if len(rows):  # one chunk of this chunk's rows, in order
                    parts.append(A.blocks[i][rows])
            return self._kept(da.concatenate(parts, axis=0))

        out, w = [], self.sample_weight
        for val in (False, True):
            T = cut(self.target, val)
            X_in = T if self.X_in is self.target else cut(self.X_in, val)
            part_w = None if w is None else cut(w, val)
            out.append(DaskData(X_in, T, persist=self.persist, sample_weight=part_w))
        if w is not None:
            check_split_weights(*(float(p.sample_weight.sum().compute()) for p in out))
        return tuple(out)

    def corrupted(self, noise, rng) -> DaskData:
        """Each chunk corrupted by its own generator, seeded from ``rng``."""
        X = self.X_in  # the filled input when the target has NaN
        low = high = None
        if noise.kind == "salt_and_pepper":
            low, high = self.column_range()
        k = noise.n_corruptions
        seeds = chunk_seeds(rng, X.numblocks[0])
        chunks = (tuple(k * c for c in X.chunks[0]), X.chunks[1])
        meta = np.empty((0, 0), X.dtype)
        kernel = partial(corrupt, seeds=seeds, noise=noise, low=low, high=high)
        X_in = self._kept(X.map_blocks(kernel, chunks=chunks, dtype=X.dtype, meta=meta))
        # each clean chunk stands for its k corrupted copies, never tiled
        kw = dict(
            persist=self.persist, mean=self._mean, sample_weight=self.sample_weight
        )
        return DaskData(X_in, self.target, **kw)

    def objective(self, arch, *, alpha, beta, rho):
        kw = dict(alpha=alpha, beta=beta, rho=rho, sample_weight=self.sample_weight)
        return ChunkedObjective(self.X_in, self.target, arch, **kw)

    def mean_sq_error(self, arch):
        return ChunkedSquaredError(self.X_in, self.target, arch, self.sample_weight)

    def row_errors(self, arch):
        """``theta -> ||x_i - x_hat_i||^2`` of each row (without the sample
        weights), gathered chunk by chunk (the cross-validated choice, on
        small data only)."""
        import dask

        x_blocks, dtype = self.X_in.to_delayed().ravel(), self.X_in.dtype
        t_blocks = [None] * len(x_blocks)
        if self.target is not self.X_in:
            t_blocks = self.target.to_delayed().ravel()
        kernel, budget = dask.delayed(row_errors), working_memory_bytes()

        def errors(theta):
            theta_d = dask.delayed(np.array(theta, dtype=np.float64))
            blocks = zip(x_blocks, t_blocks)
            parts = [kernel(x, t, theta_d, arch, dtype, budget) for x, t in blocks]
            return np.concatenate(dask.compute(*parts))

        return errors

    def weight_mean(self) -> float:
        w = self.sample_weight
        return 1.0 if w is None else float(w.mean().compute())

    def weights_in_memory(self):
        w = self.sample_weight
        return None if w is None else np.asarray(w.compute())

    def moments(self):
        """The :class:`~skae._pca.Moments` of the clean rows, summed chunk by
        chunk on the client as in memory: a worker's BLAS may round the Gram
        matrix differently, which Adam from the PCA start amplifies past 1e-9."""
        return tree_sum([moments(T, s) for _, T, s in self.blocks(inputs=False)])

    def column_mean(self) -> np.ndarray:
        if self._mean is None:
            self._mean = column_means(self.target, self.sample_weight)
        return self._mean

    def column_range(self):
        """Per-feature ``(minimum, maximum)`` of the clean rows of positive
        weight (NaN ignored)."""
        import dask
        import dask.array as da

        X, w = self.target, self.sample_weight
        if w is not None:
            X = da.where((w > 0)[:, None], X, np.nan)
        return dask.compute(da.nanmin(X, axis=0), da.nanmax(X, axis=0))

    def _weights_for(self, A):
        """The sample weights of the rows of ``A``: codes of the clean rows
        or of their chunk-wise copies (a denoising pair)."""
        w = self.sample_weight
        if w is None or A.shape[0] == w.shape[0]:
            return w
        k = A.shape[0] // w.shape[0]
        chunks = (tuple(k * c for c in w.chunks[0]),)
        return w.map_blocks(np.tile, k, chunks=chunks, dtype=w.dtype)

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

        def make_objective(inputs, targets, stage, beta):
            sw = self._weights_for(targets)
            return ChunkedObjective(
                inputs, targets, stage, beta, alpha=alpha, rho=rho, sample_weight=sw
            )

        def column_mean(A):
            if self.sample_weight is None:
                return np.asarray(A.mean(axis=0).compute())
            return column_means(A, self._weights_for(A))

        return dict(
            make_objective=make_objective, encode=encode, column_mean=column_mean
        )

    def blocks(self, inputs=True):
        """``(X_in, target, sample_weight)`` of the clean rows, one chunk at a
        time, computed on the client, in aligned memory (a chunk received from
        a worker may start at any byte, where BLAS rounds differently than on
        the same rows in memory); ``X_in`` is None unless ``inputs``."""
        t_blocks = self.target.to_delayed().ravel()
        x_blocks = t_blocks
        if self.X_in is not self.target:
            x_blocks = self.X_in.to_delayed().ravel()
        w = self.sample_weight
        w_blocks = [None] * len(t_blocks) if w is None else w.to_delayed().ravel()
        for xb, tb, wb in zip(x_blocks, t_blocks, w_blocks):
            T = np.require(tb.compute(), requirements=["C", "A"])
            X_in = None
            if inputs:
                X_in = (
                    T if xb is tb else np.require(xb.compute(), requirements=["C", "A"])
                )
            yield X_in, T, None if wb is None else np.asarray(wb.compute())
