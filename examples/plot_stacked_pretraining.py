"""
Stacked autoencoder with greedy layer-wise pretraining
======================================================

``hidden_layer_sizes=(64, 32)`` gives a deep encoder ``64 -> 64 -> 32 -> 8``
and its mirror image as decoder. With ``pretrain="greedy"`` (Hinton and
Salakhutdinov, 2006; Bengio et al., 2007) skae first trains one shallow
autoencoder per layer, each on the codes of the previous one (at most
``pretrain_max_iter`` L-BFGS iterations each), stacks them, and only then
fine-tunes the whole network. The stacked start is already a good
autoencoder, so fine-tuning begins far lower than from a random start. On a
network this small, L-BFGS from a random start catches up within the same
fine-tuning budget: both end well below PCA's held-out error, level with each
other.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer
from skae.plotting import plot_loss_curve

X = load_digits().data
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

params = dict(n_components=8, hidden_layer_sizes=(64, 32), max_iter=100, random_state=0)
stacked = AutoencoderTransformer(pretrain="greedy", pretrain_max_iter=30, **params)
random_start = AutoencoderTransformer(**params)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    stacked.fit(X_train)
    random_start.fit(X_train)

pca = PCA(8).fit(X_train)
R = X_test - pca.inverse_transform(pca.transform(X_test))
pca_error = np.mean(np.sum(R**2, axis=1))
print(f"PCA(8)                      held-out error {pca_error:6.2f}")
print(f"stacked, greedy pretraining held-out error {-stacked.score(X_test):6.2f}")
print(f"same network, random start  held-out error {-random_start.score(X_test):6.2f}")

# %%
# Fine-tuning curves
# ------------------
# ``loss_curve_`` holds the fine-tuning iterations only; the pretrained
# network starts it much lower.
plot_loss_curve({"greedy pretraining": stacked, "random start": random_start})
plt.show()
