"""Every backend against the oracle on every case of the table: outputs, states, counts."""

from __future__ import annotations

from adapters.offsets import declared_offsets
from reference import parameter_count

from conformance.judge.compare import compare_counts, compare_quantities
from conformance.judge.diagnosis import diagnose_forward
from conformance.judge.expectations import expected_forward, forward_quantities, padded_mask
from conformance.judge.location import Locator
from conformance.run.running import conclude, prepare
from conformance.judge.tolerances import regime_scale


def test_forward_matches_oracle(backend_case, record, request):
    prepared = prepare(backend_case, "forward", request.node, record)
    case, run_request, backend = prepared.case, prepared.request, prepared.backend
    conventions = backend.conventions(run_request.config())
    expectation = expected_forward(run_request, regime_scale(case.regime), conventions, case.measured_tolerances)
    actual = prepared.run()
    padded = padded_mask(run_request.lengths, case.steps, run_request.batch_first)
    locator = Locator(case.spec, run_request.batch_first, padded)
    comparisons = compare_quantities(forward_quantities(actual, padded, conventions["padded_outputs"]), expectation, locator)
    layout = backend.adapter.parameter_layout
    counts = {"layout": layout, "backend": backend.parameter_count(case.spec), "oracle": parameter_count(case.spec, layout).total}
    record(parameter_count=counts)
    comparisons.append(compare_counts(counts["backend"], counts["oracle"]))
    offsets = tuple(declared_offsets(prepared.backend.adapter).values())
    conclude(comparisons, prepared, record, lambda excused: diagnose_forward(run_request, actual, expectation, excused, offsets))
