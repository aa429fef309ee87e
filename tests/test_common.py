"""scikit-learn's estimator checks on every public estimator configuration."""

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from tests.estimators import ESTIMATORS


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    # The checks fit tiny random data with a small iteration budget, where
    # running out of iterations is expected and not what they test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)
