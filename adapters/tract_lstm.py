"""Adapter for tract, the Rust inference engine, running the ONNX ``LSTM`` operator.

The models are the onnxruntime backend's (:meth:`OnnxRuntimeLSTMAdapter.model`: one ``LSTM``
node per layer, opset 22, time-major), serialized and read by tract's ONNX frontend through
its Python binding, with every input's shape and type set from the run's feeds (tract aborts
the process on the model's dynamic T and B). The code that reads and runs a model is the
standalone reproducer's (:mod:`adapters.standalone.tract_lstm`), so a reproducer runs exactly
what the suite ran.

What tract refuses, in its own words (measured on 0.23.0 to 0.23.9): ``sequence_lens`` as a
model input ("Non constant seq_len is not supported"; as an initializer, lengths that differ
give "Non uniform seq_len is not supported") and float64 ("Sigmoid does not support F64" with
initial states; without them the float32 zero states it builds fail first, as they do for a
float16 LSTM, a registered deviation). ONNX itself has no projection, cell clip or projection
clip, and the models are time-major.

What it reads and then leaves out (registered deviations, each with its model): the reverse
direction, ``input_forget``, ``clip`` and the activations, so such a model runs as a forward,
uncoupled, unclipped sigmoid/tanh/tanh LSTM.
"""

from __future__ import annotations

from importlib.metadata import version

from reference import LSTMInputs, LSTMParams, LSTMResult

from .base import RunConfig, RunRequest
from .onnxruntime_lstm import TIME_MAJOR_MODELS, OnnxRuntimeLSTMAdapter, model_feeds, model_results
from .standalone import STANDALONE

TRACT_REJECTS_LENGTHS = (
    "tract: Non constant seq_len is not supported (sequence_lens as a model input; as an initializer, "
    "lengths that differ: Non uniform seq_len is not supported)"
)
TRACT_REJECTS_FLOAT64 = "tract: Sigmoid does not support F64 (with initial states; without them its float32 zero states fail first)"


def runner():
    """The standalone reproducer's module: what reads and runs a model (ImportError without tract)."""
    from .standalone import tract_lstm

    return tract_lstm


class TractLSTMAdapter(OnnxRuntimeLSTMAdapter):
    """The ONNX LSTM operator in tract: float32 and float16, time-major, no lengths, no gradients."""

    name = "tract"
    packages = ("tract",)
    standalone_source = STANDALONE / "tract_lstm.py"

    def _import_version(self) -> str:
        runner()
        return version("tract")

    def conventions(self, config: RunConfig) -> dict[str, str]:
        """None: tract runs no per-sequence lengths, so no sequence is empty."""
        return {}

    def _unsupported(self, config: RunConfig) -> list[str]:
        reasons = ["the ONNX LSTM operator has no projection"] if config.spec.proj_size else []
        if config.lengths:
            reasons.append(TRACT_REJECTS_LENGTHS)
        if config.dtype == "float64":
            reasons.append(TRACT_REJECTS_FLOAT64)
        if config.batch_first:
            reasons.append(TIME_MAJOR_MODELS)
        return reasons

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        spec, dtype = request.spec, request.dtype
        model = self.run_model(request, inputs, params)
        values = runner().run(model.SerializeToString(), list(model_feeds(inputs, dtype).values()))
        return model_results(spec, values, inputs.batch, request.last_output_only)
