"""OpenVINO's own LSTMSequence (opset 5's operation, as ``openvino.opset15`` builds it), made
with OpenVINO's Python opset API and compiled for the CPU plugin at the inference precision
the case's dtype names (float32: f32, bfloat16: bf16, float16: f16; a float64 model: f32), or
at the plugin's own default where the case says ``backend_defaults``.

The model, with dynamic B and T as a deployed one has: X [B, T, I] (a time-major case's
[T, B, I] goes through a Transpose first), ``sequence_lengths`` [B] int32, ``initial_h`` and
``initial_c`` [B, L*D, H]; one LSTMSequence per layer with its weights as constants,
``layer{k}.W`` [D, 4H, I_k], ``layer{k}.R`` [D, 4H, H] and ``layer{k}.B`` [D, 4H] (the sum of
the two biases), gate blocks f, i, c, o. Layer k's Y [B, D, T, H] becomes layer k+1's input
[B, T, D*H] through a Transpose and a Reshape. Outputs: the top layer's Y, and every layer's
Ho and Co side by side [B, L*D, H].

The operation has no optional inputs, so a case without lengths feeds T for every sequence,
one without initial states feeds zeros, and one without bias has a zero B.
"""

import os

import numpy as np
import openvino

try:
    import openvino.opset15 as ops
except ImportError:  # OpenVINO 2024 keeps its opsets in openvino.runtime
    import openvino.runtime.opset15 as ops

# The CPU plugin's INFERENCE_PRECISION_HINT for each dtype. A float64 model gets f32, the most
# the plugin computes in: without a hint, a CPU with bfloat16 instructions computes in bf16.
PRECISION_HINTS = {"float64": "f32", "float32": "f32", "bfloat16": "bf16", "float16": "f16"}
ROLES = ("gate_activation", "candidate_activation", "cell_activation")


def element_type(dtype: str) -> type:
    """The dtype of the model's inputs, weights and outputs: float64 for a float64 model, else float32."""
    return np.float64 if dtype == "float64" else np.float32


def direction_of(spec) -> str:
    return "bidirectional" if spec["bidirectional"] else "reverse" if spec["reverse"] else "forward"


def model(case, weights):
    """The ov.Model of the module docstring, built from the case's spec and the weights."""
    spec, element = case["spec"], element_type(case["dtype"])
    hidden, layers, directions = spec["hidden_size"], spec["num_layers"], 2 if spec["bidirectional"] else 1
    x = ops.parameter([-1, -1, spec["input_size"]], element, name="X")
    lengths = ops.parameter([-1], np.int32, name="sequence_lengths")
    initial_h = ops.parameter([-1, layers * directions, hidden], element, name="initial_h")
    initial_c = ops.parameter([-1, layers * directions, hidden], element, name="initial_c")
    parameters = [x, lengths, initial_h, initial_c]
    layer_input = ops.transpose(x, ops.constant([1, 0, 2], np.int64)) if not case["batch_first"] else x
    h_parts = ops.split(initial_h, ops.constant(1, np.int64), layers).outputs()
    c_parts = ops.split(initial_c, ops.constant(1, np.int64), layers).outputs()
    activations = [case["activations"][role]["name"] for role in ROLES]
    h_n, c_n = [], []

    def constant(name):
        return ops.constant(np.asarray(weights[name], dtype=element), name=name)

    for layer in range(layers):
        bias = constant(f"layer{layer}.B") if f"layer{layer}.B" in weights else ops.constant(np.zeros((directions, 4 * hidden), element), name=f"layer{layer}.zero_bias")
        sequence = ops.lstm_sequence(
            layer_input, h_parts[layer], c_parts[layer], lengths, constant(f"layer{layer}.W"), constant(f"layer{layer}.R"), bias,
            hidden, direction_of(spec), activations, clip=float(spec["activation_clip"] or 0.0),
        )
        y, h, c = sequence.outputs()
        h_n.append(h)
        c_n.append(c)
        if layer < layers - 1:
            directions_last = ops.transpose(y, ops.constant([0, 2, 1, 3], np.int64))
            layer_input = ops.reshape(directions_last, ops.constant([0, 0, -1], np.int64), special_zero=True)
    return openvino.Model([y, ops.concat(h_n, axis=1).output(0), ops.concat(c_n, axis=1).output(0)], parameters, "lstm")


def compiled(ov_model, dtype: str, at_defaults: bool = False):
    """The model compiled for the CPU at ``dtype``'s precision hint (``at_defaults``: at the
    plugin's own default precision, as a model deployed without settings is), with as many
    threads as OMP_NUM_THREADS says, passed as the plugin's INFERENCE_NUM_THREADS (0, unset: its default)."""
    properties = {"INFERENCE_NUM_THREADS": int(os.environ.get("OMP_NUM_THREADS", "0") or "0")}
    if not at_defaults:
        properties["INFERENCE_PRECISION_HINT"] = PRECISION_HINTS[dtype]
    return openvino.Core().compile_model(ov_model, "CPU", properties)


def feeds(case, inputs):
    """The model's inputs for the case: x as given, T for every sequence without lengths, zero states without states."""
    element = element_type(case["dtype"])
    x = np.ascontiguousarray(inputs["x"], dtype=element)
    steps, batch = (x.shape[1], x.shape[0]) if case["batch_first"] else (x.shape[0], x.shape[1])
    h0 = inputs["h0"] if "h0" in inputs else np.zeros(case["h0_shape"])
    c0 = inputs["c0"] if "c0" in inputs else np.zeros(case["c0_shape"])
    lengths = inputs["lengths"] if "lengths" in inputs else np.full(batch, steps)
    return {
        "X": x,
        "sequence_lengths": np.asarray(lengths, dtype=np.int32),
        "initial_h": np.ascontiguousarray(np.transpose(h0, (1, 0, 2)), dtype=element),
        "initial_c": np.ascontiguousarray(np.transpose(c0, (1, 0, 2)), dtype=element),
    }


def forward(case, weights, inputs):
    network = compiled(model(case, weights), case["dtype"], case.get("backend_defaults", False))
    results = network(feeds(case, inputs))
    y, h_n, c_n = (results[output] for output in network.outputs)
    # Y [B, D, T, H] to [B, T, D*H] or [T, B, D*H], directions side by side.
    arranged = np.transpose(y, (0, 2, 1, 3) if case["batch_first"] else (2, 0, 1, 3))
    outputs = arranged.reshape(*arranged.shape[:2], -1)
    return {"outputs": outputs, "h_n": np.transpose(h_n, (1, 0, 2)), "c_n": np.transpose(c_n, (1, 0, 2))}
