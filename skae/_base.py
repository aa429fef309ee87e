"""The base autoencoder estimator shared by every public class.

It holds the parameters common to all autoencoders, validates them and the
data, turns them into an :class:`~skae._network.Architecture` and an objective,
hands that to :func:`~skae._optimize.minimize_lbfgs`, and stores the result.
``transform``, ``inverse_transform``, ``reconstruct``, ``score`` and
``score_samples`` are here too, evaluated in chunks of bounded memory.
Variants are parameters: a subclass only chooses defaults and, for denoising,
how to corrupt the training input (:meth:`BaseAutoencoder._training_pair`).
"""

from __future__ import annotations

from functools import partial
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import (
    check_array,
    check_random_state,
    gen_batches,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from skae import _dask, _stream
from skae._activations import ACTIVATIONS, UNIT_INTERVAL_ACTIVATIONS
from skae._network import (
    Workspace,
    init_params,
    loss_grad,
    make_architecture,
    pack,
    predict,
    sq_errors,
    unpack,
)
from skae._optimize import EarlyStopping, minimize_lbfgs
from skae._pretrain import greedy_pretrain, in_memory_objective

_FITTED_ATTRIBUTES = (
    "coefs_",
    "intercepts_",
    "layer_activations_",
    "n_iter_",
    "loss_",
    "loss_curve_",
    "validation_scores_",
    "best_validation_score_",
    "n_features_in_",
    "feature_names_in_",
    "stopped_by_",
)


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


class BaseAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class of the skae autoencoders; not for direct use."""

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "code_activation": [StrOptions(set(ACTIVATIONS))],
        "output_activation": [StrOptions({"identity", "logistic"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "sparsity_weight": [Interval(Real, 0, None, closed="left")],
        "sparsity_target": [Interval(Real, 0, 1, closed="neither")],
        "tied_weights": ["boolean"],
        "pretrain": [StrOptions({"greedy"}), None],
        "pretrain_max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "callback": [callable, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(100,),
        activation="tanh",
        code_activation="identity",
        output_activation="identity",
        alpha=1e-4,
        sparsity_weight=0.0,
        sparsity_target=0.05,
        tied_weights=False,
        pretrain=None,
        pretrain_max_iter=100,
        max_iter=500,
        tol=1e-4,
        max_fun=15000,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        callback=None,
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.code_activation = code_activation
        self.output_activation = output_activation
        self.alpha = alpha
        self.sparsity_weight = sparsity_weight
        self.sparsity_target = sparsity_target
        self.tied_weights = tied_weights
        self.pretrain = pretrain
        self.pretrain_max_iter = pretrain_max_iter
        self.max_iter = max_iter
        self.tol = tol
        self.max_fun = max_fun
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callback = callback
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # ----------------------------------------------------------------- fitting
    def _is_noisy(self) -> bool:
        """Whether training corrupts its input (overridden by denoising)."""
        return False

    def _training_pair(self, X, rng):
        """``(inputs, targets)`` the objective compares; identity by default."""
        return X, X

    def _architecture(self, n_features: int):
        hidden = _check_hidden_layer_sizes(self.hidden_layer_sizes)
        arch = make_architecture(
            n_features,
            hidden,
            self.n_components,
            self.activation,
            self.code_activation,
            self.output_activation,
            tied=self.tied_weights,
        )
        if self.sparsity_weight > 0:
            if self.code_activation not in UNIT_INTERVAL_ACTIVATIONS:
                raise ValueError(
                    "sparsity_weight > 0 requires code_activation='logistic' (the "
                    "KL sparsity penalty needs code activations in (0, 1)), got "
                    f"code_activation={self.code_activation!r}."
                )
        linear = set(arch.activations) == {"identity"}
        if linear and self.n_components > n_features and not self._is_noisy():
            raise ValueError(
                f"n_components={self.n_components} must be <= n_features="
                f"{n_features} for a linear autoencoder without noise: it would "
                "learn the identity. Use fewer components, a nonlinear "
                "activation, or a DenoisingAutoencoder."
            )
        return arch

    def _validate_input(self, X, reset: bool):
        # scikit-learn's finiteness check first sums X; near the dtype's
        # largest values that sum overflows and warns before it falls back to
        # an exact element-wise check: the warning is noise, not a problem.
        with np.errstate(over="ignore", invalid="ignore"):
            return validate_data(
                self,
                X,
                reset=reset,
                accept_sparse=("csr", "csc"),
                dtype=[np.float64, np.float32],
                ensure_min_samples=2 if reset else 1,
            )

    def _objective(self, X_in, target, arch):
        ws = Workspace(arch, X_in.shape[0], X_in.dtype)
        return partial(
            loss_grad,
            X=X_in,
            target=target,
            ws=ws,
            alpha=self.alpha,
            sparsity_weight=self.sparsity_weight,
            sparsity_target=self.sparsity_target,
        )

    def _initial_theta(self, arch, rng, X_in, target, mean, **stage):
        """Starting parameters: the previous fit's (``warm_start``), greedy
        pretraining's, or Glorot's, the output bias at the data ``mean``.

        ``stage`` overrides how pretraining evaluates a stage (``make_objective``,
        ``encode``, ``column_mean`` of :func:`greedy_pretrain`): in memory by
        default, chunked for a dask fit.
        """
        if self.warm_start and hasattr(self, "coefs_"):
            shapes = [W.shape for W in self.coefs_]
            expected = [(a, b) for a, b in zip(arch.sizes[:-1], arch.sizes[1:])]
            if shapes != expected:
                raise ValueError(
                    "warm_start=True needs the same architecture as the previous "
                    f"fit: layer shapes {shapes} were fitted, {expected} requested."
                )
            return pack(self.coefs_, self.intercepts_, arch)
        if self.pretrain == "greedy" and arch.code_layer > 1:
            stage.setdefault(
                "make_objective",
                partial(
                    in_memory_objective,
                    alpha=self.alpha,
                    sparsity_target=self.sparsity_target,
                ),
            )
            return greedy_pretrain(
                X_in,
                target,
                arch,
                rng,
                output_bias=mean,
                max_iter=self.pretrain_max_iter,
                max_fun=self.max_fun,
                tol=self.tol,
                sparsity_weight=self.sparsity_weight,
                verbose=self.verbose,
                **stage,
            )
        return init_params(arch, rng, output_bias=mean)

    def _set_params_from_theta(self, theta, arch, dtype):
        coefs, intercepts = unpack(np.asarray(theta, dtype=dtype), arch)
        self.coefs_ = [np.ascontiguousarray(W) for W in coefs]
        self.intercepts_ = [b.copy() for b in intercepts]
        self.layer_activations_ = tuple(arch.activations)

    def _fit(self, X):
        # A full fit ends any partial_fit stream (its Adam state is private).
        self.__dict__.pop("_stream_state", None)
        if _dask.is_dask_collection(X):  # map-reduce L-BFGS over row chunks
            return _dask.fit(self, X)
        X = self._validate_input(X, reset=True)
        _check_value_range(X)
        arch = self._architecture(X.shape[1])
        rng = check_random_state(self.random_state)
        dtype = X.dtype

        early = None
        if self.early_stopping:
            n_val = int(round(self.validation_fraction * X.shape[0]))
            if n_val < 1 or n_val >= X.shape[0]:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction} leaves "
                    f"{n_val} of {X.shape[0]} samples for validation; early "
                    "stopping needs at least one sample on each side."
                )
            perm = rng.permutation(X.shape[0])
            X_val, X = X[perm[:n_val]], X[perm[n_val:]]
            early = EarlyStopping(
                partial(_mean_sq_error, X=X_val, arch=arch, dtype=dtype),
                n_iter_no_change=self.n_iter_no_change,
                tol=self.tol,
            )

        X_in, target = self._training_pair(X, rng)
        mean = np.asarray(target.mean(axis=0)).ravel()
        theta0 = self._initial_theta(arch, rng, X_in, target, mean)
        objective = self._objective(X_in, target, arch)

        return self._run_lbfgs(objective, theta0, arch, dtype, early)

    def _run_lbfgs(self, objective, theta0, arch, dtype, early):
        """Minimise ``objective`` from ``theta0`` and store the fitted state.

        Shared by the in-memory fit and the chunked (dask) fit, which differ
        only in how the objective is evaluated.
        """
        callback = None
        if self.callback is not None:

            def callback(iteration, loss, theta):
                self._set_params_from_theta(theta, arch, dtype)
                return bool(self.callback(iteration, loss, self))

        result = minimize_lbfgs(
            objective,
            theta0,
            max_iter=self.max_iter,
            max_fun=self.max_fun,
            tol=self.tol,
            callback=callback,
            early_stopping=early,
            verbose=self.verbose,
            name=type(self).__name__,
        )
        if not (np.isfinite(result.theta).all() and np.isfinite(result.loss)):
            raise ValueError(
                f"{type(self).__name__}.fit diverged: the parameters or the loss "
                "became non-finite. Scale the input (e.g. StandardScaler), lower "
                "the values' range, or increase alpha."
            )
        self._set_params_from_theta(result.theta, arch, dtype)
        self.n_iter_ = result.n_iter
        self.loss_ = result.loss
        self.loss_curve_ = result.loss_curve
        self.stopped_by_ = result.stopped_by
        self.validation_scores_ = None if early is None else early.scores
        self.best_validation_score_ = None if early is None else -early.best_loss
        return self

    def _clear_fitted_state(self):
        for name in _FITTED_ATTRIBUTES:
            self.__dict__.pop(name, None)

    def fit(self, X, y=None):
        """Fit the autoencoder to ``X`` by L-BFGS.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. float32 input is trained in float32.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from skae import AutoencoderTransformer
        >>> X = np.random.RandomState(0).normal(size=(100, 6))
        >>> ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(),
        ...                             tol=1e-3, random_state=0).fit(X)
        >>> [W.shape for W in ae.coefs_]
        [(6, 2), (2, 6)]
        """
        try:
            return self._validated_fit(X)
        except BaseException:
            # Never leave a half-updated estimator that transform would accept:
            # this covers parameter validation too, which runs in the context.
            self._clear_fitted_state()
            raise

    @_fit_context(prefer_skip_nested_validation=True)
    def _validated_fit(self, X):
        return self._fit(X)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, *, batch_size=200, learning_rate=1e-3):
        """One pass of minibatch Adam over ``X``, continuing previous calls.

        The alternative to ``fit`` for data that arrives in pieces and never
        sits anywhere at once: call it once per piece (or several times per
        piece for several passes). It minimises the same objective as ``fit``
        evaluated on each minibatch (weight decay ``alpha / (2 b)`` for a batch
        of ``b`` samples; sparsity at the batch's mean code; denoising corrupts
        each minibatch afresh) with Adam steps instead of L-BFGS. The first
        call initialises the network as ``fit`` would on that piece; a fitted
        estimator is refined from its parameters. ``n_iter_`` counts the calls
        and ``loss_curve_`` holds each call's mean minibatch loss. A dask
        array is streamed chunk by chunk through the client.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The next piece of training data.
        y : Ignored
            Not used, present for API consistency by convention.
        batch_size : int, default=200
            Number of samples per Adam step.
        learning_rate : float, default=1e-3
            Adam's step size.

        Returns
        -------
        self : object
            The updated estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from skae import AutoencoderTransformer
        >>> rng = np.random.RandomState(0)
        >>> basis = rng.normal(size=(3, 10))
        >>> ae = AutoencoderTransformer(n_components=3, random_state=0)
        >>> for _ in range(5):  # five pieces of a stream
        ...     X_piece = rng.normal(size=(400, 3)) @ basis
        ...     ae = ae.partial_fit(X_piece)
        >>> ae.n_iter_
        5
        >>> ae.transform(X_piece).shape
        (400, 3)
        >>> bool(ae.loss_curve_[-1] < ae.loss_curve_[0])
        True
        """
        return _stream.partial_fit(
            self, X, batch_size=batch_size, learning_rate=learning_rate
        )

    # --------------------------------------------------------------- inference
    @property
    def _n_features_out(self):
        """Width of the fitted code layer."""
        return self.coefs_[len(self.coefs_) // 2 - 1].shape[1]

    def _layers(self, part: str, dtype):
        """(coefs, intercepts, activations) of the fitted encoder, decoder or
        (``part="network"``) both.

        Read from the fitted state only, so that ``set_params`` after ``fit``
        cannot make inference disagree with the fitted network.
        """
        c = len(self.coefs_) // 2
        sl = {"encoder": slice(0, c), "decoder": slice(c, None)}.get(part, slice(None))
        coefs = [W.astype(dtype, copy=False) for W in self.coefs_[sl]]
        intercepts = [b.astype(dtype, copy=False) for b in self.intercepts_[sl]]
        return coefs, intercepts, self.layer_activations_[sl]

    def _chunked(self, X, func, n_out: int, dtype):
        """Apply ``func`` to row blocks of ``X`` sized by scikit-learn's
        ``working_memory``; returns an ndarray of shape (n_samples, n_out)."""
        widest = max(max(W.shape) for W in self.coefs_)
        row_bytes = 3 * widest * np.dtype(dtype).itemsize
        chunk = int(get_config()["working_memory"] * 2**20 // row_bytes)
        out = np.empty((X.shape[0], n_out), dtype=dtype)
        # Overflow is reported once, as a ValueError, never as inf/NaN results.
        with np.errstate(over="ignore", invalid="ignore"):
            for batch in gen_batches(X.shape[0], max(chunk, 1)):
                out[batch] = func(X[batch])
        if not np.isfinite(out).all():
            raise ValueError(
                f"{type(self).__name__}: the result overflowed {np.dtype(dtype)} "
                "(non-finite values): the input's values are too large for this "
                "network. Scale the input as the training data was scaled, or "
                "pass float64 data instead of float32."
            )
        return out

    def transform(self, X):
        """Encode ``X``: the code-layer activations.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            Codes, float32 for float32 input and float64 otherwise.
            A lazy dask array (one task per row chunk) for a dask array ``X``.

        Examples
        --------
        >>> import numpy as np
        >>> from skae import AutoencoderTransformer
        >>> X = np.random.RandomState(0).normal(size=(100, 6))
        >>> ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(),
        ...                             tol=1e-3, random_state=0).fit(X)
        >>> ae.transform(X).shape
        (100, 2)
        """
        check_is_fitted(self)
        if _dask.is_dask_collection(X):
            return _dask.apply(self, X, "transform")
        X = self._validate_input(X, reset=False)
        layers = self._layers("encoder", X.dtype)
        return self._chunked(
            X, lambda B: predict(B, *layers), self._n_features_out, X.dtype
        )

    def inverse_transform(self, X):
        """Decode codes back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes, as returned by ``transform``.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            Reconstructions.
            A lazy dask array (one task per row chunk) for a dask array ``X``.

        Examples
        --------
        >>> import numpy as np
        >>> from skae import AutoencoderTransformer
        >>> X = np.random.RandomState(0).normal(size=(100, 6))
        >>> ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(),
        ...                             tol=1e-3, random_state=0).fit(X)
        >>> ae.inverse_transform(ae.transform(X)).shape
        (100, 6)
        """
        check_is_fitted(self)
        if _dask.is_dask_collection(X):
            return _dask.apply(self, X, "inverse_transform")
        Z = _check_codes(X, self._n_features_out)
        layers = self._layers("decoder", Z.dtype)
        return self._chunked(
            Z, lambda B: predict(B, *layers), self.n_features_in_, Z.dtype
        )

    def reconstruct(self, X):
        """Encode then decode ``X``: ``inverse_transform(transform(X))``.

        For a :class:`DenoisingAutoencoder` this denoises a batch in one call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to reconstruct.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            Reconstructions.
            A lazy dask array (one task per row chunk) for a dask array ``X``.

        Examples
        --------
        >>> import numpy as np
        >>> from skae import AutoencoderTransformer
        >>> X = np.random.RandomState(0).normal(size=(100, 6))
        >>> ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(),
        ...                             tol=1e-3, random_state=0).fit(X)
        >>> X_hat = ae.reconstruct(X)
        >>> bool(np.allclose(X_hat, ae.inverse_transform(ae.transform(X))))
        True
        """
        check_is_fitted(self)
        if _dask.is_dask_collection(X):
            return _dask.apply(self, X, "reconstruct")
        X = self._validate_input(X, reset=False)
        enc = self._layers("encoder", X.dtype)
        dec = self._layers("decoder", X.dtype)
        return self._chunked(
            X,
            lambda B: predict(predict(B, *enc), *dec),
            self.n_features_in_,
            X.dtype,
        )

    def score_samples(self, X):
        """Negative squared reconstruction error of each sample.

        Higher is better; low values flag samples unlike the training data,
        so this serves as an anomaly score.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-||x - x_hat||^2`` for each sample.
            A lazy dask array (one task per row chunk) for a dask array ``X``.

        Examples
        --------
        >>> import numpy as np
        >>> from skae import AutoencoderTransformer
        >>> X = np.random.RandomState(0).normal(size=(100, 6))
        >>> ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(),
        ...                             tol=1e-3, random_state=0).fit(X)
        >>> scores = ae.score_samples(X)
        >>> scores.shape
        (100,)
        >>> bool(np.all(scores <= 0))
        True
        """
        check_is_fitted(self)
        if _dask.is_dask_collection(X):
            return _dask.apply(self, X, "score_samples")
        X = self._validate_input(X, reset=False)
        layers = self._layers("network", X.dtype)
        errors = self._chunked(X, lambda B: sq_errors(B, *layers)[:, None], 1, X.dtype)
        return -errors[:, 0]

    def score(self, X, y=None):
        """Negative mean squared reconstruction error per sample.

        Higher is better, so ``GridSearchCV`` can tune ``n_components`` with
        no labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            ``-mean_i ||x_i - x_hat_i||^2``.

        Examples
        --------
        >>> import numpy as np
        >>> from skae import AutoencoderTransformer
        >>> X = np.random.RandomState(0).normal(size=(100, 6))
        >>> ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(),
        ...                             tol=1e-3, random_state=0).fit(X)
        >>> bool(np.isclose(ae.score(X), ae.score_samples(X).mean()))
        True
        """
        return float(np.mean(self.score_samples(X), dtype=np.float64))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = True
        return tags


def _check_value_range(X) -> None:
    """Reject training data whose squared reconstruction errors would
    overflow its dtype (float32 values beyond about 1e18): no model fitted on
    it could score it."""
    data = X.data if sp.issparse(X) else X
    if data.size == 0:
        return
    big = max(abs(float(data.max())), abs(float(data.min())))  # no copy of X
    finfo = np.finfo(X.dtype)
    # a residual can reach the data's range, 2 * big, in each of the features
    if big > np.sqrt(float(finfo.max) / (4.0 * X.shape[1])):
        raise ValueError(
            f"X has values up to {big:.3g} in absolute value: squared "
            f"reconstruction errors would overflow {X.dtype} (largest value "
            f"{float(finfo.max):.3g}). Scale the input (e.g. with StandardScaler), "
            "or pass float64 data instead of float32."
        )


def _check_codes(Z, n_components: int) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):  # as in _validate_input
        Z = check_array(Z, dtype=[np.float64, np.float32], input_name="codes")
    if Z.shape[1] != n_components:
        raise ValueError(
            f"inverse_transform expects codes with {n_components} columns "
            f"(n_components), got {Z.shape[1]}."
        )
    return Z


def _mean_sq_error(theta, X, arch, dtype) -> float:
    """Mean over samples of ``||x - x_hat||^2`` for the network ``theta``."""
    coefs, intercepts = unpack(np.asarray(theta, dtype=dtype), arch)
    return float(sq_errors(X, coefs, intercepts, arch.activations).mean())
