"""Every backend against the oracle on every case of the table: outputs, states, counts."""

from __future__ import annotations

from dataclasses import asdict

from reference import parameter_count

from .cases import make_data
from .compare import compare_counts, compare_forward, padded_mask
from .deviations import find_deviation
from .running import expect_deviation, judge, oracle_forward, request_for, run_backend, skip_if_unsupported
from .tolerances import forward_tolerance, regime_scale


def test_forward_matches_oracle(backend_case, record, request):
    backend, case = backend_case
    record(
        kind="forward",
        backend=backend.name,
        case_id=case.id,
        case=asdict(case),
        spec=asdict(case.spec),
        steps=case.steps,
        batch=case.batch,
    )
    data = make_data(case)
    run_request = request_for(case, data)
    skip_if_unsupported(backend, run_request)
    record(backend_version=backend.availability.version)
    deviation = find_deviation(backend.name, "forward", run_request)
    expect_deviation(request.node, deviation)
    record(deviation=deviation.name if deviation else None)
    expected = oracle_forward(run_request)
    actual = run_backend(backend, run_request, deviation)
    scale = regime_scale(case.regime)
    comparisons = compare_forward(
        actual,
        expected,
        padded_mask(data.lengths, case.steps, run_request.batch_first),
        lambda values: forward_tolerance(case.spec, run_request.dtype, case.steps, scale, values),
    )
    layout = backend.adapter.parameter_layout
    comparisons.append(compare_counts(backend.adapter.parameter_count(case.spec), parameter_count(case.spec, layout).total))
    record(comparisons=[comparison.as_record() for comparison in comparisons])
    judge(comparisons, deviation)
