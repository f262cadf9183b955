"""Finding adapters by name: built-in ones, installed plug-ins, and ``module:attribute`` strings.

- built-in names: ``torch``, ``paddle``, ``paddle-legacy``, ``onnxruntime``, ``torch-onnx``,
  ``torch-onnx-torchscript``, ``paddle-onnx``, ``keras-torch``, ``keras-jax``, ``keras-tensorflow``,
  ``tensorflow-block``, ``flax``, ``flax-lstmcell``, ``mindspore``, ``openvino``, ``openvino-opset``, ``tract``,
  ``litert``, ``tf2onnx``, ``onnx2tf``;
- installed packages declare adapters in the entry-point group ``lstm_conformance.adapters``
  (``name = "package.module:AdapterClass"``);
- any ``package.module:attribute`` string, where the attribute is an adapter instance,
  or a class or function that returns one when called without arguments;
- ``exec:COMMAND`` or ``exec:FILE.json``: a program in any language speaking the process
  protocol (:mod:`adapters.exec_backend`); the built-in ``tfjs``, ``tfjs-basic-cell`` and ``tfjs-webgl`` (in headless Chromium) are.
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points
from pathlib import Path

from .base import Adapter

ENTRY_POINT_GROUP = "lstm_conformance.adapters"
EXEC_PREFIX = "exec:"
# Built-in backends that are programs speaking the process protocol, by their declaration files.
EXEC_DECLARATIONS = Path(__file__).resolve().parent / "exec"
# The members of adapters.base.Adapter, in the order its documentation lists them.
ADAPTER_MEMBERS = (
    "name",
    "parameter_layout",
    "availability",
    "unsupported",
    "parameter_count",
    "canonical_to_backend",
    "backend_to_canonical",
    "run",
)

BUILTIN_ADAPTERS = {
    "torch": "adapters.torch_lstm:TorchLSTMAdapter",
    "paddle": "adapters.paddle_lstm:PaddleLSTMAdapter",
    "paddle-legacy": "adapters.paddle_legacy:PaddleLegacyLSTMAdapter",
    "onnxruntime": "adapters.onnxruntime_lstm:OnnxRuntimeLSTMAdapter",
    "torch-onnx": "adapters.torch_onnx:TorchOnnxAdapter",
    "torch-onnx-torchscript": "adapters.torch_onnx:TorchOnnxTorchScriptAdapter",
    "paddle-onnx": "adapters.paddle_onnx:PaddleOnnxAdapter",
    "keras-torch": "adapters.keras_torch:KerasTorchLSTMAdapter",
    "keras-jax": "adapters.keras_jax:KerasJaxLSTMAdapter",
    "keras-tensorflow": "adapters.keras_tensorflow:KerasTensorFlowLSTMAdapter",
    "tensorflow-block": "adapters.tensorflow_block:TensorFlowBlockLSTMAdapter",
    "flax": "adapters.flax_lstm:FlaxLSTMAdapter",
    "flax-lstmcell": "adapters.flax_lstm:FlaxLSTMCellAdapter",
    "mindspore": "adapters.mindspore_lstm:MindSporeLSTMAdapter",
    "openvino": "adapters.openvino_lstm:OpenVinoLSTMAdapter",
    "openvino-opset": "adapters.openvino_opset:OpenVinoOpsetLSTMAdapter",
    "tract": "adapters.tract_lstm:TractLSTMAdapter",
    "onnx2tf": "adapters.onnx2tf_lstm:Onnx2TfLSTMAdapter",
    "litert": "adapters.litert_lstm:LiteRTLSTMAdapter",
    "tf2onnx": "adapters.tf2onnx_lstm:Tf2OnnxLSTMAdapter",
    "tfjs": f"{EXEC_PREFIX}{EXEC_DECLARATIONS / 'tfjs' / 'tfjs.json'}",
    "tfjs-basic-cell": f"{EXEC_PREFIX}{EXEC_DECLARATIONS / 'tfjs' / 'tfjs-basic-cell.json'}",
    "tfjs-webgl": f"{EXEC_PREFIX}{EXEC_DECLARATIONS / 'tfjs' / 'tfjs-webgl.json'}",
}


def plugin_adapters() -> dict[str, str]:
    """Adapters declared by installed packages: name -> ``module:attribute``."""
    return {entry.name: entry.value for entry in entry_points(group=ENTRY_POINT_GROUP)}


def known_adapters() -> dict[str, str]:
    """Every adapter reachable by name: built-ins, then plug-ins (a plug-in cannot shadow a built-in)."""
    return {**plugin_adapters(), **BUILTIN_ADAPTERS}


def resolve_reference(name_or_reference: str) -> str:
    """The ``module:attribute`` reference for a name or reference, or ValueError."""
    if not isinstance(name_or_reference, str):
        raise TypeError(f"adapter: expected a name or 'module:attribute' string, got {type(name_or_reference).__name__}")
    known = known_adapters()
    if name_or_reference in known:
        return known[name_or_reference]
    if ":" in name_or_reference or name_or_reference.startswith(EXEC_PREFIX):
        return name_or_reference
    raise ValueError(
        f"adapter: expected one of {', '.join(sorted(known))}, a 'module:attribute' reference or exec:COMMAND, got {name_or_reference!r}"
    )


def load_adapter(name_or_reference: str) -> Adapter:
    """Import and return the adapter a name or ``module:attribute`` reference designates."""
    reference = resolve_reference(name_or_reference)
    if reference.startswith(EXEC_PREFIX):
        from .exec_backend import ExecAdapter

        try:
            return ExecAdapter(reference)
        except ImportError as error:
            raise ValueError(f"adapter: cannot run {reference!r} as a backend ({error})") from error
    module_name, _, attribute = reference.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"adapter: cannot load {reference!r} ({error})") from error
    adapter = target() if inspect.isclass(target) or inspect.isfunction(target) else target
    missing = [member for member in ADAPTER_MEMBERS if not hasattr(adapter, member)]
    if missing:
        raise TypeError(f"adapter: {reference!r} is not an adapter: it lacks {', '.join(missing)} (see adapters.base.Adapter)")
    return adapter
