"""Greedy layer-wise pretraining of a stacked autoencoder.

Stage ``i`` trains a shallow autoencoder ``sizes[i-1] -> sizes[i] -> sizes[i-1]``
(encoder activation of layer ``i``, decoder activation of its mirror layer) on
the codes that stage ``i - 1`` produces; stage 1 trains on the estimator's own
training pair (so a denoising autoencoder pretrains its first layer on
corrupted input against clean targets). The stages are then stacked into the
initial parameter vector of the deep network, which the caller fine-tunes.
Each stage uses the same objective and the same L-BFGS wrapper as a full fit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from skae._network import Architecture, init_params, predict, unpack
from skae._optimize import minimize_lbfgs


def greedy_pretrain(
    X_in,
    target,
    arch: Architecture,
    rng: np.random.RandomState,
    *,
    output_bias: np.ndarray | None,
    max_iter: int,
    max_fun: int,
    tol: float,
    sparsity_weight: float,
    make_objective: Callable,
    column_mean: Callable,
    encode: Callable = predict,
    verbose: int = 0,
) -> np.ndarray:
    """Initial parameters for ``arch`` from greedy layer-wise pretraining.

    How a stage is evaluated is the caller's: ``make_objective(inputs,
    targets, stage, beta)`` returns its ``fun(theta) -> (loss, grad)``,
    ``encode(inputs, coefs, intercepts, activations)`` maps the stage's inputs
    to its codes (in memory by default) and ``column_mean`` averages them:
    the data backend's :meth:`pretrain_hooks` (:mod:`skae._memory`,
    :mod:`skae._dask`).
    """
    L, c = arch.n_layers, arch.code_layer
    theta = init_params(arch, rng, output_bias=output_bias)
    coefs, intercepts = unpack(theta, arch)
    inputs, targets = X_in, target
    for i in range(1, c + 1):
        stage = Architecture(
            sizes=(arch.sizes[i - 1], arch.sizes[i], arch.sizes[i - 1]),
            activations=(arch.activations[i - 1], arch.activations[L - i]),
            tied=arch.tied,
        )
        bias = output_bias if i == 1 else column_mean(targets)
        # Only the code stage carries the sparsity penalty on its code units.
        beta = sparsity_weight if i == c else 0.0
        result = minimize_lbfgs(
            make_objective(inputs, targets, stage, beta),
            init_params(stage, rng, output_bias=bias),
            max_iter=max_iter,
            max_fun=max_fun,
            tol=tol,
            verbose=verbose,
            name=f"pretraining stage {i}/{c}",
            warn=False,  # a bounded stage is an initialisation, not a fit
        )
        if result.stopped_by == "interrupt":
            # Ctrl-C stops the whole fit, not just this stage: the estimator
            # is left unfitted rather than fine-tuned from a partial start.
            raise KeyboardInterrupt(
                f"interrupted during pretraining stage {i}/{c}; nothing was fitted."
            )
        s_coefs, s_intercepts = unpack(result.theta, stage)
        coefs[i - 1][...] = s_coefs[0]
        intercepts[i - 1][...] = s_intercepts[0]
        if not arch.tied:
            coefs[L - i][...] = s_coefs[1]
        intercepts[L - i][...] = s_intercepts[1]
        if i < c:
            dtype = inputs.dtype
            enc = ([s_coefs[0].astype(dtype)], [s_intercepts[0].astype(dtype)])
            inputs = encode(inputs, *enc, stage.activations[:1])
            targets = inputs
    return theta
