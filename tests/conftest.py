import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


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
