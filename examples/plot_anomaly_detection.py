"""
Anomaly detection with ``score_samples``
========================================

``score_samples`` returns minus each sample's squared reconstruction error.
An autoencoder reconstructs well only what resembles its training data, so a
low score flags a sample unlike it. Here the autoencoder is trained on the
digits 0 to 4 only; held-out images of 0 to 4 are the normal samples, images
of 5 to 9 the anomalies it never saw. The ROC AUC measures how well the score
ranks anomalies below normal samples, for the autoencoder and for PCA's
reconstruction error at the same code size.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer

X, y = load_digits(return_X_y=True)
X = X / 16.0
normal = y < 5
X_train, X_test_normal = train_test_split(X[normal], test_size=0.3, random_state=0)
X_anomalies = X[~normal][:300]
X_test = np.vstack([X_test_normal, X_anomalies])
is_anomaly = np.r_[np.zeros(len(X_test_normal)), np.ones(len(X_anomalies))]

ae = AutoencoderTransformer(
    n_components=8, hidden_layer_sizes=(64,), max_iter=200, random_state=0
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    ae.fit(X_train)
pca = PCA(8).fit(X_train)

ae_score = ae.score_samples(X_test)
R = X_test - pca.inverse_transform(pca.transform(X_test))
pca_score = -np.sum(R**2, axis=1)
# a low score means "anomalous", so the anomaly score is minus the score
print(f"autoencoder ROC AUC: {roc_auc_score(is_anomaly, -ae_score):.3f}")
print(f"PCA         ROC AUC: {roc_auc_score(is_anomaly, -pca_score):.3f}")

# %%
# The scores of normal samples and anomalies
# ------------------------------------------
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
bins = np.linspace(-ae_score.max(), -ae_score.min(), 40)
ax.hist(-ae_score[is_anomaly == 0], bins=bins, alpha=0.6, label="digits 0-4")
ax.hist(-ae_score[is_anomaly == 1], bins=bins, alpha=0.6, label="digits 5-9")
ax.set_xlabel("reconstruction error, -score_samples(X)")
ax.set_ylabel("held-out samples")
ax.legend()
plt.show()

# %%
# A threshold at the 95th percentile of the training scores flags held-out
# samples as anomalous.
threshold = np.percentile(-ae.score_samples(X_train), 95)
flagged = -ae_score > threshold
print(
    f"flagged: {flagged[is_anomaly == 0].mean():.0%} of normal samples, "
    f"{flagged[is_anomaly == 1].mean():.0%} of anomalies"
)
