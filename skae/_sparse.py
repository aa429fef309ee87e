"""The classic sparse autoencoder, for feature extraction."""

from skae._base import BaseAutoencoder
from skae._docstrings import fill_docstring


class SparseAutoencoder(BaseAutoencoder):
    """Sparse autoencoder: a logistic code kept sparse by a KL penalty.

    The same estimator as :class:`AutoencoderTransformer` with the defaults of
    the classic sparse autoencoder: no hidden layers (input, code, output), a
    logistic code layer, and the penalty ``sparsity_weight * sum_j
    KL(sparsity_target || rho_hat_j)`` on the mean activation ``rho_hat_j`` of
    each code unit over the training set. The code may be overcomplete
    (``n_components`` larger than ``n_features``): sparsity, not the size of
    the code, forces it to find structure. The rows of ``coefs_[0].T`` are the
    learned filters.

    Parameters
    ----------
    {parameters}

    {attributes}

    See Also
    --------
    AutoencoderTransformer : The general estimator these defaults specialise.

    References
    ----------
    A. Ng, "Sparse autoencoder", CS294A lecture notes, Stanford, 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import SparseAutoencoder
    >>> X = np.random.RandomState(0).uniform(size=(200, 16))
    >>> sae = SparseAutoencoder(n_components=25, tol=1e-3, random_state=0)
    >>> sae.fit_transform(X).shape
    (200, 25)
    """

    def __init__(
        self,
        n_components=25,
        *,
        hidden_layer_sizes=(),
        activation="logistic",
        code_activation="logistic",
        output_activation="identity",
        alpha=1e-4,
        sparsity_weight=3.0,
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
        super().__init__(
            n_components,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            code_activation=code_activation,
            output_activation=output_activation,
            alpha=alpha,
            sparsity_weight=sparsity_weight,
            sparsity_target=sparsity_target,
            tied_weights=tied_weights,
            pretrain=pretrain,
            pretrain_max_iter=pretrain_max_iter,
            init=init,
            solver=solver,
            max_iter=max_iter,
            tol=tol,
            max_fun=max_fun,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            callback=callback,
            random_state=random_state,
            verbose=verbose,
            warm_start=warm_start,
        )


fill_docstring(SparseAutoencoder)
