"""
Sparse filters from image patches
=================================

The classic sparse autoencoder: an overcomplete-capable layer of logistic code
units, each pushed by a KL penalty to be active on only about
``sparsity_target`` = 5% of the inputs. Trained on 8x8 grey patches of the
two photographs bundled with scikit-learn
(:func:`~sklearn.datasets.load_sample_images`, no download), most of its
encoder filters turn from random noise into smooth, oriented edge and
gradient detectors.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_sample_images
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.image import extract_patches_2d

from skae import SparseAutoencoder
from skae.plotting import plot_filters

# %%
# Patches
# -------
# 2000 random patches of each photo, grey, with each patch's mean removed and
# values clipped at 3 standard deviations and mapped to [0.1, 0.9] to suit a
# logistic output.
rng = np.random.RandomState(0)
patches = np.vstack(
    [
        extract_patches_2d(
            image.mean(axis=2), (8, 8), max_patches=2000, random_state=rng
        ).reshape(-1, 64)
        for image in load_sample_images().images
    ]
)
patches -= patches.mean(axis=1, keepdims=True)
s = 3 * patches.std()
patches = (np.clip(patches, -s, s) / s + 1) * 0.4 + 0.1
print(patches.shape)

# %%
# The sparse autoencoder
# ----------------------
# 36 code units, strong weight decay, a logistic output.
sae = SparseAutoencoder(
    n_components=36,
    sparsity_target=0.05,
    sparsity_weight=3.0,
    alpha=5.0,
    output_activation="logistic",
    max_iter=200,
    random_state=0,
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    codes = sae.fit_transform(patches)
print(f"mean code activation: {codes.mean():.3f} (target 0.05)")

# %%
# The learned filters
# -------------------
# Row ``j`` of ``coefs_[0].T`` is the filter of code unit ``j``, shown as an
# 8x8 image (grey is 0).
plot_filters(sae, n_cols=6)
plt.show()
