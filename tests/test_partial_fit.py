"""Issue 5: ``partial_fit``, minibatch Adam for data that arrives in pieces.

Since issue 10, ``partial_fit(X)`` is one epoch of the ``solver="adam"`` fit;
its hyperparameters are constructor parameters (``batch_size``,
``learning_rate_init``), as in ``MLPRegressor``.
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skae import AutoencoderTransformer, DenoisingAutoencoder, SparseAutoencoder
from skae._network import Workspace, init_params, loss_grad, make_architecture


@pytest.fixture(scope="module")
def stream():
    """A low-dimensional nonlinear stream: 12 pieces of 250 rows."""
    rng = np.random.RandomState(0)
    basis = rng.normal(size=(3, 10))
    pieces = [np.tanh(rng.normal(size=(250, 3)) @ basis) for _ in range(12)]
    return pieces


ADAM = dict(batch_size=50, learning_rate_init=3e-3, random_state=0)


@pytest.mark.parametrize(
    "est",
    [
        AutoencoderTransformer(3, hidden_layer_sizes=(16,), **ADAM),
        DenoisingAutoencoder(3, hidden_layer_sizes=(16,), **ADAM),
        SparseAutoencoder(12, sparsity_weight=0.1, **ADAM),
    ],
    ids=["plain", "denoising", "sparse"],
)
def test_passes_decrease_the_loss(stream, est):
    X = np.vstack(stream[:4])
    before = None
    for _ in range(8):
        est.partial_fit(X)
        if before is None:
            before = est.score(X)
    assert est.n_iter_ == 8
    assert len(est.loss_curve_) == 8
    assert est.loss_curve_[-1] < 0.7 * est.loss_curve_[0]
    assert np.all(np.diff(est.loss_curve_) < 0)
    assert est.score(X) > before


def test_loop_over_chunks_of_a_stream_and_transform_in_between(stream):
    X_test = stream[-1]
    est = AutoencoderTransformer(
        3, hidden_layer_sizes=(16,), batch_size=25, learning_rate_init=3e-3
    ).set_params(random_state=0)
    with pytest.raises(NotFittedError):
        est.transform(X_test)
    scores = []
    for piece in stream[:-1]:
        est.partial_fit(piece)
        Z = est.transform(X_test)  # usable after every piece
        assert Z.shape == (250, 3)
        scores.append(est.score(X_test))
    assert est.n_iter_ == len(stream) - 1
    assert est.n_features_in_ == 10
    assert scores[-1] > scores[0]
    assert_allclose(est.reconstruct(X_test), est.inverse_transform(Z))


def test_first_step_is_adam_on_the_fit_objective(stream):
    """One full-batch call = one Adam step on the in-memory objective from the
    initialisation ``fit`` uses: ``theta - lr * sign(grad J)`` to within
    Adam's epsilon."""
    X = stream[0]
    alpha, lr = 0.3, 1e-3
    est = AutoencoderTransformer(
        3,
        hidden_layer_sizes=(5,),
        alpha=alpha,
        batch_size=len(X),
        learning_rate_init=lr,
        init="random",  # the Glorot start built below
        random_state=0,
    )
    est.partial_fit(X)

    arch = make_architecture(X.shape[1], (5,), 3, "tanh", "identity", "identity")
    theta0 = init_params(arch, np.random.RandomState(0), output_bias=X.mean(axis=0))
    loss, grad = loss_grad(theta0, X, X, Workspace(arch, len(X), X.dtype), alpha)
    expected = theta0 - lr * grad / (np.abs(grad) + 1e-8 / np.sqrt(1e-3))
    theta1 = np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])
    assert_allclose(theta1, expected, rtol=1e-10, atol=1e-12)
    assert est.loss_ == pytest.approx(loss)


def test_refines_a_fitted_estimator_and_fit_restarts_the_stream(stream):
    X = np.vstack(stream[:4])
    est = AutoencoderTransformer(
        3, hidden_layer_sizes=(16,), max_iter=5, batch_size=50, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    after_fit = est.score(X)
    coefs = [W.copy() for W in est.coefs_]
    for _ in range(3):
        est.partial_fit(X)
    assert est.n_iter_ == 3  # passes of this stream
    assert est._adam_state["t"] == 3 * 20  # Adam steps continue across calls
    assert est.score(X) > after_fit
    # continued from the fitted parameters, not from a fresh initialisation
    assert np.abs(est.coefs_[0] - coefs[0]).max() < 0.1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)  # a new fit discards the Adam moments
    est.partial_fit(X)
    assert est._adam_state["t"] == 20
    assert est.n_iter_ == 1


def test_pickled_stream_resumes_identically(stream):
    est = DenoisingAutoencoder(3, hidden_layer_sizes=(8,), random_state=0)
    est.partial_fit(stream[0])
    copy = pickle.loads(pickle.dumps(est))
    est.partial_fit(stream[1])
    copy.partial_fit(stream[1])
    for A, B in zip(est.coefs_ + est.intercepts_, copy.coefs_ + copy.intercepts_):
        assert_allclose(A, B, rtol=0, atol=0)


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


def test_dtypes_sparse_input_and_errors(stream):
    X = stream[0]
    est = AutoencoderTransformer(3, hidden_layer_sizes=(5,), random_state=0)
    est.partial_fit(X.astype(np.float32))
    assert est.coefs_[0].dtype == np.float32
    assert est.transform(X.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :-1])

    S = sp.random(200, 30, density=0.1, format="csr", random_state=0)
    dae = DenoisingAutoencoder(4, noise="masking", noise_level=0.2, random_state=0)
    dae.partial_fit(S).partial_fit(S)
    assert dae.transform(S).shape == (200, 4)

    bad = AutoencoderTransformer(3, random_state=0)
    with pytest.raises(ValueError, match="batch_size"):
        bad.set_params(batch_size=0).partial_fit(X)
    bad.set_params(batch_size="auto")
    with pytest.raises(ValueError, match="NaN"):
        bad.partial_fit(np.full((5, 10), np.nan))
    assert not hasattr(bad, "n_features_in_")  # a failed first call leaves nothing


def test_callback_runs_once_per_pass_and_can_stop(stream):
    """The callback runs after each epoch, partial_fit's pass included, with
    the stream's pass count; returning True marks the pass as stopped."""
    seen = []

    def callback(epoch, loss, est):
        seen.append((epoch, loss, est.coefs_[0].copy()))
        return epoch == 3

    est = AutoencoderTransformer(
        3, hidden_layer_sizes=(5,), batch_size=10, callback=callback
    )
    for _ in range(3):
        est.partial_fit(stream[0])
    assert [s for s, _, _ in seen] == [1, 2, 3]
    assert est.stopped_by_ == "callback"
    assert [loss for _, loss, _ in seen] == est.loss_curve_
    assert_allclose(est.coefs_[0], seen[-1][2])

    seen.clear()
    est = AutoencoderTransformer(
        3,
        hidden_layer_sizes=(5,),
        solver="adam",
        early_stopping=False,
        callback=callback,
    ).fit(stream[0])
    assert est.n_iter_ == 3 and est.stopped_by_ == "callback"


def test_fit_after_partial_fit_drops_the_stream_state():
    pytest.importorskip("skops")
    import skops.io as sio

    X = np.random.RandomState(0).normal(size=(100, 5))
    ae = AutoencoderTransformer(2, hidden_layer_sizes=(), random_state=0)
    ae.partial_fit(X)
    ae.set_params(tol=1e-2).fit(X)
    assert not hasattr(ae, "_stream_state")
    assert sio.get_untrusted_types(data=sio.dumps(ae)) == [
        "skae._autoencoder.AutoencoderTransformer"
    ]
