"""PCA against AutoencoderTransformer: fit time and held-out error, same codes.

The price and the gain of replacing PCA: at each code size ``k`` both are
fitted on a standardized train split (75 %) and report their fit time and
their held-out reconstruction error (mean over test samples of
``||x - x_hat||^2``). The autoencoder is ``AutoencoderTransformer(k,
hidden_layer_sizes=(128,), activation="tanh")`` with ``max_iter=500`` (its
default tolerance), as a user would call it. Datasets: scikit-learn's bundled
digits (1797 x 64) and a synthetic nonlinear one (5000 x 100: a 10-dimensional
latent variable through a random two-layer tanh map, plus noise), both
available without a download. Fit times are medians over runs in this process
(a warm-up fit first).

Run: ``python benchmarks/bench_pca.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

from benchmarks._common import (
    add_common_args,
    apply_common_args,
    finish_main,
    quiet_fit,
    start_recording,
    with_spread,
)

COLUMNS = [
    "dataset",
    "k",
    "pca_fit_s",
    "ae_fit_s",
    "ae_n_iter",
    "pca_test_error",
    "ae_test_error",
    "ae/pca_error",
    "ae/pca_time",
]


def nonlinear_data(n_samples=5000, n_features=100, latent=10, noise=0.05, seed=0):
    """Rows ``tanh(tanh(z A) B)`` of a ``latent``-dimensional ``z``, plus noise."""
    rng = np.random.RandomState(seed)
    z = rng.standard_normal((n_samples, latent))
    H = np.tanh(z @ rng.standard_normal((latent, 64)) / np.sqrt(latent) * 2)
    X = np.tanh(H @ rng.standard_normal((64, n_features)) / 4)
    return X + noise * rng.standard_normal(X.shape)


def _split(X, seed=0):
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X_tr, X_te = train_test_split(X, test_size=0.25, random_state=seed)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te)


def _error(model, X):
    R = X - model.inverse_transform(model.transform(X))
    return float(np.mean(np.sum(R**2, axis=1)))


def _timed_fit(make, X, runs):
    quiet_fit(make(warmup=True), X)
    times, model = [], None
    for _ in range(runs):
        model = make()
        t0 = time.perf_counter()
        quiet_fit(model, X)
        times.append(time.perf_counter() - t0)
    return times, model


def run(datasets=None, code_sizes=(2, 8, 16, 32), hidden=(128,), max_iter=500, runs=3):
    """One row per (dataset, k)."""
    from sklearn.decomposition import PCA

    from benchmarks._common import digits
    from skae import AutoencoderTransformer

    if datasets is None:
        datasets = {
            "digits 1797x64": digits(standardize=False),
            "nonlinear 5000x100": nonlinear_data(),
        }
    rows = []
    for name, X in datasets.items():
        X_tr, X_te = _split(X)
        for k in code_sizes:
            if k > min(X_tr.shape):
                continue

            def make_pca(warmup=False, k=k):
                return PCA(k, random_state=0)

            def make_ae(warmup=False, k=k):
                return AutoencoderTransformer(
                    k,
                    hidden_layer_sizes=hidden,
                    activation="tanh",
                    max_iter=2 if warmup else max_iter,
                    random_state=0,
                )

            ts_pca, pca = _timed_fit(make_pca, X_tr, runs)
            ts_ae, ae = _timed_fit(make_ae, X_tr, runs)
            e_pca, e_ae = _error(pca, X_te), _error(ae, X_te)
            row = {"dataset": name, "k": k}
            with_spread(row, "pca_fit_s", ts_pca)
            with_spread(row, "ae_fit_s", ts_ae)
            row.update(
                {
                    "ae_n_iter": int(ae.n_iter_),
                    "pca_test_error": e_pca,
                    "ae_test_error": e_ae,
                    "ae/pca_error": e_ae / e_pca,
                    "ae/pca_time": row["ae_fit_s"] / row["pca_fit_s"],
                }
            )
            rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    apply_common_args(args)
    record = start_recording("pca", argv)
    if args.quick:
        rng = np.random.RandomState(0)
        rows = run(
            datasets={"tiny 60x8": rng.standard_normal((60, 8))},
            code_sizes=(2, 3),
            hidden=(4,),
            max_iter=5,
            runs=1,
        )
    else:
        rows = run(runs=args.runs)
    finish_main(
        record,
        args,
        "PCA vs AutoencoderTransformer: fit time and held-out error",
        [{"columns": COLUMNS, "rows": rows}],
    )
    return rows


if __name__ == "__main__":
    main()
