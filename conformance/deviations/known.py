"""The built-in known deviations: each backend's measured differences from the oracle, with
what it computes instead (:mod:`conformance.deviations.models`) or why no model can be
written (see :class:`conformance.deviations.KnownDeviation`)."""

from __future__ import annotations

import numpy as np

from adapters.base import RunRequest
from adapters.onnxruntime_lstm import activation_attributes
from adapters.openvino_lstm import runs_as_one_rnn_node
from adapters.openvino_opset import runs_as_one_rnn_node as opset_runs_as_one_rnn_node
from reference import sigmoid, validate_inputs, validate_params
from reference.activations import bind_activation
from reference.spec import ACTIVATION_ROLES, DEFAULT_ACTIVATIONS
from reference.forward import forward_with_traces

from conformance.deviations import models
from conformance.deviations import FORWARD_QUANTITIES, GRADIENT_CHECKS, GRADIENT_QUANTITIES, INVARIANT_CHECKS, KnownDeviation, Releases

# tf.layers.lstm's backends: in Node (TensorFlow.js's CPU kernels) and in Chromium (its WebGL
# kernels). Both run the same tfjs-layers code, where these deviations sit.
TFJS_LAYERS_BACKENDS = ("tfjs", "tfjs-webgl")
# onnx2tf's LSTM converter (onnx2tf/ops/LSTM.py, read at 1.29.24 and at 2.6.7, its newest source).
ONNX2TF_UPSTREAM = "not found upstream (a search of PINTO0309/onnx2tf issues and pull requests for LSTM and the error or attribute named)"
ONNX2TF_FIXED_IN_2_2 = (
    "not reported upstream; changed without an issue in 2.2.0 (PINTO0309/onnx2tf PR #897, commit 42547c6d), which "
    "needs Python 3.12 and was not measured here"
)
# Every check a run of the converted model takes part in: a conversion that fails fails them all.
ONNX2TF_RUN_CHECKS = ("forward", *INVARIANT_CHECKS)
TRACT_UPSTREAM = (
    "reported upstream: sonos/tract#2751 (open), 'ONNX GRU/LSTM/RNN: activations, clip and input_forget are silently ignored'"
)


def has_empty_sequence(request: RunRequest) -> bool:
    return request.lengths is not None and bool((np.asarray(request.lengths) == 0).any())


def has_partial_sequence(request: RunRequest) -> bool:
    """Some sequence has 0 < length < T."""
    if request.lengths is None:
        return False
    lengths = np.asarray(request.lengths)
    steps = request.x.shape[1 if request.batch_first else 0]
    return bool(((lengths > 0) & (lengths < steps)).any())


def oracle_traces(request: RunRequest) -> list:
    """The oracle's trace of every (layer, direction) cell of the request's LSTM."""
    spec = request.spec
    inputs = validate_inputs(spec, request.x, lengths=request.lengths, initial_states=request.initial_states, batch_first=request.batch_first)
    return forward_with_traces(spec, validate_params(spec, request.params), inputs)[1]


def activation_outputs(request: RunRequest, name: str) -> list[np.ndarray]:
    """What the activation ``name`` puts out, in every role it has in the request's LSTM, at
    valid steps, according to the oracle's trace."""
    spec = request.spec
    if name not in (spec.gate_activation, spec.candidate_activation, spec.cell_activation):
        return []
    found = []
    for trace in oracle_traces(request):
        valid = np.ones(trace.cells.shape[:2], dtype=bool) if trace.valid is None else trace.valid
        outputs = [trace.gates[:, :3].transpose(0, 2, 1, 3)] if spec.gate_activation == name else []
        outputs += [trace.gates[:, 3]] if spec.candidate_activation == name else []
        outputs += [trace.cell_acts] if spec.cell_activation == name else []
        found += [values[valid] for values in outputs]
    return found


def sigmoid_input_above(request: RunRequest, limit: float) -> bool:
    """Some sigmoid of the request's LSTM gets an input above ``limit`` at a valid step
    (sigmoid is increasing, so its output tells)."""
    threshold = float(sigmoid(np.array(limit)))
    return any((values > threshold).any() for values in activation_outputs(request, "sigmoid"))


def activation_input_reaches(request: RunRequest, name: str, limit: float) -> bool:
    """Some input of the request's increasing activation ``name`` reaches ``limit`` at a valid
    step (its output tells: it reaches ``name(limit)``)."""
    reached = float(bind_activation(name)(np.array(limit)))
    return any((values >= reached).any() for values in activation_outputs(request, name))


def largest_tanh_input(request: RunRequest) -> float:
    """The largest magnitude of any tanh input of the request's LSTM at a valid step (0 without tanh)."""
    outputs = [np.abs(values) for values in activation_outputs(request, "tanh") if values.size]
    return float(np.arctanh(min(max(float(values.max()) for values in outputs), 1 - 1e-16))) if outputs else 0.0


def largest_cell_state(request: RunRequest) -> float:
    """The largest magnitude of the cell state c_t any step of the request's LSTM computes
    (valid steps, initial states not counted), according to the oracle's trace."""
    cells = [np.abs(trace.cells if trace.valid is None else trace.cells[trace.valid]) for trace in oracle_traces(request)]
    return max(float(values.max()) for values in cells if values.size) if any(values.size for values in cells) else 0.0


def omits_onnx_parameters_of(request: RunRequest, names: tuple[str, ...]) -> bool:
    """The ONNX model for the request writes no activation_alpha/beta and uses one of ``names``."""
    spec = request.spec
    roles = ("gate_activation", "candidate_activation", "cell_activation")
    return "activation_alpha" not in activation_attributes(spec) and any(spec.activation(role).name in names for role in roles)


def batch_of(request: RunRequest) -> int:
    return request.x.shape[0 if request.batch_first else 1]


def onnx2tf_drops_parameters(request: RunRequest) -> bool:
    """Some activation of the request's LSTM has parameters other than those onnx2tf builds it
    with (:data:`models.ONNX2TF_ACTIVATION_PARAMETERS`)."""
    spec = request.spec
    return any(
        spec.activation(role).name in models.ONNX2TF_ACTIVATION_PARAMETERS
        and spec.activation(role) != bind_activation(models.ONNX2TF_ACTIVATION_PARAMETERS[spec.activation(role).name], role)
        for role in ACTIVATION_ROLES
    )


def uses_activation(request: RunRequest, names: tuple[str, ...]) -> bool:
    """One of the request's LSTM activations (any role) is among ``names``."""
    spec = request.spec
    return any(spec.activation(role).name in names for role in ("gate_activation", "candidate_activation", "cell_activation"))


def has_padding(request: RunRequest) -> bool:
    """Some sequence is shorter than T, so some output position is padding."""
    if request.lengths is None:
        return False
    steps = request.x.shape[1 if request.batch_first else 0]
    return bool((np.asarray(request.lengths) < steps).any())


TF2ONNX_MASK_UPSTREAM = (
    "not found upstream as such (onnx/tensorflow-onnx issues searched for NaN with masks and with Select): the arithmetic "
    "is tf2onnx's deliberate conversion of Select and SelectV2 (tf2onnx/onnx_opset/controlflow.py: 'Mul/Add ops are faster "
    "than Where op', PR #1199), which keeps Where only where it detects a NaN pattern (PR #1663 after #1659, PR #2035 after "
    "#1988); a masked Keras LSTM stays a Loop (#1871 open, PR #2030 open)"
)
LITERT_CELL_CLIP_UPSTREAM = (
    "not found upstream (tensorflow/tensorflow issues searched for cell_clip, clipped cell state and "
    "UNIDIRECTIONAL_SEQUENCE_LSTM: none names it; #46620 and #57015 report unexplained differences between a Keras LSTM and "
    "its fused conversion); the 10.0 is written in ConvertKerasLSTMLayer (tensorflow/compiler/mlir/lite/utils/lstm_utils.cc), "
    "with no comment, and the converter's own tests expect it"
)


# OpenVINO's CPU plugin and sequence_lens (measured with the suite's models, whose T and B are dynamic).
OPENVINO_LENGTHS_IGNORED = (
    "an ONNX LSTM with direction forward or reverse, sigmoid, tanh and tanh and no clip ignores sequence_lens: every "
    "sequence runs over all T steps (outputs at padded steps are not 0, h_n and c_n are the states after step T-1, a "
    "reverse direction starts at T-1). The CPU plugin keeps such a sequence with dynamic shapes whole, for its RNN node "
    "(src/plugins/intel_cpu/src/nodes/rnn.cpp, RNN::isSupportedOperation: 'dynamic shapes make impossible to check "
    "seq_len'), which takes no lengths; with another activation, a clip or two directions it is decomposed, and the "
    "lengths are honoured (measured)"
)
OPENVINO_LENGTHS_UPSTREAM = (
    "not found upstream (a search of openvinotoolkit/openvino issues for LSTM sequence_lens and seq_lengths with dynamic "
    "shapes; the check was skipped on purpose for dynamic shapes in PR #10710)"
)

# The same plugin node, reached through OpenVINO's own API (measured with the backend's models, dynamic B and T).
OPENVINO_OPSET_LENGTHS_IGNORED = (
    "an LSTMSequence with sigmoid, tanh and tanh and no clip ignores sequence_lengths, in every direction, two included: "
    "every sequence runs over all T steps (outputs at padded steps are not 0, h_n and c_n are the states after step T-1, "
    "a reverse direction starts at T-1). The CPU plugin keeps such a sequence with dynamic shapes whole, for its RNN node "
    "(src/plugins/intel_cpu/src/nodes/rnn.cpp, RNN::isSupportedOperation: 'dynamic shapes make impossible to check "
    "seq_len'), which takes no lengths; with relu in some role or a clip, and with static shapes, the lengths are "
    "honoured (measured)"
)

def openvino_float64_in_float32(backend: str, summary: str) -> KnownDeviation:
    """``{backend}-float64-in-float32``: the CPU plugin computes a float64 model in float32 (both OpenVINO backends)."""
    return KnownDeviation(
        name=f"{backend}-float64-in-float32",
        backend=backend,
        checks=("forward",),
        summary=summary,
        quantities=FORWARD_QUANTITIES,
        applies=lambda request: request.dtype == "float64",
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        model=models.FLOAT32_ARITHMETIC,
        primitive=("matmul", "float64"),
        upstream="not found upstream (a search of openvinotoolkit/openvino issues for float64 on the CPU plugin)",
    )


KNOWN_DEVIATIONS: tuple[KnownDeviation, ...] = (
    KnownDeviation(
        name="paddle-projection-padded-outputs",
        backend="paddle",
        checks=("forward",),
        summary="with proj_size > 0 and sequence_length, outputs at padded steps are not 0 but values computed from the padding",
        quantities=frozenset({"outputs_padded"}),
        applies=lambda request: request.spec.proj_size > 0 and has_padding(request),
        reproducer="L1-fwd-tm-mixed-zero-P3-bias-nopeep-noclip-std-f64-base-typ-cpu",
        model=models.PADDLE_STEP_LOOP,
        upstream='not found upstream (a search of PaddlePaddle/Paddle issues for proj_size with sequence_length and padded outputs)',
    ),
    KnownDeviation(
        name="paddle-no-bias-fails",
        backend="paddle",
        checks=("forward", *GRADIENT_CHECKS),
        summary="without bias (bias_ih_attr=bias_hh_attr=False) and without projection, the fused rnn path crashes "
        "the process (one forward layer: SIGSEGV in RnnKernel) or raises IndexError while building the layer",
        quantities=frozenset({"run"}),
        applies=lambda request: not request.spec.bias and request.spec.proj_size == 0,
        reproducer="L1-fwd-tm-none-zero-P0-nobias-nopeep-noclip-std-f64-base-typ-cpu",
        unmodelled="a crash or an exception while building the layer: there are no values to model; applies only without bias and without projection, where it was measured",
        upstream='https://github.com/PaddlePaddle/Paddle/issues/70231 (open: LSTM without bias fails to run, since 3.0-beta)',
    ),
    KnownDeviation(
        name="paddle-projection-padding-leaks-into-outputs",
        backend="paddle",
        checks=("padding",),
        summary="with proj_size > 0 and sequence_length, what the padded input positions hold changes the outputs "
        "at padded steps (the same path as paddle-projection-padded-outputs)",
        quantities=frozenset({"outputs"}),
        applies=lambda request: request.spec.proj_size > 0 and has_padding(request),
        reproducer="L1-fwd-tm-mixed-zero-P3-bias-nopeep-noclip-std-f64-base-typ-cpu",
        model=models.PADDLE_STEP_LOOP,
        upstream='not found upstream (a search of PaddlePaddle/Paddle issues for proj_size with sequence_length and padding)',
    ),
    KnownDeviation(
        name="paddle-nan-padding-poisons-results",
        backend="paddle",
        checks=("nan_padding",),
        summary="NaN in padded input positions turns into NaN, for every sequence shorter than T: h_n and c_n of every "
        "layer and direction, forward outputs at padded steps, every output of a reversed direction (which runs over "
        "the whole padded sequence), and from the second layer of a bidirectional LSTM every output: padding is masked "
        "by multiplication, and 0 * NaN is NaN",
        quantities=frozenset({"outputs", "h_n", "c_n"}),
        applies=has_padding,
        reproducer="L1-fwd-tm-mixed-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        model=models.PADDLE_STEP_LOOP,
        upstream='not found upstream (a search of PaddlePaddle/Paddle issues for NaN padding with sequence_length)',
    ),
    KnownDeviation(
        name="paddle-legacy-sigmoid-clamped-at-13",
        backend="paddle-legacy",
        checks=("forward", *GRADIENT_CHECKS),
        summary="the op clamps sigmoid's input to [-40, 13], so sigmoid(x) = sigmoid(13) = 1 - 2.3e-6 for every x > 13 "
        "(and its derivative there is sigmoid'(13)): visible against float64 precision, hidden below float32's",
        quantities=frozenset({"outputs", "h_n", "c_n"}) | GRADIENT_QUANTITIES,
        applies=lambda request: request.dtype == "float64" and sigmoid_input_above(request, 13.0),
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f64-base-sat-cpu",
        model=models.PADDLE_LEGACY_SIGMOID,
        upstream="not found upstream (a search of PaddlePaddle/Paddle issues for the lstm op's sigmoid threshold 13 and -40)",
    ),
    KnownDeviation(
        name="paddle-legacy-cell-output-gradient-dropped",
        backend="paddle-legacy",
        checks=("gradients_c_n",),
        summary="the op's backward ignores the gradient arriving through its cell output: "
        "every gradient of a loss on c_n comes out 0",
        quantities=GRADIENT_QUANTITIES,
        applies=lambda request: True,
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        model=models.CELL_UPSTREAM_DROPPED,
        upstream='https://github.com/PaddlePaddle/Paddle/issues/6970 (closed: the LSTM operator needs to support output cell states with gradients; PR #5115 set the cell state gradient to zero)',
    ),
    KnownDeviation(
        name="paddle-legacy-empty-sequence-gradients",
        backend="paddle-legacy",
        checks=GRADIENT_CHECKS,
        summary="with a sequence of length 0 in the batch, the backward gives that sequence's h0 a spurious gradient, "
        "its c0 uninitialised values, and the recurrent weight a wrong gradient; where relu or identity gates "
        "zero the spurious terms only the uninitialised values remain, so whether it shows is chance",
        quantities=frozenset({"grad_h0", "grad_c0", "grad_w_hh"}),
        applies=has_empty_sequence,
        reproducer="L1-fwd-tm-mixed0-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        strict=False,
        unmodelled="c0's gradient of an empty sequence is read from rows the op never writes (uninitialised memory: 0, NaN "
        "or 1e29 from run to run). Its h0 and w_hh errors are deterministic (the op sorts sequences longest first and "
        "reads an empty sequence's step-0 gate gradient from the next step's rows of another sequence: grad_h0 gains "
        "dz_r @ w_hh and grad_w_hh outer(dz_r, h0)) unless that row lies past the buffer's end; applies only with an "
        "empty sequence in the batch",
        upstream='not found upstream (a search of PaddlePaddle/Paddle issues for the lstm op with sequences of length 0)',
    ),
    KnownDeviation(
        name="paddle-legacy-float32-backward-hidden-multiple-of-8",
        backend="paddle-legacy",
        checks=GRADIENT_CHECKS,
        summary="in float32 with a hidden size divisible by 8 (the kernel's AVX path) the backward is wrong: "
        "every gradient is off by about its own size; float64 and other sizes are right",
        quantities=GRADIENT_QUANTITIES,
        applies=lambda request: request.dtype == "float32" and request.spec.hidden_size % 8 == 0,
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f32-H16-typ-cpu",
        model=models.PADDLE_LEGACY_AVX_BACKWARD,
        upstream="not found upstream (a search of PaddlePaddle/Paddle issues for dynamic_lstm's AVX backward with hidden sizes divisible by 8)",
    ),
    KnownDeviation(
        name="paddle-reverse-recurrent-weight-gradient",
        backend="paddle",
        checks=GRADIENT_CHECKS,
        summary="on the fused rnn path (no projection, with bias), bidirectional with given initial states, the "
        "backward cells' weight_hh gradient misses the h0 term (dz at the first processed step times h0) of every "
        "sequence with 0 < length < T",
        quantities=frozenset({"grad_w_hh"}),
        applies=lambda request: request.spec.bidirectional
        and request.spec.proj_size == 0
        and request.spec.bias
        and request.initial_states is not None
        and has_partial_sequence(request),
        reproducer="L1-bidir-tm-mixed-h0-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        model=models.PADDLE_REVERSE_H0_TERM,
        upstream='not found upstream (a search of PaddlePaddle/Paddle issues for bidirectional weight_hh gradients with sequence_length and initial states)',
    ),
    KnownDeviation(
        name="paddle-projection-padded-upstream-leaks",
        backend="paddle",
        checks=("padded_upstream",),
        summary="with proj_size > 0 and sequence_length, outputs at padded steps depend on the parameters "
        "(paddle-projection-padded-outputs), so a loss that touches them changes every gradient",
        quantities=GRADIENT_QUANTITIES,
        applies=lambda request: request.spec.proj_size > 0 and has_padding(request),
        reproducer="L1-fwd-tm-mixed-zero-P3-bias-nopeep-noclip-std-f64-base-typ-cpu",
        model=models.PADDLE_STEP_LOOP,
        upstream='not found upstream (a search of PaddlePaddle/Paddle issues for proj_size gradients with padding)',
    ),
    KnownDeviation(
        name="onnxruntime-softplus-overflows-in-float32",
        backend="onnxruntime",
        checks=("forward",),
        summary="the LSTM computes its Softplus activation as log(1 + exp(x)) in float32 (Softplus<float> in "
        "onnxruntime/core/providers/cpu/rnn/rnn_activation_functors.h, which rnn_helpers.cc gives every role asking for "
        "softplus), so it gives inf for every input from 88.72283935546875 on, the smallest float32 whose exp overflows, "
        "where softplus(x) is x to float32's precision; measured on the kernel with softplus as the cell activation (one "
        "step, zero weights, forget gate 1, input gate 0, output gate 1: h = softplus(initial_c) is inf for initial_c "
        "from 88.72283935546875 on and exact below). The inf then spreads through the recurrence. Found by the suite's "
        "random sweep; the edge regime reaches it",
        quantities=frozenset({"outputs", "h_n", "c_n"}),
        applies=lambda request: uses_activation(request, ("softplus",)) and activation_input_reaches(request, "softplus", models.FLOAT32_EXP_OVERFLOW),
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-onnx3-f32-base-edge-cpu",
        model=models.ONNXRUNTIME_SOFTPLUS_OVERFLOW,
        upstream="not found upstream (a search of microsoft/onnxruntime issues for LSTM, GRU and RNN Softplus overflow; "
        "#10491 is about the standalone Softplus operator's accuracy at x = -12.3)",
    ),
    KnownDeviation(
        name="onnxruntime-activation-parameter-defaults",
        backend="onnxruntime",
        checks=("forward",),
        summary="without activation_alpha/activation_beta, Affine runs with alpha = beta = 0 and ThresholdedRelu with "
        "alpha = 0, not the ONNX operators' defaults (Affine alpha 1, beta 0; ThresholdedRelu alpha 1) that the "
        "LSTM specification says apply: 'Default values are the same as of corresponding ONNX operators' "
        "(onnx/defs/rnn/defs.cc, ONNX 1.17, activation_alpha and activation_beta); ThresholdedRelu's alpha defaults "
        "to 1.0 (onnx/defs/math/defs.cc), Affine's to alpha 1.0, beta 0.0 (onnx/defs/experiments/defs.cc, before "
        "the operator was removed). ONNX Runtime's rnn_helpers.cc holds defaults for LeakyRelu, HardSigmoid and Elu "
        "only and passes 0 for the others",
        quantities=frozenset({"outputs", "h_n", "c_n"}),
        applies=lambda request: omits_onnx_parameters_of(request, ("affine", "thresholded_relu")),
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-onnxdef-f32-base-typ-cpu",
        model=models.ONNXRUNTIME_ACTIVATION_DEFAULTS,
        upstream='not found upstream (a search of microsoft/onnxruntime issues for activation_alpha defaults of Affine and ThresholdedRelu)',
    ),
    KnownDeviation(
        name="torch-onnx-projection-cut-to-proj-size",
        backend="torch-onnx",
        checks=("forward", *INVARIANT_CHECKS),
        summary="with proj_size > 0 the exporter writes a plain ONNX LSTM node with hidden_size = proj_size: W and R "
        "cut to their first 4*proj_size rows, weight_hr dropped, the initial cell state still of size hidden_size; "
        "ONNX Runtime refuses to run the model (Input initial_c must have shape {D, B, proj_size})",
        quantities=frozenset({"run"}),
        applies=lambda request: request.spec.proj_size > 0,
        reproducer="L1-fwd-tm-none-zero-P3-bias-nopeep-noclip-std-f32-base-typ-cpu",
        unmodelled="ONNX Runtime refuses the exported model: there are no values to model; applies only with a projection",
        upstream='not found upstream (a search of pytorch/pytorch issues for torch.onnx.export of nn.LSTM with proj_size)',
    ),
    KnownDeviation(
        name="paddle-onnx-sequence-length-dropped",
        backend="paddle-onnx",
        checks=("forward", "padding", "nan_padding", "final_state_is_last_output"),
        summary="the exported model has no sequence_lens: the LSTM runs over the padding as if every sequence had "
        "length T (padded outputs are not 0, final states are taken at step T-1, a backward direction starts at T-1)",
        quantities=frozenset({"outputs", "outputs_padded", "h_n", "c_n", "forward_last_output"}),
        applies=has_padding,
        reproducer="L1-fwd-tm-mixed-zero-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
        model=models.PADDLE_ONNX_NO_LENGTHS,
        upstream='not found upstream (a search of PaddlePaddle/Paddle2ONNX issues for LSTM sequence_length)',
    ),
    KnownDeviation(
        name="paddle-onnx-final-states-of-last-layer-only",
        backend="paddle-onnx",
        checks=("forward", "final_state_is_last_output", "stacking", "streaming"),
        summary="with num_layers > 1 the exported model's h_n and c_n hold only the last layer's states "
        "([D, B, H] instead of [L*D, B, H])",
        quantities=frozenset({"h_n", "c_n"}),
        applies=lambda request: request.spec.num_layers > 1,
        reproducer="L2-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
        model=models.PADDLE_ONNX_LAST_LAYER_STATES,
        upstream='not found upstream (a search of PaddlePaddle/Paddle2ONNX issues for multi-layer LSTM final states)',
    ),
    KnownDeviation(
        name="paddle-onnx-no-bias-crashes",
        backend="paddle-onnx",
        checks=("forward",),
        summary="without bias (bias_ih_attr=bias_hh_attr=False) the export crashes the process (SIGSEGV in "
        "paddle2onnx::Export)",
        quantities=frozenset({"run"}),
        applies=lambda request: not request.spec.bias,
        reproducer="L1-fwd-tm-none-zero-P0-nobias-nopeep-noclip-std-f32-base-typ-cpu",
        unmodelled="the export crashes the process: there are no values to model; applies only without bias",
        upstream='not found upstream (a search of PaddlePaddle/Paddle2ONNX issues for exporting an LSTM without bias)',
    ),
    KnownDeviation(
        name="keras-torch-float64-masked-loop-in-float32",
        backend="keras-torch",
        checks=("forward", "gradients", "gradients_c_n"),
        summary="a float64 keras.layers.LSTM given a mask runs Keras's generic RNN loop, whose ops.matmul casts to "
        "keras.backend.result_type(float64, float64) = float32 (Keras maps 64-bit to 32-bit types on every backend "
        "but TensorFlow): outputs, states and gradients are float32-accurate (relative error ~1e-7)",
        quantities=FORWARD_QUANTITIES | GRADIENT_QUANTITIES,
        applies=lambda request: request.dtype == "float64" and request.lengths is not None,
        reproducer="L1-fwd-tm-full-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        # Keras 3.11's generic loop computed float64 (measured: every armed test passed there).
        releases=Releases("3.12"),
        model=models.FLOAT32_ARITHMETIC,
        primitive=("matmul", "float64"),
        upstream='the cause is reported: https://github.com/keras-team/keras/issues/23223 (closed: keras.ops downcasts float64 to float32) and https://github.com/keras-team/keras/issues/23704 (open: torch float64 layers computing in float32); not for the LSTM',
    ),
    KnownDeviation(
        name="keras-torch-float64-cpu-loop-in-float32",
        backend="keras-torch",
        checks=("forward", "gradients", "gradients_c_n"),
        summary="Keras 3.12 and 3.13 run keras.layers.LSTM on torch through torch.nn.LSTM only where cuDNN is "
        "available: on the CPU keras.src.backend.torch.rnn.lstm raises NotImplementedError, so every LSTM, masked or "
        "not, runs Keras's generic RNN loop, which computes float64 in float32 (as in keras-torch-float64-masked-loop-"
        "in-float32): outputs, states and gradients are float32-accurate (relative error ~1e-8). Keras 3.14 added a "
        "pure-torch path in the kernel's dtype for unmasked inputs (_fallback_lstm); Keras 3.11 computed float64",
        quantities=FORWARD_QUANTITIES | GRADIENT_QUANTITIES,
        applies=lambda request: request.dtype == "float64" and request.lengths is None,
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        releases=Releases("3.12", "3.13"),
        model=models.FLOAT32_ARITHMETIC,
        primitive=("matmul", "float64"),
        upstream="not found upstream (a search of keras-team/keras issues for the torch backend's CPU LSTM path and float64)",
    ),
    KnownDeviation(
        name="keras-torch-float64-masked-loop-batch-dependent",
        backend="keras-torch",
        checks=("sample_alone",),
        summary="through the same float32 arithmetic (keras-torch-float64-masked-loop-in-float32), a masked float64 "
        "run of one sample differs from its row in the batch by ~1e-8, beyond float64 rounding; whether it shows "
        "depends on the case's data, so matching cases may pass",
        quantities=FORWARD_QUANTITIES,
        applies=lambda request: request.dtype == "float64" and request.lengths is not None,
        reproducer="L3-bidir-tm-mixed0-h0-P0-bias-nopeep-noclip-std-f64-H13-typ-cpu",
        strict=False,
        releases=Releases("3.12"),
        model=models.FLOAT32_ARITHMETIC,
        primitive=("matmul", "float64"),
        upstream='not found upstream (a search of keras-team/keras issues; the cause as for keras-torch-float64-masked-loop-in-float32)',
    ),
    KnownDeviation(
        name="keras-torch-float64-hard-sigmoid-gradient-slope",
        backend="keras-torch",
        checks=("gradients", "gradients_c_n"),
        summary="in float64, gradients through keras.activations.hard_sigmoid (torch.nn.functional.hardsigmoid) use "
        "the slope 1/6 rounded to float32, 0.1666666716 (torch's CPU hardsigmoid_backward_kernel multiplies by "
        "1.0f / 6.0f): float32-accurate gradients (relative error 3e-8) while the forward pass is exact. Measured "
        "on the primitive: hardsigmoid's float64 derivative is 0.1666666716337204 at every x in (-3, 3); silu's and "
        "gelu's float64 derivatives are exact (relative error 6e-17), which the earlier name blamed",
        quantities=GRADIENT_QUANTITIES,
        applies=lambda request: request.dtype == "float64" and uses_activation(request, ("hard_sigmoid_relu6",)),
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-keras1-f64-base-typ-cpu",
        model=models.KERAS_TORCH_HARD_SIGMOID_SLOPE,
        formerly=("keras-torch-float64-silu-gelu-gradients",),
        primitive=("hard_sigmoid_relu6'", "float64"),
        upstream="not found upstream (a search of pytorch/pytorch issues for hardsigmoid's float64 backward constant 1/6)",
    ),
    KnownDeviation(
        name="keras-jax-float64-tanh-in-float32",
        backend="keras-jax",
        checks=("forward", "gradients", "gradients_c_n"),
        summary="keras.ops.tanh casts its input to keras.backend.result_type(x.dtype, float), which is float32 for "
        "float64 x on JAX: a float64 LSTM with tanh (Keras's default activation) is float32-accurate (relative "
        "error ~1e-7) in outputs, states and gradients. From Keras 3.12, whose result_type maps a 64-bit result to 32 "
        "bits on every backend but TensorFlow (BIT64_TO_BIT32_DTYPE, keras/src/backend/common/dtypes.py); measured: "
        "result_type('float64', float) is float64 in 3.11.3 and float32 in 3.12.4, with the same ops.tanh",
        quantities=FORWARD_QUANTITIES | GRADIENT_QUANTITIES,
        applies=lambda request: request.dtype == "float64" and uses_activation(request, ("tanh",)),
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        releases=Releases("3.12"),
        model=models.FLOAT32_ARITHMETIC,
        primitive=("tanh", "float64"),
        upstream='not found upstream (a search of keras-team/keras issues for ops.tanh returning float32 for float64 on JAX)',
    ),
    KnownDeviation(
        name="keras-tensorflow-float64-gelu",
        backend="keras-tensorflow",
        checks=("forward", "gradients", "gradients_c_n"),
        summary="in float64, keras.activations.gelu on TensorFlow is float32-accurate, exact (relative error ~1e-8) "
        "and tanh-approximated (~1e-9) alike, in outputs, states and gradients",
        quantities=FORWARD_QUANTITIES | GRADIENT_QUANTITIES,
        applies=lambda request: request.dtype == "float64" and uses_activation(request, ("gelu", "gelu_tanh")),
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-keras2-f64-base-typ-cpu",
        model=models.FLOAT32_ARITHMETIC,
        primitive=("gelu", "float64"),
        upstream='not found upstream (a search of keras-team/keras issues for gelu computed in float32 on TensorFlow)',
    ),
    KnownDeviation(
        name="tensorflow-block-v2-gradient-in-v1-gate-order",
        backend="tensorflow-block",
        checks=("gradients", "gradients_c_n"),
        summary="TensorFlow registers BlockLSTM's gradient for BlockLSTMV2 (tensorflow/python/ops/rnn_grad.py): "
        "BlockLSTMGrad reads and writes the gate blocks as i, c, f, o while BlockLSTMV2 orders them i, f, c, o, so "
        "the forget and candidate blocks of every weight and bias gradient are swapped and the gradients of x, h0 "
        "and c0 are wrong too; calling BlockLSTMGradV2 directly gives the oracle's gradients where no cell is clipped "
        "(the V2 backward passes the cell clip's gradient through where the clip held the cell)",
        quantities=GRADIENT_QUANTITIES,
        applies=lambda request: True,
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
        model=models.TENSORFLOW_BLOCK_V1_GRADIENT,
        upstream="not found upstream (a search of tensorflow/tensorflow issues for BlockLSTMV2's registered gradient and its gate order)",
    ),
    KnownDeviation(
        name="mindspore-lengths-path-tanh-error-1e-4",
        backend="mindspore",
        checks=("forward", "gradients", "gradients_c_n"),
        summary="given seq_length, nn.LSTM runs a Python loop of its cell (mindspore.nn.layer.rnn_cells._lstm_cell) "
        "instead of the fused CPU kernel, and MindSpore's CPU ops.Tanh in float32 is a Pade approximant (nnacl "
        "TanhOpt, 1 beyond |x| = 5) off by up to 1.0e-4 near |x| = 5, where it overshoots 1 (1.5e-5 at 3 to 4, 1e-6 "
        "at 2 to 3): candidate and cell outputs carry that error. It shows beyond the float32 tolerance on some data "
        "whose tanh inputs pass 2, not always",
        quantities=FORWARD_QUANTITIES | GRADIENT_QUANTITIES,
        applies=lambda request: request.lengths is not None and largest_tanh_input(request) > 2.0,
        reproducer="L2-fwd-bm-mixed-zero-P0-bias-nopeep-noclip-std-f32-H1-typ-cpu",
        strict=False,
        model=models.MINDSPORE_TANH,
        primitive=("tanh", "float32"),
        upstream='the primitive is: https://github.com/mindspore-ai/mindspore/issues/348 (open: ops.tanh output differences up to 4.7e-5 on the CPU in float32); not the LSTM',
    ),
    KnownDeviation(
        name="mindspore-float16-fused-backward-stale-workspace",
        backend="mindspore",
        checks=GRADIENT_CHECKS,
        summary="without seq_length a float16 nn.LSTM runs ops.LSTM, whose CPU kernels (LSTM, LSTMGrad) take float32 "
        "only, so MindSpore casts around them; the forward's workspace output (its 4th, oneDNN's reserve: (7168, 1) "
        "in float32 on the base case) comes back in float16 as (1, 1), the shape the op's shape inference declares "
        "(mindspore/ops/infer/lstm.cc), and LSTMGrad reads its workspace from that one-element allocation: every "
        "gradient is wrong (all 0 in a fresh process, stale values later), while the forward values are right. "
        "LSTMGrad given the float32 forward's workspace cast to float16 returns the oracle's gradients to float16 "
        "rounding; with seq_length (a Python loop of the cell) the gradients are right",
        quantities=GRADIENT_QUANTITIES,
        applies=lambda request: request.dtype == "float16" and request.lengths is None,
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f16-base-typ-cpu",
        unmodelled="LSTMGrad reads memory the forward never wrote (zeros or stale values): there are no values to "
        "model; applies only to float16 without lengths, where it was measured",
        upstream="not found upstream (searches of GitHub issues and indexed pages for MindSpore LSTM float16 "
        "gradients and LSTMGrad float16 on the CPU; MindSpore's main tracker, on Gitee, was not searched)",
    ),
    KnownDeviation(
        name="mindspore-nan-switches-sigmoid-implementation",
        backend="mindspore",
        checks=("nan_padding",),
        summary="MindSpore's CPU ops.Sigmoid computes a float32 tensor holding a NaN anywhere by another method than "
        "one without (errors of 3e-7 become 5e-8): NaN at padded steps, which never reach a valid result, still "
        "change the rounding of every valid gate computed beside them",
        quantities=FORWARD_QUANTITIES,
        applies=has_padding,
        reproducer="L2-bidir-tm-mixed0-h0-P0-bias-nopeep-noclip-std-f32-H13-typ-cpu",
        model=models.OWN_ROUNDING,
        upstream='not found upstream (a search of mindspore-ai/mindspore issues for ops.Sigmoid results changing with NaN in the tensor)',
    ),
    *(
        KnownDeviation(
            name=f"{backend}-empty-sequence-final-carry-from-padding",
            backend=backend,
            checks=("forward", "gradients", "gradients_c_n", "padding", "nan_padding"),
            summary="nnx.RNN with seq_lengths takes each sequence's final carry at index length - 1 of the carries "
            "of every step, so for a sequence of length 0 it takes index -1: the carry after running the cell over "
            "all T padded steps, not the initial carry; h_n and c_n of empty sequences (and every gradient reaching "
            "them) depend on the padding",
            quantities=frozenset({"h_n", "c_n"}) | GRADIENT_QUANTITIES,
            applies=has_empty_sequence,
            reproducer="L1-fwd-tm-mixed0-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
            model=models.FLAX_EMPTY_FINAL_CARRY,
            upstream="not found upstream (a search of google/flax issues for nnx.RNN's final carry of sequences of length 0)",
        )
        for backend in ("flax", "flax-lstmcell")
    ),
    *(
        KnownDeviation(
            name=f"{backend}-nan-padding-poisons-results",
            backend=backend,
            checks=("nan_padding",),
            summary="NaN in padded input positions turns into NaN, for every sequence shorter than T: tfjs-layers' rnn "
            "(layers/recurrent.js) runs the cell at masked steps too and masks by multiplication, "
            "output * m + state * (1 - m), and 0 * NaN is NaN, so h_n, c_n and the outputs from the first padded step "
            "on are NaN (a reversed direction runs over the padding first: all of its outputs)",
            quantities=frozenset({"outputs", "h_n", "c_n"}),
            applies=has_padding,
            reproducer="L1-fwd-tm-mixed-zero-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
            model=models.TFJS_MASKED_BLEND,
            upstream="not found upstream (a search of tensorflow/tfjs issues for RNN masks with NaN and masking by multiplication)",
        )
        for backend in TFJS_LAYERS_BACKENDS
    ),
    *(
        KnownDeviation(
            name=f"{backend}-one-step-gradients-fail",
            backend=backend,
            checks=GRADIENT_CHECKS,
            summary="tf.variableGrads through tf.layers.lstm over a sequence of one step throws 'Argument tensors passed "
            "to stack must be a `Tensor[]` or `TensorLike[]`': the gradient of tf.unstack (Unpack's gradFunc, "
            "stack(dy, axis)) gets a single tensor, not a list, when the unstacked axis has one element; "
            "tf.grad(x => tf.unstack(x)[0].sum()) on a [1, 3] tensor throws the same, on a [2, 3] one it does not",
            quantities=frozenset({"run"}),
            applies=lambda request: np.asarray(request.x).shape[1 if request.batch_first else 0] == 1,
            reproducer="L1-fwd-bm-full-h0-P0-nobias-nopeep-noclip-std-f32-T1-sat-cpu",
            unmodelled="an exception: there are no gradients to model; applies only to sequences of one step, where it was measured",
            upstream="not found upstream (a search of tensorflow/tfjs issues for the gradient of unstack over one element)",
        )
        for backend in TFJS_LAYERS_BACKENDS
    ),
    KnownDeviation(
        name="openvino-onnx-peepholes-dropped",
        backend="openvino",
        checks=("forward",),
        summary="an ONNX LSTM's peephole input P is read and then left out: the ONNX frontend builds an opset-5 "
        "LSTMSequence, which has no peephole input (src/frontends/onnx/frontend/src/op/lstm.cpp passes X, initial_h, "
        "initial_c, sequence_lens, W, R and B to v5::LSTMSequence), with no error or warning",
        quantities=FORWARD_QUANTITIES,
        applies=lambda request: request.spec.peepholes,
        reproducer="L1-fwd-tm-none-zero-P0-bias-peep-noclip-std-f32-base-typ-cpu",
        # Measured from 2025.4.1 on; 2024.6.0 refuses such LSTMs (below).
        releases=Releases("2025.4"),
        model=models.OPENVINO_NO_PEEPHOLES,
        upstream="not found upstream (a search of openvinotoolkit/openvino issues for ONNX LSTM peepholes; its own ONNX "
        "backend test test_lstm_with_peepholes_cpu is marked as an expected failure)",
    ),
    KnownDeviation(
        name="openvino-onnx-input-forget-dropped",
        backend="openvino",
        checks=("forward",),
        summary="an ONNX LSTM's input_forget = 1 is read and then left out: v5::LSTMSequence has no coupled-gate "
        "attribute and the ONNX frontend (src/frontends/onnx/frontend/src/op/lstm.cpp) does not pass it on, so the "
        "forget gate is computed from its own weights, with no error or warning",
        quantities=FORWARD_QUANTITIES,
        # With zero initial states and one step the forget gate multiplies c_prev = 0: coupled or not, it changes nothing.
        applies=lambda request: request.spec.input_forget and (request.initial_states is not None or models.steps_of(request) > 1),
        reproducer="L1-fwd-tm-none-zero-P0-bias-cifg-noclip-std-f32-base-typ-cpu",
        releases=Releases("2025.4"),
        model=models.UNCOUPLED_GATES,
        upstream="not found upstream (a search of openvinotoolkit/openvino issues for ONNX LSTM input_forget)",
    ),
    KnownDeviation(
        name="openvino-2024-peephole-and-coupled-lstm-not-compiled",
        backend="openvino",
        checks=("forward",),
        summary="an ONNX LSTM with peepholes or input_forget = 1 reads, but compile_model for the CPU raises "
        "'Unsupported operation of type: LSTMSequence ... Cannot fallback on ngraph reference implementation' "
        "(measured on 2024.6.0, where every such case fails and every other passes); from 2025.0, the release that "
        "removed LSTMSequence v0 (PR #27330), the same models compile and drop both instead",
        quantities=frozenset({"run"}),
        applies=lambda request: request.spec.peepholes or request.spec.input_forget,
        reproducer="L1-fwd-tm-none-zero-P0-bias-peep-noclip-std-f32-base-typ-cpu",
        releases=Releases("2024.6", "2024.6"),
        unmodelled="compile_model raises: there are no values to model; applies to the release it was measured on",
        upstream="not found upstream (a search of openvinotoolkit/openvino issues for LSTMSequence with peepholes on the CPU)",
    ),
    KnownDeviation(
        name="openvino-one-direction-sequence-lens-ignored",
        backend="openvino",
        checks=("forward", "padding", "nan_padding", "last_output_only"),
        summary=OPENVINO_LENGTHS_IGNORED,
        quantities=frozenset({"outputs", "outputs_padded", "h_n", "c_n", "last_output"}),
        applies=lambda request: has_padding(request) and runs_as_one_rnn_node(request.spec),
        reproducer="L1-fwd-tm-mixed-zero-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
        model=models.LENGTHS_IGNORED,
        upstream=OPENVINO_LENGTHS_UPSTREAM,
    ),
    KnownDeviation(
        name="openvino-forward-sequence-lens-ignored-final-state",
        backend="openvino",
        checks=("final_state_is_last_output",),
        summary="as openvino-one-direction-sequence-lens-ignored, seen by the backend against itself: in the forward "
        "direction h_n is the state after step T-1, not the output at each sequence's last valid step (a reverse "
        "direction's last output, at step 0, is its h_n either way). " + OPENVINO_LENGTHS_IGNORED,
        quantities=frozenset({"forward_last_output"}),
        applies=lambda request: has_padding(request) and runs_as_one_rnn_node(request.spec) and not request.spec.reverse,
        reproducer="L1-fwd-tm-mixed-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        model=models.LENGTHS_IGNORED,
        upstream=OPENVINO_LENGTHS_UPSTREAM,
    ),
    openvino_float64_in_float32(
        "openvino",
        "a float64 ONNX LSTM runs and returns float64 arrays, computed in float32 (error ~3e-8 of the values), "
        "and so does the backend's MatMul probe: the CPU plugin converts f64 to f32 inside the model and keeps its inputs "
        "and outputs f64 (get_convert_precisions and ConvertPrecision with convert_input_output_precision = false, "
        "src/plugins/intel_cpu/src/transformations/transformation_pipeline.cpp); its documented model precisions are "
        "FP32, BF16 and FP16, with no word on f64, and nothing is said at run time",
    ),
    KnownDeviation(
        name="openvino-opset-sequence-lengths-ignored",
        backend="openvino-opset",
        checks=("forward", "padding", "nan_padding"),
        summary=OPENVINO_OPSET_LENGTHS_IGNORED,
        quantities=frozenset({"outputs", "outputs_padded", "h_n", "c_n"}),
        applies=lambda request: has_padding(request) and opset_runs_as_one_rnn_node(request.spec),
        reproducer="L1-fwd-tm-mixed-zero-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
        model=models.LENGTHS_IGNORED,
        upstream=OPENVINO_LENGTHS_UPSTREAM,
    ),
    KnownDeviation(
        name="openvino-opset-sequence-lengths-ignored-final-state",
        backend="openvino-opset",
        checks=("final_state_is_last_output",),
        summary="as openvino-opset-sequence-lengths-ignored, seen by the backend against itself: in the forward direction "
        "h_n is the state after step T-1, not the output at each sequence's last valid step. " + OPENVINO_OPSET_LENGTHS_IGNORED,
        quantities=frozenset({"forward_last_output"}),
        applies=lambda request: has_padding(request) and opset_runs_as_one_rnn_node(request.spec) and not request.spec.reverse,
        reproducer="L1-fwd-tm-mixed-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        model=models.LENGTHS_IGNORED,
        upstream=OPENVINO_LENGTHS_UPSTREAM,
    ),
    openvino_float64_in_float32(
        "openvino-opset",
        "as openvino-float64-in-float32, for a model built with OpenVINO's own API: a float64 LSTMSequence runs "
        "and returns float64 arrays, computed in float32, and so does the backend's MatMul probe",
    ),
    KnownDeviation(
        name="tract-onnx-reverse-runs-forward",
        backend="tract",
        checks=("forward",),
        summary="an ONNX LSTM with direction = reverse runs forward, with no error or warning: tract's ONNX frontend never "
        "reads the direction attribute and takes the number of directions from W's first dimension, running the second "
        "one backward (onnx/src/ops/rec/common.rs: wire_one_side(..., 1) only where W's shape[0] is 2)",
        quantities=FORWARD_QUANTITIES,
        # One step is the same forward and backward.
        applies=lambda request: request.spec.reverse and models.steps_of(request) > 1,
        reproducer="L1-rev-tm-none-h0-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
        releases=Releases("0.21"),
        model=models.FORWARD_DIRECTION,
        upstream=TRACT_UPSTREAM + "; the direction is not among what it lists",
    ),
    KnownDeviation(
        name="tract-onnx-input-forget-ignored",
        backend="tract",
        checks=("forward",),
        summary="an ONNX LSTM's input_forget = 1 is never read (onnx/src/ops/rec/common.rs reads only layout from the node): "
        "the forget gate is computed from its own weights, with no error or warning",
        quantities=FORWARD_QUANTITIES,
        # With zero initial states and one step the forget gate multiplies c_prev = 0: coupled or not, it changes nothing.
        applies=lambda request: request.spec.input_forget and (request.initial_states is not None or models.steps_of(request) > 1),
        reproducer="L1-fwd-tm-none-h0-P0-bias-cifg-noclip-std-f32-base-typ-cpu",
        releases=Releases("0.21"),
        model=models.UNCOUPLED_GATES,
        upstream=TRACT_UPSTREAM,
    ),
    KnownDeviation(
        name="tract-onnx-clip-ignored",
        backend="tract",
        checks=("forward",),
        summary="an ONNX LSTM's clip attribute is never read (onnx/src/ops/rec/common.rs reads only layout from the node): "
        "the gate and candidate pre-activations are not clipped, with no error or warning",
        quantities=FORWARD_QUANTITIES,
        applies=lambda request: request.spec.activation_clip is not None,
        reproducer="L1-fwd-tm-none-h0-P0-bias-nopeep-aclip-std-f32-base-typ-cpu",
        releases=Releases("0.21"),
        model=models.UNCLIPPED,
        upstream=TRACT_UPSTREAM,
    ),
    KnownDeviation(
        name="tract-float16-without-initial-states-fails",
        backend="tract",
        checks=("forward",),
        summary="a float16 ONNX LSTM without initial_h and initial_c does not run: tract's ONNX frontend builds the missing "
        "states as float32 zeros (tensor0(0.0f32) in onnx/src/ops/rec/common.rs) for a Scan whose state is declared in X's "
        "dtype, and evaluating or optimizing the Scan raises ('Input at index 0 has incorrect dtype or shape (got ...,F32 "
        "..., expected to match fact ...,F16)', at one step 'running pass ChangeAxes'); with the states given it runs",
        quantities=frozenset({"run"}),
        applies=lambda request: request.dtype == "float16" and request.initial_states is None,
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f16-base-typ-cpu",
        releases=Releases("0.23"),
        unmodelled="the run raises: there are no values to model",
        upstream="not found upstream (a search of sonos/tract issues for float16 LSTM and Scan initial state dtype)",
    ),
    KnownDeviation(
        name="tract-onnx-reshape-zero-copies-the-wrong-dimension",
        backend="tract",
        checks=("forward",),
        summary="an ONNX Reshape to [0, 0, -1] (0: the input's dimension at that index) of a [1, B, D, H] tensor gives "
        "[1, 1, B*D*H] instead of [1, B, D*H], with no error (measured alone on that one node: 0.21.19 and 0.22.4 give "
        "(1, 1, 36) for a (1, 3, 2, 6) input, 0.23.1 gives (1, 3, 12)); the model merges each layer's directions so, and "
        "with one step and more than one sequence a lone layer returns its outputs as one row",
        quantities=frozenset({"outputs"}),
        applies=lambda request: request.spec.num_layers == 1 and models.steps_of(request) == 1 and request.x.shape[0 if request.batch_first else 1] > 1,
        reproducer="L1-bidir-tm-none-h0-P0-bias-nopeep-noclip-std-f32-T1-typ-cpu",
        releases=Releases("0.21", "0.22"),
        model=models.ONE_ROW_OUTPUTS,
        upstream="reported and fixed upstream: sonos/tract#2104, fixed by PR #2142 (the 0s were replaced by matching "
        "volumes, which stalls on input dimensions of 1, as [1, 52, 8, 32] to [0, 0, 8, 16, 2] gave [1, 1, 8, 16, 2]); "
        "0.23.0 on run it right (the matrix)",
    ),
    KnownDeviation(
        name="tract-onnx-reshape-zero-fails-later-layers",
        backend="tract",
        checks=("forward",),
        summary="the Reshape of tract-onnx-reshape-zero-copies-the-wrong-dimension on the first layer's outputs, with one "
        "step and more than one sequence, makes the next layer's input one sequence long, so the model with a second layer "
        "does not build ('Impossible to unify Val(B) with Val(1)', analysing the second LSTM or the Concat of the final states)",
        quantities=frozenset({"run"}),
        applies=lambda request: request.spec.num_layers > 1 and models.steps_of(request) == 1 and request.x.shape[0 if request.batch_first else 1] > 1,
        reproducer="L2-fwd-tm-none-h0-P0-bias-nopeep-noclip-std-f32-T1-typ-cpu",
        releases=Releases("0.21", "0.22"),
        unmodelled="the run raises: there are no values to model",
        upstream="the Reshape's: sonos/tract#2104, fixed by PR #2142; 0.23.0 on run it (the matrix)",
    ),
    KnownDeviation(
        name="tract-float16-scan-state-fails",
        backend="tract",
        checks=("forward",),
        summary="a float16 ONNX LSTM does not run, with or without initial states: typing the Scan tract makes of it fails "
        "('inconsistent state shape: body input 3 is 3,1,6,F16 and body output 0 is 3,1,6,F32')",
        quantities=frozenset({"run"}),
        applies=lambda request: request.dtype == "float16",
        reproducer="L3-bidir-tm-none-h0-P0-nobias-peepcifg-noclip-std-f16-base-typ-cpu",
        releases=Releases("0.21", "0.22"),
        unmodelled="the run raises: there are no values to model",
        upstream="the same error for a float16 GRU: sonos/tract#1895 (closed, 2025); 0.23.0 on run float16 LSTMs with "
        "initial states (the matrix)",
    ),
    KnownDeviation(
        name="tract-one-layer-without-initial-states-fails",
        backend="tract",
        checks=("forward",),
        summary="an ONNX model of one LSTM node with one direction, no peepholes and no initial states, over more than one "
        "step and more than one sequence, does not run: 0.23.2 to 0.23.8 fail to optimize it ('running pass ChangeAxes ... "
        "AxisChange ... from \"layer0.Y.h0\" Const') and 0.23.9 fails evaluating the Scan ('Clashing resolution for "
        "expression. 1=1 != B'); with initial states, peepholes, two directions, a second layer, one step or one sequence it "
        "runs (tract's fused LSTM cell, PR #2294, released between 0.23.1 and 0.23.5, applies only without peepholes; the "
        "cause was not traced further)",
        quantities=frozenset({"run"}),
        applies=lambda request: (
            request.spec.num_layers == 1
            and not request.spec.bidirectional
            and not request.spec.peepholes
            and request.initial_states is None
            and models.steps_of(request) > 1
            and request.x.shape[0 if request.batch_first else 1] > 1
        ),
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
        releases=Releases("0.23.2"),
        unmodelled="the run raises: there are no values to model",
        upstream="not found upstream (a search of sonos/tract issues for LSTM Scan 'Clashing resolution' and ChangeAxes)",
    ),
    KnownDeviation(
        name="tract-onnx-activations-ignored",
        backend="tract",
        checks=("forward",),
        summary="an ONNX LSTM's activations (and their alpha and beta) are never read: tract's LSTM always builds sigmoid "
        "gates and tanh candidate and cell output (onnx/src/ops/rec/lstm.rs), with no error or warning",
        quantities=FORWARD_QUANTITIES,
        applies=lambda request: any(getattr(request.spec, role) != classic for role, classic in zip(ACTIVATION_ROLES, DEFAULT_ACTIVATIONS)),
        reproducer="L1-fwd-tm-none-h0-P0-bias-nopeep-noclip-onnxdef-f32-base-typ-cpu",
        releases=Releases("0.21"),
        model=models.CLASSIC_ACTIVATIONS,
        upstream=TRACT_UPSTREAM,
    ),
    KnownDeviation(
        name="litert-converter-clips-cell-state-at-10",
        backend="litert",
        checks=("forward",),
        summary="TensorFlow's TFLite converter gives the UNIDIRECTIONAL_SEQUENCE_LSTM it makes of a Keras LSTM a cell clip "
        "of 10 (its cell_clip option reads 10.0 in the converted flatbuffer), which the Keras layer does not have: "
        "once a cell state passes 10 in magnitude it is clipped to [-10, 10], so it and every value computed from it "
        "differ from Keras's, with no warning. Not strict: where a cell state only just passes 10, the difference "
        "can stay within the tolerance",
        quantities=FORWARD_QUANTITIES,
        applies=lambda request: largest_cell_state(request) > models.LITERT_CELL_CLIP,
        reproducer="L3-fwd-bm-none-h0-P0-bias-nopeep-noclip-std-f32-long-sat-cpu",
        strict=False,
        model=models.CELL_CLIPPED_AT_10,
        upstream=LITERT_CELL_CLIP_UPSTREAM,
    ),
    KnownDeviation(
        name="tf2onnx-masked-steps-blended-by-multiplication",
        backend="tf2onnx",
        checks=("nan_padding",),
        summary="tf2onnx converts the select by which Keras 2's rnn loop keeps the state at masked steps (tf.where) into "
        "arithmetic in the ONNX Loop's body: the mask is cast to float and the new and old values blended as new * m + "
        "old * (1 - m) (Not, Cast, Mul and Add in the converted body), so NaN in padded input positions, which the Keras "
        "model itself never lets reach a result, turns h_n, c_n and the outputs from the first padded step on into NaN",
        quantities=frozenset({"outputs", "h_n", "c_n"}),
        applies=has_padding,
        reproducer="L2-rev-tm-mixed0-h0-P0-bias-nopeep-noclip-std-f32-H13-typ-cpu",
        model=models.KERAS_2_MASKED_BLEND,
        upstream=TF2ONNX_MASK_UPSTREAM,
    ),
    KnownDeviation(
        name="onnx2tf-without-initial-states-fails",
        backend="onnx2tf",
        checks=ONNX2TF_RUN_CHECKS,
        summary="an ONNX LSTM node without initial_h and initial_c does not convert: onnx2tf's Keras RNN raises 'An "
        "`initial_state` was passed that is not compatible with `cell.state_size`. Received `state_spec`=ListWrapper([])' "
        "(the ONNX operator takes both as optional, zeros when left out)",
        quantities=frozenset({"run"}),
        applies=lambda request: request.initial_states is None,
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
        unmodelled="the conversion raises: there are no values to model",
        upstream=ONNX2TF_UPSTREAM,
    ),
    KnownDeviation(
        name="onnx2tf-without-bias-fails",
        backend="onnx2tf",
        checks=ONNX2TF_RUN_CHECKS,
        summary="an ONNX LSTM node without its bias B does not convert: onnx2tf reads B as the tensor named by the "
        "node's fourth input with no check for the empty name that marks an optional input left out (it checks "
        "sequence_lens and P for it), so KeyError '' where a later input follows, and TypeError \"'NoneType' object is "
        "not subscriptable\" where B is left off the end (the ONNX operator takes B as optional, zeros when left out)",
        quantities=frozenset({"run"}),
        applies=lambda request: not request.spec.bias,
        reproducer="L1-fwd-tm-none-h0-P0-nobias-nopeep-noclip-std-f32-base-typ-cpu",
        unmodelled="the conversion raises: there are no values to model",
        upstream=ONNX2TF_FIXED_IN_2_2,
    ),
    KnownDeviation(
        name="onnx2tf-sequence-lengths-ignored",
        backend="onnx2tf",
        checks=("forward", "padding", "nan_padding"),
        summary="onnx2tf reads an LSTM node's sequence_lens and never uses it (onnx2tf/ops/LSTM.py only logs it): "
        "every sequence runs all T steps, with no error or warning, so the padded outputs are not 0, the final states "
        "are taken at step T-1 and a reverse direction starts at T-1",
        quantities=frozenset({"outputs", "outputs_padded", "h_n", "c_n"}),
        applies=has_padding,
        reproducer="L1-fwd-tm-mixed-h0-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
        model=models.LENGTHS_IGNORED,
        upstream=ONNX2TF_UPSTREAM,
    ),
    KnownDeviation(
        name="onnx2tf-states-concatenated-along-another-axis",
        backend="onnx2tf",
        checks=("forward", "sample_alone"),
        summary="with more than one layer of one direction, and one sample or a hidden size of 1, the converted model "
        "returns the final states Y_h and Y_c, the ONNX Concat of the layers' [1, B, H] states along axis 0, joined "
        "along another axis: axis 1 where B = 1 < H ([1, L, H]), axis 2 where H = 1 < B or B = H = 1 with three "
        "layers or more ([1, B, L]): onnx2tf's Concat picks its axis by its layout inference, which goes by the sizes "
        "(onnx2tf/ops/Concat.py); the values are the right ones, in the wrong places (measured for 2 to 4 layers; with "
        "two directions the states join along axis 0)",
        quantities=frozenset({"h_n", "c_n"}),
        applies=lambda request: not request.spec.bidirectional and request.spec.num_layers > 1 and models.onnx2tf_states_axis(request) != 0,
        reproducer="L2-fwd-tm-none-h0-P0-bias-nopeep-noclip-std-f32-B1-typ-cpu",
        model=models.ONNX2TF_STATES_AXIS,
        upstream=ONNX2TF_UPSTREAM,
    ),
    KnownDeviation(
        name="onnx2tf-activation-parameters-ignored",
        backend="onnx2tf",
        checks=("forward",),
        summary="onnx2tf never reads an LSTM node's activation_alpha and activation_beta: it builds each activation "
        "with the alpha and beta of its own table (onnx2tf/ops/LSTM.py, ONNX_ACTIVATION_MAPPING[name][1] and [2]), "
        "so HardSigmoid, Elu, Affine and ScaledTanh run with those values whatever the model says, with no warning",
        quantities=FORWARD_QUANTITIES,
        applies=onnx2tf_drops_parameters,
        reproducer="L1-fwd-tm-none-h0-P0-bias-nopeep-noclip-onnx4-f32-base-typ-cpu",
        model=models.ONNX2TF_ACTIVATION_DEFAULTS,
        upstream="related upstream: PINTO0309/onnx2tf#300 (closed), on how the RNN ops call their activations; its fix, "
        "PR #301 (1.8.22), builds them with the table's defaults, as 2.6.7 still does",
    ),
    KnownDeviation(
        name="onnx2tf-leaky-and-thresholded-relu-fail",
        backend="onnx2tf",
        checks=ONNX2TF_RUN_CHECKS,
        summary="an LSTM with LeakyRelu or ThresholdedRelu among its activations does not convert: onnx2tf passes its "
        "alpha as a tensor, which tf.nn.leaky_relu refuses (TypeError: Expected float for argument 'alpha') and "
        "tf_keras's ThresholdedReLU compares as a Python bool (OperatorNotAllowedInGraphError)",
        quantities=frozenset({"run"}),
        applies=lambda request: uses_activation(request, ("leaky_relu", "thresholded_relu")),
        reproducer="L1-fwd-tm-none-h0-P0-bias-nopeep-noclip-onnx3-f32-base-typ-cpu",
        unmodelled="the conversion raises: there are no values to model",
        upstream=ONNX2TF_FIXED_IN_2_2,
    ),
    KnownDeviation(
        name="onnx2tf-softsign-needs-flex-ops",
        backend="onnx2tf",
        checks=ONNX2TF_RUN_CHECKS,
        summary="an LSTM with Softsign among its activations converts into a TFLite model with a FlexSoftsign op (onnx2tf "
        "converts with TensorFlow's select ops allowed, and TFLite has no softsign builtin), which LiteRT's interpreter "
        "without the Flex delegate refuses to run ('Select TensorFlow op(s), included in the given model, is(are) not "
        "supported by this interpreter')",
        quantities=frozenset({"run"}),
        applies=lambda request: uses_activation(request, ("softsign",)),
        reproducer="L1-fwd-tm-none-h0-P0-bias-nopeep-noclip-onnx1-f32-base-typ-cpu",
        unmodelled="the interpreter refuses the model: there are no values to model",
        upstream=ONNX2TF_UPSTREAM,
    ),
    KnownDeviation(
        name="onnx2tf-one-output-split-needs-flex-ops",
        backend="onnx2tf",
        checks=ONNX2TF_RUN_CHECKS,
        summary="a one-layer bidirectional model with initial states converts into a TFLite model with two FlexSplitV "
        "ops: onnx2tf writes the ONNX Split that gives the one layer its initial states [2, B, H] (one output) as "
        "TensorFlow's SplitV, which the TFLite converter leaves to TensorFlow's select ops; LiteRT's interpreter "
        "without the Flex delegate refuses to run it. With two layers (two outputs) the Split converts to TFLite's own",
        quantities=frozenset({"run"}),
        applies=lambda request: request.spec.bidirectional and request.spec.num_layers == 1 and request.initial_states is not None,
        reproducer="L1-bidir-tm-none-h0-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
        unmodelled="the interpreter refuses the model: there are no values to model",
        upstream="not reported upstream as such: PINTO0309/onnx2tf PRs #219, #262 and #324 suppress FlexSplitV where "
        "a split is of size 1, not this one-output split of size 2",
    ),
    KnownDeviation(
        name="onnx2tf-peepholes-as-matrix-product",
        backend="onnx2tf",
        checks=ONNX2TF_RUN_CHECKS,
        summary="onnx2tf applies an LSTM's peepholes as matrix products, tf.matmul(peephole_i, c_prev) with the peephole "
        "[1, H] and c_prev [B, H] (onnx2tf/ops/LSTM.py), where the ONNX operator multiplies element-wise: unless B "
        "equals H the conversion raises ('Dimensions must be equal, but are H and B'); where B equals H each peephole "
        "term is one row, the sum over the batch of each sample's cell state weighted by P, added to every sample's "
        "gate input, so each sample's gates depend on the others' cell states (with B = H = 1 that is the ONNX term)",
        quantities=frozenset({"run"}) | FORWARD_QUANTITIES,
        applies=lambda request: request.spec.peepholes,
        reproducer="L1-fwd-tm-none-h0-P0-bias-peep-noclip-std-f32-base-typ-cpu",
        model=models.ONNX2TF_PEEPHOLE_ROWS,
        upstream="not reported upstream; introduced by PINTO0309/onnx2tf PR #303 (1.8.24), whose description gives the "
        "element-wise formula, and unchanged in 2.6.7",
    ),
    KnownDeviation(
        name="onnx2tf-float64-fails",
        backend="onnx2tf",
        checks=ONNX2TF_RUN_CHECKS,
        summary="a float64 ONNX LSTM does not convert: onnx2tf makes the cell's input float32 and keeps its weights "
        "float64, and TensorFlow refuses the product ('Input 'b' of 'MatMul' Op has type float64 that does not match "
        "type float32 of argument 'a'')",
        quantities=frozenset({"run"}),
        applies=lambda request: request.dtype == "float64",
        reproducer="L1-fwd-tm-none-h0-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        unmodelled="the conversion raises: there are no values to model",
        upstream=ONNX2TF_UPSTREAM,
    ),
)
