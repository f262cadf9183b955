"""The oracle's forward pass against hand computations and the properties an LSTM must have.

Framework-free: only NumPy and the standard library's ``math`` (for closed forms
computed independently of NumPy's ufuncs).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from reference import CellParams, LSTMSpec, init_params, lstm_forward, sigmoid
from reference.formats import round_to_format
from reference.forward import reversal_index, reverse_within_lengths

# Independent computations of the same float64 quantities in a different order agree to
# a few units in the last place; 1e-13 relative leaves room for that and nothing else.
CLOSE = dict(rtol=1e-13, atol=1e-15)


def sig(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


def one_cell(spec: LSTMSpec, **arrays) -> tuple[CellParams, ...]:
    """Parameters of a one-cell spec: zeros except the given arrays."""
    shapes = {name: np.shape(array) for name, array in init_params(spec, seed=0)[0].arrays().items()}
    return (CellParams(**{name: np.asarray(arrays.get(name, np.zeros(shape)), dtype=float) for name, shape in shapes.items()}),)


def test_one_step_matches_hand_computation():
    spec = LSTMSpec(input_size=1, hidden_size=1)
    a_i, a_f, a_g, a_o = 0.3, -0.2, 0.7, 1.1
    params = one_cell(spec, w_ih=[[a_i], [a_f], [a_g], [a_o]], b_ih=[0.1, 0.2, 0.3, 0.4], b_hh=[0.05, 0, 0, -0.1])
    x, h0, c0 = 2.0, 0.5, -0.25
    result = lstm_forward(spec, params, np.full((1, 1, 1), x), initial_states=(np.full((1, 1, 1), h0), np.full((1, 1, 1), c0)))
    i = sig(a_i * x + 0.15)
    f = sig(a_f * x + 0.2)
    g = math.tanh(a_g * x + 0.3)
    o = sig(a_o * x + 0.3)
    c = f * c0 + i * g
    h = o * math.tanh(c)
    np.testing.assert_allclose(result.c_n.ravel(), [c], **CLOSE)
    np.testing.assert_allclose(result.h_n.ravel(), [h], **CLOSE)
    np.testing.assert_allclose(result.outputs.ravel(), [h], **CLOSE)


def test_recurrent_weights_act_on_previous_h():
    spec = LSTMSpec(input_size=1, hidden_size=1)
    params = one_cell(spec, w_hh=[[0.5], [-0.4], [0.9], [0.2]])
    h0, c0 = 0.8, 0.3
    result = lstm_forward(spec, params, np.zeros((1, 1, 1)), initial_states=(np.full((1, 1, 1), h0), np.full((1, 1, 1), c0)))
    i, f, g, o = sig(0.5 * h0), sig(-0.4 * h0), math.tanh(0.9 * h0), sig(0.2 * h0)
    c = f * c0 + i * g
    np.testing.assert_allclose(result.h_n.ravel(), [o * math.tanh(c)], **CLOSE)


def test_zero_weights_halve_the_cell_every_step():
    """With every parameter 0: i = f = o = 1/2 and g = 0, so c_t = c0 / 2^t, h_t = tanh(c_t) / 2."""
    spec = LSTMSpec(input_size=3, hidden_size=2)
    params = one_cell(spec)
    c0 = np.array([[[1.5, -4.0]]])
    steps = 6
    result = lstm_forward(spec, params, np.ones((steps, 1, 3)), initial_states=(np.zeros((1, 1, 2)), c0))
    cells = c0[0, 0] / 2.0 ** np.arange(1, steps + 1)[:, None]
    np.testing.assert_allclose(result.outputs[:, 0], np.tanh(cells) / 2, **CLOSE)
    np.testing.assert_allclose(result.c_n[0, 0], cells[-1], **CLOSE)


def test_projection_maps_the_cell_output():
    spec = LSTMSpec(input_size=1, hidden_size=2, proj_size=1)
    w_hr = np.array([[2.0, -3.0]])
    params = one_cell(spec, b_ih=[0.0, 0.0, 0.0, 0.0, 0.5, -0.5, 1.0, 2.0], w_hr=w_hr)
    result = lstm_forward(spec, params, np.zeros((1, 1, 1)))
    cell = [0.5 * math.tanh(0.5), 0.5 * math.tanh(-0.5)]
    cell_output = [sig(1.0) * math.tanh(cell[0]), sig(2.0) * math.tanh(cell[1])]
    np.testing.assert_allclose(result.c_n.ravel(), cell, **CLOSE)
    np.testing.assert_allclose(result.h_n.ravel(), [2.0 * cell_output[0] - 3.0 * cell_output[1]], **CLOSE)


def test_peepholes_read_previous_cell_for_input_and_forget_and_new_cell_for_output():
    spec = LSTMSpec(input_size=1, hidden_size=1, peepholes=True)
    params = one_cell(spec, b_ih=[0, 0, 0.8, 0], w_ic=[0.7], w_fc=[-1.3], w_oc=[2.1])
    c0 = 0.6
    result = lstm_forward(spec, params, np.zeros((1, 1, 1)), initial_states=(np.zeros((1, 1, 1)), np.full((1, 1, 1), c0)))
    i, f, g = sig(0.7 * c0), sig(-1.3 * c0), math.tanh(0.8)
    c = f * c0 + i * g
    o = sig(2.1 * c)
    np.testing.assert_allclose(result.c_n.ravel(), [c], **CLOSE)
    np.testing.assert_allclose(result.h_n.ravel(), [o * math.tanh(c)], **CLOSE)


@pytest.mark.parametrize(
    ("gate", "cell", "candidate"),
    [("identity", "identity", "identity"), ("relu", "sigmoid", "tanh"), ("tanh", "relu", "sigmoid")],
    ids=lambda name: name,
)
def test_activation_options_take_their_roles(gate, cell, candidate):
    functions = {"identity": lambda v: v, "relu": lambda v: max(v, 0.0), "sigmoid": sig, "tanh": math.tanh}
    spec = LSTMSpec(input_size=1, hidden_size=1, gate_activation=gate, cell_activation=cell, candidate_activation=candidate)
    pre = [0.4, -0.3, 0.9, 0.6]
    params = one_cell(spec, b_ih=pre)
    c0 = 0.5
    result = lstm_forward(spec, params, np.zeros((1, 1, 1)), initial_states=(np.zeros((1, 1, 1)), np.full((1, 1, 1), c0)))
    i, f, o = (functions[gate](value) for value in (pre[0], pre[1], pre[3]))
    c = f * c0 + i * functions[candidate](pre[2])
    np.testing.assert_allclose(result.h_n.ravel(), [o * functions[cell](c)], **CLOSE)


def test_cell_clip_bounds_the_carried_cell():
    spec = LSTMSpec(input_size=1, hidden_size=1, cell_clip=0.25)
    params = one_cell(spec, b_ih=[5.0, 5.0, 5.0, 0.0])
    result = lstm_forward(spec, params, np.zeros((3, 1, 1)))
    assert result.c_n.ravel()[0] == 0.25
    np.testing.assert_allclose(result.outputs.ravel(), [0.5 * math.tanh(0.25)] * 3, **CLOSE)


def random_case(spec: LSTMSpec, steps: int, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((steps, batch, spec.input_size))
    h0 = rng.standard_normal((spec.num_cells, batch, spec.output_size))
    c0 = rng.standard_normal((spec.num_cells, batch, spec.hidden_size))
    return init_params(spec, seed), x, (h0, c0)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["forward", "bidirectional"])
@pytest.mark.parametrize("proj_size", [0, 2])
def test_two_stacked_layers_equal_one_two_layer_run(bidirectional, proj_size):
    spec = LSTMSpec(input_size=3, hidden_size=4, num_layers=2, bidirectional=bidirectional, proj_size=proj_size)
    params, x, (h0, c0) = random_case(spec, steps=5, batch=3, seed=1)
    lengths = np.array([5, 2, 4])
    whole = lstm_forward(spec, params, x, lengths=lengths, initial_states=(h0, c0))
    directions = spec.num_directions
    first = LSTMSpec(3, 4, bidirectional=bidirectional, proj_size=proj_size)
    second = LSTMSpec(directions * spec.output_size, 4, bidirectional=bidirectional, proj_size=proj_size)
    lower = lstm_forward(first, params[:directions], x, lengths=lengths, initial_states=(h0[:directions], c0[:directions]))
    upper = lstm_forward(
        second, params[directions:], lower.outputs, lengths=lengths, initial_states=(h0[directions:], c0[directions:])
    )
    np.testing.assert_array_equal(whole.outputs, upper.outputs)
    np.testing.assert_array_equal(whole.h_n, np.concatenate([lower.h_n, upper.h_n]))
    np.testing.assert_array_equal(whole.c_n, np.concatenate([lower.c_n, upper.c_n]))


def test_backward_direction_is_forward_on_each_sequence_reversed_within_its_length():
    spec = LSTMSpec(input_size=2, hidden_size=3, bidirectional=True)
    params, x, (h0, c0) = random_case(spec, steps=6, batch=4, seed=2)
    lengths = np.array([6, 1, 0, 4])
    result = lstm_forward(spec, params, x, lengths=lengths, initial_states=(h0, c0))
    forward_only = LSTMSpec(input_size=2, hidden_size=3)
    for b, length in enumerate(lengths):
        if length:
            reversed_x = x[:length, b : b + 1][::-1]
            alone = lstm_forward(forward_only, params[1:], reversed_x, initial_states=(h0[1:, b : b + 1], c0[1:, b : b + 1]))
            np.testing.assert_allclose(result.outputs[:length, b, 3:], alone.outputs[::-1, 0], **CLOSE)
            np.testing.assert_allclose(result.h_n[1, b], alone.h_n[0, 0], **CLOSE)
            np.testing.assert_allclose(result.c_n[1, b], alone.c_n[0, 0], **CLOSE)
        else:
            np.testing.assert_array_equal(result.h_n[1, b], h0[1, b])
        np.testing.assert_array_equal(result.outputs[length:, b], 0.0)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_reverse_only_is_the_forward_direction_on_each_sequence_reversed_within_its_length(num_layers):
    spec = LSTMSpec(input_size=2, hidden_size=3, num_layers=num_layers, proj_size=2, reverse=True)
    params, x, (h0, c0) = random_case(spec, steps=6, batch=4, seed=3)
    lengths = np.array([6, 1, 0, 4])
    result = lstm_forward(spec, params, x, lengths=lengths, initial_states=(h0, c0))
    assert result.h_n.shape == (num_layers, 4, 2)  # one cell per layer, at index `layer`
    forward_only = LSTMSpec(input_size=2, hidden_size=3, num_layers=num_layers, proj_size=2)
    for b, length in enumerate(lengths):
        if length:
            alone = lstm_forward(forward_only, params, x[:length, b : b + 1][::-1], initial_states=(h0[:, b : b + 1], c0[:, b : b + 1]))
            np.testing.assert_allclose(result.outputs[:length, b], alone.outputs[::-1, 0], **CLOSE)
            np.testing.assert_allclose(result.h_n[:, b], alone.h_n[:, 0], **CLOSE)
            np.testing.assert_allclose(result.c_n[:, b], alone.c_n[:, 0], **CLOSE)
        else:
            np.testing.assert_array_equal(result.h_n[:, b], h0[:, b])
        np.testing.assert_array_equal(result.outputs[length:, b], 0.0)


def test_input_forget_couples_the_forget_gate_to_the_input_gate():
    # Identity gates make i = z_i; the forget gate's own pre-activation (9.0) must not matter.
    spec = LSTMSpec(input_size=1, hidden_size=1, input_forget=True, gate_activation="identity")
    params = one_cell(spec, b_ih=[0.3, 9.0, 0.8, 0.6])
    c0 = 0.5
    result = lstm_forward(spec, params, np.zeros((1, 1, 1)), initial_states=(np.zeros((1, 1, 1)), np.full((1, 1, 1), c0)))
    i, g, o = 0.3, math.tanh(0.8), 0.6
    c = (1.0 - i) * c0 + i * g
    np.testing.assert_allclose(result.c_n.ravel(), [c], **CLOSE)
    np.testing.assert_allclose(result.h_n.ravel(), [o * math.tanh(c)], **CLOSE)


def test_activation_clip_bounds_gate_and_candidate_inputs_but_not_the_cell_activation():
    # Pre-activations 3.0, -2.0, 0.4 (g), 5.0 with clip 1.5; peepholes add 2 * c_prev to i.
    spec = LSTMSpec(input_size=1, hidden_size=1, activation_clip=1.5, peepholes=True, gate_activation="identity", candidate_activation="identity")
    params = one_cell(spec, b_ih=[-1.0, -2.0, 0.4, 5.0], w_ic=[2.0], w_oc=[-10.0])
    c0 = 1.25
    result = lstm_forward(spec, params, np.zeros((1, 1, 1)), initial_states=(np.zeros((1, 1, 1)), np.full((1, 1, 1), c0)))
    i = 1.5  # -1 + 2 * 1.25 = 1.5: exactly at the clip
    f = -1.5  # -2 clipped
    g = 0.4  # inside
    c = f * c0 + i * g  # -1.275: the cell itself is not clipped (|c| > 0 is fine)
    o = max(-1.5, min(1.5, 5.0 - 10.0 * c))  # the peephole sees the new c, then the clip: 1.5
    np.testing.assert_allclose(result.c_n.ravel(), [c], **CLOSE)
    np.testing.assert_allclose(result.h_n.ravel(), [o * math.tanh(c)], **CLOSE)


def test_proj_clip_bounds_the_projected_state_that_recurs():
    spec = LSTMSpec(input_size=1, hidden_size=2, proj_size=1, proj_clip=0.1)
    params = one_cell(spec, b_ih=[5.0] * 8, w_hr=[[1.0, 0.5]], w_hh=np.ones((8, 1)))
    result = lstm_forward(spec, params, np.zeros((2, 1, 1)))
    # Step 1: i, f, o ~ 1, g ~ tanh(5), so the projection is ~ 1.5 * 0.76 * 0.99: clipped to 0.1.
    np.testing.assert_array_equal(result.outputs[:, 0, 0], [0.1, 0.1])
    i = o = sig(5.0 + 0.1)
    g = math.tanh(5.0 + 0.1)
    c1 = sig(5.0) * math.tanh(5.0)
    c2 = sig(5.1) * c1 + i * g
    np.testing.assert_allclose(result.c_n.ravel(), [c2, c2], **CLOSE)
    assert 1.5 * o * math.tanh(c2) > 0.1


def test_reversal_index_reverses_within_lengths_and_is_an_involution():
    index = reversal_index(np.array([3, 0, 1]), steps=4)
    np.testing.assert_array_equal(index[:, 0], [2, 1, 0, 3])
    np.testing.assert_array_equal(index[:, 1], [0, 1, 2, 3])
    np.testing.assert_array_equal(index[:, 2], [0, 1, 2, 3])
    values = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(reverse_within_lengths(reverse_within_lengths(values, index), index), values)


@pytest.mark.parametrize("batch_first", [False, True], ids=["time-major", "batch-major"])
def test_padding_content_never_changes_anything(batch_first):
    spec = LSTMSpec(input_size=2, hidden_size=3, num_layers=2, bidirectional=True, proj_size=2)
    params, x, states = random_case(spec, steps=5, batch=3, seed=3)
    lengths = np.array([2, 5, 0])
    padded = np.arange(5)[:, None] >= lengths[None, :]
    other = x.copy()
    other[padded] = 1e6
    if batch_first:
        x, other = x.transpose(1, 0, 2), other.transpose(1, 0, 2)
    first = lstm_forward(spec, params, x, lengths=lengths, initial_states=states, batch_first=batch_first)
    second = lstm_forward(spec, params, other, lengths=lengths, initial_states=states, batch_first=batch_first)
    for name, value in first._asdict().items():
        np.testing.assert_array_equal(value, getattr(second, name), err_msg=name)
    outputs = first.outputs if not batch_first else first.outputs.transpose(1, 0, 2)
    np.testing.assert_array_equal(outputs[padded], 0.0)


def test_each_sample_alone_equals_its_row_of_the_batch():
    spec = LSTMSpec(input_size=4, hidden_size=5, num_layers=2, bidirectional=True, proj_size=3, peepholes=True)
    params, x, (h0, c0) = random_case(spec, steps=6, batch=4, seed=4)
    lengths = np.array([6, 3, 1, 0])
    batched = lstm_forward(spec, params, x, lengths=lengths, initial_states=(h0, c0))
    for b in range(4):
        alone = lstm_forward(spec, params, x[:, b : b + 1], lengths=lengths[b : b + 1], initial_states=(h0[:, b : b + 1], c0[:, b : b + 1]))
        np.testing.assert_allclose(alone.outputs[:, 0], batched.outputs[:, b], **CLOSE)
        np.testing.assert_allclose(alone.h_n[:, 0], batched.h_n[:, b], **CLOSE)
        np.testing.assert_allclose(alone.c_n[:, 0], batched.c_n[:, b], **CLOSE)


def test_lengths_equal_to_t_are_the_same_as_no_lengths():
    spec = LSTMSpec(input_size=2, hidden_size=3, bidirectional=True)
    params, x, states = random_case(spec, steps=4, batch=2, seed=5)
    with_lengths = lstm_forward(spec, params, x, lengths=[4, 4], initial_states=states)
    without = lstm_forward(spec, params, x, initial_states=states)
    for name, value in with_lengths._asdict().items():
        np.testing.assert_array_equal(value, getattr(without, name), err_msg=name)


def test_batch_first_is_the_transposed_layout():
    spec = LSTMSpec(input_size=2, hidden_size=3, num_layers=2, bidirectional=True)
    params, x, states = random_case(spec, steps=4, batch=3, seed=6)
    time_major = lstm_forward(spec, params, x, lengths=[4, 1, 3], initial_states=states)
    batch_major = lstm_forward(spec, params, x.transpose(1, 0, 2), lengths=[4, 1, 3], initial_states=states, batch_first=True)
    np.testing.assert_array_equal(batch_major.outputs, time_major.outputs.transpose(1, 0, 2))
    np.testing.assert_array_equal(batch_major.h_n, time_major.h_n)


def test_float32_input_is_upcast_not_computed_in_float32():
    spec = LSTMSpec(input_size=3, hidden_size=4)
    params, x, _ = random_case(spec, steps=5, batch=2, seed=7)
    single = x.astype(np.float32)
    from_float32 = lstm_forward(spec, params, single)
    from_float64 = lstm_forward(spec, params, single.astype(np.float64))
    assert from_float32.outputs.dtype == np.float64
    np.testing.assert_array_equal(from_float32.outputs, from_float64.outputs)


@pytest.mark.parametrize("magnitude", [1e2, 1e4])
@pytest.mark.parametrize("peepholes", [False, True])
def test_extreme_inputs_stay_finite_without_warnings(magnitude, peepholes):
    spec = LSTMSpec(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, peepholes=peepholes)
    params = init_params(spec, seed=8, scale=10.0)
    x = np.random.default_rng(8).choice([-magnitude, magnitude], size=(7, 2, 3))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        result = lstm_forward(spec, params, x)
    assert all(np.isfinite(value).all() for value in result)
    assert np.abs(result.outputs).max() <= 1.0
    assert np.abs(result.h_n).max() <= 1.0


def test_sigmoid_is_stable_and_accurate_at_the_extremes():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        far = sigmoid(np.array([-1e4, -745.0, -709.0]))
        near = sigmoid(np.array([-700.0, -40.0, -1.0, 0.0, 1.0, 40.0, 709.0, 1e4]))
    assert ((far >= 0) & (far <= sig(-708.0))).all()
    expected = [math.exp(-700.0), sig(-40.0), sig(-1.0), 0.5, sig(1.0), 1.0, 1.0, 1.0]
    np.testing.assert_allclose(near, expected, rtol=4e-16, atol=0)


def bf16(value: float) -> float:
    """``value`` rounded to bfloat16 (to nearest even, through float32)."""
    bits = int(np.array([value], dtype=np.float32).view(np.uint32)[0])
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return float(np.array([bits], dtype=np.uint32).view(np.float32)[0])


def test_stored_as_rounds_pre_activations_cell_and_hidden_state_as_a_kernel_stores_them():
    """Two steps by hand: every gate pre-activation, cell and hidden state rounded to
    bfloat16 as soon as it is made; the activations and products in between exact."""
    spec = LSTMSpec(input_size=1, hidden_size=1)
    params = one_cell(spec, w_ih=[[0.31], [-0.27], [0.73], [1.13]], w_hh=[[0.5], [-0.4], [0.9], [0.2]], b_ih=[0.11, 0.2, 0.3, 0.4])
    xs = (2.03, -0.71)
    h, c = 0.0, 0.0
    for x in xs:
        a_i, a_f, a_g, a_o = (bf16(w * x + r * h + b) for w, r, b in zip((0.31, -0.27, 0.73, 1.13), (0.5, -0.4, 0.9, 0.2), (0.11, 0.2, 0.3, 0.4)))
        c = bf16(sig(a_f) * c + sig(a_i) * math.tanh(a_g))
        h = bf16(sig(a_o) * math.tanh(c))
    result = lstm_forward(spec, params, np.array(xs).reshape(2, 1, 1), stored_as="bfloat16")
    np.testing.assert_allclose([result.h_n.item(), result.c_n.item()], [h, c], **CLOSE)
    exact = lstm_forward(spec, params, np.array(xs).reshape(2, 1, 1))
    assert exact.h_n.item() != result.h_n.item()
    np.testing.assert_array_equal(lstm_forward(spec, params, np.array(xs).reshape(2, 1, 1), stored_as="float64").h_n, exact.h_n)


@pytest.mark.parametrize("stored_as", ["float32", "bfloat16", "float16"])
def test_stored_as_leaves_every_output_representable_and_close_to_the_exact_one(stored_as):
    spec = LSTMSpec(input_size=5, hidden_size=7, num_layers=2, bidirectional=True)
    params = init_params(spec, seed=3)
    x = np.random.default_rng(3).standard_normal((6, 4, 5))
    rounded = lstm_forward(spec, params, x, lengths=[6, 2, 0, 5], stored_as=stored_as)
    exact = lstm_forward(spec, params, x, lengths=[6, 2, 0, 5])
    for values in rounded:
        np.testing.assert_array_equal(round_to_format(values, stored_as), values)
    # Each stored value is off by half a unit in the last place; twelve steps of two layers
    # compound that to a few units, far below the values' size (about 0.3).
    unit = {"float32": 2.0**-24, "bfloat16": 2.0**-8, "float16": 2.0**-11}[stored_as]
    for got, want in zip(rounded, exact):
        assert 0 < np.max(np.abs(got - want)) < 64 * unit


def test_stored_as_names_the_formats_it_takes():
    with pytest.raises(ValueError, match="stored_as: expected one of float64, float32, bfloat16, float16, got 'int8'"):
        lstm_forward(LSTMSpec(1, 1), init_params(LSTMSpec(1, 1), seed=0), np.zeros((1, 1, 1)), stored_as="int8")
