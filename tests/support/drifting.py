"""Registered backends with a second bug on top of their known deviations: a small relative
drift, as a kernel that goes wrong on one code path would add. The suite must fail them,
deviations and all (its deviations excuse only what their models predict)."""

from __future__ import annotations

import os

import numpy as np

from adapters.base import RunRequest, offers_threaded_runs
from adapters.registry import load_adapter
from reference import CellParams, LSTMGradients, LSTMResult


# Where a kernel's blocked, large-size paths are assumed to switch on.
LARGE_HIDDEN = 64


class Drifting:
    """The registered backend ``name`` (same name, so its deviations apply), with its
    gradients times (1 + ``gradient_drift``), and (1 + ``large_gradient_drift``) more at
    H >= 64; its float64 outputs and states at H >= 64 times (1 + ``large_float64_drift``);
    when set to more than one thread, its outputs and states times (1 +
    ``threaded_drift``); its outputs times (1 + ``output_drift``); everything else is the
    backend's."""

    def __init__(
        self,
        name: str,
        gradient_drift: float = 0.0,
        threaded_drift: float = 0.0,
        large_float64_drift: float = 0.0,
        large_gradient_drift: float = 0.0,
        output_drift: float = 0.0,
    ) -> None:
        self._inner = load_adapter(name)
        self._gradient_drift, self._threaded_drift, self._threads = gradient_drift, threaded_drift, 1
        self._large_float64_drift, self._large_gradient_drift = large_float64_drift, large_gradient_drift
        self._output_drift = output_drift

    def __getattr__(self, member: str):
        return getattr(self._inner, member)

    def set_threads(self, threads: int) -> None:
        self._threads = threads
        if hasattr(self._inner, "set_threads"):
            self._inner.set_threads(threads)

    @property
    def has_threaded_runs(self) -> bool:
        """Threaded runs as the backend offers them (see :func:`adapters.base.offers_threaded_runs`)."""
        return offers_threaded_runs(self._inner)

    def run_threaded(self, request: RunRequest, count: int) -> LSTMResult:
        return self._drifted(request, self._inner.run_threaded(request, count), count)

    def run(self, request: RunRequest) -> LSTMResult:
        return self._drifted(request, self._inner.run(request), self._threads)

    def _drifted(self, request: RunRequest, result: LSTMResult, threads: int) -> LSTMResult:
        drift = self._threaded_drift if threads > 1 else 0.0
        if request.spec.hidden_size >= LARGE_HIDDEN and request.dtype == "float64":
            drift += self._large_float64_drift
        if drift:
            result = LSTMResult(*(np.asarray(value) * (1 + drift) for value in result))
        return result._replace(outputs=np.asarray(result.outputs) * (1 + self._output_drift)) if self._output_drift else result

    def gradients(self, request: RunRequest, upstream: LSTMResult) -> LSTMGradients:
        grads = self._inner.gradients(request, upstream)
        scale = 1 + self._gradient_drift + (self._large_gradient_drift if request.spec.hidden_size >= LARGE_HIDDEN else 0.0)
        params = tuple(CellParams(**{name: value * scale for name, value in cell.arrays().items()}) for cell in grads.params)
        return LSTMGradients(grads.x * scale, grads.h0 * scale, grads.c0 * scale, params)


def drifting_tensorflow_block_gradients() -> Drifting:
    """TensorFlow's BlockLSTMV2, forward exact, gradients off by 5e-4 of themselves on top
    of its registered gradient deviation."""
    return Drifting("tensorflow-block", gradient_drift=5e-4)


def drifting_onnxruntime_threads() -> Drifting:
    """ONNX Runtime, off by 6e-5 of its values when run on several threads."""
    return Drifting("onnxruntime", threaded_drift=6e-5)


def drifting_torch_threads() -> Drifting:
    """torch, off by 6e-5 of its values when run on several threads (in its own process: it offers threaded runs)."""
    return Drifting("torch", threaded_drift=6e-5)


def drifting_torch_large_float64() -> Drifting:
    """torch, its float64 outputs and states off by 1e-9 of themselves at H >= 64 only."""
    return Drifting("torch", large_float64_drift=1e-9)


def drifting_torch_large_gradients() -> Drifting:
    """torch, its gradients off by 1e-4 of themselves at H >= 64 only."""
    return Drifting("torch", large_gradient_drift=1e-4)


# The output drift of drifting_example_outputs, from this environment variable.
OUTPUT_DRIFT_VARIABLE = "LSTM_PARITY_TEST_OUTPUT_DRIFT"


def drifting_example_outputs() -> Drifting:
    """The example backend, its outputs times (1 + the float in OUTPUT_DRIFT_VARIABLE)."""
    return Drifting("adapters.example:ExampleAdapter", output_drift=float(os.environ[OUTPUT_DRIFT_VARIABLE]))
