"""The denoising autoencoder: corrupted input forward, clean input as target."""

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions

from skae._base import BaseAutoencoder
from skae._docstrings import fill_docstring
from skae._noise import NOISES


class DenoisingAutoencoder(BaseAutoencoder):
    """Denoising autoencoder: learns to undo a corruption of its input.

    Each training sample is corrupted ``n_corruptions`` times (once per fit,
    from ``random_state``, so L-BFGS minimises one fixed objective; Adam
    corrupts each minibatch afresh); the
    corrupted input goes forward and the cost is measured against the clean
    input, ``J = 1/(2m) sum ||x - h(x_tilde)||^2`` plus the penalties of
    :class:`AutoencoderTransformer`. ``transform`` never adds noise, and
    ``reconstruct(X_noisy)`` returns the denoised batch.

    Parameters
    ----------
    {parameters}

    {attributes}

    See Also
    --------
    AutoencoderTransformer : The same network trained on clean input.

    References
    ----------
    P. Vincent, H. Larochelle, Y. Bengio and P.-A. Manzagol, "Extracting and
    composing robust features with denoising autoencoders", ICML 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skae import DenoisingAutoencoder
    >>> X = load_digits().data / 16
    >>> rng = np.random.RandomState(0)
    >>> X_noisy = X + rng.normal(scale=0.25, size=X.shape)
    >>> dae = DenoisingAutoencoder(n_components=16, noise_level=0.25,
    ...                            tol=1e-2, random_state=0).fit(X)
    >>> dae.reconstruct(X_noisy).shape
    (1797, 64)
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "noise": [StrOptions(set(NOISES))],
        "noise_level": [Interval(Real, 0, None, closed="left")],
        "n_corruptions": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        noise="gaussian",
        noise_level=0.1,
        n_corruptions=1,
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
        self.noise = noise
        self.noise_level = noise_level
        self.n_corruptions = n_corruptions

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Additive and salt-and-pepper noise would make sparse input dense.
        tags.input_tags.sparse = self.noise == "masking"
        return tags


fill_docstring(DenoisingAutoencoder)
