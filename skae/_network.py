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

The objective over the rows ``i`` of the input ``X`` (never NaN) and of the
``target`` (NaN where an entry is missing), ``r = x_hat(X) - target``::

    J = [ 0.5 sum_i s_i (d / d_i) sum_{j observed in row i} r_ij^2
          + 0.5 alpha ||W||^2 ] / sum_i s_i  +  beta sum_k KL(rho || rho_hat_k)

``s_i`` is the row's sample weight (1 without weights), ``d`` the number of
features, ``d_i`` the row's observed target entries, ``rho_hat_k = sum_i s_i
a_ik / sum_i s_i`` the weighted mean of code unit ``k``; the decay covers the
layer matrices ``W``, not the skip path. Without NaN and weights this is
``1/(2m) sum_i ||r_i||^2 + alpha/(2m) ||W||^2 + beta KL``; an integer weight
equals repeating the row, a zero weight dropping it. The weights of the
squared errors, and the NaN-free target, come from
:func:`skae._terms.weighted_target`; :func:`row_sq_errors` gives the rows'
errors without ``s`` (``d / d_i`` times the observed sum).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from skae._activations import ACTIVATIONS, DERIVATIVES
from skae._architecture import Architecture, make_architecture  # noqa: F401
from skae._terms import (  # noqa: F401 (re-exported: _EPS, _subtract_target)
    _EPS,
    _sq_norm,
    _subtract_target,
    kl_sparsity,
    row_sse,
    row_weights,
    total_weight,
    weigh_residual,
    weighted_target,
)


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
        _finish_layer(A, b, name, extra.get(i), X, outputs)
        if not keep and i > 0 and i - 1 not in sources:
            outputs[i - 1] = None
        outputs.append(A)
    return outputs


def _finish_layer(A, b, name, skip, X, outputs) -> None:
    """``A = A_in @ W`` in place: plus the skip term ``skip = (source, S)``
    (if any), plus ``b`` (None: in the product), then the activation."""
    if skip is not None:
        source, S = skip
        A += _matmul(X if source < 0 else outputs[source], S, None)
    if b is not None:
        A += b
    ACTIVATIONS[name](A)


def predict(X, coefs, intercepts, activations, skips=()) -> np.ndarray:
    """Output of the last of the given layers, keeping only live layers."""
    return forward(X, coefs, intercepts, activations, skips=skips, keep=False)[-1]


def sq_errors(
    X, coefs, intercepts, activations, skips=(), target=None, weights=None
) -> np.ndarray:
    """Weighted squared error ``sum_j w_ij (target_ij - x_hat_ij)^2`` of each
    row of ``X`` (dense or sparse) through the given layers, which must map
    ``X``'s features back to themselves. ``target`` is ``X`` by default;
    ``weights`` as in :func:`backprop`. A ``target`` with NaN and no
    ``weights`` is masked here (:func:`skae._terms.weighted_target`): the
    row's observed errors times ``d / d_i``."""
    R = predict(X, coefs, intercepts, activations, skips)
    if target is None:
        target = X
    elif weights is None:
        target, weights = weighted_target(target)
    _subtract_target(R, target)
    return row_sse(R, weights)


def row_sq_errors(
    theta: np.ndarray, arch: Architecture, X, target=None, weights=None
) -> np.ndarray:
    """:func:`sq_errors` of the rows of ``X`` for the network ``theta``,
    evaluated in ``X``'s dtype."""
    theta = np.asarray(theta, dtype=X.dtype)
    coefs, intercepts = unpack(theta, arch)
    skips = skip_terms(unpack_skips(theta, arch), arch.n_layers)
    return sq_errors(X, coefs, intercepts, arch.activations, skips, target, weights)


#: Output entries (rows x width) from which a Workspace folds the output
#: bias into the products (:class:`Workspace`).
FOLD_MIN_ELEMENTS = 2**16


class Workspace:
    """Buffers for one loss-and-gradient evaluation on ``n_samples`` rows.

    Allocated once per fit and reused by every evaluation: the layer outputs
    ``acts``, one ``scratch`` block, the parameter vector in the working dtype
    (with views onto it) and the gradient vector (with views onto it). The
    backward pass stores each layer's delta in that layer's output buffer
    (dead once the delta exists), so deltas cost one scratch block of the
    widest layer instead of a second copy of every layer.

    The output bias can ride in the products: the layer below writes beside a
    column of ones (``ones_aug``; ``acts[-2]`` is a view of it), so that
    ``ones_aug @ [W; b]`` (``w_aug``) is the output before its activation and
    ``ones_aug.T @ D`` (``g_aug``) its weight and bias gradients at once. That
    saves the bias add and the bias gradient's pass over the widest block,
    which run on one thread while BLAS's threads run the products (10000 x
    784 float32: 2.8 + 1.8 ms beside 114 ms of products), for copies of W and
    its gradient and a strided layer below; ``fold_bias=None`` folds blocks of
    ``FOLD_MIN_ELEMENTS`` output entries, twice the matrix's rows, below a
    linear layer (one thread, 10000 x 784 -> 128: 2-4% faster; below a
    256-unit tanh layer 1-3% slower; a 128-row minibatch gains nothing).
    """

    def __init__(
        self, arch: Architecture, n_samples: int, dtype, fold_bias: bool | None = None
    ) -> None:
        self.arch = arch
        self.dtype = np.dtype(dtype)
        sizes = arch.sizes
        below = sizes[-2]  # width of the output layer's input
        if fold_bias is None:  # worth its copies of W and [gW; gb]: many rows
            fold_bias = n_samples * sizes[-1] >= FOLD_MIN_ELEMENTS
            fold_bias = fold_bias and n_samples >= 2 * (below + 1)
            fold_bias = fold_bias and arch.activations[-2] == "identity"
        self.acts = [np.empty((n_samples, s), self.dtype) for s in sizes[1:]]
        self.ones_aug = self.w_aug = self.g_aug = None
        if fold_bias:
            self.ones_aug = np.ones((n_samples, below + 1), self.dtype)
            self.w_aug = np.empty((below + 1, sizes[-1]), self.dtype)
            self.g_aug = np.empty((below + 1, sizes[-1]), self.dtype)
            self.acts[-2] = self.ones_aug[:, :below]
        width = max(arch.sizes[1:-1])
        if arch.activations[-1] != "identity":  # residual kept beside f'(out)
            width = max(width, arch.sizes[-1])
        self._scratch = np.empty(n_samples * width, self.dtype)
        self.ones = np.ones(n_samples, self.dtype)
        self._own_theta = np.empty(arch.n_params, self.dtype)
        self.read_from(self._own_theta)
        self.grad = np.empty(arch.n_params, self.dtype)
        # With tied weights the decoder gradient views would alias the encoder's
        # transposes; the backward pass adds into those, so keep only free ones.
        self.gcoefs, self.gskips, self.gintercepts = _views(self.grad, arch)

    def read_from(self, theta: np.ndarray | None = None) -> None:
        """Read the parameters from ``theta`` (contiguous, in ``dtype``) in
        place, without a copy: ``self.theta`` and its views become ``theta``'s
        (which the passes only read). ``None``: back to the own buffer."""
        self.theta = self._own_theta if theta is None else theta
        self.coefs, self.intercepts = unpack(self.theta, self.arch)
        self.skips = skip_terms(unpack_skips(self.theta, self.arch), self.arch.n_layers)

    def load(self, theta: np.ndarray) -> None:
        """The parameters ``theta`` for the next passes: read in place when
        they are a contiguous vector of ``dtype`` (Adam's in the run's dtype),
        else copied (and cast) into the own buffer."""
        if theta is self.theta:
            return
        if theta.dtype == self.dtype and theta.flags.c_contiguous:
            self.read_from(theta)
            return
        if self.theta is not self._own_theta:
            self.read_from(None)
        np.copyto(self.theta, theta, casting="same_kind")

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
    weights: np.ndarray | None = None,
) -> tuple[float, float]:
    """Forward and backward pass over one block of rows, parameters in ``ws.theta``.

    Writes into ``ws.grad`` the gradient of ``0.5 * sse + S * beta * KL``, where
    ``sse = sum_ij w_ij r_ij^2`` over these ``n`` rows, ``S = sum_i s_i`` and
    ``KL`` is evaluated at ``code_mean`` (the ``s``-weighted mean code over *all*
    training rows; computed from this block when ``None``). ``target`` is
    NaN-free; ``weights`` are None (``w = 1``), row weights ``s`` ``(n,)`` or
    entry weights ``(n, d)`` in ``ws.dtype`` (:func:`skae._terms.weighted_target`).
    No weight decay and no division by ``S``: :func:`loss_grad` and chunked
    drivers finish the objective. Returns ``(sse, kl)``.
    """
    arch = ws.arch
    L, c = arch.n_layers, arch.code_layer
    coefs, intercepts = ws.coefs, ws.intercepts
    acts = ws.acts
    n = X.shape[0]
    fold = ws.ones_aug is not None
    if fold:  # the layers below the output, then the output, its bias folded in
        below = [term for term in ws.skips if term[0] < L - 1]
        names = arch.activations
        forward(X, coefs[:-1], intercepts[:-1], names[:-1], out=acts[:-1], skips=below)
        ws.w_aug[:-1], ws.w_aug[-1] = coefs[L - 1], intercepts[L - 1]
        np.matmul(ws.ones_aug, ws.w_aug, out=acts[L - 1])
        skip = next(((s, S) for t, s, S in ws.skips if t == L - 1), None)
        _finish_layer(acts[L - 1], None, names[L - 1], skip, X, acts)
    else:
        forward(X, coefs, intercepts, arch.activations, out=acts, skips=ws.skips)

    kl, code_grad, s = 0.0, None, None
    if sparsity_weight > 0:
        s = row_weights(weights, arch.sizes[-1])
        if code_mean is None:  # this block's weighted mean (none if S = 0)
            total = n if s is None else float(s.sum(dtype=np.float64))
            mean = np.dot(ws.ones if s is None else s, acts[c - 1])
            code_mean = mean / total if total > 0 else None
    if sparsity_weight > 0 and code_mean is not None:
        kl, dkl = kl_sparsity(code_mean, sparsity_target)
        # d(S beta KL(rho_hat)) / dA_c[i, j] = beta s_i dKL/drho_hat_j (S cancels)
        code_grad = (sparsity_weight * dkl).astype(ws.dtype)

    # Output layer: residual, then through the output activation's derivative;
    # the delta replaces the output in its buffer.
    out = acts[L - 1]
    if arch.activations[L - 1] == "identity":
        _subtract_target(out, target)
        sse = weigh_residual(out, weights)
    else:
        R = ws.scratch(out.shape[1])
        np.copyto(R, out)
        _subtract_target(R, target)
        sse = weigh_residual(R, weights)
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
        if layer == L and fold:  # [gW; gb] in one product (class Workspace)
            np.matmul(ws.ones_aug.T, D, out=ws.g_aug)
            ws.gintercepts[L - 1][...] = ws.g_aug[-1]
            # tied: W_1 is the output's W.T (written first: the decoder runs first)
            gW = ws.gcoefs[0 if layer > n_free else L - 1]
            gW[...] = ws.g_aug[:-1].T if layer > n_free else ws.g_aug[:-1]
        else:
            np.dot(ws.ones, D, out=ws.gintercepts[layer - 1])
            if layer > n_free:
                # tied decoder layer, weights W_i.T with i = L + 1 - layer: the
                # gradient for W_i is the transpose, written first (decoder first)
                np.matmul(D.T, A_prev, out=ws.gcoefs[L - layer])
            elif arch.tied:  # encoder layer: add to what its decoder twin wrote
                ws.gcoefs[layer - 1] += _matmul(A_prev.T, D, None)
            else:
                _matmul(A_prev.T, D, ws.gcoefs[layer - 1])
        if arch.skip and layer == c:  # the code layer's skip from the input
            if arch.tied:
                ws.gskips[0] += _matmul(X.T, D, None)
            else:
                _matmul(X.T, D, ws.gskips[0])
        if layer > 1:
            # delta of the layer below, written over its (now dead) output
            name = arch.activations[layer - 2]
            T = A_prev if name == "identity" else ws.scratch(A_prev.shape[1])
            np.matmul(D, coefs[layer - 1].T, out=T)
            if layer - 1 == c and arch.skip:  # the output's skip reads the code
                T += acts[L - 1] @ ws.skips[-1][2].T
            if layer - 1 == c and code_grad is not None:
                T += code_grad if s is None else np.outer(s, code_grad)
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
    weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """The objective ``J`` (module docstring) and its exact gradient at ``theta``.

    ``theta`` is float64 (as scipy's L-BFGS-B requires); the passes run in
    ``ws.dtype``; ``target`` and ``weights`` as in :func:`backprop`. Returns a
    float and a new float64 gradient vector.
    """
    np.copyto(ws.theta, theta, casting="same_kind")
    m = total_weight(weights, X.shape[0], ws.arch.sizes[-1])
    sse, kl = backprop(X, target, ws, sparsity_weight, sparsity_target, None, weights)
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
