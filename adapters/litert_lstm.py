"""Adapter for LiteRT (TensorFlow Lite): a Keras 2 (``tf_keras``) LSTM stack converted by
TensorFlow's TFLite converter into its fused ``UNIDIRECTIONAL_SEQUENCE_LSTM`` ops, run by the
``ai_edge_litert`` interpreter.

The model, the conversion and the run are the standalone reproducer's
(:mod:`adapters.standalone.litert_lstm`), so a reproducer runs exactly what the suite ran. A
conversion takes about a second per layer and direction, so each converted model is kept for
the next run of the same structure, shapes and weights (the determinism and threads checks
run one model several times), and the backend's runs are costly (smaller designs).

The layout is Keras's (:data:`adapters.keras_lstm.KERAS_LAYOUT`): tf_keras's LSTM stores
the same three arrays per cell. The fused op computes in float32. float16 is the
converter's float16 weights: each weight stored in float16 and dequantized to float32 when
the model is prepared, the converter's one float16 option (a float16 case's data is
exact in float16; the run is held to float16's error model, though only its weights are
stored in float16).
The converter's dynamic-range quantization (int8 weights, activations quantized per batch
as the model runs) is not run: the suite has no integer dtype, and no error model of
quantized activations to hold it to.

What the converter does not fuse, measured on TensorFlow 2.21 (each one becomes a ``WHILE``
loop of unfused ops, which this backend does not run; see ``tests/adapters/test_litert_fusion.py``):
an LSTM without bias, a masked one (lengths), and activations other than sigmoid gates with
tanh. It refuses float64 outright. A Keras 3 LSTM is never fused, nor is a tf_keras one with
``return_state=True``: final states are read from the fused op's state tensors instead.
"""

from __future__ import annotations

from dataclasses import asdict
from importlib.metadata import version

import numpy as np

from reference import LSTMInputs, LSTMParams, LSTMResult, LSTMSpec

from .base import RunConfig, RunRequest
from .converted import ConvertingAdapter, reproducer_case
from .keras_lstm import KERAS_LAYOUT
from .layouts import to_backend
from .standalone import STANDALONE
from .support import INTERFACE_VERSION, Support

NOT_FUSED_WITHOUT_BIAS = "the TFLite converter does not fuse a Keras LSTM without bias (it becomes a WHILE loop)"
NOT_FUSED_WITH_MASK = "the TFLite converter does not fuse a masked Keras LSTM (per-sequence lengths; it becomes a WHILE loop)"
NOT_FUSED_ACTIVATIONS = "the TFLite converter fuses only a Keras LSTM with sigmoid gates and tanh (others become a WHILE loop)"
CONVERTER_REJECTS_FLOAT64 = "the TFLite converter rejects a float64 Keras LSTM (a return type mismatch in standard_lstm)"


def runner():
    """The standalone reproducer's module: what builds, converts and runs a model."""
    from .standalone import litert_lstm

    return litert_lstm


class LiteRTLSTMAdapter(ConvertingAdapter):
    """tf_keras LSTMs through the TFLite converter's fused LSTM, run by LiteRT: float32 and
    float16 weights, no gradients."""

    name = "litert"
    layout = KERAS_LAYOUT
    packages = ("ai-edge-litert", "tensorflow-cpu", "tf_keras")
    standalone_source = STANDALONE / "litert_lstm.py"
    interface_version = INTERFACE_VERSION
    supports = Support(
        features={"layers", "no_bias", "lengths", "zero_length", "initial_states", "batch_first"},
        activations={"sigmoid", "tanh", "relu", "identity"},
        dtypes={"float32", "float64", "float16"},
        directions={"forward", "bidirectional", "reverse"},
        shared_activations={"candidate_activation", "cell_activation"},
    )
    costly_runs = True

    def _import_version(self) -> str:
        import tensorflow as tf

        runner()
        import ai_edge_litert.interpreter  # noqa: F401

        return f"{version('ai-edge-litert')} (converted by TensorFlow {tf.__version__} from tf_keras {version('tf_keras')})"

    def conventions(self, config: RunConfig) -> dict[str, str]:
        """None: the backend runs no per-sequence lengths, so it pads nothing."""
        return {}

    def _unsupported(self, config: RunConfig) -> list[str]:
        spec = config.spec
        reasons = []
        if not spec.bias:
            reasons.append(NOT_FUSED_WITHOUT_BIAS)
        if config.lengths:
            reasons.append(NOT_FUSED_WITH_MASK)
        if not spec.has_default_activations:
            reasons.append(NOT_FUSED_ACTIVATIONS)
        if config.dtype == "float64":
            reasons.append(CONVERTER_REJECTS_FLOAT64)
        return reasons

    def parameter_count(self, spec: LSTMSpec) -> int:
        """What tf_keras counts in the model it builds (one sample, one step)."""
        case = {"spec": asdict(spec), "initial_states": False, "h0_shape": [spec.num_cells, 1, spec.output_size]}
        return runner().keras_model(case, None, 1).count_params()

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        case = reproducer_case(self.name, request, initial_states=inputs.initial_states_given)
        weights = to_backend(KERAS_LAYOUT, request.spec, params)
        arrays = {"x": request.x, **({"h0": inputs.h0, "c0": inputs.c0} if inputs.initial_states_given else {})}
        values = runner().results(case, weights, self.converted.get(case, weights, inputs.steps, runner().convert), arrays, self.threads)
        return LSTMResult(*(np.asarray(values[name], dtype=np.float64) for name in ("outputs", "h_n", "c_n")))
