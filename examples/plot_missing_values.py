"""
Imputing missing values with an autoencoder
===========================================

A denoising autoencoder trained with masking noise learns to rebuild the
entries it does not see from those it does, which is what an imputer does.
:class:`~skae.AutoencoderImputer` fits a Gaussian to the observed entries of a
table with holes, feeds each hole to a network as its expectation given the
row's observed entries, trains the network with masking noise (the loss
counts observed entries only) and fills each hole with the network's
reconstruction, leaving the observed entries untouched. If the network does
not impute held-out entries better than the Gaussian alone, the Gaussian's
expectations are the imputation.

Here a fifth of the entries of scikit-learn's breast cancer table (569
tumours, 30 measurements) are removed completely at random, and four imputers
fill them in: the column mean, the 5 nearest rows (``KNNImputer``), each
column regressed on the others in rounds (``IterativeImputer``) and the
autoencoder. The error is measured on the removed entries, in standard
deviations of each column. On this table of strongly related measurements
the autoencoder imputer and ``IterativeImputer``, which both condition on
the entries each row has, are far ahead of the others, the autoencoder
slightly ahead, in a fraction of ``IterativeImputer``'s time
(``benchmarks/README.md`` compares them on nine tables: the autoencoder is
within 5% of the best in 24 of 27 (table, rate) cells, behind
``KNNImputer`` on handwritten digits).
"""

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderImputer

X_full = StandardScaler().fit_transform(load_breast_cancer().data)
rng = np.random.RandomState(0)
missing = rng.uniform(size=X_full.shape) < 0.2
X = X_full.copy()
X[missing] = np.nan
print(
    f"{missing.mean():.0%} of the entries missing, in {missing.any(axis=1).sum()} "
    f"of {len(X)} rows"
)

imputers = {
    "column mean": SimpleImputer(),
    "KNNImputer": KNNImputer(),
    "IterativeImputer": IterativeImputer(random_state=0),
    "AutoencoderImputer": AutoencoderImputer(random_state=0),
}
rmse, seconds = {}, {}
for name, imputer in imputers.items():
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        X_filled = imputer.fit_transform(X)
    seconds[name] = time.perf_counter() - t0
    rmse[name] = np.sqrt(np.mean((X_filled - X_full)[missing] ** 2))
    assert (X_filled[~missing] == X[~missing]).all()  # observed entries kept
    print(f"{name:>18}: RMSE {rmse[name]:.3f} in {seconds[name]:.2f} s")

fig, ax = plt.subplots(figsize=(6, 2.8), layout="constrained")
ax.barh(list(rmse), list(rmse.values()), color=["0.7", "0.6", "0.5", "C0"])
ax.invert_yaxis()
ax.set_xlabel("RMSE on the removed entries (standard deviations)")
plt.show()

# %%
# What the network sees
# ---------------------
# The imputer standardizes each column with the mean and standard deviation
# of its observed entries, so that the squared error weighs every column
# alike, and fits a Gaussian to the incomplete rows: a hole enters the network
# as its expectation given the row's observed entries (``gaussian_.fill``),
# and so does each entry masking noise hides in training. The network
# (``autoencoder_``, a :class:`~skae.DenoisingAutoencoder`) is kept only if
# it imputes a tenth of the observed entries, held out, better than the
# Gaussian alone; ``validation_errors_`` holds the held-out errors that
# decided (mean squared, in standard deviations squared).
imputer = imputers["AutoencoderImputer"]
print(imputer.validation_errors_)
print("network kept:", imputer.autoencoder_ is not None)

# %%
# In a pipeline
# -------------
# The imputer is a transformer like any other: placed before a model in a
# :class:`~sklearn.pipeline.Pipeline`, it learns from the training rows and
# fills the holes of new rows at prediction time. ``add_indicator=True``
# also hands the model which entries were missing.
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

y = load_breast_cancer().target
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
model = make_pipeline(
    AutoencoderImputer(add_indicator=True, random_state=0),
    LogisticRegression(max_iter=1000),
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(X_train, y_train)
print(
    f"test accuracy with 20% of the entries missing: {model.score(X_test, y_test):.3f}"
)
