"""The pure numerical core, alone: exact gradients, packing, activations,
corruption noise, PCA moments and the PCA start's parameters, safe means.

skae._network, skae._activations, skae._noise, skae._pca, skae._means: pure
functions of arrays, tested without an estimator.
"""

import itertools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit
from sklearn.decomposition import PCA

from skae._activations import ACTIVATIONS, DERIVATIVES
from skae._means import combine_means, mean_parts, safe_mean
from skae._network import (
    Workspace,
    init_params,
    kl_sparsity,
    loss_grad,
    make_architecture,
    pack,
    row_sq_errors,
    unpack,
    unpack_skips,
)
from skae._noise import NOISES, corrupt
from skae._pca import moments, pca_params, principal_axes, tree_sum
from skae._terms import weighted_target
from tests.conftest import pca_error


def _numerical_grad(f, theta, eps):
    g = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = eps
        g[i] = (f(theta + e) - f(theta - e)) / (2 * eps)
    return g


def _check_gradient(arch, X, target=None, dtype=np.float64, rtol=1e-6, **penalties):
    rng = np.random.RandomState(0)
    target = X if target is None else target
    theta = init_params(arch, rng) + 0.1 * rng.standard_normal(arch.n_params)
    ws = Workspace(arch, X.shape[0], dtype)

    def f(t):
        return loss_grad(t, X, target, ws, **penalties)[0]

    loss, grad = loss_grad(theta, X, target, ws, **penalties)
    assert grad.dtype == np.float64 and grad.shape == theta.shape
    eps = 1e-6 if dtype == np.float64 else 1e-2
    num = _numerical_grad(f, theta, eps)
    np.testing.assert_allclose(grad, num, rtol=rtol, atol=rtol * np.abs(num).max())
    return loss


ACTS = sorted(ACTIVATIONS)


@pytest.mark.parametrize(
    "activation, output_activation, alpha",
    list(itertools.product(ACTS, ["identity", "logistic"], [0.0, 0.7])),
)
def test_gradient_matches_finite_differences(activation, output_activation, alpha):
    X = np.random.RandomState(1).uniform(size=(15, 5))
    for code in ACTS:
        arch = make_architecture(5, (4,), 3, activation, code, output_activation)
        _check_gradient(arch, X, alpha=alpha)


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("hidden", [(), (4,), (6, 4)])
def test_gradient_with_sparsity_penalty_and_tied_weights(tied, hidden):
    X = np.random.RandomState(2).uniform(size=(12, 5))
    arch = make_architecture(5, hidden, 3, "tanh", "logistic", "identity", tied)
    _check_gradient(arch, X, alpha=0.3, sparsity_weight=2.0, sparsity_target=0.1)


@pytest.mark.parametrize("noise", sorted(NOISES))
def test_gradient_with_corrupted_input_and_clean_target(noise):
    rng = np.random.RandomState(3)
    X = rng.uniform(size=(12, 5))
    X_in, clean = corrupt(X, noise, 0.3, 2, rng)
    assert X_in.shape == (24, 5) and clean is X  # the clean rows, not tiled
    target = np.tile(X, (2, 1))
    assert not np.allclose(X_in, target)
    arch = make_architecture(5, (4,), 2, "relu", "logistic", "identity", tied=True)
    _check_gradient(arch, X_in, target=target, alpha=0.1, sparsity_weight=0.3)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_gradient_on_sparse_input_equals_dense(fmt):
    rng = np.random.RandomState(4)
    X = rng.uniform(size=(10, 6))
    X[X < 0.6] = 0
    Xs = sp.csr_matrix(X).asformat(fmt)
    arch = make_architecture(6, (4,), 2, "tanh", "identity", "identity", tied=True)
    theta = init_params(arch, rng)
    dense = loss_grad(theta, X, X, Workspace(arch, 10, np.float64), alpha=0.2)
    sparse = loss_grad(theta, Xs, Xs, Workspace(arch, 10, np.float64), alpha=0.2)
    np.testing.assert_allclose(sparse[0], dense[0], rtol=1e-12)
    np.testing.assert_allclose(sparse[1], dense[1], rtol=1e-10, atol=1e-14)
    _check_gradient(arch, Xs, alpha=0.2)


def test_gradient_in_float32():
    X = np.random.RandomState(5).uniform(size=(20, 5)).astype(np.float32)
    arch = make_architecture(5, (4,), 3, "tanh", "logistic", "logistic")
    _check_gradient(
        arch, X, dtype=np.float32, rtol=2e-2, alpha=0.1, sparsity_weight=0.5
    )


def test_loss_is_the_documented_objective():
    rng = np.random.RandomState(6)
    X = rng.uniform(size=(9, 4))
    arch = make_architecture(4, (), 2, "identity", "logistic", "identity")
    theta = init_params(arch, rng)
    coefs, intercepts = unpack(theta, arch)
    alpha, beta, rho = 0.5, 2.0, 0.2
    H = 1 / (1 + np.exp(-(X @ coefs[0] + intercepts[0])))
    X_hat = H @ coefs[1] + intercepts[1]
    rho_hat = H.mean(axis=0)
    kl = np.sum(
        rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
    )
    m = X.shape[0]
    expected = (
        ((X - X_hat) ** 2).sum() / (2 * m)
        + alpha / (2 * m) * sum((W**2).sum() for W in coefs)
        + beta * kl
    )
    ws = Workspace(arch, m, np.float64)
    loss, _ = loss_grad(theta, X, X, ws, alpha, beta, rho)
    assert loss == pytest.approx(expected, rel=1e-12)


def test_pack_unpack_round_trip_and_views():
    arch = make_architecture(7, (5, 4), 3, "tanh", "identity", "identity", tied=True)
    theta = np.arange(arch.n_params, dtype=float)
    coefs, intercepts = unpack(theta, arch)
    assert [W.shape for W in coefs] == [(7, 5), (5, 4), (4, 3), (3, 4), (4, 5), (5, 7)]
    assert all(np.shares_memory(W, theta) for W in coefs + intercepts)
    np.testing.assert_array_equal(coefs[-1], coefs[0].T)
    np.testing.assert_array_equal(pack(coefs, intercepts, arch), theta)
    untied = make_architecture(7, (5, 4), 3, "tanh", "identity", "identity")
    assert untied.n_params - arch.n_params == arch.n_weights


@pytest.mark.parametrize("name", ACTS)
def test_derivative_tables_agree_with_activations(name):
    z = np.linspace(-3, 3, 13) + 0.01  # avoid relu's kink at 0
    a = z.copy()
    ACTIVATIONS[name](a)
    d = a.copy()
    multiply = DERIVATIVES[name](d)
    eps = 1e-6
    hi, lo = z + eps, z - eps
    ACTIVATIONS[name](hi)
    ACTIVATIONS[name](lo)
    numeric = (hi - lo) / (2 * eps)
    np.testing.assert_allclose(d if multiply else np.ones_like(z), numeric, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logistic_never_overflows(dtype):
    Z = np.array([-1e30, -1e4, -745.0, -50.0, 0.0, 50.0, 745.0, 1e4, 1e30], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        A = Z.copy()
        ACTIVATIONS["logistic"](A)
    assert A.dtype == dtype
    assert np.isfinite(A).all() and (A >= 0).all() and (A <= 1).all()
    np.testing.assert_allclose(A, expit(Z.astype(np.float64)), rtol=1e-6)


def test_kl_sparsity_finite_at_saturated_codes():
    """rho_hat of exactly 0 or 1 (saturated logistic units) gives a large but
    finite penalty and gradient, never inf or NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        kl, grad = kl_sparsity(np.array([0.0, 1.0, 0.05, 0.5]), 0.05)
    assert np.isfinite(kl) and np.isfinite(grad).all()
    assert grad[2] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("activation", ACTS)
def test_skip_path_gradient_matches_finite_differences(activation, tied, sparse):
    X = np.random.RandomState(2).uniform(size=(12, 5))
    X[X < 0.4] = 0.0
    if sparse:
        X = sp.csr_matrix(X)
    for code, hidden in [("identity", (4,)), ("logistic", (4, 3))]:
        arch = make_architecture(
            5, hidden, 2, activation, code, "identity", tied=tied, skip=True
        )
        assert len(unpack_skips(np.zeros(arch.n_params), arch)) == 2
        beta = 0.3 if code == "logistic" else 0.0
        _check_gradient(arch, X, alpha=0.2, sparsity_weight=beta)


def test_moments_add_up_and_match_pca():
    X = np.random.RandomState(3).normal(size=(40, 6)) @ np.diag([5, 4, 3, 2, 1, 0.5])
    stats = moments(X[:15]) + moments(sp.csr_matrix(X[15:]))
    mean, V = principal_axes(stats, 3)
    pca = PCA(3).fit(X)
    np.testing.assert_allclose(mean, pca.mean_, rtol=1e-12)
    np.testing.assert_allclose(np.abs(V @ pca.components_.T), np.eye(3), atol=1e-10)


@pytest.mark.parametrize(
    "hidden, tied, activation",
    [
        ((), False, "tanh"),
        ((), True, "tanh"),
        ((6,), False, "tanh"),
        ((6, 4), True, "logistic"),
        ((6,), True, "relu"),
        ((7, 5), False, "relu"),
    ],
)
def test_pca_start_reconstructs_as_pca(hidden, tied, activation):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 8)) @ rng.normal(size=(8, 8)) + 3.0
    k = 3
    arch = make_architecture(
        8, hidden, k, activation, "identity", "identity", tied=tied, skip=bool(hidden)
    )
    mean, V = principal_axes(moments(X), k)
    theta = pca_params(arch, rng, mean, V)
    err = row_sq_errors(theta, arch, X).mean()
    np.testing.assert_allclose(err, pca_error(PCA(k).fit(X), X), rtol=1e-9)
    # PCA is stationary for the linear path (the residual is orthogonal to
    # its axes). Untied, the decoder branch's last layer still has a gradient,
    # so the branches are trainable from the start; tied, that layer is the
    # encoder's first transposed and the whole start is stationary, which is
    # why estimators fall back to a random start for tied deep networks.
    ws = Workspace(arch, X.shape[0], np.float64)
    grad = loss_grad(theta, X, X, ws)[1]
    if hidden:
        branch = np.abs(np.concatenate([g.ravel() for g in unpack(grad, arch)[0]]))
        if tied:
            assert branch.max() < 1e-12
        else:
            assert branch.max() > 1e-3


def test_corruption_never_tiles_the_clean_rows():
    """Issue 16 item 6: ``n_corruptions=3`` allocates the three corrupted
    copies and one draw at a time (it held a list of copies, their stack and
    a tiled clean target: 9x ``X.nbytes``)."""
    import tracemalloc

    X = np.random.RandomState(0).uniform(size=(20000, 20))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    X_in, clean = corrupt(X, "gaussian", 0.1, 3, np.random.RandomState(1))
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    assert clean is X and X_in.shape == (60000, 20)
    assert peak <= 4.5 * X.nbytes, peak / X.nbytes  # + the finiteness mask


def test_means_of_finite_per_row_values_never_overflow():
    """Issue 16 item 8: every mean over per-row values (held-out error,
    cross-validation scores, ``score``) is finite where the values are."""
    values = np.full((3, 4), -1.5e308)
    values[1] /= 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert safe_mean(values) == pytest.approx(values.mean(dtype=np.float128))
        np.testing.assert_allclose(safe_mean(values, axis=1), values[:, 0])
        parts = [mean_parts(v) for v in values]
        assert combine_means(parts) == pytest.approx(safe_mean(values))
    assert safe_mean(np.zeros(3)) == 0.0


# ------------------------------------- sample weights and missing targets
# The objective of skae._network's docstring: row i's observed squared errors,
# rescaled by d / d_i and weighted by s_i, over sum_i s_i; the code mean of
# the sparsity penalty weighted by s.


def _weighted_case(kind, n=12, d=5, seed=7, sparse=False):
    """``(X_in, raw target, target, weights, s)`` of kind "rows" (sample
    weights, zeros included), "nan" (missing target entries) or "both"; the
    input is the target with its NaN filled by the column means."""
    rng = np.random.RandomState(seed)
    target = rng.uniform(size=(n, d))
    s = None
    if kind in ("rows", "both"):
        s = rng.randint(0, 4, size=n).astype(float)
        s[0] = 0.0
        s[1] = 2.5
    if kind in ("nan", "both"):
        target[rng.uniform(size=(n, d)) < 0.3] = np.nan
        target[2] = np.nan
        target[2, -1] = 0.5  # one observed entry
    X_in = np.where(np.isnan(target), np.nanmean(target, axis=0), target)
    if sparse:
        X_in[X_in < 0.4] = 0.0
        target = X_in = sp.csr_matrix(X_in)
    T, W = weighted_target(target, s)
    return X_in, target, T, W, s


@pytest.mark.parametrize("kind", ["rows", "nan", "both"])
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("activation", ACTS)
def test_weighted_masked_gradient_matches_finite_differences(activation, tied, kind):
    X_in, _, T, W, _ = _weighted_case(kind)
    for output in ("identity", "logistic"):
        arch = make_architecture(5, (4,), 3, activation, "logistic", output, tied)
        _check_gradient(
            arch, X_in, T, alpha=0.3, sparsity_weight=0.7, weights=W, rtol=1e-5
        )
    for code in ("identity", "logistic"):  # the skip path (the PCA start's)
        arch = make_architecture(5, (4,), 2, activation, code, "identity", tied, True)
        beta = 0.4 if code == "logistic" else 0.0
        _check_gradient(arch, X_in, T, alpha=0.2, sparsity_weight=beta, weights=W)


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("skip", [False, True])
def test_weighted_gradient_on_sparse_input(tied, skip):
    """Row weights with a sparse X (missing entries need dense data)."""
    X, _, T, W, s = _weighted_case("rows", sparse=True)
    assert W is s or np.array_equal(W, s)
    arch = make_architecture(5, (4,), 2, "tanh", "logistic", "identity", tied, skip)
    _check_gradient(arch, X, T, alpha=0.2, sparsity_weight=0.3, weights=W)
    dense = X.toarray()
    theta = init_params(arch, np.random.RandomState(1))
    ws = Workspace(arch, X.shape[0], np.float64)
    a = loss_grad(theta, X, X, ws, 0.2, 0.3, weights=W)
    b = loss_grad(theta, dense, dense, ws, 0.2, 0.3, weights=W)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-10, atol=1e-14)


def test_weighted_masked_loss_is_the_documented_objective():
    X_in, target, T, W, s = _weighted_case("both")
    arch = make_architecture(5, (), 2, "identity", "logistic", "identity")
    theta = init_params(arch, np.random.RandomState(6))
    coefs, intercepts = unpack(theta, arch)
    alpha, beta, rho = 0.5, 2.0, 0.2
    H = 1 / (1 + np.exp(-(X_in @ coefs[0] + intercepts[0])))
    R = H @ coefs[1] + intercepts[1] - target
    observed = ~np.isnan(target)
    d_i = observed.sum(axis=1)
    row = 5 / d_i * (np.where(observed, R, 0.0) ** 2).sum(axis=1)
    rho_hat = s @ H / s.sum()
    kl = np.sum(
        rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
    )
    decay = sum((C**2).sum() for C in coefs)
    expected = (0.5 * s @ row + 0.5 * alpha * decay) / s.sum() + beta * kl
    ws = Workspace(arch, X_in.shape[0], np.float64)
    loss, grad = loss_grad(theta, X_in, T, ws, alpha, beta, rho, weights=W)
    assert loss == pytest.approx(expected, rel=1e-12)
    assert np.isfinite(grad).all()


def test_without_nan_and_weights_the_objective_is_unchanged():
    """No NaN and no weights: the weights are None and the objective is
    today's exactly; unit weights and an all-observed mask give it to 1e-12,
    and a constant weight c is no weight with c times the weight decay."""
    rng = np.random.RandomState(8)
    X = rng.uniform(size=(20, 5))
    T, W = weighted_target(X)
    assert T is X and W is None
    arch = make_architecture(5, (4,), 3, "tanh", "logistic", "identity", skip=True)
    theta = init_params(arch, rng) + 0.1 * rng.standard_normal(arch.n_params)
    ws = Workspace(arch, 20, np.float64)
    kw = dict(alpha=0.3, sparsity_weight=0.5, sparsity_target=0.1)
    ref_loss, ref_grad = loss_grad(theta, X, X, ws, **kw)
    for weights in (np.ones(20), np.ones((20, 5))):
        loss, grad = loss_grad(theta, X, X, ws, weights=weights, **kw)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-15)
    # weights count as repetitions: a constant weight c dilutes the decay by c
    kw["alpha"] = 0.9
    for weights in (np.full(20, 3.0), np.full((20, 5), 3.0)):
        loss, grad = loss_grad(theta, X, X, ws, weights=weights, **kw)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("skip", [False, True])
def test_integer_weight_is_the_repeated_row_and_zero_weight_the_dropped_row(skip):
    rng = np.random.RandomState(9)
    X = rng.uniform(size=(10, 5))
    X[3, 1] = np.nan
    s = np.array([0, 1, 2, 3, 1, 0, 4, 1, 1, 2], dtype=float)
    filled = np.where(np.isnan(X), 0.5, X)
    arch = make_architecture(5, (4,), 3, "relu", "logistic", "identity", skip=skip)
    theta = init_params(arch, rng) + 0.1 * rng.standard_normal(arch.n_params)
    kw = dict(alpha=0.3, sparsity_weight=0.5, sparsity_target=0.1)
    T, W = weighted_target(X, s)
    weighted = loss_grad(
        theta, filled, T, Workspace(arch, 10, np.float64), **kw, weights=W
    )
    rows = np.repeat(np.arange(10), s.astype(int))
    T_rep, W_rep = weighted_target(X[rows])
    ws = Workspace(arch, len(rows), np.float64)
    repeated = loss_grad(theta, filled[rows], T_rep, ws, **kw, weights=W_rep)
    np.testing.assert_allclose(weighted[0], repeated[0], rtol=1e-12)
    np.testing.assert_allclose(weighted[1], repeated[1], rtol=1e-11, atol=1e-14)


def test_missing_entries_contribute_exactly_nothing():
    """Whatever the network outputs at a missing entry, and whatever the
    input holds there, the loss and gradient of the other entries' terms are
    those of the observed entries alone (no NaN leaks: NaN * 0 is NaN)."""
    X_in, target, T, W, _ = _weighted_case("nan")
    arch = make_architecture(5, (4,), 2, "tanh", "identity", "identity")
    theta = init_params(arch, np.random.RandomState(2))
    ws = Workspace(arch, X_in.shape[0], np.float64)
    T1, W1 = weighted_target(target)
    T2, W2 = weighted_target(np.where(W > 0, T, np.nan))
    T2[W2 == 0] = 1e6  # anything at a missing entry: it carries weight 0
    a = loss_grad(theta, X_in, T1, ws, weights=W1)
    b = loss_grad(theta, X_in, T2, ws, weights=W2)
    assert (W > 0).sum() == (~np.isnan(target)).sum()
    assert np.isfinite(a[0]) and np.isfinite(a[1]).all()
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12, atol=1e-15)
    # the caller's target is never written
    assert np.isnan(target).sum() == (W == 0).sum()


def test_row_errors_are_masked_rescaled_and_free_of_sample_weights():
    from skae._network import row_sq_errors

    X_in, target, _, _, _ = _weighted_case("both")
    arch = make_architecture(5, (), 2, "tanh", "tanh", "identity")
    theta = init_params(arch, np.random.RandomState(3))
    coefs, intercepts = unpack(theta, arch)
    X_hat = np.tanh(X_in @ coefs[0] + intercepts[0]) @ coefs[1] + intercepts[1]
    R = np.where(np.isnan(target), 0.0, X_hat - np.nan_to_num(target))
    expected = 5 / (~np.isnan(target)).sum(axis=1) * (R**2).sum(axis=1)
    got = row_sq_errors(theta, arch, X_in, target)  # masked where it is given
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    T0, W0 = weighted_target(target)  # the precomputed form, as backends pass it
    np.testing.assert_allclose(row_sq_errors(theta, arch, X_in, T0, W0), expected)
    with pytest.raises(ValueError, match="no observed entry"):
        weighted_target(np.full((3, 2), np.nan))


def test_weighted_moments_equal_repeated_rows_and_fill_missing_at_the_mean():
    from skae._pca import moments, principal_axes

    rng = np.random.RandomState(4)
    X = rng.normal(size=(30, 6)) @ np.diag([5, 4, 3, 2, 1, 0.5])
    s = rng.randint(0, 4, size=30).astype(float)
    rows = np.repeat(np.arange(30), s.astype(int))
    weighted = moments(X[:12], s[:12]) + moments(sp.csr_matrix(X[12:]), s[12:])
    repeated = moments(X[rows])
    for a, b in [(weighted.count, repeated.count), (weighted.sums, repeated.sums)]:
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(weighted.gram, repeated.gram, rtol=1e-12)
    # NaN entries count as at their column's weighted observed mean, also
    # summed over blocks with and without missing entries
    Xn = X.copy()
    Xn[rng.uniform(size=X.shape) < 0.2] = np.nan
    Xn[7:9] = X[7:9]
    observed = ~np.isnan(Xn)
    mu = (s @ np.where(observed, Xn, 0)) / (s @ observed)
    ref = moments(np.where(observed, Xn, mu), s)
    parts = [moments(Xn[a:b], s[a:b]) for a, b in [(0, 7), (7, 9), (9, 30)]]
    assert parts[1].observed is None and parts[0].observed is not None
    got = tree_sum(parts).filled()
    np.testing.assert_allclose(got.count, ref.count, rtol=1e-12)
    np.testing.assert_allclose(got.sums, ref.sums, rtol=1e-12)
    np.testing.assert_allclose(got.gram, ref.gram, rtol=1e-11)
    for a, b in zip(principal_axes(got, 3), principal_axes(ref, 3)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
