"""The base autoencoder estimator shared by every public class.

It holds the parameters common to all autoencoders and the estimator's side
of a fit: check the data (:mod:`skae._validation`) and the parameters
(:func:`~skae._validation.check_params`), choose the data backend (in memory,
or a dask array), hand plain values to the fit pipeline (:func:`skae._fit.fit`)
and store the :class:`~skae._fit.FittedState` it returns in one step
(:meth:`BaseAutoencoder._store`). ``sample_weight`` travels with the rows in
the data backend; the estimator only checks it. Inference is inherited from
:class:`skae._transform.InferenceMixin`. Variants are parameters: a subclass
only adds parameters and chooses defaults.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from numbers import Integral, Real

from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from skae import _dask, _dask_io, _draws, _fit
from skae._activations import ACTIVATIONS
from skae._adam import AdamState
from skae._memory import ArrayData
from skae._missing import fill_values, filled, has_nan
from skae._network import pack
from skae._transform import InferenceMixin
from skae._validation import (
    check_fitted_data,
    check_params,
    check_same_architecture,
    check_sample_weight,
    check_sample_weight_first,
    check_training_data,
    check_width,
)

#: Every attribute a fit stores, and a failed fit removes, in one step.
_FITTED_ATTRIBUTES = (
    "coefs_",
    "intercepts_",
    "layer_activations_",
    "skip_coefs_",
    "n_iter_",
    "loss_",
    "loss_curve_",
    "validation_scores_",
    "best_validation_score_",
    "n_features_in_",
    "feature_names_in_",
    "fill_values_",
    "stopped_by_",
    "_adam_state",
)
#: Fitted attributes that are absent, rather than None, when they do not apply.
_ABSENT_IF_NONE = ("feature_names_in_", "_adam_state")
#: Serialises the swaps of estimators' attribute dictionaries.
_STORE_LOCK = threading.Lock()


class BaseAutoencoder(ClassNamePrefixFeaturesOutMixin, InferenceMixin, BaseEstimator):
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
        "init": [StrOptions({"pca", "random"})],
        "solver": [StrOptions({"auto", "lbfgs", "adam"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "early_stopping": [StrOptions({"auto"}), "boolean"],
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
        init="pca",
        solver="auto",
        max_iter=500,
        tol=1e-4,
        max_fun=15000,
        batch_size="auto",
        learning_rate_init=1e-3,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=20,
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
        self.init = init
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.max_fun = max_fun
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callback = callback
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    #: A row-wise fill of missing inputs that masking noise applies to each
    #: corrupted copy (set by :mod:`skae._imputation` on a denoising
    #: autoencoder with masking noise, in memory only); None: the column
    #: means ``fill_values_``.
    _noise_fill = None
    #: Whether ``fit`` in memory draws the training holes (:mod:`skae._draws`);
    #: False: the column means, as dask and ``partial_fit`` fill them.
    _draw_holes = True

    # ----------------------------------------------------------------- fitting
    def _run(self, X, *, incremental: bool, sample_weight=None):
        """Check, fit and store: the estimator's side of ``fit`` and
        ``partial_fit`` (one Adam epoch continuing the fitted state)."""
        name = type(self).__name__
        callback = self.callback  # read once: the callback may change it
        continuing = incremental and hasattr(self, "coefs_")
        # missing entries enter the network as the fill values (skae._missing);
        # a continued fit keeps those of the fit it continues
        fill = getattr(self, "fill_values_", None) if continuing else None
        draws = None
        if _dask.is_dask_collection(X):
            names = None
            if continuing:
                X = _dask.as_dask_matrix(X)
                check_width(X.shape[1], self.n_features_in_, "X", name)
            data = _dask_io.training_data(X, sample_weight, fill)
            if fill is None:
                fill = data.column_mean().astype(data.dtype)
        else:
            if continuing:
                X = check_fitted_data(self, X, value_range=True)
                names = getattr(self, "feature_names_in_", None)
            else:
                X, names = check_training_data(X, name)
            sample_weight = check_sample_weight(sample_weight, X)
            fill = fill_values(X, sample_weight) if fill is None else fill
            # a fit's holes are drawn afresh for each copy or minibatch
            # (skae._draws; the held-out rows read expectations); a copy: the
            # caller's X is never changed; with a row fill, the noise fills
            # each corrupted copy (NaN kept until then)
            drawn = self._draw_holes and not incremental and self._noise_fill is None
            if drawn and has_nan(X):
                rng = check_random_state(self.random_state)
                draws = _draws.conditional_draws(X, sample_weight, rng)
            if self._noise_fill is not None:
                X_in = X
            else:
                X_in = filled(X, fill) if draws is None else draws.expected(X)
            target = None if X_in is X else X
            data = ArrayData(X_in, target, sample_weight=sample_weight)
        n_features = data.target.shape[1]
        params = self.get_params(deep=False)
        arch, hyper = check_params(params, self._parameter_constraints, n_features)
        if self._noise_fill is not None:
            noise = dataclasses.replace(hyper.noise, fill=self._noise_fill)
            hyper = dataclasses.replace(hyper, noise=noise)
        if draws is not None:
            lbfgs = _fit.resolve(hyper, data.n_rows).solver == "lbfgs"
            noise = _draws.with_draws(hyper.noise, draws, lbfgs)
            hyper = dataclasses.replace(hyper, noise=noise)
        start, rng = self._start(arch, continuing)
        if incremental:
            hyper = _fit.with_one_pass(hyper)
        fitted = {
            "n_features_in_": n_features,
            "feature_names_in_": names,
            "fill_values_": fill,
        }
        state = _fit.fit(
            data,
            arch,
            hyper,
            rng=rng,
            start=start,
            callback=self._callback_view(callback, arch, data.dtype, fitted),
            name=name,
            warn=not incremental,
            stream=incremental,
        )
        attributes = {**state.attributes(), **fitted}
        # the rows' weights (gathered from a dask vector) only for the extras
        weights = data.weights_in_memory() if self._extra_fitted_attributes else None
        attributes.update(self._fitted_extras(data.target, attributes, weights))
        self._store(attributes)
        return self

    #: Fitted attributes a subclass adds (:meth:`_fitted_extras`), stored and
    #: removed with the others in one step.
    _extra_fitted_attributes: tuple = ()

    def _fitted_extras(self, X, attributes: dict, sample_weight=None) -> dict:
        """Attributes a subclass derives from a fit before it is stored: the
        training rows ``X`` (checked, or a dask array), the fitted
        ``attributes`` and the rows' ``sample_weight`` (checked, in memory, or
        None); they are stored together, atomically."""
        return {}

    def _start(self, arch, continuing: bool):
        """``(Start, rng)``: continue the fitted parameters (``partial_fit``,
        or ``fit`` with ``warm_start``), and a continued Adam stream's state."""
        rng = check_random_state(self.random_state)
        if continuing or (self.warm_start and hasattr(self, "coefs_")):
            what = "partial_fit" if continuing else "warm_start=True"
            # parameters set by hand (no skip_coefs_) have no skip path
            skips = getattr(self, "skip_coefs_", [])
            check_same_architecture(self.coefs_, skips, arch, what)
            theta = pack(self.coefs_, self.intercepts_, arch, skips)
            plain = getattr(self, "_adam_state", None)
            if continuing and plain is not None and len(plain["m"]) == theta.size:
                adam = AdamState.from_plain(plain)
                start = _fit.Start(theta, adam, self.n_iter_, list(self.loss_curve_))
                return start, adam.rng
            return _fit.Start(theta), rng
        return _fit.Start(), rng

    def _callback_view(self, callback, arch, dtype, fitted: dict):
        """The user callback over the flat parameters: it receives a view of
        the estimator (a shallow copy) holding its own copies of the current
        parameters, so that keeping or writing them never touches the fit."""
        if callback is None:
            return None
        view = copy.copy(self)
        fitted_names = _FITTED_ATTRIBUTES + self._extra_fitted_attributes
        view.__dict__ = {
            k: v for k, v in self.__dict__.items() if k not in fitted_names
        }
        view.__dict__.update({k: v for k, v in fitted.items() if v is not None})
        view.layer_activations_ = tuple(arch.activations)

        def adapted(iteration, loss, theta):
            coefs, intercepts, skips = _fit.network_arrays(theta, arch, dtype)
            view.__dict__.update(
                coefs_=coefs,
                intercepts_=intercepts,
                skip_coefs_=skips,
                n_iter_=iteration,
                loss_=loss,
            )
            return bool(callback(iteration, loss, view))

        return adapted

    def _store(self, attributes: dict | None):
        """Replace every fitted attribute at once (``None``: remove them all),
        so that no thread and no re-entrant call ever sees half of two fits."""
        attributes = attributes or {}
        kept = {k: v for k, v in attributes.items() if v is not None}
        kept.update({k: v for k, v in attributes.items() if k not in _ABSENT_IF_NONE})
        fitted_names = _FITTED_ATTRIBUTES + self._extra_fitted_attributes
        with _STORE_LOCK:
            new = {k: v for k, v in self.__dict__.items() if k not in fitted_names}
            new.update(kept)
            self.__dict__ = new

    def fit(self, X, y=None, sample_weight=None):
        """Fit the autoencoder to ``X`` with the chosen ``solver``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. float32 input is trained in float32. Dense input
            may hold missing values (NaN): the loss counts each row's observed
            entries, rescaled to all features; in memory, each missing input
            is drawn afresh from its distribution given the row's observed
            entries (a Gaussian fitted by EM), on a dask array it is
            ``fill_values_`` (user guide, "Missing values").
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample (None: all 1). The objective
            weighs each sample's squared reconstruction error by it and divides
            by the total weight, so an integer weight is the sample repeated
            and a zero weight the sample dropped; the PCA start, the held-out
            error of early stopping and its cross-validated choice are
            weighted alike. With a dask ``X``: a dask or NumPy vector (rechunked
            like ``X``'s rows).

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
        check_sample_weight_first(sample_weight, X)  # bad weights change nothing
        try:
            return self._validated_fit(X, sample_weight)
        except BaseException:
            # Never leave a half-updated estimator that transform would accept:
            # this covers parameter validation too, which runs in the context.
            self._store(None)
            raise

    @_fit_context(prefer_skip_nested_validation=True)
    def _validated_fit(self, X, sample_weight=None):
        return self._run(X, incremental=False, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """One pass of minibatch Adam over ``X``, continuing the fitted state.

        The alternative to ``fit`` for data that arrives in pieces and never
        sits anywhere at once: call it once per piece (or several times per
        piece for several passes). It runs one epoch of the ``solver="adam"``
        fit (shuffled minibatches of ``batch_size`` rows, step size
        ``learning_rate_init``; denoising corrupts each minibatch afresh) and
        ignores ``early_stopping``, ``max_iter`` and ``solver``. The first call
        initialises the network as ``fit`` would on that piece. Later calls
        continue the Adam run that produced the fitted state (moments, random
        generator, ``n_iter_`` and ``loss_curve_``); after an L-BFGS ``fit`` a
        new Adam run starts from the fitted parameters. The architecture must
        not change in between. A dask array is streamed chunk by chunk
        through the client.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The next piece of training data.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample of this piece, as in ``fit``.
            A minibatch's objective is divided by its expected total weight,
            its row count times the piece's mean weight: a batch of every row
            is ``fit``'s objective, a smaller one an unbiased estimate of its
            gradient.

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
        >>> # the first call starts at the first piece's PCA, which already
        >>> # reconstructs this rank-3 stream; the Adam passes stay close to it
        >>> err = -ae.score(X_piece)  # mean squared error per row
        >>> total = ((X_piece - X_piece.mean(axis=0)) ** 2).sum(axis=1).mean()
        >>> bool(err < 1e-3 * total)
        True
        """
        # _fit_context skips the parameter checks once fitted: a parameter
        # changed by set_params since must still be checked.
        self._validate_params()
        return self._run(X, incremental=True, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = True  # missing values, dense input only
        return tags
