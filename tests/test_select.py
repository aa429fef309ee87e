"""The iteration choice (skae._select): the one-standard-error rule on paired
row errors, which the fit pipeline applies to cross-validated traces
(``early_stopping="auto"`` on small data, ``test_fit.py``)."""

import numpy as np

from skae._select import RowErrorTrace, choose_iteration, stack_traces


def test_clear_improvement_is_kept():
    rng = np.random.RandomState(0)
    base = rng.uniform(1, 2, size=200)
    errors = np.vstack([base, 0.8 * base, 0.7 * base, 0.71 * base])
    assert choose_iteration(errors) == 2


def test_noise_sized_improvement_keeps_the_start():
    rng = np.random.RandomState(0)
    base = rng.uniform(1, 2, size=8)
    # iteration 1 is better on average by less than its noise
    noisy = base + rng.normal(0, 0.5, size=8)
    noisy -= noisy.mean() - base.mean() + 0.05
    errors = np.vstack([base, noisy])
    assert errors[1].mean() < errors[0].mean()
    assert choose_iteration(errors) == 0
    assert choose_iteration(errors, se_factor=0.0) == 1


def test_earliest_within_the_margin():
    rng = np.random.RandomState(1)
    base = rng.uniform(1, 2, size=500)
    noise = rng.normal(0, 0.05, size=500)
    later = 0.5 * base + noise - noise.mean() - 1e-4  # better by far less than SE
    errors = np.vstack([base, 0.5 * base, 0.6 * base, later])
    assert errors[3].mean() < errors[1].mean()
    assert choose_iteration(errors, se_factor=2.0) == 1


def test_traces_pad_folds_that_stopped_early():
    a = [np.array([1.0, 2.0]), np.array([0.5, 1.0])]
    b = [np.array([3.0]), np.array([2.0]), np.array([1.0])]
    E = stack_traces([a, b])
    np.testing.assert_array_equal(E, [[1, 2, 3], [0.5, 1, 2], [0.5, 1, 1]])
    trace = RowErrorTrace(lambda t: np.array([t, 2 * t]), theta0=1.0)
    assert trace(2.0) == 3.0 and len(trace.rows) == 2
