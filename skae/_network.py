"""The numerical core: pure functions over one flat parameter vector.

Nothing here knows about estimators. An autoencoder is described by an
:class:`Architecture` (layer sizes mirrored around the code layer, one
activation name per layer, tied or free decoder weights). Its parameters live
in one flat vector, weights first and biases after, so that L-BFGS sees a
single array, weight decay is one slice, and :func:`unpack` returns *views*
(never copies) of the matrices. With tied weights the decoder matrices are
transposed views of the encoder matrices.

Shapes: ``X`` is ``(n_samples, n_features)``; layer ``i`` (1-based) maps
``(n, sizes[i - 1]) -> (n, sizes[i])`` by ``f_i(A @ W_i + b_i)``.

The objective for ``m`` samples (rows of the possibly corrupted input ``X``
and of the clean ``target``) is::

    J = 1/(2m) sum_i ||target_i - xhat(X_i)||^2 + alpha/(2m) sum ||W||^2
        + beta * sum_j KL(rho || rho_hat_j)

where ``rho_hat_j`` is the mean activation of code unit ``j`` over the samples
and the weight decay covers the layer matrices ``W``, not the skip path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from skae._activations import ACTIVATIONS, DERIVATIVES

# rho_hat is clipped to [_EPS, 1 - _EPS] inside the KL divergence.
_EPS = 1e-10


@dataclass(frozen=True)
class Architecture:
    """Layer sizes ``(n_features, *hidden, n_components, *reversed(hidden),
    n_features)``, one activation name per layer, and weight tying."""

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    tied: bool = False
    skip: bool = False

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def code_layer(self) -> int:
        """1-based index of the code layer: encoder is layers 1..code_layer."""
        return self.n_layers // 2

    @property
    def weight_shapes(self) -> list[tuple[int, int]]:
        """Shapes of the free weight matrices, in storage order."""
        n_free = self.code_layer if self.tied else self.n_layers
        return [(self.sizes[i], self.sizes[i + 1]) for i in range(n_free)]

    @property
    def skip_layers(self) -> tuple[tuple[int, int], ...]:
        """``(target, source)`` 1-based layer pairs of the linear skip path.

        Layer 0 is the input. With ``skip`` the code layer also receives
        ``x @ S_enc`` and the output layer ``z @ S_dec``: a linear (PCA) path
        beside the nonlinear branches.
        """
        if not self.skip:
            return ()
        return ((self.code_layer, 0), (self.n_layers, self.code_layer))

    @property
    def skip_shapes(self) -> list[tuple[int, int]]:
        """Shapes of the free skip matrices (``S_dec = S_enc.T`` when tied)."""
        pairs = self.skip_layers[:1] if self.tied else self.skip_layers
        return [(self.sizes[s], self.sizes[t]) for t, s in pairs]

    @property
    def n_decayed(self) -> int:
        """Number of weights under weight decay: the free weight matrices,
        not the linear skip path (stored right after them), so that decay
        shrinks the nonlinear branches towards the PCA path, never that
        path itself."""
        return sum(a * b for a, b in self.weight_shapes)

    @property
    def n_weights(self) -> int:
        return self.n_decayed + sum(a * b for a, b in self.skip_shapes)

    @property
    def n_params(self) -> int:
        return self.n_weights + sum(self.sizes[1:])


def make_architecture(
    n_features: int,
    hidden_layer_sizes: tuple[int, ...],
    n_components: int,
    activation: str,
    code_activation: str,
    output_activation: str,
    tied: bool = False,
    skip: bool = False,
) -> Architecture:
    """Mirror the encoder ``n_features -> hidden -> n_components`` into a decoder.

    ``skip`` adds the linear skip path (:attr:`Architecture.skip_layers`); it
    needs at least one hidden layer (without one the network is that path).
    """
    hidden = tuple(int(h) for h in hidden_layer_sizes)
    sizes = (n_features, *hidden, n_components, *hidden[::-1], n_features)
    acts = (
        (activation,) * len(hidden)
        + (code_activation,)
        + (activation,) * len(hidden)
        + (output_activation,)
    )
    if skip and not hidden:
        raise ValueError("a skip path needs at least one hidden layer")
    return Architecture(sizes=sizes, activations=acts, tied=tied, skip=skip)


def _views(theta: np.ndarray, arch: Architecture):
    """Views of ``theta``: free weights, free skip matrices, biases (in order)."""
    views, pos = [], 0
    for a, b in arch.weight_shapes + arch.skip_shapes:
        views.append(theta[pos : pos + a * b].reshape(a, b))
        pos += a * b
    intercepts = []
    for s in arch.sizes[1:]:
        intercepts.append(theta[pos : pos + s])
        pos += s
    n_free = len(arch.weight_shapes)
    return views[:n_free], views[n_free:], intercepts


def unpack(
    theta: np.ndarray, arch: Architecture
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Views of the weight matrices and bias vectors of ``theta``, one per layer.

    With tied weights, decoder layer ``L + 1 - i`` gets ``W_i.T`` (a view).
    """
    coefs, _, intercepts = _views(theta, arch)
    if arch.tied:
        coefs += [W.T for W in coefs[::-1]]
    return coefs, intercepts


def unpack_skips(theta: np.ndarray, arch: Architecture) -> list[np.ndarray]:
    """Views of the skip matrices ``[S_enc, S_dec]`` (``[]`` without a skip
    path); with tied weights ``S_dec`` is ``S_enc.T``."""
    skips = _views(theta, arch)[1]
    if arch.tied and skips:
        skips.append(skips[0].T)
    return skips


def pack(
    coefs: list[np.ndarray],
    intercepts: list[np.ndarray],
    arch: Architecture,
    skips: list[np.ndarray] = (),
) -> np.ndarray:
    """The flat float64 vector of explicit ``coefs``, ``skips`` and ``intercepts``."""
    free = list(coefs[: len(arch.weight_shapes)])
    free += list(skips[: len(arch.skip_shapes)])
    return np.concatenate(
        [np.ravel(W) for W in free] + [np.ravel(b) for b in intercepts]
    ).astype(np.float64)


def skip_terms(skips: list, n_layers: int, part: str = "network") -> list:
    """The skip terms of :func:`forward` for the encoder, the decoder or the
    whole ``network`` of ``n_layers`` layers: ``(target, source, S)`` with
    0-based layer indices within that part, ``source=-1`` meaning the part's
    input. ``skips`` is ``[S_enc, S_dec]`` or empty."""
    if not len(skips):
        return []
    c = n_layers // 2
    terms = {
        "encoder": [(c - 1, -1, skips[0])],
        "decoder": [(n_layers - c - 1, -1, skips[1])],
        "network": [(c - 1, -1, skips[0]), (n_layers - 1, c - 1, skips[1])],
    }
    return terms[part]


def init_params(
    arch: Architecture,
    rng: np.random.RandomState,
    output_bias: np.ndarray | None = None,
) -> np.ndarray:
    """Glorot-uniform weights, zero biases (output bias set to ``output_bias``).

    As in scikit-learn's MLP, the bound is ``sqrt(6 / (fan_in + fan_out))``,
    and ``sqrt(2 / (fan_in + fan_out))`` for layers with a logistic activation.
    Starting the output bias at the data mean centres the problem as PCA does.
    """
    theta = np.zeros(arch.n_params)
    coefs, intercepts = unpack(theta, arch)
    for i, (a, b) in enumerate(arch.weight_shapes):
        factor = 2.0 if arch.activations[i] == "logistic" else 6.0
        bound = np.sqrt(factor / (a + b))
        coefs[i][...] = rng.uniform(-bound, bound, size=(a, b))
    if output_bias is not None:
        intercepts[-1][...] = output_bias
    return theta


def _matmul(A, W: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    if sp.issparse(A):
        result = np.asarray(A @ W)
        if out is None:
            return result
        out[...] = result
        return out
    return np.matmul(A, W, out=out)


def forward(
    X,
    coefs: list[np.ndarray],
    intercepts: list[np.ndarray],
    activations: tuple[str, ...],
    out: list[np.ndarray] | None = None,
    skips: list = (),
    keep: bool = True,
) -> list[np.ndarray]:
    """Propagate ``X`` through the given layers; return every layer's output.

    ``X`` may be a scipy sparse matrix (only the first products touch it).
    With ``out``, layer outputs are written into those preallocated arrays.
    ``skips`` holds ``(target, source, S)`` terms (:func:`skip_terms`):
    layer ``target`` adds ``A_source @ S`` (``source=-1``: ``X``) before its
    activation. With ``keep=False`` an output is dropped (``None`` in the
    list) once no later layer reads it, so inference holds at most two
    layers (plus a skip source) at a time.
    """
    sources = {s for _, s, _ in skips}
    extra = {t: (s, S) for t, s, S in skips}
    A = X
    outputs = []
    for i, (W, b, name) in enumerate(zip(coefs, intercepts, activations)):
        A = _matmul(A, W, None if out is None else out[i])
        if i in extra:
            s, S = extra[i]
            A += _matmul(X if s < 0 else outputs[s], S, None)
        A += b
        ACTIVATIONS[name](A)
        if not keep and i > 0 and i - 1 not in sources:
            outputs[i - 1] = None
        outputs.append(A)
    return outputs


def predict(X, coefs, intercepts, activations, skips=()) -> np.ndarray:
    """Output of the last of the given layers, keeping only live layers."""
    return forward(X, coefs, intercepts, activations, skips=skips, keep=False)[-1]


def _subtract_target(D: np.ndarray, target) -> None:
    """``D -= target`` for a dense or sparse ``target``, in place."""
    if sp.issparse(target):
        coo = target.tocoo()
        coo.sum_duplicates()
        D[coo.row, coo.col] -= coo.data
    else:
        np.subtract(D, target, out=D)


def sq_errors(X, coefs, intercepts, activations, skips=()) -> np.ndarray:
    """``||x - x_hat||^2`` of each row of ``X`` (dense or sparse) through the
    given layers, which must map ``X``'s features back to themselves."""
    R = predict(X, coefs, intercepts, activations, skips)
    _subtract_target(R, X)
    return np.einsum("ij,ij->i", R, R)


def row_sq_errors(theta: np.ndarray, arch: Architecture, X) -> np.ndarray:
    """:func:`sq_errors` of the rows of ``X`` for the network ``theta``,
    evaluated in ``X``'s dtype."""
    theta = np.asarray(theta, dtype=X.dtype)
    coefs, intercepts = unpack(theta, arch)
    skips = skip_terms(unpack_skips(theta, arch), arch.n_layers)
    return sq_errors(X, coefs, intercepts, arch.activations, skips)


def _sq_norm(A: np.ndarray) -> float:
    flat = A.reshape(-1)
    return float(np.dot(flat, flat))


def kl_sparsity(rho_hat: np.ndarray, rho: float) -> tuple[float, np.ndarray]:
    """``sum_j KL(rho || rho_hat_j)`` and its derivative with respect to rho_hat."""
    r = np.clip(rho_hat.astype(np.float64), _EPS, 1 - _EPS)
    kl = rho * np.log(rho / r) + (1 - rho) * np.log((1 - rho) / (1 - r))
    return float(kl.sum()), -rho / r + (1 - rho) / (1 - r)


class Workspace:
    """Buffers for one loss-and-gradient evaluation on ``n_samples`` rows.

    Allocated once per fit and reused by every evaluation: the layer outputs
    ``acts``, one ``scratch`` block, the parameter vector in the working dtype
    (with views onto it) and the gradient vector (with views onto it). The
    backward pass stores each layer's delta in that layer's output buffer
    (dead once the delta exists), so deltas cost one scratch block of the
    widest layer instead of a second copy of every layer.
    """

    def __init__(self, arch: Architecture, n_samples: int, dtype) -> None:
        self.arch = arch
        self.dtype = np.dtype(dtype)
        self.acts = [np.empty((n_samples, s), self.dtype) for s in arch.sizes[1:]]
        width = max(arch.sizes[1:-1])
        if arch.activations[-1] != "identity":  # residual kept beside f'(out)
            width = max(width, arch.sizes[-1])
        self._scratch = np.empty(n_samples * width, self.dtype)
        self.ones = np.ones(n_samples, self.dtype)
        self.theta = np.empty(arch.n_params, self.dtype)
        self.grad = np.empty(arch.n_params, self.dtype)
        self.coefs, self.intercepts = unpack(self.theta, arch)
        self.skips = skip_terms(unpack_skips(self.theta, arch), arch.n_layers)
        # With tied weights the decoder gradient views would alias the encoder's
        # transposes; the backward pass adds into those, so keep only free ones.
        self.gcoefs, self.gskips, self.gintercepts = _views(self.grad, arch)

    def scratch(self, width: int) -> np.ndarray:
        """A C-contiguous ``(n_samples, width)`` view of the scratch block."""
        n = self.ones.shape[0]
        return self._scratch[: n * width].reshape(n, width)


def backprop(
    X,
    target,
    ws: Workspace,
    sparsity_weight: float = 0.0,
    sparsity_target: float = 0.05,
    code_mean: np.ndarray | None = None,
) -> tuple[float, float]:
    """Forward and backward pass over one block of rows, parameters in ``ws.theta``.

    Writes into ``ws.grad`` the gradient of ``0.5 * sse + n * beta * KL``, where
    ``sse`` is the sum of squared reconstruction errors of these ``n`` rows and
    ``KL`` is evaluated at ``code_mean`` (the mean code activation over *all*
    training rows; computed from this block when ``None``). No weight decay and
    no division by the sample count: :func:`loss_grad` and chunked drivers
    finish the objective. Returns ``(sse, kl)``.
    """
    arch = ws.arch
    L, c = arch.n_layers, arch.code_layer
    coefs, intercepts = ws.coefs, ws.intercepts
    acts = ws.acts
    n = X.shape[0]
    forward(X, coefs, intercepts, arch.activations, out=acts, skips=ws.skips)

    kl, code_grad = 0.0, None
    if sparsity_weight > 0:
        if code_mean is None:
            code_mean = np.dot(ws.ones, acts[c - 1]) / n
        kl, dkl = kl_sparsity(code_mean, sparsity_target)
        # d(n * beta * KL(rho_hat)) / dA_c[i, j] = beta * dKL/drho_hat_j (n cancels)
        code_grad = (sparsity_weight * dkl).astype(ws.dtype)

    # Output layer: residual, then through the output activation's derivative;
    # the delta replaces the output in its buffer.
    out = acts[L - 1]
    if arch.activations[L - 1] == "identity":
        _subtract_target(out, target)
        sse = _sq_norm(out)
    else:
        R = ws.scratch(out.shape[1])
        np.copyto(R, out)
        _subtract_target(R, target)
        sse = _sq_norm(R)
        DERIVATIVES[arch.activations[L - 1]](out)
        out *= R

    n_free = len(ws.gcoefs)
    if arch.skip:
        # output layer's skip from the code layer, while the code layer still
        # holds its activations (with tied weights: the transpose, for S_enc)
        D_out, Z = acts[L - 1], acts[c - 1]
        if arch.tied:
            np.matmul(D_out.T, Z, out=ws.gskips[0])
        else:
            np.matmul(Z.T, D_out, out=ws.gskips[1])
    for layer in range(L, 0, -1):  # 1-based layer index
        D = acts[layer - 1]  # holds this layer's delta now
        A_prev = X if layer == 1 else acts[layer - 2]
        np.dot(ws.ones, D, out=ws.gintercepts[layer - 1])
        if arch.skip and layer == c:  # the code layer's skip from the input
            if arch.tied:
                ws.gskips[0] += _matmul(X.T, D, None)
            else:
                _matmul(X.T, D, ws.gskips[0])
        if layer > n_free:
            # tied decoder layer, weights W_i.T with i = L + 1 - layer: the
            # gradient for W_i is the transpose, written first (decoder runs first)
            np.matmul(D.T, A_prev, out=ws.gcoefs[L - layer])
        elif arch.tied:
            # tied encoder layer: add to what its decoder twin wrote
            ws.gcoefs[layer - 1] += _matmul(A_prev.T, D, None)
        else:
            _matmul(A_prev.T, D, ws.gcoefs[layer - 1])
        if layer > 1:
            # delta of the layer below, written over its (now dead) output
            name = arch.activations[layer - 2]
            T = A_prev if name == "identity" else ws.scratch(A_prev.shape[1])
            np.matmul(D, coefs[layer - 1].T, out=T)
            if layer - 1 == c and arch.skip:  # the output's skip reads the code
                T += acts[L - 1] @ ws.skips[-1][2].T
            if layer - 1 == c and code_grad is not None:
                T += code_grad
            if DERIVATIVES[name](A_prev):
                A_prev *= T
    return sse, kl


def loss_grad(
    theta: np.ndarray,
    X,
    target,
    ws: Workspace,
    alpha: float = 0.0,
    sparsity_weight: float = 0.0,
    sparsity_target: float = 0.05,
) -> tuple[float, np.ndarray]:
    """The objective ``J`` (module docstring) and its exact gradient at ``theta``.

    ``theta`` is float64 (as scipy's L-BFGS-B requires); the passes run in
    ``ws.dtype``. Returns a float and a new float64 gradient vector.
    """
    np.copyto(ws.theta, theta, casting="same_kind")
    m = X.shape[0]
    sse, kl = backprop(X, target, ws, sparsity_weight, sparsity_target)
    g = ws.grad
    nw = ws.arch.n_decayed
    w = ws.theta[:nw]
    loss = 0.5 * sse
    if alpha > 0:
        loss += 0.5 * alpha * _sq_norm(w)
        g[:nw] += alpha * w
    grad = g.astype(np.float64)
    grad *= 1.0 / m
    return loss / m + sparsity_weight * kl, grad
