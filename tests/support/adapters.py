"""Adapters the project's own tests load by module:attribute reference."""

from __future__ import annotations

import ctypes
import os

from adapters.example import ExampleAdapter
from adapters.base import RunRequest
from reference import LSTMResult

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
