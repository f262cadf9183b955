"""The threads factor: a backend at several intra-op thread counts, each against the oracle,
and the counts against each other.

Every backend process runs single-threaded by default (see :mod:`conformance.run.isolation`).
Here the first large-shape case of the backend's table (the size factor: GEMMs big enough
for a kernel to split between threads; at quick depth the one with the least per-step
work) also runs on :data:`THREADS` threads: in the backend's own process, for that one
run, where its adapter offers threaded runs (``run_threaded``: a framework whose thread
count is a setting of its sessions or changes at run time), else in a second process of
the backend set to that count through the usual environment variables and the adapter's
own ``set_threads``. Both results are held to the oracle's
tolerance, and to each other: bit for bit where the adapter says its backend promises
results independent of the thread count (``deterministic_across_threads``), else within
the same tolerance. Whether they agreed bitwise is recorded either way. The comparisons
with the oracle are the forward check's, so its registered deviations apply here too. A
backend that no thread setting reaches (``fixed_thread_count``: JavaScript's one thread)
skips with its reason: a second process would run the same code again.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from adapters.base import fixed_thread_count, promises_thread_determinism

from conformance.run.backends import InProcessThreads
from conformance.judge.compare import Comparison, compare_arrays, compare_quantities
from conformance.judge.expectations import expected_forward, forward_quantities, padded_mask
from conformance.judge.location import Locator
from conformance.run.running import conclude, prepare
from conformance.judge.tolerances import regime_scale

# At least four threads, as a work split over batch rows or hidden units needs; more than
# the cores of a small machine, which only makes the threads take turns.
THREADS = 4


def labelled(comparisons: list[Comparison], label: str) -> list[Comparison]:
    """``comparisons`` with ``[label]`` after each quantity (a deviation of the quantity covers it)."""
    return [replace(comparison, quantity=f"{comparison.quantity}[{label}]") for comparison in comparisons]


# At both depths: a thread count is a code path of its own (work split between threads).
# A second process imports its framework (and converts the model) again: seconds each.
@pytest.mark.cases(first_in_table=lambda case: case.large)
def test_thread_count_changes_nothing_but_rounding(backend_case, record, request):
    prepared = prepare(backend_case, "threads", request.node, record, deviations_of="forward")
    backend, case, run_request = prepared.backend, prepared.case, prepared.request
    fixed = fixed_thread_count(backend.adapter)
    if fixed:
        pytest.skip(f"{backend.name} runs a fixed thread count: {fixed}")
    threaded = backend.with_threads(THREADS)
    if threaded is None:
        pytest.skip("a thread count is set in a backend's own process before its framework loads: this run is not isolated")
    try:
        many = prepared.run(run_request, adapter=threaded)
    finally:
        backend.stop_threads()
    single = prepared.run()
    conventions = backend.conventions(run_request.config())
    expectation = expected_forward(run_request, regime_scale(case.regime), conventions, case.measured_tolerances)
    padded = padded_mask(run_request.lengths, case.steps, run_request.batch_first)
    locator = Locator(case.spec, run_request.batch_first, padded)
    results = {count: forward_quantities(result, padded, conventions["padded_outputs"]) for count, result in ((1, single), (THREADS, many))}
    comparisons = [
        comparison
        for count, quantities in results.items()
        for comparison in labelled(compare_quantities(quantities, expectation, locator), f"{count} thread{'s' if count > 1 else ''}")
    ]
    bitwise = promises_thread_determinism(backend.adapter)
    comparisons += [
        compare_arrays(f"{name}[{THREADS} threads against 1]", values, results[1][name], 0.0 if bitwise else expectation.tolerances[name])
        for name, values in results[THREADS].items()
    ]
    identical = all(np.array_equal(values, results[1][name]) for name, values in results[THREADS].items())
    where = "its own process" if isinstance(threaded, InProcessThreads) else "a second process"
    record(threads=[1, THREADS], bitwise_across_threads=identical, promises_thread_determinism=bitwise, threads_set_in=where)
    conclude(comparisons, prepared, record)
