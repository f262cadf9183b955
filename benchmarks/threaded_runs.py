"""What the threads check saves where an adapter offers threaded runs, in one process.

For each selected backend that offers ``run_threaded`` (:func:`adapters.base.offers_threaded_runs`),
its threads check's work on a large quick case (see :func:`runnable_large_request`), measured both
ways, each in a backend process already started and past its framework's import (as in
a suite, where the backend's other tests started it):

- a second process: start a process of the backend at 4 threads (importing the framework
  and converting the model again), run the case there, stop it; then the run at one
  thread in the usual process (its first run of the case);
- its own process: ``run_threaded`` at 4 threads in the usual process (its first run of
  the case), then the run at one thread there.

Each way runs the case's weights scaled by a factor of its own, so neither finds the
other's converted model. Prints the seconds of each way and their ratio.
Run: ``python benchmarks/threaded_runs.py [BACKEND ...]``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from adapters.base import RunRequest, offers_threaded_runs
from adapters.registry import BUILTIN_ADAPTERS, load_adapter
from reference import CellParams

from conformance.cases.depth import DEPTHS
from conformance.cases.table import Case, make_data, request_for
from conformance.run.backends import Backend, BackendPool
from conformance.run.isolation import IsolatedAdapter
from conformance.test_threads import THREADS


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def reweighted(request: RunRequest, factor: float) -> RunRequest:
    """``request`` with every weight times ``factor``: a model no cache holds yet."""
    return replace(request, params=tuple(CellParams(**{name: array * factor for name, array in cell.arrays().items()}) for cell in request.params))


def runnable_large_request(backend: Backend, table: list[Case]) -> RunRequest:
    """The request of the first large case of ``table`` that the backend runs, else of its
    case of the largest hidden size that it runs (a known deviation can make a run fail:
    torch-onnx's projection), tried with weights of their own."""
    for case in sorted(table, key=lambda case: (not case.large, -case.spec.hidden_size)):
        request = request_for(case, make_data(case))
        try:
            backend.adapter.run(reweighted(request, 1.002))
        except Exception:
            continue
        return request
    raise LookupError(f"{backend.name}: no case of its table runs")


def both_ways(reference: str) -> tuple[float, float]:
    """Seconds of the threads check's runs through a second process, and through ``run_threaded``."""
    pool = BackendPool([reference], depth=DEPTHS["quick"])
    (backend,) = pool.backends
    try:
        request = runnable_large_request(backend, pool.case_tables[backend.name])
        second_request, own_request = reweighted(request, 1.001), reweighted(request, 0.999)

        def second_process() -> None:
            threaded = IsolatedAdapter(reference, threads=THREADS)
            try:
                threaded.run(second_request)
            finally:
                threaded.close()
            backend.adapter.run(second_request)

        def own_process() -> None:
            backend.adapter.run_threaded(own_request, THREADS)
            backend.adapter.run(own_request)

        return timed(second_process), timed(own_process)
    finally:
        backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("backends", nargs="*")
    args = parser.parse_args()
    references = args.backends or [name for name in BUILTIN_ADAPTERS if offers_threaded_runs(load_adapter(name))]
    totals = [0.0, 0.0]
    print(f"{'backend':<24} {'second process s':>17} {'own process s':>14} {'ratio':>6}")
    for reference in references:
        second, own = both_ways(reference)
        totals[0] += second
        totals[1] += own
        print(f"{reference:<24} {second:>17.2f} {own:>14.2f} {own / second:>6.3f}")
    print(f"{'all':<24} {totals[0]:>17.2f} {totals[1]:>14.2f} {totals[1] / totals[0]:>6.3f}")


if __name__ == "__main__":
    main()
