"""Inference entry points of every autoencoder, from the fitted state only.

``transform``, ``inverse_transform``, ``reconstruct``, ``score_samples``,
``reconstruction_errors`` and ``score`` check their input and run the fitted
network (``coefs_``, ``intercepts_``, ``layer_activations_``,
``skip_coefs_``, and ``fill_values_`` for missing entries) through
:func:`skae._inference.apply` in memory, or lazily chunk by chunk on a dask
array (:func:`skae._dask_io.apply`), under the same block-size rule. They
never read the constructor parameters, so that ``set_params`` after ``fit``
cannot make inference disagree with the fitted network.
"""

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.utils._set_output import _get_container_adapter
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from skae import _dask, _dask_io, _inference
from skae._means import safe_mean
from skae._validation import check_codes, check_fitted_data

#: The fitted attributes inference reads, in the order inference takes them.
NETWORK_ATTRIBUTES = ("coefs_", "intercepts_", "layer_activations_", "skip_coefs_")


def run(X, method: str, network, n_features_in: int, name: str, fill=None):
    """``method`` of ``network`` on checked ``X``: in memory, or lazily on a
    dask array (one task per row chunk); missing entries of ``X`` (NaN) enter
    the network as ``fill``."""
    if _dask.is_dask_collection(X):
        return _dask_io.apply(X, method, network, n_features_in, name, fill)
    return _inference.apply(X, method, network, name, fill=fill)


def training_scores(X, fitted: dict, name: str) -> np.ndarray:
    """``score_samples`` of the training rows ``X`` (already checked, or a
    dask array) under the ``fitted`` attributes, before they are stored;
    computed in memory (a dask array is evaluated, one pass)."""
    network = tuple(fitted[k] for k in NETWORK_ATTRIBUTES)
    n_features, fill = fitted["n_features_in_"], fitted.get("fill_values_")
    scores = run(X, "score_samples", network, n_features, name, fill)
    return np.asarray(scores.compute() if hasattr(scores, "compute") else scores)


class InferenceMixin(TransformerMixin):
    """Inference of a fitted autoencoder (mixed into the base estimator).

    A ``TransformerMixin``: scikit-learn wraps the ``transform`` a class
    defines itself for ``set_output``, so it must be defined here.
    """

    @property
    def _n_features_out(self):
        """Width of the fitted code layer."""
        return _inference.n_outputs(self.coefs_, "transform")

    def _infer(self, X, method: str):
        """``method`` of the fitted network on ``X``, in memory or lazily on
        a dask array; reads the fitted state only, so that ``set_params``
        after ``fit`` cannot make inference disagree with the fitted network."""
        check_is_fitted(self)
        network = tuple(getattr(self, k) for k in NETWORK_ATTRIBUTES)
        if not _dask.is_dask_collection(X):
            if method == "inverse_transform":
                X = check_codes(X, self._n_features_out)
            else:
                X = check_fitted_data(self, X)
        fill = getattr(self, "fill_values_", None)  # None: fitted before 0.2
        name = type(self).__name__
        return run(X, method, network, self.n_features_in_, name, fill)

    def transform(self, X):
        """Encode ``X``: the code-layer activations.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode; missing entries (NaN) enter the network as
            ``fill_values_``.

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
        return self._infer(X, "transform")

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
        return self._infer(X, "inverse_transform")

    def reconstruct(self, X):
        """Encode then decode ``X``: ``inverse_transform(transform(X))``.

        For a :class:`DenoisingAutoencoder` this denoises a batch in one call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to reconstruct; missing entries (NaN) enter the network as
            ``fill_values_``.

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
        return self._infer(X, "reconstruct")

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
            ``-||x - x_hat||^2`` for each sample. A row with missing entries
            (NaN) counts its ``d_i`` observed entries, rescaled by ``d / d_i``
            for ``d`` features; a row with none is an error.
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
        return self._infer(X, "score_samples")

    def reconstruction_errors(self, X):
        """Squared reconstruction error of each feature of each sample.

        ``(x_ij - x_hat_ij)^2``: the per-feature breakdown of
        ``score_samples`` (each row sums to ``-score_samples``), which shows
        *which* features make a sample anomalous. Its values are errors
        (lower is better), hence not named a score; unlike
        :meth:`sklearn.manifold.Isomap.reconstruction_error` (one number for
        the whole fit), it has one entry per sample and feature.

        With ``set_output(transform="pandas")`` (or ``"polars"``) the result
        is a DataFrame whose columns are the input's feature names
        (``feature_names_in_``, else ``x0, x1, ...``) and, for pandas, whose
        index is ``X``'s. A dask array gives a lazy dask array (one task per
        row chunk), never a DataFrame. Sparse ``X`` gives a dense ndarray, as
        ``reconstruct`` does: the reconstruction of a sparse row is dense, so
        nearly every entry is non-zero and a sparse matrix would hold the same
        numbers at a greater cost. It is computed in row blocks of bounded
        memory, but the result itself is ``n_samples * n_features`` numbers:
        for wide data slice the rows, or pass a dask array.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to explain.

        Returns
        -------
        errors : ndarray of shape (n_samples, n_features)
            Squared errors, float32 for float32 input and float64 otherwise;
            a DataFrame under ``set_output``, a lazy dask array for a dask
            array ``X``.
            At missing entries (NaN) the error is 0, and a row's observed
            errors are rescaled by ``d / d_i`` (``d_i`` of its ``d`` entries
            observed), so that rows still sum to ``-score_samples``.

        Examples
        --------
        >>> import numpy as np
        >>> from skae import AutoencoderTransformer
        >>> X = np.random.RandomState(0).normal(size=(100, 6))
        >>> ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(),
        ...                             tol=1e-3, random_state=0).fit(X)
        >>> errors = ae.reconstruction_errors(X)
        >>> errors.shape
        (100, 6)
        >>> bool(np.allclose(errors.sum(axis=1), -ae.score_samples(X)))
        True
        """
        errors = self._infer(X, "reconstruction_errors")
        adapter = _get_container_adapter("transform", self)
        if adapter is None or _dask.is_dask_collection(errors):
            return errors
        names = _check_feature_names_in(self)
        return adapter.create_container(errors, X, columns=names, inplace=False)

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
        scores = self.score_samples(X)
        if _dask.is_dask_collection(scores):
            return _dask_io.mean(scores)
        return safe_mean(scores)
