"""
Early stopping and callbacks
============================

With few samples and no weight decay, an autoencoder keeps lowering its
training objective long after its error on new samples has started to rise:
it overfits. ``early_stopping=True`` holds out ``validation_fraction`` of the
training samples, watches their reconstruction error after every L-BFGS
iteration, stops once it has not improved for ``n_iter_no_change``
iterations, and keeps the parameters of the best iteration. A ``callback``
sees the estimator after every iteration, here to record the error on a
separate test set.
"""

# %%
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer
from skae.plotting import plot_loss_curve

X = load_digits().data / 16.0
X_train, X_test = X[:100], X[600:1100]


def recorder(errors):
    """A callback appending the test error after each iteration."""

    def callback(iteration, loss, estimator):
        errors.append(-estimator.score(X_test))
        return False  # returning True would stop training here

    return callback


params = dict(n_components=16, hidden_layer_sizes=(64,), alpha=0.0, random_state=0)

# %%
# The same network, trained for 600 iterations, and with early stopping.
full_errors, early_errors = [], []
full = AutoencoderTransformer(
    max_iter=600, early_stopping=False, callback=recorder(full_errors), **params
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    full.fit(X_train)
early = AutoencoderTransformer(
    max_iter=600,
    early_stopping=True,
    validation_fraction=0.3,
    n_iter_no_change=20,
    callback=recorder(early_errors),
    **params,
).fit(X_train)

best = max(range(early.n_iter_), key=lambda i: early.validation_scores_[i]) + 1
print(f"600 iterations:  test error {-full.score(X_test):.3f}")
print(
    f"early stopping:  stopped by {early.stopped_by_} after {early.n_iter_} "
    f"iterations, kept iteration {best}, test error {-early.score(X_test):.3f}"
)
print(f"lowest test error of the 600 iterations: {min(full_errors):.3f}")

# %%
# The training objective falls throughout, while the test error (dotted)
# turns up after a couple of hundred iterations. Early stopping, which sees
# only the 30 held-out training samples (dashed), stops near the turn.
fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
plot_loss_curve({"600 iterations": full, "early stopping": early}, ax=ax)
ax.plot(range(1, len(full_errors) + 1), full_errors, ":", label="test error")
ax.axvline(best, color="k", linewidth=0.8)
ax.set_ylabel("objective; held-out and test error")
ax.legend(fontsize=8)
plt.show()
