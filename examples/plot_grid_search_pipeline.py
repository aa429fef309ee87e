"""
Tuning hidden units in a pipeline
=================================

An autoencoder is a transformer like any other: it fits in a
:class:`~sklearn.pipeline.Pipeline` and its ``n_components`` and
``hidden_layer_sizes`` are tuned by :class:`~sklearn.model_selection.GridSearchCV`,
either for a downstream classifier's accuracy or, with no labels at all, by
the autoencoder's own ``score`` (the negative held-out reconstruction error).
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer

X, y = load_digits(return_X_y=True)
X, y = X[:900], y[:900]
# Every fit below has a fixed budget of 60 iterations.
warnings.simplefilter("ignore", ConvergenceWarning)

# %%
# With a classifier
# -----------------
pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        ("ae", AutoencoderTransformer(max_iter=60, random_state=0)),
        ("clf", LogisticRegression(max_iter=500)),
    ]
)
param_grid = {
    "ae__n_components": [4, 16],
    "ae__hidden_layer_sizes": [(16,), (64,)],
}
search = GridSearchCV(pipe, param_grid, cv=3).fit(X, y)
print("best:", search.best_params_, f"accuracy {search.best_score_:.3f}")

results = pd.DataFrame(search.cv_results_)
table = results.pivot_table(
    index="param_ae__hidden_layer_sizes",
    columns="param_ae__n_components",
    values="mean_test_score",
)
print(table.round(3))

# %%
# Without labels
# --------------
# ``GridSearchCV`` calls the autoencoder's ``score`` on each held-out fold:
# higher (a smaller reconstruction error) is better.
unsupervised = Pipeline(
    [
        ("scale", StandardScaler()),
        ("ae", AutoencoderTransformer(max_iter=60, random_state=0)),
    ]
)
search_u = GridSearchCV(unsupervised, param_grid, cv=3).fit(X)
print("best without labels:", search_u.best_params_)

results_u = pd.DataFrame(search_u.cv_results_)
fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
for hidden, group in results_u.groupby("param_ae__hidden_layer_sizes"):
    ax.errorbar(
        group["param_ae__n_components"],
        -group["mean_test_score"],
        yerr=group["std_test_score"],
        marker="o",
        label=f"hidden_layer_sizes={hidden}",
    )
ax.set_xlabel("n_components")
ax.set_ylabel("held-out reconstruction error")
ax.set_xticks(np.unique(results_u["param_ae__n_components"]))
ax.legend()
plt.show()
