"""One table of estimator instances that the common tests read.

Each entry is a configuration a user can build; together they cover every
variant (noise kinds, sparsity, tied weights, greedy pretraining, depth) and
their combinations, with small networks so the checks stay fast.
"""

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


def sample_weight_equivalence_params(estimator) -> dict:
    """The parameters under which fitting ``estimator`` with integer sample
    weights must give the fit on the rows repeated (zero: dropped), as
    scikit-learn's ``check_sample_weight_equivalence_*`` requires; {} when
    it holds as configured. The objective is the same; what else draws on the
    rows differs by design:

    * ``early_stopping=False``: the held-out split and the cross-validation
      folds are random draws over the rows; copies of a repeated row can fall
      on both sides of a split, a weighted row cannot;
    * ``noise_level=0`` (with ``noise="masking"`` for Gaussian noise, which
      still draws its zeros and moves the generator): each copy of a repeated
      row gets its own corruption, a weighted row one corruption counted
      ``s`` times; they agree in expectation over the noise only;
    * ``batch_size`` covering every row for Adam: minibatches of repeated rows
      are other minibatches (the epoch's shuffle only reorders a full batch).
    """
    params = estimator.get_params()
    needed = {}
    if params["early_stopping"] is not False:
        needed["early_stopping"] = False
    noise = params.get("noise")
    if noise is not None and (noise == "gaussian" or params["noise_level"] != 0):
        needed["noise"] = "masking" if noise == "gaussian" else noise
        needed["noise_level"] = 0.0
    if params["solver"] == "adam" and params["batch_size"] != 10_000:
        needed["batch_size"] = 10_000
    return needed
