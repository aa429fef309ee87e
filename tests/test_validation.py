"""Parameter validation gaps of issue 16 (items 4 and 10), each a test that
failed before the fit pipeline (issue 10) and passes now."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skae import AutoencoderTransformer, DenoisingAutoencoder, SparseAutoencoder

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(60, 8))


def _params(est):
    return [a.copy() for a in est.coefs_ + est.intercepts_]


def _assert_same(a, b):
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(
    "name, value",
    [
        ("n_components", True),
        ("max_iter", True),
        ("max_fun", True),
        ("n_iter_no_change", False),
        ("batch_size", True),
        ("batch_size", np.inf),
        ("batch_size", 1.5),
        ("batch_size", "10"),
        ("batch_size", 0),
        ("learning_rate_init", np.inf),
        ("learning_rate_init", np.nan),
        ("learning_rate_init", 0.0),
        ("alpha", np.inf),
        ("tol", np.inf),
    ],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_invalid_value_is_named_at_fit_and_partial_fit(name, value, method, X):
    """A bool is not an int, an infinite float is not a number of iterations
    or a step size, batch_size is "auto" or an int >= 1: each rejected with a
    ValueError naming the parameter, before anything is fitted."""
    est = AutoencoderTransformer(3, hidden_layer_sizes=(4,), max_iter=5)
    with pytest.raises(ValueError, match=name):
        getattr(est.set_params(**{name: value}), method)(X)
    assert not hasattr(est, "coefs_")


@pytest.mark.parametrize("name", ["alpha", "sparsity_weight"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_penalty_is_blamed_on_the_parameter(name, dtype, X):
    """alpha=1e308 (or sparsity_weight) overflows the objective: the error
    names the parameter, never "the input's values are too large"."""
    params = {name: 1e308, "max_iter": 5, "random_state": 0}
    est = SparseAutoencoder(12, **params)
    with pytest.raises(ValueError, match=f"{name}=1e\\+308 is too large") as info:
        est.fit(X.astype(dtype))
    assert "input" not in str(info.value)
    assert not hasattr(est, "coefs_")


def test_partial_fit_after_an_architecture_change_is_refused(X):
    """fit, set_params(n_components=3), partial_fit: refused as warm_start
    refuses it, naming the architecture, and the fitted model stays."""
    est = AutoencoderTransformer(2, hidden_layer_sizes=(4,), max_iter=5).fit(X)
    before = _params(est)
    with pytest.raises(ValueError, match="partial_fit needs the same architecture"):
        est.set_params(n_components=3).partial_fit(X)
    _assert_same(_params(est), before)
    with pytest.raises(ValueError, match="warm_start=True needs the same"):
        est.set_params(warm_start=True).fit(X)


@pytest.mark.parametrize("lr", [np.inf, np.nan])
def test_non_finite_learning_rate_never_reaches_a_fitted_model(lr, X):
    """partial_fit with a non-finite step size, after fit: a clear error and
    the fitted model intact (it used to store an all-NaN model silently)."""
    est = AutoencoderTransformer(3, hidden_layer_sizes=(4,), max_iter=5).fit(X)
    before = _params(est)
    with pytest.raises(ValueError, match="learning_rate_init"):
        est.set_params(learning_rate_init=lr).partial_fit(X)
    _assert_same(_params(est), before)
    assert np.isfinite(est.transform(X)).all()


@pytest.mark.parametrize("cls", [AutoencoderTransformer, DenoisingAutoencoder])
def test_exploding_step_is_a_divergence_error_and_keeps_the_model(cls, X):
    """A finite but absurd step size blows the parameters up: the error says
    training diverged and names the step size; nothing is stored."""
    est = cls(3, hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X)
    before = _params(est)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="diverged.*learning_rate_init"):
            est.set_params(learning_rate_init=1e300, batch_size=5).partial_fit(X)
    _assert_same(_params(est), before)


def test_batch_size_auto_and_clipping(X):
    """ "auto" is min(200, n_samples) rows per step; a larger int is clipped
    to n_samples: one Adam step per pass here (60 rows)."""
    for batch_size in ["auto", 10_000]:
        est = AutoencoderTransformer(3, batch_size=batch_size, random_state=0)
        assert est.partial_fit(X)._adam_state["t"] == 1
    assert AutoencoderTransformer(batch_size=7).partial_fit(X)._adam_state["t"] == 9
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        AutoencoderTransformer(batch_size=7).partial_fit(X)  # one pass: no warning
