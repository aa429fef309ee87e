"""Shared numpydoc text of the estimators, written once and substituted.

As imbalanced-learn does, the parameters every estimator shares are
documented here once; :func:`fill_docstring` puts them, with each class's own
defaults and in the order of its signature, into the class docstring. Under
``python -OO`` docstrings are stripped and there is nothing to fill.
"""

import inspect

#: Numpydoc entries of the shared parameters, substituted into each docstring.
PARAMETER_DOCS = {
    "n_components": """n_components : int, default={n_components}
        Number of units in the code layer: the dimension of ``transform``'s
        output, the "hidden units" a grid search tunes. Larger than
        ``n_features`` (an overcomplete code) is allowed unless the whole
        network is linear and noise-free, where it would learn the identity.""",
    "hidden_layer_sizes": """\
hidden_layer_sizes : tuple of int, default={hidden_layer_sizes}
        Sizes of the encoder layers between the input and the code; the
        decoder mirrors them. ``()`` gives the classic 3-layer network
        (input, code, output).""",
    "activation": """activation : {{"identity", "logistic", "tanh", "relu"}}, \
default="{activation}"
        Activation of the hidden layers on both sides of the code.""",
    "code_activation": """\
code_activation : {{"identity", "logistic", "tanh", "relu"}}, \
default="{code_activation}"
        Activation of the code layer. ``"identity"`` gives a linear code as in
        Hinton and Salakhutdinov's deep autoencoders; the sparsity penalty
        requires ``"logistic"``.""",
    "output_activation": """output_activation : {{"identity", "logistic"}}, \
default="{output_activation}"
        Activation of the output layer; ``"logistic"`` suits data scaled to
        [0, 1].""",
    "alpha": """alpha : float, default={alpha}
        L2 weight decay: the objective gains ``alpha / (2 m) * sum ||W||^2``
        over all weight matrices (not the biases), for ``m`` samples.""",
    "sparsity_weight": """sparsity_weight : float, default={sparsity_weight}
        Weight ``beta`` of the sparsity penalty
        ``beta * sum_j KL(sparsity_target || rho_hat_j)`` on the mean
        activation ``rho_hat_j`` of each code unit over the training set.
        0 disables it; positive values require ``code_activation="logistic"``.""",
    "sparsity_target": """sparsity_target : float, default={sparsity_target}
        Target mean activation ``rho`` of each code unit, in (0, 1).""",
    "tied_weights": """tied_weights : bool, default={tied_weights}
        If True, each decoder matrix is the transpose of its encoder matrix,
        roughly halving the number of parameters.""",
    "pretrain": """pretrain : {{"greedy"}} or None, default={pretrain}
        ``"greedy"`` trains one shallow autoencoder per encoder layer on the
        codes of the previous one, stacks them, then fine-tunes the whole
        network. Ignored when ``warm_start`` continues a previous fit.""",
    "pretrain_max_iter": """pretrain_max_iter : int, default={pretrain_max_iter}
        Maximum number of L-BFGS iterations of each pretraining stage.""",
    "init": """init : {{"pca", "random"}}, default="{init}"
        Where training starts. ``"pca"``: exactly at PCA's reconstruction.
        Without hidden layers the linear network is set to PCA's axes; with
        hidden layers the network gains a linear skip path (input to code,
        code to output, fitted in ``skip_coefs_``) set to PCA's axes, beside
        nonlinear branches whose last weight matrices start at zero, so that
        training only adds to PCA. The skip path is free of weight decay. It
        applies where the code and output activations are ``"identity"``;
        with a logistic code (sparse) or output, greedy pretraining, or tied
        weights with hidden layers (where that start is a stationary point)
        the start is ``"random"``. ``"random"``: Glorot-uniform weights, the
        output bias at the data mean, no skip path.""",
    "solver": """solver : {{"auto", "lbfgs", "adam"}}, default="{solver}"
        ``"lbfgs"``: scipy's L-BFGS-B on the whole objective, the fastest
        choice for small and medium data. ``"adam"``: minibatch Adam,
        epochs over the rows reshuffled from ``random_state``, as in
        scikit-learn's ``MLPRegressor`` but with ``epsilon=1e-3`` (not
        1e-8); with early stopping (held-out rows or cross-validation) Adam
        keeps the moving average of its iterates (decay 0.99 per step),
        which is what the held-out rows score, the callback sees and the fit
        returns; denoising corrupts each minibatch afresh.
        ``"auto"``: Adam from 3,000 training rows on where the network
        starts at PCA (``init="pca"`` applies), from 10,000 where it starts
        from random weights (a logistic code or output, pretraining),
        L-BFGS below (benchmarks/README.md has the measurements). All minimise the same
        objective and set the same attributes.""",
    "max_iter": """max_iter : int, default={max_iter}
        Maximum number of L-BFGS iterations, or of Adam epochs.""",
    "tol": """tol : float, default={tol}
        Training stops, converged, once the loss has not improved by more
        than ``tol`` (relatively) for ``n_iter_no_change`` iterations (Adam:
        epochs) in a row; L-BFGS also stops when the projected gradient falls
        below ``tol`` (L-BFGS-B's ``gtol``). With early stopping, the same
        rule applies to the held-out loss.""",
    "max_fun": """max_fun : int, default={max_fun}
        Maximum number of loss-and-gradient evaluations (L-BFGS only).""",
    "batch_size": """batch_size : int or "auto", default="{batch_size}"
        Rows per Adam step (``solver="adam"`` and ``partial_fit``);
        ``"auto"`` is ``min(200, n_samples)``, and larger values are clipped
        to ``n_samples``.""",
    "learning_rate_init": """\
learning_rate_init : float, default={learning_rate_init}
        Adam's step size (``solver="adam"`` and ``partial_fit``), finite and
        positive.""",
    "early_stopping": """early_stopping : bool or "auto", default={early_stopping}
        If True, hold out ``validation_fraction`` of the samples and stop when
        their reconstruction error has not improved for ``n_iter_no_change``
        iterations (Adam: epochs); the parameters with the best held-out error
        are kept, the start included (so a PCA start is kept when training
        never beats it on the held-out rows). ``"auto"``: up to 1,000 samples,
        3-fold cross-validation (each fold stopping as with True, after 3/4
        of ``n_iter_no_change``) chooses the
        number of iterations (0, the start, included) from every row's
        held-out error: the start is kept
        unless the best iteration beats it by two standard errors of the
        rows' paired differences, else the earliest iteration within half a
        standard error of the best; a fold is fitted only while the folds
        before it show an iteration ahead of the start by a standard error.
        The network is then trained on all samples for that many iterations.
        Above 1,000 samples, as True.""",
    "validation_fraction": """validation_fraction : float, default={validation_fraction}
        Fraction of the samples held out when early stopping holds out.""",
    "n_iter_no_change": """n_iter_no_change : int, default={n_iter_no_change}
        Iterations (Adam: epochs) without an improvement of ``tol`` before
        training stops (see ``tol`` and ``early_stopping``).""",
    "callback": """callback : callable or None, default={callback}
        Called after each iteration (Adam: epoch) as ``callback(iteration,
        loss, estimator)``, where ``estimator`` is a copy of the estimator
        whose ``coefs_`` and ``intercepts_`` are the current parameters, its
        own arrays (keeping or changing them never affects training);
        training stops when it returns True. Read once per fit.""",
    "random_state": """random_state : int, RandomState instance or None, \
default={random_state}
        Seeds the weight initialisation, the validation split and the noise.
        Pass an int for reproducible results.""",
    "verbose": """verbose : int, default={verbose}
        0 is silent; 1 prints a line every 10 iterations and a summary;
        2 prints every iteration.""",
    "warm_start": """warm_start : bool, default={warm_start}
        If True, ``fit`` starts from the fitted parameters of the previous call
        (same architecture required).""",
    "noise": """noise : {{"gaussian", "masking", "salt_and_pepper"}}, default="{noise}"
        Corruption of the training input: additive Gaussian noise of standard
        deviation ``noise_level``; ``"masking"`` sets a fraction
        ``noise_level`` of each sample's entries to 0 (the only choice for
        sparse X); ``"salt_and_pepper"`` sets a fraction ``noise_level`` to the
        feature's minimum or maximum, by a fair coin.""",
    "noise_level": """noise_level : float, default={noise_level}
        Standard deviation (``"gaussian"``, >= 0) or fraction of entries
        (``"masking"``, ``"salt_and_pepper"``, in [0, 1]).""",
    "n_corruptions": """n_corruptions : int, default={n_corruptions}
        Number of corrupted copies of each training sample.""",
}

ATTRIBUTES_DOC = """
    Attributes
    ----------
    coefs_ : list of ndarray
        Weight matrices, one per layer, encoder then decoder; the ``i``-th has
        shape ``(sizes[i], sizes[i + 1])`` for layer sizes
        ``(n_features, *hidden_layer_sizes, n_components, ...reversed...,
        n_features)``.
    intercepts_ : list of ndarray
        Bias vectors, one per layer.
    skip_coefs_ : list of ndarray
        The linear skip path of ``init="pca"`` with hidden layers: the
        matrices of shape (n_features, n_components) into the code layer and
        (n_components, n_features) into the output; empty without it.
    layer_activations_ : tuple of str
        Activation of each layer, as fitted; inference reads these (and
        ``coefs_``), never the current parameters.
    n_iter_ : int
        Number of L-BFGS iterations (fine-tuning, after any pretraining) or
        Adam epochs run; ``partial_fit`` adds one per call. With early
        stopping the kept parameters may be an earlier iterate's, the
        start's included; with the cross-validated choice it counts the
        iterations the folds ran (the final fit on every row runs the chosen
        number, ``loss_curve_`` holds its losses).
    loss_ : float
        Final value of the objective (of the kept parameters); for Adam, the
        mean minibatch objective of the epoch.
    loss_curve_ : list of float
        Objective after each L-BFGS iteration or Adam epoch.
    validation_scores_ : list of float or None
        With early stopping, the held-out score (negative mean squared
        reconstruction error per sample) after each iteration (with
        cross-validation, the mean over the folds fitted); else None.
    best_validation_score_ : float or None
        Held-out score of the kept parameters (the start's, when it was
        kept); None without early stopping.
    stopped_by_ : str or None
        Why training stopped before convergence or the iteration budget:
        ``"callback"``, ``"early_stopping"``, ``"interrupt"``; None otherwise.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.
    fill_values_ : ndarray of shape (`n_features_in_`,)
        What a missing entry (NaN) of the input is replaced by before it
        enters the fitted network (and in ``partial_fit`` and a dask
        ``fit``; a ``fit`` in memory draws its training holes instead): the
        training column means of the observed entries (of the first call,
        for ``partial_fit``). The loss and the scores count observed entries
        only; see the user guide, "Missing values".
"""


def fill_docstring(cls, own: dict | None = None, attributes: str = "") -> None:
    """Substitute the shared parameter entries, with ``cls``'s defaults in the
    order of its signature, and the attributes into ``cls.__doc__``.

    ``own`` holds the entries of parameters that ``cls`` documents its own way
    (formatted like the shared ones); ``attributes`` the numpydoc entries of
    the fitted attributes it adds, appended to the shared ones.
    """
    if cls.__doc__ is None:  # python -OO
        return
    docs = {**PARAMETER_DOCS, **(own or {})}
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    defaults = {p.name: p.default for p in params}
    fmt = {k: repr(v) if isinstance(v, str) else v for k, v in defaults.items()}
    fmt.update({k: v for k, v in defaults.items() if isinstance(v, str)})
    entries = "\n".join("    " + docs[p.name].format(**fmt) for p in params)
    attrs = ATTRIBUTES_DOC.strip("\n") + attributes.rstrip()
    cls.__doc__ = cls.__doc__.replace("    {parameters}", entries).replace(
        "    {attributes}", attrs
    )
