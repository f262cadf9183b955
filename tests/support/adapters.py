"""Adapters the project's own tests load by module:attribute reference."""

from __future__ import annotations

import ctypes
import os

import numpy as np

from adapters.example import ExampleAdapter
from adapters.base import RunRequest
from reference import LSTMResult

from .numpy_stack import NumpyStackAdapter

example_instance = ExampleAdapter()


def make_example() -> ExampleAdapter:
    return ExampleAdapter()


not_an_adapter = object()


class CrashingAdapter(ExampleAdapter):
    """The example backend, except that it kills its own process on some cases, as a
    broken native kernel would: a segmentation fault when the batch has 3 sequences,
    an abort when it has 2."""

    name = "crashing-example"

    def run(self, request: RunRequest) -> LSTMResult:
        batch = request.x.shape[0 if request.batch_first else 1]
        if batch == 3:
            ctypes.string_at(0)
        if batch == 2:
            os.abort()
        return super().run(request)


class HangingAdapter(ExampleAdapter):
    """The example backend, except that every run blocks forever."""

    name = "hanging-example"

    def run(self, request: RunRequest) -> LSTMResult:
        import time

        while True:
            time.sleep(1)


class CostlyExampleAdapter(ExampleAdapter):
    """The example backend, declaring that its runs are costly."""

    name = "costly-example"
    costly_runs = True


def unthreaded_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b by NumPy's own loops, never its BLAS: a multi-threaded BLAS may split a float32
    product differently at each thread count (OpenBLAS does on some CPUs), and then the
    results of the same backend differ in their last bits from one thread count to another."""
    return np.einsum("bi,ij->bj", a, b, optimize=False)


class ThreadReportingAdapter(ExampleAdapter):
    """The example backend, reporting as its version the thread settings of its process:
    OpenMP's variable, XLA's flags and what ``set_threads`` was given. Its products never
    use threads (:func:`unthreaded_product`), so its results are the same bit for bit at any
    thread count: the sound backend of the threads check's own tests."""

    name = "thread-reporting-example"
    threads_set = "never"
    product = staticmethod(unthreaded_product)

    def set_threads(self, count: int) -> None:
        self.threads_set = str(count)

    def _import_version(self) -> str:
        return f"OMP={os.environ.get('OMP_NUM_THREADS')};XLA={os.environ.get('XLA_FLAGS')};set={self.threads_set}"


class WrongThreadedAdapter(ThreadReportingAdapter):
    """The example backend, except that with more than one thread its outputs are off by
    one part in 10**4 (a kernel whose thread split loses precision)."""

    name = "wrong-threaded-example"

    def run(self, request: RunRequest) -> LSTMResult:
        result = super().run(request)
        return result._replace(outputs=result.outputs * 1.0001) if self.threads_set not in ("never", "1") else result


class FalselyDeterministicAdapter(ThreadReportingAdapter):
    """The example backend, claiming results independent of the thread count while its
    outputs with more than one thread move by one part in 10**12 (well within tolerance,
    so only the bitwise comparison the claim asks for can catch it)."""

    name = "falsely-deterministic-example"
    deterministic_across_threads = True

    def run(self, request: RunRequest) -> LSTMResult:
        result = super().run(request)
        return result._replace(outputs=result.outputs * (1.0 + 1e-12)) if self.threads_set not in ("never", "1") else result


class CostlyNumpyStackAdapter(NumpyStackAdapter):
    """The NumPy stack (layers, directions, lengths...), declaring that its runs are costly."""

    name = "costly-numpy-stack"
    costly_runs = True
