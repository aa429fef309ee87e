"""Inference entry points of every autoencoder, from the fitted state only.

``transform``, ``inverse_transform``, ``reconstruct``, ``score_samples`` and
``score`` check their input and run the fitted network (``coefs_``,
``intercepts_``, ``layer_activations_``, ``skip_coefs_``) through
:func:`skae._inference.apply` in memory, or lazily chunk by chunk on a dask
array (:func:`skae._dask.apply`), under the same block-size rule. They never
read the constructor parameters, so that ``set_params`` after ``fit`` cannot
make inference disagree with the fitted network.
"""

from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from skae import _dask, _inference
from skae._validation import check_codes, check_fitted_data


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
        name = type(self).__name__
        network = (
            self.coefs_,
            self.intercepts_,
            self.layer_activations_,
            self.skip_coefs_,
        )
        if _dask.is_dask_collection(X):
            return _dask.apply(X, method, network, self.n_features_in_, name)
        if method == "inverse_transform":
            X = check_codes(X, self._n_features_out)
        else:
            X = check_fitted_data(self, X)
        return _inference.apply(X, method, network, name)

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
        return self._infer(X, "score_samples")

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
            return _dask.mean(scores)
        return _inference.safe_mean(scores)
