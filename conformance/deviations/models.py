"""What each built-in known deviation's backend computes instead: the models of
:data:`conformance.deviations.KNOWN_DEVIATIONS` (see :class:`conformance.deviations.DeviationModel`).

Each model was measured against its backend on varied cases (sizes, layers, directions,
lengths, peepholes, both dtypes where the backend has them) before it was written here,
and the suite holds every case a deviation applies to to its model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from adapters.base import RunRequest
from reference import CellParams, LSTMGradients, LSTMResult, LSTMSpec, sigmoid
from reference.spec import ACTIVATION_ROLES, DEFAULT_ACTIVATIONS
from reference.textbook import ROLES, TEXTBOOK, Variant, activations_of, step_backward, step_forward, textbook_forward

from conformance.deviations import DeviationModel
from conformance.judge.expectations import lengths_of, time_major

FLOAT32_ARITHMETIC = DeviationModel("float64 carried out in float32: the oracle's values, to float32's tolerances", arithmetic="float32")
OWN_ROUNDING = DeviationModel("the oracle's values, each run rounded its own way: its dtype's tolerances, not bit for bit")


def steps_of(request: RunRequest) -> int:
    return request.x.shape[1 if request.batch_first else 0]


def with_roles(request: RunRequest, replaced: dict[str, str]) -> RunRequest:
    """``request`` with each role whose activation is named in ``replaced`` given that
    activation text instead."""
    spec = request.spec
    changes = {role: replaced[spec.activation(role).name] for role in ROLES if spec.activation(role).name in replaced}
    return replace(request, spec=replace(spec, **changes)) if changes else request


def without_cell_upstream(upstream: LSTMResult) -> LSTMResult:
    return upstream._replace(c_n=np.zeros_like(upstream.c_n))


@dataclass(frozen=True)
class ClampedSigmoid:
    """sigmoid(min(max(x, lower), upper)), with derivative y (1 - y) at that value."""

    lower: float = -40.0
    upper: float = 13.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(np.clip(x, self.lower, self.upper))

    def derivative(self, x: np.ndarray | None, y: np.ndarray) -> np.ndarray:
        return y * (1.0 - y)


def clamped_sigmoid(request: RunRequest) -> Variant:
    """Every role the request's spec gives sigmoid runs :class:`ClampedSigmoid`."""
    return Variant(activations={role: ClampedSigmoid() for role in ROLES if request.spec.activation(role).name == "sigmoid"})


# torch's CPU hardsigmoid backward multiplies by 1.0f / 6.0f, a float literal: 1/6 rounded
# to float32 (aten/src/ATen/native/cpu/Activation.cpp, hardsigmoid_backward_kernel).
FLOAT32_SIXTH = float(np.float32(1.0 / 6.0))


@dataclass(frozen=True)
class SlopeOfFloat32Sixth:
    """An activation whose derivative's 1/6 slope is rounded to float32 (its values exact)."""

    exact: object

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.exact(x)

    def derivative(self, x: np.ndarray | None, y: np.ndarray) -> np.ndarray:
        return self.exact.derivative(x, y) * (FLOAT32_SIXTH * 6.0)


def float32_sixth_hard_sigmoid(request: RunRequest) -> Variant:
    spec = request.spec
    return Variant(activations={role: SlopeOfFloat32Sixth(spec.activation(role)) for role in ROLES if spec.activation(role).name == "hard_sigmoid_relu6"})


def v1_gate_order(request: RunRequest) -> Variant:
    """BlockLSTMGrad's gradient of BlockLSTMV2: the gate gradients its products use in V1's
    order i, c, f, o read as V2's i, f, c, o (forget and candidate blocks swapped); the
    cell clip passes every gradient."""
    return Variant(gate_gradients=lambda dz, cell, step: dz[:, [0, 2, 1, 3]], cell_clip_gradient=False)


def h0_term_dropped(request: RunRequest) -> Variant:
    """The reversed cells' recurrent weight gradient without the h0 term of sequences with
    0 < length < T (their first processed step)."""
    lengths, steps, spec = lengths_of(request), steps_of(request), request.spec
    kept = np.where((lengths > 0) & (lengths < steps), 0.0, 1.0)
    reversed_cells = {spec.cell_index(layer, direction) for layer, direction in spec.cells() if spec.runs_reversed(direction)}
    return Variant(recurrent_rows=lambda cell, step: kept if step == 0 and cell in reversed_cells else None)


def without_peepholes(request: RunRequest) -> RunRequest:
    """``request``'s LSTM without its peephole weights."""
    params = tuple(replace(cell, w_ic=None, w_fc=None, w_oc=None) for cell in request.params)
    return replace(request, spec=replace(request.spec, peepholes=False), params=params)


def last_layer_states(request: RunRequest, result: LSTMResult) -> LSTMResult:
    directions = request.spec.num_directions
    return result._replace(h_n=result.h_n[-directions:], c_n=result.c_n[-directions:])


def empty_sequences_run_to_the_end(request: RunRequest) -> RunRequest:
    """Sequences of length 0 given length T: their final carry is the one after all T steps."""
    lengths = lengths_of(request)
    return replace(request, lengths=np.where(lengths == 0, steps_of(request), lengths))


@dataclass(frozen=True)
class DirectionSteps:
    """One cell's run of paddle's step loop: its index, whether it ran over the sequence
    flipped, its mask in its own order [T, B, 1] and every step's values (textbook names)."""

    index: int
    flipped: bool
    masks: np.ndarray
    steps: list[dict]


def paddle_loop_steps(
    request: RunRequest, outputs_carried: bool = False, keras_outputs: bool = False, step=step_forward
) -> tuple[LSTMResult, list[DirectionSteps], np.ndarray]:
    """What paddle.nn.LSTM computes on the path it takes with a projection (its Python loop
    of LSTMCell, ``paddle.nn.layer.rnn._rnn_dynamic_graph``) and, for the input it reads, on
    the fused kernel: every step runs the cell and outputs its new h; the state is masked by
    multiplication, new * m + old * (1 - m) with m = [t < length] (so NaN at a padded step
    reaches the state); a reversed direction runs over the whole padded sequence from T - 1
    down (its state stays the initial one at padded steps). Without a projection (the fused
    kernel) the outputs are multiplied by m too. Each layer reads the last one's outputs,
    padding included. With ``outputs_carried`` (TensorFlow.js's ``rnn``), each step outputs its
    masked h instead (at a padded step the h it carries, NaN included) and nothing is
    multiplied by m afterwards. With ``keras_outputs`` (Keras 2's ``rnn`` with its selects
    turned into the same arithmetic), each step outputs new h * m + previous output * (1 - m),
    the previous output starting at 0, and 0 in place of the previous output in two
    directions (``Bidirectional`` zeroes the outputs at masked steps). ``step``: what one
    step of one cell computes (:func:`reference.textbook.step_forward`'s arguments and
    result). Returns the results, each cell's steps and the mask [T, B, 1]."""
    spec, params, step_of = request.spec, request.params, step
    acts = activations_of(spec, TEXTBOOK)
    x = time_major(np.asarray(request.x, np.float64), request.batch_first)
    steps, batch = x.shape[:2]
    mask = (np.arange(steps)[:, None] < lengths_of(request)[None, :])[:, :, None].astype(np.float64)
    h0, c0 = initial_states_of(request)
    h_n, c_n, cells = np.empty_like(h0), np.empty_like(c0), []
    layer_input = x
    with np.errstate(invalid="ignore", over="ignore"):
        for layer in range(spec.num_layers):
            outputs = []
            for direction in range(spec.num_directions):
                index, flipped = spec.cell_index(layer, direction), spec.runs_reversed(direction)
                inputs, masks = (layer_input[::-1], mask[::-1]) if flipped else (layer_input, mask)
                h, c, out, done = h0[index], c0[index], np.empty((steps, batch, spec.output_size)), []
                previous = np.zeros((batch, spec.output_size))
                for t in range(steps):
                    step = step_of(spec, params[index], acts, inputs[t], h, c)
                    done.append(step)
                    h, c = step["h"] * masks[t] + h * (1.0 - masks[t]), step["c"] * masks[t] + c * (1.0 - masks[t])
                    if keras_outputs:
                        previous = step["h"] * masks[t] + (0.0 if spec.bidirectional else previous) * (1.0 - masks[t])
                    out[t] = previous if keras_outputs else h if outputs_carried else step["h"]
                h_n[index], c_n[index] = h, c
                cells.append(DirectionSteps(index, flipped, masks, done))
                outputs.append(out[::-1] if flipped else out)
            layer_input = np.concatenate(outputs, axis=2)
            if not (spec.proj_size or outputs_carried or keras_outputs):
                layer_input = layer_input * mask
    return LSTMResult(time_major(layer_input, request.batch_first), h_n, c_n), cells, mask


def peephole_row_step(spec: LSTMSpec, cell: CellParams, acts: dict, x: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray) -> dict:
    """One step of onnx2tf's LSTM cell (``onnx2tf/ops/LSTM.py``, ``CustomLSTMCell.call``), whose
    peephole terms are matrix products, ``tf.matmul(peephole_i, c_prev)`` with the peephole
    [1, H] and c_prev [B, H] (so B == H): one row [H], the sum over the batch rows k of
    P[k] * c_prev[k, :], added to every sample's gate input. A row added to every sample is a
    bias, so the step is the textbook's without peepholes, its input and forget gate biases
    moved by those rows, and (c does not depend on the output gate) run again with the output
    gate's bias moved by the row of the new c."""
    plain = replace(spec, peepholes=False, bias=True)
    zeros = np.zeros(spec.hidden_size)
    biases = (cell.b_ih, cell.b_hh) if spec.bias else (np.zeros(4 * spec.hidden_size),) * 2

    def moved(row_o: np.ndarray) -> CellParams:
        rows = np.concatenate((cell.w_ic @ c_prev, cell.w_fc @ c_prev, zeros, row_o))
        return replace(cell, w_ic=None, w_fc=None, w_oc=None, b_ih=biases[0] + rows, b_hh=biases[1])

    gates = step_forward(plain, moved(zeros), acts, x, h_prev, c_prev)
    return step_forward(plain, moved(cell.w_oc @ gates["c"]), acts, x, h_prev, c_prev)


def onnx2tf_states_axis(request: RunRequest) -> int:
    """The axis along which onnx2tf's Concat joins one-direction layers' final states [1, B, H]
    (its layout inference picks it by the sizes; measured for 2 to 4 layers): 0, as the ONNX
    model says, but for B = 1 < H (1), H = 1 < B (2) and B = H = 1 from three layers on (2)."""
    batch, hidden = request.x.shape[0 if request.batch_first else 1], request.spec.hidden_size
    if batch == 1 < hidden:
        return 1
    if hidden == 1 < batch or (batch == hidden == 1 and request.spec.num_layers >= 3):
        return 2
    return 0


def onnx2tf_states_concatenation(request: RunRequest, states: np.ndarray) -> np.ndarray:
    """``states`` [L, B, H] (one direction) as onnx2tf's Concat returns them (:func:`onnx2tf_states_axis`)."""
    return np.concatenate(np.split(states, states.shape[0]), axis=onnx2tf_states_axis(request))


def initial_states_of(request: RunRequest) -> tuple[np.ndarray, np.ndarray]:
    spec, batch = request.spec, request.x.shape[0 if request.batch_first else 1]
    if request.initial_states is None:
        return np.zeros((spec.num_cells, batch, spec.output_size)), np.zeros((spec.num_cells, batch, spec.hidden_size))
    return tuple(np.asarray(state, np.float64) for state in request.initial_states)


def paddle_step_loop(request: RunRequest, result: LSTMResult) -> LSTMResult:
    """The results of :func:`paddle_loop_steps` (``result``, the oracle's, is replaced)."""
    return paddle_loop_steps(request)[0]


def paddle_step_loop_gradients(request: RunRequest, upstream: LSTMResult) -> LSTMGradients:
    """The gradients of :func:`paddle_loop_steps`'s results, backpropagated one step at a
    time through the loop as it ran (padded steps included: an upstream gradient at a padded
    output reaches the parameters through the cell step that made it). Measured against
    paddle.nn.LSTM with a projection and noise in the upstream at padded steps: within
    1.3e-15 in float64."""
    spec, params = request.spec, request.params
    acts = activations_of(spec, TEXTBOOK)
    _, cells, mask = paddle_loop_steps(request)
    h0, c0 = initial_states_of(request)
    d_out = time_major(np.asarray(upstream.outputs, np.float64), request.batch_first)
    d_h0, d_c0, grads = np.zeros_like(h0), np.zeros_like(c0), [None] * spec.num_cells
    for layer in reversed(range(spec.num_layers)):
        d_out = d_out if spec.proj_size else d_out * mask
        d_input = 0.0
        for direction in range(spec.num_directions):
            cell = cells[spec.cell_index(layer, direction)]
            width = slice(direction * spec.output_size, (direction + 1) * spec.output_size)
            d_own = d_out[::-1, :, width] if cell.flipped else d_out[:, :, width]
            dh, dc = np.asarray(upstream.h_n[cell.index], np.float64), np.asarray(upstream.c_n[cell.index], np.float64)
            cell_grads = {name: np.zeros_like(value) for name, value in params[cell.index].arrays().items()}
            d_x = np.zeros((len(cell.steps), *cell.steps[0]["x"].shape))
            for t in reversed(range(len(cell.steps))):
                m = cell.masks[t]
                d_x[t], dh_prev, dc_prev, step_grads = step_backward(spec, params[cell.index], acts, cell.steps[t], d_own[t] + m * dh, m * dc, TEXTBOOK, (cell.index, t))
                for name, value in step_grads.items():
                    cell_grads[name] += value
                dh, dc = dh_prev + (1.0 - m) * dh, dc_prev + (1.0 - m) * dc
            d_h0[cell.index], d_c0[cell.index], grads[cell.index] = dh, dc, CellParams(**cell_grads)
            d_input = d_input + (d_x[::-1] if cell.flipped else d_x)
        d_out = d_input
    return LSTMGradients(time_major(d_out, request.batch_first), d_h0, d_c0, tuple(grads))


@dataclass(frozen=True)
class NanAsLarge:
    """An activation that takes a NaN input as a large positive one (saturated). Measured on
    paddle2onnx's LSTM run by ONNX Runtime with NaN at padded steps: no NaN comes out, and
    this model matches outputs and states within 9.5e-8 (float32), where a NaN taken as 0
    is off by 0.64. Clamping the input with min and max before the function, as a
    vectorised kernel may, gives exactly this (min and max return the bound for a NaN);
    ONNX Runtime's source was not read to confirm it."""

    exact: object
    large: float = 30.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.exact(np.where(np.isnan(x), self.large, x))

    def derivative(self, x: np.ndarray | None, y: np.ndarray) -> np.ndarray:
        return self.exact.derivative(x, y)


def nan_as_large(request: RunRequest) -> Variant:
    spec = request.spec
    return Variant(activations={role: NanAsLarge(spec.activation(role)) for role in ROLES if spec.activation(role).name in ("sigmoid", "tanh")})


def fused_multiply_add(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """a * b + c of float32 values rounded once to float32 (a fused multiply-add: the exact
    product and sum of float32 values fit a float64 before that one rounding, to within the
    double rounding float64 allows)."""
    return (a.astype(np.float64) * b + c).astype(np.float32)


@dataclass(frozen=True)
class MindSporeTanh:
    """MindSpore's float32 CPU Tanh (nnacl's TanhOpt): a Pade approximant, fused
    multiply-adds in float32, 1 beyond 5 and -1 below -5 (it overshoots 1 by up to 1e-5
    just below 5, and its error peaks at 1.0e-4 there). Measured bit for bit on 100,001
    points of [-10, 10]; MindSpore's LSTM on the lengths path with it within 1.8e-7."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x32 = np.asarray(x).astype(np.float32)
        s = (x32 * x32).astype(np.float32)
        a = fused_multiply_add(fused_multiply_add(s + np.float32(378), s, np.float32(17325)), s, np.float32(135135)) * x32
        b = fused_multiply_add(fused_multiply_add(fused_multiply_add(np.float32(28), s, np.float32(3150)), s, np.float32(62370)), s, np.float32(135135))
        with np.errstate(invalid="ignore", over="ignore"):
            pade = (a / b).astype(np.float32)
        return np.where(x32 > 5, 1.0, np.where(x32 < -5, -1.0, pade)).astype(np.float64)

    def derivative(self, x: np.ndarray | None, y: np.ndarray) -> np.ndarray:
        return 1.0 - y * y


# The smallest float32 whose exp overflows float32 (log of its largest number is 88.7228391).
FLOAT32_EXP_OVERFLOW = 88.72283935546875


@dataclass(frozen=True)
class Float32ExpSoftplus:
    """softplus where exp(x) computed in float32 stays finite, inf from
    :data:`FLOAT32_EXP_OVERFLOW` on (its derivative sigmoid(x))."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.where(x.astype(np.float32) >= np.float32(FLOAT32_EXP_OVERFLOW), np.inf, np.logaddexp(0.0, x))

    def derivative(self, x: np.ndarray | None, y: np.ndarray) -> np.ndarray:
        return sigmoid(x)


def float32_exp_softplus(request: RunRequest) -> Variant:
    return Variant(activations={role: Float32ExpSoftplus() for role in ROLES if request.spec.activation(role).name == "softplus"})


def values_after_an_overflow(request: RunRequest, result: LSTMResult) -> LSTMResult:
    """Masks of the values computed from an inf the overflowing softplus gave: the non-finite
    values themselves (inf, or NaN where the kernel's float32 gate multiplying it is 0);
    in each layer, direction and sequence, the steps processed after the first one with a
    non-finite output and, unless that step is the last processed, the final states; in
    every layer above such a sequence, all of it. Every other value stays defined."""
    spec, variant = request.spec, float32_exp_softplus(request)
    directions, width = spec.num_directions, spec.output_size
    lengths = lengths_of(request)
    outputs = np.zeros(time_major(result.outputs, request.batch_first).shape, dtype=bool)
    states = np.zeros(result.h_n.shape, dtype=bool)
    contaminated = np.zeros(lengths.size, dtype=bool)
    layer_input = time_major(request.x, request.batch_first)
    for layer in range(spec.num_layers):
        cells = slice(layer * directions, (layer + 1) * directions)
        layer_spec = replace(spec, num_layers=1, input_size=spec.layer_input_size(layer))
        initial = None if request.initial_states is None else tuple(state[cells] for state in request.initial_states)
        with np.errstate(invalid="ignore", over="ignore"):
            layer_outputs = textbook_forward(layer_spec, request.params[cells], layer_input, lengths=request.lengths, initial_states=initial, variant=variant).outputs
        for direction in range(directions):
            block = layer_outputs[:, :, direction * width : (direction + 1) * width]
            for row, length in enumerate(lengths):
                steps = list(range(length))[:: -1 if spec.runs_reversed(direction) else 1]
                overflowed = [index for index, step in enumerate(steps) if not np.isfinite(block[step, row]).all()]
                first = 0 if contaminated[row] else (overflowed[0] + 1 if overflowed else len(steps))
                if layer == spec.num_layers - 1:
                    outputs[steps[first:], row, direction * width : (direction + 1) * width] = True
                states[layer * directions + direction, row] = first < len(steps)
        contaminated |= ~np.isfinite(layer_outputs).all(axis=(0, 2))
        layer_input = layer_outputs
    outputs = time_major(outputs, request.batch_first) | ~np.isfinite(result.outputs)
    return LSTMResult(outputs, states | ~np.isfinite(result.h_n), states | ~np.isfinite(result.c_n))


def mindspore_tanh(request: RunRequest) -> Variant:
    return Variant(activations={role: MindSporeTanh() for role in ROLES if request.spec.activation(role).name == "tanh"})


PADDLE_STEP_LOOP = DeviationModel(
    "paddle's step loop: outputs at padded steps are one cell step from the frozen state (a reversed direction's from the "
    "initial one), states masked by multiplication (NaN at padding reaches them); gradients through that loop",
    result=paddle_step_loop,
    backward=paddle_step_loop_gradients,
)
TFJS_MASKED_BLEND = DeviationModel(
    "tfjs-layers' rnn loop: every step runs the cell, state and output masked by multiplication, new * m + old * (1 - m) "
    "(NaN at padding reaches them); a reversed direction runs over the whole padded sequence from T - 1 down",
    result=lambda request, result: paddle_loop_steps(request, outputs_carried=True)[0],  # the oracle's result is replaced
    padded_outputs=True,
)
KERAS_2_MASKED_BLEND = DeviationModel(
    "Keras 2's rnn loop with its selects applied by multiplication, new * m + old * (1 - m), as tf2onnx converts it (NaN "
    "at padding reaches the states and outputs): every step runs the cell; the output carries the previous output (0 "
    "before any, and always 0 in two directions); a reversed direction runs over the whole padded sequence from T - 1 down",
    result=lambda request, result: paddle_loop_steps(request, keras_outputs=True)[0],  # the oracle's result is replaced
    padded_outputs=True,
)
MINDSPORE_TANH = DeviationModel("tanh computed by MindSpore's float32 Pade approximant (nnacl TanhOpt)", variant=mindspore_tanh)
PADDLE_LEGACY_SIGMOID = DeviationModel("sigmoid(min(max(x, -40), 13)) wherever the spec has sigmoid, its derivative y (1 - y) there", variant=clamped_sigmoid)
CELL_UPSTREAM_DROPPED = DeviationModel("the gradients of the loss without its c_n term", upstream=without_cell_upstream)
PADDLE_LEGACY_AVX_BACKWARD = DeviationModel(
    "the gradient of each c_t lacks the cell output's term (dh * o * act_cell'(c_t), and dz_o * w_oc with peepholes), from an upstream without its c_n term",
    variant=lambda request: Variant(cell_output_gradient=False),
    upstream=without_cell_upstream,
)
PADDLE_REVERSE_H0_TERM = DeviationModel("reversed cells' grad w_hh without the h0 term of every sequence with 0 < length < T", variant=h0_term_dropped)
ONNXRUNTIME_SOFTPLUS_OVERFLOW = DeviationModel(
    "softplus(x) = inf from x = 88.72283935546875 on (where exp(x) overflows float32), the exact softplus below; "
    "the values computed from the inf (inf or NaN, later steps, layers above) are left undefined",
    variant=float32_exp_softplus,
    undefined=values_after_an_overflow,
)
ONNXRUNTIME_ACTIVATION_DEFAULTS = DeviationModel(
    "Affine as affine(alpha=0, beta=0) and ThresholdedRelu as thresholded_relu(alpha=0)",
    request=lambda request: with_roles(request, {"affine": "affine(alpha=0.0, beta=0.0)", "thresholded_relu": "thresholded_relu(alpha=0.0)"}),
)
PADDLE_ONNX_NO_LENGTHS = DeviationModel(
    "every sequence run for all T steps (the oracle without lengths), NaN inputs of sigmoid and tanh taken as large (ONNX Runtime's clamping)",
    request=lambda request: replace(request, lengths=None),
    variant=nan_as_large,
)
PADDLE_ONNX_LAST_LAYER_STATES = DeviationModel("h_n and c_n of the last layer only, [D, B, H]", result=last_layer_states)
KERAS_TORCH_HARD_SIGMOID_SLOPE = DeviationModel("hard_sigmoid's derivative 1/6 rounded to float32 (0.1666666716), its values exact", variant=float32_sixth_hard_sigmoid)
TENSORFLOW_BLOCK_V1_GRADIENT = DeviationModel(
    "gate gradients used in the products with f and g swapped (V1's i, c, f, o read as i, f, c, o), the cell clip passing every gradient",
    variant=v1_gate_order,
)
OPENVINO_NO_PEEPHOLES = DeviationModel("the LSTM without its peepholes (the oracle with P left out)", request=without_peepholes)
UNCOUPLED_GATES = DeviationModel(
    "the uncoupled LSTM: the forget gate computed from its own weights, not 1 - i (the oracle with input_forget off)",
    request=lambda request: replace(request, spec=replace(request.spec, input_forget=False)),
)
# The alpha and beta onnx2tf builds each ONNX activation with (onnx2tf/ops/LSTM.py,
# ONNX_ACTIVATION_MAPPING), whatever the node's activation_alpha and activation_beta say.
ONNX2TF_ACTIVATION_PARAMETERS = {
    "hard_sigmoid": "hard_sigmoid(alpha=0.2, beta=0.5)",
    "elu": "elu(alpha=1.0)",
    "affine": "affine(alpha=1.0, beta=0.0)",
    "scaled_tanh": "scaled_tanh(alpha=1.0, beta=1.0)",
}
ONNX2TF_ACTIVATION_DEFAULTS = DeviationModel(
    "hard_sigmoid as hard_sigmoid(alpha=0.2, beta=0.5), elu as elu(alpha=1), affine as affine(alpha=1, beta=0) and "
    "scaled_tanh as scaled_tanh(alpha=1, beta=1), whatever parameters the spec gives them",
    request=lambda request: with_roles(request, ONNX2TF_ACTIVATION_PARAMETERS),
)
ONNX2TF_PEEPHOLE_ROWS = DeviationModel(
    "every sequence run for all T steps, each peephole term the row P @ c_prev (a matrix product over the batch, B == H) "
    "added to every sample's gate input",
    result=lambda request, result: paddle_loop_steps(replace(request, lengths=None), step=peephole_row_step)[0],  # the oracle's result is replaced
)
ONNX2TF_STATES_AXIS = DeviationModel(
    "h_n and c_n: the layers' [1, B, H] states concatenated along axis 1 where B = 1 < H, along axis 2 where "
    "H = 1 < B or B = H = 1 with three layers or more (the oracle's, its states so concatenated)",
    result=lambda request, result: result._replace(h_n=onnx2tf_states_concatenation(request, result.h_n), c_n=onnx2tf_states_concatenation(request, result.c_n)),
)
LENGTHS_IGNORED = DeviationModel("every sequence run for all T steps (the oracle without lengths)", request=lambda request: replace(request, lengths=None))
FORWARD_DIRECTION = DeviationModel(
    "a reverse-only LSTM run forward, from step 0 to T-1 (the oracle with reverse off)",
    request=lambda request: replace(request, spec=replace(request.spec, reverse=False)),
)
UNCLIPPED = DeviationModel("the LSTM without its activation clip (the oracle with clip off)", request=lambda request: replace(request, spec=replace(request.spec, activation_clip=None)))
CLASSIC_ACTIVATIONS = DeviationModel(
    "the LSTM with sigmoid gates and tanh candidate and cell output, whatever activations it names (the oracle with the default activations)",
    request=lambda request: replace(request, spec=replace(request.spec, **dict(zip(ACTIVATION_ROLES, DEFAULT_ACTIVATIONS)))),
)
# The cell clip TensorFlow's TFLite converter writes into the fused LSTM it makes of a Keras LSTM.
LITERT_CELL_CLIP = 10.0
ONE_ROW_OUTPUTS = DeviationModel(
    "the LSTM's time-major outputs [1, B, D*H] of its one step as one row [1, 1, B*D*H] (the oracle's, reshaped)",
    result=lambda request, result: result._replace(outputs=result.outputs.reshape(1, 1, -1)),
)
CELL_CLIPPED_AT_10 = DeviationModel(
    "the LSTM with its cell state clipped to [-10, 10] at every step (the oracle with cell_clip 10)",
    request=lambda request: replace(request, spec=replace(request.spec, cell_clip=LITERT_CELL_CLIP)),
)
FLAX_EMPTY_FINAL_CARRY = DeviationModel("sequences of length 0 run over all T padded steps (their final carry after step T)", request=empty_sequences_run_to_the_end)
