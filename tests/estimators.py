"""One table of estimator instances that the common tests read.

Each entry is a configuration a user can build; together they cover every
variant (noise kinds, sparsity, tied weights, greedy pretraining, depth) and
their combinations, with small networks so the checks stay fast.
"""

from sklearn.base import clone

from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    DenoisingAutoencoder,
    SparseAutoencoder,
)

SMALL = dict(max_iter=30, random_state=0)

ESTIMATORS = [
    AutoencoderTransformer(hidden_layer_sizes=(6,), **SMALL),
    # Glorot's start, one fixed budget: the defaults before the PCA start
    AutoencoderTransformer(
        hidden_layer_sizes=(6,), init="random", early_stopping=False, **SMALL
    ),
    AutoencoderTransformer(hidden_layer_sizes=(), activation="identity", **SMALL),
    AutoencoderTransformer(
        hidden_layer_sizes=(6, 4),
        n_components=2,
        pretrain="greedy",
        pretrain_max_iter=5,
        tied_weights=True,
        **SMALL,
    ),
    DenoisingAutoencoder(hidden_layer_sizes=(6,), **SMALL),
    DenoisingAutoencoder(
        noise="masking",
        noise_level=0.3,
        n_corruptions=2,
        hidden_layer_sizes=(6,),
        tied_weights=True,
        code_activation="logistic",
        sparsity_weight=0.5,
        **SMALL,
    ),
    DenoisingAutoencoder(
        noise="salt_and_pepper",
        noise_level=0.2,
        hidden_layer_sizes=(6, 5),
        pretrain="greedy",
        pretrain_max_iter=5,
        code_activation="logistic",
        sparsity_weight=0.1,
        tied_weights=True,
        **SMALL,
    ),
    SparseAutoencoder(n_components=8, **SMALL),
    SparseAutoencoder(n_components=8, tied_weights=True, activation="relu", **SMALL),
    AutoencoderTransformer(hidden_layer_sizes=(6,), solver="adam", **SMALL),
    DenoisingAutoencoder(
        noise="masking", hidden_layer_sizes=(6,), solver="adam", batch_size=16, **SMALL
    ),
    AutoencoderOutlierDetector(hidden_layer_sizes=(6,), **SMALL),
    AutoencoderOutlierDetector(
        hidden_layer_sizes=(),
        noise="masking",
        noise_level=0.2,
        contamination=0.1,
        **SMALL,
    ),
    AutoencoderOutlierDetector(hidden_layer_sizes=(6,), solver="adam", **SMALL),
]


# The reliability tests' configurations (issue 6), one per variant, named.
SMALL15 = dict(max_iter=15, random_state=0)


# One configuration per variant; ids name them in the test report.
CONFIGS = {
    "plain": AutoencoderTransformer(hidden_layer_sizes=(6,), **SMALL15),
    "linear": AutoencoderTransformer(
        hidden_layer_sizes=(), activation="identity", **SMALL15
    ),
    "deep-greedy-tied": AutoencoderTransformer(
        hidden_layer_sizes=(6, 4),
        pretrain="greedy",
        pretrain_max_iter=5,
        tied_weights=True,
        **SMALL15,
    ),
    "early-stopping": AutoencoderTransformer(
        hidden_layer_sizes=(5,), early_stopping=True, **SMALL15
    ),
    "gaussian": DenoisingAutoencoder(hidden_layer_sizes=(6,), **SMALL15),
    "masking": DenoisingAutoencoder(
        noise="masking", noise_level=0.3, n_corruptions=2, **SMALL15
    ),
    "salt-and-pepper": DenoisingAutoencoder(
        noise="salt_and_pepper",
        noise_level=0.2,
        code_activation="logistic",
        sparsity_weight=0.1,
        **SMALL15,
    ),
    "sparse": SparseAutoencoder(n_components=12, **SMALL15),
    "sparse-relu-tied": SparseAutoencoder(
        n_components=12, activation="relu", tied_weights=True, **SMALL15
    ),
}


# Configurations whose training accepts sparse input.
SPARSE_OK = {
    "plain",
    "linear",
    "deep-greedy-tied",
    "early-stopping",
    "masking",
    "sparse",
    "sparse-relu-tied",
}


def make_estimator(name, **params):
    return clone(CONFIGS[name]).set_params(**params)


def make_iterating(name, **params):
    """``make_estimator`` for tests of what happens during iterations: one
    run of the solver on every row (no cross-validated iteration choice,
    whose final run, the only one a callback sees, may have 0 iterations),
    and for the linear model Glorot's start (PCA's is its optimum, where
    L-BFGS converges at once)."""
    est = make_estimator(name, **params)
    if name != "early-stopping":
        est.set_params(early_stopping=False)
    if name == "linear":
        est.set_params(init="random")
    return est
