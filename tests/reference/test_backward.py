"""The oracle's analytic backward pass against central finite differences of its forward pass.

Every case checks the gradient of every input: x, h0, c0 and every parameter array,
entry by entry, for the loss ``sum(outputs * go) + sum(h_n * gh) + sum(c_n * gc)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pytest

from reference import CellParams, LSTMParams, LSTMSpec, init_params, lstm_forward, validate_inputs
from reference.backward import LSTMGradients, lstm_backward
from reference.forward import DirectionTrace, forward_with_traces, internal_gate_order

# Central differences: (f(a+h) - f(a-h)) / 2h has truncation error h^2/6 * f''' and rounding
# error about eps * |f| / h. The losses here are sums of a few dozen O(1) terms (|f| <~ 10)
# with O(1) derivatives, so h = 1e-6 gives truncation ~1e-13 and rounding ~2e-16 * 10 / 1e-6
# ~ 2e-9. Measured over all cases: at most 1.4e-9 relative to max(1, |grad|). The tolerance
# keeps a margin of ~70x over that; a wrong gradient is off by O(1e-2) or more.
STEP = 1e-6
TOLERANCE = 1e-7
# Piecewise activations and the clips have kinks. The seeded data keeps every activation
# input and every clipped value at least this far from a kink, while a step of h moves
# them by ~h, so the differences never straddle a kink; `kink_margin` checks that, case by case.
KINK_MARGIN = 1e-4


@dataclass(frozen=True)
class Case:
    """A spec and the shape of the data to check it on (data seeded from ``id``)."""

    id: str
    spec: LSTMSpec
    steps: int = 3
    batch: int = 2
    lengths: tuple[int, ...] | None = None
    initial_states: bool = False
    batch_first: bool = False
    scale: float = 1.0  # init_params scale: larger saturates the gates, and grows c for the clip case


def _spec(**options) -> LSTMSpec:
    return LSTMSpec(input_size=2, hidden_size=3, **options)


def _acts(gate: str, candidate: str, cell: str, **options) -> LSTMSpec:
    return _spec(gate_activation=gate, candidate_activation=candidate, cell_activation=cell, **options)


MIXED_LENGTHS = (2, 0, 3, 1)  # unsorted, with a 0 and a full-length T = 3 sequence
CASES = [
    Case("plain", _spec()),
    Case("bias-off", _spec(bias=False)),
    Case("layers-2", _spec(num_layers=2)),
    Case("layers-3", _spec(num_layers=3), steps=2),
    Case("bidirectional", _spec(bidirectional=True)),
    Case("bidirectional-layers-2", _spec(bidirectional=True, num_layers=2)),
    Case("lengths", _spec(), batch=4, lengths=MIXED_LENGTHS),
    Case("lengths-all-full", _spec(), lengths=(3, 3)),
    Case("lengths-bidirectional-layers-2", _spec(bidirectional=True, num_layers=2), batch=4, lengths=MIXED_LENGTHS),
    Case("initial-states", _spec(), initial_states=True),
    Case("initial-states-bidirectional-layers-2", _spec(bidirectional=True, num_layers=2), initial_states=True),
    Case("projection", _spec(proj_size=2), initial_states=True),
    Case("projection-bidirectional-layers-2", _spec(proj_size=2, bidirectional=True, num_layers=2)),
    Case("peepholes", _spec(peepholes=True), initial_states=True),
    # Each activation in each role (gate, candidate, cell); "plain" has sigmoid, tanh, tanh.
    Case("acts-tanh-relu-identity", _acts("tanh", "relu", "identity"), initial_states=True),
    Case("acts-relu-identity-sigmoid", _acts("relu", "identity", "sigmoid"), initial_states=True),
    Case("acts-identity-sigmoid-relu", _acts("identity", "sigmoid", "relu", peepholes=True)),
    Case("cell-clip", _spec(cell_clip=0.5), scale=3.0),
    Case("cell-clip-peepholes-lengths", _spec(cell_clip=0.5, peepholes=True), batch=4, lengths=MIXED_LENGTHS, initial_states=True, scale=3.0),
    Case("batch-first", _spec(bidirectional=True), batch=4, lengths=MIXED_LENGTHS, batch_first=True),
    Case("reverse", _spec(reverse=True), batch=4, lengths=MIXED_LENGTHS, initial_states=True),
    Case("reverse-layers-2-projection", _spec(reverse=True, num_layers=2, proj_size=2), batch=4, lengths=MIXED_LENGTHS),
    Case("input-forget", _spec(input_forget=True), initial_states=True),
    Case("input-forget-peepholes-lengths", _spec(input_forget=True, peepholes=True), batch=4, lengths=MIXED_LENGTHS, initial_states=True),
    Case("activation-clip", _spec(activation_clip=0.6), initial_states=True, scale=2.0),
    Case("activation-clip-peepholes", _spec(activation_clip=0.6, peepholes=True), initial_states=True, scale=2.0),
    Case("proj-clip", _spec(proj_size=2, proj_clip=0.08), batch=4, lengths=MIXED_LENGTHS, initial_states=True, scale=2.0),
    # ONNX's activations with parameters away from their defaults, then Keras's and JAX's.
    Case("acts-onnx-1", _acts("hard_sigmoid(alpha=0.3, beta=0.45)", "scaled_tanh(alpha=1.3, beta=0.7)", "softsign"), initial_states=True),
    Case("acts-onnx-2", _acts("affine(alpha=0.4, beta=0.3)", "leaky_relu(alpha=0.15)", "elu(alpha=0.6)"), initial_states=True),
    Case("acts-onnx-3", _acts("sigmoid", "softplus", "thresholded_relu(alpha=0.05)", peepholes=True), initial_states=True),
    Case("acts-keras-1", _acts("hard_sigmoid_relu6", "gelu", "silu"), initial_states=True, scale=2.0),
    Case("acts-keras-2", _acts("sigmoid", "hard_silu", "relu6"), initial_states=True, scale=2.0),
    Case("acts-keras-3", _acts("sigmoid", "gelu_tanh", "selu"), initial_states=True),
    Case("acts-keras-4", _acts("sigmoid", "exponential", "tanh"), initial_states=True),
    Case(
        "family",
        _acts(
            "hard_sigmoid(alpha=0.3, beta=0.45)", "elu(alpha=0.6)", "softsign", num_layers=2, reverse=True, proj_size=2,
            peepholes=True, input_forget=True, activation_clip=0.9, cell_clip=0.3, proj_clip=0.08,
        ),
        batch=4,
        lengths=MIXED_LENGTHS,
        initial_states=True,
        scale=2.0,
    ),
    Case(
        "everything",
        _acts("tanh", "relu", "tanh", num_layers=2, bidirectional=True, proj_size=2, peepholes=True, cell_clip=0.7),
        batch=4,
        lengths=MIXED_LENGTHS,
        initial_states=True,
        batch_first=True,
        scale=2.0,
    ),
]


@dataclass
class Problem:
    """A case's seeded data: the forward's arguments and the loss weights."""

    case: Case
    params: LSTMParams
    x: np.ndarray
    lengths: np.ndarray | None
    initial_states: tuple[np.ndarray, np.ndarray] | None
    grad_outputs: np.ndarray
    grad_h_n: np.ndarray
    grad_c_n: np.ndarray

    def forward_kwargs(self) -> dict:
        return dict(lengths=self.lengths, initial_states=self.initial_states, batch_first=self.case.batch_first)

    def loss(self) -> float:
        outputs, h_n, c_n = lstm_forward(self.case.spec, self.params, self.x, **self.forward_kwargs())
        return float(np.sum(outputs * self.grad_outputs) + np.sum(h_n * self.grad_h_n) + np.sum(c_n * self.grad_c_n))

    def backward(self) -> LSTMGradients:
        spec = self.case.spec
        return lstm_backward(spec, self.params, self.x, self.grad_outputs, self.grad_h_n, self.grad_c_n, **self.forward_kwargs())

    def inputs(self) -> dict[str, np.ndarray]:
        """Every array the loss depends on, by name (the arrays themselves, to perturb in place)."""
        arrays = {"x": self.x}
        if self.initial_states is not None:
            arrays["h0"], arrays["c0"] = self.initial_states
        return arrays | named_params(self.params)

    def traces(self) -> list[DirectionTrace]:
        inputs = validate_inputs(self.case.spec, self.x, **self.forward_kwargs())
        return forward_with_traces(self.case.spec, self.params, inputs)[1]


def named_params(params: LSTMParams) -> dict[str, np.ndarray]:
    """Every parameter array by the name ``params[index].name``."""
    return {f"params[{index}].{name}": array for index, cell in enumerate(params) for name, array in cell.arrays().items()}


def make_problem(case: Case) -> Problem:
    seed = int.from_bytes(hashlib.sha256(case.id.encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    spec = case.spec
    steps, batch = case.steps, case.batch
    layout = (batch, steps) if case.batch_first else (steps, batch)
    states = None
    if case.initial_states:
        states = (
            0.5 * rng.standard_normal((spec.num_cells, batch, spec.output_size)),
            0.5 * rng.standard_normal((spec.num_cells, batch, spec.hidden_size)),
        )
    return Problem(
        case=case,
        params=init_params(spec, seed, case.scale),
        x=rng.standard_normal((*layout, spec.input_size)),
        lengths=None if case.lengths is None else np.array(case.lengths),
        initial_states=states,
        grad_outputs=rng.standard_normal((*layout, spec.num_directions * spec.output_size)),
        grad_h_n=rng.standard_normal((spec.num_cells, batch, spec.output_size)),
        grad_c_n=rng.standard_normal((spec.num_cells, batch, spec.hidden_size)),
    )


def numerical_gradient(loss: Callable[[], float], array: np.ndarray) -> np.ndarray:
    """Central differences of ``loss`` in every entry of ``array`` (perturbed in place, then restored)."""
    grad = np.empty_like(array)
    for index in np.ndindex(array.shape):
        original = array[index]
        upper, lower = original + STEP, original - STEP
        array[index] = upper
        loss_upper = loss()
        array[index] = lower
        loss_lower = loss()
        array[index] = original
        grad[index] = (loss_upper - loss_lower) / (upper - lower)
    return grad


def analytic_by_name(problem: Problem, grads: LSTMGradients) -> dict[str, np.ndarray]:
    """The analytic gradients under the names of :meth:`Problem.inputs`."""
    arrays = {"x": grads.x, "h0": grads.h0, "c0": grads.c0} | named_params(grads.params)
    return {name: arrays[name] for name in problem.inputs()}


def gradient_errors(problem: Problem, analytic: dict[str, np.ndarray]) -> dict[str, float]:
    """Largest |analytic - numerical| / max(1, |numerical|) per input."""
    errors = {}
    for name, array in problem.inputs().items():
        numerical = numerical_gradient(problem.loss, array)
        assert analytic[name].shape == array.shape, name
        errors[name] = float(np.max(np.abs(analytic[name] - numerical) / np.maximum(1.0, np.abs(numerical))))
    return errors


def assert_gradients_match(problem: Problem, analytic: dict[str, np.ndarray]) -> None:
    errors = gradient_errors(problem, analytic)
    wrong = {name: error for name, error in errors.items() if not error <= TOLERANCE}
    assert not wrong, f"gradients off by more than {TOLERANCE:g} (relative): {wrong}"


def kink_margin(problem: Problem) -> float:
    """The smallest distance, over valid steps, of an activation's input from one of its
    kinks, or of a clipped value (gate input, cell, projected state) from its clip."""
    spec = problem.case.spec
    clip = spec.activation_clip
    distances = [np.inf]

    def near(values: np.ndarray, points, valid: np.ndarray) -> None:
        distances.extend(float(np.abs(values[valid] - point).min()) for point in points if values[valid].size)

    for cell, trace in zip(problem.params, problem.traces()):
        valid = np.ones(trace.cells.shape[:2], bool) if trace.valid is None else trace.valid
        h_prev = np.concatenate((trace.h0[None], trace.states[:-1]))
        c_prev = np.concatenate((trace.c0[None], trace.cells[:-1]))
        z = trace.x @ internal_gate_order(cell.w_ih, spec.hidden_size).T
        z += h_prev @ internal_gate_order(cell.w_hh, spec.hidden_size).T
        if spec.bias:
            z += internal_gate_order(cell.b_ih + cell.b_hh, spec.hidden_size)
        z_i, z_f, z_o, z_g = np.split(z, 4, axis=2)
        if spec.peepholes:
            z_i, z_f, z_o = z_i + cell.w_ic * c_prev, z_f + cell.w_fc * c_prev, z_o + cell.w_oc * trace.cells
        gate_inputs = (z_i, z_o) if spec.input_forget else (z_i, z_f, z_o)
        if clip is not None:
            for value in (*gate_inputs, z_g):
                near(np.abs(value), (clip,), valid)
            gate_inputs, z_g = tuple(np.clip(value, -clip, clip) for value in gate_inputs), np.clip(z_g, -clip, clip)
        inputs = {"gate_activation": gate_inputs, "candidate_activation": (z_g,), "cell_activation": (trace.cells,)}
        for role, values in inputs.items():
            for value in values:
                near(value, spec.activation(role).kinks(), valid)
        if spec.cell_clip is not None:
            i, f, _, g = trace.gates.transpose(1, 0, 2, 3)
            near(np.abs(f * c_prev + i * g), (spec.cell_clip,), valid)
        if spec.proj_clip is not None:
            near(np.abs(trace.cell_outputs @ cell.w_hr.T), (spec.proj_clip,), valid)
    return float(min(distances))


def clipped_fraction(values: list[np.ndarray], clip: float) -> float:
    """The fraction of ``values`` (entries at valid steps) a clip held at its bound."""
    flat = np.concatenate([value.ravel() for value in values])
    return float(np.mean(np.abs(flat) == clip))


def clip_usage(problem: Problem) -> dict[str, float]:
    """Per clip the spec sets, the fraction of valid entries it was active on."""
    spec = problem.case.spec
    traces = problem.traces()

    def at_valid(trace: DirectionTrace, values: np.ndarray) -> np.ndarray:
        return values if trace.valid is None else values[trace.valid]

    usage = {}
    if spec.cell_clip is not None:
        usage["cell_clip"] = clipped_fraction([at_valid(t, t.cells) for t in traces], spec.cell_clip)
    if spec.proj_clip is not None:
        usage["proj_clip"] = clipped_fraction([at_valid(t, t.states) for t in traces], spec.proj_clip)
    if spec.activation_clip is not None:
        pre = [at_valid(t, t.pre_gates.transpose(0, 2, 1, 3)) for t in traces]
        usage["activation_clip"] = clipped_fraction(pre, spec.activation_clip)
    return usage


def expected_zero_gradients(spec: LSTMSpec) -> set[str]:
    """Parameters whose gradient is 0 by construction: the forget peephole under input_forget."""
    return {"w_fc"} if spec.input_forget else set()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_gradients_match_finite_differences(case: Case) -> None:
    problem = make_problem(case)
    assert kink_margin(problem) > KINK_MARGIN, "the seeded data is too close to a kink for finite differences"
    for clip, fraction in clip_usage(problem).items():
        assert 0.05 < fraction < 0.95, f"the {clip} case should clip some entries and not others, clipped {fraction:.2f}"
    analytic = analytic_by_name(problem, problem.backward())
    zero = expected_zero_gradients(case.spec)
    checked = {name: grad for name, grad in analytic.items() if name.rpartition(".")[2] not in zero}
    assert all(np.any(grad) for grad in checked.values()), "a gradient that is all 0 would make the check vacuous"
    assert_gradients_match(problem, analytic)


@pytest.mark.parametrize(
    "mutate",
    [
        # The step loop keeps the gates in the order i, f, o, g: forgetting to map back swaps g and o.
        pytest.param(lambda grad, hidden: internal_gate_order(grad, hidden), id="w_ih-left-in-internal-gate-order"),
        # An error 10x the tolerance in one entry.
        pytest.param(lambda grad, hidden: grad + 1e-6 * (np.arange(grad.size) == 5).reshape(grad.shape), id="w_ih-entry-off-by-1e-6"),
    ],
)
def test_finite_differences_detect_a_wrong_gradient(mutate) -> None:
    problem = make_problem(CASES[0])
    analytic = analytic_by_name(problem, problem.backward())
    analytic["params[0].w_ih"] = mutate(analytic["params[0].w_ih"], problem.case.spec.hidden_size)
    with pytest.raises(AssertionError, match=r"params\[0\]\.w_ih"):
        assert_gradients_match(problem, analytic)


def test_zero_length_sequence_passes_final_state_gradients_through() -> None:
    problem = make_problem(next(case for case in CASES if case.id == "lengths-bidirectional-layers-2"))
    grads = problem.backward()
    empty = list(problem.case.lengths).index(0)
    np.testing.assert_array_equal(grads.h0[:, empty], problem.grad_h_n[:, empty])
    np.testing.assert_array_equal(grads.c0[:, empty], problem.grad_c_n[:, empty])
    np.testing.assert_array_equal(grads.x[:, empty], 0.0)


@pytest.mark.parametrize(("cell_clip", "expected_grad_i_g"), [(0.5, (0.0, 0.0)), (0.75, (1.0, 0.5))], ids=["at-clip", "below-clip"])
def test_cell_clip_derivative_is_0_exactly_at_the_clip(cell_clip: float, expected_grad_i_g: tuple[float, float]) -> None:
    # One step, no weights, identity gates and candidate: c = f * 0 + i * g = 0.5 * 1.0 exactly.
    spec = LSTMSpec(1, 1, cell_clip=cell_clip, gate_activation="identity", candidate_activation="identity")
    zeros = np.zeros((4, 1))
    params = (CellParams(w_ih=zeros, w_hh=zeros, b_ih=np.array([0.5, 0.3, 1.0, 0.7]), b_hh=np.zeros(4)),)
    grads = lstm_backward(spec, params, np.zeros((1, 1, 1)), np.zeros((1, 1, 1)), grad_c_n=np.ones((1, 1, 1)))
    grad_i, _, grad_g, _ = grads.params[0].b_ih
    assert (grad_i, grad_g) == expected_grad_i_g  # dc/di = g = 1, dc/dg = i = 0.5 below the clip


def test_padded_inputs_and_their_output_gradients_do_not_matter() -> None:
    problem = make_problem(next(case for case in CASES if case.id == "everything"))
    grads = problem.backward()
    padded = np.arange(problem.case.steps)[None, :] >= problem.lengths[:, None]  # [B, T], batch-first
    problem.x[padded] = np.nan
    problem.grad_outputs[padded] = np.nan
    again = problem.backward()
    for expected, actual in zip(grads[:3], again[:3]):
        np.testing.assert_array_equal(actual, expected)
    for expected, actual in zip(grads.params, again.params):
        for name, array in expected.arrays().items():
            np.testing.assert_array_equal(getattr(actual, name), array)
    np.testing.assert_array_equal(again.x[padded], 0.0)


def test_gradients_keep_the_layout_and_structure_of_the_arguments() -> None:
    problem = make_problem(next(case for case in CASES if case.id == "everything"))
    grads = problem.backward()
    time_major = replace(problem, x=problem.x.transpose(1, 0, 2), grad_outputs=problem.grad_outputs.transpose(1, 0, 2))
    time_major = replace(time_major, case=replace(problem.case, batch_first=False))
    np.testing.assert_allclose(time_major.backward().x.transpose(1, 0, 2), grads.x, rtol=0, atol=1e-15)
    assert grads.x.shape == problem.x.shape
    assert [cell.arrays().keys() for cell in grads.params] == [cell.arrays().keys() for cell in problem.params]
    np.testing.assert_array_equal(grads.params[0].b_ih, grads.params[0].b_hh)


@pytest.mark.parametrize(
    ("argument", "value", "error", "message"),
    [
        pytest.param(
            "grad_outputs", np.zeros((3, 2, 4)), ValueError,
            r"grad_outputs: expected shape \(3, 2, 3\) \[T, B, D\*R\], got \(3, 2, 4\)", id="grad_outputs-shape",
        ),
        pytest.param(
            "grad_outputs", np.zeros((3, 2, 3), dtype=np.int64), TypeError,
            r"grad_outputs: expected a floating-point array, got dtype int64", id="grad_outputs-int",
        ),
        pytest.param("grad_h_n", np.zeros((1, 2)), ValueError, r"grad_h_n: expected a 3-D array, got shape \(1, 2\)", id="grad_h_n-ndim"),
        pytest.param(
            "grad_h_n", np.zeros((2, 2, 3)), ValueError,
            r"grad_h_n: expected shape \(1, 2, 3\) \[L\*D, B, R\], got \(2, 2, 3\)", id="grad_h_n-shape",
        ),
        pytest.param(
            "grad_c_n", np.zeros((1, 2, 2)), ValueError,
            r"grad_c_n: expected shape \(1, 2, 3\) \[L\*D, B, H\], got \(1, 2, 2\)", id="grad_c_n-shape",
        ),
        pytest.param(
            "grad_c_n", [[[True] * 3] * 2], TypeError, r"grad_c_n: expected a floating-point array, got dtype bool", id="grad_c_n-bool",
        ),
    ],
)
def test_bad_gradient_arguments_are_rejected(argument: str, value: object, error: type, message: str) -> None:
    spec = _spec()
    arguments = {"grad_outputs": np.zeros((3, 2, 3)), "grad_h_n": None, "grad_c_n": None, argument: value}
    with pytest.raises(error, match=message):
        lstm_backward(spec, init_params(spec, 0), np.zeros((3, 2, 2)), **arguments)


def test_an_unknown_storage_format_is_rejected_naming_it() -> None:
    spec = _spec()
    with pytest.raises(ValueError, match="stored_as: expected one of float64, float32, bfloat16, float16, got 'float8'"):
        lstm_backward(spec, init_params(spec, 0), np.zeros((3, 2, 2)), np.zeros((3, 2, 3)), stored_as="float8")


def test_the_storage_model_rounds_every_gradient_it_returns_and_float64_changes_nothing() -> None:
    spec = replace(_spec(), num_layers=2)
    params, x = init_params(spec, 0), np.random.default_rng(0).standard_normal((3, 2, 2))
    upstream = np.random.default_rng(1).standard_normal((3, 2, 3))
    exact = lstm_backward(spec, params, x, upstream)
    assert np.array_equal(lstm_backward(spec, params, x, upstream, stored_as="float64").x, exact.x)
    stored = lstm_backward(spec, params, x, upstream, stored_as="float16")
    for value in (stored.x, stored.h0, stored.c0, *(array for cell in stored.params for array in cell.arrays().values())):
        assert np.array_equal(value, value.astype(np.float16).astype(np.float64))
    assert 0 < np.max(np.abs(stored.x - exact.x)) < 1e-2 * np.max(np.abs(exact.x))


def test_spec_is_checked_as_by_the_forward() -> None:
    with pytest.raises(TypeError, match="spec: expected LSTMSpec, got dict"):
        lstm_backward({}, (), np.zeros((3, 2, 2)), np.zeros((3, 2, 3)))


def test_batch_first_grad_outputs_shape_is_reported_batch_first() -> None:
    spec = _spec()
    with pytest.raises(ValueError, match=r"grad_outputs: expected shape \(2, 3, 3\) \[B, T, D\*R\], got \(3, 2, 3\)"):
        lstm_backward(spec, init_params(spec, 0), np.zeros((2, 3, 2)), np.zeros((3, 2, 3)), batch_first=True)
