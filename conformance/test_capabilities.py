"""Each backend's capability table, and what backs every cell of it.

A feature a backend says it cannot run (and declared, see :mod:`adapters.support`: what it
did not declare it is never sent) must be refused with :class:`UnsupportedCase`
(naming the backend's reason) before any framework code runs, never computed silently; a
feature it says it runs must be exercised by at least one case of its own tables, or
"supported" would mean "untested". The table itself is recorded for the terminal summary
and the report.
"""

from __future__ import annotations

import numpy as np

from adapters.base import UnsupportedCase, not_declared, offers_gradients
from adapters.packages import declared_packages
from reference import LSTMResult, lstm_forward

from conformance.run.backends import Backend
from conformance.probes.capabilities import FEATURE_PROBES, FeatureProbe, capabilities, probe
from conformance.cases.table import make_data, request_for
from conformance.plugin import backend_pool, require_available


def refusal_problem(backend: Backend, feature: FeatureProbe) -> str:
    """'' when ``backend`` refuses the feature's probe case with UnsupportedCase, else what it did."""
    if feature.gradients and not offers_gradients(backend.adapter):
        return ""  # no gradients method: the suite never asks it for any
    case = probe(backend, feature)[0]
    data = make_data(case)
    request = request_for(case, data, dropout=feature.dropout)
    if not_declared(backend.adapter, request.config(feature.gradients)):
        return ""  # not declared (adapters.support): the suite never sends it
    try:
        if feature.gradients:
            expected = lstm_forward(case.spec, data.params, data.x, lengths=data.lengths, initial_states=data.initial_states)
            backend.adapter.gradients(request, LSTMResult(*(np.zeros_like(value) for value in expected)))
        else:
            backend.adapter.run(request)
    except UnsupportedCase:
        return ""
    except Exception as error:  # noqa: BLE001 - what it raised instead is the finding
        return f"{feature.feature}: declared unsupported, but the run raised {type(error).__name__}: {error}, not UnsupportedCase"
    return f"{feature.feature}: declared unsupported, but the run went through"


def test_capabilities_are_refused_or_exercised(backend, record, request):
    require_available(backend)
    table = capabilities(backend)
    record(
        kind="capabilities",
        backend=backend.name,
        backend_version=backend.availability.version,
        capabilities=table,
        packages=list(declared_packages(backend.adapter)),
    )
    pool = backend_pool(request.config)
    tables = {False: pool.case_tables[backend.name], True: pool.gradient_case_tables[backend.name]}
    problems = []
    for feature in FEATURE_PROBES:
        if table[feature.feature]:
            problems.append(refusal_problem(backend, feature))
        elif feature.exercised_by is not None and not any(feature.exercised_by(case) for case in tables[feature.gradients]):
            problems.append(f"{feature.feature}: declared supported, but no case of the backend's tables exercises it")
    problems = [problem for problem in problems if problem]
    assert not problems, "\n".join(problems)
