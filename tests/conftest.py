import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from skae._base import _FITTED_ATTRIBUTES


@pytest.fixture(scope="session")
def digits_standardized():
    X = load_digits().data
    return StandardScaler().fit_transform(X)


@pytest.fixture(scope="session")
def digits_split():
    """Standardized digits, train/test split (scaler fitted on train)."""
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


@pytest.fixture(scope="session")
def digits_unit():
    """Digits scaled to [0, 1]."""
    return load_digits().data / 16.0


def pca_error(pca, X):
    R = X - pca.inverse_transform(pca.transform(X))
    return float(np.mean(np.sum(R**2, axis=1)))


def flat_params(est):
    """The fitted parameters of ``est`` as one flat vector."""
    return np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])


@pytest.fixture(scope="module")
def X_small():
    rng = np.random.RandomState(0)
    return rng.uniform(size=(60, 8))


@pytest.fixture(scope="module")
def stream():
    """A low-dimensional nonlinear stream: 12 pieces of 250 rows."""
    rng = np.random.RandomState(0)
    basis = rng.normal(size=(3, 10))
    pieces = [np.tanh(rng.normal(size=(250, 3)) @ basis) for _ in range(12)]
    return pieces


def assert_unfitted(est):
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    for name in _FITTED_ATTRIBUTES:
        assert not hasattr(est, name), name
    with pytest.raises(NotFittedError):
        est.transform(np.ones((2, 8)))


# Hypothesis profiles (issue 6). "ci" is selected when the CI environment
# variable is set: 300 examples per property, no deadline (a fit's
# duration varies with the machine's load, so a deadline would only flake),
# derandomized so that a CI run is reproducible, and no example database
# written into the working tree. "dev" has 100 random examples per property.
# HYPOTHESIS_PROFILE=<name> selects a profile explicitly.
import os  # noqa: E402

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    max_examples=300,  # a few seconds per property with skae's small fits
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    max_examples=100,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
)
