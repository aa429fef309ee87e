"""ONNX export of skae estimators, whole pipelines included, through skl2onnx.

Optional: needs skae's ``onnx`` extra (``pip install "skae[onnx]"``: onnx,
skl2onnx, onnxruntime). Nothing is imported from them until
:func:`register_converters` is called, which registers a parser, a shape
calculator and a converter for every public estimator with skl2onnx; after
that ``skl2onnx.to_onnx`` converts a skae estimator wherever it sits in a
``Pipeline``, ``ColumnTransformer`` or ``FeatureUnion``.

Design. The exported graph is built from one description of the fitted
network, a :class:`_Network` (the encoder's and the decoder's layers as
``(coef, intercept, activation)``, plus the optional linear skip terms), and
:func:`_read_network` is the only function that reads an estimator's fitted
attributes. It refuses an estimator that carries a fitted attribute it does
not know, so that a new part of the network (such as the linear skip path)
fails loudly here instead of being left out of the exported model.

Every layer is ``MatMul`` then ``Add`` then the activation's operator
(:data:`ONNX_ACTIVATIONS`: one entry per key of
:data:`skae._activations.ACTIVATIONS`). The outputs, in this order:

* ``codes``, always: what ``transform`` returns, shape ``[N, n_components]``;
* ``reconstruction`` with the option ``reconstruct=True``: ``reconstruct``,
  shape ``[N, n_features_in_]``;
* ``score_samples`` with the option ``score_samples=True``:
  ``score_samples``, the negative squared reconstruction error, shape
  ``[N, 1]`` as skl2onnx's other ``score_samples`` outputs
  (``GaussianMixture``, ``IsolationForest``).

float32 and float64 (``DoubleTensorType``) inputs are exported in their own
precision, as skae computes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from skae import (
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    DenoisingAutoencoder,
    SparseAutoencoder,
)

__all__ = ["ONNX_ACTIVATIONS", "register_converters"]

#: ONNX operator of each skae activation (``None``: no operator, identity).
ONNX_ACTIVATIONS = {
    "identity": None,
    "logistic": "Sigmoid",
    "tanh": "Tanh",
    "relu": "Relu",
}

#: Options adding an output: the option is named after the estimator's method,
#: the output after what it holds.
_OPTIONAL_OUTPUTS = {
    "reconstruct": "reconstruction",
    "score_samples": "score_samples",
    "decision_function": "decision_function",
    "predict": "label",
}


@dataclass(frozen=True)
class _Export:
    """One exported estimator class: its skl2onnx alias, the outputs it always
    has and the options (keys of ``_OPTIONAL_OUTPUTS``) that add the others.

    A new public estimator is one more entry in :data:`_EXPORTS` (and, for a
    new kind of output, one property of :class:`_Graph`)."""

    estimator: type
    alias: str
    outputs: tuple[str, ...] = ("codes",)
    options: tuple[str, ...] = ("reconstruct", "score_samples")


_EXPORTS = (
    _Export(AutoencoderTransformer, "SkaeAutoencoderTransformer"),
    _Export(DenoisingAutoencoder, "SkaeDenoisingAutoencoder"),
    _Export(SparseAutoencoder, "SkaeSparseAutoencoder"),
    _Export(
        AutoencoderOutlierDetector,
        "SkaeAutoencoderOutlierDetector",
        options=("reconstruct", "score_samples", "decision_function", "predict"),
    ),
)

#: Fitted attributes :func:`_read_network` knows: the network's, and the
#: training record's (which do not change what the network computes).
#: ``fill_values_`` only replaces missing (NaN) inputs: the exported graph
#: does not, it expects complete input (NaN propagates to its outputs; see
#: docs/deployment.rst).
_KNOWN_FITTED = frozenset(
    {
        "coefs_",
        "intercepts_",
        "layer_activations_",
        "skip_coefs_",
        "offset_",
        "n_features_in_",
        "feature_names_in_",
        "fill_values_",
        "n_iter_",
        "loss_",
        "loss_curve_",
        "validation_scores_",
        "best_validation_score_",
        "stopped_by_",
    }
)


# --------------------------------------------------------------- the network
@dataclass(frozen=True)
class _Layer:
    """``activation(A @ coef + intercept)``."""

    coef: np.ndarray
    intercept: np.ndarray
    activation: str


@dataclass(frozen=True)
class _Network:
    """What an exported graph computes, independent of any estimator.

    ``codes = f_c(h_{c-1} W_c + b_c [+ x @ skip_encoder])`` after the encoder
    layers, ``x_hat = f_L(h_{L-1} W_L + b_L [+ codes @ skip_decoder])`` after
    the decoder layers; a skip term is added only when it is not ``None``.
    """

    encoder: tuple[_Layer, ...]
    decoder: tuple[_Layer, ...]
    skip_encoder: np.ndarray | None = None  # (n_features, n_components)
    skip_decoder: np.ndarray | None = None  # (n_components, n_features)
    offset: float | None = None  # an outlier detector's offset_

    @property
    def n_features(self) -> int:
        return self.encoder[0].coef.shape[0]

    @property
    def n_components(self) -> int:
        return self.encoder[-1].coef.shape[1]

    def width(self, output: str) -> int:
        """Number of columns of an output of :class:`_Graph`."""
        return {
            "codes": self.n_components,
            "reconstruction": self.n_features,
            "score_samples": 1,
            "decision_function": 1,
            "label": 1,
        }[output]


def _read_network(estimator) -> _Network:
    """The fitted network of ``estimator``: the one place that reads its
    fitted attributes."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    unknown = sorted(
        name
        for name in vars(estimator)
        if name.endswith("_") and not name.startswith("_")
    )
    unknown = [name for name in unknown if name not in _KNOWN_FITTED]
    if unknown:
        raise NotImplementedError(
            f"skae.onnx cannot export this {type(estimator).__name__}: its fitted "
            f"attribute(s) {unknown} are not part of the exported network, which "
            "would then compute something else than the estimator. skae.onnx."
            "_read_network must learn them."
        )
    layers = [
        _Layer(np.asarray(W), np.asarray(b), name)
        for W, b, name in zip(
            estimator.coefs_, estimator.intercepts_, estimator.layer_activations_
        )
    ]
    c = len(layers) // 2
    skips = [np.asarray(S) for S in estimator.skip_coefs_]  # [] without one
    skip_encoder, skip_decoder = skips or (None, None)
    return _Network(
        encoder=tuple(layers[:c]),
        decoder=tuple(layers[c:]),
        skip_encoder=skip_encoder,
        skip_decoder=skip_decoder,
        offset=getattr(estimator, "offset_", None),
    )


# ------------------------------------------------------------------ the graph
class _Graph:
    """The ONNX nodes (skl2onnx's algebra API) computing a :class:`_Network`
    on the input ``X``, built on demand, each node once.

    ``names`` maps an output (``codes``, ``reconstruction``,
    ``score_samples``) to the variable its last node writes; outputs not in
    it get names of skl2onnx's choosing.
    """

    def __init__(self, network: _Network, X, dtype, op_version, names=None):
        self.net = network
        self.X = X
        self.dtype = np.dtype(dtype)
        self.opv = op_version
        self.names = names or {}

    def _op(self, op_type: str, *inputs, output=None, **attrs):
        from skl2onnx.algebra import onnx_ops

        name = self.names.get(output)
        if name is not None:
            attrs["output_names"] = [name]
        return getattr(onnx_ops, f"Onnx{op_type}")(
            *inputs, op_version=self.opv, **attrs
        )

    def _const(self, array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(array, dtype=self.dtype)

    def _stack(self, A, layers, skip_input, skip, output: str):
        """``layers`` applied to ``A``; ``skip_input @ skip`` joins the last
        layer's pre-activation when ``skip`` is not None."""
        for i, layer in enumerate(layers):
            last = i == len(layers) - 1
            Z = self._op("MatMul", A, self._const(layer.coef))
            if last and skip is not None:
                linear = self._op("MatMul", skip_input, self._const(skip))
                Z = self._op("Add", Z, linear)
            op_type = ONNX_ACTIVATIONS[layer.activation]
            end = output if last and op_type is None else None
            A = self._op("Add", Z, self._const(layer.intercept), output=end)
            if op_type is not None:
                A = self._op(op_type, A, output=output if last else None)
        return A

    @cached_property
    def codes(self):
        net = self.net
        return self._stack(self.X, net.encoder, self.X, net.skip_encoder, "codes")

    @cached_property
    def reconstruction(self):
        net = self.net
        return self._stack(
            self.codes, net.decoder, self.codes, net.skip_decoder, "reconstruction"
        )

    @cached_property
    def score_samples(self):
        from skl2onnx.algebra.onnx_ops import OnnxReduceSumSquareApi18

        residual = self._op("Sub", self.X, self.reconstruction)
        sse = OnnxReduceSumSquareApi18(
            residual, axes=[1], keepdims=1, op_version=self.opv
        )
        return self._op("Neg", sse, output="score_samples")

    @cached_property
    def decision_function(self):
        offset = self._const(np.array([self.net.offset]))
        return self._op("Sub", self.score_samples, offset, output="decision_function")

    @cached_property
    def label(self):
        """``predict``: 1 where the decision is >= 0, else -1 (int64)."""
        inlier = self._op("GreaterOrEqual", self.decision_function, self._const([0.0]))
        as_int = self._op("Cast", inlier, to=7)  # INT64: 0 or 1
        twice = self._op("Mul", as_int, np.array([2], dtype=np.int64))
        return self._op("Sub", twice, np.array([1], dtype=np.int64), output="label")


# ------------------------------------------------------- skl2onnx's callbacks
def _export_of(model) -> _Export:
    for export in _EXPORTS:
        if type(model) is export.estimator:
            return export
    raise TypeError(f"skae.onnx has no converter for {type(model).__name__}.")


def _outputs(scope_or_container, model) -> list[str]:
    """Names of the outputs of ``model``'s node, in order, given its options."""
    export = _export_of(model)
    options = scope_or_container.get_options(
        model, dict.fromkeys(export.options, False)
    )
    extra = [_OPTIONAL_OUTPUTS[o] for o in export.options if options[o]]
    return [*export.outputs, *extra]


def _parser(scope, model, inputs, custom_parsers=None):
    """Declare the node of ``model`` and its outputs (skl2onnx parser)."""
    from skl2onnx.common.data_types import guess_tensor_type

    operator = scope.declare_local_operator(_export_of(model).alias, model)
    operator.inputs = inputs
    for name in _outputs(scope, model):
        variable = scope.declare_local_variable(name, guess_tensor_type(inputs[0].type))
        operator.outputs.append(variable)
    return operator.outputs


def _shape_calculator(operator):
    """Output types: the input's float type, ``[N, width]`` (skl2onnx)."""
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
    )
    from skl2onnx.common.utils import check_input_and_output_types

    check_input_and_output_types(
        operator, good_input_types=[FloatTensorType, DoubleTensorType]
    )
    net = _read_network(operator.raw_operator)
    n_rows = operator.inputs[0].get_first_dimension()
    tensor_type = type(operator.inputs[0].type)
    for variable in operator.outputs:
        kind = Int64TensorType if variable.raw_name == "label" else tensor_type
        variable.type = kind([n_rows, net.width(variable.raw_name)])


def _converter(scope, operator, container):
    """Add the nodes of ``operator``'s outputs to the ONNX graph (skl2onnx)."""
    from skl2onnx.common.data_types import guess_numpy_type

    model = operator.raw_operator
    X = operator.inputs[0]
    kinds = _outputs(container, model)
    graph = _Graph(
        _read_network(model),
        X,
        guess_numpy_type(X.type),
        container.target_opset,
        names=dict(zip(kinds, operator.outputs)),
    )
    for kind in kinds:
        getattr(graph, kind).add_to(scope, container)


def register_converters():
    """Register skae's ONNX converters with skl2onnx.

    After this call ``skl2onnx.to_onnx`` converts every skae estimator, alone
    or inside a ``Pipeline``, ``ColumnTransformer`` or ``FeatureUnion``. The
    exported node outputs the codes (``transform``); the converter options
    ``reconstruct=True`` and ``score_samples=True`` add the reconstruction
    and the per-sample score (``score_samples``, shape ``[N, 1]``) as further
    outputs, in that order. Calling it again is harmless.

    Raises
    ------
    ImportError
        If skl2onnx is not installed: it comes with skae's ``onnx`` extra,
        ``pip install "skae[onnx]"``.

    See Also
    --------
    skl2onnx.to_onnx : Convert a fitted scikit-learn pipeline to ONNX.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from skl2onnx import to_onnx
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skae import AutoencoderTransformer
    >>> from skae.onnx import register_converters
    >>> register_converters()
    >>> X = np.random.RandomState(0).normal(size=(100, 6)).astype(np.float32)
    >>> ae = AutoencoderTransformer(n_components=2, hidden_layer_sizes=(),
    ...                             tol=1e-3, random_state=0)
    >>> pipe = make_pipeline(StandardScaler(), ae).fit(X)
    >>> onx = to_onnx(pipe, X[:1], options={AutoencoderTransformer:
    ...                                     {"score_samples": True}})
    >>> sess = ort.InferenceSession(onx.SerializeToString(),
    ...                             providers=["CPUExecutionProvider"])
    >>> [o.name for o in sess.get_outputs()]
    ['codes', 'score_samples']
    >>> codes, scores = sess.run(None, {"X": X})
    >>> bool(np.allclose(codes, pipe.transform(X), rtol=1e-5, atol=1e-6))
    True
    >>> Xs = pipe[0].transform(X)
    >>> bool(np.allclose(scores[:, 0], ae.score_samples(Xs), rtol=1e-4))
    True
    """
    try:
        from skl2onnx import update_registered_converter
    except ImportError as exc:
        raise ImportError(
            "skae.onnx needs skl2onnx and onnx, which come with skae's 'onnx' "
            'extra: pip install "skae[onnx]" (onnxruntime, also in it, runs '
            "the exported models)."
        ) from exc
    for export in _EXPORTS:
        update_registered_converter(
            export.estimator,
            export.alias,
            _shape_calculator,
            _converter,
            parser=_parser,
            options={option: [False, True] for option in export.options},
        )
