"""The one table of estimator configurations the tests share.

Each entry is a configuration a user can build, named for the test report;
together they cover every variant (noise kinds, sparsity, tied weights,
greedy pretraining, depth, both solvers, early stopping, the outlier
detector) and their combinations, with small networks so the checks stay
fast. Add a configuration here and it runs in:

* scikit-learn's common checks (``test_common.py``);
* the per-configuration promises: inputs never modified, determinism and
  threads (``test_estimators.py``), interrupts and failed refits
  (``test_fit_failures.py``), persistence and sparse input
  (``test_ecosystem.py``);
* the fuzz tests' fitted estimators given unseen data (``test_fuzz.py``);
* the ONNX export tests (``test_onnx.py``, which add every activation).

A test that needs a particular variant names it (``make_estimator("masking")``)
rather than building its own.
"""

from sklearn.base import clone

from skae import (
    AutoencoderImputer,
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    DenoisingAutoencoder,
    SparseAutoencoder,
)
from skae._validation import resolve_init

SMALL = dict(max_iter=30, random_state=0)

CONFIGS = {
    "plain": AutoencoderTransformer(hidden_layer_sizes=(6,), **SMALL),
    # Glorot's start, one fixed budget: the defaults before the PCA start
    "glorot": AutoencoderTransformer(
        hidden_layer_sizes=(6,), init="random", early_stopping=False, **SMALL
    ),
    "linear": AutoencoderTransformer(
        hidden_layer_sizes=(), activation="identity", **SMALL
    ),
    "relu": AutoencoderTransformer(hidden_layer_sizes=(6,), activation="relu", **SMALL),
    "early-stopping": AutoencoderTransformer(
        hidden_layer_sizes=(5,), early_stopping=True, **SMALL
    ),
    "deep-greedy-tied": AutoencoderTransformer(
        hidden_layer_sizes=(6, 4),
        n_components=2,
        pretrain="greedy",
        pretrain_max_iter=5,
        tied_weights=True,
        **SMALL,
    ),
    "gaussian": DenoisingAutoencoder(hidden_layer_sizes=(6,), **SMALL),
    "masking": DenoisingAutoencoder(
        noise="masking",
        noise_level=0.3,
        n_corruptions=2,
        hidden_layer_sizes=(6,),
        tied_weights=True,
        code_activation="logistic",
        sparsity_weight=0.5,
        **SMALL,
    ),
    "salt-and-pepper": DenoisingAutoencoder(
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
    "sparse": SparseAutoencoder(n_components=8, **SMALL),
    "sparse-relu-tied": SparseAutoencoder(
        n_components=8, tied_weights=True, activation="relu", **SMALL
    ),
    "adam": AutoencoderTransformer(hidden_layer_sizes=(6,), solver="adam", **SMALL),
    "masking-adam": DenoisingAutoencoder(
        noise="masking", hidden_layer_sizes=(6,), solver="adam", batch_size=16, **SMALL
    ),
    "outlier": AutoencoderOutlierDetector(hidden_layer_sizes=(6,), **SMALL),
    "outlier-linear-masking": AutoencoderOutlierDetector(
        hidden_layer_sizes=(),
        noise="masking",
        noise_level=0.2,
        contamination=0.1,
        **SMALL,
    ),
    "outlier-adam": AutoencoderOutlierDetector(
        hidden_layer_sizes=(6,), solver="adam", **SMALL
    ),
}

#: The table as a list, for ``parametrize_with_checks``.
ESTIMATORS = list(CONFIGS.values())

#: Configurations whose objective L-BFGS minimises (a fault injected through
#: ``skae._memory.ArrayData.objective`` reaches them).
LBFGS = sorted(name for name, est in CONFIGS.items() if est.solver != "adam")


def make_estimator(name, **params):
    """A fresh copy of ``CONFIGS[name]`` with ``params`` set."""
    return clone(CONFIGS[name]).set_params(**params)


def accepts_sparse(name):
    """Whether the configuration trains on sparse input (its tag)."""
    return CONFIGS[name].__sklearn_tags__().input_tags.sparse


def make_iterating(name, **params):
    """``make_estimator`` for tests of what happens during iterations: one
    run of the solver on every row (no cross-validated iteration choice,
    whose final run, the only one a callback sees, may have 0 iterations),
    and for a linear model without noise Glorot's start (PCA's is its
    optimum, where L-BFGS converges at once)."""
    est = make_estimator(name, **params)
    if est.early_stopping is not True:
        est.set_params(early_stopping=False)
    params = est.get_params()
    hidden = tuple(params["hidden_layer_sizes"])
    linear = not hidden and params["code_activation"] == "identity"
    if linear and params.get("noise") is None and resolve_init(params, hidden) == "pca":
        est.set_params(init="random")
    return est


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
    if isinstance(estimator, AutoencoderImputer) and params["noise_level"] != 0:
        needed["noise_level"] = 0.0  # its masking noise has no "noise" parameter
    if noise is not None and (noise == "gaussian" or params["noise_level"] != 0):
        needed["noise"] = "masking" if noise == "gaussian" else noise
        needed["noise_level"] = 0.0
    if params["solver"] == "adam" and params["batch_size"] != 10_000:
        needed["batch_size"] = 10_000
    return needed
