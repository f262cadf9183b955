"""Adapter for onnx2tf: the ONNX LSTM operator converted into a TFLite model, run by LiteRT.

The models are the onnxruntime backend's (:meth:`OnnxRuntimeLSTMAdapter.model`: one ``LSTM``
node per layer, opset 22, time-major), given the run's static shapes and converted by
``onnx2tf.convert`` into a Keras model and by TensorFlow's TFLite converter, as onnx2tf's
own float32 step converts it, into a float32 ``.tflite``, which LiteRT's interpreter runs
on ``threads`` threads. A float16 model becomes a float32 one (its inputs and outputs
float32), held to float16's tolerances. The code that converts and runs a model is the standalone
reproducer's (:mod:`adapters.standalone.onnx2tf_lstm`), so a reproducer runs exactly what
the suite ran. onnx2tf rewrites each LSTM node into a Keras RNN of its own cell
(``onnx2tf/ops/LSTM.py``), which the TFLite converter turns into a ``WHILE`` loop of
``FULLY_CONNECTED``, ``LOGISTIC`` and ``TANH`` ops, not LiteRT's fused LSTM.

onnx2tf 1.29.24, the newest release for Python 3.11, pins TensorFlow 2.19 and NumPy 1, which
the suite's own environment cannot share: install it in an environment of its own
(``.ci/onnx2tf-environment.txt``) and point the suite at that interpreter
(``--interpreter onnx2tf=PYTHON``).
"""

from __future__ import annotations

from importlib.metadata import version

import numpy as np

from reference import LSTMInputs, LSTMParams, LSTMResult

from .base import RunConfig, RunRequest
from .converted import ConvertingAdapter
from .errors import BackendFailure
from .onnxruntime_lstm import TIME_MAJOR_MODELS, OnnxRuntimeLSTMAdapter, model_results
from .standalone import STANDALONE


def runner():
    """The standalone reproducer's module: what converts and runs a model (ImportError without onnx2tf)."""
    from .standalone import onnx2tf_lstm

    return onnx2tf_lstm


class Onnx2TfLSTMAdapter(ConvertingAdapter, OnnxRuntimeLSTMAdapter):
    """The ONNX LSTM operator through onnx2tf and LiteRT: float32, float16 (as a float32 model)
    and float64 (which fails to convert, a known deviation), time-major, no gradients."""

    name = "onnx2tf"
    packages = ("onnx2tf", "ai-edge-litert", "tensorflow-cpu")
    standalone_source = STANDALONE / "onnx2tf_lstm.py"
    # Each run converts a model: 1.6 s for one layer, 2.6 s for two (onnx2tf and the TFLite converter).
    costly_runs = True

    def _import_version(self) -> str:
        import onnx2tf  # noqa: F401  (the import is what is checked)

        return f"{version('onnx2tf')} (TensorFlow {version('tensorflow-cpu')}, ai-edge-litert {version('ai-edge-litert')})"

    def conventions(self, config: RunConfig) -> dict[str, str]:
        """None: onnx2tf ignores ``sequence_lens`` (a known deviation, with its model), so no
        sequence is empty."""
        return {}

    def _unsupported(self, config: RunConfig) -> list[str]:
        reasons = ["the ONNX LSTM operator has no projection"] if config.spec.proj_size else []
        if config.batch_first:
            reasons.append(TIME_MAJOR_MODELS)
        return reasons

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        spec, dtype = request.spec, request.dtype
        model = self.run_model(request, inputs, params)
        feeds = runner().model_feeds({"dtype": dtype}, inputs_of(inputs))
        shapes = {name: list(feed.shape) for name, feed in feeds.items()}
        serialized = model.SerializeToString()
        # Kept by what made it: the serialized model (its weights included) and the feeds' shapes.
        converted = self.converted.get({"shapes": shapes}, {"model": np.frombuffer(serialized, dtype=np.uint8)}, 0, lambda *_: converted_model(serialized, feeds))
        values = runner().run(converted, feeds, self.threads)
        names = ("Y_h", "Y_c") if request.last_output_only else ("Y", "Y_h", "Y_c")
        return model_results(spec, [np.asarray(values[name], dtype=np.float64) for name in names], inputs.batch, request.last_output_only)


def converted_model(model: bytes, feeds: dict[str, np.ndarray]) -> bytes:
    """:func:`adapters.standalone.onnx2tf_lstm.convert`, with a conversion that ends the process
    (onnx2tf 1.27.10 logs a failed conversion and calls ``sys.exit(1)``; 1.28.8 on raise) raised as the
    backend's failure of the run."""
    try:
        return runner().convert(model, feeds)
    except SystemExit as ended:
        raise BackendFailure(f"onnx2tf ended the conversion with sys.exit({ended.code}) (its log above says why)") from ended


def inputs_of(inputs: LSTMInputs) -> dict[str, np.ndarray]:
    """A standalone reproducer's ``inputs`` for ``inputs``: ``x``, and ``lengths``, ``h0`` and ``c0`` where given."""
    arrays = {"x": inputs.x}
    if inputs.lengths is not None:
        arrays["lengths"] = inputs.lengths
    if inputs.initial_states_given:
        arrays["h0"], arrays["c0"] = inputs.h0, inputs.c0
    return arrays
