"""``python -m skae``: autoencoders against PCA, on the digits or your data.

Without arguments it fits PCA and an AutoencoderTransformer at a few code
sizes on a train split of scikit-learn's bundled digits (standardized, no
download), prints held-out reconstruction error and fit time side by side, and
writes a PNG of original / PCA / autoencoder reconstructions when matplotlib
is installed (the ``plot`` extra).

With ``--data FILE`` (CSV, with or without a header row, or ``.npy``) it does
the same on that table: standardize, split, compare, and write the codes of
every row (``--out``, CSV or ``.npy``) and a PNG of the loss curve and the
first two code units.

The promise: any bad input (an option value out of range, an unreadable,
empty, non-numeric, non-finite or constant table, values too large to
standardize, a code too large for the machine's memory, an output path that
cannot be written) ends with exactly one line on stderr and exit code 2,
never a traceback. Everything that can be checked is checked before the first
fit, so a bad option costs no fitting time and leaves no file half-written.
"""

from __future__ import annotations

import argparse
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

from skae import (
    AutoencoderTransformer,
    DenoisingAutoencoder,
    SparseAutoencoder,
    __version__,
)
from skae._cli_checks import TEST_SIZE as _TEST_SIZE
from skae._cli_checks import check_memory as _check_memory
from skae._cli_checks import check_outputs as _check_outputs
from skae._tables import InputError, load_table, write_codes

KINDS = {
    "autoencoder": AutoencoderTransformer,
    "denoising": DenoisingAutoencoder,
    "sparse": SparseAutoencoder,
}
_SEED_MAX = 2**32 - 1  # numpy's legacy seeding, used by scikit-learn


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


def _standardize(X, X_tr, X_te):
    """Scale by the train split's mean and deviation; :class:`InputError` when
    the data cannot be (every training row equal, or values so large that the
    variance, or the squared errors of the scaled rows, overflow float64)."""
    if np.all(X_tr == X_tr[0]):
        if np.all(X == X[0]):
            raise InputError(
                f"all {X.shape[0]} rows are identical (constant data): there is "
                "nothing to compress."
            )
        raise InputError(
            f"the {X_tr.shape[0]} training rows (the split keeps a quarter of "
            "the rows out) are identical: there is nothing to learn from; use "
            "more varied data or another --random-state."
        )
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # overflow is checked below, as one clear error
        warnings.simplefilter("ignore", RuntimeWarning)
        scaler = StandardScaler().fit(X_tr)
        Z_tr, Z_te = scaler.transform(X_tr), scaler.transform(X_te)
    # the estimators' own bound, over all rows: the sum of every row's squared
    # reconstruction error (a residual reaches twice the range) stays finite
    bound = math.sqrt(np.finfo(np.float64).max / (4.0 * X.shape[1] * X.shape[0]))
    for Z in (Z_tr, Z_te):
        bad = ~(np.abs(Z) <= bound)  # NaN counts as bad
        if not np.isfinite(scaler.scale_).all() or bad.any():
            column = int(np.argmax(bad.any(axis=0) | ~np.isfinite(scaler.scale_)))
            big = float(np.max(np.abs(X[:, column])))
            raise InputError(
                f"column {column} holds values up to {big:.3g} in absolute value: "
                "too large to standardize in float64; rescale or clip it first."
            )
    return scaler, Z_tr, Z_te


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
    X_tr, X_te = train_test_split(X, test_size=_TEST_SIZE, random_state=random_state)
    scaler, X_tr, X_te = _standardize(X, X_tr, X_te)
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


def _ratio(e_ae, e_pca) -> str:
    if e_pca > 0:
        ratio = e_ae / e_pca
        return f"{ratio:>8.2f}" if ratio < 1e4 else f"{ratio:>8.2g}"
    # PCA reconstructs the held-out rows exactly (rank-deficient data)
    return f"{'inf' if e_ae > 0 else '-':>8}"


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
            ratio = _ratio(e_ae, e_pca)
        print(f"{k:>3} | {pca_cols} | {e_ae:>10.3f} {t_ae:>7.2f} | {ratio}", file=file)


# -------------------------------------------------------------------- pictures
def _plotting():
    try:
        import matplotlib

        matplotlib.use("Agg")
        from skae import plotting
    except ImportError:
        print("matplotlib is not installed (pip install 'skae[plot]'): no PNG.")
        return None
    return plotting


def _save(fig, path, **kwargs) -> None:
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, dpi=100, **kwargs)
    except OSError as exc:  # checked up front; the disk can still fill up
        raise InputError(f"cannot write {path}: {exc.strerror or exc}.") from exc
    finally:
        plt.close(fig)


def _write_digits_png(path, models, X_te, scaler, n_images=8):
    plotting = _plotting()
    if plotting is None:
        return None
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
    _save(fig, path, bbox_inches="tight")
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
    _save(fig, path)
    return path


# ---------------------------------------------------------------- command line
def _int_in(low, high=None):
    """An argparse ``type``: an integer in ``[low, high]``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer, got {text!r}"
            ) from None
        if value < low or (high is not None and value > high):
            span = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise argparse.ArgumentTypeError(f"must be an integer {span}, got {text}")
        return value

    return parse


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse's default prints the usage too: one line keeps the promise
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser():
    parser = _Parser(
        prog="python -m skae",
        description=(
            "Compare PCA and an autoencoder: standardize the bundled digits (or "
            "your own numeric table with --data), fit both at each code size on "
            "three quarters of the rows, print the held-out reconstruction error "
            "and fit time side by side, and write a picture (and, with --out, "
            "the codes of every row)."
        ),
        epilog=(
            "Exit status: 0 on success; 2 on bad input (an option, the data or "
            "an output path), reported as one line on stderr. All of them are "
            "checked before anything is fitted."
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
        type=_int_in(1),
        nargs="+",
        default=None,
        metavar="K",
        help="code sizes to compare (default: 2 8 16 on the digits, 2 with --data)",
    )
    parser.add_argument(
        "--kind",
        choices=sorted(KINDS),
        default="autoencoder",
        help="autoencoder (AutoencoderTransformer), denoising "
        "(DenoisingAutoencoder) or sparse (SparseAutoencoder); default: autoencoder",
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="write the codes of every row (largest K, model fitted on the "
        "train split) to FILE: .npy, else CSV",
    )
    parser.add_argument(
        "--max-iter",
        type=_int_in(1),
        default=300,
        metavar="N",
        help="most L-BFGS iterations per autoencoder fit (default: 300)",
    )
    parser.add_argument(
        "--png",
        metavar="FILE",
        default=None,
        help="output picture, .png or another format matplotlib writes "
        "(default: skae_digits.png, or skae_<data name>.png)",
    )
    parser.add_argument(
        "--random-state",
        type=_int_in(0, _SEED_MAX),
        default=0,
        metavar="SEED",
        help="seed of the train/test split and of every fit (default: 0)",
    )
    parser.add_argument("--version", action="version", version=f"skae {__version__}")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except InputError as exc:
        message = str(exc)
    except MemoryError:  # the up-front estimate is rough; never a traceback
        message = (
            "out of memory reading the data or fitting; use a smaller "
            "--n-components (or fewer rows or columns)."
        )
    print(f"python -m skae: error: {message}", file=sys.stderr)
    return 2


def _run(args) -> int:
    if args.data is None:
        name = "digits"
    else:
        name = os.path.splitext(os.path.basename(args.data))[0]
    png = args.png or f"skae_{name}.png"
    _check_outputs(args, png)
    if args.data is None:
        X = load_digits().data
        sizes = args.n_components or (2, 8, 16)
    else:
        X = load_table(args.data)
        sizes = args.n_components or (2,)
    sizes = tuple(dict.fromkeys(sizes))  # each size once, in the order given
    models = [
        _make_model(args.kind, k, args.max_iter, args.random_state, X.shape[1])
        for k in sizes
    ]
    _check_memory(models, X)
    rows, models, (X_te, scaler) = compare(
        X,
        sizes,
        kind=args.kind,
        max_iter=args.max_iter,
        random_state=args.random_state,
    )
    _print_table(rows, name=name)
    # the codes first: they are the result, the picture only shows it
    if args.out is not None:
        _, (_, ae) = max(models.items())
        write_codes(args.out, ae.transform(scaler.transform(X)))
        print(f"Wrote codes of {X.shape[0]} rows to {args.out}")
    if args.data is None:
        path = _write_digits_png(png, models, X_te, scaler)
    else:
        path = _write_data_png(png, models, X_te, name)
    if path:
        print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
