"""Peak memory of fit and inference, measured against the documented model.

docs/scaling.rst ("Memory") states the memory model: what a fit or an
inference call allocates on top of ``X`` itself, as a function of
``n_samples`` and the layer widths. :func:`skae._memory.peak_bytes` is that
model written as code; this script measures each case in a fresh process
(``tracemalloc``, which numpy reports its buffers to, after a warm-up fit on a
tiny table so that one-time allocations are not counted) and prints the
measured peak, the model's and their ratio, each also as a multiple of
``X.nbytes``. Issue 12's target: the peak of ``fit`` at most 4.5x ``X.nbytes``
at 100k rows.

Cases, on ``low_rank_data`` of ``n_features=50`` columns and
``hidden_layer_sizes=(100,)``, ``n_components=10`` (tanh), ``max_iter=2``,
``tol=0``: an L-BFGS fit and an Adam fit (with their default early stopping:
10% of the rows held out), a denoising L-BFGS fit with ``n_corruptions=3``,
and ``transform`` / ``score_samples`` (default ``working_memory``).

Run: ``python benchmarks/bench_memory.py [--quick] [--n-samples N]``; with
``--json`` the rows are printed as one JSON list as well.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import (
    add_common_args,
    apply_common_args,
    low_rank_data,
    markdown_table,
    quiet_fit,
    run_child,
)

COLUMNS = [
    "case",
    "n_samples",
    "X_MB",
    "peak_MB",
    "model_MB",
    "peak/model",
    "peak/X",
    "model/X",
]

CASES = ("fit-lbfgs", "fit-adam", "fit-denoising-lbfgs-k3", "transform", "score")


def _estimator(case, k, hidden):
    from skae import AutoencoderTransformer, DenoisingAutoencoder

    common = dict(
        hidden_layer_sizes=tuple(hidden),
        activation="tanh",
        max_iter=2,
        tol=0.0,
        random_state=0,
    )
    if case == "fit-denoising-lbfgs-k3":
        return DenoisingAutoencoder(k, n_corruptions=3, solver="lbfgs", **common)
    solver = "adam" if case == "fit-adam" else "lbfgs"
    return AutoencoderTransformer(k, solver=solver, **common)


def measure(case="fit-lbfgs", n_samples=1000, n_features=50, hidden=(100,), k=10):
    """One case in this process: traced peak bytes, and the model's."""
    import tracemalloc

    from skae._memory import peak_bytes

    X = low_rank_data(n_samples, n_features)
    fitting = case.startswith("fit")
    est = _estimator(case, k, hidden)
    quiet_fit(est, X[:200])  # warm-up: imports, caches
    if not fitting:
        quiet_fit(est, X)
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    if fitting:
        quiet_fit(est, X)
    elif case == "transform":
        est.transform(X)
    else:
        est.score_samples(X)
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    sizes = [est.coefs_[0].shape[0], *(W.shape[1] for W in est.coefs_)]
    if not fitting:
        kind, options = case, {}
    else:
        kind = "adam" if case == "fit-adam" else "lbfgs"
        noisy = hasattr(est, "n_corruptions")
        options = dict(
            n_corruptions=est.n_corruptions if noisy else 0,
            validation_fraction=est.validation_fraction,
        )
    model = peak_bytes(kind, n_samples, n_features, sizes, X.dtype, **options)
    return {"peak_bytes": peak, "model_bytes": model, "X_bytes": X.nbytes}


def run(sizes=(100_000,), n_features=50, hidden=(100,), k=10, cases=CASES):
    rows = []
    for n in sizes:
        for case in cases:
            r = run_child(
                "bench_memory",
                "measure",
                dict(
                    case=case,
                    n_samples=n,
                    n_features=n_features,
                    hidden=list(hidden),
                    k=k,
                ),
            )
            x = r["X_bytes"]
            rows.append(
                {
                    "case": case,
                    "n_samples": n,
                    "X_MB": x / 2**20,
                    "peak_MB": r["peak_bytes"] / 2**20,
                    "model_MB": r["model_bytes"] / 2**20,
                    "peak/model": r["peak_bytes"] / r["model_bytes"],
                    "peak/X": r["peak_bytes"] / x,
                    "model/X": r["model_bytes"] / x,
                }
            )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--n-samples", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    apply_common_args(args)
    if args.quick:
        rows = run(sizes=(2000,), n_features=8, hidden=(6,), k=2)
    else:
        rows = run(sizes=(args.n_samples,))
    print("## Peak memory of fit and inference, measured and modelled\n")
    print(markdown_table(rows, COLUMNS))
    if args.json:
        print(json.dumps(rows))
    return rows


if __name__ == "__main__":
    main()
