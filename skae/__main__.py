"""``python -m skae``: autoencoders against PCA on scikit-learn's bundled digits.

Fits PCA and an AutoencoderTransformer at a few code sizes on a train split of
the standardized digits (no download), prints held-out reconstruction error
and fit time side by side, and writes a PNG of original / PCA / autoencoder
reconstructions when matplotlib is installed (the ``plot`` extra).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer


def _held_out_error(model, X) -> float:
    R = X - model.inverse_transform(model.transform(X))
    return float(np.mean(np.sum(R**2, axis=1)))


def compare_on_digits(code_sizes=(2, 8, 16), max_iter=300, random_state=0):
    """Rows of (k, pca_error, pca_seconds, ae_error, ae_seconds) and the models."""
    X, _ = load_digits(return_X_y=True)
    X_tr, X_te = train_test_split(X, test_size=0.25, random_state=random_state)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    rows, models = [], {}
    for k in code_sizes:
        t = time.perf_counter()
        pca = PCA(k, random_state=random_state).fit(X_tr)
        t_pca = time.perf_counter() - t
        ae = AutoencoderTransformer(
            k, hidden_layer_sizes=(128,), max_iter=max_iter, random_state=random_state
        )
        t = time.perf_counter()
        with warnings.catch_warnings():
            # a fixed budget is the point of the comparison
            warnings.simplefilter("ignore", ConvergenceWarning)
            ae.fit(X_tr)
        t_ae = time.perf_counter() - t
        rows.append(
            (k, _held_out_error(pca, X_te), t_pca, _held_out_error(ae, X_te), t_ae)
        )
        models[k] = (pca, ae)
    return rows, models, (X_te, scaler)


def _print_table(rows, file=sys.stdout):
    print(
        "Held-out reconstruction error on digits (standardized, mean squared "
        "error per sample; lower is better)",
        file=file,
    )
    head = f"{'k':>3} | {'PCA error':>10} {'fit s':>7} | {'AE error':>10} {'fit s':>7}"
    print(head + f" | {'AE / PCA':>8}", file=file)
    print("-" * (len(head) + 11), file=file)
    for k, e_pca, t_pca, e_ae, t_ae in rows:
        print(
            f"{k:>3} | {e_pca:>10.3f} {t_pca:>7.3f} | {e_ae:>10.3f} {t_ae:>7.2f}"
            f" | {e_ae / e_pca:>8.2f}",
            file=file,
        )


def _write_png(path, models, X_te, scaler, n_images=8):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'skae[plot]'): no PNG.")
        return None
    k = max(models)
    pca, ae = models[k]
    rows = [
        ("original", X_te[:n_images]),
        (f"PCA({k})", pca.inverse_transform(pca.transform(X_te[:n_images]))),
        (f"autoencoder({k})", ae.reconstruct(X_te[:n_images])),
    ]
    fig, axes = plt.subplots(3, n_images, figsize=(n_images, 3.4))
    for r, (label, images) in enumerate(rows):
        images = scaler.inverse_transform(images)
        for c in range(n_images):
            ax = axes[r, c]
            ax.imshow(images[c].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.suptitle("Held-out digits: original / PCA / autoencoder")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m skae",
        description="Compare PCA and AutoencoderTransformer on the bundled digits.",
    )
    parser.add_argument(
        "--n-components",
        type=int,
        nargs="+",
        default=[2, 8, 16],
        help="code sizes to compare (default: 2 8 16)",
    )
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--png", default="skae_digits.png", help="output picture")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    rows, models, (X_te, scaler) = compare_on_digits(
        tuple(args.n_components), args.max_iter, args.random_state
    )
    _print_table(rows)
    path = _write_png(args.png, models, X_te, scaler)
    if path:
        print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
