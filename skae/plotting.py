"""Pictures of what an autoencoder learned (needs matplotlib: ``skae[plot]``).

Five figures, each from the public API only: reconstructions side by side
(:func:`plot_reconstructions`), the training curve (:func:`plot_loss_curve`),
two code units as a scatter coloured by label (:func:`plot_codes`), the
encoder's filters as images (:func:`plot_filters`) and the features that
carry each sample's reconstruction error (:func:`plot_feature_errors`).
matplotlib is imported inside each function, so ``import skae.plotting``
works without it and fails with a clear message only when a picture is asked
for.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "plot_codes",
    "plot_feature_errors",
    "plot_filters",
    "plot_loss_curve",
    "plot_reconstructions",
]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "skae.plotting needs matplotlib: pip install 'skae[plot]'."
        ) from exc
    return plt


def _named(estimators) -> list[tuple[str, object]]:
    """``[(label, estimator)]`` from one estimator, a list or a dict."""
    if isinstance(estimators, dict):
        return list(estimators.items())
    if isinstance(estimators, list | tuple):
        return [(type(e).__name__, e) for e in estimators]
    return [(type(estimators).__name__, estimators)]


def _reconstruct(estimator, X):
    if hasattr(estimator, "reconstruct"):
        return estimator.reconstruct(X)
    return estimator.inverse_transform(estimator.transform(X))


def _image_shape(n_features: int, image_shape):
    if image_shape is not None:
        return tuple(image_shape)
    side = int(round(np.sqrt(n_features)))
    if side * side != n_features:
        raise ValueError(
            f"{n_features} features are not a square image: pass image_shape."
        )
    return (side, side)


def plot_reconstructions(
    X,
    estimators,
    *,
    n_images=8,
    image_shape=None,
    postprocess=None,
    cmap="gray_r",
    vmin=None,
    vmax=None,
    title=None,
):
    """Show samples and their reconstructions by one or more estimators.

    The first row holds the samples, each further row their reconstructions
    by one estimator (``reconstruct`` when it has one, else
    ``inverse_transform(transform(X))``, so :class:`~sklearn.decomposition.PCA`
    works too).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Samples to show; the first ``n_images`` are used.
    estimators : estimator, list of estimators or dict of str to estimator
        Fitted estimators; dictionary keys label the rows, otherwise the
        class names do.
    n_images : int, default=8
        Number of samples (columns) shown.
    image_shape : tuple of int, default=None
        Shape of one image; by default the square root of ``n_features``.
    postprocess : callable, default=None
        Applied to every row block before display, e.g. a fitted scaler's
        ``inverse_transform`` to undo standardization.
    cmap : str, default="gray_r"
        Colour map of the images.
    vmin, vmax : float, default=None
        Colour limits shared by all images; by default those of the samples.
    title : str, default=None
        Title of the figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure, one row per estimator plus one for the samples.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from skae.plotting import plot_reconstructions
    >>> X = load_digits().data / 16
    >>> fig = plot_reconstructions(X, {"PCA(8)": PCA(8).fit(X)}, n_images=4)
    >>> len(fig.axes)
    8
    """
    plt = _pyplot()
    X = np.asarray(X, dtype=float)[:n_images]
    named = _named(estimators)
    rows = [("original", X)] + [(lab, _reconstruct(est, X)) for lab, est in named]
    if postprocess is not None:
        rows = [(lab, np.asarray(postprocess(R))) for lab, R in rows]
    shape = _image_shape(X.shape[1], image_shape)
    if vmin is None:
        vmin = float(rows[0][1].min())
    if vmax is None:
        vmax = float(rows[0][1].max())
    n = X.shape[0]
    fig, axes = plt.subplots(
        len(rows), n, figsize=(1.0 * n + 0.6, 1.1 * len(rows)), squeeze=False
    )
    for r, (label, images) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(images[c].reshape(shape), cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=8)
    if title is not None:
        fig.suptitle(title)
    return fig


def plot_loss_curve(estimators, *, ax=None, validation=True):
    """Plot the objective after each L-BFGS iteration (``loss_curve_``).

    Parameters
    ----------
    estimators : estimator, list of estimators or dict of str to estimator
        Fitted skae estimators; dictionary keys label the curves.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure by default.
    validation : bool, default=True
        Also plot the held-out error (``-validation_scores_``) of estimators
        fitted with ``early_stopping=True``, dashed.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes, with a logarithmic y axis.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderTransformer
    >>> from skae.plotting import plot_loss_curve
    >>> X = np.random.RandomState(0).normal(size=(100, 5))
    >>> ae = AutoencoderTransformer(2, hidden_layer_sizes=(), tol=1e-3,
    ...                             random_state=0).fit(X)
    >>> ax = plot_loss_curve(ae)
    >>> ax.get_xlabel()
    'iteration'
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    for label, est in _named(estimators):
        curve = np.asarray(est.loss_curve_)
        (line,) = ax.plot(np.arange(1, len(curve) + 1), curve, label=label)
        scores = getattr(est, "validation_scores_", None)
        if validation and scores is not None:
            ax.plot(
                np.arange(1, len(scores) + 1),
                -np.asarray(scores),
                linestyle="--",
                color=line.get_color(),
                label=f"{label}, held-out error",
            )
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective")
    ax.legend(fontsize=8)
    return ax


def plot_codes(estimator, X, y=None, *, components=(0, 1), ax=None, cmap="tab10"):
    """Scatter two code units of ``estimator.transform(X)``, coloured by label.

    Parameters
    ----------
    estimator : estimator
        A fitted transformer (any, PCA included).
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Data to encode.
    y : array-like of shape (n_samples,), default=None
        Labels colouring the points, with a legend (or a colour bar for more
        than 10 distinct values).
    components : tuple of int, default=(0, 1)
        The two code units on the x and y axes.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; a new figure by default.
    cmap : str, default="tab10"
        Colour map of the labels.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.decomposition import PCA
    >>> from skae.plotting import plot_codes
    >>> X, y = load_iris(return_X_y=True)
    >>> ax = plot_codes(PCA(2).fit(X), X, y)
    >>> ax.get_xlabel()
    'code unit 0'
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5), layout="constrained")
    Z = np.asarray(estimator.transform(X))
    i, j = components
    if y is None:
        ax.scatter(Z[:, i], Z[:, j], s=6)
    else:
        y = np.asarray(y)
        labels = np.unique(y)
        if len(labels) <= 10:
            colours = plt.get_cmap(cmap)
            for n, lab in enumerate(labels):
                mask = y == lab
                ax.scatter(
                    Z[mask, i], Z[mask, j], s=6, color=colours(n % 10), label=lab
                )
            ax.legend(fontsize=7, markerscale=2, loc="best")
        else:
            points = ax.scatter(Z[:, i], Z[:, j], s=6, c=y, cmap="viridis")
            ax.figure.colorbar(points, ax=ax)
    ax.set_xlabel(f"code unit {i}")
    ax.set_ylabel(f"code unit {j}")
    return ax


def plot_filters(
    estimator, *, image_shape=None, n_filters=None, n_cols=None, cmap="gray"
):
    """Show the first-layer encoder weights as images, one per unit.

    For a skae estimator the filters are the rows of ``coefs_[0].T`` (for
    :class:`~sklearn.decomposition.PCA`, ``components_``). Each image is scaled
    to its own largest absolute weight, with 0 in the middle of the colour map.

    Parameters
    ----------
    estimator : estimator
        A fitted skae estimator, or any estimator with ``components_``.
    image_shape : tuple of int, default=None
        Shape of one filter image; by default the square root of
        ``n_features``.
    n_filters : int, default=None
        Number of filters shown; all by default.
    n_cols : int, default=None
        Number of columns of the grid; about the square root of
        ``n_filters`` by default.
    cmap : str, default="gray"
        Colour map of the images.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure, one small image per filter.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import SparseAutoencoder
    >>> from skae.plotting import plot_filters
    >>> X = np.random.RandomState(0).uniform(size=(100, 16))
    >>> sae = SparseAutoencoder(n_components=9, max_iter=20, tol=1e-2,
    ...                         random_state=0).fit(X)
    >>> fig = plot_filters(sae)
    >>> len(fig.axes)
    9
    """
    plt = _pyplot()
    if hasattr(estimator, "coefs_"):
        filters = np.asarray(estimator.coefs_[0]).T
    else:
        filters = np.asarray(estimator.components_)
    if n_filters is not None:
        filters = filters[:n_filters]
    shape = _image_shape(filters.shape[1], image_shape)
    n = filters.shape[0]
    cols = n_cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(0.8 * cols, 0.8 * rows))
    axes = np.atleast_1d(axes).ravel()
    for k, ax in enumerate(axes):
        if k >= n:
            fig.delaxes(ax)
            continue
        w = filters[k]
        lim = float(np.max(np.abs(w))) or 1.0
        ax.imshow(w.reshape(shape), cmap=cmap, vmin=-lim, vmax=lim)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def plot_feature_errors(
    estimator, X, *, samples=None, n_samples=3, n_features=10, feature_names=None
):
    """Bar charts of the features that carry each sample's reconstruction error.

    One panel per sample: its ``n_features`` largest per-feature squared
    errors (``estimator.reconstruction_errors``), largest on top, each bar
    labelled with its feature; the title gives the sample's index and its
    share of the total error those features carry. This shows *why* a
    sample scores as anomalous.

    Parameters
    ----------
    estimator : estimator
        A fitted skae estimator (any: the errors are the autoencoder's).
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Data the samples are taken from.
    samples : array-like of int, default=None
        Row indices of ``X`` to show; by default the ``n_samples`` rows with
        the largest total error (the most anomalous).
    n_samples : int, default=3
        Number of rows shown when ``samples`` is None.
    n_features : int, default=10
        Number of features (bars) per panel.
    feature_names : array-like of str, default=None
        Names of the features; by default ``X``'s column names when it has
        them, else ``estimator.feature_names_in_`` when fitted on named
        columns, else ``x0, x1, ...``.

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure, one panel per sample.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderOutlierDetector
    >>> from skae.plotting import plot_feature_errors
    >>> X = np.random.RandomState(0).normal(size=(100, 6))
    >>> det = AutoencoderOutlierDetector(hidden_layer_sizes=(),
    ...                                  random_state=0).fit(X)
    >>> fig = plot_feature_errors(det, X, n_samples=2, n_features=4)
    >>> len(fig.axes)
    2
    """
    plt = _pyplot()
    if feature_names is None and hasattr(X, "columns"):
        feature_names = [str(c) for c in X.columns]
    errors = estimator.reconstruction_errors(X)
    errors = np.asarray(errors.to_numpy() if hasattr(errors, "to_numpy") else errors)
    if feature_names is None:
        names = getattr(estimator, "feature_names_in_", None)
        feature_names = (
            names if names is not None else [f"x{j}" for j in range(errors.shape[1])]
        )
    feature_names = np.asarray(feature_names, dtype=object)
    total = errors.sum(axis=1)
    if samples is None:
        samples = np.argsort(-total, kind="stable")[:n_samples]
    samples = np.asarray(samples, dtype=int)
    k = min(n_features, errors.shape[1])
    fig, axes = plt.subplots(
        1,
        len(samples),
        figsize=(3.2 * len(samples), 0.3 * k + 1.2),
        layout="constrained",
        squeeze=False,
    )
    for ax, i in zip(axes[0], samples, strict=True):
        top = np.argsort(-errors[i], kind="stable")[:k]
        ax.barh(np.arange(k), errors[i, top], color="tab:red")
        ax.set_yticks(np.arange(k), [str(n) for n in feature_names[top]])
        ax.invert_yaxis()
        share = errors[i, top].sum() / total[i] if total[i] > 0 else 0.0
        ax.set_title(f"sample {i}: {share:.0%} of the error", fontsize=9)
        ax.set_xlabel("squared error")
    return fig
