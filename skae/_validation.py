"""Checks of the data and of the parameters, each error message written once.

Two kinds of checks live here, both free of any estimator class:

* data checks: training and inference input (dtype, shape, no inf, missing
  values (NaN) where they are allowed, values whose squared errors would
  overflow), codes given to the decoder,
  the size of the held-out part of early stopping, a warm start's shapes;
* :func:`check_params`, the rules that span several parameters (or that
  scikit-learn's per-parameter constraints cannot state), which turns the
  estimator's parameters into the plain values a fit runs on: an
  :class:`~skae._network.Architecture` and :class:`Hyperparameters`.

The in-memory and the dask paths call the same functions, so that both raise
the same errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import (
    _check_sample_weight,
    _get_feature_names,
    validate_data,
)

from skae._activations import UNIT_INTERVAL_ACTIVATIONS
from skae._missing import check_missing
from skae._network import Architecture, make_architecture
from skae._noise import NoiseSpec

_DTYPES = [np.float64, np.float32]


# --------------------------------------------------------------------- data
def check_training_data(X, name: str):
    """``(X, feature_names)``: ``X`` as a float64/float32 array or CSR/CSC
    matrix of at least 2 samples, without inf, with squares that cannot
    overflow; NaN (missing, dense only) allowed, but not in a whole row or a
    whole column (:func:`skae._missing.check_missing`); ``feature_names`` the
    string column names of a DataFrame, else None."""
    feature_names = _get_feature_names(X)
    # scikit-learn's finiteness check first sums X; near the dtype's largest
    # values that sum overflows and warns before it falls back to an exact
    # element-wise check: the warning is noise, not a problem.
    with np.errstate(over="ignore", invalid="ignore"):
        X = check_array(
            X,
            accept_sparse=("csr", "csc"),
            dtype=_DTYPES,
            ensure_min_samples=2,
            ensure_all_finite="allow-nan",
            estimator=name,
        )
    check_missing(X, rows=True, columns=True)
    check_value_range(X)
    return X, feature_names


def check_fitted_data(est, X, *, value_range: bool = False):
    """``X`` checked against ``est``'s fitted ``n_features_in_`` and feature
    names (inference, and ``partial_fit`` after the first call, which asks
    for the ``value_range`` check and rows with an observed value)."""
    with np.errstate(over="ignore", invalid="ignore"):  # see check_training_data
        X = validate_data(
            est,
            X,
            reset=False,
            accept_sparse=("csr", "csc"),
            dtype=_DTYPES,
            ensure_all_finite="allow-nan",
        )
    check_missing(X, rows=value_range, columns=False)
    if value_range:
        check_value_range(X)
    return X


def check_value_range(X) -> None:
    """Reject training data whose squared reconstruction errors would
    overflow its dtype (float32 values beyond about 1e18); NaN is ignored."""
    data = X.data if sp.issparse(X) else X
    if data.size:
        # no copy of X; fmax/fmin skip NaN (a row or column of NaN is
        # rejected before, so some value is observed)
        high, low = np.fmax.reduce(data, axis=None), np.fmin.reduce(data, axis=None)
        big = max(abs(float(high)), abs(float(low)))
        check_value_magnitude(big, X.dtype, X.shape[1])


def check_value_magnitude(big: float, dtype, n_features: int) -> None:
    """:func:`check_value_range` given the largest absolute value ``big``."""
    finfo = np.finfo(dtype)
    # a residual can reach the data's range, 2 * big, in each of the features
    if big > np.sqrt(float(finfo.max) / (4.0 * n_features)):
        raise ValueError(
            f"X has values up to {big:.3g} in absolute value: squared "
            f"reconstruction errors would overflow {np.dtype(dtype)} (largest "
            f"value {float(finfo.max):.3g}). Scale the input (e.g. with "
            "StandardScaler), or pass float64 data instead of float32."
        )


def check_sample_weight(sample_weight, X):
    """``sample_weight`` checked against the rows of ``X`` (None stays None):
    in memory by scikit-learn's ``_check_sample_weight`` (1-D, one per row,
    finite, non-negative, not all zero; float64, never written to); for a
    dask ``X``, a float64 dask vector chunked like its rows, from a dask or
    a NumPy vector, whose values :func:`skae._dask.training_data` checks
    with the data (:func:`check_weight_values`)."""
    if sample_weight is None:
        return None
    if not hasattr(X, "__dask_graph__"):
        return _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
    import dask.array as da

    w = sample_weight
    if hasattr(w, "__dask_graph__"):
        if not isinstance(w, da.Array):  # a dask series
            w = w.to_dask_array(lengths=True)
        if any(np.isnan(c) for c in w.chunks[0]):
            w = w.compute_chunk_sizes()
        check_weight_shape(w.shape, X.shape[0])
    else:
        w = da.from_array(check_sample_weight(w, np.empty((X.shape[0], 0))))
    return w.astype(np.float64).rechunk((X.chunks[0],))


def check_weight_shape(shape: tuple, n_samples: int) -> None:
    """One weight per sample, in a 1-D vector (scikit-learn's messages)."""
    if len(shape) != 1:
        raise ValueError(
            f"Sample weights must be 1D array or scalar, got {len(shape)}D array. "
            f"Expected either a scalar value or a 1D array of length {n_samples}."
        )
    if shape[0] != n_samples:
        raise ValueError(f"sample_weight.shape == {shape}, expected ({n_samples},)!")


def check_weight_values(finite: bool, low: float, total: float) -> None:
    """The value checks of :func:`check_sample_weight`, from a dask vector's
    summary (all finite, minimum, sum), with scikit-learn's messages."""
    if not finite:
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if low < 0:
        raise ValueError("Negative values in data passed to `sample_weight`.")
    if total <= 0:
        raise ValueError("Sample weights must contain at least one non-zero number.")


def check_sample_weight_first(sample_weight, X) -> None:
    """The checks of :func:`check_sample_weight` (values too, for a dask
    vector) before anything else, so that ``fit`` with bad weights raises and
    leaves a fitted estimator as it was; skipped when ``X`` has no row count
    yet (its own check then raises)."""
    if sample_weight is None:
        return
    try:
        n = X.shape[0] if hasattr(X, "shape") else len(X)
    except TypeError:
        return
    if not isinstance(n, Integral):  # a dask array of unknown chunk sizes
        return
    if not hasattr(sample_weight, "__dask_graph__"):
        check_sample_weight(sample_weight, np.empty((n, 0)))
        return
    import dask
    import dask.array as da

    w = sample_weight
    if not isinstance(w, da.Array):  # a dask series
        w = w.to_dask_array(lengths=True)
    check_weight_shape(w.shape, n)
    check_weight_values(*dask.compute(da.isfinite(w).all(), w.min(), w.sum()))


def check_codes(Z, n_components: int) -> np.ndarray:
    """Codes given to ``inverse_transform``: finite, ``n_components`` wide."""
    with np.errstate(over="ignore", invalid="ignore"):  # see check_training_data
        Z = check_array(Z, dtype=_DTYPES, input_name="codes")
    check_width(Z.shape[1], n_components, "codes")
    return Z


def check_width(n_columns: int, expected: int, what: str, name: str = "") -> None:
    """The one message for input of the wrong width: codes or ``X``."""
    if n_columns == expected:
        return
    if what == "codes":
        raise ValueError(
            f"inverse_transform expects codes with {expected} columns "
            f"(n_components), got {n_columns}."
        )
    raise ValueError(
        f"X has {n_columns} features, but {name} is expecting {expected} "
        "features as input."
    )


def held_out_rows(n: int, fraction: float, rng) -> np.ndarray:
    """Boolean mask of the rows early stopping holds out: the first
    ``round(fraction * n)`` of ``rng.permutation(n)``."""
    n_val = int(round(fraction * n))
    if n_val < 1 or n_val >= n:
        raise ValueError(
            f"validation_fraction={fraction} leaves {n_val} of {n} samples for "
            "validation; early stopping needs at least one sample on each side."
        )
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:n_val]] = True
    return mask


def fold_masks(n: int, n_folds: int, rng) -> list[np.ndarray]:
    """Boolean held-out masks of ``min(n_folds, n)`` folds that partition the
    rows of ``rng.permutation(n)`` into near-equal parts."""
    order = rng.permutation(n)
    masks = []
    for part in np.array_split(order, min(n_folds, n)):
        mask = np.zeros(n, dtype=bool)
        mask[part] = True
        masks.append(mask)
    return masks


def check_same_architecture(coefs, skip_coefs, arch: Architecture, what: str):
    """A fit that continues fitted parameters needs their layer shapes (and
    their linear skip path, or its absence)."""
    shapes = [W.shape for W in coefs] + [S.shape for S in skip_coefs]
    expected = [(a, b) for a, b in zip(arch.sizes[:-1], arch.sizes[1:])]
    if arch.skip:
        c = arch.code_layer
        expected += [(arch.sizes[0], arch.sizes[c]), (arch.sizes[c], arch.sizes[0])]
    if shapes != expected:
        raise ValueError(
            f"{what} needs the same architecture as the previous fit: layer "
            f"shapes {shapes} were fitted, {expected} requested (e.g. "
            "n_components, hidden_layer_sizes or init changed since; the "
            "last two shapes, if any, are the linear skip path of init='pca')."
        )


# --------------------------------------------------------------- parameters
@dataclass(frozen=True)
class Hyperparameters:
    """Validated parameters of one fit, as plain values."""

    alpha: float
    sparsity_weight: float
    sparsity_target: float
    solver: str
    max_iter: int
    tol: float
    max_fun: int
    batch_size: int | str
    learning_rate_init: float
    early_stopping: bool | str
    validation_fraction: float
    n_iter_no_change: int
    pretrain: str | None
    pretrain_max_iter: int
    init: str
    noise: NoiseSpec | None
    verbose: int
    #: Adam keeps the moving average of its iterates (set by the fit pipeline
    #: when held-out rows choose the iterate: early stopping, cross-validation)
    average: bool = False

    @property
    def penalties(self) -> dict:
        """The objective's penalty keywords, as the data backends take them."""
        return dict(
            alpha=self.alpha, beta=self.sparsity_weight, rho=self.sparsity_target
        )

    def batch_rows(self, n_rows: int) -> int:
        """Rows per Adam step: ``"auto"`` is min(200, n_rows); never more
        than ``n_rows``."""
        size = 200 if self.batch_size == "auto" else self.batch_size
        return max(1, min(int(size), n_rows))


def _check_hidden_layer_sizes(hidden_layer_sizes) -> tuple[int, ...]:
    sizes = tuple(np.ravel(np.asarray(hidden_layer_sizes, dtype=object)).tolist())
    if not all(isinstance(s, Integral) and not isinstance(s, bool) for s in sizes):
        raise ValueError(
            "hidden_layer_sizes must be a tuple of positive integers, got "
            f"{hidden_layer_sizes!r}."
        )
    if any(s < 1 for s in sizes):
        raise ValueError(
            f"hidden_layer_sizes must contain positive integers, got {sizes}."
        )
    return tuple(int(s) for s in sizes)


def _check_numbers(params: dict, constraints: dict) -> None:
    """What an ``Interval`` constraint lets through: a bool where an int is
    asked for (``True`` is an ``Integral``), an infinite float."""
    for name, options in constraints.items():
        value = params.get(name)
        for c in options:
            if not isinstance(c, Interval):
                continue
            if c.type is Integral and isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name} must be an int, got {value!r}.")
            if (
                c.type is Real
                and isinstance(value, Real)
                and not np.isfinite(float(value))
            ):
                raise ValueError(f"{name} must be a finite number, got {value!r}.")


def resolve_init(params: dict, hidden: tuple) -> str:
    """``init="pca"`` where the network can start at PCA's reconstruction, and
    ``"random"`` (Glorot) where it cannot: a code or output activation that is
    not the identity (a logistic sparse code, a logistic output), greedy
    pretraining (which chooses its own start), and tied weights with hidden
    layers (whose PCA start is a stationary point: the nonlinear branches
    would never move from zero)."""
    if params["init"] != "pca":
        return "random"
    identity = params["code_activation"] == params["output_activation"] == "identity"
    tied_deep = params["tied_weights"] and bool(hidden)
    if not identity or params["pretrain"] is not None or tied_deep:
        return "random"
    return "pca"


def check_params(
    params: dict, constraints: dict, n_features: int
) -> tuple[Architecture, Hyperparameters]:
    """The rules spanning parameters; the network and hyperparameters to fit.

    ``params`` are an estimator's ``get_params()``, already checked one by one
    against ``constraints`` (its ``_parameter_constraints``). Variants are
    parameters: a ``noise`` parameter (not None) makes the fit denoising.
    """
    _check_numbers(params, constraints)
    hidden = _check_hidden_layer_sizes(params["hidden_layer_sizes"])
    init = resolve_init(params, hidden)
    arch = make_architecture(
        n_features,
        hidden,
        params["n_components"],
        params["activation"],
        params["code_activation"],
        params["output_activation"],
        tied=params["tied_weights"],
        skip=init == "pca" and bool(hidden),
    )
    if params["sparsity_weight"] > 0:
        if params["code_activation"] not in UNIT_INTERVAL_ACTIVATIONS:
            raise ValueError(
                "sparsity_weight > 0 requires code_activation='logistic' (the "
                "KL sparsity penalty needs code activations in (0, 1)), got "
                f"code_activation={params['code_activation']!r}."
            )
    noise = None
    if params.get("noise") is not None:
        noise = NoiseSpec(
            params["noise"], params["noise_level"], params["n_corruptions"]
        )
        if noise.kind != "gaussian" and noise.level > 1:
            raise ValueError(
                f"noise_level={noise.level} is a fraction of entries for "
                f"noise={noise.kind!r} and must lie in [0, 1]."
            )
    linear = set(arch.activations) == {"identity"}
    n_components = params["n_components"]
    if linear and n_components > n_features and not (noise and noise.active):
        raise ValueError(
            f"n_components={n_components} must be <= n_features="
            f"{n_features} for a linear autoencoder without noise: it would "
            "learn the identity. Use fewer components, a nonlinear "
            "activation, or a DenoisingAutoencoder."
        )
    names = [f for f in Hyperparameters.__dataclass_fields__ if f in params]
    hyper = Hyperparameters(
        **{k: params[k] for k in names if k not in ("init", "noise")},
        init=init,
        noise=noise,
    )
    return arch, hyper
