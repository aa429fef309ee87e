"""The iteration choice (skae._select): the one-standard-error rule on paired
row errors, which the fit pipeline applies to cross-validated traces
(``early_stopping="auto"`` on small data, ``test_fit.py``)."""

import numpy as np
import pytest

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


def test_weighted_choice_zero_weight_is_a_dropped_row_and_scale_is_free():
    """Weighted means and the standard error over Kish's effective number of
    rows: equal weights give the unweighted rule, a zero weight drops the
    row, multiplying every weight by a constant changes nothing."""
    from skae._select import _mean_and_se

    rng = np.random.RandomState(2)
    base = rng.uniform(1, 2, size=40)
    errors = np.vstack([base, base - rng.normal(0.05, 0.3, size=40), 0.9 * base])
    diff = errors[0] - errors[1]
    np.testing.assert_allclose(_mean_and_se(diff, np.ones(40)), _mean_and_se(diff))
    w = rng.uniform(0.5, 2, size=40)
    w[:5] = 0.0
    a = _mean_and_se(diff, w)
    np.testing.assert_allclose(a, _mean_and_se(diff[5:], w[5:]), rtol=1e-12)
    np.testing.assert_allclose(a, _mean_and_se(diff, 7.0 * w), rtol=1e-12)
    for se in (0.0, 1.0, 2.0):
        assert choose_iteration(errors, se, w) == choose_iteration(
            errors[:, 5:], se, w[5:]
        )
    # weights move the choice: rows where iteration 1 is far better, up-weighted
    errors = np.vstack([np.ones(20), np.r_[np.full(10, 0.8), np.full(10, 1.3)]])
    assert choose_iteration(errors, 0.0) == 0
    assert choose_iteration(errors, 0.0, np.r_[np.full(10, 3.0), np.ones(10)]) == 1
    trace = RowErrorTrace(lambda t: np.array([t, 3 * t]), weights=np.array([3.0, 1]))
    assert trace(1.0) == pytest.approx(1.5)
