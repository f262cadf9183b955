"""Bad specs, parameters and inputs are rejected with errors that name the argument,
the expected and the received value."""

from __future__ import annotations

import re

import numpy as np
import pytest

from reference import CellParams, LSTMSpec, init_params, lstm_forward

SPEC = LSTMSpec(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, proj_size=2)
PARAMS = init_params(SPEC, seed=0)
X = np.zeros((5, 2, 3))


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"input_size": 0}, ValueError, "input_size: expected an int >= 1, got 0"),
        ({"hidden_size": 2.5}, TypeError, "hidden_size: expected an int >= 1, got float 2.5"),
        ({"num_layers": True}, TypeError, "num_layers: expected an int >= 1, got bool True"),
        ({"proj_size": 4}, ValueError, "proj_size: expected 0 (no projection) or 0 < proj_size < hidden_size=4, got 4"),
        ({"bidirectional": 1}, TypeError, "bidirectional: expected a bool, got int 1"),
        ({"gate_activation": "hard_swish"}, ValueError, "gate_activation: expected one of sigmoid, tanh, relu, identity, affine,"),
        ({"gate_activation": 3}, TypeError, "gate_activation: expected an activation name string, got int 3"),
        ({"cell_activation": "tanh(alpha=2)"}, ValueError, "cell_activation: tanh takes no parameters, got parameter 'alpha' in 'tanh(alpha=2)'"),
        (
            {"candidate_activation": "leaky_relu(beta=0.1)"}, ValueError,
            "candidate_activation: leaky_relu takes alpha, got parameter 'beta' in 'leaky_relu(beta=0.1)'",
        ),
        ({"gate_activation": "elu(alpha=x)"}, ValueError, "gate_activation: expected a number for parameter 'alpha', got 'x' in 'elu(alpha=x)'"),
        ({"gate_activation": "elu(alpha=inf)"}, ValueError, "gate_activation: expected a finite number for parameter 'alpha', got inf"),
        ({"gate_activation": "elu(0.5)"}, ValueError, "gate_activation: expected key=value parameters, got '0.5' in 'elu(0.5)'"),
        ({"activation_clip": 0.0}, ValueError, "activation_clip: expected None or a finite float > 0, got 0.0"),
        ({"activation_clip": -2.0}, ValueError, "activation_clip: expected None or a finite float > 0, got -2.0"),
        ({"proj_clip": 0.5}, ValueError, "proj_clip: expected None without projection (proj_size=0), got 0.5"),
        ({"proj_size": 2, "proj_clip": float("nan")}, ValueError, "proj_clip: expected None or a finite float > 0, got nan"),
        ({"input_forget": 1}, TypeError, "input_forget: expected a bool, got int 1"),
        ({"reverse": "yes"}, TypeError, "reverse: expected a bool, got str 'yes'"),
        (
            {"reverse": True, "bidirectional": True}, ValueError,
            "reverse: expected False with bidirectional=True (its second direction already runs reversed), got True",
        ),
        ({"cell_clip": -1.0}, ValueError, "cell_clip: expected None or a finite float > 0, got -1.0"),
        ({"cell_clip": "1"}, TypeError, "cell_clip: expected None or a positive float, got str '1'"),
    ],
    ids=lambda value: str(value) if isinstance(value, dict) else None,
)
def test_bad_spec_fields(fields, error, message):
    with pytest.raises(error, match=re.escape(message)):
        LSTMSpec(**{"input_size": 3, "hidden_size": 4, **fields})


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"x": np.zeros((5, 3))}, ValueError, "x: expected a 3-D array, got shape (5, 3)"),
        ({"x": np.zeros((5, 2, 4))}, ValueError, "x: expected [T, B, I] with I = input_size = 3, got shape (5, 2, 4)"),
        ({"x": np.zeros((2, 5, 4)), "batch_first": True}, ValueError, "x: expected [B, T, I] with I = input_size = 3, got shape (2, 5, 4)"),
        ({"x": np.zeros((0, 2, 3))}, ValueError, "x: expected [T, B, I] with T >= 1 and B >= 1, got shape (0, 2, 3)"),
        ({"x": np.zeros((5, 2, 3), dtype=int)}, TypeError, "x: expected a floating-point array, got dtype int64"),
        ({"batch_first": "yes"}, TypeError, "batch_first: expected a bool, got str 'yes'"),
        ({"lengths": [5, 6]}, ValueError, "lengths: expected every length in [0, T=5], got lengths[1] = 6"),
        ({"lengths": [-1, 2]}, ValueError, "lengths: expected every length in [0, T=5], got lengths[0] = -1"),
        ({"lengths": [5]}, ValueError, "lengths: expected shape (2,) (one length per sequence), got (1,)"),
        ({"lengths": [5.0, 2.0]}, TypeError, "lengths: expected an integer array, got dtype float64"),
        ({"lengths": [True, False]}, TypeError, "lengths: expected an integer array, got dtype bool"),
        ({"initial_states": np.zeros((4, 2, 2))}, TypeError, "initial_states: expected a pair (h0, c0) or None, got ndarray"),
        (
            {"initial_states": (np.zeros((4, 2, 4)), np.zeros((4, 2, 4)))},
            ValueError,
            "initial_states[0] (h0): expected shape (4, 2, 2) (num_layers * num_directions, batch, size), got (4, 2, 4)",
        ),
        (
            {"initial_states": (np.zeros((4, 2, 2)), np.zeros((2, 2, 4)))},
            ValueError,
            "initial_states[1] (c0): expected shape (4, 2, 4) (num_layers * num_directions, batch, size), got (2, 2, 4)",
        ),
    ],
    ids=lambda value: ",".join(value) if isinstance(value, dict) else None,
)
def test_bad_inputs(arguments, error, message):
    call = {"x": X, **arguments}
    with pytest.raises(error, match=re.escape(message)):
        lstm_forward(SPEC, PARAMS, **call)


def test_missing_parameter():
    params = list(PARAMS)
    params[1] = CellParams(w_ih=params[1].w_ih, w_hh=params[1].w_hh, b_ih=params[1].b_ih, b_hh=params[1].b_hh)
    message = "params[1].w_hr (layer 0, direction 1): expected an array of shape (2, 4), got None"
    with pytest.raises(ValueError, match=re.escape(message)):
        lstm_forward(SPEC, params, X)


def test_extra_parameter():
    params = list(PARAMS)
    params[2] = CellParams(**params[2].arrays(), w_ic=np.zeros(4))
    message = "params[2].w_ic (layer 1, direction 0): expected None for this spec, got an array of shape (4,)"
    with pytest.raises(ValueError, match=re.escape(message)):
        lstm_forward(SPEC, params, X)


def test_parameter_of_wrong_shape():
    params = list(PARAMS)
    params[2] = CellParams(**{**params[2].arrays(), "w_ih": np.zeros((16, 3))})
    with pytest.raises(ValueError, match=re.escape("params[2].w_ih: expected shape (16, 4), got (16, 3)")):
        lstm_forward(SPEC, params, X)


def test_wrong_number_of_cells():
    with pytest.raises(ValueError, match=re.escape("params: expected 4 cells (num_layers * num_directions), got 2")):
        lstm_forward(SPEC, PARAMS[:2], X)


def test_integer_parameters_are_rejected():
    params = list(PARAMS)
    params[0] = CellParams(**{**params[0].arrays(), "b_ih": np.zeros(16, dtype=int)})
    with pytest.raises(TypeError, match=re.escape("params[0].b_ih: expected a floating-point array, got dtype int64")):
        lstm_forward(SPEC, params, X)


def test_init_scale_must_be_positive():
    with pytest.raises(ValueError, match=re.escape("scale: expected a finite float > 0, got 0")):
        init_params(SPEC, seed=0, scale=0)


@pytest.mark.parametrize("spec", [LSTMSpec(input_size=2, hidden_size=3, num_layers=3, bidirectional=True), LSTMSpec(input_size=2, hidden_size=3, num_layers=2, reverse=True)])
def test_cells_are_every_layer_and_direction_in_the_order_of_h_n(spec):
    cells = spec.cells()
    assert cells == [(layer, direction) for layer in range(spec.num_layers) for direction in range(spec.num_directions)]
    assert [spec.cell_index(layer, direction) for layer, direction in cells] == list(range(spec.num_cells))
