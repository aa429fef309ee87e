"""Research tool for issue 11's selection defaults: record once, choose offline.

For each panel table (<= 1000 train rows: the cross-validated path) and seed,
and each network variant, this records with L-BFGS at one thread:

* every fold's held-out row errors at every iteration (0 = the PCA start),
  for ``--folds`` folds drawn exactly as :func:`skae._fit.fit` draws them, each
  fold run with a long patience (``--patience``) so that any shorter patience
  can be replayed by truncation (an L-BFGS path does not depend on when it is
  stopped);
* the final refit's path on all train rows from the same start, with the
  test rows' mean error at every iteration, and its time per iteration;

so that selection rules (SE factor, earliest-within vs best, fold patience,
fold count) are compared on the same fits, and their cost counted in
iterations. Output: one ``.npz`` per (variant, table, seed) in ``--out``.

    python benchmarks/exp_selection.py --variants '{"h100": {}}' --out /tmp/exp
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import sys
import time
import warnings

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np


def record(table, seed, params, n_folds, patience, max_iter, out):
    from sklearn.utils import check_random_state

    from benchmarks._datasets import load_table
    from benchmarks.bench_panel import _split
    from skae import AutoencoderTransformer, _fit
    from skae._memory import ArrayData
    from skae._network import row_sq_errors
    from skae._optimize import EarlyStopping, minimize_lbfgs
    from skae._select import RowErrorTrace
    from skae._validation import check_params, fold_masks

    X = load_table(table)
    d = X.shape[1]
    k = max(1, d // 3)
    X_tr, X_te = _split(X, seed)
    est = AutoencoderTransformer(k, random_state=seed, **params)
    arch, hyper = check_params(
        est.get_params(deep=False), est._parameter_constraints, d
    )
    hyper = dataclasses.replace(
        hyper, solver="lbfgs", max_iter=max_iter, n_iter_no_change=patience
    )
    data = ArrayData(X_tr)
    rng = check_random_state(seed)
    folds, fold_t, fold_s, fold_it = [], [], [], []
    for held_out in fold_masks(data.n_rows, n_folds, rng):
        train, validation = data.split(held_out)
        trace = RowErrorTrace(validation.row_errors(arch))
        stamps = []

        def timed(theta, _trace=trace, _stamps=stamps):
            _stamps.append(time.perf_counter())
            return _trace(theta)

        early = EarlyStopping(timed, patience, hyper.tol)
        t0 = time.perf_counter()
        res = _fit._solve(
            train,
            arch,
            hyper,
            copy.deepcopy(rng),
            _fit.Start(),
            None,
            early,
            "fold",
            False,
        )[0]
        fold_s.append(time.perf_counter() - t0)
        fold_it.append(res.n_iter)
        folds.append(np.vstack(trace.rows))
        fold_t.append(np.array(stamps) - t0)
    theta0 = _fit.initial_theta(_fit.Start(), data, arch, hyper, rng)
    fun = data.objective(arch, **hyper.penalties)
    test = [float(row_sq_errors(theta0, arch, X_te).mean())]
    train_err = [float(row_sq_errors(theta0, arch, X_tr).mean())]
    t_test = [0.0]
    stamps = []

    def callback(it, loss, theta):
        t = time.perf_counter()
        stamps.append(t - sum(t_test))
        test.append(float(row_sq_errors(theta, arch, X_te).mean()))
        train_err.append(float(row_sq_errors(theta, arch, X_tr).mean()))
        t_test.append(time.perf_counter() - t)

    budget = max(len(f) for f in folds) - 1
    t0 = time.perf_counter()
    res = minimize_lbfgs(
        fun,
        theta0,
        max_iter=max(1, budget),
        max_fun=hyper.max_fun,
        tol=hyper.tol,
        callback=callback,
        warn=False,
    )
    final_s = time.perf_counter() - t0 - sum(t_test)
    final_t = np.array([0.0] + stamps) - t0
    arrays = {f"fold{i}": f for i, f in enumerate(folds)}
    arrays.update({f"fold{i}_t": t for i, t in enumerate(fold_t)})
    from sklearn.neural_network import MLPRegressor

    mlp_s = []
    for _ in range(2):
        mlp = MLPRegressor(
            hidden_layer_sizes=(100, k, 100), solver="lbfgs", random_state=seed
        )
        t1 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlp.fit(X_tr, X_tr)
        mlp_s.append(time.perf_counter() - t1)
    np.savez(
        os.path.join(out, f"{table}_{seed}.npz"),
        test=np.array(test),
        train=np.array(train_err),
        fold_s=np.array(fold_s),
        fold_it=np.array(fold_it),
        final_s=final_s,
        final_it=res.n_iter,
        final_t=final_t,
        mlp_s=min(mlp_s),
        n_folds=len(folds),
        **arrays,
    )
    return {"table": table, "seed": seed, "fold_s": sum(fold_s), "final_s": final_s}


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--variants", type=json.loads, default={"h100": {}})
    p.add_argument("--tables", default=None)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--patience", type=int, default=50)
    p.add_argument("--max-iter", type=int, default=500)
    p.add_argument("--out", default="/tmp/exp")
    args = p.parse_args(argv)
    import scipy.linalg  # noqa: F401  scipy's own BLAS loaded before the limit
    import sklearn.neural_network  # noqa: F401
    from threadpoolctl import threadpool_limits

    from benchmarks._datasets import PANEL

    tables = (
        args.tables.split(",")
        if args.tables
        else [
            t
            for t in PANEL
            if t not in ("digits", "fair", "randhie")  # > 1000 train rows
        ]
    )
    with threadpool_limits(1):
        for name, params in args.variants.items():
            out = os.path.join(args.out, f"{name}_k{args.folds}")
            os.makedirs(out, exist_ok=True)
            for table in tables:
                for seed in range(args.seeds):
                    if os.path.exists(os.path.join(out, f"{table}_{seed}.npz")):
                        continue
                    r = record(
                        table,
                        seed,
                        params,
                        args.folds,
                        args.patience,
                        args.max_iter,
                        out,
                    )
                    print(name, r, flush=True)


if __name__ == "__main__":
    main()
