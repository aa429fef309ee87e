"""ONNX export (skae.onnx): skl2onnx converts skae estimators and pipelines
holding them, and onnxruntime computes what skae computes.

Equality is checked to 1e-5 (float32) and 1e-10 (float64) relative: each
element within ``rtol * |expected| + rtol * max|expected|``, i.e. relative
to the element and to the output's scale (a code near zero is a sum of
terms of the output's size, so its rounding error is relative to those).

Needs skae's ``onnx`` extra (onnx, skl2onnx, onnxruntime); without it the
tests that export are skipped with the name of the missing package.
"""

import copy
import doctest
import importlib
import inspect
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler

import skae
from skae import AutoencoderTransformer, DenoisingAutoencoder, SparseAutoencoder
from skae._activations import ACTIVATIONS
from skae.onnx import _EXPORTS, ONNX_ACTIVATIONS, register_converters
from tests.estimators import ESTIMATORS, SMALL


def _missing_packages():
    missing = []
    for name in ("onnx", "skl2onnx", "onnxruntime"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


_MISSING = _missing_packages()
needs_onnx = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"{', '.join(_MISSING)} not installed (skae's onnx extra: "
    'pip install "skae[onnx]")',
)

RTOL = {np.float32: 1e-5, np.float64: 1e-10}
OUTPUTS = ["codes", "reconstruction", "score_samples"]
BOTH = {"reconstruct": True, "score_samples": True}

#: Beyond the shared table: a logistic output layer (data in [0, 1]) and
#: every activation in the hidden and code layers.
EXTRA = [
    AutoencoderTransformer(
        hidden_layer_sizes=(6,), output_activation="logistic", **SMALL
    ),
    *[
        AutoencoderTransformer(
            hidden_layer_sizes=(6,), activation=name, code_activation=name, **SMALL
        )
        for name in ACTIVATIONS
    ],
]
CONFIGS = ESTIMATORS + EXTRA


def _config_id(estimator):
    default = type(estimator)().get_params()
    changed = [
        f"{k}={v}"
        for k, v in estimator.get_params().items()
        if k not in SMALL and v != default[k]
    ]
    return f"{type(estimator).__name__}({','.join(changed)})"


def _data(name):
    if name == "digits":
        X = load_digits().data
    else:
        X = np.random.RandomState(1).normal(size=(300, 10)) * 3 + 1
    return StandardScaler().fit_transform(X)


def _to_unit(X):
    """Min-max scaled to [0, 1], for a logistic output layer."""
    return (X - X.min(axis=0)) / np.ptp(X, axis=0).clip(1e-12)


_FITTED = {}


def _fitted(index, data):
    """CONFIGS[index] fitted on ``data`` (float64), once per test session."""
    key = (index, data)
    if key not in _FITTED:
        estimator = clone(CONFIGS[index])
        X = _data(data)
        if estimator.output_activation == "logistic":
            X = _to_unit(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            _FITTED[key] = (estimator.fit(X), X)
    return _FITTED[key]


@pytest.fixture(scope="module")
def registered():
    register_converters()


def _session(model, X, options=None):
    """An onnxruntime session of ``model`` exported for ``X``'s dtype."""
    import onnxruntime
    from skl2onnx import to_onnx

    onx = to_onnx(model, X[:1], options=options)
    return onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def _run(session, X):
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"X": X})))


def _expected(estimator, X):
    return {
        "codes": estimator.transform(X),
        "reconstruction": estimator.reconstruct(X),
        "score_samples": estimator.score_samples(X)[:, None],
    }


def _assert_close(got, expected, dtype, what=""):
    rtol = RTOL[dtype]
    assert got.dtype == dtype, what
    assert got.shape == expected.shape, what
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(
        got, expected, rtol=rtol, atol=rtol * scale, err_msg=what
    )


# ----------------------------------------------------------- without onnx too
def test_every_activation_has_an_onnx_operator():
    assert set(ONNX_ACTIVATIONS) == set(ACTIVATIONS)


def test_every_public_estimator_has_a_converter():
    """Every autoencoder; not the imputer, whose export is not supported
    (docs/deployment.rst)."""
    public = {
        getattr(skae, name)
        for name in skae.__all__
        if inspect.isclass(getattr(skae, name))
    } - {skae.AutoencoderImputer}
    assert {export.estimator for export in _EXPORTS} == public


def test_missing_skl2onnx_names_the_onnx_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # import fails
    with pytest.raises(ImportError, match=r"'onnx'\s+extra.*skae\[onnx\]"):
        register_converters()


# ------------------------------------------------------------- with onnx only
@needs_onnx
@pytest.mark.parametrize("data", ["digits", "random"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "index", range(len(CONFIGS)), ids=[_config_id(e) for e in CONFIGS]
)
def test_onnxruntime_equals_skae(registered, index, dtype, data):
    """Codes, reconstruction and scores of every configuration, both dtypes."""
    estimator, X = _fitted(index, data)
    X = X.astype(dtype)
    got = _run(_session(estimator, X, {type(estimator): BOTH}), X)
    assert list(got) == OUTPUTS
    for name, value in _expected(estimator, X).items():
        _assert_close(got[name], value, dtype, name)


@needs_onnx
@pytest.mark.parametrize(
    "options, outputs",
    [
        ({}, ["codes"]),
        ({"reconstruct": True}, ["codes", "reconstruction"]),
        ({"score_samples": True}, ["codes", "score_samples"]),
        ({"reconstruct": False, "score_samples": False}, ["codes"]),
        (BOTH, OUTPUTS),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_output_option(registered, options, outputs, dtype):
    """The codes alone by default; each option adds its output, in order."""
    estimator, X = _fitted(0, "random")
    X = X.astype(dtype)
    session = _session(estimator, X, {AutoencoderTransformer: options})
    declared = {o.name: o.shape for o in session.get_outputs()}
    assert list(declared) == outputs
    widths = {"codes": 2, "reconstruction": X.shape[1], "score_samples": 1}
    assert all(declared[n][1] == widths[n] for n in outputs)
    got = _run(session, X)
    expected = _expected(estimator, X)
    for name in outputs:
        _assert_close(got[name], expected[name], dtype, name)


@pytest.mark.slow
@needs_onnx
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "estimator",
    [
        AutoencoderTransformer(n_components=3, hidden_layer_sizes=(8,), **SMALL),
        DenoisingAutoencoder(n_components=3, **SMALL),
        SparseAutoencoder(n_components=12, **SMALL),
    ],
    ids=lambda e: type(e).__name__,
)
def test_pipeline_with_scaler(registered, estimator, dtype):
    """``to_onnx(pipeline, X[:1])`` on raw digits: the scaler is exported too."""
    X = load_digits().data.astype(dtype)
    pipe = make_pipeline(StandardScaler(), estimator).fit(X)
    session = _session(pipe, X, {type(estimator): BOTH})
    got = _run(session, X)
    expected = _expected(pipe[-1], pipe[0].transform(X))
    for name in OUTPUTS:
        _assert_close(got[name], expected[name], dtype, name)


@needs_onnx
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_transformer(registered, dtype):
    """A ColumnTransformer holding a skae pipeline beside a plain scaler."""
    X = load_digits().data.astype(dtype)
    ct = ColumnTransformer(
        [
            (
                "ae",
                make_pipeline(
                    StandardScaler(),
                    AutoencoderTransformer(n_components=4, **SMALL),
                ),
                list(range(8, 56)),
            ),
            ("edges", StandardScaler(), [*range(8), *range(56, 64)]),
        ]
    ).fit(X)
    (got,) = _run(_session(ct, X), X).values()
    _assert_close(got, ct.transform(X), dtype)


@needs_onnx
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fitted_in_float32(registered, dtype):
    """A model trained in float32 exports in either precision."""
    X = _data("random").astype(np.float32)
    estimator = AutoencoderTransformer(hidden_layer_sizes=(6,), **SMALL).fit(X)
    assert estimator.coefs_[0].dtype == np.float32
    X = X.astype(dtype)
    got = _run(_session(estimator, X, {AutoencoderTransformer: BOTH}), X)
    for name, value in _expected(estimator, X).items():
        _assert_close(got[name], value, dtype, name)


@needs_onnx
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_skip_path_graph(dtype):
    """The graph adds the linear skip terms the network is about to gain:
    codes = f_c(h W_c + b_c + x S_enc), x_hat = f_L(h W_L + b_L + z S_dec)."""
    import onnxruntime
    from skl2onnx import get_latest_tested_opset_version
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    from skae.onnx import _Graph, _Layer, _Network

    rng = np.random.RandomState(0)
    n, h, k = 7, 5, 3

    def layer(a, b, activation):
        return _Layer(rng.normal(size=(a, b)), rng.normal(size=b), activation)

    net = _Network(
        encoder=(layer(n, h, "tanh"), layer(h, k, "logistic")),
        decoder=(layer(k, h, "relu"), layer(h, n, "identity")),
        skip_encoder=rng.normal(size=(n, k)),
        skip_decoder=rng.normal(size=(k, n)),
    )
    X = rng.normal(size=(40, n)).astype(dtype)

    def stack(A, layers, skip_input, skip):  # float64 reference
        for i, lay in enumerate(layers):
            Z = A @ lay.coef + lay.intercept
            if i == len(layers) - 1:
                Z += skip_input @ skip
            ACTIVATIONS[lay.activation](Z)
            A = Z
        return A

    X64 = X.astype(np.float64)
    codes = stack(X64, net.encoder, X64, net.skip_encoder)
    rec = stack(codes, net.decoder, codes, net.skip_decoder)
    expected = {
        "codes": codes,
        "reconstruction": rec,
        "score_samples": -((X64 - rec) ** 2).sum(axis=1, keepdims=True),
    }
    tensor = FloatTensorType if dtype == np.float32 else DoubleTensorType
    opv = get_latest_tested_opset_version()
    for name in OUTPUTS:
        node = getattr(_Graph(net, "X", dtype, opv), name)
        onx = node.to_onnx(inputs=[("X", tensor([None, n]))], target_opset=opv)
        session = onnxruntime.InferenceSession(
            onx.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        (got,) = session.run(None, {"X": X})
        # float32 rounding of the parameters and of every layer, here only
        rtol = 1e-4 if dtype == np.float32 else RTOL[dtype]
        scale = np.abs(expected[name]).max()
        np.testing.assert_allclose(got, expected[name], rtol=rtol, atol=rtol * scale)


@needs_onnx
def test_unknown_fitted_attribute_is_refused(registered):
    """A part of the network the exporter does not know (a fitted attribute
    it has not learned) stops the export instead of being left out."""
    estimator, X = _fitted(0, "random")
    estimator = copy.deepcopy(estimator)
    estimator.residual_coefs_ = [np.zeros((X.shape[1], 2))]
    with pytest.raises(NotImplementedError, match="residual_coefs_"):
        _session(estimator, X.astype(np.float32))


@needs_onnx
def test_register_converters_twice(registered):
    register_converters()
    estimator, X = _fitted(0, "random")
    X = X.astype(np.float32)
    (got,) = _run(_session(estimator, X), X).values()
    _assert_close(got, estimator.transform(X), np.float32)


@pytest.mark.slow
@needs_onnx
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_deployment_page_examples_run(tmp_path, monkeypatch):
    """docs/deployment.rst: export, load, serve (on the loopback address)."""
    monkeypatch.chdir(tmp_path)  # the page writes its .onnx files here
    result = doctest.testfile(
        str(Path(__file__).resolve().parents[1] / "docs" / "deployment.rst"),
        module_relative=False,
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
        raise_on_error=False,
        verbose=False,
    )
    assert result.attempted > 0
    assert result.failed == 0


@needs_onnx
def test_bench_onnx_smoke(monkeypatch):
    """benchmarks/bench_onnx.py runs at tiny sizes (children in-process)."""
    from benchmarks import _common, bench_onnx

    monkeypatch.setattr(_common, "IN_PROCESS", True)
    rows = bench_onnx.run(
        networks=[(6, (4,), 2)], n_rows=50, threads=(1,), repeats=1, fit_rows=40
    )
    assert len(rows) == 2
    for row in rows:
        assert set(bench_onnx.COLUMNS) <= set(row)
        assert row["onnx_KB"] > 0 and row["skae/onnxruntime"] > 0


def test_register_converters_docstring():
    """numpydoc, as tests/test_docs.py checks every public function."""
    validate = pytest.importorskip("numpydoc.validate").validate
    from tests.test_docs import IGNORED

    errors = validate("skae.onnx.register_converters")["errors"]
    assert not [(c, m) for c, m in errors if c not in IGNORED]


@needs_onnx
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_feature_union_of_two(registered):
    """Two skae estimators side by side: their codes are concatenated."""
    X = _data("random")
    union = FeatureUnion(
        [
            ("ae", AutoencoderTransformer(n_components=2, **SMALL)),
            ("sparse", SparseAutoencoder(n_components=4, **SMALL)),
        ]
    ).fit(X)
    (got,) = _run(_session(union, X), X).values()
    _assert_close(got, union.transform(X), np.float64)


@needs_onnx
def test_partial_fit_model_exports(registered):
    """A model trained by partial_fit (Adam) exports like a fitted one."""
    X = _data("random")
    estimator = AutoencoderTransformer(hidden_layer_sizes=(6,), random_state=0)
    for piece in np.array_split(X, 3):
        estimator.partial_fit(piece)
    got = _run(_session(estimator, X, {AutoencoderTransformer: BOTH}), X)
    for name, value in _expected(estimator, X).items():
        _assert_close(got[name], value, np.float64, name)


@needs_onnx
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outlier_detector_decision_and_label(registered, dtype):
    """The detector's decision_function and predict, exported as options."""
    from skae import AutoencoderOutlierDetector

    X = _data("digits")
    det = AutoencoderOutlierDetector(
        n_components=4, contamination=0.1, random_state=0, max_iter=30
    ).fit(X)
    Xd = X.astype(dtype)
    options = {"decision_function": True, "predict": True, "score_samples": True}
    got = _run(_session(det, Xd, {AutoencoderOutlierDetector: options}), Xd)
    assert list(got) == ["codes", "score_samples", "decision_function", "label"]
    _assert_close(
        got["decision_function"][:, 0],
        det.decision_function(Xd),
        dtype,
        "decision_function",
    )
    label = got["label"][:, 0]
    assert label.dtype == np.int64
    # the labels agree except where the decision is within rounding of 0
    near = np.abs(det.decision_function(Xd)) < 1e-4 * np.abs(det.offset_)
    np.testing.assert_array_equal(label[~near], det.predict(Xd)[~near])
    assert set(np.unique(label)) <= {-1, 1} and (label == -1).sum() > 0
