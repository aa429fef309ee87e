"""
A linear autoencoder is PCA
===========================

With no hidden layers, identity activations and no weight decay, the
autoencoder's optimum spans the same subspace as the first ``k`` principal
components (Baldi and Hornik, 1989): trained to convergence it reaches PCA's
reconstruction error, and the principal angles between its decoder's subspace
and PCA's are zero up to the optimizer's tolerance. Its code is not PCA's
scores though: any invertible mixing of the code units is an equally good
optimum, so the autoencoder's units need not be orthogonal or ordered by
variance.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from scipy.linalg import subspace_angles
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer

X = StandardScaler().fit_transform(load_digits().data)

rows = []
for k in (2, 8, 16):
    pca = PCA(k).fit(X)
    linear = AutoencoderTransformer(
        n_components=k,
        hidden_layer_sizes=(),
        activation="identity",
        code_activation="identity",
        alpha=0.0,
        tol=1e-9,
        max_iter=5000,
        random_state=0,
    ).fit(X)
    R = X - pca.inverse_transform(pca.transform(X))
    pca_error = np.mean(np.sum(R**2, axis=1))
    # the decoder's rows span the subspace the reconstructions live in
    angle = np.degrees(np.max(subspace_angles(linear.coefs_[1].T, pca.components_.T)))
    rows.append((k, pca_error, -linear.score(X), angle))
    print(
        f"k={k:2d}  PCA error {pca_error:8.4f}  linear AE error {-linear.score(X):8.4f}"
        f"  largest principal angle {angle:.2g} degrees"
    )

# %%
# Both errors fall on the same curve.
fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
ks, pca_err, ae_err, _ = map(np.array, zip(*rows))
ax.plot(ks, pca_err, "o-", label="PCA")
ax.plot(ks, ae_err, "x--", markersize=10, label="linear autoencoder")
ax.set_xlabel("code size k")
ax.set_ylabel("reconstruction error")
ax.legend()
plt.show()
