"""Adapter for OpenVINO's own LSTMSequence, built with its Python opset API and run by the CPU plugin.

Where the ``openvino`` backend reads the onnxruntime backend's ONNX models, this one builds
the model as a user of OpenVINO's API does (``openvino.opset15.lstm_sequence``, opset 5's
operation): batch-major X [B, T, I] with dynamic B and T, one LSTMSequence per layer, the
weights as constants. The code that builds, compiles and runs a model is the standalone
reproducer's (:mod:`adapters.standalone.openvino_opset_lstm`), so a reproducer runs exactly
what the suite ran. The operation has no optional inputs: a run without lengths feeds T for
every sequence, one without initial states feeds zeros, one without bias has a zero B.

Layout of layer k (:data:`OPENVINO_LAYOUT`), direction on the first axis: ``layer{k}.W``
[D, 4H, I_k], ``layer{k}.R`` [D, 4H, H], ``layer{k}.B`` [D, 4H] = b_ih + b_hh, gate blocks
in the order f, i, c, o (the operation's "fico").

Precision: as the ``openvino`` backend, each dtype runs a float32 model at its own
``INFERENCE_PRECISION_HINT`` (float32: f32, bfloat16: bf16, float16: f16) and a float64 model
at f32; a hint the plugin does not honour on this CPU is refused with what it compiled. A
run at the backend's own defaults (``backend_defaults``) compiles without a hint, and is held
to the precision the plugin states as its default (the ``default_precision`` convention).

What the operation has not (its specification, LSTMSequence-5): peepholes, a coupled
input-forget gate, a cell clip, a projection and activations other than sigmoid, tanh and
relu; ``clip`` is the activation clip.
"""

from __future__ import annotations

import functools
from dataclasses import asdict

import numpy as np

from reference import LSTMInputs, LSTMParams, LSTMResult, LSTMSpec, init_params

from .base import BaseAdapter, RunConfig, RunRequest
from .converted import case_activations, reproducer_case
from .layouts import Layout, Part, Stored, array_names, single, to_backend
from .openvino_lstm import default_precision_convention, precision_name, precision_refusals
from .primitives import Primitive
from .standalone import STANDALONE
from .support import INTERFACE_VERSION, STRUCTURAL, Support

# LSTMSequence-5's weights (see the module docstring); counted as keras.layers.LSTM is: an
# input and a recurrent weight and one bias per gate.
OPENVINO_LAYOUT = Layout(
    "openvino",
    counted_as="keras",
    cells="layer",
    gate_order=("f", "i", "g", "o"),
    stacks_directions=True,
    arrays=(
        single("{cell}.W", "w_ih"),
        single("{cell}.R", "w_hh"),
        Stored("{cell}.B", (Part(("b_ih", "b_hh")),)),
    ),
)
# The activations LSTMSequence-5's specification lists.
SPECIFIED_ACTIVATIONS = frozenset({"sigmoid", "tanh", "relu"})


def runner():
    """The standalone reproducer's module: what builds, compiles and runs a model (ImportError without openvino)."""
    from .standalone import openvino_opset_lstm

    return openvino_opset_lstm


def runs_as_one_rnn_node(spec: LSTMSpec) -> bool:
    """Whether the CPU plugin runs this LSTMSequence whole, as one RNN node that ignores the
    lengths: sigmoid, tanh and tanh without clip, in any direction (measured on the model's
    dynamic B and T; with any other activation or a clip it is decomposed, and honours them)."""
    activations = (spec.gate_activation, spec.candidate_activation, spec.cell_activation)
    return activations == ("sigmoid", "tanh", "tanh") and spec.activation_clip is None


def model_case(spec: LSTMSpec, dtype: str, batch_first: bool) -> dict:
    """What :func:`adapters.standalone.openvino_opset_lstm.model` reads of a case."""
    return {"spec": asdict(spec), "activations": case_activations(spec), "dtype": dtype, "batch_first": batch_first}


@functools.cache
def compiled_precision(dtype: str) -> str:
    """The precision the CPU plugin really compiles a model in when asked for ``dtype``'s hint
    (a one-unit LSTMSequence, compiled and asked back)."""
    spec = LSTMSpec(input_size=1, hidden_size=1)
    run = runner()
    model = run.model(model_case(spec, dtype, True), to_backend(OPENVINO_LAYOUT, spec, init_params(spec, seed=0)))
    return precision_name(run.compiled(model, dtype).get_property("INFERENCE_PRECISION_HINT"))


class OpenVinoOpsetLSTMAdapter(BaseAdapter):
    """OpenVINO's LSTMSequence from its opset API on the CPU plugin: float32, float64 and,
    where the CPU has them, the bf16 and f16 precision hints; no gradients."""

    name = "openvino-opset"
    layout = OPENVINO_LAYOUT
    interface_version = INTERFACE_VERSION
    supports = Support(
        features=(STRUCTURAL - {"dropout", "projection"}) | {"activation_clip", "backend_defaults"},
        activations=SPECIFIED_ACTIVATIONS,
        dtypes={"float32", "float64", "bfloat16", "float16"},
        directions={"forward", "bidirectional", "reverse"},
    )
    packages = ("openvino",)
    standalone_source = STANDALONE / "openvino_opset_lstm.py"

    def _import_version(self) -> str:
        import openvino

        return openvino.__version__.split("-")[0]

    def conventions(self, config: RunConfig) -> dict[str, str]:
        """h_n and c_n of a sequence of length 0 are zeros, whatever the initial states
        (measured; LSTMSequence-5's specification says only that ``sequence_lengths``
        "specifies real sequence lengths for each batch element"), except where the plugin
        runs the LSTM as one RNN node, which ignores the lengths altogether (a known
        deviation, with its model). At its own defaults, a float32 model computes in the
        precision the plugin states as its default (as the ``openvino`` backend's)."""
        lengths = {} if runs_as_one_rnn_node(config.spec) else {"empty_sequence_states": "zeros"}
        return {**lengths, **default_precision_convention()}

    def _unsupported(self, config: RunConfig) -> list[str]:
        return precision_refusals(self.name, config.dtype, compiled_precision)

    def parameter_count(self, spec: LSTMSpec) -> int:
        """The entries of the weight constants (named as the layout's arrays) of the model built for ``spec``."""
        model = runner().model(model_case(spec, "float32", True), to_backend(OPENVINO_LAYOUT, spec, init_params(spec, seed=0)))
        weights = set(array_names(OPENVINO_LAYOUT, spec))
        return sum(int(np.prod(list(op.get_output_shape(0)))) for op in model.get_ops() if op.get_friendly_name() in weights)

    def matmul_primitive(self, a: np.ndarray, b: np.ndarray, dtype: str) -> Primitive:
        """OpenVINO's MatMul of a [M, K] and b [K, N] (b a constant, as an LSTM's weights are),
        compiled as the LSTM models are: in float64 for float64, else float32 at ``dtype``'s hint."""
        import openvino

        run = runner()
        ops, element = run.ops, run.element_type(dtype)
        left = ops.parameter(list(a.shape), element, name="a")
        product = ops.matmul(left, ops.constant(np.asarray(b, dtype=element)), False, False)
        network = run.compiled(openvino.Model([product.output(0)], [left], "matmul"), dtype)
        values = network({"a": np.asarray(a, dtype=element)})[network.outputs[0]]
        return Primitive(np.asarray(values, dtype=np.float64), None, str(values.dtype))

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        case = reproducer_case(self.name, request, backend_defaults=request.backend_defaults)
        arrays = {"x": request.x}
        if inputs.lengths is not None:
            arrays["lengths"] = inputs.lengths
        if inputs.initial_states_given:
            arrays["h0"], arrays["c0"] = inputs.h0, inputs.c0
        results = runner().forward(case, to_backend(OPENVINO_LAYOUT, request.spec, params), arrays)
        return LSTMResult(*(np.asarray(results[name], dtype=np.float64) for name in ("outputs", "h_n", "c_n")))
