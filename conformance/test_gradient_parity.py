"""Every backend's autograd against the oracle's hand-written backward pass.

Gradients are linear in the upstream gradient, so two checks cover every upstream:
one through the outputs and h_n, one through c_n alone. Upstream gradients at padded
output positions are 0 here (the oracle's outputs there are constants); a separate check
gives them noise and expects no gradient to change, for backends whose padded outputs
are zeros too.
"""

from __future__ import annotations

import pytest

from adapters.offsets import declared_offsets
from reference import LSTMResult

from conformance.run.backends import Backend
from conformance.cases.table import INVARIANT_CASES, Case
from conformance.judge.compare import compare_arrays, compare_quantities
from conformance.deviations import find_deviations
from conformance.judge.diagnosis import diagnose_gradients
from conformance.judge.expectations import expected_gradients, gradient_quantities, noisy_padded_upstream, padded_mask, seeded_upstream
from conformance.judge.location import Locator
from conformance.run.running import PreparedCase, conclude, prepare
from conformance.judge.tolerances import regime_scale

def upstream_for(prepared: PreparedCase, through: str) -> LSTMResult:
    """The case's seeded upstream gradients (see :func:`conformance.judge.expectations.seeded_upstream`)."""
    return seeded_upstream(prepared.case, prepared.request, through)


def check_gradients(backend_gradient_case, record, node: pytest.Item, check: str, through: str) -> None:
    prepared = prepare(backend_gradient_case, check, node, record, gradients=True)
    case, run_request = prepared.case, prepared.request
    upstream = upstream_for(prepared, through)
    conventions = prepared.backend.conventions(run_request.config(gradients=True))
    expectation = expected_gradients(run_request, upstream, regime_scale(case.regime), measured_only=case.measured_tolerances, conventions=conventions)
    actual = prepared.gradients(upstream)
    padded = padded_mask(run_request.lengths, case.steps, run_request.batch_first)
    comparisons = compare_quantities(gradient_quantities(actual, padded), expectation, Locator(case.spec, run_request.batch_first, padded))
    offsets = tuple(declared_offsets(prepared.backend.adapter).values())
    conclude(comparisons, prepared, record, lambda excused: diagnose_gradients(run_request, actual, expectation, excused, upstream, offsets))


def test_gradients_match_oracle(backend_gradient_case, record, request):
    """Upstream gradients on the outputs (valid positions) and on h_n."""
    check_gradients(backend_gradient_case, record, request.node, "gradients", "outputs_and_h_n")


def test_gradients_through_final_cell_state_match_oracle(backend_gradient_case, record, request):
    """Upstream gradient on c_n alone."""
    check_gradients(backend_gradient_case, record, request.node, "gradients_c_n", "c_n")


def zero_padded_outputs(backend: Backend, case: Case) -> bool:
    """Whether ``case`` has padded steps and the backend's outputs there are zeros (the
    oracle's convention), so constants; carried ones depend on the valid steps they repeat."""
    return case.has_padding and backend.conventions(case.config(gradients=True))["padded_outputs"] == "zeros"


@pytest.mark.cases(*INVARIANT_CASES, gradients=True, applies=zero_padded_outputs)
def test_upstream_at_padded_steps_changes_no_gradient(backend_case, record, request):
    """Outputs at padded steps are constants: whatever upstream gradient they get, no
    gradient changes (the backend against itself, bit for bit)."""
    prepared = prepare(backend_case, "padded_upstream", request.node, record, gradients=True)
    padded = padded_mask(prepared.request.lengths, prepared.case.steps, prepared.request.batch_first)
    assert padded is not None and padded.any(), "the case table says this case has padded positions, but its data has none"
    upstream = upstream_for(prepared, "outputs_and_h_n")
    clean = prepared.gradients(upstream)
    noisy = prepared.gradients(noisy_padded_upstream(prepared.case, prepared.request, upstream))
    noisy_quantities = gradient_quantities(noisy, None)
    # Gradients a known deviation already makes wrong (some from uninitialised memory) are
    # not compared with themselves.
    version = prepared.backend.availability.version
    known_wrong = set().union(*(d.quantities for d in find_deviations(prepared.backend.name, "gradients", prepared.request, version=version)))
    comparisons = [
        compare_arrays(name, noisy_quantities[name], values, 0.0)
        for name, values in gradient_quantities(clean, None).items()
        if name not in known_wrong
    ]
    conclude(comparisons, prepared, record)
