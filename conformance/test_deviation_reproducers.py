"""Every known deviation of a backend, built-in or declared by a plug-in, still reproduces.

A reproducer runs as a strict xfail of its first check (``conformance.run.running``): if the
backend stops deviating there, that test fails the run. This check makes sure that each
reproducer does run so: its id is a valid case the backend supports, it is among the cases
its first check runs on this backend, and the deviation is armed for its request (on a
version the deviation was never seen on, a reproducer the backend cannot run there is no
problem: that version lacks what the deviation needs). Each
forward reproducer is also diagnosed (:mod:`conformance.judge.diagnosis`): when a common mapping
mistake explains the deviation, the report says so beside it. At full depth each
deviation's standalone reproducer (``lstm-parity repro``) is written and run where this
project cannot be imported, and must show the deviation.
"""

from __future__ import annotations

import sys

import pytest

from adapters.standalone import standalone_path

from conformance.run.backends import Backend, BackendPool
from conformance.cases.table import INVARIANT_CASES, Case, make_data, request_for
from conformance.deviations import GRADIENT_CHECKS, KnownDeviation, find_deviations, registered_deviations
from conformance.judge.diagnosis import diagnose_forward
from conformance.judge.expectations import expected_forward
from conformance.plugin import backend_pool, listed_cases, require_available
from conformance.repro.payload import SCRIPT_CHECKS
from conformance.repro.running import run_standalone
from conformance.repro.script import Reproducer, write_reproducer
from conformance.judge.tolerances import regime_scale


def shows_here(backend: Backend, deviation: KnownDeviation) -> bool:
    """Whether ``deviation`` can show on this backend as installed: the installed version is
    among the releases it exists in, and its reproducer is a case the backend supports or
    this is a version the deviation was seen on (where its reproducer must run). A version
    that lacks the feature a deviation needs (Paddle 2.6 has no projection) cannot show it,
    which the scoreboard reports as not runnable."""
    if not deviation.exists_in(backend.availability.version):
        return False
    try:
        case = Case.from_id(deviation.reproducer)
    except ValueError:
        return True
    return backend.supports(case, gradients=deviation.checks[0] in GRADIENT_CHECKS) or backend.availability.version in deviation.versions_seen


def reproducer_problems(backend: Backend, pool: BackendPool, deviations: list[KnownDeviation]) -> list[str]:
    """One line per deviation of ``backend`` whose reproducer would not run armed in ``pool``."""
    problems = []
    for deviation in deviations:
        check = deviation.checks[0]
        try:
            case = Case.from_id(deviation.reproducer)
        except ValueError as error:
            problems.append(f"{deviation.name}: reproducer {deviation.reproducer!r} is not a case id ({error})")
            continue
        if check == "forward":
            runs = pool.case_tables[backend.name]
        elif check in GRADIENT_CHECKS:
            runs = pool.gradient_case_tables[backend.name]
        else:
            runs = listed_cases(backend, INVARIANT_CASES)
        if case.id not in {listed.id for listed in runs}:
            problems.append(f"{deviation.name}: reproducer {case.id} is not among the cases {check} runs on {backend.name}")
        elif not backend.supports(case, gradients=check in GRADIENT_CHECKS):
            problems.append(f"{deviation.name}: {backend.name} does not support its reproducer {case.id}")
        elif deviation not in find_deviations(
            backend.name, check, request_for(case, make_data(case)), tuple(deviations), version=backend.availability.version
        ):
            problems.append(f"{deviation.name}: not armed on its own reproducer {case.id} under {check}")
    return problems


def model_problems(deviations: list[KnownDeviation], table: list[Case]) -> list[str]:
    """One line per deviation that has neither a model of what the backend computes instead
    nor a reason why none can be written (``unmodelled``), or both; and per deviation
    without a model that applies to every case of the backend's ``table`` (it must apply
    only where it was measured)."""
    problems = [
        f"{deviation.name}: expected a model (what {deviation.backend} computes instead) or an unmodelled reason, "
        + ("got both" if deviation.model is not None else "got neither")
        for deviation in deviations
        if (deviation.model is None) == (not deviation.unmodelled)
    ]
    requests = [request_for(case, make_data(case)) for case in table]
    return problems + [
        f"{deviation.name}: has no model and applies to every case of the table; expected it to apply only where it was measured"
        for deviation in deviations
        if deviation.model is None and requests and all(deviation.applies(request) for request in requests)
    ]


def reproducer_diagnoses(backend: Backend, deviations: list[KnownDeviation]) -> dict[str, list[str]]:
    """Deviation name -> the mapping mistakes that explain its forward reproducer's results
    (empty: none does), for each forward deviation whose reproducer runs."""
    diagnoses = {}
    for deviation in deviations:
        if deviation.checks[0] != "forward" or "run" in deviation.quantities:
            continue
        case = Case.from_id(deviation.reproducer)
        request = request_for(case, make_data(case))
        actual = backend.adapter.run(request)
        diagnoses[deviation.name] = list(diagnose_forward(request, actual, expected_forward(request, regime_scale(case.regime), measured_only=case.measured_tolerances)).explanations)
    return diagnoses


def test_every_known_deviation_has_a_reproducer_that_runs_armed(backend, record, request):
    require_available(backend)
    registered = [deviation for deviation in registered_deviations() if deviation.backend == backend.name]
    record(kind="deviation_reproducers", backend=backend.name, backend_version=backend.availability.version, examples=len(registered))
    if not registered:
        pytest.skip(f"no known deviation is registered for {backend.name}")
    deviations = [deviation for deviation in registered if shows_here(backend, deviation)]
    pool = backend_pool(request.config)
    problems = reproducer_problems(backend, pool, deviations) + model_problems(registered, pool.case_tables[backend.name])
    record(examples_compared=len(deviations) - len(problems))
    assert not problems, "\n".join(problems)
    record(reproducer_diagnoses=reproducer_diagnoses(backend, deviations))


# The lines of a standalone run's output a failure message keeps.
OUTPUT_LINES = 15


@pytest.mark.full_depth
def test_every_known_deviation_shows_in_its_standalone_reproducer(backend, record, tmp_path):
    """Each deviation that can show here (and whose first check a script reproduces: see
    :data:`conformance.repro.payload.SCRIPT_CHECKS`), written as a script of NumPy and the
    framework only (see :mod:`conformance.repro`), exits 1 (it shows) run under the
    backend's interpreter where this project is not importable."""
    require_available(backend)
    deviations = [
        deviation
        for deviation in registered_deviations()
        if deviation.backend == backend.name and shows_here(backend, deviation) and deviation.checks[0] in SCRIPT_CHECKS
    ]
    record(kind="standalone_reproducers", backend=backend.name, backend_version=backend.availability.version, examples=len(deviations))
    if not deviations:
        pytest.skip(f"no known deviation of {backend.name} can show on this version")
    if standalone_path(backend.adapter) is None:
        pytest.skip(f"{backend.name}'s adapter has no standalone_source (see adapters.standalone)")
    exits, problems = {}, []
    for deviation in deviations:
        case = Case.from_id(deviation.reproducer)
        reproducer = Reproducer(backend.name, case, deviation.checks[0], deviation)
        script = write_reproducer(reproducer, backend.adapter, request_for(case, make_data(case)), tmp_path, backend.availability.version)
        run = run_standalone(script, backend.interpreter or sys.executable)
        exits[deviation.name] = run.exit_status
        if run.exit_status != 1:
            tail = "\n".join(run.output.strip().splitlines()[-OUTPUT_LINES:])
            problems.append(f"{deviation.name}: its standalone reproducer exited {run.exit_status}, expected 1 (the deviation shows):\n{tail}")
    record(standalone_exits=exits, examples_compared=len(deviations) - len(problems))
    assert not problems, "\n".join(problems)
