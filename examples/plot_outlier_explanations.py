"""
Outliers and what makes them outliers
=====================================

:class:`~skae.AutoencoderOutlierDetector` learns to reconstruct its training
data and flags the samples it reconstructs badly. Its
``reconstruction_errors`` method splits each sample's error by feature (the
rows sum to ``-score_samples``), which tells *where* a sample departs from
what the detector learned.

The detector is trained on images of the digit 0 only (8 x 8 pixels, 64
features), after a ``StandardScaler`` in a pipeline. It then scores held-out
0s and a few hundred other digits; the worst scores are shown with their
per-pixel errors: the pixels where the image differs from any 0.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderOutlierDetector
from skae.plotting import plot_feature_errors

X, y = load_digits(return_X_y=True)
X_train, X_test_zeros = train_test_split(X[y == 0], test_size=0.3, random_state=0)
rng = np.random.RandomState(0)
others = rng.choice(np.flatnonzero(y != 0), 200, replace=False)
X_test = np.vstack([X_test_zeros, X[others]])
is_outlier = np.r_[np.zeros(len(X_test_zeros)), np.ones(len(others))]

detector = AutoencoderOutlierDetector(n_components=4, random_state=0)
pipe = make_pipeline(StandardScaler(), detector)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    pipe.fit(X_train)

print(f"ROC AUC: {roc_auc_score(is_outlier, -pipe.score_samples(X_test)):.3f}")
flagged = pipe.predict(X_test) == -1
print(
    f"flagged: {flagged[is_outlier == 0].mean():.0%} of the held-out 0s, "
    f"{flagged[is_outlier == 1].mean():.0%} of the other digits"
)

# %%
# The worst five, and where their error sits
# ------------------------------------------
# The errors are computed on the scaled pixels (what the detector sees):
# ``pipe[:-1].transform`` applies the scaler. Bright pixels in the second row
# carry the error: strokes a 0 does not have, or a 0's ring left empty.
Z_test = pipe[:-1].transform(X_test)
errors = detector.reconstruction_errors(Z_test)
worst = np.argsort(-errors.sum(axis=1))[:5]

fig, axes = plt.subplots(2, 5, figsize=(8, 3.6), layout="constrained")
for col, i in enumerate(worst):
    axes[0, col].imshow(X_test[i].reshape(8, 8), cmap="gray_r")
    axes[0, col].set_title(
        f"digit {y[others][i - len(X_test_zeros)]}" if is_outlier[i] else "a 0",
        fontsize=9,
    )
    axes[1, col].imshow(errors[i].reshape(8, 8), cmap="magma")
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
axes[0, 0].set_ylabel("image")
axes[1, 0].set_ylabel("error per pixel")
plt.show()

# %%
# The same as bar charts, pixels named
# ------------------------------------
# :func:`skae.plotting.plot_feature_errors` draws the largest per-feature
# errors of the most anomalous samples; with a DataFrame (or
# ``feature_names``) the bars carry the columns' names.
names = [f"row{r}col{c}" for r in range(8) for c in range(8)]
fig = plot_feature_errors(
    detector, Z_test, samples=worst[:3], n_features=8, feature_names=names
)
plt.show()
