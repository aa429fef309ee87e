"""
What an autoencoder cannot do: pure noise
=========================================

An autoencoder lowers its cost by finding structure: correlations between
features, a curved low-dimensional surface the data lie near. Independent
Gaussian noise has none. Its best ``k``-dimensional linear code keeps ``k``
of the ``n`` equal variances, and no nonlinear encoder can do better on new
samples: whatever the network fits beyond that is noise of the training set.
On held-out i.i.d. Gaussian data every kind of skae autoencoder is at best
level with PCA.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer, DenoisingAutoencoder, SparseAutoencoder

rng = np.random.RandomState(0)
X_train = rng.standard_normal((600, 20))
X_test = rng.standard_normal((600, 20))


def held_out_error(model):
    R = X_test - model.inverse_transform(model.transform(X_test))
    return np.mean(np.sum(R**2, axis=1))


models = {
    "PCA(5)": PCA(5),
    "autoencoder": AutoencoderTransformer(5, hidden_layer_sizes=(64,)),
    "stacked, greedy": AutoencoderTransformer(
        5, hidden_layer_sizes=(64, 32), pretrain="greedy"
    ),
    "denoising": DenoisingAutoencoder(5, noise_level=0.3, hidden_layer_sizes=(64,)),
    "sparse": SparseAutoencoder(5, sparsity_weight=0.1),
}
errors = {}
for name, model in models.items():
    if name != "PCA(5)":
        model.set_params(max_iter=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train)
    errors[name] = held_out_error(model)
    print(f"{name:<16} held-out error {errors[name]:6.2f}")
print("(keeping 5 of 20 unit variances leaves an error of about 15)")

# %%
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.barh(list(errors), list(errors.values()))
ax.axvline(errors["PCA(5)"], color="k", linestyle="--")
ax.set_xlabel("held-out reconstruction error (lower is better)")
ax.invert_yaxis()
plt.show()
