"""``python -m skae``: autoencoders against PCA, on the digits or your data.

Without arguments it fits PCA and an AutoencoderTransformer at a few code
sizes on a train split of scikit-learn's bundled digits (standardized, no
download), prints held-out reconstruction error and fit time side by side, and
writes a PNG of original / PCA / autoencoder reconstructions when matplotlib
is installed (the ``plot`` extra).

With ``--data FILE`` (CSV, with or without a header row, or ``.npy``) it does
the same on that table: standardize, split, compare, and write the codes of
every row (``--out``, CSV or ``.npy``) and a PNG of the loss curve and the
first two code units. Bad input (an unreadable file, a non-numeric column,
missing values) ends with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer, DenoisingAutoencoder, SparseAutoencoder

KINDS = {
    "autoencoder": AutoencoderTransformer,
    "denoising": DenoisingAutoencoder,
    "sparse": SparseAutoencoder,
}
_MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}


class DataError(Exception):
    """A problem with the user's data file, reported as one line."""


def _held_out_error(model, X) -> float:
    R = X - model.inverse_transform(model.transform(X))
    return float(np.mean(np.sum(R**2, axis=1)))


def _make_model(kind, k, max_iter, random_state, n_features):
    if kind == "sparse":
        return SparseAutoencoder(k, max_iter=max_iter, random_state=random_state)
    hidden = (min(128, max(2 * n_features, 2 * k)),)
    return KINDS[kind](
        k, hidden_layer_sizes=hidden, max_iter=max_iter, random_state=random_state
    )


def compare(
    X,
    code_sizes=(2, 8, 16),
    *,
    kind="autoencoder",
    max_iter=300,
    random_state=0,
):
    """Fit PCA and an autoencoder per code size on a standardized train split.

    Returns rows of ``(k, pca_error, pca_seconds, ae_error, ae_seconds)`` with
    held-out errors (``nan`` for PCA when ``k`` exceeds what PCA allows), the
    models by ``k``, and ``(X_test, scaler)``.
    """
    X_tr, X_te = train_test_split(X, test_size=0.25, random_state=random_state)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    rows, models = [], {}
    for k in code_sizes:
        pca, e_pca, t_pca = None, math.nan, math.nan
        if k <= min(X_tr.shape):
            t = time.perf_counter()
            pca = PCA(k, random_state=random_state).fit(X_tr)
            t_pca = time.perf_counter() - t
            e_pca = _held_out_error(pca, X_te)
        ae = _make_model(kind, k, max_iter, random_state, X.shape[1])
        t = time.perf_counter()
        with warnings.catch_warnings():
            # a fixed budget is the point of the comparison
            warnings.simplefilter("ignore", ConvergenceWarning)
            ae.fit(X_tr)
        t_ae = time.perf_counter() - t
        rows.append((k, e_pca, t_pca, _held_out_error(ae, X_te), t_ae))
        models[k] = (pca, ae)
    return rows, models, (X_te, scaler)


def compare_on_digits(code_sizes=(2, 8, 16), max_iter=300, random_state=0):
    """:func:`compare` on the bundled digits with the plain autoencoder."""
    X, _ = load_digits(return_X_y=True)
    return compare(X, code_sizes, max_iter=max_iter, random_state=random_state)


def _print_table(rows, name="digits", file=None):
    print(
        f"Held-out reconstruction error on {name} (standardized, mean squared "
        "error per sample; lower is better)",
        file=file,
    )
    head = f"{'k':>3} | {'PCA error':>10} {'fit s':>7} | {'AE error':>10} {'fit s':>7}"
    print(head + f" | {'AE / PCA':>8}", file=file)
    print("-" * (len(head) + 11), file=file)
    for k, e_pca, t_pca, e_ae, t_ae in rows:
        if math.isnan(e_pca):  # k above PCA's limit min(n_samples, n_features)
            pca_cols, ratio = f"{'-':>10} {'-':>7}", f"{'-':>8}"
        else:
            pca_cols = f"{e_pca:>10.3f} {t_pca:>7.3f}"
            ratio = f"{e_ae / e_pca:>8.2f}"
        print(f"{k:>3} | {pca_cols} | {e_ae:>10.3f} {t_ae:>7.2f} | {ratio}", file=file)


def _plotting():
    try:
        import matplotlib

        matplotlib.use("Agg")
        from skae import plotting
    except ImportError:
        print("matplotlib is not installed (pip install 'skae[plot]'): no PNG.")
        return None
    return plotting


def _write_digits_png(path, models, X_te, scaler, n_images=8):
    plotting = _plotting()
    if plotting is None:
        return None
    import matplotlib.pyplot as plt

    k = max(models)
    pca, ae = models[k]
    fig = plotting.plot_reconstructions(
        X_te,
        {f"PCA({k})": pca, f"autoencoder({k})": ae},
        n_images=n_images,
        postprocess=scaler.inverse_transform,
        vmin=0,
        vmax=16,
        title="Held-out digits: original / PCA / autoencoder",
    )
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _write_data_png(path, models, X_te, name):
    plotting = _plotting()
    if plotting is None:
        return None
    import matplotlib.pyplot as plt

    k = max(models)
    pca, ae = models[k]
    label = f"{type(ae).__name__}({k})"
    panels = 1 + (k >= 2) + (pca is not None and k >= 2)
    fig, axes = plt.subplots(
        1, panels, figsize=(5 * panels, 4.2), layout="constrained", squeeze=False
    )
    axes = axes[0]
    plotting.plot_loss_curve({label: ae}, ax=axes[0])
    axes[0].set_title("training objective")
    if k >= 2:
        plotting.plot_codes(ae, X_te, ax=axes[1])
        axes[1].set_title(f"{label}: held-out codes")
    if panels == 3:
        plotting.plot_codes(pca, X_te, ax=axes[2])
        axes[2].set_title(f"PCA({k}): held-out codes")
    fig.suptitle(f"skae on {name}")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _parse_float(cell: str):
    try:
        return float(cell)
    except ValueError:
        return None


def _read_csv(path) -> np.ndarray:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{path} holds no data.")
    first = [c.strip() for c in rows[0]]
    header = None
    if all(c.lower() not in _MISSING and _parse_float(c) is None for c in first):
        header, rows = first, rows[1:]
    if not rows:
        raise DataError(f"{path} has a header row but no data rows.")
    width = len(header) if header is not None else len(rows[0])
    names = header or [str(j) for j in range(width)]
    X = np.empty((len(rows), width))
    offset = 2 if header is not None else 1
    for i, row in enumerate(rows):
        line = i + offset
        if len(row) != width:
            raise DataError(
                f"{path}, line {line}: {len(row)} fields where {width} were expected."
            )
        for j, cell in enumerate(row):
            cell = cell.strip()
            if cell.lower() in _MISSING:
                raise DataError(
                    f"{path}, line {line}: missing value in column {names[j]!r}; "
                    "impute or drop missing values first (e.g. "
                    "sklearn.impute.SimpleImputer)."
                )
            value = _parse_float(cell)
            if value is None:
                raise DataError(
                    f"{path}, line {line}: column {names[j]!r} is not numeric "
                    f"({cell!r}); encode or drop non-numeric columns first."
                )
            X[i, j] = value
    return X


def _read_npy(path) -> np.ndarray:
    try:
        X = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise DataError(
            f"{path} is not a numeric .npy array (object arrays are not loaded): {exc}"
        ) from exc
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: dtype {X.dtype} is not numeric.")
    if X.ndim != 2:
        raise DataError(
            f"{path}: expected a 2-D array (n_samples, n_features), got shape "
            f"{X.shape}."
        )
    X = X.astype(np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(
            f"{path}: {int(bad.sum())} missing or infinite values (first at row "
            f"{i}, column {j}); impute or drop them first."
        )
    return X


def load_table(path) -> np.ndarray:
    """Read a numeric 2-D table from a CSV or ``.npy`` file; :class:`DataError`
    with a one-line message on any problem."""
    try:
        if str(path).endswith(".npy"):
            X = _read_npy(path)
        else:
            X = _read_csv(path)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}.") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(
            f"cannot read {path} as CSV text: {exc}; pass a CSV or .npy file."
        ) from exc
    if X.shape[0] < 4:
        raise DataError(f"{path}: {X.shape[0]} rows; at least 4 are needed.")
    if not np.isfinite(X).all():
        raise DataError(f"{path}: infinite values; replace them first.")
    return X


def _write_codes(path, Z) -> None:
    try:
        if str(path).endswith(".npy"):
            np.save(path, Z)
        else:
            header = ",".join(f"code{j}" for j in range(Z.shape[1]))
            np.savetxt(path, Z, delimiter=",", header=header, comments="")
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}.") from exc


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m skae",
        description=(
            "Compare PCA and an autoencoder: on the bundled digits, or on your "
            "own numeric table with --data."
        ),
    )
    parser.add_argument(
        "--data",
        metavar="FILE",
        help="CSV (header row optional) or .npy file of shape (n_samples, "
        "n_features); default: the bundled digits",
    )
    parser.add_argument(
        "--n-components",
        type=int,
        nargs="+",
        default=None,
        metavar="K",
        help="code sizes to compare (default: 2 8 16 on the digits, 2 with --data)",
    )
    parser.add_argument(
        "--kind",
        choices=sorted(KINDS),
        default="autoencoder",
        help="which autoencoder (default: autoencoder)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="write the codes of every row (largest K, model fitted on the "
        "train split) to FILE: .npy, else CSV",
    )
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument(
        "--png",
        default=None,
        help="output picture (default: skae_digits.png, or skae_<data name>.png)",
    )
    parser.add_argument("--random-state", type=int, default=0)
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except DataError as exc:
        print(f"python -m skae: error: {exc}", file=sys.stderr)
        return 2


def _run(args) -> int:
    if args.n_components is not None and min(args.n_components) < 1:
        raise DataError("--n-components must be positive integers.")
    if args.data is None:
        X, name = load_digits().data, "digits"
        sizes = tuple(args.n_components or (2, 8, 16))
    else:
        X = load_table(args.data)
        name = os.path.splitext(os.path.basename(args.data))[0]
        sizes = tuple(args.n_components or (2,))
    rows, models, (X_te, scaler) = compare(
        X,
        sizes,
        kind=args.kind,
        max_iter=args.max_iter,
        random_state=args.random_state,
    )
    _print_table(rows, name=name)
    if args.data is None:
        path = _write_digits_png(args.png or "skae_digits.png", models, X_te, scaler)
    else:
        path = _write_data_png(args.png or f"skae_{name}.png", models, X_te, name)
    if path:
        print(f"Wrote {path}")
    if args.out is not None:
        _, (_, ae) = max(models.items())
        _write_codes(args.out, ae.transform(scaler.transform(X)))
        print(f"Wrote codes of {X.shape[0]} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
