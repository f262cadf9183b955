"""A backend that crashes or hangs takes only its own call down."""

from __future__ import annotations

import io
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from adapters import RunRequest, load_adapter
from adapters.base import RunConfig
from conformance.run.isolation import BackendCrashed, IsolatedAdapter, PortableUnpickler
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


def test_arrays_pickled_under_the_other_numpy_major_version_load():
    """A child under NumPy 1 pickles arrays by numpy.core functions, one under NumPy 2 by
    numpy._core ones: either reads as this process's own, without NumPy's compatibility shim."""
    array = np.arange(6.0).reshape(2, 3)
    payload = pickle.dumps(array, protocol=2)
    assert b"numpy._core" in payload or b"numpy.core" in payload
    for core in (b"numpy._core", b"numpy.core"):
        foreign = payload.replace(b"numpy._core", core) if b"numpy._core" in payload else payload.replace(b"numpy.core", core)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loaded = PortableUnpickler(io.BytesIO(foreign)).load()
        np.testing.assert_array_equal(loaded, array)


SEPARATE_PYTHON = Path(__file__).resolve().parents[2] / ".venv-mindspore" / "bin" / "python"


@pytest.mark.skipif(not SEPARATE_PYTHON.exists(), reason="no .venv-mindspore here (quickstart.py builds it)")
def test_a_backend_runs_under_another_interpreter_and_numpy():
    """The example adapter in a child of MindSpore's environment (NumPy 1) gives what it gives
    in this process (NumPy 2), up to the rounding of another BLAS: requests and results cross
    both ways."""
    reference = "adapters.example:ExampleAdapter"
    adapter = IsolatedAdapter(reference, python=str(SEPARATE_PYTHON))
    try:
        assert adapter.availability().available
        away = adapter.run(request(3))
    finally:
        adapter.close()
    here = load_adapter(reference).run(request(3))
    for got, expected in zip(away, here):
        assert got.dtype == expected.dtype and got.shape == expected.shape
        # NumPy 1 and NumPy 2 bring different OpenBLAS releases, whose matrix-product kernels
        # for one CPU may add in another order (on an Intel Xeon, results differ by 1 ulp; on
        # an AMD EPYC they agree bitwise): 16 ulps of the largest value allow that, while a
        # request or result that lost precision on the way (float32: ~1e-8) fails.
        np.testing.assert_allclose(got, expected, rtol=0, atol=16 * np.finfo(expected.dtype).eps * np.abs(expected).max())


def test_many_support_questions_in_one_call_get_the_answers_asked_one_by_one():
    configs = [RunConfig(LSTMSpec(2, 3, num_layers=layers), dtype=dtype, lengths=lengths) for layers in (1, 2) for dtype in ("float32", "bfloat16") for lengths in (False, True)]
    adapter = IsolatedAdapter("tests.support.numpy_stack:NumpyStackAdapter")
    try:
        assert adapter.unsupported_many(configs) == [tuple(adapter.unsupported(config)) for config in configs]
        assert any(adapter.unsupported_many(configs)) and not all(adapter.unsupported_many(configs))
    finally:
        adapter.close()


def test_a_last_output_only_run_asks_for_no_empty_sequence_and_no_gradients():
    with pytest.raises(ValueError, match="last_output_only: expected a forward run without empty sequences, got zero_length=True, gradients=False"):
        RunConfig(LSTMSpec(2, 3), lengths=True, zero_length=True, last_output_only=True)
    with pytest.raises(ValueError, match="last_output_only: expected a forward run without empty sequences, got zero_length=False, gradients=True"):
        RunConfig(LSTMSpec(2, 3), gradients=True, last_output_only=True)
