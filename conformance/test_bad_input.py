"""The oracle and every backend reject bad requests with the same clear error, before any
framework code runs (an unknown activation string, for one, aborts Paddle's process)."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from adapters.base import RunRequest
from reference import LSTMSpec, init_params

from conformance.plugin import require_available
from conformance.judge.expectations import oracle_forward

SPEC = LSTMSpec(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
GOOD = RunRequest(SPEC, init_params(SPEC, seed=0), np.zeros((5, 2, 3)), lengths=np.array([5, 3]))


def with_spec_field(name: str, value: object) -> LSTMSpec:
    """SPEC with a field set past validation, as a hand-made or unpickled object could be."""
    spec = replace(SPEC)
    object.__setattr__(spec, name, value)
    return spec


BAD_REQUESTS = {
    "x-rank": (replace(GOOD, x=np.zeros((5, 3))), ValueError, "x: expected a 3-D array, got shape (5, 3)"),
    "x-features": (replace(GOOD, x=np.zeros((5, 2, 7))), ValueError, "x: expected [T, B, I] with I = input_size = 3, got shape (5, 2, 7)"),
    "x-integer": (replace(GOOD, x=np.zeros((5, 2, 3), dtype=np.int32)), TypeError, "x: expected a floating-point array, got dtype int32"),
    "lengths-above-T": (replace(GOOD, lengths=np.array([6, 3])), ValueError, "lengths: expected every length in [0, T=5], got lengths[0] = 6"),
    "lengths-negative": (replace(GOOD, lengths=np.array([5, -1])), ValueError, "lengths: expected every length in [0, T=5], got lengths[1] = -1"),
    "lengths-shape": (replace(GOOD, lengths=np.array([5, 3, 1])), ValueError, "lengths: expected shape (2,) (one length per sequence), got (3,)"),
    "lengths-float": (replace(GOOD, lengths=np.array([5.0, 3.0])), TypeError, "lengths: expected an integer array, got dtype float64"),
    "h0-shape": (
        replace(GOOD, initial_states=(np.zeros((2, 2, 4)), np.zeros((4, 2, 4)))),
        ValueError,
        "initial_states[0] (h0): expected shape (4, 2, 4)",
    ),
    "params-count": (replace(GOOD, params=GOOD.params[:2]), ValueError, "params: expected 4 cells (num_layers * num_directions), got 2"),
    "dtype": (replace(GOOD, dtype="float8"), ValueError, "dtype: expected one of float32, float64, bfloat16, float16, got 'float8'"),
    "device": (replace(GOOD, device="tpu"), ValueError, "device: expected one of cpu, cuda, got 'tpu'"),
    "dropout": (replace(GOOD, dropout=1.5), ValueError, "dropout: expected a probability in [0, 1), got 1.5"),
    "activation": (
        replace(GOOD, spec=with_spec_field("gate_activation", "linear")),
        ValueError,
        "gate_activation: expected one of sigmoid, tanh, relu, identity, affine, leaky_relu, thresholded_relu, scaled_tanh, hard_sigmoid, elu, softsign, softplus, hard_sigmoid_relu6, hard_silu, relu6, silu, gelu, gelu_tanh, selu, exponential (optionally with (key=value) parameters), got 'linear'",
    ),
}
# The oracle takes no dtype, device or dropout: those only concern backends.
BACKEND_ONLY = {"dtype", "device", "dropout"}


@pytest.mark.parametrize("name", [name for name in BAD_REQUESTS if name not in BACKEND_ONLY])
def test_oracle_rejects(name):
    bad, error, message = BAD_REQUESTS[name]
    with pytest.raises(error, match=re.escape(message)):
        oracle_forward(bad)


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_backend_rejects(backend, name):
    require_available(backend)
    bad, error, message = BAD_REQUESTS[name]
    with pytest.raises(error, match=re.escape(message)):
        backend.adapter.run(bad)


def test_good_request_runs_on_the_oracle():
    """The table's requests differ from this one only in what the test names."""
    assert oracle_forward(GOOD).outputs.shape == (5, 2, 8)
