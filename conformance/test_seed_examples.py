"""The examples of the documents this project grew from, checked against the frameworks.

They call torch and paddle directly, as the documents do, and run when those backends
are selected for the run and installed.
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters.layouts import to_canonical
from adapters.shared_layouts import TORCH_LAYOUT
from reference import LSTMSpec, lstm_forward, parameter_count

from conformance.plugin import selected_references

# The seed prints tensors rounded to 4 decimals: a reproduced value is within half a unit
# of the last printed digit.
PRINTED_DIGITS = 0.5e-4


def framework(request: pytest.FixtureRequest, backend: str, module: str):
    if backend not in selected_references(request.config):
        pytest.skip(f"backend {backend} is not selected for this run")
    return pytest.importorskip(module)


@pytest.fixture
def paddle(request):
    paddle = framework(request, "paddle", "paddle")
    paddle.seed(0)
    return paddle


@pytest.fixture
def torch(request):
    return framework(request, "torch", "torch")


def unique_parameter_count(layer) -> int:
    unique = {id(parameter): parameter for parameter in layer.parameters()}
    return sum(int(np.prod(parameter.shape)) for parameter in unique.values())


def test_seed_000_shapes_and_parameter_count(paddle):
    """paddle.nn.LSTM(6, 8, 2) on [4, 3, 6]: y [4, 3, 8], h and c [2, 4, 8], 1088 parameters."""
    rnn = paddle.nn.LSTM(input_size=6, hidden_size=8, num_layers=2)
    y, (h, c) = rnn(paddle.randn((4, 3, 6)))
    assert y.shape == [4, 3, 8]
    assert h.shape == c.shape == [2, 4, 8]
    assert unique_parameter_count(rnn) == 1088 == parameter_count(LSTMSpec(6, 8, num_layers=2), "two_biases").total


def test_seed_000_claim_last_layer_h_equals_last_output(paddle):
    """The notebook's conclusion: the last layer's h is y at the last time step."""
    rnn = paddle.nn.LSTM(input_size=6, hidden_size=8, num_layers=2)
    y, (h, _) = rnn(paddle.randn((4, 3, 6)))
    np.testing.assert_array_equal(h.numpy()[-1], y.numpy()[:, -1])


def test_seed_000_claim_fails_when_bidirectional(paddle):
    """Bidirectional: the last h is the backward cell's, which ends at step 0, not at the last step."""
    rnn = paddle.nn.LSTM(input_size=6, hidden_size=8, num_layers=2, direction="bidirect")
    y, (h, _) = rnn(paddle.randn((4, 3, 6)))
    y, h = y.numpy(), h.numpy()
    assert y.shape == (4, 3, 16)
    assert np.abs(h[-1] - y[:, -1, 8:]).max() > 1e-3
    np.testing.assert_array_equal(h[-1], y[:, 0, 8:])
    np.testing.assert_array_equal(h[-2], y[:, -1, :8])


def test_seed_000_claim_fails_with_lengths(paddle):
    """With sequence_length, y is 0 after a sequence ends while h keeps its last valid state."""
    rnn = paddle.nn.LSTM(input_size=6, hidden_size=8, num_layers=2)
    lengths = np.array([3, 1, 2, 3])
    y, (h, _) = rnn(paddle.randn((4, 3, 6)), sequence_length=paddle.to_tensor(lengths))
    y, h = y.numpy(), h.numpy()
    short = lengths < 3
    np.testing.assert_array_equal(y[short, -1], 0.0)
    assert (np.abs(h[-1][short]).max(axis=1) > 0).all()
    np.testing.assert_array_equal(h[-1], y[np.arange(4), lengths - 1])


def test_seed_003_shapes_with_initial_states(paddle):
    """paddle.nn.LSTM(16, 32, 2) on [4, 23, 16] with prev_h, prev_c [2, 4, 32]."""
    rnn = paddle.nn.LSTM(16, 32, 2)
    y, (h, c) = rnn(paddle.randn((4, 23, 16)), (paddle.randn((2, 4, 32)), paddle.randn((2, 4, 32))))
    assert y.shape == [4, 23, 32]
    assert h.shape == c.shape == [2, 4, 32]


SEED_004 = {
    "input": [[[-2.1188, 0.0635, -1.4555]], [[-0.0126, -0.1548, -0.0927]]],
    "h_0": [[[2.5916, 0.4542, -0.6890, -0.9962]]],
    "c_0": [[[0.1856, 0.1476, 0.8628, 0.2379]]],
    "output": [[[0.1933, -0.0371, 0.1991, -0.4055]], [[0.2121, -0.0874, 0.0834, -0.1616]]],
    "h_n": [[[0.2121, -0.0874, 0.0834, -0.1616]]],
    "c_n": [[[0.5562, -0.1607, 0.2118, -0.3740]]],
}


def seed_004_run(torch):
    """The notebook's cell, call for call: the RNG draws come in this order."""
    torch.manual_seed(666)
    values = {"input": torch.randn(2, 1, 3), "h_0": torch.randn(1, 1, 4), "c_0": torch.randn(1, 1, 4)}
    lstm = torch.nn.LSTM(input_size=3, hidden_size=4, num_layers=1, bias=True, batch_first=False, dropout=0, bidirectional=False)
    with torch.no_grad():
        output, (h_n, c_n) = lstm(values["input"], (values["h_0"], values["c_0"]))
    values.update(output=output, h_n=h_n, c_n=c_n)
    return {name: value.numpy() for name, value in values.items()}, lstm


def test_seed_004_torch_reproduces_the_printed_values(torch):
    values, _ = seed_004_run(torch)
    for name, printed in SEED_004.items():
        np.testing.assert_allclose(values[name], printed, rtol=0, atol=PRINTED_DIGITS, err_msg=name)


def test_seed_004_oracle_with_that_modules_weights_reproduces_them(torch):
    values, lstm = seed_004_run(torch)
    spec = LSTMSpec(input_size=3, hidden_size=4)
    params = to_canonical(TORCH_LAYOUT, spec, {name: tensor.detach().double().numpy() for name, tensor in lstm.state_dict().items()})
    result = lstm_forward(spec, params, values["input"], initial_states=(values["h_0"], values["c_0"]))
    for name, value in zip(("output", "h_n", "c_n"), result):
        np.testing.assert_allclose(value, SEED_004[name], rtol=0, atol=PRINTED_DIGITS, err_msg=name)
        # torch computed in float32 from the same float32 values: float32 rounding apart.
        np.testing.assert_allclose(value, values[name], rtol=0, atol=1e-6, err_msg=name)
