"""Thread contention between numpy's and scipy's OpenBLAS (issue 2, Threads).

numpy and scipy wheels from PyPI each ship their own OpenBLAS. scipy's
L-BFGS-B calls level-1 BLAS on the parameter vector through scipy's copy;
with that copy at its default thread count, each tiny call pays a thread
wake-up and hand-off that can cost more than the whole matrix work of a small
problem. skae's ``fit`` limits only scipy's copy to one thread
(:func:`skae._optimize.scipy_blas_single_thread`), leaving numpy's matrix
products on all cores.

A linear autoencoder (``hidden_layer_sizes=()``, identity activations) is
trained with ``scipy.optimize.minimize(skae._network.loss_grad, method=
"L-BFGS-B")`` for a fixed number of iterations (``gtol=0``), (a) inside
``scipy_blas_single_thread()`` as skae's fit does and (b) with both pools at
their default threads. ``MLPRegressor(hidden_layer_sizes=(k,),
activation="identity", solver="lbfgs")`` fitted X to X is measured the same
two ways for reference (it uses the same scipy routine). Each case runs in its
own fresh process; times are medians over repeated fits. Reported: time per
loss-and-gradient evaluation and per fit, and the ratio default / limited.

Run: ``python benchmarks/bench_threads.py [--quick] [--unset-openblas-env]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import (
    add_common_args,
    apply_common_args,
    digits,
    finish_main,
    low_rank_data,
    quiet_fit,
    run_child,
    start_recording,
    with_spread,
)

COLUMNS = [
    "problem",
    "contender",
    "n_iter",
    "n_fev",
    "limited_ms_per_eval",
    "default_ms_per_eval",
    "limited_s_per_fit",
    "default_s_per_fit",
    "default/limited",
]


def _problem(name, n_samples, n_features):
    if name == "digits":
        return digits()
    return low_rank_data(n_samples, n_features)


def case(
    problem="digits",
    n_samples=10000,
    n_features=784,
    n_components=32,
    contender="skae",
    limited=True,
    max_iter=100,
    repeats=3,
):
    """Median seconds per fit and per evaluation of one case, in this process."""
    import numpy as np
    import scipy.optimize
    from sklearn.neural_network import MLPRegressor

    from skae._network import Workspace, init_params, loss_grad, make_architecture
    from skae._optimize import scipy_blas_single_thread

    X = _problem(problem, n_samples, n_features)
    limit = scipy_blas_single_thread if limited else contextlib.nullcontext
    fit_times, fev_counts, iters = [], [], []

    if contender == "skae":
        arch = make_architecture(
            X.shape[1], (), n_components, "identity", "identity", "identity"
        )
        ws = Workspace(arch, X.shape[0], X.dtype)
        theta0 = init_params(arch, np.random.RandomState(0), X.mean(axis=0))
        n_fev = [0]

        def fun(theta):
            n_fev[0] += 1
            return loss_grad(theta, X, X, ws, alpha=1e-4)

        def fit_once():
            n_fev[0] = 0
            res = scipy.optimize.minimize(
                fun,
                theta0,
                method="L-BFGS-B",
                jac=True,
                options={"maxiter": max_iter, "gtol": 0.0, "ftol": 0.0},
            )
            return res.nit, n_fev[0]

    else:

        class CountingMLP(MLPRegressor):
            def _loss_grad_lbfgs(self, *args, **kwargs):
                self.n_fev_ += 1
                return super()._loss_grad_lbfgs(*args, **kwargs)

        def fit_once():
            mlp = CountingMLP(
                hidden_layer_sizes=(n_components,),
                activation="identity",
                solver="lbfgs",
                max_iter=max_iter,
                tol=0.0,
                alpha=1e-4,
                random_state=0,
            )
            mlp.n_fev_ = 0
            quiet_fit(mlp, X, X)
            return mlp.n_iter_, mlp.n_fev_

    with limit():
        fit_once()  # warm-up: thread pools, caches, imports
        for _ in range(repeats):
            t0 = time.perf_counter()
            nit, nfev = fit_once()
            fit_times.append(time.perf_counter() - t0)
            fev_counts.append(nfev)
            iters.append(nit)
    per_eval = [t / max(f, 1) for t, f in zip(fit_times, fev_counts)]
    return {
        "fit_s": statistics.median(fit_times),
        "eval_s": statistics.median(per_eval),
        "fit_times": fit_times,
        "eval_times": per_eval,
        "n_iter": int(statistics.median(iters)),
        "n_fev": int(statistics.median(fev_counts)),
    }


def run(problems=None, repeats=3, contenders=("skae", "MLPRegressor")):
    """Rows of (problem, contender) with limited and default timings."""
    if problems is None:
        problems = [
            dict(problem="digits", n_components=32, max_iter=100),
            dict(
                problem="lowrank",
                n_samples=10000,
                n_features=784,
                n_components=128,
                max_iter=10,
            ),
        ]
    rows = []
    for p in problems:
        label = p["problem"]
        if label != "digits":
            label = f"{p['n_samples']}x{p['n_features']}->{p['n_components']}"
        else:
            label = f"digits 1797x64->{p['n_components']}"
        for contender in contenders:
            res = {
                lim: run_child(
                    "bench_threads",
                    "case",
                    dict(p, contender=contender, limited=lim, repeats=repeats),
                )
                for lim in (True, False)
            }
            row = {
                "problem": label,
                "contender": contender,
                "n_iter": res[True]["n_iter"],
                "n_fev": res[True]["n_fev"],
            }
            for lim, name in ((True, "limited"), (False, "default")):
                with_spread(row, f"{name}_ms_per_eval", res[lim]["eval_times"], 1e3)
            for lim, name in ((True, "limited"), (False, "default")):
                with_spread(row, f"{name}_s_per_fit", res[lim]["fit_times"])
            row["default/limited"] = res[False]["eval_s"] / res[True]["eval_s"]
            rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    apply_common_args(args)
    record = start_recording("threads", argv)
    if args.quick:
        rows = run(
            problems=[
                dict(
                    problem="lowrank",
                    n_samples=100,
                    n_features=10,
                    n_components=3,
                    max_iter=5,
                )
            ],
            repeats=1,
        )
    else:
        rows = run(repeats=args.repeats)
    finish_main(
        record,
        args,
        "Threads: scipy's OpenBLAS at 1 thread (skae's fit) vs default",
        [{"columns": COLUMNS, "rows": rows}],
    )
    return rows


if __name__ == "__main__":
    main()
