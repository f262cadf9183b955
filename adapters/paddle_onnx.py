"""Adapter for paddle.nn.LSTM exported with Paddle's own ONNX export (``paddle.onnx.export``,
which calls paddle2onnx) and run in ONNX Runtime (CPU).

Each request builds the paddle.nn.LSTM the ``paddle`` adapter builds (same layout: cells
``{k}.cell`` or ``{k}.cell_fw``/``{k}.cell_bw``, gate order i, f, g, o, projection
``weight_ho`` [H, P]), loads the canonical parameters, and exports it with
``paddle.onnx.export`` at its default opset, with ``InputSpec`` shapes whose batch and time
axes are ``None`` (dynamic): ``x`` [T, B, I] (``time_major``) or [B, T, I], then
``lengths`` [B] int64 (passed as ``sequence_length``), ``h0`` [L*D, B, R] and ``c0``
[L*D, B, H] when the request has them. The exported model's three outputs are the
layer's outputs, h_n and c_n.

The parameter count is what the deployed model holds: the floating-point initializers
its LSTM nodes' weight inputs are computed from. What the exporter or the runtime refuses
is declared with their own words, found by running them: ONNX Runtime's LSTM has no
float64 kernel, and paddle2onnx aborts the process on a projection (paddle.nn.LSTM then
traces to a step loop). paddle2onnx calls ``sys.exit`` when a conversion fails; the
adapter turns that into :class:`ExportFailed` with the error paddle2onnx logged.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile

from reference import LSTMInputs, LSTMParams, LSTMResult, LSTMSpec, init_params

from .base import BaseAdapter, RunConfig, RunRequest, ThreadedRuns
from .onnx_session import (
    RUNTIME_REJECTS_FLOAT64,
    ModelCache,
    exported_feeds,
    import_onnxruntime,
    lstm_weight_count,
    model_key,
    run_session,
)
from .paddle_lstm import PADDLE_LAYOUT, PaddleStateDict, load_params, paddle_layer
from .paddle_runtime import import_paddle
from .standalone import STANDALONE
from .support import INTERFACE_VERSION, STRUCTURAL, Support

PADDLE2ONNX_ABORTS_ON_PROJECTION = (
    "paddle2onnx: Due to the unsupported operators, the conversion is aborted (with a projection, paddle.nn.LSTM "
    "traces to a pd_op.while step loop, which paddle2onnx cannot convert; it aborts the process)"
)
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def deployed_layer(lstm, lengths: bool, initial_states: bool):
    """A layer around ``lstm`` taking (x, [lengths], [h0, c0]) and returning (y, h_n, c_n): what
    is exported, the one the standalone reproducers export (:mod:`adapters.standalone.paddle_onnx`).
    Paddle's tracing reads the signature of ``forward``, so each combination of inputs gets its own."""
    from .standalone.paddle_onnx import FORWARDS, DeployedLSTM

    DeployedLSTM.forward = FORWARDS[lengths, initial_states]
    return DeployedLSTM(lstm)


class ExportFailed(RuntimeError):
    """paddle2onnx gave up (it logs the reason and calls ``sys.exit``)."""


def input_specs(spec: LSTMSpec, config: RunConfig) -> list:
    """The ``InputSpec`` of each exported input, batch and time axes dynamic."""
    paddle = import_paddle()
    InputSpec = paddle.static.InputSpec
    specs = [InputSpec([None, None, spec.input_size], config.dtype, "x")]
    if config.lengths:
        specs.append(InputSpec([None], "int64", "lengths"))
    if config.initial_states:
        specs.append(InputSpec([spec.num_cells, None, spec.output_size], config.dtype, "h0"))
        specs.append(InputSpec([spec.num_cells, None, spec.hidden_size], config.dtype, "c0"))
    return specs


class PaddleOnnxAdapter(ThreadedRuns, PaddleStateDict, BaseAdapter):
    """paddle.nn.LSTM through ``paddle.onnx.export`` (paddle2onnx) into ONNX Runtime (CPU): float32, no gradients."""

    name = "paddle-onnx"
    layout = PADDLE_LAYOUT
    interface_version = INTERFACE_VERSION
    supports = Support(features=STRUCTURAL, directions={"forward", "bidirectional"})
    standalone_source = STANDALONE / "paddle_onnx.py"
    costly_runs = True  # an export per distinct model: about 1 to 8 s (torch), 0.1 to 4 s (paddle)

    def __init__(self) -> None:
        self._models = ModelCache()

    def _import_version(self) -> str:
        import paddle2onnx

        paddle = import_paddle()
        import_onnxruntime()
        return f"{paddle.__version__} (paddle2onnx {paddle2onnx.__version__})"

    def _unsupported(self, config: RunConfig) -> list[str]:
        reasons = []
        if config.spec.proj_size:
            reasons.append(PADDLE2ONNX_ABORTS_ON_PROJECTION)
        if config.dtype == "float64":
            reasons.append(RUNTIME_REJECTS_FLOAT64)
        return reasons

    def parameter_count(self, spec: LSTMSpec) -> int:
        """The weights the exported model's LSTM nodes are computed from: of the last model
        exported for ``spec``, else of a model exported with seeded parameters."""
        model = self._models.latest(lambda key: key[0] == spec)
        if model is None:
            model = self.export(RunConfig(spec=spec, dtype="float32"), init_params(spec, seed=0))
        return lstm_weight_count(model)

    def export(self, config: RunConfig, params: LSTMParams) -> bytes:
        """The serialized ONNX model ``paddle.onnx.export`` writes for paddle.nn.LSTM with ``params``;
        :class:`ExportFailed` with paddle2onnx's logged error where it exits instead of raising."""
        paddle = import_paddle()
        spec = config.spec
        lstm = paddle_layer(spec, config.dtype, config.dropout, time_major=not config.batch_first)
        load_params(lstm, spec, params, config.dtype)
        layer = deployed_layer(lstm, config.lengths, config.initial_states)
        layer.eval()
        log = io.StringIO()
        with tempfile.TemporaryDirectory() as directory, contextlib.redirect_stdout(log):
            path = os.path.join(directory, "lstm")
            try:
                paddle.onnx.export(layer, path, input_spec=input_specs(spec, config))
            except SystemExit:
                errors = [ANSI_ESCAPE.sub("", line) for line in log.getvalue().splitlines() if "[ERROR]" in line]
                raise ExportFailed("paddle2onnx: " + " ".join(errors or ["exited without a reason"])) from None
            with open(f"{path}.onnx", "rb") as model:
                return model.read()

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        config = request.config()
        _, ort_session = self._models.get(model_key(request, params), lambda: self.export(config, params), self.threads)
        return LSTMResult(*run_session(ort_session, exported_feeds(request, inputs)))
