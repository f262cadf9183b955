"""Each adapter maps final states to the oracle's order: forward cells at 0, 2, 4...,
backward cells at 1, 3, 5... Checked on a hand-made case whose backward cells have all
parameters 0, so their states have a closed form (i = f = o = 1/2, g = 0:
c_T = c0 / 2^T, h_T = tanh(c_T) / 2) while the forward cells' states do not."""

from __future__ import annotations

import numpy as np
import pytest

from adapters import RunConfig, RunRequest, load_adapter
from reference import CellParams, LSTMSpec, init_params

STEPS = 4
# float64 backends compute these few operations to within a few ulps.
CLOSE = dict(rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("reference", ["torch", "paddle", "paddle-legacy"])
def test_backward_states_sit_at_odd_indices(reference):
    adapter = load_adapter(reference)
    if not adapter.availability().available:
        pytest.skip(adapter.availability().reason)
    spec = LSTMSpec(input_size=2, hidden_size=3, num_layers=2, bidirectional=True)
    assert not adapter.unsupported(RunConfig(spec, initial_states=True))
    random = init_params(spec, seed=11)
    params = tuple(
        cell if index % 2 == 0 else CellParams(**{name: np.zeros_like(array) for name, array in cell.arrays().items()})
        for index, cell in enumerate(random)
    )
    rng = np.random.default_rng(11)
    h0, c0 = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 3))
    x = rng.standard_normal((STEPS, 2, 2))
    result = adapter.run(RunRequest(spec, params, x, initial_states=(h0, c0)))
    closed_c = c0 / 2.0**STEPS
    closed_h = np.tanh(closed_c) / 2
    for layer in range(2):
        np.testing.assert_allclose(result.c_n[2 * layer + 1], closed_c[2 * layer + 1], **CLOSE)
        np.testing.assert_allclose(result.h_n[2 * layer + 1], closed_h[2 * layer + 1], **CLOSE)
        assert np.abs(result.h_n[2 * layer] - closed_h[2 * layer]).max() > 1e-3
    np.testing.assert_allclose(result.outputs[0, :, 3:], result.h_n[3], **CLOSE)
    np.testing.assert_allclose(result.outputs[-1, :, :3], result.h_n[2], **CLOSE)
