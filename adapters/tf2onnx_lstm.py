"""Adapter for tf2onnx: a Keras 2 (``tf_keras``) LSTM stack converted to ONNX by
``tf2onnx.convert.from_keras`` and run by ONNX Runtime's CPU provider.

The model, the conversion and the run are the standalone reproducer's
(:mod:`adapters.standalone.tf2onnx_lstm`), so a reproducer runs exactly what the suite ran;
each converted model is kept for the next run of the same structure, shapes and weights.
The layout is Keras's (:data:`adapters.keras_lstm.KERAS_LAYOUT`).

tf2onnx rewrites the while loop Keras runs a layer in into ONNX's ``LSTM`` operator, whose
activations it sets from the layer's; a masked layer (lengths) stays a ``Loop``, whose
selects tf2onnx turns into arithmetic (a registered deviation: NaN at padding reaches the
results). Otherwise the model computes what the Keras layer computes, Keras's conventions
included: a lone layer carries its last output over padded steps, ``Bidirectional`` zeroes
them. The models are float32 (ONNX Runtime's LSTM has no float64). The exact gelu is
refused: tf2onnx leaves its Erfc unconverted, and the model does not load.
"""

from __future__ import annotations

from dataclasses import asdict
from importlib.metadata import version

import numpy as np

from reference import LSTMInputs, LSTMParams, LSTMResult, LSTMSpec
from reference.activations import bind_activation

from .base import RunConfig, RunRequest
from .converted import ConvertingAdapter, reproducer_case
from .keras_lstm import KERAS_LAYOUT
from .layouts import to_backend
from .standalone import STANDALONE
from .support import INTERFACE_VERSION, STRUCTURAL, Support

# The oracle's activations tf_keras has, by its names there (measured equal on [-8, 8]);
# tf_keras's hard_sigmoid is ONNX's (0.2 x + 0.5), not Keras 3's, and it has no hard_silu.
TF_KERAS_ACTIVATIONS = {
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "identity": "linear",
    "hard_sigmoid": "hard_sigmoid",
    "silu": "swish",
    "gelu": "gelu",
    "selu": "selu",
    "elu": "elu",
    "softsign": "softsign",
    "softplus": "softplus",
    "exponential": "exponential",
    "relu6": "relu6",
}


def tf_keras_activation_reason(spec: LSTMSpec, role: str) -> str:
    """Why tf_keras cannot take ``spec``'s activation in ``role`` ('' when it can): it has
    each by name only, at the oracle's default parameters."""
    bound = spec.activation(role)
    if bound.name not in TF_KERAS_ACTIVATIONS:
        return f"tf_keras.activations has no {bound.name}"
    if dict(bound.params) != dict(bind_activation(bound.name).params):
        return f"tf_keras.activations' {TF_KERAS_ACTIVATIONS[bound.name]} takes its default parameters only in a layer's config"
    return ""


TF2ONNX_LEAVES_ERFC = (
    "tf2onnx leaves the Erfc of TensorFlow's exact gelu unconverted (it has no handler for it, and ONNX no such operator), "
    "so ONNX Runtime refuses the model: 'No Op registered for Erfc with domain_version of 17' (onnx/tensorflow-onnx PR #2463, open)"
)


def runner():
    """The standalone reproducer's module: what builds, converts and runs a model."""
    from .standalone import tf2onnx_lstm

    return tf2onnx_lstm


class Tf2OnnxLSTMAdapter(ConvertingAdapter):
    """tf_keras LSTMs converted by tf2onnx, run by ONNX Runtime: float32, no gradients."""

    name = "tf2onnx"
    layout = KERAS_LAYOUT
    packages = ("tf2onnx", "onnxruntime", "tensorflow-cpu", "tf_keras")
    standalone_source = STANDALONE / "tf2onnx_lstm.py"
    interface_version = INTERFACE_VERSION
    supports = Support(
        features=STRUCTURAL - {"dropout"},
        activations=set(TF_KERAS_ACTIVATIONS),
        dtypes={"float32"},
        directions={"forward", "bidirectional", "reverse"},
        shared_activations={"candidate_activation", "cell_activation"},
    )
    costly_runs = True

    def _import_version(self) -> str:
        import onnxruntime
        import tensorflow as tf

        runner()
        import tf2onnx  # noqa: F401

        return f"{version('tf2onnx')} (from TensorFlow {tf.__version__} and tf_keras {version('tf_keras')}, run by onnxruntime {onnxruntime.__version__})"

    def conventions(self, config: RunConfig) -> dict[str, str]:
        """Keras's: a lone layer carries its last output over padded steps."""
        return {} if config.spec.bidirectional else {"padded_outputs": "carried"}

    def _unsupported(self, config: RunConfig) -> list[str]:
        spec = config.spec
        reasons = ["keras.layers.LSTM has no projection"] if spec.proj_size else []
        if "gelu" in (spec.candidate_activation, spec.gate_activation):
            reasons.append(TF2ONNX_LEAVES_ERFC)
        return reasons + list(filter(None, (tf_keras_activation_reason(spec, role) for role in ("gate_activation", "candidate_activation"))))

    def parameter_count(self, spec: LSTMSpec) -> int:
        """What tf_keras counts in the model it builds (one sample, one step)."""
        case = {"spec": asdict(spec), "lengths": False, "initial_states": False, "h0_shape": [spec.num_cells, 1, spec.output_size]}
        return runner().keras_model(case, None, 1).count_params()

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        given = inputs.initial_states_given
        case = reproducer_case(self.name, request, lengths=request.lengths is not None, initial_states=given)
        weights = to_backend(KERAS_LAYOUT, request.spec, params)
        arrays = {"x": request.x}
        if request.lengths is not None:
            arrays["lengths"] = np.asarray(request.lengths)
        if given:
            arrays.update(h0=inputs.h0, c0=inputs.c0)
        values = runner().results(case, self.converted.get(case, weights, inputs.steps, runner().convert), arrays, self.threads)
        return LSTMResult(*(np.asarray(values[name], dtype=np.float64) for name in ("outputs", "h_n", "c_n")))
