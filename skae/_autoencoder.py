"""The plain autoencoder: a nonlinear, drop-in replacement for PCA."""

from skae._base import BaseAutoencoder
from skae._docstrings import fill_docstring


class AutoencoderTransformer(BaseAutoencoder):
    """Autoencoder transformer trained by L-BFGS: a nonlinear PCA.

    A network ``n_features -> hidden_layer_sizes -> n_components ->
    reversed(hidden_layer_sizes) -> n_features`` is trained to reproduce its
    input by minimising the mean squared reconstruction error plus an L2
    weight decay (and an optional sparsity penalty), with an exact analytic
    gradient and scipy's L-BFGS-B. ``transform`` returns the code layer,
    ``inverse_transform`` decodes it. With ``hidden_layer_sizes=()`` and only
    ``"identity"`` activations the model is linear and spans the same subspace
    as :class:`~sklearn.decomposition.PCA`.

    The objective for ``m`` samples is::

        J = 1/(2m) sum_i ||x_i - x_hat_i||^2 + alpha/(2m) sum ||W||^2
            + sparsity_weight * sum_j KL(sparsity_target || rho_hat_j)

    Parameters
    ----------
    {parameters}

    {attributes}

    See Also
    --------
    DenoisingAutoencoder : Trained on corrupted input against clean targets.
    SparseAutoencoder : Classic sparse autoencoder for feature extraction.
    sklearn.decomposition.PCA : The linear baseline.

    References
    ----------
    G. E. Hinton and R. R. Salakhutdinov, "Reducing the dimensionality of data
    with neural networks", Science 313 (5786), 2006.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import AutoencoderTransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> ae = AutoencoderTransformer(n_components=8, tol=1e-2, random_state=0)
    >>> Z = ae.fit_transform(X / 16)
    >>> Z.shape
    (1797, 8)
    >>> ae.inverse_transform(Z).shape
    (1797, 64)
    >>> ae.score(X / 16) < 0
    True
    """


fill_docstring(AutoencoderTransformer)
