"""Overhead of one loss-and-gradient evaluation over its bare matrix products.

On ``n_samples x n_features`` data (a random low-rank matrix plus noise,
standardized), one call of :func:`skae._network.loss_grad` with a preallocated
:class:`~skae._network.Workspace` is timed against just the matrix products it
performs, of the same shapes and memory layouts, into preallocated outputs:
``L`` forward products and ``2L - 1`` backward products (weight gradients of
every layer, deltas of every layer but the first). Both are timed in the same
process, interleaved, median over repeats. The ratio (median over rounds of
each round's ratio) is the price of
everything else (bias adds, activations and their derivatives, the residual,
bias gradients, weight decay, the float64 gradient scipy needs). Issue 4's
target: <= 1.3 for 10000 x 784, ``n_components=128``, ``hidden_layer_sizes=()``.

Run: ``python benchmarks/bench_overhead.py [--quick] [--unset-openblas-env]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

from benchmarks._common import (
    add_common_args,
    apply_common_args,
    finish_main,
    interleaved_times,
    low_rank_data,
    run_child,
    start_recording,
    with_spread,
)

COLUMNS = [
    "threads",
    "n_samples",
    "n_features",
    "hidden",
    "n_components",
    "activation",
    "dtype",
    "loss_grad_ms",
    "products_ms",
    "ratio",
]


def measure(
    n_samples=10000,
    n_features=784,
    hidden=(),
    n_components=128,
    activation="tanh",
    dtype="float64",
    repeats=11,
    threads="default",
):
    """Time loss_grad against its bare matrix products in this process."""
    if threads != "default":
        from threadpoolctl import threadpool_limits

        with threadpool_limits(int(threads)):
            row = measure(
                n_samples, n_features, hidden, n_components, activation, dtype, repeats
            )
        row["threads"] = threads
        return row

    from skae._network import Workspace, init_params, loss_grad, make_architecture

    dtype = np.dtype(dtype)
    X = low_rank_data(n_samples, n_features, dtype=dtype)
    hidden = tuple(hidden)
    code_act = "identity"
    arch = make_architecture(
        n_features, hidden, n_components, activation, code_act, "identity"
    )
    theta = init_params(arch, np.random.RandomState(0), output_bias=X.mean(axis=0))
    ws = Workspace(arch, n_samples, dtype)

    # The bare products, same shapes and layouts, into their own buffers.
    L = arch.n_layers
    np.copyto(ws.theta, theta, casting="same_kind")
    Ws = [W.copy() for W in ws.coefs]
    acts = [np.empty((n_samples, s), dtype) for s in arch.sizes[1:]]
    deltas = [np.empty((n_samples, s), dtype) for s in arch.sizes[1:]]
    for D in deltas:
        D[...] = 0.01
    gW = [np.empty(W.shape, dtype) for W in Ws]

    def products():
        A = X
        for i in range(L):
            A = np.matmul(A, Ws[i], out=acts[i])
        for layer in range(L, 0, -1):
            A_prev = X if layer == 1 else acts[layer - 2]
            np.matmul(A_prev.T, deltas[layer - 1], out=gW[layer - 1])
            if layer > 1:
                np.matmul(deltas[layer - 1], Ws[layer - 1].T, out=deltas[layer - 2])

    def evaluation():
        loss_grad(theta, X, X, ws, alpha=1e-4)

    t = interleaved_times(
        {"loss_grad": evaluation, "products": products}, repeats=repeats
    )
    # Ratio of each round's pair, then the median: robust to a drifting load.
    ratios = [a / b for a, b in zip(t["loss_grad"], t["products"])]
    row = {
        "threads": threads,
        "n_samples": n_samples,
        "n_features": n_features,
        "hidden": str(hidden),
        "n_components": n_components,
        "activation": activation if hidden else code_act,
        "dtype": dtype.name,
    }
    with_spread(row, "loss_grad_ms", t["loss_grad"], 1e3)
    with_spread(row, "products_ms", t["products"], 1e3)
    return with_spread(row, "ratio", ratios)


def run(
    n_samples=10000,
    n_features=784,
    n_components=128,
    hiddens=((), (256,)),
    dtypes=("float64", "float32"),
    repeats=11,
    threads=("default", "1"),
):
    """One row per (threads, hidden, dtype); each measured in a fresh process.

    ``threads="1"`` runs under ``threadpool_limits(1)``: less than the
    machine can do, but far steadier on a loaded machine.
    """
    rows = []
    for th, hidden, dtype in itertools.product(threads, hiddens, dtypes):
        kw = dict(
            n_samples=n_samples,
            n_features=n_features,
            hidden=list(hidden),
            n_components=n_components,
            dtype=dtype,
            repeats=repeats,
            threads=th,
        )
        rows.append(run_child("bench_overhead", "measure", kw))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--n-samples", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args(argv)
    apply_common_args(args)
    record = start_recording("overhead", argv)
    if args.quick:
        rows = run(
            n_samples=200, n_features=20, n_components=4, hiddens=((), (8,)), repeats=2
        )
    else:
        rows = run(n_samples=args.n_samples, repeats=args.repeats)
    finish_main(
        record,
        args,
        "Overhead: loss_grad vs its matrix products",
        [{"columns": COLUMNS, "rows": rows}],
    )
    return rows


if __name__ == "__main__":
    main()
