"""Adapter for OpenVINO's CPU plugin running the ONNX ``LSTM`` operator.

The models are the onnxruntime backend's (:meth:`OnnxRuntimeLSTMAdapter.model`: one ``LSTM``
node per layer, opset 22, time-major), serialized and read by OpenVINO's ONNX frontend, then
compiled for the CPU. The code that reads, compiles and runs a model is the standalone
reproducer's (:mod:`adapters.standalone.openvino_lstm`), so a reproducer runs exactly what
the suite ran.

The CPU plugin's inference precision (``INFERENCE_PRECISION_HINT``) is a code path of its own:
each dtype of a case runs a float32 model at its hint (float32: ``f32``, bfloat16: ``bf16``,
float16: ``f16``), so each is held to that dtype's error model; the data of bfloat16 and
float16 cases are exact in float32. A hint the plugin does not honour on this CPU (the
compiled model reports another precision, as ``bf16`` and ``f16`` on a CPU without those
instructions) is refused with what it reported. A float64 case runs a float64 model at ``f32``. The
plugin's own default for a float32 model depends on the CPU: ``bf16`` where the CPU has
bfloat16 instructions, so a model deployed without a hint computes in bfloat16 there. A run
at the backend's own defaults (``backend_defaults``) compiles without a hint and is held to
the precision the plugin states as its default (the ``default_precision`` convention).

What the plugin cannot compile, in its own words: activations other than sigmoid, tanh and
relu ("Unknown activation function: elu"; "Unsupported activation function" for
hard_sigmoid). ONNX itself has no projection, cell clip or projection clip, and the models
are time-major (``layout = 0``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from reference import LSTMInputs, LSTMParams, LSTMResult, LSTMSpec, init_params

from .base import RunConfig, RunRequest
from .onnxruntime_lstm import IR_VERSION, OPSET, TIME_MAJOR_MODELS, OnnxRuntimeLSTMAdapter, model_feeds, model_results
from .primitives import Primitive
from .standalone import STANDALONE

# The activations the CPU plugin's LSTM compiles (measured on each of the ONNX LSTM's).
COMPILED_ACTIVATIONS = ("sigmoid", "tanh", "relu")
# The plugin's words for the others: its LSTMSequence-to-TensorIterator pass throws for
# most; the LSTMCell decomposition throws for the hard sigmoid.
UNKNOWN_ACTIVATION = "Unknown activation function: {name}"
UNSUPPORTED_ACTIVATION = "Unsupported activation function"


def runs_as_one_rnn_node(spec: LSTMSpec) -> bool:
    """Whether the CPU plugin runs a one-direction LSTM of ``spec`` whole, as one RNN node,
    which ignores sequence_lens (measured; RNN::isSupportedOperation in the plugin's
    nodes/rnn.cpp takes sigmoid, tanh and tanh without clip, and skips its sequence-length
    check for dynamic shapes): the suite's models have dynamic T and B. Other LSTMs are
    decomposed into steps, which honour the lengths."""
    activations = (spec.gate_activation, spec.candidate_activation, spec.cell_activation)
    return not spec.bidirectional and activations == ("sigmoid", "tanh", "tanh") and spec.activation_clip is None


def import_openvino():
    """Import onnx and openvino (ImportError when absent) and return openvino."""
    import onnx  # noqa: F401
    import openvino

    return openvino


def runner():
    """The standalone reproducer's module: what reads, compiles and runs a model."""
    from .standalone import openvino_lstm

    return openvino_lstm


def precision_name(precision) -> str:
    """A compiled model's ``INFERENCE_PRECISION_HINT`` (an OpenVINO element type) as a dtype name."""
    name = precision.get_type_name()
    return {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}.get(name, name)


@functools.cache
def plugin_default_precision() -> str:
    """The precision the CPU plugin states it computes a float32 model in without a hint, on
    this CPU: its ``INFERENCE_PRECISION_HINT`` property before any model is compiled (the
    documented property of ov::hint::inference_precision, whose default depends on the CPU)."""
    import openvino

    return precision_name(openvino.Core().get_property("CPU", "INFERENCE_PRECISION_HINT"))


def default_precision_convention() -> dict[str, str]:
    """The ``default_precision`` convention both OpenVINO backends declare: the plugin's stated
    default, which the semantics table measures (none where openvino does not import)."""
    try:
        return {"default_precision": plugin_default_precision()}
    except ImportError:
        return {}


def precision_refusals(backend: str, dtype: str, compiled_in: Callable[[str], str]) -> list[str]:
    """Why ``backend`` cannot run ``dtype`` here: a reduced precision whose hint the CPU plugin
    compiles in another precision (``compiled_in(dtype)``: what it reported), or openvino not
    importing; none for float32 and float64."""
    if dtype not in ("bfloat16", "float16"):
        return []
    try:
        compiled = compiled_in(dtype)
    except ImportError as error:
        return [f"{backend}: cannot import ({error})"]
    if compiled == dtype:
        return []
    return [f"{backend}: its CPU plugin compiles a model asked for the {runner().PRECISION_HINTS[dtype]} precision hint in {compiled} on this CPU"]


@functools.cache
def compiled_precision(dtype: str) -> str:
    """The precision the CPU plugin really compiles a float32 model in when asked for ``dtype``'s
    hint (a one-node LSTM, compiled and asked back)."""
    spec = LSTMSpec(input_size=1, hidden_size=1)
    model = OnnxRuntimeLSTMAdapter().model(spec, "float32", lengths=False, initial_states=False, params=init_params(spec, seed=0))
    return precision_name(runner().compiled(model.SerializeToString(), dtype).get_property("INFERENCE_PRECISION_HINT"))


class OpenVinoLSTMAdapter(OnnxRuntimeLSTMAdapter):
    """The ONNX LSTM operator in OpenVINO's CPU plugin: float32, float64 and, where the CPU
    has them, the bf16 and f16 precision hints; time-major, no gradients."""

    name = "openvino"
    supports = replace(
        OnnxRuntimeLSTMAdapter.supports,
        features=OnnxRuntimeLSTMAdapter.supports.features | {"backend_defaults"},
        dtypes={"float32", "float64", "bfloat16", "float16"},
        devices={"cpu"},
    )
    packages = ("openvino",)
    standalone_source = STANDALONE / "openvino_lstm.py"

    def _import_version(self) -> str:
        return import_openvino().__version__.split("-")[0]

    def conventions(self, config: RunConfig) -> dict[str, str]:
        """h_n and c_n of a sequence of length 0 are zeros, as in ONNX Runtime (measured; the
        ONNX specification leaves them open, see the onnxruntime adapter), except where the
        plugin runs the LSTM as one RNN node, which ignores sequence_lens altogether (a known
        deviation, with its model). At its own defaults, a float32 model computes in the
        precision the plugin states as its default (:func:`plugin_default_precision`)."""
        lengths = {} if runs_as_one_rnn_node(config.spec) else super().conventions(config)
        return {**lengths, **default_precision_convention()}

    def _unsupported(self, config: RunConfig) -> list[str]:
        spec = config.spec
        reasons = []
        if spec.proj_size:
            reasons.append("the ONNX LSTM operator has no projection")
        for role in ("gate_activation", "candidate_activation", "cell_activation"):
            name = spec.activation(role).name
            if name not in COMPILED_ACTIVATIONS:
                words = UNSUPPORTED_ACTIVATION if name == "hard_sigmoid" else UNKNOWN_ACTIVATION.format(name=name)
                reasons.append(f"openvino: its CPU plugin cannot compile an ONNX LSTM with {name} as {role} ({words})")
        if config.batch_first:
            reasons.append(TIME_MAJOR_MODELS)
        return [*reasons, *precision_refusals(self.name, config.dtype, compiled_precision)]

    def matmul_primitive(self, a: np.ndarray, b: np.ndarray, dtype: str) -> Primitive:
        """An ONNX MatMul of a [M, K] and b [K, N] (b an initializer, as an LSTM's weights are),
        read and compiled as the LSTM models are: in float64 for float64, else a float32 model
        at ``dtype``'s precision hint."""
        from onnx import TensorProto, helper, numpy_helper

        run = runner()
        element = run.element_type(dtype)
        onnx_type = TensorProto.DOUBLE if element == "float64" else TensorProto.FLOAT
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["a", "b"], ["product"])],
            "matmul",
            [helper.make_tensor_value_info("a", onnx_type, list(a.shape))],
            [helper.make_tensor_value_info("product", onnx_type, None)],
            [numpy_helper.from_array(np.asarray(b, dtype=element), "b")],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
        compiled = run.compiled(model.SerializeToString(), dtype)
        product = compiled({"a": np.asarray(a, dtype=element)})[compiled.outputs[0]]
        return Primitive(np.asarray(product, dtype=np.float64), None, str(product.dtype))

    def standalone_arrays(self, request: RunRequest) -> dict[str, np.ndarray]:
        """The request's model, serialized, for a standalone reproducer (see :mod:`adapters.standalone`)."""
        model = self.model(
            request.spec, runner().element_type(request.dtype), request.lengths is not None, request.initial_states is not None,
            request.params, request.last_output_only,
        )
        return {"model": np.frombuffer(model.SerializeToString(), dtype=np.uint8)}

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        spec, run = request.spec, runner()
        element = run.element_type(request.dtype)
        model = self.model(spec, element, inputs.lengths is not None, inputs.initial_states_given, params, request.last_output_only)
        compiled = run.compiled(model.SerializeToString(), request.dtype, request.backend_defaults)
        results = compiled(model_feeds(inputs, element))
        values = [np.asarray(results[output], dtype=np.float64) for output in compiled.outputs]
        return model_results(spec, values, inputs.batch, request.last_output_only)
