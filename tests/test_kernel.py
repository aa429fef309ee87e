"""The blocked, row-parallel objective and the fused Adam step (skae._kernel,
skae._minibatch), the in-memory objective built on them (skae._memory), and
the memory an in-memory fit allocates (docs/scaling.rst, "Memory")."""

import itertools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from skae import AutoencoderTransformer
from skae._activations import ACTIVATIONS
from skae._adam import AdamState, adam_step
from skae._kernel import (
    BlockedObjective,
    available_threads,
    block_loss_grad,
    block_rows_for,
    use_blocked,
)
from skae._memory import ArrayData
from skae._minibatch import BatchGradient
from skae._network import Workspace, backprop, init_params, loss_grad, make_architecture
from skae._terms import weighted_target

ACTS = sorted(ACTIVATIONS)

QUIET = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _theta(arch, seed=0):
    rng = np.random.RandomState(seed)
    return init_params(arch, rng) + 0.1 * rng.standard_normal(arch.n_params)


def _assert_same_objective(arch, X, target=None, n_threads=2, block_rows=7, **kw):
    target = X if target is None else target
    theta = _theta(arch)
    ws = Workspace(arch, X.shape[0], np.float64)
    loss0, grad0 = loss_grad(theta, X, target, ws, **kw)
    f = BlockedObjective(
        arch, X, target, np.float64, n_threads=n_threads, block_rows=block_rows, **kw
    )
    loss, grad = f(theta)
    f.close()
    assert grad.dtype == np.float64 and grad.shape == theta.shape
    np.testing.assert_allclose(loss, loss0, rtol=1e-12)
    np.testing.assert_allclose(
        grad, grad0, rtol=1e-12, atol=1e-12 * np.abs(grad0).max()
    )


@pytest.mark.parametrize(
    "activation, code, output", list(itertools.product(ACTS, ACTS, ACTS))
)
def test_blocked_equals_loss_grad_every_activation(activation, code, output):
    X = np.random.RandomState(1).uniform(size=(45, 6))
    arch = make_architecture(6, (5,), 3, activation, code, output)
    _assert_same_objective(arch, X, alpha=0.3)


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("hidden", [(), (5,), (7, 4)])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_blocked_equals_loss_grad_tied_skip_sparsity(tied, skip, hidden, n_threads):
    if skip and not hidden:
        pytest.skip("a skip path needs a hidden layer")
    X = np.random.RandomState(2).uniform(size=(50, 6))
    arch = make_architecture(6, hidden, 3, "tanh", "logistic", "identity", tied, skip)
    _assert_same_objective(
        arch,
        X,
        n_threads=n_threads,
        alpha=0.2,
        sparsity_weight=1.5,
        sparsity_target=0.1,
    )


def test_blocked_with_corrupted_input_and_clean_target():
    rng = np.random.RandomState(3)
    target = rng.uniform(size=(40, 5))
    X = target + 0.1 * rng.standard_normal(target.shape)
    arch = make_architecture(5, (4,), 2, "relu", "identity", "logistic", skip=True)
    _assert_same_objective(arch, X, target, sparsity_weight=0.0, alpha=0.1)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_blocked_on_sparse_input(fmt):
    rng = np.random.RandomState(4)
    X = rng.uniform(size=(33, 8))
    X[X < 0.6] = 0
    Xs = sp.csr_matrix(X).asformat(fmt)
    arch = make_architecture(8, (5,), 2, "tanh", "logistic", "identity", tied=True)
    _assert_same_objective(arch, Xs, alpha=0.2, sparsity_weight=0.5)
    # and the sparse blocked objective equals the dense one
    theta = _theta(arch)
    dense = BlockedObjective(arch, X, X, np.float64, block_rows=5)(theta)
    sparse = BlockedObjective(arch, Xs, Xs, np.float64, block_rows=5)(theta)
    np.testing.assert_allclose(sparse[0], dense[0], rtol=1e-12)
    np.testing.assert_allclose(sparse[1], dense[1], rtol=1e-10, atol=1e-14)


def test_blocked_float32_close_to_loss_grad():
    X = np.random.RandomState(5).uniform(size=(300, 10)).astype(np.float32)
    arch = make_architecture(10, (8,), 3, "tanh", "identity", "identity")
    theta = _theta(arch)
    loss0, grad0 = loss_grad(theta, X, X, Workspace(arch, 300, np.float32))
    f = BlockedObjective(arch, X, X, np.float32, n_threads=2, block_rows=64)
    loss, grad = f(theta)
    np.testing.assert_allclose(loss, loss0, rtol=1e-5)
    np.testing.assert_allclose(grad, grad0, rtol=1e-4, atol=1e-5 * np.abs(grad0).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_blocked_is_bit_identical_across_calls(dtype, n_threads):
    X = np.random.RandomState(6).standard_normal((2000, 12)).astype(dtype)
    arch = make_architecture(12, (16,), 3, "tanh", "logistic", "identity")
    theta = _theta(arch)
    f = BlockedObjective(
        arch,
        X,
        X,
        dtype,
        alpha=0.1,
        sparsity_weight=0.3,
        n_threads=n_threads,
        block_rows=64,
    )
    first = f(theta)
    for _ in range(5):
        loss, grad = f(theta)
        assert loss == first[0]
        assert np.array_equal(grad, first[1])
    g = BlockedObjective(
        arch,
        X,
        X,
        dtype,
        alpha=0.1,
        sparsity_weight=0.3,
        n_threads=n_threads,
        block_rows=64,
    )
    assert g(theta)[0] == first[0] and np.array_equal(g(theta)[1], first[1])


@pytest.mark.parametrize("skip", [False, True], ids=["plain", "skip"])
@pytest.mark.parametrize(
    "threads, rows", [(1, None), (1, 7), (2, 7)], ids=["one", "blocks", "threads"]
)
@pytest.mark.parametrize("reps", [1, 3])
def test_objective_on_repeated_rows_equals_loss_grad_on_tiled_rows(
    reps, threads, rows, skip
):
    """Issue 16 item 6: the in-memory objective pairs input row ``i + r * n``
    with clean row ``i`` (never tiled) and runs in row blocks (cut at every
    copy boundary; a first pass for the sparsity penalty's code mean); it
    equals :func:`loss_grad` on the tiled target, every evaluation."""
    from skae._kernel import BlockedObjective
    from skae._memory import objective as memory_objective

    rng = np.random.RandomState(5)
    arch = make_architecture(5, (4,), 3, "tanh", "logistic", "identity", skip=skip)
    target = rng.uniform(size=(30, 5))
    X_in = np.vstack([target + 0.1 * rng.standard_normal(target.shape)] * reps)
    penalties = dict(alpha=0.1, sparsity_weight=0.3, sparsity_target=0.1)
    objectives = [
        BlockedObjective(
            arch,
            X_in,
            target,
            np.float64,
            n_threads=threads,
            block_rows=rows,
            **penalties,
        ),
        memory_objective(X_in, target, arch, alpha=0.1, beta=0.3, rho=0.1),
    ]
    for _ in range(2):  # the cached workspaces are reloaded
        theta = init_params(arch, rng) + 0.1 * rng.standard_normal(arch.n_params)
        tiled = np.tile(target, (reps, 1))
        ws = Workspace(arch, X_in.shape[0], np.float64)
        ref_loss, ref_grad = loss_grad(theta, X_in, tiled, ws, **penalties)
        for objective in objectives:
            loss, grad = objective(theta)
            np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
            np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-13)


def test_blas_thread_limit_is_restored():
    from threadpoolctl import threadpool_info

    before = [lib["num_threads"] for lib in threadpool_info()]
    X = np.random.RandomState(7).standard_normal((500, 6))
    arch = make_architecture(6, (5,), 2, "tanh", "identity", "identity")
    BlockedObjective(arch, X, X, np.float64, n_threads=2)(_theta(arch))
    assert [lib["num_threads"] for lib in threadpool_info()] == before


def test_block_loss_grad_matches_backprop_sums():
    """The chunk kernel a dask task can call: sums of backprop over blocks,
    with the global code mean."""
    rng = np.random.RandomState(8)
    X = rng.uniform(size=(37, 6))
    arch = make_architecture(6, (5,), 3, "tanh", "logistic", "identity")
    theta = _theta(arch)
    ws = Workspace(arch, 37, np.float64)
    np.copyto(ws.theta, theta)
    code_mean = np.full(3, 0.3)
    sse0, _ = backprop(X, X, ws, 0.7, 0.1, code_mean)
    sse, grad = block_loss_grad(X, X, theta, arch, np.float64, 0.7, 0.1, code_mean, 8)
    np.testing.assert_allclose(sse, sse0, rtol=1e-12)
    np.testing.assert_allclose(grad, ws.grad, rtol=1e-12, atol=1e-13)
    empty = block_loss_grad(X[:0], X[:0], theta, arch, np.float64)
    assert empty[0] == 0.0 and not empty[1].any()


def test_block_rows_and_choice():
    narrow = make_architecture(10, (100,), 3, "tanh", "identity", "identity")
    wide = make_architecture(784, (256,), 32, "tanh", "identity", "identity")
    assert 256 <= block_rows_for(narrow, np.float64) <= 4096
    assert block_rows_for(wide, np.float32) >= 1024
    assert use_blocked(narrow, 20000, np.float64, 2)
    assert use_blocked(narrow, 20000, np.float64, 1)
    assert not use_blocked(narrow, 100, np.float64, 2)
    assert use_blocked(wide, 60000, np.float32, 2)
    assert not use_blocked(wide, 3000, np.float32, 2)


def _adam_reference(theta, grads, lr, b1, b2, eps):
    """Kingma & Ba (2015) as scikit-learn's AdamOptimizer writes it (epsilon
    added to sqrt(v) before the bias correction)."""
    theta = theta.copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        theta = theta - lr_t * m / (np.sqrt(v) + eps)
    return theta


@pytest.mark.parametrize(
    "lr, b1, b2, eps", [(1e-3, 0.9, 0.999, 1e-8), (0.05, 0.5, 0.9, 1e-4)]
)
def test_adam_step_equals_reference(lr, b1, b2, eps):
    rng = np.random.RandomState(9)
    theta0 = rng.standard_normal(257)
    grads = [rng.standard_normal(257) * 10.0 ** rng.uniform(-3, 1) for _ in range(20)]
    theta = theta0.copy()
    state = AdamState.fresh(theta.size, rng)
    buf = np.empty_like(theta)
    for g in grads:
        g_copy = g.copy()
        adam_step(theta, g, state, lr, buf, beta1=b1, beta2=b2, eps=eps)
        assert np.array_equal(g, g_copy)  # the gradient is only read
    assert state.t == 20
    expected = _adam_reference(theta0, grads, lr, b1, b2, eps)
    np.testing.assert_allclose(theta, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("sparse", [False, True])
def test_batch_gradient_equals_loss_grad_on_the_batch(sparse):
    rng = np.random.RandomState(10)
    X = rng.uniform(size=(50, 6))
    X[X < 0.4] = 0
    target = X + 0.1
    arch = make_architecture(6, (5,), 3, "tanh", "logistic", "identity")
    theta = _theta(arch)
    kw = dict(alpha=0.3, sparsity_weight=0.5, sparsity_target=0.2)
    Xin = sp.csr_matrix(X) if sparse else X
    f = BatchGradient(arch, Xin, target, np.float64, 16, **kw)
    for rows in (rng.permutation(50)[:16], np.arange(7)):
        loss, grad = f(theta, rows)
        ws = Workspace(arch, len(rows), np.float64)
        loss0, grad0 = loss_grad(theta, X[rows], target[rows], ws, **kw)
        np.testing.assert_allclose(loss, loss0, rtol=1e-12)
        np.testing.assert_allclose(grad, grad0, rtol=1e-12, atol=1e-14)


def test_batch_gradient_threads_equal_one_thread():
    rng = np.random.RandomState(11)
    X = rng.standard_normal((300, 9))
    arch = make_architecture(9, (7,), 3, "tanh", "identity", "identity", skip=True)
    theta = _theta(arch)
    one = BatchGradient(arch, X, X, np.float64, 64, alpha=0.2)
    two = BatchGradient(arch, X, X, np.float64, 64, alpha=0.2, n_threads=2)
    for rows in (rng.permutation(300)[:64], np.arange(5)):
        loss1, grad1 = one(theta, rows)
        grad1 = grad1.copy()
        loss2, grad2 = two(theta, rows)
        np.testing.assert_allclose(loss2, loss1, rtol=1e-12)
        np.testing.assert_allclose(grad2, grad1, rtol=1e-12, atol=1e-14)
        assert two(theta, rows)[0] == loss2  # bit-identical on repeat
    two.close()


def test_adam_step_on_a_pool_is_identical():
    rng = np.random.RandomState(12)
    n = 70_001
    theta = rng.standard_normal(n)
    other = theta.copy()
    s1, s2 = AdamState.fresh(n, rng), AdamState.fresh(n, rng)
    buf = np.empty(n)
    f = BatchGradient(
        make_architecture(3, (2,), 1, "tanh", "identity", "identity"),
        np.zeros((4, 3)),
        np.zeros((4, 3)),
        np.float64,
        2,
        n_threads=2,
    )
    for _ in range(3):
        g = rng.standard_normal(n)
        adam_step(theta, g, s1, 0.01, buf)
        adam_step(other, g, s2, 0.01, buf, pool=f.pool)
    assert np.array_equal(theta, other)
    np.testing.assert_allclose(s1.first_moment(), s2.first_moment())
    f.close()


@pytest.mark.parametrize(
    "hidden, tied, skip, out_act",
    [
        ((), False, False, "identity"),
        ((), True, False, "logistic"),
        ((5,), False, True, "identity"),
        ((5,), True, True, "identity"),
        ((5, 4), False, False, "tanh"),
    ],
)
@pytest.mark.parametrize("sparse", [False, True])
def test_folded_output_bias_equals_the_plain_pass(hidden, tied, skip, out_act, sparse):
    """The output bias folded into the products (a column of ones beside the
    layer below) gives the plain pass's loss and gradient up to rounding, with
    sparsity, row weights, entry weights and sparse input."""
    rng = np.random.RandomState(17)
    X = rng.uniform(size=(40, 6))
    X[X < 0.3] = 0
    Xin = sp.csr_matrix(X) if sparse else X
    arch = make_architecture(6, hidden, 3, "tanh", "logistic", out_act, tied, skip)
    theta = _theta(arch)
    s = rng.uniform(0.5, 2.0, size=40)
    cases = [{}, {"sparsity_weight": 0.3, "sparsity_target": 0.2}, {"weights": s}]
    cases.append({"weights": rng.uniform(0.0, 2.0, size=(40, 6))})
    for kw in cases:
        results = []
        for fold in (False, True):
            ws = Workspace(arch, 40, np.float64, fold_bias=fold)
            assert (ws.ones_aug is not None) == fold
            ws.load(theta)
            sse, kl = backprop(Xin, X, ws, **kw)
            results.append((sse, kl, ws.grad.copy()))
        (sse0, kl0, g0), (sse1, kl1, g1) = results
        assert sse1 == pytest.approx(sse0, rel=1e-12) and kl1 == pytest.approx(kl0)
        np.testing.assert_allclose(g1, g0, rtol=1e-10, atol=1e-12)
    # by default: on large blocks below a linear layer only
    assert Workspace(arch, 128, np.float32).ones_aug is None  # a minibatch
    linear = arch.activations[-2] == "identity"
    assert (Workspace(arch, 20000, np.float32).ones_aug is not None) == linear
    lin = make_architecture(784, (), 128, "tanh", "identity", "identity")
    assert Workspace(lin, 10000, np.float32).ones_aug is not None
    assert Workspace(lin, 128, np.float32).ones_aug is None


def test_adam_step_in_float32_follows_float64_to_rounding():
    """A float32 fit's Adam (parameters and moments in float32) takes the
    float64 steps up to float32 rounding."""
    rng = np.random.RandomState(15)
    theta0 = rng.standard_normal(70_001)
    scales = 10.0 ** rng.uniform(-3, 1, size=20)
    grads = [rng.standard_normal(70_001) * scale for scale in scales]
    t64, t32 = theta0.copy(), theta0.astype(np.float32)
    s64 = AdamState.fresh(t64.size, rng)
    s32 = AdamState.fresh(t32.size, rng, np.float32)
    b64, b32 = np.empty_like(t64), np.empty_like(t32)
    for g in grads:
        adam_step(t64, g, s64, 1e-3, b64)
        adam_step(t32, g.astype(np.float32), s32, 1e-3, b32)
    assert t32.dtype == s32.m.dtype == s32.v.dtype == np.float32
    np.testing.assert_allclose(t32, t64, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(s32.second_moment(), s64.second_moment(), rtol=1e-5)


def test_batch_gradient_reads_a_theta_of_its_dtype_in_place():
    """A float32 theta is read where it lies (no copy per batch) and gets a
    float32 gradient; a float64 theta is copied, as before, and never
    written into the float32 one."""
    rng = np.random.RandomState(16)
    X = rng.standard_normal((200, 9)).astype(np.float32)
    arch = make_architecture(9, (7,), 3, "tanh", "identity", "identity", skip=True)
    theta64 = _theta(arch)
    theta32 = theta64.astype(np.float32)
    f = BatchGradient(arch, X, X, np.float32, 32, alpha=0.2)
    rows = rng.permutation(200)[:32]
    loss64, grad64 = f(theta64, rows)
    grad64 = grad64.copy()
    loss32, grad32 = f(theta32, rows)
    assert grad64.dtype == np.float64 and grad32.dtype == np.float32
    assert f._ws[(0, 32)].theta is theta32
    assert loss32 == pytest.approx(loss64, rel=1e-6)
    np.testing.assert_allclose(grad32, grad64, rtol=1e-5, atol=1e-6)
    kept = theta32.copy()
    f(theta64 + 1.0, rows)
    assert np.array_equal(theta32, kept)
    theta32 += 0.25  # an in-place step is seen by the next batch
    assert f(theta32, rows)[0] == f(theta32.copy(), rows)[0]
    # two row parts (each scales its own gradient): float32 throughout,
    # bit-identical on repeat, the one-part gradient up to rounding
    two = BatchGradient(arch, X, X, np.float32, 32, alpha=0.2, n_threads=2)
    loss2, grad2 = two(theta32, rows)
    grad2 = grad2.copy()
    loss1, grad1 = f(theta32, rows)
    assert grad2.dtype == np.float32 and two(theta32, rows)[0] == loss2
    assert np.array_equal(two(theta32, rows)[1], grad2)
    assert loss2 == pytest.approx(loss1, rel=1e-6)
    np.testing.assert_allclose(grad2, grad1, rtol=1e-5, atol=1e-6)
    two.close()


# ------------------------------------------------------ wired into the fit


def _fit_lbfgs(X, **kw):
    from skae import AutoencoderTransformer

    est = AutoencoderTransformer(
        4,
        hidden_layer_sizes=(30,),
        solver="lbfgs",
        early_stopping=False,
        max_iter=15,
        random_state=0,
        **kw,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X)


def test_lbfgs_fit_uses_the_blocked_objective_and_is_reproducible():
    """An in-memory L-BFGS fit large enough for blocks evaluates by blocks on
    the available threads, and two fits with the same seed give bit-identical
    parameters; at one thread (threadpoolctl) the fit agrees up to rounding."""
    X = np.random.RandomState(13).standard_normal((2400, 20))
    arch = make_architecture(20, (30,), 4, "tanh", "identity", "identity", skip=True)
    fun = ArrayData(X).objective(arch, alpha=1e-4, beta=0.0, rho=0.05)
    assert isinstance(fun, BlockedObjective)
    assert fun.n_threads == available_threads()
    a, b = _fit_lbfgs(X), _fit_lbfgs(X)
    for A, B in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert np.array_equal(A, B)
    with threadpool_limits(1):
        assert available_threads() == 1
        c = _fit_lbfgs(X)
    for A, C in zip(a.coefs_, c.coefs_):
        np.testing.assert_allclose(C, A, rtol=1e-5, atol=1e-7)


def test_small_data_keeps_the_whole_data_objective():
    X = np.random.RandomState(14).standard_normal((100, 20))
    arch = make_architecture(20, (30,), 4, "tanh", "identity", "identity")
    fun = ArrayData(X).objective(arch, alpha=1e-4, beta=0.0, rho=0.05)
    assert not isinstance(fun, BlockedObjective)


@QUIET
def test_fit_peak_memory_follows_the_documented_model():
    """Issue 16's memory model (docs/scaling.rst, "Memory"): an L-BFGS fit
    on 100,000 x 50 float64 with ``hidden_layer_sizes=(100,)`` allocates at
    most the model's bytes and at most issue 12's 4.5x ``X.nbytes`` (it
    allocated 9.2x, its workspace holding every row)."""
    import tracemalloc

    from skae._memory import peak_bytes

    X = np.random.RandomState(0).standard_normal((100_000, 50))
    est = AutoencoderTransformer(
        10, hidden_layer_sizes=(100,), solver="lbfgs", max_iter=1, random_state=0
    )
    est.fit(X[:300])  # one-time allocations
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    est.fit(X)
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    sizes = [50, *(W.shape[1] for W in est.coefs_)]
    model = peak_bytes("lbfgs", *X.shape, sizes, X.dtype, validation_fraction=0.1)
    assert peak <= 1.05 * model, (peak / 2**20, model / 2**20)
    assert peak <= 4.5 * X.nbytes, peak / X.nbytes


# ------------------------------------- sample weights and missing targets


def _weighted_rows(n=45, d=6, seed=20, nan=True, weights=True):
    """``(X_in, target, s)``: a target with NaN (filled by column means in
    the input) and integer sample weights with zeros."""
    rng = np.random.RandomState(seed)
    target = rng.uniform(size=(n, d))
    if nan:
        target[rng.uniform(size=(n, d)) < 0.25] = np.nan
        target[3] = np.nan
        target[3, 0] = 0.5
    s = rng.randint(0, 4, size=n).astype(float) if weights else None
    X_in = np.where(np.isnan(target), np.nanmean(target, axis=0), target)
    return X_in, target, s


@pytest.mark.parametrize("nan, weights", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("reps", [1, 3])
@pytest.mark.parametrize("n_threads, rows", [(1, None), (1, 7), (3, 5)])
@pytest.mark.parametrize("skip", [False, True])
def test_blocked_equals_loss_grad_with_weights_and_nan(
    nan, weights, reps, n_threads, rows, skip
):
    """Blocks (cut at copy boundaries, a target of n rows standing for its
    ``reps`` copies) with their sliced weights and the global weighted code
    mean equal one whole-data evaluation on the tiled rows, to 1e-12."""
    X_in, target, s = _weighted_rows(nan=nan, weights=weights)
    rng = np.random.RandomState(21)
    X = np.vstack([X_in + 0.05 * rng.standard_normal(X_in.shape)] * reps)
    arch = make_architecture(6, (5,), 3, "tanh", "logistic", "identity", skip=skip)
    kw = dict(alpha=0.2, sparsity_weight=0.8, sparsity_target=0.1)
    theta = _theta(arch)
    T, W = weighted_target(
        np.tile(target, (reps, 1)), None if s is None else np.tile(s, reps)
    )
    ws = Workspace(arch, X.shape[0], np.float64)
    loss0, grad0 = loss_grad(theta, X, T, ws, weights=W, **kw)
    f = BlockedObjective(
        arch,
        X,
        target,
        np.float64,
        n_threads=n_threads,
        block_rows=rows,
        sample_weight=s,
        **kw,
    )
    for _ in range(2):  # cached blocks and weights are reused
        loss, grad = f(theta)
        np.testing.assert_allclose(loss, loss0, rtol=1e-12)
        np.testing.assert_allclose(
            grad, grad0, rtol=1e-12, atol=1e-12 * np.abs(grad0).max()
        )
    f.close()
    assert np.isnan(target).any() == nan  # the caller's target is untouched


def test_block_loss_grad_masks_and_weighs_its_chunk():
    X_in, target, s = _weighted_rows(n=37)
    arch = make_architecture(6, (5,), 3, "tanh", "logistic", "identity")
    theta = _theta(arch)
    ws = Workspace(arch, 37, np.float64)
    np.copyto(ws.theta, theta)
    code_mean = np.full(3, 0.3)
    T, W = weighted_target(target, s)
    sse0, _ = backprop(X_in, T, ws, 0.7, 0.1, code_mean, W)
    sse, grad = block_loss_grad(
        X_in, target, theta, arch, np.float64, 0.7, 0.1, code_mean, 8, sample_weight=s
    )
    np.testing.assert_allclose(sse, sse0, rtol=1e-12)
    np.testing.assert_allclose(grad, ws.grad, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("nan, weights", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("n_threads, beta", [(1, 0.6), (2, 0.0)])
def test_adam_batch_covering_every_row_is_the_full_objective(
    nan, weights, n_threads, beta
):
    """BatchGradient divides a batch by its row count times the rows' mean
    weight: a batch of every row (in any order) is the objective of loss_grad
    (divided by sum_i s_i), to 1e-12."""
    X_in, target, s = _weighted_rows(nan=nan, weights=weights)
    arch = make_architecture(6, (5,), 3, "tanh", "logistic", "identity")
    kw = dict(alpha=0.3, sparsity_weight=beta, sparsity_target=0.2)
    theta = _theta(arch)
    T, W = weighted_target(target, s)
    loss0, grad0 = loss_grad(
        theta, X_in, T, Workspace(arch, 45, np.float64), weights=W, **kw
    )
    f = BatchGradient(
        arch, X_in, target, np.float64, 45, n_threads=n_threads, sample_weight=s, **kw
    )
    rows = np.random.RandomState(0).permutation(45)
    loss, grad = f(theta, rows)
    np.testing.assert_allclose(loss, loss0, rtol=1e-12)
    np.testing.assert_allclose(grad, grad0, rtol=1e-12, atol=1e-14)
    f.close()


def test_adam_minibatch_objective_is_divided_by_its_expected_weight():
    """A minibatch: [0.5 sum_b s_i e_i + 0.5 alpha ||W||^2 + S_b beta KL] / (b
    s_bar), s_bar the rows' mean weight: its mean over a partition of the
    rows (weighted by the batches' sizes) is the full weighted data term."""
    X_in, target, s = _weighted_rows(nan=True, weights=True)
    arch = make_architecture(6, (5,), 3, "tanh", "identity", "identity")
    theta = _theta(arch)
    f = BatchGradient(arch, X_in, target, np.float64, 16, sample_weight=s)
    rows = np.random.RandomState(1).permutation(45)
    total = sum(len(b) * f(theta, b)[0] for b in np.array_split(rows, 3)) / 45
    T, W = weighted_target(target, s)
    full = loss_grad(theta, X_in, T, Workspace(arch, 45, np.float64), weights=W)[0]
    np.testing.assert_allclose(total, full, rtol=1e-12)
    b = rows[:10]
    Tb, Wb = weighted_target(target[b], s[b])
    ws = Workspace(arch, 10, np.float64)
    np.copyto(ws.theta, theta)
    sse, _ = backprop(X_in[b], Tb, ws, weights=Wb)
    np.testing.assert_allclose(f(theta, b)[0], 0.5 * sse / (10 * s.mean()), rtol=1e-12)


def test_weights_and_nan_in_float32():
    """float32 rows, weights and masks: the passes stay in float32 (the
    weights are cast once) and agree with float64 to float32's precision."""
    X_in, target, s = _weighted_rows(n=300)
    arch = make_architecture(6, (5,), 3, "tanh", "logistic", "identity")
    theta = _theta(arch)
    kw = dict(alpha=0.1, sparsity_weight=0.4, sparsity_target=0.2)
    T, W = weighted_target(target, s)
    loss0, grad0 = loss_grad(
        theta, X_in, T, Workspace(arch, 300, np.float64), weights=W, **kw
    )
    X32, T32 = X_in.astype(np.float32), target.astype(np.float32)
    f = BlockedObjective(
        arch, X32, T32, np.float32, block_rows=64, sample_weight=s, **kw
    )
    loss, grad = f(theta)
    np.testing.assert_allclose(loss, loss0, rtol=1e-5)
    np.testing.assert_allclose(grad, grad0, rtol=1e-4, atol=1e-5 * np.abs(grad0).max())
    assert f._pairs[0][0][2].dtype == np.float32
