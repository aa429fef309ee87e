"""What each member of the autoencoder family learns, shown on data.

The plain autoencoder (a linear one is PCA, a deep one beats it), denoising,
sparse, tied and stacked autoencoders, their combinations, and the one thing
no autoencoder can do: find structure in pure noise. Quality thresholds sit
near the measured values, with the margin stated beside each.
"""

import warnings

import numpy as np
import pytest
from scipy.linalg import subspace_angles
from sklearn.datasets import load_digits, load_sample_images
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.image import extract_patches_2d
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer, DenoisingAutoencoder, SparseAutoencoder
from tests.conftest import pca_error

# Fixed iteration budgets: running out of them is the plan, not a failure.
QUIET = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def psnr(estimate, clean):
    """Peak signal-to-noise ratio in dB for images with values in [0, 1]."""
    return 10 * np.log10(1.0 / np.mean((estimate - clean) ** 2))


# ------------------------------------------------------- plain autoencoder
def _linear(k, **kw):
    return AutoencoderTransformer(
        k,
        hidden_layer_sizes=(),
        activation="identity",
        alpha=0.0,
        tol=1e-9,
        max_iter=5000,
        random_state=0,
        **kw,
    )


@pytest.mark.parametrize("k", [2, 8, 16])
def test_linear_autoencoder_equals_pca(digits_standardized, k):
    X = digits_standardized
    ae = _linear(k).fit(X)
    pca = PCA(k).fit(X)
    ae_err, pca_err = -ae.score(X), pca_error(pca, X)
    # measured: equal to 2e-16 relative (the PCA start is exact and L-BFGS
    # stays there); the tolerance, 1e-9, is rounding, not a quality margin
    assert ae_err == pytest.approx(pca_err, rel=1e-9)
    # the code spans PCA's subspace: reconstructions live in the decoder's row
    # space (the encoder may add directions in which standardized digits are
    # constant, which change nothing)
    angles = subspace_angles(ae.coefs_[1].T, pca.components_.T)
    assert np.max(angles) < 1e-9  # measured 6e-15 radians


def test_linear_autoencoder_equals_pca_in_float32(digits_standardized):
    X = digits_standardized.astype(np.float32)
    ae = (
        _linear(
            8,
        )
        .set_params(tol=1e-5)
        .fit(X)
    )
    assert ae.coefs_[0].dtype == np.float32
    assert ae.transform(X).dtype == np.float32
    pca_err = pca_error(PCA(8).fit(X.astype(np.float64)), X.astype(np.float64))
    # measured 2e-9 relative; float32 rounding over 64 features allows 1e-5
    assert -ae.score(X) == pytest.approx(pca_err, rel=1e-5)


@pytest.mark.slow
def test_deep_autoencoder_beats_pca_on_held_out_digits(digits_split):
    """Measured (int branch, defaults: PCA start, L-BFGS, held-out early
    stopping): 0.40x PCA's held-out error, stopped by early stopping at 186
    of 300 iterations without a warning (the old defaults, Glorot's start
    and 300 iterations, gave 0.49x). Bound: the measured 0.40 x 1.3."""
    X_tr, X_te, _, _ = digits_split
    ae = AutoencoderTransformer(
        8, hidden_layer_sizes=(128,), activation="tanh", max_iter=300, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ae.fit(X_tr)
    assert ae.stopped_by_ == "early_stopping"
    pca_err = pca_error(PCA(8).fit(X_tr), X_te)
    ae_err = -ae.score(X_te)
    assert ae_err < 0.52 * pca_err, ae_err / pca_err


# --------------------------------------------------------------- denoising
@pytest.fixture(scope="module")
def noisy_digits():
    X = load_digits().data / 16.0
    X_tr, X_te = train_test_split(X, test_size=0.25, random_state=0)
    rng = np.random.RandomState(0)
    noisy_tr = X_tr + rng.normal(scale=0.25, size=X_tr.shape)
    noisy_te = X_te + rng.normal(scale=0.25, size=X_te.shape)
    return X_tr, X_te, noisy_tr, noisy_te


@pytest.mark.slow
@QUIET
def test_denoising_autoencoder_beats_pca_and_plain_autoencoder(noisy_digits):
    X_tr, X_te, noisy_tr, noisy_te = noisy_digits
    shape = dict(
        n_components=32,
        hidden_layer_sizes=(128,),
        output_activation="logistic",
        alpha=1.0,
        max_iter=300,
        random_state=0,
    )
    dae = DenoisingAutoencoder(noise_level=0.25, n_corruptions=2, **shape).fit(X_tr)
    dae_psnr = psnr(dae.reconstruct(noisy_te), X_te)

    best_pca = max(
        psnr(pca.inverse_transform(pca.transform(noisy_te)), X_te)
        for pca in (PCA(k).fit(noisy_tr) for k in (8, 16, 32))
    )
    plain = AutoencoderTransformer(**shape).fit(noisy_tr)
    plain_psnr = psnr(plain.reconstruct(noisy_te), X_te)

    # Measured (PSNR gains in dB): 2.79 over the best PCA, 2.04 over the plain
    # autoencoder trained on noisy rows, 6.22 over the noisy input itself.
    # Bounds: each measured gain / 1.3.
    assert dae_psnr >= best_pca + 2.1, (dae_psnr, best_pca)
    assert dae_psnr >= plain_psnr + 1.5, (dae_psnr, plain_psnr)
    # and it really denoises: better than the noisy input itself
    assert dae_psnr >= psnr(noisy_te, X_te) + 4.8


@QUIET
def test_transform_never_adds_noise(noisy_digits):
    X_tr = noisy_digits[0][:200]
    dae = DenoisingAutoencoder(
        4, noise_level=0.5, hidden_layer_sizes=(), max_iter=20, random_state=0
    ).fit(X_tr)
    np.testing.assert_array_equal(dae.transform(X_tr), dae.transform(X_tr))
    np.testing.assert_array_equal(dae.reconstruct(X_tr), dae.reconstruct(X_tr))


@QUIET
@pytest.mark.parametrize("noise", ["gaussian", "masking", "salt_and_pepper"])
def test_noise_is_drawn_once_per_fit_from_random_state(noisy_digits, noise):
    X = noisy_digits[0][:150]
    # a fixed budget: an iteration choice may keep the (noise-free) PCA start
    kw = dict(
        noise=noise,
        noise_level=0.3,
        hidden_layer_sizes=(),
        max_iter=15,
        early_stopping=False,
    )
    a = DenoisingAutoencoder(3, random_state=0, **kw).fit(X)
    b = DenoisingAutoencoder(3, random_state=0, **kw).fit(X)
    c = DenoisingAutoencoder(3, random_state=1, **kw).fit(X)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])
    # the corrupted training set differs from the clean one: the fit differs
    plain = AutoencoderTransformer(
        3, random_state=0, **{k: v for k, v in kw.items() if not k.startswith("noise")}
    ).fit(X)
    assert not np.allclose(a.coefs_[0], plain.coefs_[0])


@QUIET
def test_noise_level_zero_is_the_plain_autoencoder(noisy_digits):
    X = noisy_digits[0][:150]
    kw = dict(hidden_layer_sizes=(5,), max_iter=15, random_state=0)
    dae = DenoisingAutoencoder(3, noise="masking", noise_level=0.0, **kw).fit(X)
    ae = AutoencoderTransformer(3, **kw).fit(X)
    np.testing.assert_allclose(dae.coefs_[0], ae.coefs_[0])


# ------------------------------------------------------------------ sparse
@pytest.fixture(scope="module")
def image_patches():
    """8x8 grey patches of scikit-learn's bundled photos, scaled to [0.1, 0.9]."""
    rng = np.random.RandomState(0)
    patches = np.vstack(
        [
            extract_patches_2d(
                img.mean(axis=2), (8, 8), max_patches=2000, random_state=rng
            ).reshape(-1, 64)
            for img in load_sample_images().images
        ]
    )
    patches -= patches.mean(axis=1, keepdims=True)
    s = 3 * patches.std()
    return (np.clip(patches, -s, s) / s + 1) * 0.4 + 0.1


def _neighbour_correlation(filters):
    """Mean correlation of horizontally and vertically adjacent filter weights."""
    F = filters.reshape(-1, 8, 8)
    pairs = [(F[:, :, :-1], F[:, :, 1:]), (F[:, :-1, :], F[:, 1:, :])]
    return np.mean([np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in pairs])


@QUIET
def test_sparse_autoencoder_reaches_target_activation_and_learns_edges(
    image_patches,
):
    rho = 0.05
    sae = SparseAutoencoder(
        n_components=36,
        sparsity_target=rho,
        alpha=5.0,
        output_activation="logistic",
        max_iter=300,
        random_state=0,
    )
    codes = sae.fit_transform(image_patches)
    # Measured: every unit's mean activation within 6.1 % of rho (the mean
    # over units within 0.6 %); bound 8 % = 1.3x, on every unit.
    unit_means = codes.mean(axis=0)
    assert np.max(np.abs(unit_means - rho)) <= 0.08 * rho, unit_means
    # edge-like filters are spatially smooth (measured neighbour correlation
    # 0.946, bound 0.946 / 1.3), unlike their random start (measured -0.016:
    # zero give or take 0.02 for 36 random filters)
    filters = sae.coefs_[0].T
    assert _neighbour_correlation(filters) > 0.72
    start = SparseAutoencoder(n_components=36, max_iter=1, random_state=0)
    start.fit(image_patches)
    assert abs(_neighbour_correlation(start.coefs_[0].T)) < 0.1
    # and the sparsity penalty is what makes the codes sparse
    dense = SparseAutoencoder(
        n_components=36,
        sparsity_weight=0.0,
        alpha=5.0,
        output_activation="logistic",
        max_iter=100,
        random_state=0,
    ).fit(image_patches)
    # measured 10.0 rho without the penalty; bound 10.0 / 1.3
    assert dense.transform(image_patches).mean() > 7.7 * rho


# -------------------------------------------------------- tied and stacked
@pytest.mark.slow
@QUIET
def test_tied_weights_halve_the_parameters_and_stay_tied(digits_unit):
    X = digits_unit[:300]
    kw = dict(hidden_layer_sizes=(32,), max_iter=30, random_state=0)
    tied = AutoencoderTransformer(8, tied_weights=True, **kw).fit(X)
    free = AutoencoderTransformer(8, **kw).fit(X)
    # coefs_ lists every layer's matrix; the decoder's are the encoder's .T
    for i in range(2):
        np.testing.assert_array_equal(tied.coefs_[-1 - i], tied.coefs_[i].T)
    assert not np.allclose(free.coefs_[-1], free.coefs_[0].T)
    n_free = sum(W.size for W in free.coefs_)
    assert sum(W.size for W in tied.coefs_[:2]) == n_free // 2


@pytest.mark.slow
@QUIET
def test_stacked_autoencoder_beats_pca_by_40_percent(digits_split):
    """Greedy pretraining, then 300 iterations of fine-tuning on every row:
    measured 0.51x PCA's held-out error (int branch). With the default
    early_stopping="auto" (a held-out 10 % here) fine-tuning stops at
    iteration 68 at 0.89x PCA's: reported, not hidden; this test is about
    the stacked network's fine-tuning, so it pins early_stopping=False."""
    X_tr, X_te, _, _ = digits_split
    stacked = AutoencoderTransformer(
        8,
        hidden_layer_sizes=(128, 64),
        pretrain="greedy",
        pretrain_max_iter=50,
        max_iter=300,
        early_stopping=False,
        random_state=0,
    ).fit(X_tr)
    assert len(stacked.coefs_) == 6
    ratio = -stacked.score(X_te) / pca_error(PCA(8).fit(X_tr), X_te)
    assert ratio <= 0.6, ratio  # measured 0.51, bound 0.6 = 1.18x
    # with early stopping, a longer patience waits out the pause at 48-70
    # (docs/user_guide.rst): measured 0.508 at n_iter_no_change=50
    patient = stacked.set_params(early_stopping=True, n_iter_no_change=50)
    patient.set_params(max_iter=500).fit(X_tr)
    ratio = -patient.score(X_te) / pca_error(PCA(8).fit(X_tr), X_te)
    assert ratio <= 0.6, ratio  # bound 0.6 = 1.18x the measured 0.508


@pytest.mark.slow
@QUIET
def test_greedy_pretraining_starts_closer_than_random(digits_split):
    X_tr = digits_split[0]
    kw = dict(
        hidden_layer_sizes=(64, 32),
        max_iter=1,
        solver="lbfgs",
        early_stopping=False,
        random_state=0,
    )
    pre = AutoencoderTransformer(8, pretrain="greedy", pretrain_max_iter=30, **kw)
    rand = AutoencoderTransformer(8, init="random", **kw)
    # measured 0.59 of the random start's loss, bound 0.77 = 1.3x
    assert pre.fit(X_tr).loss_curve_[0] < 0.77 * rand.fit(X_tr).loss_curve_[0]


# ----------------------------------------------------- noise, combinations
PURE_NOISE_ESTIMATORS = [
    AutoencoderTransformer(5, hidden_layer_sizes=(64,)),
    AutoencoderTransformer(5, hidden_layer_sizes=(64, 32), pretrain="greedy"),
    DenoisingAutoencoder(5, noise_level=0.3, hidden_layer_sizes=(64,)),
    SparseAutoencoder(5, sparsity_weight=0.1),
]


@pytest.mark.slow
@QUIET
@pytest.mark.parametrize("estimator", PURE_NOISE_ESTIMATORS, ids=lambda e: repr(e))
def test_no_autoencoder_beats_pca_on_pure_noise(estimator):
    rng = np.random.RandomState(0)
    X_tr, X_te = rng.standard_normal((600, 20)), rng.standard_normal((600, 20))
    estimator.set_params(max_iter=200, random_state=0).fit(X_tr)
    pca_err = pca_error(PCA(5).fit(X_tr), X_te)
    # measured 1.000, 0.984 (greedy), 1.000, 1.011 times PCA's error: no
    # better than noise allows; bound 0.97, 1.5 % below the lowest
    assert -estimator.score(X_te) >= 0.97 * pca_err


COMBINATIONS = [
    dict(
        tied_weights=True,
        pretrain="greedy",
        sparsity_weight=0.5,
        code_activation="logistic",
        noise="masking",
    ),
    dict(
        tied_weights=False,
        pretrain="greedy",
        sparsity_weight=0.0,
        noise="salt_and_pepper",
    ),
    dict(
        tied_weights=True,
        pretrain=None,
        sparsity_weight=1.0,
        code_activation="logistic",
        noise="gaussian",
    ),
]


@pytest.mark.slow
@QUIET
@pytest.mark.parametrize("params", COMBINATIONS)
def test_variants_combine_and_lower_their_objective(params, digits_unit):
    X = digits_unit[:300]
    est = DenoisingAutoencoder(
        6,
        hidden_layer_sizes=(24, 12),
        noise_level=0.2,
        pretrain_max_iter=10,
        max_iter=40,
        random_state=0,
        **params,
    ).fit(X)
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    assert np.isfinite(est.transform(X)).all()
    assert est.reconstruct(X).shape == X.shape
