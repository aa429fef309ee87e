"""Scaling with n_samples: fit time per iteration and peak memory of fit.

Synthetic data (a random low-rank matrix plus noise, ``n_features`` columns)
at ``n_samples`` = 1k, 10k, 100k. ``AutoencoderTransformer(n_components=10,
hidden_layer_sizes=(100,))`` (tanh) is fitted for a fixed number of L-BFGS
iterations (``solver="lbfgs"``, ``early_stopping=False``, ``tol=0``: the
defaults would cross-validate 1k rows and run Adam on 100k, so "per
iteration" would mean something else) and reports seconds per iteration (fit time /
``n_iter_``); ``MLPRegressor(hidden_layer_sizes=(100, 10, 100),
solver="lbfgs")`` fitted X to X (the same network) beside it. Each fit runs in
its own fresh process; the peak of memory allocated *during* the fit is
traced with ``tracemalloc`` (numpy reports its buffers to it) in a separate
fit of that process and given as a multiple of ``X.nbytes``. Times are medians
over runs.

skae's fit holds one workspace per layer of the size of the data's batch
(activations and deltas), so its peak grows linearly with ``n_samples``; per
iteration the time should grow linearly too.

Run: ``python benchmarks/bench_scaling.py [--quick] [--unset-openblas-env]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import (
    add_common_args,
    apply_common_args,
    finish_main,
    low_rank_data,
    quiet_fit,
    run_child,
    start_recording,
    with_spread,
)

COLUMNS = [
    "n_samples",
    "n_features",
    "X_MB",
    "skae_ms_per_iter",
    "skae_us_per_iter_per_sample",
    "mlp_ms_per_iter",
    "skae_peak/X",
    "mlp_peak/X",
]


def fit_case(
    contender="skae",
    n_samples=1000,
    n_features=100,
    hidden=(100,),
    k=10,
    max_iter=10,
    trace=False,
):
    """One fit; seconds per iteration, or with ``trace`` the traced peak bytes."""
    import tracemalloc

    from sklearn.neural_network import MLPRegressor

    from skae import AutoencoderTransformer

    hidden = tuple(hidden)
    X = low_rank_data(n_samples, n_features)

    def make(n_iter):
        if contender == "skae":
            return AutoencoderTransformer(
                k,
                hidden_layer_sizes=hidden,
                activation="tanh",
                max_iter=n_iter,
                tol=0.0,
                solver="lbfgs",
                early_stopping=False,
                random_state=0,
            )
        return MLPRegressor(
            hidden_layer_sizes=(*hidden, k, *hidden[::-1]),
            activation="tanh",
            solver="lbfgs",
            max_iter=n_iter,
            tol=0.0,
            random_state=0,
        )

    def fit(est):
        return quiet_fit(est, X) if contender == "skae" else quiet_fit(est, X, X)

    fit(make(2))  # warm-up
    if trace:
        tracemalloc.start()
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        fit(make(2))
        peak = tracemalloc.get_traced_memory()[1] - before
        tracemalloc.stop()
        return {"peak_bytes": peak, "X_bytes": X.nbytes}
    est = make(max_iter)
    t0 = time.perf_counter()
    fit(est)
    elapsed = time.perf_counter() - t0
    return {"seconds": elapsed, "n_iter": int(est.n_iter_)}


def run(
    sizes=(1000, 10000, 100000),
    n_features=100,
    hidden=(100,),
    k=10,
    max_iter=10,
    runs=3,
    contenders=("skae", "mlp"),
):
    rows = []
    for n in sizes:
        cfg = dict(
            n_samples=n,
            n_features=n_features,
            hidden=list(hidden),
            k=k,
            max_iter=max_iter,
        )
        per_iter = {c: [] for c in contenders}
        for _ in range(runs):
            for c in contenders:
                r = run_child("bench_scaling", "fit_case", dict(cfg, contender=c))
                per_iter[c].append(r["seconds"] / max(r["n_iter"], 1))
        peaks = {
            c: run_child(
                "bench_scaling", "fit_case", dict(cfg, contender=c, trace=True)
            )
            for c in contenders
        }
        x_bytes = peaks[contenders[0]]["X_bytes"]
        s = statistics.median(per_iter["skae"])
        row = {"n_samples": n, "n_features": n_features, "X_MB": x_bytes / 2**20}
        with_spread(row, "skae_ms_per_iter", per_iter["skae"], 1e3)
        row["skae_us_per_iter_per_sample"] = 1e6 * s / n
        row["skae_peak/X"] = peaks["skae"]["peak_bytes"] / x_bytes
        if "mlp" in contenders:
            with_spread(row, "mlp_ms_per_iter", per_iter["mlp"], 1e3)
            row["mlp_peak/X"] = peaks["mlp"]["peak_bytes"] / x_bytes
        rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    apply_common_args(args)
    record = start_recording("scaling", argv)
    if args.quick:
        rows = run(sizes=(50, 200), n_features=8, hidden=(6,), k=2, max_iter=3, runs=1)
    else:
        rows = run(runs=args.runs)
    finish_main(
        record,
        args,
        "Scaling with n_samples: time per iteration, peak memory of fit",
        [{"columns": COLUMNS, "rows": rows}],
    )
    return rows


if __name__ == "__main__":
    main()
