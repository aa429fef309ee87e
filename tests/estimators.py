"""One table of estimator instances that the common tests read.

Each entry is a configuration a user can build; together they cover every
variant (noise kinds, sparsity, tied weights, greedy pretraining, depth) and
their combinations, with small networks so the checks stay fast.
"""

from skae import (
    AutoencoderImputer,
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

#: Imputers: scikit-learn's common checks, not the autoencoder tests (their
#: ``transform`` returns the imputed input, and they have no ONNX export).
IMPUTERS = [
    AutoencoderImputer(hidden_layer_sizes=(6,), **SMALL),
    AutoencoderImputer(
        n_components=2,
        hidden_layer_sizes=(),
        add_indicator=True,
        fill_rounds=2,
        **SMALL,
    ),
    AutoencoderImputer(
        hidden_layer_sizes=(6,),
        solver="adam",
        keep_empty_features=True,
        **SMALL,
    ),
]
