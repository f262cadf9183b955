"""Which cell state Paddle's legacy lstm kernel feeds the output gate's peephole.

Versions of the ``dynamic_lstm`` documentation disagree: o_t = sigmoid(... + w_oc * c_{t-1})
in one, ``... + w_oc * c_t`` in another. This runs the op on a peephole case and measures
its distance to both hypotheses, computed by the small independent step loop below.
Measured on paddle 3.3.1 (float64): about 2e-16 from the c_t hypothesis, about 0.1 from
the c_{t-1} one. The oracle follows the kernel (c_t); the test fails if either the
kernel or the oracle changes its choice.
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters import RunRequest, load_adapter
from reference import LSTMSpec, init_params, lstm_forward

# Float64 arithmetic in different orders: a few ulps of O(1) values.
SAME = 1e-12
# The two hypotheses differ by w_oc * (c_t - c_{t-1}) inside a sigmoid: with these
# parameters that moves h by more than 1e-2 somewhere; rounding never does.
DIFFERENT = 1e-2


def sigmoid(value: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-value))


def peephole_lstm(spec: LSTMSpec, params, x: np.ndarray, output_gate_reads: str) -> np.ndarray:
    """One forward layer with peepholes, h for every step [T, B, H]; the output gate's
    peephole reads ``output_gate_reads`` ("c_t" or "c_prev")."""
    cell = params[0]
    hidden = spec.hidden_size
    h = np.zeros((x.shape[1], hidden))
    c = np.zeros((x.shape[1], hidden))
    outputs = []
    for x_t in x:
        z = x_t @ cell.w_ih.T + h @ cell.w_hh.T + cell.b_ih + cell.b_hh
        z_i, z_f, z_g, z_o = (z[:, k * hidden : (k + 1) * hidden] for k in range(4))
        c_prev = c
        c = sigmoid(z_f + cell.w_fc * c_prev) * c_prev + sigmoid(z_i + cell.w_ic * c_prev) * np.tanh(z_g)
        o = sigmoid(z_o + cell.w_oc * (c if output_gate_reads == "c_t" else c_prev))
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs)


@pytest.fixture(scope="module")
def case():
    spec = LSTMSpec(input_size=3, hidden_size=5, peepholes=True)
    params = init_params(spec, seed=7, scale=2.0)
    x = np.random.default_rng(7).standard_normal((6, 2, 3))
    return spec, params, x


def distances(reference: np.ndarray, spec, params, x) -> dict[str, float]:
    return {name: float(np.abs(reference - peephole_lstm(spec, params, x, name)).max()) for name in ("c_t", "c_prev")}


def test_paddle_kernel_feeds_the_output_gate_the_new_cell(case):
    spec, params, x = case
    adapter = load_adapter("paddle-legacy")
    if not adapter.availability().available:
        pytest.skip(adapter.availability().reason)
    kernel = adapter.run(RunRequest(spec, params, x)).outputs
    measured = distances(kernel, spec, params, x)
    assert measured["c_t"] < SAME, measured
    assert measured["c_prev"] > DIFFERENT, measured


def test_oracle_feeds_the_output_gate_the_new_cell(case):
    spec, params, x = case
    measured = distances(lstm_forward(spec, params, x).outputs, spec, params, x)
    assert measured["c_t"] < SAME, measured
    assert measured["c_prev"] > DIFFERENT, measured
