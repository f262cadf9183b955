"""Adapters for torch.nn.LSTM exported to ONNX with ``torch.onnx.export`` and run in ONNX Runtime (CPU).

Two backends, one per exporter torch 2.13 has: ``torch-onnx`` (the default,
``dynamo=True``: torch.export, then onnxscript) and ``torch-onnx-torchscript`` (the
TorchScript tracer, ``dynamo=False``). Each request builds the torch.nn.LSTM the torch
adapter builds, loads the canonical parameters (torch's layout, gate order i, f, g, o),
exports it the way a deployment does, and runs the exported model: inputs ``x`` (then
``lengths`` [B] int64, ``h0`` [L*D, B, R] and ``c0`` [L*D, B, H] when the request has
them), outputs ``y``, ``h_n`` and ``c_n``. The batch and time axes are dynamic, and the
example input of the export has other sizes on both than the request's, so a model that
froze either axis fails. Lengths go through ``pack_padded_sequence(...,
enforce_sorted=False)`` and ``pad_packed_sequence(..., total_length=T)`` inside the
exported module, as packed-sequence models are exported.

The parameter count is what the deployed model holds: the entries of the initializers of
its LSTM nodes' weight inputs. What neither exporter nor the runtime takes is declared
with their own words (found by running them): ONNX Runtime's LSTM has no float64 kernel,
the TorchScript exporter refuses projections and torch.export cannot trace
``pack_padded_sequence`` with a dynamic batch.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

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
from .standalone import STANDALONE
from .support import INTERFACE_VERSION, STRUCTURAL, Support
from .shared_layouts import TORCH_LAYOUT
from .torch_lstm import load_torch_params, torch_module

TORCHSCRIPT_REJECTS_PROJECTION = "torch.onnx (TorchScript): Unsupported: ONNX export of operator LSTM, LSTMs with projections"
TORCH_EXPORT_REJECTS_PACKING = (
    "torch.onnx (dynamo): torch.export cannot trace pack_padded_sequence "
    "(zeros(): argument 'size' failed to unpack the object at pos 2)"
)


def forget_cached_lstm_kernels() -> None:
    """Make the next export behave as the first of its process. The dynamo exporter swaps its
    while-loop decomposition of aten.lstm (dynamic time axis) into the operator's py_kernels
    without clearing the operator's dispatch cache, so from the second export in a process
    on, the cached Python-loop decomposition runs, specializes the time axis, and the model
    silently keeps the example's length (torch 2.13; tests/adapters/test_onnx_exports.py)."""
    import torch

    torch.ops.aten.lstm.input._dispatch_cache.clear()


def example_size(size: int) -> int:
    """An example axis size unlike the request's ``size``: 2, or 3 when ``size`` is 2 (torch.export
    takes sizes 0 and 1 for constants, and the export's time grows with the example's length)."""
    return 3 if size == 2 else 2


def example_inputs(spec: LSTMSpec, config: RunConfig, steps: int, batch: int, dtype) -> tuple:
    """Export inputs of other sizes than the request's ``steps`` and ``batch`` (distinct
    lengths, the first sequence full)."""
    import torch

    steps, batch = example_size(steps), example_size(batch)
    shape = (batch, steps, spec.input_size) if config.batch_first else (steps, batch, spec.input_size)
    inputs = [torch.zeros(shape, dtype=dtype)]
    if config.lengths:
        inputs.append(torch.tensor([max(1, steps - row) for row in range(batch)], dtype=torch.int64))
    if config.initial_states:
        inputs.append(torch.zeros(spec.num_cells, batch, spec.output_size, dtype=dtype))
        inputs.append(torch.zeros(spec.num_cells, batch, spec.hidden_size, dtype=dtype))
    return tuple(inputs)


def input_names(config: RunConfig) -> list[str]:
    return ["x"] + (["lengths"] if config.lengths else []) + (["h0", "c0"] if config.initial_states else [])


class TorchOnnxAdapter(ThreadedRuns, BaseAdapter):
    """torch.nn.LSTM through ``torch.onnx.export`` (dynamo) into ONNX Runtime (CPU): float32, no gradients."""

    name = "torch-onnx"
    layout = TORCH_LAYOUT
    interface_version = INTERFACE_VERSION
    supports = Support(features=STRUCTURAL, directions={"forward", "bidirectional"})
    standalone_source = STANDALONE / "torch_onnx.py"
    costly_runs = True  # an export per distinct model: about 1 to 8 s (torch), 0.1 to 4 s (paddle)
    dynamo = True

    def __init__(self) -> None:
        self._models = ModelCache()

    def _import_version(self) -> str:
        import torch

        import_onnxruntime()
        if self.dynamo:
            import onnxscript  # noqa: F401
        return torch.__version__

    def _unsupported(self, config: RunConfig) -> list[str]:
        reasons = []
        if config.zero_length:
            reasons.append("pack_padded_sequence rejects sequences of length 0")
        if config.dtype == "float64":
            reasons.append(RUNTIME_REJECTS_FLOAT64)
        reasons.extend(self._exporter_reasons(config))
        return reasons

    def _exporter_reasons(self, config: RunConfig) -> list[str]:
        return [TORCH_EXPORT_REJECTS_PACKING] if config.lengths else []

    def parameter_count(self, spec: LSTMSpec) -> int:
        """The weights the exported model's LSTM nodes hold: of the last model exported for
        ``spec``, else of a model exported with seeded parameters."""
        model = self._models.latest(lambda key: key[0] == spec)
        if model is None:
            config = RunConfig(spec=spec, dtype="float32")
            model = self.export(config, init_params(spec, seed=0), steps=2, batch=2)
        return lstm_weight_count(model)

    def export(self, config: RunConfig, params: LSTMParams, steps: int, batch: int) -> bytes:
        """The serialized ONNX model of torch.nn.LSTM with ``params``, exported from inputs of
        other sizes than ``steps`` and ``batch``."""
        import torch

        spec, dtype = config.spec, getattr(torch, config.dtype)
        lstm = torch_module(spec, config.dropout, config.dtype, batch_first=config.batch_first)
        load_torch_params(lstm, spec, params)
        # What is exported: the module the standalone reproducers export (adapters.standalone.torch_onnx).
        from .standalone.torch_onnx import DeployedLSTM

        module = DeployedLSTM(lstm.eval(), config.batch_first, config.lengths, config.initial_states)
        args = example_inputs(spec, config, steps, batch, dtype)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), quiet_loggers():
            warnings.simplefilter("ignore")
            return self._export(module, args, config)

    def _export(self, module, args: tuple, config: RunConfig) -> bytes:
        import torch

        time_axis, batch_axis = (1, 0) if config.batch_first else (0, 1)
        steps, batch = torch.export.Dim("T"), torch.export.Dim("B")
        forget_cached_lstm_kernels()
        rest = [{0: batch}] if config.lengths else []
        rest += [{1: batch}, {1: batch}] if config.initial_states else []
        shapes = ({time_axis: steps, batch_axis: batch}, tuple(rest)) if rest else ({time_axis: steps, batch_axis: batch},)
        program = torch.onnx.export(
            module, args, dynamo=True, input_names=input_names(config), output_names=["y", "h_n", "c_n"], dynamic_shapes=shapes
        )
        return program.model_proto.SerializeToString()

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        config = request.config()
        _, ort_session = self._models.get(model_key(request, params), lambda: self.export(config, params, inputs.steps, inputs.batch), self.threads)
        return LSTMResult(*run_session(ort_session, exported_feeds(request, inputs)))


class TorchOnnxTorchScriptAdapter(TorchOnnxAdapter):
    """torch.nn.LSTM through the TorchScript ``torch.onnx.export`` (``dynamo=False``) into ONNX Runtime."""

    name = "torch-onnx-torchscript"
    dynamo = False
    costly_runs = False  # an export takes about 0.1 s

    def _exporter_reasons(self, config: RunConfig) -> list[str]:
        return [TORCHSCRIPT_REJECTS_PROJECTION] if config.spec.proj_size else []

    def _export(self, module, args: tuple, config: RunConfig) -> bytes:
        import torch

        time_axis, batch_axis = (1, 0) if config.batch_first else (0, 1)
        names = input_names(config)
        axes = {"x": {time_axis: "T", batch_axis: "B"}, "lengths": {0: "B"}, "h0": {1: "B"}, "c0": {1: "B"}}
        axes.update({"y": {time_axis: "T", batch_axis: "B"}, "h_n": {1: "B"}, "c_n": {1: "B"}})
        buffer = io.BytesIO()
        torch.onnx.export(
            module,
            args,
            buffer,
            dynamo=False,
            input_names=names,
            output_names=["y", "h_n", "c_n"],
            dynamic_axes={name: axes[name] for name in [*names, "y", "h_n", "c_n"]},
        )
        return buffer.getvalue()


@contextlib.contextmanager
def quiet_loggers():
    """Silence torch's export loggers (progress lines and hints) while exporting."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)
