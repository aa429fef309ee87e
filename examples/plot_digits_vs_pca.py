"""
Digits: an autoencoder against PCA
==================================

The first thing to check about a nonlinear PCA is whether it beats PCA. On the
standardized 8x8 digits, an :class:`~skae.AutoencoderTransformer` with one
hidden layer of 128 tanh units, trained for only 100 L-BFGS iterations,
reconstructs held-out images with about 40% less squared error than
:class:`~sklearn.decomposition.PCA` at the same code size.
"""

# %%
# Fit PCA and the autoencoder on a train split
# --------------------------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer
from skae.plotting import plot_codes, plot_loss_curve, plot_reconstructions

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

pca = PCA(8).fit(X_train)
ae = AutoencoderTransformer(
    n_components=8, hidden_layer_sizes=(128,), max_iter=100, random_state=0
)
with warnings.catch_warnings():
    # a fixed budget of 100 L-BFGS iterations is the point here
    warnings.simplefilter("ignore", ConvergenceWarning)
    ae.fit(X_train)


def held_out_error(model, X):
    R = X - model.inverse_transform(model.transform(X))
    return np.mean(np.sum(R**2, axis=1))


print(f"PCA(8)         held-out error: {held_out_error(pca, X_test):.2f}")
print(f"autoencoder(8) held-out error: {held_out_error(ae, X_test):.2f}")

# %%
# Reconstructions side by side
# ----------------------------
# ``postprocess`` undoes the standardization so the images look like digits.
plot_reconstructions(
    X_test,
    {"PCA(8)": pca, "autoencoder(8)": ae},
    postprocess=scaler.inverse_transform,
    vmin=0,
    vmax=16,
)
plt.show()

# %%
# The training curve
# ------------------
plot_loss_curve({"autoencoder(8)": ae})
plt.show()

# %%
# Two-dimensional codes
# ---------------------
# Neither model sees a label, yet the autoencoder's 2-unit code keeps the
# classes further apart: a 10-nearest-neighbour classifier on the 2-D codes
# is markedly more accurate for the autoencoder than for PCA.
pca2 = PCA(2).fit(X_train)
ae2 = AutoencoderTransformer(
    n_components=2, hidden_layer_sizes=(128,), max_iter=100, random_state=0
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    ae2.fit(X_train)
for name, model in [("PCA(2)", pca2), ("autoencoder(2)", ae2)]:
    knn = KNeighborsClassifier(10).fit(model.transform(X_train), y_train)
    accuracy = knn.score(model.transform(X_test), y_test)
    print(f"{name:<15} 10-NN accuracy on the codes: {accuracy:.2f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained")
plot_codes(pca2, X_test, y_test, ax=axes[0])
axes[0].set_title("PCA(2)")
plot_codes(ae2, X_test, y_test, ax=axes[1])
axes[1].set_title("autoencoder(2)")
plt.show()
