"""
Denoising digits
================

A :class:`~skae.DenoisingAutoencoder` is trained on corrupted copies of the
clean training images with the clean images as targets, so it learns to undo
the corruption. Here digits scaled to [0, 1] get Gaussian noise of standard
deviation 0.25; the denoising autoencoder restores held-out noisy digits
about 2 dB better (in peak signal-to-noise ratio) than projecting them on the
principal subspace of the noisy training set, for any of 8, 16 or 32
components, after only 150 L-BFGS iterations.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skae import DenoisingAutoencoder
from skae.plotting import plot_reconstructions


def psnr(estimate, clean):
    """Peak signal-to-noise ratio in dB for images in [0, 1]."""
    return 10 * np.log10(1.0 / np.mean((estimate - clean) ** 2))


X = load_digits().data / 16.0
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
rng = np.random.RandomState(0)
noisy_train = X_train + rng.normal(scale=0.25, size=X_train.shape)
noisy_test = X_test + rng.normal(scale=0.25, size=X_test.shape)

# %%
# The denoising autoencoder sees only clean images: it corrupts them itself,
# once per fit (``n_corruptions`` draws more copies). A logistic output keeps
# the reconstructions in [0, 1].
dae = DenoisingAutoencoder(
    n_components=32,
    hidden_layer_sizes=(64,),
    noise="gaussian",
    noise_level=0.25,
    output_activation="logistic",
    alpha=1.0,
    max_iter=150,
    random_state=0,
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    dae.fit(X_train)

# %%
# PCA fitted on the noisy training images, at three code sizes.
pcas = {f"PCA({k})": PCA(k).fit(noisy_train) for k in (8, 16, 32)}
print(f"noisy input          PSNR: {psnr(noisy_test, X_test):5.2f} dB")
for name, pca in pcas.items():
    denoised = pca.inverse_transform(pca.transform(noisy_test))
    print(f"{name:<20} PSNR: {psnr(denoised, X_test):5.2f} dB")
print(
    f"denoising autoencoder PSNR: {psnr(dae.reconstruct(noisy_test), X_test):5.2f} dB"
)

# %%
# Clean, noisy and denoised held-out digits
# -----------------------------------------
fig = plot_reconstructions(
    noisy_test,
    {"PCA(16)": pcas["PCA(16)"], "denoising AE": dae},
    vmin=0,
    vmax=1,
)
fig.axes[0].set_ylabel("noisy", fontsize=8)
plt.show()
