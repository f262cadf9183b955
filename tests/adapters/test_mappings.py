"""Parameter mappings between the canonical layout and each backend's, both ways."""

from __future__ import annotations

import numpy as np
import pytest

from adapters import load_adapter
from reference import LSTMSpec, init_params

SPECS = {
    "torch": [LSTMSpec(3, 5), LSTMSpec(3, 5, num_layers=3, bidirectional=True, proj_size=2), LSTMSpec(4, 6, bias=False)],
    "paddle": [LSTMSpec(3, 5), LSTMSpec(3, 5, num_layers=3, bidirectional=True, proj_size=2), LSTMSpec(4, 6, bias=False)],
    "paddle-legacy": [LSTMSpec(3, 5), LSTMSpec(3, 5, num_layers=2, bidirectional=True, peepholes=True)],
    "adapters.example:ExampleAdapter": [LSTMSpec(3, 5)],
    "torch-onnx": [LSTMSpec(3, 5), LSTMSpec(3, 5, num_layers=3, bidirectional=True, proj_size=2), LSTMSpec(4, 6, bias=False)],
    "torch-onnx-torchscript": [LSTMSpec(3, 5, num_layers=2, bidirectional=True)],
    "paddle-onnx": [LSTMSpec(3, 5), LSTMSpec(3, 5, num_layers=3, bidirectional=True), LSTMSpec(4, 6, bias=False)],
    "onnxruntime": [
        LSTMSpec(3, 5),
        LSTMSpec(3, 5, num_layers=2, bidirectional=True, peepholes=True),
        LSTMSpec(4, 6, reverse=True, bias=False, input_forget=True),
    ],
}
# Backends with one bias where the canonical layout has two: only b_ih + b_hh survives.
SINGLE_BIAS = {"paddle-legacy", "adapters.example:ExampleAdapter"}


CASES = [
    pytest.param(reference, spec, id=f"{reference}-L{spec.num_layers}-D{spec.num_directions}-P{spec.proj_size}")
    for reference, specs in SPECS.items()
    for spec in specs
]


@pytest.mark.parametrize(("reference", "spec"), CASES)
def test_canonical_to_backend_and_back(reference, spec):
    adapter = load_adapter(reference)
    params = init_params(spec, seed=1)
    back = adapter.backend_to_canonical(spec, adapter.canonical_to_backend(spec, params))
    assert len(back) == len(params)
    for index, (original, returned) in enumerate(zip(params, back)):
        original, returned = original.arrays(), returned.arrays()
        if reference in SINGLE_BIAS:
            np.testing.assert_array_equal(returned.pop("b_ih") + returned.pop("b_hh"), original.pop("b_ih") + original.pop("b_hh"))
        assert returned.keys() == original.keys(), index
        for name in original:
            np.testing.assert_array_equal(returned[name], original[name], err_msg=f"cell {index} {name}")


@pytest.mark.parametrize(("reference", "spec"), CASES)
def test_backend_to_canonical_and_back(reference, spec):
    adapter = load_adapter(reference)
    backend = adapter.canonical_to_backend(spec, init_params(spec, seed=2))
    again = adapter.canonical_to_backend(spec, adapter.backend_to_canonical(spec, backend))
    assert again.keys() == backend.keys()
    for name in backend:
        np.testing.assert_array_equal(again[name], backend[name], err_msg=name)


def test_torch_names_and_shapes():
    spec = LSTMSpec(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    state = load_adapter("torch").canonical_to_backend(spec, init_params(spec, seed=3))
    assert state["weight_ih_l1_reverse"].shape == (20, 4)
    assert state["weight_hr_l0"].shape == (2, 5)
    assert len(state) == 20


def test_paddle_projection_is_transposed():
    spec = LSTMSpec(3, 5, bidirectional=True, proj_size=2)
    params = init_params(spec, seed=4)
    state = load_adapter("paddle").canonical_to_backend(spec, params)
    np.testing.assert_array_equal(state["0.cell_bw.weight_ho"], params[1].w_hr.T)


def test_legacy_gate_blocks_are_candidate_input_forget_output():
    spec = LSTMSpec(1, 1, peepholes=True)
    params = init_params(spec, seed=5)
    cell = params[0]
    state = load_adapter("paddle-legacy").canonical_to_backend(spec, params)
    i, f, g, o = cell.w_ih[:, 0]
    np.testing.assert_array_equal(state["layer0.forward.input_projection"][0], [g, i, f, o])
    bias = cell.b_ih + cell.b_hh
    np.testing.assert_array_equal(state["layer0.forward.bias"][0], [bias[2], bias[0], bias[1], bias[3], *cell.w_ic, *cell.w_fc, *cell.w_oc])


def test_onnx_layout_against_the_onnx_specification_equations():
    """The ONNX mapping read back through ONNX's own equations, written out here from the
    operator's documentation (gate blocks i, o, f, c; B = [Wb | Rb]; P = [Pi | Po | Pf];
    the output gate's peephole on the new cell), one step from a given state."""
    from adapters.layouts import to_backend
    from adapters.onnxruntime_lstm import ONNX_LAYOUT
    from reference import lstm_forward, sigmoid

    spec = LSTMSpec(3, 4, peepholes=True)
    params = init_params(spec, seed=3)
    arrays = to_backend(ONNX_LAYOUT, spec, params)
    rng = np.random.default_rng(4)
    x, h0, c0 = rng.standard_normal((1, 2, 3)), rng.standard_normal((1, 2, 4)), rng.standard_normal((1, 2, 4))
    w, r, b, p = arrays["layer0.W"][0], arrays["layer0.R"][0], arrays["layer0.B"][0], arrays["layer0.P"][0]
    gates = x[0] @ w.T + h0[0] @ r.T + b[:16] + b[16:]
    z_i, z_o, z_f, z_c = np.split(gates, 4, axis=1)
    p_i, p_o, p_f = np.split(p, 3)
    i, f = sigmoid(z_i + p_i * c0[0]), sigmoid(z_f + p_f * c0[0])
    c = f * c0[0] + i * np.tanh(z_c)
    h = sigmoid(z_o + p_o * c) * np.tanh(c)
    result = lstm_forward(spec, params, x, initial_states=(h0, c0))
    np.testing.assert_allclose(result.c_n[0], c, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(result.h_n[0], h, rtol=1e-13, atol=1e-15)
