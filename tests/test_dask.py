"""The dask data backend (skae._dask): a fit on a dask array equals the
in-memory fit (L-BFGS map-reduce, Adam streamed chunk by chunk, denoising
noise drawn per chunk), inference is lazy, and a lost worker loses nothing.

Skipped when the optional ``dask`` extra (``dask[array,distributed]``) is not
installed. One 2-worker ``LocalCluster`` on loopback serves the whole module.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils import check_random_state

from skae import AutoencoderTransformer, DenoisingAutoencoder, SparseAutoencoder
from skae._dask import chunk_seeds
from skae._fit import fit as run_pipeline
from skae._memory import ArrayData
from skae._noise import corrupt
from skae._validation import check_params

da = pytest.importorskip("dask.array")


dask = pytest.importorskip("dask")


distributed = pytest.importorskip("dask.distributed")


joblib = pytest.importorskip("joblib")


N, D, CHUNK = 600, 8, 150


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(N, 3))
    X = np.tanh(Z @ rng.normal(size=(3, D))) + 0.1 * rng.normal(size=(N, D))
    return X


def _fit(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X)


def _params(est):
    return est.coefs_ + est.intercepts_


def _assert_same_params(a, b, rtol=1e-7, atol=1e-9):
    for A, B in zip(_params(a), _params(b)):
        assert_allclose(A, B, rtol=rtol, atol=atol)


def _pipeline_fit(est, data):
    """:func:`skae._fit.fit` on the backend ``data`` with ``est``'s
    parameters and seed: what ``est.fit`` runs, with the data seam (a backend
    passed as a plain value) open to the test."""
    arch, hyper = check_params(est.get_params(), est._parameter_constraints, D)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return run_pipeline(data, arch, hyper, rng=check_random_state(est.random_state))


def _assert_state_equals(est, state, rtol, atol):
    """``est``'s fitted parameters equal the pipeline's ``state``."""
    for A, B in zip(_params(est), state.coefs + state.intercepts):
        assert_allclose(A, B, rtol=rtol, atol=atol)


class PerChunkNoise(ArrayData):
    """In-memory rows whose fixed-corruption step is the dask backend's
    per-chunk one: the corrupted ``pair`` computed chunk by chunk beforehand,
    the fit's generator consumed as the dask fit consumes it."""

    def __init__(self, X, pair):
        super().__init__(X)
        self.pair = pair

    def corrupted(self, noise, rng):
        chunk_seeds(rng, N // CHUNK)
        return ArrayData(*self.pair)


SMALL = dict(hidden_layer_sizes=(6,), max_iter=25, tol=0.0, random_state=0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "make",
    [
        lambda: AutoencoderTransformer(3, **SMALL),
        lambda: AutoencoderTransformer(3, tied_weights=True, alpha=0.1, **SMALL),
        lambda: AutoencoderTransformer(
            4, code_activation="logistic", sparsity_weight=0.5, **SMALL
        ),
        lambda: SparseAutoencoder(10, max_iter=25, tol=0.0, random_state=0),
    ],
    ids=["plain", "tied-alpha", "sparsity", "sparse-autoencoder"],
)
def test_cluster_fit_equals_in_memory_fit(client, data, make):
    X = data
    ref = _fit(make(), X)
    est = _fit(make(), da.from_array(X, chunks=CHUNK))
    assert est.n_iter_ == ref.n_iter_ == 25
    assert est.n_features_in_ == D
    assert est.loss_ == pytest.approx(ref.loss_, rel=1e-9)
    assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-9)
    _assert_same_params(est, ref)


@pytest.mark.slow
def test_float32_dask_fit_stays_float32(client, data):
    X = data.astype(np.float32)
    ref = _fit(AutoencoderTransformer(3, **SMALL), X)
    est = _fit(AutoencoderTransformer(3, **SMALL), da.from_array(X, chunks=CHUNK))
    assert est.coefs_[0].dtype == np.float32
    _assert_same_params(est, ref, rtol=1e-3, atol=1e-4)


DENOISING = [
    dict(noise="gaussian", noise_level=0.2),
    dict(noise="masking", noise_level=0.25, n_corruptions=2),
    dict(noise="salt_and_pepper", noise_level=0.2),
]


@pytest.mark.parametrize("noise", DENOISING, ids=lambda p: p["noise"])
def test_denoising_equals_in_memory_fit_of_per_chunk_corrupted_data(
    client, data, noise
):
    """Documented behaviour: chunk ``i`` is corrupted by
    ``RandomState(seeds[i])``, the seeds drawn once from ``random_state``; the
    salt-and-pepper extremes are the global per-feature min and max."""
    X = data
    # one corruption of every row: no held-out rows (which would be corrupted
    # per fold or split, and the replaced step below corrupts every row)
    kw = dict(SMALL, early_stopping=False)
    est = _fit(DenoisingAutoencoder(3, **noise, **kw), da.from_array(X, chunks=CHUNK))

    k = noise.get("n_corruptions", 1)
    seeds = chunk_seeds(check_random_state(0), N // CHUNK)
    pairs = [
        corrupt(
            X[i * CHUNK : (i + 1) * CHUNK],
            noise["noise"],
            noise["noise_level"],
            k,
            np.random.RandomState(seed),
            low=X.min(axis=0),
            high=X.max(axis=0),
        )
        for i, seed in enumerate(seeds)
    ]
    X_in = np.vstack([p[0] for p in pairs])
    target = np.vstack([np.tile(p[1], (k, 1)) for p in pairs])  # chunk by chunk

    # the in-memory pipeline on the per-chunk noise
    ref = _pipeline_fit(
        DenoisingAutoencoder(3, **noise, **kw), PerChunkNoise(X, (X_in, target))
    )
    assert est.n_iter_ == ref.n_iter == 25
    _assert_state_equals(est, ref, rtol=1e-7, atol=1e-9)


def test_denoising_result_does_not_depend_on_where_chunks_run(client, data):
    Xd = da.from_array(data, chunks=CHUNK)

    def make():
        # no iteration selection, which may keep the (noise-free) PCA start
        return DenoisingAutoencoder(
            3, noise="masking", noise_level=0.3, early_stopping=False, **SMALL
        )

    on_cluster = _fit(make(), Xd)
    with dask.config.set(scheduler="synchronous"):
        in_process = _fit(make(), Xd)
    with dask.config.set(scheduler="threads"):
        threads = _fit(make(), Xd)
    _assert_same_params(on_cluster, in_process, rtol=1e-10, atol=1e-12)
    _assert_same_params(on_cluster, threads, rtol=1e-10, atol=1e-12)
    # and it is a different draw from the in-memory (one-generator) noise
    in_memory = _fit(make(), data)
    assert not np.allclose(on_cluster.coefs_[0], in_memory.coefs_[0])


@pytest.mark.slow
def test_transform_family_is_lazy_and_equals_in_memory(client, data):
    X = data
    Xd = da.from_array(X, chunks=CHUNK)
    est = _fit(AutoencoderTransformer(3, **SMALL), X)
    Z = est.transform(Xd)
    assert isinstance(Z, da.Array)
    assert Z.numblocks == (N // CHUNK, 1)  # one task per chunk
    assert Z.chunks == ((CHUNK,) * (N // CHUNK), (3,))
    assert_allclose(Z.compute(), est.transform(X), rtol=1e-12)

    Zd = da.from_array(est.transform(X), chunks=CHUNK)
    X_hat = est.inverse_transform(Zd)
    assert isinstance(X_hat, da.Array)
    assert_allclose(X_hat.compute(), est.inverse_transform(est.transform(X)))

    R = est.reconstruct(Xd)
    assert isinstance(R, da.Array)
    assert_allclose(R.compute(), est.reconstruct(X), rtol=1e-12)

    s = est.score_samples(Xd)
    assert isinstance(s, da.Array) and s.shape == (N,)
    assert_allclose(s.compute(), est.score_samples(X), rtol=1e-12)
    assert est.score(Xd) == pytest.approx(est.score(X), rel=1e-12)

    # fit_transform on a dask array: fitted on the cluster, lazy codes back
    Z2 = _fit(AutoencoderTransformer(3, **SMALL), Xd).transform(Xd)
    assert isinstance(Z2, da.Array)

    with pytest.raises(ValueError, match="expecting 8 features"):
        est.transform(Xd[:, :5])
    with pytest.raises(ValueError, match="3 columns"):
        est.inverse_transform(Xd[:, :5])


@pytest.mark.slow
def test_lazy_input_is_never_gathered_and_chunks_are_rechunked(client, data):
    # a lazily generated array with column chunks and integer dtype
    Xd = (da.from_array(data, chunks=(CHUNK, 3)) * 100).astype(np.int64)
    est = _fit(AutoencoderTransformer(3, **SMALL), Xd)
    ref = _fit(AutoencoderTransformer(3, **SMALL), (data * 100).astype(np.int64))
    # scale of the data makes L-BFGS paths diverge early; the fits agree at start
    assert est.loss_curve_[0] == pytest.approx(ref.loss_curve_[0], rel=1e-9)
    assert est.coefs_[0].dtype == np.float64


@pytest.mark.slow
def test_warm_start_continues_on_dask(client, data):
    Xd = da.from_array(data, chunks=CHUNK)
    kw = dict(SMALL, max_iter=12)
    est = _fit(AutoencoderTransformer(3, warm_start=True, **kw), Xd)
    _fit(est, Xd)
    ref = _fit(AutoencoderTransformer(3, warm_start=True, **kw), data)
    _fit(ref, data)
    _assert_same_params(est, ref, rtol=1e-6, atol=1e-8)


@pytest.mark.slow
def test_early_stopping_holds_out_the_same_rows_as_in_memory(client, data):
    def make():
        return AutoencoderTransformer(
            3,
            hidden_layer_sizes=(6,),
            early_stopping=True,
            validation_fraction=0.2,
            n_iter_no_change=3,
            tol=1e-3,  # at 1e-2 the training loss's plateau ends the fit first
            max_iter=60,
            random_state=0,
        )

    ref = _fit(make(), data)
    est = _fit(make(), da.from_array(data, chunks=CHUNK))
    assert ref.stopped_by_ == est.stopped_by_ == "early_stopping"
    assert est.n_iter_ == ref.n_iter_ < 60
    assert_allclose(est.validation_scores_, ref.validation_scores_, rtol=1e-8)
    assert est.best_validation_score_ == pytest.approx(ref.best_validation_score_)
    _assert_same_params(est, ref, rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="validation_fraction"):
        make().set_params(validation_fraction=0.001).fit(da.ones((20, 3), chunks=5))


@pytest.mark.slow
@pytest.mark.parametrize("Estimator", [AutoencoderTransformer, DenoisingAutoencoder])
def test_greedy_pretraining_equals_in_memory(client, data, Estimator):
    kw = dict(
        hidden_layer_sizes=(6, 4),
        pretrain="greedy",
        pretrain_max_iter=10,
        tied_weights=True,
        max_iter=10,
        tol=0.0,
        random_state=0,
    )
    if Estimator is DenoisingAutoencoder:
        kw["early_stopping"] = False  # one corruption of every row (see below)
    est = _fit(Estimator(2, **kw), da.from_array(data, chunks=CHUNK))
    if Estimator is DenoisingAutoencoder:  # in memory on the per-chunk noise
        X_in = np.vstack(
            [
                corrupt(data[i * CHUNK : (i + 1) * CHUNK], "gaussian", 0.1, 1, rs)[0]
                for i, rs in enumerate(
                    np.random.RandomState(s)
                    for s in chunk_seeds(check_random_state(0), N // CHUNK)
                )
            ]
        )
        ref = _pipeline_fit(Estimator(2, **kw), PerChunkNoise(data, (X_in, data)))
        _assert_state_equals(est, ref, rtol=1e-6, atol=1e-8)
    else:
        ref = _fit(Estimator(2, **kw), data)
        _assert_same_params(est, ref, rtol=1e-6, atol=1e-8)


def test_invalid_input_raises():
    est = AutoencoderTransformer(3)
    with pytest.raises(ValueError, match="NaN"):
        est.fit(da.from_array(np.full((10, 3), np.nan), chunks=5))
    assert not hasattr(est, "n_features_in_")  # a failed fit leaves nothing
    with pytest.raises(ValueError, match="2D"):
        est.fit(da.ones(10, chunks=5))


@pytest.mark.slow
def test_grid_search_under_joblib_dask_backend(client, data):
    X = data[:300]
    grid = {"n_components": [2, 4]}
    base = AutoencoderTransformer(hidden_layer_sizes=(6,), max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with joblib.parallel_backend("dask"):
            search = GridSearchCV(base, grid, cv=2, n_jobs=-1).fit(X)
        serial = GridSearchCV(base, grid, cv=2, n_jobs=1).fit(X)
    assert search.best_params_ == {"n_components": 4}
    assert_allclose(
        search.cv_results_["mean_test_score"],
        serial.cv_results_["mean_test_score"],
        rtol=1e-8,
    )


def test_dask_array_streams_chunk_by_chunk(stream):
    """One pass over a dask array visits its chunks in order, as one
    partial_fit call per chunk does (same Adam state, same generator)."""
    da = pytest.importorskip("dask.array")
    X = np.vstack(stream[:4])
    kw = dict(n_components=3, hidden_layer_sizes=(8,), random_state=0)
    one_pass = AutoencoderTransformer(**kw).partial_fit(X)
    per_chunk = AutoencoderTransformer(**kw).partial_fit(X)
    one_pass.partial_fit(da.from_array(X, chunks=250))
    for piece in stream[:4]:
        per_chunk.partial_fit(piece)
    assert one_pass.n_iter_ == 2 and per_chunk.n_iter_ == 5
    for A, B in zip(one_pass.coefs_, per_chunk.coefs_):
        assert_allclose(A, B, rtol=1e-12, atol=1e-14)


@pytest.mark.slow
def test_benchmark_smoke():
    """benchmarks/bench_dask.py runs end to end at a tiny size."""
    from benchmarks.bench_dask import run

    rows = run(
        n_samples=2000,
        chunk=500,
        n_features=10,
        hidden=(8,),
        n_components=3,
        max_iter=2,
        in_memory_blas_threads=(1,),
    )
    dask_row, memory_row = rows
    assert dask_row["n_iter"] == memory_row["n_iter"] == 2
    assert dask_row["final_loss"] == pytest.approx(memory_row["final_loss"], rel=1e-9)
    assert dask_row["client_rise_MB"] >= 0


# ------------------------------------------------------ solver="adam" (issue 10)
ADAM = dict(hidden_layer_sizes=(6,), solver="adam", batch_size=40, max_iter=6)


@pytest.mark.slow
@pytest.mark.parametrize(
    "make",
    [
        lambda: AutoencoderTransformer(3, **ADAM, random_state=0),
        lambda: DenoisingAutoencoder(
            3, noise="salt_and_pepper", early_stopping=True, **ADAM, random_state=0
        ),
        lambda: SparseAutoencoder(6, **ADAM, random_state=0),
    ],
    ids=["plain", "denoising-early-stopping", "sparse"],
)
def test_adam_equals_in_memory_fit_for_the_same_chunks_and_seed(client, data, make):
    """What "equal" means (skae._fit's docstring): an Adam epoch visits the
    row blocks in order, shuffles each with the fit's generator, cuts it into
    minibatches and corrupts each minibatch with that generator. In memory
    the data is one block, on a dask array the chunks are the blocks. So:

    * a one-chunk dask array gives the in-memory estimator's fit, and
    * a 4-chunk dask array gives the in-memory fit of the pipeline run with
      row blocks = the chunks (``skae._fit.fit`` on ``ArrayData``),

    both to 1e-9 (the held-out loss, a map-reduce, sums in another order).
    """
    Xd = da.from_array(data, chunks=CHUNK)
    est = _fit(make(), Xd)
    one_chunk = _fit(make(), da.from_array(data, chunks=N))
    in_memory = _fit(make(), data)
    _assert_same_params(one_chunk, in_memory, rtol=1e-9, atol=1e-12)
    assert_allclose(one_chunk.loss_curve_, in_memory.loss_curve_, rtol=1e-9)

    state = _pipeline_fit(make(), ArrayData(data, row_blocks=Xd.chunks[0]))
    assert est.n_iter_ == state.n_iter == 6
    assert_allclose(est.loss_curve_, state.loss_curve, rtol=1e-9)
    _assert_state_equals(est, state, rtol=1e-9, atol=1e-12)
    if est.validation_scores_ is not None:
        assert_allclose(est.validation_scores_, state.validation_scores, rtol=1e-9)
    # and the chunking matters: one block is another run (its epochs' losses;
    # the parameters may both be the start, when early stopping keeps it)
    assert not np.allclose(est.loss_curve_, in_memory.loss_curve_)


@pytest.mark.slow
def test_worker_lost_mid_fit_gives_the_undisturbed_result():
    """A worker of a 2-worker cluster closed during the fit (from the
    callback, at iteration 3) loses the persisted chunks it held; the
    scheduler recomputes them from the graph (every chunk task is a pure
    function of its chunk and of seeds drawn on the client), so the fit
    completes with the undisturbed fit's result (module doc of skae._dask)."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        dashboard_address=":0",
    )
    X = np.random.RandomState(1).normal(size=(400, 6))

    def make(**kw):
        return DenoisingAutoencoder(
            2, noise="masking", noise_level=0.3, early_stopping=False, **SMALL, **kw
        ).set_params(max_iter=8)

    try:
        with distributed.Client(cluster) as c:
            Xd = da.from_array(X, chunks=50)
            undisturbed = _fit(make(), Xd)
            closed = []

            def close_a_worker(iteration, loss, est):
                if iteration == 3:
                    worker = next(iter(cluster.workers.values()))
                    c.sync(worker.close)
                    closed.append(worker.address)

            disturbed = _fit(make(callback=close_a_worker), Xd)
            assert closed and len(c.scheduler_info()["workers"]) == 1
    finally:
        cluster.close()
    assert disturbed.n_iter_ == undisturbed.n_iter_ == 8
    _assert_same_params(disturbed, undisturbed, rtol=1e-12, atol=1e-14)


@pytest.mark.slow
def test_dask_and_in_memory_make_the_same_promises(client, data):
    """Issue 16 item 3, as far as the shared inference path and callback
    adapter reach: the callback's estimator knows n_features_in_ on a first
    dask fit, and dask inference raises where in-memory inference does
    (infinite input, overflowing results), at compute time."""
    seen = []
    est = AutoencoderTransformer(
        3, callback=lambda i, loss, e: seen.append(e.n_features_in_), **SMALL
    ).set_params(max_iter=2)
    _fit(est, da.from_array(data, chunks=CHUNK))
    assert seen == [D, D]
    bad = data.copy()
    bad[0, 0] = np.inf  # NaN is a missing value (tests/test_missing.py)
    with pytest.raises(ValueError, match="infinity"):
        est.transform(da.from_array(bad, chunks=CHUNK)).compute()
    with pytest.raises(ValueError, match="overflowed"):
        est.score_samples(da.from_array(np.full((10, D), 1e200), chunks=5)).compute()


# ------------------------------------- sample weights and missing targets


def test_weighted_masked_backend_equals_in_memory(client, data):
    """The dask backend with sample weights (a dask vector chunked unlike X,
    or a NumPy one) and NaN in the target: its objective (map-reduce, also
    with a sparsity penalty and on a denoising pair), held-out error, row
    errors, moments, column means and Adam blocks equal the in-memory
    backend's (the objective to 1e-12, as loss_grad on the same rows)."""
    from skae._dask import DaskData
    from skae._network import Workspace, init_params, loss_grad, make_architecture
    from skae._noise import NoiseSpec
    from skae._terms import weighted_target
    from skae._validation import check_sample_weight

    rng = np.random.RandomState(3)
    target = data.copy()
    target[rng.uniform(size=data.shape) < 0.2] = np.nan
    X_in = np.where(np.isnan(target), np.nanmean(target, axis=0), target)
    s = rng.randint(0, 4, size=N).astype(float)
    mem = ArrayData(X_in, target, sample_weight=s)
    Xd, Td = da.from_array(X_in, chunks=CHUNK), da.from_array(target, chunks=CHUNK)
    arch = make_architecture(D, (6,), 3, "tanh", "logistic", "identity")
    theta = init_params(arch, rng) + 0.1 * rng.standard_normal(arch.n_params)
    kw = dict(alpha=0.1, beta=0.5, rho=0.1)
    for w in (da.from_array(s, chunks=100), s):
        dd = DaskData(Xd, Td, sample_weight=check_sample_weight(w, Xd))
        assert dd.sample_weight.chunks[0] == Xd.chunks[0]
        a, b = mem.objective(arch, **kw)(theta), dd.objective(arch, **kw)(theta)
        assert_allclose(b[0], a[0], rtol=1e-12)
        assert_allclose(b[1], a[1], rtol=1e-10, atol=1e-13)
        err = mem.mean_sq_error(arch)(theta)
        assert dd.mean_sq_error(arch)(theta) == pytest.approx(err, rel=1e-12)
        assert_allclose(dd.row_errors(arch)(theta), mem.row_errors(arch)(theta))
        m_d, m_m = dd.moments().filled(), mem.moments().filled()
        assert_allclose(m_d.gram, m_m.gram, rtol=1e-12)
        assert_allclose(dd.column_mean(), mem.column_mean(), rtol=1e-12)
        for (x1, t1, s1), (x2, t2, s2) in zip(
            dd.blocks(), ArrayData(X_in, target, [CHUNK] * 4, s).blocks()
        ):
            assert_allclose(x1, x2)
            assert_allclose(t1, t2)
            assert_allclose(s1, s2)
    # a denoising pair: each chunk stands for its corrupted copies
    pair = dd.corrupted(NoiseSpec("masking", 0.3, 2), np.random.RandomState(0))
    X_pair = pair.X_in.compute()
    chunks = [slice(i * CHUNK, (i + 1) * CHUNK) for i in range(N // CHUNK)]
    T_rep = np.vstack([np.tile(target[c], (2, 1)) for c in chunks])
    s_rep = np.concatenate([np.tile(s[c], 2) for c in chunks])
    T, W = weighted_target(T_rep, s_rep)
    ref = loss_grad(
        theta, X_pair, T, Workspace(arch, 2 * N, np.float64), 0.1, 0.5, 0.1, W
    )
    got = pair.objective(arch, **kw)(theta)
    assert_allclose(got[0], ref[0], rtol=1e-12)
    assert_allclose(got[1], ref[1], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind", ["dask", "numpy"])
def test_weighted_fit_equals_in_memory(client, data, kind):
    """fit(X, sample_weight=w) on a dask array, with a dask vector (chunked
    unlike X: rechunked) or a NumPy one: the in-memory weighted fit, for
    L-BFGS with cross-validated stopping and for Adam on one chunk; bad
    weights raise as in memory and leave the estimator as it was."""
    s = np.random.RandomState(7).randint(0, 4, size=N).astype(float)
    w = da.from_array(s, chunks=100) if kind == "dask" else s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for make, chunks, rtol in [
            (lambda: AutoencoderTransformer(3, **SMALL), CHUNK, 1e-7),
            (lambda: AutoencoderTransformer(3, **ADAM, random_state=0), N, 1e-9),
        ]:
            ref = make().fit(data, sample_weight=s)
            est = make().fit(da.from_array(data, chunks=chunks), sample_weight=w)
            assert est.n_iter_ == ref.n_iter_
            assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=rtol)
            _assert_same_params(est, ref, rtol=10 * rtol, atol=1e-9)
    before = [W.copy() for W in est.coefs_]
    bad = s.copy()
    bad[5] = -1.0
    with pytest.raises(ValueError, match="Negative"):
        est.fit(da.from_array(data, chunks=CHUNK), sample_weight=da.from_array(bad))
    with pytest.raises(ValueError, match="shape"):
        est.fit(da.from_array(data, chunks=CHUNK), sample_weight=s[:-1])
    for W, B in zip(est.coefs_, before):
        np.testing.assert_array_equal(W, B)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_pipeline_with_weights_and_missing_targets_equals_in_memory(
    client, data, solver
):
    """skae._fit.fit on a dask backend whose target holds NaN (the input
    filled) with a dask weight vector equals the in-memory pipeline on the
    same rows in the same row blocks: held-out early stopping, L-BFGS by
    map-reduce or Adam chunk by chunk."""
    from skae._dask import DaskData
    from skae._fit import fit as run_pipeline
    from skae._validation import check_params, check_sample_weight

    rng = np.random.RandomState(8)
    target = data.copy()
    target[rng.uniform(size=data.shape) < 0.2] = np.nan
    X_in = np.where(np.isnan(target), np.nanmean(target, axis=0), target)
    s = rng.randint(0, 4, size=N).astype(float)
    est = AutoencoderTransformer(
        3, solver=solver, early_stopping=True, batch_size=40, **SMALL
    ).set_params(max_iter=8)
    arch, hyper = check_params(est.get_params(), est._parameter_constraints, D)
    Xd = da.from_array(X_in, chunks=CHUNK)
    Td = da.from_array(target, chunks=CHUNK)
    dask_data = DaskData(Xd, Td, sample_weight=check_sample_weight(s, Xd))
    mem_data = ArrayData(X_in, target, Xd.chunks[0], s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = run_pipeline(dask_data, arch, hyper, rng=check_random_state(0))
        b = run_pipeline(mem_data, arch, hyper, rng=check_random_state(0))
    assert a.n_iter == b.n_iter
    assert_allclose(a.loss_curve, b.loss_curve, rtol=1e-9)
    assert_allclose(a.validation_scores, b.validation_scores, rtol=1e-9)
    for A, B in zip(a.coefs + a.intercepts, b.coefs + b.intercepts):
        assert_allclose(A, B, rtol=1e-7, atol=1e-9)
