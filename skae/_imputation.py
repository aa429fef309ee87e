"""How :class:`skae.AutoencoderImputer` fills, trains its network, and imputes.

A missing input does not enter this network as the column mean (as it does
in every other estimator: :mod:`skae._missing`) but as its expectation given
the row's observed entries under a Gaussian fitted to the incomplete rows
(:mod:`skae._gaussian`): the network sees nearly complete rows, and each
hole's input already depends on exactly the entries its row has, as a
chained regression's (IterativeImputer's) does. Masking noise, which hides
observed entries during training, fills what it hides the same way, copy by
copy (L-BFGS) or minibatch by minibatch (Adam), jointly with the row's own
holes: training inputs are distributed as the inputs ``transform`` fills.

An autoencoder's own early stopping scores held-out *rows* by how well the
network reproduces them from themselves: a test of copying, which a network
trained to fill holes is not asked to pass. An imputer is asked to rebuild
entries it does not see, so that is what chooses here:

1. hold out a fraction ``validation_fraction`` of the observed entries
   (hidden as if missing; a row keeps at least one observed entry);
2. fit the Gaussian to the rest with each ridge of :data:`RIDGES`, and keep
   the one whose conditional expectations impute the held-out entries best;
3. train the network with masking noise on the rest, and after each
   iteration (Adam: epoch) impute the held-out entries; stop when their
   squared error has not improved by ``tol`` (relatively) for
   ``n_iter_no_change`` iterations;
4. if no iteration imputed the held-out entries better than the Gaussian
   alone, impute with the Gaussian (refitted on every observed entry) and
   keep no network: the imputer is never worse, on held-out entries, than
   its linear model;
5. else, below :data:`REFIT_MAX_ROWS` rows, refit the Gaussian and the
   network on every observed entry, the network from the same start for the
   number of iterations whose held-out imputation was best; from that size
   on (where Adam trains, and the held-out tenth costs little) keep the
   Gaussian and the network's best iterate of the held-out run, which halves
   the time.

Without early stopping: the Gaussian with :data:`DEFAULT_RIDGE`, and one
network fit of ``max_iter`` iterations.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from skae._denoising import DenoisingAutoencoder
from skae._fit import ADAM_MIN_ROWS, ADAM_MIN_ROWS_RANDOM
from skae._gaussian import fit_gaussian, fit_gaussians

#: The autoencoder parameters the imputer passes on, as it names them.
NETWORK = (
    "hidden_layer_sizes",
    "activation",
    "alpha",
    "tied_weights",
    "init",
    "solver",
    "max_iter",
    "max_fun",
    "batch_size",
    "learning_rate_init",
    "random_state",
    "verbose",
)
#: The imputer's own training options (:func:`fit_models`).
OPTIONS = (
    "noise_level",
    "n_corruptions",
    "early_stopping",
    "validation_fraction",
    "n_iter_no_change",
    "tol",
)


#: ``n_corruptions="auto"`` for L-BFGS: masked copies of each row, so that
#: one fixed objective sees several masks (1 copy to 4: RMSE on macrodata at
#: 20% missing 0.537 to 0.427, breast_cancer 0.539 to 0.532).
AUTO_CORRUPTIONS = 4
#: From this many rows on the best iterate is kept rather than refitted
#: (measured on randhie's first 10,000 rows at 20% missing: RMSE 0.843 kept
#: against 0.838 refitted, in 4.3 s against 8.8 s).
REFIT_MAX_ROWS = 10_000
#: ``batch_size="auto"`` (Adam), and ``n_iter_no_change="auto"`` for
#: (L-BFGS, Adam): measured with tanh and ``learning_rate_init=0.01``, on randhie's
#: first 10,000 rows at 10% missing, seed 0, RMSE 0.807 in 1.1 s, against
#: 0.802 in 6.6 s with the autoencoders' 200 rows, 1e-3 and 20 epochs
#: (IterativeImputer: 0.880 in 1.5-1.9 s); with 10 iterations L-BFGS
#: stopped too early (macrodata at 40%: 0.468 against 0.431). Then 500 rows
#: with ``max_iter="auto"`` (below).
AUTO_BATCH = 500
AUTO_PATIENCE = {False: 20, True: 10}
#: ``max_iter="auto"`` for (L-BFGS, Adam): iterations, epochs. With the
#: imputer's ``activation="relu"`` and ``learning_rate_init=0.02`` (tanh and
#: 0.01 before), randhie's first 10,000 rows, seeds 0-2, median RMSE at
#: 10/20/40% missing: 0.832, 0.868, 0.921 in 12 epochs of 500-row batches
#: (0.29-0.44 s in one process at load 1.6); 0.834, 0.868, 0.921 in 20 of
#: 1000 rows (0.43-0.60 s); 0.845, 0.881, 0.937 in 10 of 1000 (the network
#: not kept at 40%); 0.836, 0.874, 0.922 in 8 of 250; 0.824, 0.851, 0.911
#: run to the held-out patience (26-52 epochs of 1000); 0.823, 0.867, 0.937
#: with tanh and 0.01 (44-64 epochs of 1000, the network not kept at 40%).
#: Then (after Adam's epoch corrupted at once, and in float32) 10 epochs at
#: ``learning_rate_init=0.03``: seeds 0-5, 0.838, 0.879, 0.930 against
#: 0.840, 0.879, 0.929 in 12 at 0.02 (9 at 0.03: 0.840, 0.879, 0.932), a
#: sixth less time.
AUTO_MAX_ITER = {False: 500, True: 10}
#: Where Adam trains the network, it reads the standardized rows in this
#: dtype (Adam runs in the data's: :mod:`skae._adam`): on randhie's first
#: 10,000 rows, seeds 0-2, 10% faster than float64 (min of 3 fits: 0.204 /
#: 0.229 / 0.270 s against 0.227 / 0.256 / 0.300 at 10/20/40% missing), the
#: median RMSE equal to 3 digits (0.8323 / 0.8686 / 0.9203 against 0.8323 /
#: 0.8681 / 0.9205). L-BFGS keeps the data's dtype.
ADAM_DTYPE = np.float32
#: Held-out entries are scored on at most this many rows' worth of them per
#: iteration (a bound on the callback's cost on large tables).
MAX_SCORED_ROWS = 5000


def auto_components(n_features: int) -> int:
    """``n_components="auto"``: half the features, rounded up (see the class
    docstring for the measurements behind it)."""
    return max(1, (n_features + 1) // 2)


def standardize(X, mask, sample_weight=None):
    """``(mean, scale)`` of the observed entries of each column, weighted by
    ``sample_weight`` (NaN for a column without any; scale 1 where the column
    is constant)."""
    observed = ~mask
    counts = observed.sum(axis=0)
    w = np.ones(len(X)) if sample_weight is None else sample_weight
    safe = np.maximum(w @ observed, 1e-300)
    values = np.where(observed, X, 0).astype(np.float64)
    mean = w @ values / safe
    var = w @ (np.where(observed, values - mean, 0) ** 2) / safe
    scale = np.sqrt(var)
    scale[~(scale > 0)] = 1.0
    mean[counts == 0] = np.nan
    scale[counts == 0] = np.nan
    return mean, scale


def hold_out_entries(Z: np.ndarray, fraction: float, rng) -> np.ndarray:
    """Flat indices of ``fraction`` of the observed entries of ``Z``, none
    the last observed entry of its row."""
    observed = np.flatnonzero(~np.isnan(Z))
    n = int(round(fraction * observed.size))
    if n < 1:
        return observed[:0]
    picked = rng.choice(observed, size=n, replace=False)
    hidden = np.zeros(Z.size, bool)
    hidden[picked] = True
    hidden = hidden.reshape(Z.shape)
    left = (~np.isnan(Z) & ~hidden).sum(axis=1)
    for i in np.flatnonzero(left == 0):  # give each emptied row one entry back
        hidden[i, np.flatnonzero(hidden[i])[0]] = False
    return np.flatnonzero(hidden)


#: The ridges of the Gaussian fill (fractions of a column's variance, added
#: to its covariance: :func:`skae._gaussian.fit_gaussian`) whose held-out
#: imputation is compared (medians of 3 seeds, Gaussian alone: macrodata at
#: 10% 0.301 with 0.001, 0.335 with 0.01; star98 at 10% 0.499 and 0.472;
#: digits at 20% best with 0.1), and the one of fits without held-out entries.
RIDGES = (0.001, 0.01, 0.1, 0.3)
DEFAULT_RIDGE = 0.01


class _Scored:
    """The held-out entries that choose (the ridge, the network, its
    iterate): those of the first :data:`MAX_SCORED_ROWS` rows holding any
    (flat indices ``held`` into ``Z_train``, their values in ``Z``), each
    weighted by its row's ``w``."""

    def __init__(self, Z, Z_train, held, w=None):
        d = Z_train.shape[1]
        self.rows = np.unique(held // d)[:MAX_SCORED_ROWS]
        held = held[np.isin(held // d, self.rows)]
        self.Z = Z_train[self.rows]  # NaN where missing or held out
        self.at = (np.searchsorted(self.rows, held // d), held % d)
        self.truth = Z.flat[held]
        self.w = None if w is None else w[held // d]

    def error(self, Z_filled) -> float:
        """Mean squared error of the scored rows ``Z_filled`` (filled or
        reconstructed) at the held-out entries."""
        errors = (Z_filled[self.at] - self.truth) ** 2
        return float(np.average(errors, weights=self.w))


class _Imputation:
    """The callback that scores the held-out entries after each iteration
    and stops training once they stop improving, or at iteration ``last``
    (an automatic budget's end, reached silently either way): the held-out
    entries choose the iterate, so the fit's own closing comparison of its
    end with its start on the whole objective (two evaluations of every row,
    :func:`skae._fit._solve`) is not made. ``Z`` are the scored rows
    (:class:`_Scored`) as the network reads them, holes filled."""

    def __init__(self, scored, Z, n_iter_no_change, tol, last=None):
        self.scored, self.Z = scored, Z
        self.patience, self.tol, self.last = n_iter_no_change, tol, last
        self.errors = []
        self._mark = (np.inf, 0)  # the last error that improved by tol, when

    def __call__(self, iteration, loss, estimator) -> bool:
        error = self.scored.error(estimator.reconstruct(self.Z))
        self.errors.append(error)
        if error <= min(self.errors):  # the best iterate so far, kept
            self.best = {
                k: [A.copy() for A in getattr(estimator, k)]
                for k in ("coefs_", "intercepts_", "skip_coefs_")
            }
        if error < self._mark[0] * (1 - self.tol):
            self._mark = (error, len(self.errors))
        done = len(self.errors) == self.last
        return done or len(self.errors) - self._mark[1] >= self.patience

    @property
    def best_iteration(self) -> int:
        return int(np.argmin(self.errors)) + 1


def _network(n_components, params, gaussian):
    """A denoising autoencoder whose masking noise, and the data's own holes,
    are filled by ``gaussian``'s conditional expectation."""
    model = DenoisingAutoencoder(n_components, **params)
    model._noise_fill = gaussian.fill
    return model


def _fit(model, Z, w, quiet: bool, adam: bool):
    """``model`` fitted to ``Z``; with ``quiet``, a budget that runs out
    (``max_iter="auto"``, chosen to on large tables) does not warn. Where
    ``adam`` trains, the network reads ``Z`` in :data:`ADAM_DTYPE`."""
    if adam:
        Z = Z.astype(ADAM_DTYPE, copy=False)
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(Z, sample_weight=w)


def fit_models(Z: np.ndarray, n_components: int, params: dict, options: dict, w=None):
    """``(gaussian, network, report)`` of the imputer on the standardized rows
    ``Z`` (NaN where missing; every row has an observed entry): the Gaussian
    fill, the fitted :class:`DenoisingAutoencoder` (None where the held-out
    entries were imputed better by the Gaussian fill alone), and the held-out
    errors that chose them; ``w`` weighs the rows. ``params`` go to the
    autoencoder; ``options`` are the imputer's ``noise_level``,
    ``n_corruptions``, ``early_stopping``, ``validation_fraction``,
    ``n_iter_no_change`` and ``tol``."""
    solver = params["solver"]
    # as skae._fit.resolve decides
    least = ADAM_MIN_ROWS if params["init"] == "pca" else ADAM_MIN_ROWS_RANDOM
    adam = solver == "adam" or (solver == "auto" and len(Z) >= least)
    copies = options["n_corruptions"]
    if copies == "auto":  # Adam masks each minibatch afresh; L-BFGS once
        copies = 1 if adam else AUTO_CORRUPTIONS
    patience = options["n_iter_no_change"]
    if patience == "auto":
        patience = AUTO_PATIENCE[adam]
    batch, budget = params["batch_size"], params["max_iter"]
    base = dict(
        params,
        batch_size=AUTO_BATCH if batch == "auto" else batch,
        max_iter=AUTO_MAX_ITER[adam] if budget == "auto" else budget,
        noise="masking",
        noise_level=options["noise_level"],
        n_corruptions=copies,
        tol=options["tol"],
        n_iter_no_change=patience,
        early_stopping=False,
    )
    rng = check_random_state(params["random_state"])
    # the probe and the final fit start alike: one seed drawn for both
    seed = rng.randint(np.iinfo(np.int32).max)
    base["random_state"] = seed
    held = np.zeros(0, int)
    if options["early_stopping"]:
        held = hold_out_entries(Z, options["validation_fraction"], rng)
    if held.size == 0:
        gaussian = fit_gaussian(Z, DEFAULT_RIDGE, w)
        auto = budget == "auto"
        network = _fit(_network(n_components, base, gaussian), Z, w, auto, adam)
        return gaussian, network, {}
    Z_train = Z.copy()
    Z_train.flat[held] = np.nan
    fills = fit_gaussians(Z_train, RIDGES, w)
    scored = _Scored(Z, Z_train, held, w)
    filled = {r: g.fill(scored.Z) for r, g in fills.items()}
    scores = {r: scored.error(F) for r, F in filled.items()}
    q = min(scores, key=scores.get)
    last = base["max_iter"] if budget == "auto" else None
    Z_scored = filled[q].astype(ADAM_DTYPE) if adam else filled[q]
    scorer = _Imputation(scored, Z_scored, patience, base["tol"], last)
    probe = dict(base, callback=scorer)
    model = _network(n_components, probe, fills[q])
    model = _fit(model, Z_train, w, budget == "auto", adam)
    report = {"gaussian": scores, "network": min(scorer.errors)}
    if min(scorer.errors) >= scores[q]:  # the network does not help: the fill
        return fit_gaussian(Z, q, w), None, report
    if len(Z) >= REFIT_MAX_ROWS:  # keep the best iterate: no second fit
        model.__dict__.update(scorer.best)
        model.callback = None
        return fills[q], model, report
    gaussian = fit_gaussian(Z, q, w)
    final = dict(base, max_iter=scorer.best_iteration)
    # the chosen budget is meant to run out: quiet
    network = _fit(_network(n_components, final, gaussian), Z, w, True, adam)
    return gaussian, network, report


def impute(gaussian, network, Z: np.ndarray, mask: np.ndarray, rounds: int):
    """``Z`` (standardized, NaN where ``mask``) with its missing entries
    replaced: by ``gaussian``'s conditional expectation, then by ``network``'s
    reconstruction of the filled rows; each further round feeds the previous
    round's values to the network in their place."""
    Z = gaussian.fill(Z)
    if network is None:
        return Z
    for _ in range(rounds):
        R = network.reconstruct(Z)
        Z[mask] = R[mask]
    return Z
