"""Adapter for the ONNX ``LSTM`` operator, run by ONNX Runtime's CPU execution provider.

Each request builds a model with the ``onnx`` helper API: one ``LSTM`` node per layer
(opset 22, IR version 10, the newest ONNX Runtime 1.31 loads), chained through a
Transpose and Reshape that turn a node's Y [T, D, B, H] into the next node's X
[T, B, D*H]; h_n and c_n are the nodes' Y_h and Y_c concatenated.

Layout of layer k, named ``layer{k}.W`` and so on, direction on the first axis:
``W`` [D, 4H, I_k], ``R`` [D, 4H, H], ``B`` [D, 8H] = [Wb | Rb] and ``P`` [D, 3H], gate
blocks in the order i, o, f, c and peepholes in the order i, o, f. A reverse-only
LSTM is ``direction="reverse"``. Activations are passed as ONNX names, f (gates), g
(candidate), h (cell output) per direction; the oracle's ``identity`` is ONNX's
``Affine`` with alpha 1 and beta 0. ``activation_alpha``/``activation_beta`` are written
only when some activation needs a value other than its ONNX operator default, as an
exported model would; then every value is written.

What the runtime rejects, in its own words: float64 ("LSTM operator does not support
double yet") and ``layout=1`` ("Batchwise recurrent operations (layout == 1) are not
supported"). ONNX itself has no projection, cell clip or projection clip.
"""

from __future__ import annotations


import numpy as np

from reference import LSTMInputs, LSTMParams, LSTMResult, LSTMSpec, init_params
from reference.activations import BoundActivation

from .base import PLAIN_DTYPES, BaseAdapter, RunConfig, RunRequest
from .layouts import Layout, Part, Stored, array_names, single, to_backend
from .onnx_session import RUNTIME_REJECTS_FLOAT64, import_onnxruntime, run_session, session
from .standalone import STANDALONE
from .support import INTERFACE_VERSION, STRUCTURAL, Support

OPSET = 22
IR_VERSION = 10
# The ONNX LSTM node's inputs per layer (see the module docstring): gate blocks i, o, f, c
# (the candidate is ONNX's c) and peepholes i, o, f.
ONNX_LAYOUT = Layout(
    "onnx",
    counted_as="onnx",
    cells="layer",
    gate_order=("i", "o", "f", "g"),
    stacks_directions=True,
    arrays=(
        single("{cell}.W", "w_ih"),
        single("{cell}.R", "w_hh"),
        Stored("{cell}.B", (Part(("b_ih",)), Part(("b_hh",)))),
        Stored("{cell}.P", (Part(("w_ic",)), Part(("w_oc",)), Part(("w_fc",)))),
    ),
)
# The oracle's activations that ONNX's LSTM names, with the name it takes.
ONNX_ACTIVATIONS = {
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "relu": "Relu",
    "identity": "Affine",
    "affine": "Affine",
    "leaky_relu": "LeakyRelu",
    "thresholded_relu": "ThresholdedRelu",
    "scaled_tanh": "ScaledTanh",
    "hard_sigmoid": "HardSigmoid",
    "elu": "Elu",
    "softsign": "Softsign",
    "softplus": "Softplus",
}
# Which of alpha and beta each ONNX activation consumes from the attribute lists.
ONNX_PARAMETERS = {"Affine": ("alpha", "beta"), "LeakyRelu": ("alpha",), "ThresholdedRelu": ("alpha",), "ScaledTanh": ("alpha", "beta"),
                   "HardSigmoid": ("alpha", "beta"), "Elu": ("alpha",)}
RUNTIME_REJECTS_LAYOUT_1 = "onnxruntime: Batchwise recurrent operations (layout == 1) are not supported"
# Why a runtime reading these models (OpenVINO, tract) takes no batch-major input.
TIME_MAJOR_MODELS = "the models are the onnxruntime backend's, time-major (ONNX layout 0)"


def onnx_activation(activation: BoundActivation) -> tuple[str, dict[str, float], bool]:
    """ONNX's name for an activation, its alpha/beta values, and whether they must be written:
    the oracle's identity is an Affine that needs alpha 1 said; ScaledTanh has no default in
    the ONNX specification (the oracle's 1, 1 is its own), so it is always said; others when
    not at their ONNX operator defaults."""
    name = ONNX_ACTIVATIONS[activation.name]
    if activation.name == "identity":
        return name, {"alpha": 1.0, "beta": 0.0}, True
    return name, dict(activation.params), activation.name == "scaled_tanh" or not activation.is_default()


def activation_attributes(spec: LSTMSpec) -> dict[str, list]:
    """The node's ``activations`` (f, g, h per direction) and, where needed, ``activation_alpha``/``activation_beta``."""
    roles = [onnx_activation(spec.activation(role)) for role in ("gate_activation", "candidate_activation", "cell_activation")]
    attributes: dict[str, list] = {"activations": [name for name, _, _ in roles] * spec.num_directions}
    if any(explicit for _, _, explicit in roles):
        for key in ("alpha", "beta"):
            values = [params[key] for name, params, _ in roles if key in ONNX_PARAMETERS.get(name, ())]
            if values:
                attributes[f"activation_{key}"] = values * spec.num_directions
    return attributes


class OnnxRuntimeLSTMAdapter(BaseAdapter):
    """The ONNX LSTM operator in ONNX Runtime (CPU): float32 and float16, time-major, no gradients."""

    name = "onnxruntime"
    layout = ONNX_LAYOUT
    interface_version = INTERFACE_VERSION
    supports = Support(
        features=(STRUCTURAL - {"dropout"}) | {"peepholes", "activation_clip", "input_forget", "last_output_only"},
        activations=set(ONNX_ACTIVATIONS),
        dtypes={*PLAIN_DTYPES, "float16"},
        directions={"forward", "bidirectional", "reverse"},
    )
    standalone_source = STANDALONE / "onnxruntime_lstm.py"

    def _import_version(self) -> str:
        return import_onnxruntime().__version__

    def conventions(self, config: RunConfig) -> dict[str, str]:
        """h_n and c_n of a sequence of length 0 are zeros: the kernel fills them so (measured;
        its ``rnn_helpers`` skip such a sequence), and the ONNX specification does not say what
        they hold then (onnx/defs/rnn/defs.cc, ONNX 1.17: Y_h is 'The last output value of the
        hidden', sequence_lens 'Optional tensor specifying lengths of the sequences in a
        batch'; nothing on length 0): a choice it leaves open, not a deviation."""
        return {"empty_sequence_states": "zeros"}

    def _unsupported(self, config: RunConfig) -> list[str]:
        spec = config.spec
        reasons = []
        if spec.proj_size:
            reasons.append("the ONNX LSTM operator has no projection")
        for role in ("gate_activation", "candidate_activation", "cell_activation"):
            if spec.activation(role).name not in ONNX_ACTIVATIONS:
                reasons.append(f"the ONNX LSTM operator has no {spec.activation(role).name} {role}")
        if config.dtype == "float64":
            reasons.append(RUNTIME_REJECTS_FLOAT64)
        if config.batch_first:
            reasons.append(RUNTIME_REJECTS_LAYOUT_1)
        return reasons

    def parameter_count(self, spec: LSTMSpec) -> int:
        """The entries of the LSTM nodes' weight initializers in the model built for ``spec``."""
        from onnx import numpy_helper

        model = self.model(spec, "float32", lengths=False, initial_states=False)
        weights = array_names(ONNX_LAYOUT, spec)
        return sum(numpy_helper.to_array(tensor).size for tensor in model.graph.initializer if tensor.name in weights)

    def model(
        self, spec: LSTMSpec, dtype: str, lengths: bool, initial_states: bool, params: LSTMParams | None = None, last_output_only: bool = False
    ):
        """The ONNX model for ``spec``: inputs X [T, B, I] (dynamic T and B), then
        ``sequence_lens`` [B] int32 and ``initial_h``/``initial_c`` [L*D, B, R|H] when asked;
        outputs Y [T, B, D*H], Y_h and Y_c [L*D, B, H]. With ``last_output_only`` the top
        layer's node leaves its optional Y output out (an empty name, as the operator allows)
        and the model has Y_h and Y_c only. Without ``params``, seeded weights of the right
        shapes (what :meth:`parameter_count` needs)."""
        from onnx import TensorProto, helper, numpy_helper

        element = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE, "float16": TensorProto.FLOAT16}[dtype]
        directions, hidden = spec.num_directions, spec.hidden_size
        if params is None:
            params = init_params(spec, seed=0)
        weights = to_backend(ONNX_LAYOUT, spec, params)
        initializers = [numpy_helper.from_array(np.asarray(array, dtype=dtype), name) for name, array in weights.items()]
        inputs = [helper.make_tensor_value_info("X", element, ["T", "B", spec.input_size])]
        nodes = []
        if lengths:
            inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["B"]))
        if initial_states:
            inputs.append(helper.make_tensor_value_info("initial_h", element, [spec.num_cells, "B", spec.output_size]))
            inputs.append(helper.make_tensor_value_info("initial_c", element, [spec.num_cells, "B", hidden]))
            initializers.append(numpy_helper.from_array(np.full(spec.num_layers, directions, dtype=np.int64), "state_split"))
            nodes.append(helper.make_node("Split", ["initial_h", "state_split"], [f"layer{k}.initial_h" for k in range(spec.num_layers)], axis=0))
            nodes.append(helper.make_node("Split", ["initial_c", "state_split"], [f"layer{k}.initial_c" for k in range(spec.num_layers)], axis=0))
        initializers.append(numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), "merge_directions"))
        attributes = {"hidden_size": hidden, "direction": spec.direction, "input_forget": int(spec.input_forget), **activation_attributes(spec)}
        if spec.activation_clip is not None:
            attributes["clip"] = float(spec.activation_clip)
        layer_input = "X"
        for layer in range(spec.num_layers):
            prefix = f"layer{layer}"
            node_inputs = [
                layer_input,
                f"{prefix}.W",
                f"{prefix}.R",
                f"{prefix}.B" if spec.bias else "",
                "sequence_lens" if lengths else "",
                f"{prefix}.initial_h" if initial_states else "",
                f"{prefix}.initial_c" if initial_states else "",
                f"{prefix}.P" if spec.peepholes else "",
            ]
            while node_inputs[-1] == "":
                node_inputs.pop()
            top_without_y = last_output_only and layer == spec.num_layers - 1
            nodes.append(helper.make_node("LSTM", node_inputs, ["" if top_without_y else f"{prefix}.Y", f"{prefix}.Y_h", f"{prefix}.Y_c"], **attributes))
            if top_without_y:
                break
            nodes.append(helper.make_node("Transpose", [f"{prefix}.Y"], [f"{prefix}.Y_tbd"], perm=[0, 2, 1, 3]))
            layer_input = f"{prefix}.output"
            nodes.append(helper.make_node("Reshape", [f"{prefix}.Y_tbd", "merge_directions"], [layer_input]))
        else:
            nodes.append(helper.make_node("Identity", [layer_input], ["Y"]))
        for state in ("Y_h", "Y_c"):
            nodes.append(helper.make_node("Concat", [f"layer{k}.{state}" for k in range(spec.num_layers)], [state], axis=0))
        names = ("Y_h", "Y_c") if last_output_only else ("Y", "Y_h", "Y_c")
        outputs = [helper.make_tensor_value_info(name, element, None) for name in names]
        graph = helper.make_graph(nodes, "lstm", inputs, outputs, initializers)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)

    def standalone_arrays(self, request: RunRequest) -> dict[str, np.ndarray]:
        """The request's model, serialized, for a standalone reproducer (see :mod:`adapters.standalone`)."""
        model = self.model(
            request.spec, request.dtype, request.lengths is not None, request.initial_states is not None, request.params, request.last_output_only
        )
        return {"model": np.frombuffer(model.SerializeToString(), dtype=np.uint8)}

    def run_model(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams):
        """The model :meth:`model` builds for one run: the inputs the run has, its parameters."""
        return self.model(request.spec, request.dtype, inputs.lengths is not None, inputs.initial_states_given, params, request.last_output_only)

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        spec, dtype = request.spec, request.dtype
        model = self.run_model(request, inputs, params)
        values = run_session(session(model.SerializeToString()), model_feeds(inputs, dtype))
        return model_results(spec, values, inputs.batch, request.last_output_only)


def model_feeds(inputs: LSTMInputs, dtype: str) -> dict[str, np.ndarray]:
    """The inputs of :meth:`OnnxRuntimeLSTMAdapter.model`'s model: X [T, B, I] in ``dtype``,
    then ``sequence_lens`` [B] int32 and ``initial_h``/``initial_c`` when the run has them."""
    feeds = {"X": inputs.x.astype(dtype)}
    if inputs.lengths is not None:
        feeds["sequence_lens"] = inputs.lengths.astype(np.int32)
    if inputs.initial_states_given:
        feeds["initial_h"], feeds["initial_c"] = inputs.h0.astype(dtype), inputs.c0.astype(dtype)
    return feeds


def model_results(spec: LSTMSpec, values: list[np.ndarray], batch: int, last_output_only: bool) -> LSTMResult:
    """The run's results from the model's outputs (Y, Y_h, Y_c; Y_h and Y_c alone with
    ``last_output_only``, where each sequence's last output is the top layer's Y_h [B, D*H])."""
    if not last_output_only:
        return LSTMResult(*values)
    h_n, c_n = values
    # Y_h is the operator's last output of each direction (onnx/defs/rnn/defs.cc): the top layer's, directions side by side.
    top = h_n[-spec.num_directions :]
    return LSTMResult(top.transpose(1, 0, 2).reshape(batch, -1), h_n, c_n)
