"""Adapters the project's own tests load by module:attribute reference."""

from __future__ import annotations

import ctypes
import os
from dataclasses import replace

import numpy as np

from adapters.example import ExampleAdapter
from adapters.base import RunRequest
from reference import LSTMResult

from adapters.support import DIRECTIONS, Support

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


class ThreadedRunsAdapter(ThreadReportingAdapter):
    """The thread-reporting example, offering threaded runs: ``run_threaded`` sets its
    thread count for one run in its own process. ``runs_seen()`` lists each run's
    (process id, thread count)."""

    name = "threaded-runs-example"

    def __init__(self) -> None:
        self.runs = []

    def run_threaded(self, request: RunRequest, count: int) -> LSTMResult:
        previous, self.threads_set = self.threads_set, str(count)
        try:
            return self.run(request)
        finally:
            self.threads_set = previous

    def run(self, request: RunRequest) -> LSTMResult:
        self.runs.append((os.getpid(), self.threads_set))
        return super().run(request)

    def runs_seen(self) -> list[tuple[int, str]]:
        return list(self.runs)


class WrongThreadedRunsAdapter(ThreadedRunsAdapter, WrongThreadedAdapter):
    """The example offering threaded runs, its outputs off by one part in 10**4 on more than one thread."""

    name = "wrong-threaded-runs-example"


class FixedThreadsAdapter(ThreadReportingAdapter):
    """The example backend, saying that no thread setting reaches it."""

    name = "fixed-threads-example"
    fixed_thread_count = "it computes in one thread of its own"


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


class TrimmedToLongestAdapter(NumpyStackAdapter):
    """The NumPy stack, except that its outputs end at the longest sequence's last step, as
    ``torch.nn.utils.rnn.pad_packed_sequence`` returns them without ``total_length``: right
    whenever a sequence is T long, wrong when every sequence is shorter."""

    name = "trimmed-to-longest-stack"

    def run(self, request: RunRequest) -> LSTMResult:
        result = super().run(request)
        if request.lengths is None:
            return result
        longest = int(np.max(request.lengths))
        return result._replace(outputs=result.outputs[:, :longest] if request.batch_first else result.outputs[:longest])


class FreshCellAdapter(NumpyStackAdapter):
    """The NumPy stack, except that every call starts from a zero cell state, whatever c0
    it is given: a stream cut into calls loses its cell state at each cut."""

    name = "fresh-cell-stack"

    def run(self, request: RunRequest) -> LSTMResult:
        if request.initial_states is not None:
            h0, c0 = request.initial_states
            request = replace(request, initial_states=(h0, np.zeros_like(c0)))
        return super().run(request)


class BatchInvariantAdapter(NumpyStackAdapter):
    """The NumPy stack running every sample of a batch on its own, so that a sample's
    results are its row's bit for bit; it says so (``batch_invariant``)."""

    name = "batch-invariant-stack"
    batch_invariant = True

    def run(self, request: RunRequest) -> LSTMResult:
        batch_axis = 0 if request.batch_first else 1
        samples = [
            super(BatchInvariantAdapter, self).run(
                replace(
                    request,
                    x=np.take(request.x, [b], axis=batch_axis),
                    lengths=None if request.lengths is None else request.lengths[b : b + 1],
                    initial_states=None if request.initial_states is None else tuple(state[:, b : b + 1] for state in request.initial_states),
                )
            )
            for b in range(request.x.shape[batch_axis])
        ]
        return LSTMResult(
            np.concatenate([sample.outputs for sample in samples], axis=batch_axis),
            np.concatenate([sample.h_n for sample in samples], axis=1),
            np.concatenate([sample.c_n for sample in samples], axis=1),
        )


class FalselyBatchInvariantAdapter(BatchInvariantAdapter):
    """The batch-invariant stack, except that in a batch of several samples its outputs move
    by one part in 10**12: within every tolerance, so only the bitwise comparison its claim
    asks for can catch it."""

    name = "falsely-batch-invariant-stack"

    def run(self, request: RunRequest) -> LSTMResult:
        result = super().run(request)
        batch = request.x.shape[0 if request.batch_first else 1]
        return result._replace(outputs=result.outputs * (1.0 + 1e-12)) if batch > 1 else result


class LastStepOutputAdapter(NumpyStackAdapter):
    """The NumPy stack with a last-output-only mode that returns every sequence's output at
    step T - 1, padding or not (a masked sequence's last output read at the wrong step), and
    its final states right."""

    name = "last-step-output-stack"
    supports = Support(features=NumpyStackAdapter.supports.features | {"last_output_only"}, directions=DIRECTIONS)

    def run(self, request: RunRequest) -> LSTMResult:
        result = super().run(replace(request, last_output_only=False))
        if not request.last_output_only:
            return result
        outputs = result.outputs[:, -1] if request.batch_first else result.outputs[-1]
        return result._replace(outputs=outputs)
