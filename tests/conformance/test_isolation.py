"""A backend that crashes or hangs takes only its own call down."""

from __future__ import annotations

import re

import numpy as np
import pytest

from adapters import RunRequest
from conformance.isolation import BackendCrashed, IsolatedAdapter
from reference import LSTMSpec, init_params, lstm_forward

SPEC = LSTMSpec(input_size=2, hidden_size=3)
PARAMS = init_params(SPEC, seed=0)


def request(batch: int) -> RunRequest:
    return RunRequest(SPEC, PARAMS, np.random.default_rng(batch).standard_normal((4, batch, 2)))


@pytest.fixture
def crashing():
    adapter = IsolatedAdapter("tests.support.adapters:CrashingAdapter")
    yield adapter
    adapter.close()


@pytest.mark.parametrize(("batch", "signal"), [(3, "SIGSEGV"), (2, "SIGABRT")])
def test_a_crash_becomes_an_exception_naming_the_signal_and_the_next_call_works(crashing, batch, signal):
    with pytest.raises(BackendCrashed, match=f"its process died while running run: signal {signal}"):
        crashing.run(request(batch))
    result = crashing.run(request(1))
    np.testing.assert_allclose(result.outputs, lstm_forward(SPEC, PARAMS, request(1).x).outputs, rtol=1e-12, atol=1e-14)


def test_exceptions_come_back_with_their_type_and_message(crashing):
    bad = RunRequest(SPEC, PARAMS, np.zeros((4, 1, 5)))
    with pytest.raises(ValueError, match=re.escape("x: expected [T, B, I] with I = input_size = 2, got shape (4, 1, 5)")):
        crashing.run(bad)


def test_a_hanging_call_is_killed_after_the_timeout():
    adapter = IsolatedAdapter("tests.support.adapters:HangingAdapter", timeout=2.0)
    try:
        with pytest.raises(BackendCrashed, match=re.escape("no answer within 2 s while running run; its process was killed")):
            adapter.run(request(1))
    finally:
        adapter.close()


def test_an_adapter_that_cannot_load_is_reported():
    with pytest.raises(ValueError, match=re.escape("adapter: cannot load 'no_such_module:Adapter'")):
        IsolatedAdapter("no_such_module:Adapter")
