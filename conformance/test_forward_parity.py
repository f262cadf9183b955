"""Every backend against the oracle on every case of the table: outputs, states, counts."""

from __future__ import annotations

from reference import parameter_count

from .compare import compare_counts, compare_forward, padded_mask
from .running import conclude, oracle_forward, prepare
from .tolerances import forward_tolerance, regime_scale


def test_forward_matches_oracle(backend_case, record, request):
    prepared = prepare(backend_case, "forward", request.node, record)
    case, run_request, adapter = prepared.case, prepared.request, prepared.backend.adapter
    expected = oracle_forward(run_request)
    actual = prepared.run()
    scale = regime_scale(case.regime)
    comparisons = compare_forward(
        actual,
        expected,
        padded_mask(prepared.data.lengths, case.steps, run_request.batch_first),
        lambda values: forward_tolerance(case.spec, run_request.dtype, case.steps, scale, values),
    )
    counts = {"layout": adapter.parameter_layout, "backend": adapter.parameter_count(case.spec)}
    counts["oracle"] = parameter_count(case.spec, adapter.parameter_layout).total
    record(parameter_count=counts)
    comparisons.append(compare_counts(counts["backend"], counts["oracle"]))
    conclude(comparisons, prepared.deviations, record)
