"""The autoencoder imputer: missing entries replaced by a denoising
autoencoder's reconstruction, behind scikit-learn's imputer API.

A denoising autoencoder trained with masking noise learns to rebuild entries
it does not see from those it does: exactly the task of an imputer. The
estimator standardizes the columns (the observed entries' mean and standard
deviation, ``mean_`` and ``scale_``), fits a Gaussian to the incomplete rows
(:mod:`skae._gaussian`) whose conditional expectations fill the network's
missing and masked inputs, fits a :class:`~skae.DenoisingAutoencoder` with
``noise="masking"`` on the standardized rows, holes included (the loss
counts observed entries only), and replaces each missing entry by the
reconstruction (:mod:`skae._imputation` trains and chooses).

The rest is :class:`~sklearn.impute.SimpleImputer`'s contract, through
scikit-learn's ``_BaseImputer`` (as ``KNNImputer`` and ``IterativeImputer``):
``missing_values``, ``add_indicator`` (a ``MissingIndicator``),
``keep_empty_features``, ``get_feature_names_out``, ``set_output``.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.impute._base import _BaseImputer
from sklearn.utils._mask import _get_mask
from sklearn.utils._param_validation import Interval, MissingValues, StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from skae._denoising import DenoisingAutoencoder
from skae._docstrings import fill_docstring
from skae._imputation import (
    NETWORK,
    OPTIONS,
    auto_components,
    fit_models,
    impute,
    standardize,
)


class AutoencoderImputer(_BaseImputer):
    """Impute missing values with a denoising autoencoder's reconstruction.

    Each column is standardized with the mean and standard deviation of its
    observed entries. A Gaussian (mean and full covariance) is fitted to the
    standardized rows by EM on their observed entries, and a missing input
    enters the network as its conditional expectation given the row's
    observed entries (not as the column mean, as in the other estimators):
    the input depends on exactly the entries each row has, as a chained
    regression's does. A :class:`DenoisingAutoencoder` with masking noise is
    then fitted to the rows, holes included (the loss counts observed entries
    only); masking hides a fraction ``noise_level`` of each training row's
    entries and fills them the same way, jointly with the row's own holes,
    so that the network learns on inputs distributed as those it will fill.
    ``transform`` replaces every missing entry by the network's
    reconstruction of its filled row, mapped back to the column's units.
    Observed entries are returned unchanged, bit for bit. With
    ``fill_rounds > 1`` the reconstruction is fed back in place of the
    missing inputs, and the network run again, that many times in all.

    The choices are made by imputation itself, on a tenth of the observed
    entries held out (see ``early_stopping``): the Gaussian's ridge, the
    network's training length, and whether the network is kept at all. If
    no iteration imputed the held-out entries better than the Gaussian
    alone, ``autoencoder_`` is None and the imputation is the Gaussian's
    conditional expectation: on held-out entries the imputer is never worse
    than its linear model. The defaults were chosen on real tables with
    entries removed completely at random (``benchmarks/bench_impute.py``;
    benchmarks/README.md has the figures). Rows without any observed value
    are left out of training and imputed with the reconstruction of the mean
    row. Columns without any observed value in ``fit`` are dropped, or kept
    and filled with 0 with ``keep_empty_features=True``, as
    :class:`~sklearn.impute.SimpleImputer` does. Sparse input is not
    supported. :mod:`skae.onnx` does not export this estimator.

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    autoencoder_ : DenoisingAutoencoder or None
        The fitted network, on standardized columns (the non-empty ones),
        reading the Gaussian's fill in place of holes (its ``fill_values_``
        serve only its own methods); in float32 where Adam trained it (from
        3,000 rows, or ``solver="adam"``); None when every column was empty,
        or when the Gaussian alone imputed the held-out entries better.
    gaussian_ : object or None
        The Gaussian of the standardized columns: ``mean``, ``covariance``,
        ``precision`` (ndarrays) and ``fill(Z)``, which returns ``Z`` with
        each NaN replaced by its conditional expectation; None when every
        column was empty.
    validation_errors_ : dict
        The held-out entries' mean squared errors (standardized units) that
        made the choices: ``"gaussian"``, per ridge, and ``"network"``, the
        best iteration's; empty without early stopping.
    mean_ : ndarray of shape (`n_features_in_`,)
        Mean of each column's observed training entries (NaN if none).
    scale_ : ndarray of shape (`n_features_in_`,)
        Standard deviation of each column's observed training entries (1 for
        a constant column, NaN for an empty one).
    n_components_ : int
        Code width of the fitted network (``n_components`` resolved).
    n_iter_ : int
        Iterations (Adam: epochs) of the fitted network's training
        (``autoencoder_.n_iter_``; 0 without a network).
    indicator_ : MissingIndicator or None
        The indicator of ``add_indicator=True``, else None.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    DenoisingAutoencoder : The network inside.
    sklearn.impute.SimpleImputer : Column means, medians or constants.
    sklearn.impute.KNNImputer : Means of the nearest rows.
    sklearn.impute.IterativeImputer : Each feature regressed on the others.

    References
    ----------
    L. Gondara and K. Wang, "MIDA: Multiple imputation using denoising
    autoencoders", PAKDD 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderImputer
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 2)) @ rng.normal(size=(2, 6))
    >>> X_missing = X.copy()
    >>> X_missing[rng.uniform(size=X.shape) < 0.2] = np.nan
    >>> imp = AutoencoderImputer(random_state=0).fit(X_missing)
    >>> X_filled = imp.transform(X_missing)
    >>> bool(np.isnan(X_filled).any())
    False
    >>> observed = ~np.isnan(X_missing)
    >>> bool((X_filled[observed] == X_missing[observed]).all())
    True
    """

    _parameter_constraints: dict = {
        **_BaseImputer._parameter_constraints,
        **{
            k: DenoisingAutoencoder._parameter_constraints[k]
            for k in (*NETWORK, *OPTIONS)
        },
        "missing_values": [MissingValues(numeric_only=True)],
        "n_components": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "noise_level": [Interval(Real, 0, 1, closed="both")],
        "n_corruptions": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "fill_rounds": [Interval(Integral, 1, None, closed="left")],
        "n_iter_no_change": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "max_iter": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
    }

    def __init__(
        self,
        n_components="auto",
        *,
        missing_values=np.nan,
        add_indicator=False,
        keep_empty_features=False,
        noise_level=0.3,
        n_corruptions="auto",
        fill_rounds=1,
        hidden_layer_sizes=(32,),
        activation="relu",
        alpha=1e-4,
        tied_weights=False,
        init="pca",
        solver="auto",
        max_iter="auto",
        tol=1e-4,
        max_fun=15000,
        batch_size="auto",
        learning_rate_init=0.03,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change="auto",
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            missing_values=missing_values,
            add_indicator=add_indicator,
            keep_empty_features=keep_empty_features,
        )
        self.n_components = n_components
        self.noise_level = noise_level
        self.n_corruptions = n_corruptions
        self.fill_rounds = fill_rounds
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.tied_weights = tied_weights
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
        self.random_state = random_state
        self.verbose = verbose

    def _check(self, X, reset: bool):
        """``(X, mask)``: ``X`` validated (a float copy: it is written into),
        and where it holds ``missing_values``."""
        nan = self.missing_values is np.nan or (
            isinstance(self.missing_values, float) and np.isnan(self.missing_values)
        )
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan" if nan else True,
            copy=True,
        )
        return X, _get_mask(X, self.missing_values)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the Gaussian and the autoencoder to the observed entries.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, missing entries marked by ``missing_values``.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample (None: all 1): the
            standardization, the Gaussian, the network's objective and the
            held-out imputation errors weigh each row by it, so that an
            integer weight is the row repeated and a zero weight the row
            dropped (up to the random draws: held-out entries, masking noise).

        Returns
        -------
        self : object
            The fitted imputer.

        Examples
        --------
        >>> import numpy as np
        >>> from skae import AutoencoderImputer
        >>> X = np.random.RandomState(0).normal(size=(60, 4))
        >>> X[0, 1] = np.nan
        >>> AutoencoderImputer(random_state=0).fit(X).n_components_
        2
        """
        X, mask = self._check(X, reset=True)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        self.mean_, self.scale_ = standardize(X, mask, sample_weight)
        valid = ~mask.all(axis=0)
        self._valid_mask = valid
        n_valid = int(valid.sum())
        k = self.n_components
        self.n_components_ = auto_components(n_valid) if k == "auto" else k
        self.autoencoder_ = self.gaussian_ = None
        self.validation_errors_ = {}
        if n_valid:
            Z = self._standardized(X[:, valid], mask[:, valid])
            rows = ~mask[:, valid].all(axis=1)  # rows without data teach nothing
            params = {k: getattr(self, k) for k in NETWORK}
            options = {k: getattr(self, k) for k in OPTIONS}
            w = None if sample_weight is None else sample_weight[rows]
            self.gaussian_, self.autoencoder_, self.validation_errors_ = fit_models(
                Z[rows], self.n_components_, params, options, w
            )
        self.n_iter_ = 0 if self.autoencoder_ is None else self.autoencoder_.n_iter_
        super()._fit_indicator(mask)
        return self

    def _standardized(self, Xv, mask):
        """The valid columns ``Xv`` standardized, NaN where ``mask``."""
        valid = self._valid_mask
        Z = (Xv - self.mean_[valid].astype(Xv.dtype)) / self.scale_[valid].astype(
            Xv.dtype
        )
        Z[mask] = np.nan
        return Z

    def transform(self, X):
        """Replace the missing entries of ``X`` by their reconstruction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with missing entries marked by ``missing_values``.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features_out)
            ``X`` with every missing entry imputed and every observed entry
            unchanged; columns empty in ``fit`` dropped (or 0 with
            ``keep_empty_features=True``), the missing indicator appended
            with ``add_indicator=True``.

        Examples
        --------
        >>> import numpy as np
        >>> from skae import AutoencoderImputer
        >>> X = np.random.RandomState(0).normal(size=(60, 4))
        >>> X[0, 1] = np.nan
        >>> imp = AutoencoderImputer(random_state=0).fit(X)
        >>> imp.transform(X).shape
        (60, 4)
        """
        check_is_fitted(self)
        X, mask = self._check(X, reset=False)
        X_indicator = super()._transform_indicator(mask)
        valid = self._valid_mask
        Xv, mv = X[:, valid], mask[:, valid]
        rows = np.flatnonzero(mv.any(axis=1))
        if len(rows):
            m = mv[rows]
            Z = self._standardized(Xv[rows], m)
            Z = impute(self.gaussian_, self.autoencoder_, Z, m, self.fill_rounds)
            imputed = Z * self.scale_[valid] + self.mean_[valid]
            block = Xv[rows]
            block[m] = imputed[m]
            Xv[rows] = block
        if self.keep_empty_features and not valid.all():
            out = X.copy()
            out[:, valid] = Xv
            out[:, ~valid] = 0
            Xv = out
        return super()._concatenate_indicator(Xv, X_indicator)

    def get_feature_names_out(self, input_features=None):
        """Get output feature names for transformation.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; by default ``feature_names_in_``, else
            ``x0, x1, ...``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The kept input names, then the indicator's (``missingindicator_``
            names) with ``add_indicator=True``.

        Examples
        --------
        >>> import numpy as np
        >>> from skae import AutoencoderImputer
        >>> X = np.random.RandomState(0).normal(size=(60, 3))
        >>> X[0, 1] = np.nan
        >>> imp = AutoencoderImputer(add_indicator=True, random_state=0).fit(X)
        >>> imp.get_feature_names_out().tolist()
        ['x0', 'x1', 'x2', 'missingindicator_x1']
        """
        check_is_fitted(self, "n_features_in_")
        input_features = _check_feature_names_in(self, input_features)
        names = input_features
        if not self.keep_empty_features:
            names = input_features[self._valid_mask]
        return self._concatenate_indicator_feature_names_out(names, input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


_OWN = {
    "n_components": """n_components : int or "auto", default="{n_components}"
        Code width of the network. ``"auto"``: half the number of (non-empty)
        features, rounded up.""",
    "missing_values": """missing_values : int, float or np.nan, default=np.nan
        The placeholder of a missing entry. With a number, NaN in the input
        is an error (as in :class:`~sklearn.impute.SimpleImputer`).""",
    "add_indicator": """add_indicator : bool, default={add_indicator}
        If True, a :class:`~sklearn.impute.MissingIndicator` of the features
        with missing entries in ``fit`` is appended to the output.""",
    "keep_empty_features": """\
keep_empty_features : bool, default={keep_empty_features}
        If True, columns without any observed value in ``fit`` are kept and
        filled with 0; else they are dropped.""",
    "noise_level": """noise_level : float, default={noise_level}
        Fraction of each training row's entries that masking noise hides
        (and fills with their conditional expectation), in [0, 1].""",
    "max_iter": """max_iter : int or "auto", default="{max_iter}"
        Maximum number of L-BFGS iterations, or of Adam epochs. ``"auto"``:
        500 for L-BFGS, 10 for Adam (a budget that runs out does not warn
        then).""",
    "batch_size": """batch_size : int or "auto", default="{batch_size}"
        Rows per Adam step (``solver="adam"``, and ``"auto"`` from 3,000
        training rows on); ``"auto"`` is ``min(500, n_samples)``.""",
    "learning_rate_init": """\
learning_rate_init : float, default={learning_rate_init}
        Adam's step size, finite and positive.""",
    "n_iter_no_change": """\
n_iter_no_change : int or "auto", default="{n_iter_no_change}"
        Iterations (Adam: epochs) without an improvement of ``tol`` of the
        held-out imputation before training stops; ``"auto"``: 20 for
        L-BFGS, 10 for Adam.""",
    "n_corruptions": """n_corruptions : int or "auto", default="{n_corruptions}"
        Number of masked copies of each training row. ``"auto"``: 4 when
        L-BFGS trains (one fixed objective, which then sees several masks
        of each row), 1 when Adam does (it masks each minibatch afresh).""",
    "early_stopping": """early_stopping : bool or "auto", default={early_stopping}
        True or ``"auto"``: hold out ``validation_fraction`` of the observed
        entries; fit the Gaussian to the rest with each candidate ridge and
        keep the best at the held-out entries; train the network on the rest,
        score its imputation of the held-out entries after each iteration
        (Adam: epoch), stop once it has not improved by ``tol`` for
        ``n_iter_no_change`` iterations; keep no network if the Gaussian
        imputed them better, else refit both on every entry, the network for
        the best number of iterations (from 10,000 rows on, keep the best
        iterate instead). False: a ridge of 0.01, and ``max_iter``
        iterations.""",
    "validation_fraction": """\
validation_fraction : float, default={validation_fraction}
        Fraction of the observed entries held out by ``early_stopping``.""",
    "fill_rounds": """fill_rounds : int, default={fill_rounds}
        Network passes of ``transform``: the first reads the missing inputs
        as the Gaussian's conditional expectations, each further pass reads
        the previous pass's reconstruction in their place.""",
}

fill_docstring(AutoencoderImputer, own=_OWN)
