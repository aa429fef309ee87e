"""Autoencoders on dask arrays: map-reduce L-BFGS and lazy inference.

The objective and its gradient are sums over samples, so each row chunk of a
:class:`dask.array.Array` computes its share where it lives and only the
parameter vector (client to workers) and the summed gradient (workers to
client) travel, the pattern of Spark MLlib's and dask-glm's distributed
L-BFGS. scipy's L-BFGS-B runs on the client through
:func:`skae._optimize.minimize_lbfgs`, exactly as for in-memory data:

* every function evaluation maps :func:`skae._network.backprop` over the row
  chunks (each chunk in blocks of bounded memory on a local
  :class:`~skae._network.Workspace`) and sums ``(sse, gradient)`` by a tree
  reduction; the client adds weight decay and divides by the sample count;
* with a sparsity penalty a first map-reduce sums the code activations, so the
  KL term is evaluated at the *global* mean code, as in memory;
* greedy pretraining fits each stage the same way, the next stage's inputs
  computed on the workers;
* early stopping holds out the rows the in-memory fit would (the same draw
  from ``random_state``), each chunk keeping its own; the held-out loss is
  one more map-reduce per iteration;
* denoising: each chunk is corrupted by a ``RandomState`` seeded from one seed
  per chunk, the seeds drawn once from ``random_state``. The noise therefore
  depends on ``random_state`` and on the row chunking, never on which worker
  runs a chunk or in what order. (In memory one generator corrupts all rows in
  sequence, so the same ``random_state`` draws different noise; the dask fit
  equals the in-memory fit of the per-chunk corrupted data.)
  ``"salt_and_pepper"`` uses the global per-feature minimum and maximum.

The data never reaches the client. When a ``dask.distributed`` client is the
active scheduler the (corrupted) training data is persisted on the workers for
the duration of the fit; otherwise chunks are recomputed by each evaluation
(which keeps a single-machine out-of-core fit out-of-core).

dask is imported only when a dask array is actually passed in.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from sklearn.utils import check_random_state, gen_batches

from skae._network import (
    Workspace,
    _sq_norm,
    backprop,
    kl_sparsity,
    predict,
    sq_errors,
    unpack,
)
from skae._noise import corrupt
from skae._optimize import EarlyStopping

#: Upper bound of the per-task workspace (layer outputs and scratch), bytes.
_BLOCK_BYTES = 128 * 2**20
#: Fan-in of the tree reduction of chunk results.
_SPLIT_EVERY = 8


def is_dask_collection(X) -> bool:
    """Whether ``X`` is a dask array or dataframe, without importing dask."""
    return type(X).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(
        X, "__dask_graph__"
    )


def _as_dask_matrix(X, input_name="X"):
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


def _block_rows(arch, dtype, n_rows_max: int) -> int:
    # per row: every layer output plus one scratch row of the widest layer
    row_bytes = (sum(arch.sizes[1:]) + max(arch.sizes[1:])) * np.dtype(dtype).itemsize
    return int(max(1, min(n_rows_max, _BLOCK_BYTES // row_bytes)))


# --------------------------------------------------------------- chunk tasks
# Module-level functions: what the workers run, one call per row chunk.


def _chunk_loss_grad(X_in, target, theta, arch, dtype, beta, rho, code_mean):
    """``(sse, gradient of 0.5 * sse + n * beta * KL)`` of one row chunk."""
    X_in = np.asarray(X_in, dtype=dtype)
    target = np.asarray(target, dtype=dtype)
    n = X_in.shape[0]
    grad = np.zeros(arch.n_params)
    sse = 0.0
    if n == 0:
        return sse, grad
    rows = _block_rows(arch, dtype, n)
    ws = None
    for sl in gen_batches(n, rows):
        if ws is None or ws.ones.shape[0] != sl.stop - sl.start:
            ws = Workspace(arch, sl.stop - sl.start, dtype)
            np.copyto(ws.theta, theta, casting="same_kind")
        s, _ = backprop(X_in[sl], target[sl], ws, beta, rho, code_mean)
        sse += s
        grad += ws.grad
    return sse, grad


def _chunk_code_sum(X_in, theta, arch, dtype):
    """Sum over the rows of one chunk of the code-layer activations."""
    X_in = np.asarray(X_in, dtype=dtype)
    c = arch.code_layer
    coefs, intercepts = unpack(np.asarray(theta, dtype=dtype), arch)
    total = np.zeros(arch.sizes[c])
    for sl in gen_batches(X_in.shape[0], _block_rows(arch, dtype, X_in.shape[0])):
        A = predict(X_in[sl], coefs[:c], intercepts[:c], arch.activations[:c])
        total += A.sum(axis=0, dtype=np.float64)
    return total


def _sum_parts(*parts):
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(_sum_parts(*items) for items in zip(*parts))
    total = first.copy() if isinstance(first, np.ndarray) else first
    for p in parts[1:]:
        total = total + p
    return total


def _corrupt_chunk(block, *, seeds, noise, level, n_corruptions, low, high, block_id):
    rng = np.random.RandomState(seeds[block_id[0]])
    X_in, _ = corrupt(
        np.asarray(block), noise, level, n_corruptions, rng, low=low, high=high
    )
    return X_in


def _tile_chunk(block, n):
    return np.tile(np.asarray(block), (n, 1))


def chunk_seeds(rng: np.random.RandomState, n_chunks: int) -> np.ndarray:
    """One noise seed per row chunk, drawn from the estimator's generator."""
    return rng.randint(np.iinfo(np.int32).max, size=n_chunks)


# ------------------------------------------------------------------ objective


class ChunkedObjective:
    """``theta -> (J, grad J)`` over row-chunked dask arrays ``X_in``, ``target``.

    The same objective as :func:`skae._network.loss_grad` on the concatenated
    chunks (to floating-point summation order), evaluated by map-reduce with
    whatever dask scheduler is active.
    """

    def __init__(self, X_in, target, arch, dtype, *, alpha, beta, rho):
        self.x_blocks = list(X_in.to_delayed().ravel())
        self.t_blocks = (
            self.x_blocks if target is X_in else list(target.to_delayed().ravel())
        )
        self.m = X_in.shape[0]
        self.arch, self.dtype = arch, np.dtype(dtype)
        self.alpha, self.beta, self.rho = alpha, beta, rho

    @staticmethod
    def _reduce(parts):
        import dask

        while len(parts) > 1:
            parts = [
                dask.delayed(_sum_parts)(*parts[i : i + _SPLIT_EVERY])
                for i in range(0, len(parts), _SPLIT_EVERY)
            ]
        return dask.compute(parts[0])[0]

    def __call__(self, theta):
        import dask

        arch, dtype, m = self.arch, self.dtype, self.m
        theta = np.array(theta, dtype=np.float64)
        theta_d = dask.delayed(theta)
        kl, code_mean = 0.0, None
        if self.beta > 0:
            sums = self._reduce(
                [
                    dask.delayed(_chunk_code_sum)(xb, theta_d, arch, dtype)
                    for xb in self.x_blocks
                ]
            )
            code_mean = sums / m
            kl, _ = kl_sparsity(code_mean, self.rho)
            code_mean = dask.delayed(code_mean)
        sse, grad = self._reduce(
            [
                dask.delayed(_chunk_loss_grad)(
                    xb, tb, theta_d, arch, dtype, self.beta, self.rho, code_mean
                )
                for xb, tb in zip(self.x_blocks, self.t_blocks)
            ]
        )
        nw = arch.n_weights
        loss = 0.5 * sse
        if self.alpha > 0:
            w = theta[:nw].astype(dtype).astype(np.float64)
            loss += 0.5 * self.alpha * _sq_norm(w)
            grad[:nw] += self.alpha * w
        grad *= 1.0 / m
        return loss / m + self.beta * kl, grad


# ----------------------------------------------------------------------- fit


def _on_distributed(X) -> bool:
    import dask

    scheduler = dask.base.get_scheduler(collections=[X])
    owner = getattr(scheduler, "__self__", None)
    return type(owner).__name__ == "Client"


def _training_pair(est, X, rng, persist: bool):
    """``(X_in, target)`` dask arrays with matching row chunks."""
    import dask

    if not hasattr(est, "noise"):  # not a denoising autoencoder
        return X, X
    # Validate the noise parameters exactly as the in-memory fit does.
    est._training_pair(np.zeros((1, X.shape[1]), X.dtype), np.random.RandomState(0))
    low = high = None
    if est.noise == "salt_and_pepper":
        low, high = dask.compute(X.min(axis=0), X.max(axis=0))
    k = est.n_corruptions
    seeds = chunk_seeds(rng, X.numblocks[0])
    chunks = (tuple(k * c for c in X.chunks[0]), X.chunks[1])
    X_in = X.map_blocks(
        partial(
            _corrupt_chunk,
            seeds=seeds,
            noise=est.noise,
            level=est.noise_level,
            n_corruptions=k,
            low=low,
            high=high,
        ),
        chunks=chunks,
        dtype=X.dtype,
        meta=np.empty((0, 0), X.dtype),
    )
    if persist:
        X_in = X_in.persist()
    target = X
    if k > 1:
        target = X.map_blocks(
            _tile_chunk, k, chunks=chunks, dtype=X.dtype, meta=np.empty((0, 0), X.dtype)
        )
    return X_in, target


def _take_rows(block, rows):
    return np.asarray(block)[rows]


def _validation_split(est, X, rng, persist):
    """``(X_train, X_val)``: the rows ``rng.permutation(n)[:n_val]`` held out,
    as the in-memory fit draws them; each chunk keeps its own rows."""
    import dask.array as da

    n = X.shape[0]
    n_val = int(round(est.validation_fraction * n))
    if n_val < 1 or n_val >= n:
        raise ValueError(
            f"validation_fraction={est.validation_fraction} leaves "
            f"{n_val} of {n} samples for validation; early "
            "stopping needs at least one sample on each side."
        )
    held_out = np.zeros(n, dtype=bool)
    held_out[rng.permutation(n)[:n_val]] = True
    parts = {False: [], True: []}
    start = 0
    for i, size in enumerate(X.chunks[0]):
        mask = held_out[start : start + size]
        start += size
        for val in (False, True):
            rows = np.flatnonzero(mask == val)
            if len(rows):
                parts[val].append(
                    X.blocks[i].map_blocks(
                        _take_rows,
                        rows,
                        chunks=((len(rows),), X.chunks[1]),
                        dtype=X.dtype,
                        meta=np.empty((0, 0), X.dtype),
                    )
                )
    X_train = da.concatenate(parts[False], axis=0)
    X_val = da.concatenate(parts[True], axis=0)
    if persist:
        X_train, X_val = X_train.persist(), X_val.persist()
    return X_train, X_val


def _chunk_sse(X, theta, arch, dtype):
    """Sum of squared reconstruction errors of one row chunk."""
    X = np.asarray(X, dtype=dtype)
    coefs, intercepts = unpack(np.asarray(theta, dtype=dtype), arch)
    total = 0.0
    for sl in gen_batches(X.shape[0], _block_rows(arch, dtype, X.shape[0])):
        total += float(sq_errors(X[sl], coefs, intercepts, arch.activations).sum())
    return total


class ChunkedSquaredError:
    """``theta -> mean_i ||x_i - x_hat_i||^2`` over a row-chunked dask array
    (the held-out loss of early stopping), by map-reduce."""

    def __init__(self, X, arch, dtype):
        self.blocks = list(X.to_delayed().ravel())
        self.n = X.shape[0]
        self.arch, self.dtype = arch, np.dtype(dtype)

    def __call__(self, theta):
        import dask

        theta_d = dask.delayed(np.array(theta, dtype=np.float64))
        parts = [
            dask.delayed(_chunk_sse)(b, theta_d, self.arch, self.dtype)
            for b in self.blocks
        ]
        return ChunkedObjective._reduce(parts) / self.n


def _encode_chunk(block, coefs, intercepts, activations, dtype):
    return predict(np.asarray(block, dtype=dtype), coefs, intercepts, activations)


def _pretrain_stage_hooks(est, persist: bool) -> dict:
    """How :func:`skae._pretrain.greedy_pretrain` evaluates a stage on dask
    arrays: the same stages, draws from ``rng`` and parameters, each stage
    fitted by map-reduce L-BFGS and its codes computed (and persisted) on the
    workers."""

    def make_objective(inputs, targets, stage, beta):
        return ChunkedObjective(
            inputs,
            targets,
            stage,
            inputs.dtype,
            alpha=est.alpha,
            beta=beta,
            rho=est.sparsity_target,
        )

    def encode(inputs, coefs, intercepts, activations):
        dtype = inputs.dtype
        codes = inputs.map_blocks(
            partial(
                _encode_chunk,
                coefs=coefs,
                intercepts=intercepts,
                activations=activations,
                dtype=dtype,
            ),
            chunks=(inputs.chunks[0], (coefs[-1].shape[1],)),
            dtype=dtype,
            meta=np.empty((0, 0), dtype),
        )
        return codes.persist() if persist else codes

    return dict(
        make_objective=make_objective,
        encode=encode,
        column_mean=lambda A: np.asarray(A.mean(axis=0).compute()),
    )


def fit(est, X):
    """``est.fit(X)`` for a dask array ``X``: map-reduce L-BFGS (module doc)."""
    import dask
    import dask.array as da

    X = _as_dask_matrix(X)
    n, d = X.shape
    if n < 2:
        raise ValueError(
            f"Found array with {n} sample(s) (shape={X.shape}) while a minimum of "
            "2 is required."
        )
    if d < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of "
            "1 is required."
        )
    arch = est._architecture(d)
    rng = check_random_state(est.random_state)
    dtype = X.dtype
    persist = _on_distributed(X)
    if persist:
        X = X.persist()
    mean, finite = dask.compute(X.mean(axis=0), da.isfinite(X).all())
    if not finite:
        raise ValueError("Input X contains NaN or infinity.")

    early = None
    if est.early_stopping:
        X, X_val = _validation_split(est, X, rng, persist)
        early = EarlyStopping(
            ChunkedSquaredError(X_val, arch, dtype),
            n_iter_no_change=est.n_iter_no_change,
            tol=est.tol,
        )
        mean = X.mean(axis=0).compute()

    X_in, target = _training_pair(est, X, rng, persist)
    theta0 = est._initial_theta(
        arch, rng, X_in, target, np.asarray(mean), **_pretrain_stage_hooks(est, persist)
    )
    objective = ChunkedObjective(
        X_in,
        target,
        arch,
        dtype,
        alpha=est.alpha,
        beta=est.sparsity_weight,
        rho=est.sparsity_target,
    )

    est._run_lbfgs(objective, theta0, arch, dtype, early)
    # fitted on n_features columns without names (fit() clears all on failure)
    est.n_features_in_ = d
    est.__dict__.pop("feature_names_in_", None)
    return est


# ------------------------------------------------------------------ inference


def _apply_block(B, *, method, enc, dec, dtype):
    B = np.asarray(B, dtype=dtype)
    widest = max([max(W.shape) for W in enc[0] + dec[0]] + [B.shape[1]])
    rows = max(1, _BLOCK_BYTES // (3 * widest * np.dtype(dtype).itemsize))
    out = []
    for sl in list(gen_batches(B.shape[0], rows)) or [slice(0, 0)]:
        b = B[sl]
        if method == "transform":
            out.append(predict(b, *enc))
        elif method == "inverse_transform":
            out.append(predict(b, *dec))
        else:
            if method == "reconstruct":
                out.append(predict(predict(b, *enc), *dec))
            else:  # score_samples
                layers = [e + d for e, d in zip(enc, dec)]
                out.append(-sq_errors(b, *layers))
    return out[0] if len(out) == 1 else np.concatenate(out)


def apply(est, X, method: str):
    """``est.<method>(X)`` as a lazy dask array, one task per row chunk."""
    name = "codes" if method == "inverse_transform" else "X"
    X = _as_dask_matrix(X, name)
    expected = (
        est._n_features_out if method == "inverse_transform" else est.n_features_in_
    )
    if X.shape[1] != expected:
        if method == "inverse_transform":
            raise ValueError(
                f"inverse_transform expects codes with {expected} columns "
                f"(n_components), got {X.shape[1]}."
            )
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(est).__name__} is expecting "
            f"{expected} features as input."
        )
    dtype = X.dtype
    enc = est._layers("encoder", dtype)
    dec = est._layers("decoder", dtype)
    func = partial(_apply_block, method=method, enc=enc, dec=dec, dtype=dtype)
    if method == "score_samples":
        return X.map_blocks(func, drop_axis=1, dtype=dtype, meta=np.empty((0,), dtype))
    n_out = {
        "transform": est._n_features_out,
        "inverse_transform": est.n_features_in_,
        "reconstruct": est.n_features_in_,
    }[method]
    return X.map_blocks(
        func,
        chunks=(X.chunks[0], (n_out,)),
        dtype=dtype,
        meta=np.empty((0, 0), dtype),
    )
