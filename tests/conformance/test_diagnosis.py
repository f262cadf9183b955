"""Failure location and diagnosis: each common mapping mistake, made on purpose in the NumPy
stack backend (``tests/support/numpy_stack.py``), is named by the suite, and nothing else is.

Every test first checks that the unbroken backend matches the oracle on the case, so the
one mistake a test makes is the only difference.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from conformance.cases.table import Case, make_data, request_for
from conformance.judge.compare import compare_quantities
from conformance.judge.diagnosis import diagnose_forward, diagnose_gradients, permute_blocks
from conformance.judge.expectations import expected_forward, expected_gradients, forward_quantities, gradient_quantities, oracle_gradients, padded_mask
from conformance.judge.location import Locator
from conformance.judge.tolerances import regime_scale
from reference import LSTMResult
from tests.support.mistakes import (
    FinalStateAtLastStep,
    FinalStatesDirectionMajor,
    FinalStatesDirectionsSwapped,
    InitialStatesDirectionsSwapped,
    InputAndCandidateSwapped,
    InputBlocksTransposed,
    InputBiasTwice,
    PeepholesPermuted,
    ProjectionReshaped,
    RecurrentBiasDropped,
    RecurrentForgetAndOutputSwapped,
    ReverseFromLastStep,
)
from tests.support.numpy_stack import NumpyStackAdapter

LSTM2 = "L2-bidir-tm-mixed-h0-P0-bias-nopeep-noclip-std-f64-H13-typ-cpu"


MISTAKES = [
    (InputAndCandidateSwapped, LSTM2, "gate blocks i and g swapped in w_ih, w_hh, b_ih, b_hh"),
    (RecurrentForgetAndOutputSwapped, "L1-fwd-bm-none-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu", "gate blocks f and o swapped in w_hh"),
    (RecurrentBiasDropped, LSTM2, "b_hh dropped (only b_ih reaches the backend)"),
    (InputBlocksTransposed, "L2-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu", "each gate's block of w_ih transposed"),
    (InputBiasTwice, "L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f32-base-sat-cpu", "b_ih counted twice (in place of b_hh)"),
    (ProjectionReshaped, "L2-fwd-tm-none-h0-P5-bias-nopeep-noclip-std-f64-H13-typ-cpu", "the projection transposed: w_hr [P, H] reshaped to [H, P] where it needed a transpose"),
    (PeepholesPermuted, "L1-rev-bm-mixed-zero-P0-bias-peep-noclip-std-f64-base-typ-cpu", "peephole vectors w_fc and w_oc swapped"),
    (FinalStatesDirectionsSwapped, "L1-bidir-tm-none-zero-P0-bias-nopeep-noclip-std-f32-base-typ-cpu", "final states with the forward and backward directions swapped"),
    (FinalStatesDirectionMajor, LSTM2, "final states in direction-major order (direction * L + layer) instead of layer-major (layer * D + direction)"),
    (InitialStatesDirectionsSwapped, LSTM2, "initial states with the forward and backward directions swapped"),
    (ReverseFromLastStep, LSTM2, "the reverse direction starting at step T-1, over the padding, instead of at each sequence's last valid step"),
    (FinalStateAtLastStep, LSTM2, "final states taken after step T-1 (the recurrence runs on through the padding) instead of at each sequence's last valid step"),
]


def compared(adapter: NumpyStackAdapter, case_id: str):
    """The case's request, the adapter's results, the oracle's expectation and the comparisons."""
    case = Case.from_id(case_id)
    request = request_for(case, make_data(case))
    expectation = expected_forward(request, regime_scale(case.regime))
    actual = adapter.run(request)
    padded = padded_mask(request.lengths, case.steps, request.batch_first)
    comparisons = compare_quantities(forward_quantities(actual, padded), expectation, Locator(case.spec, request.batch_first, padded))
    return request, actual, expectation, comparisons


@pytest.mark.parametrize("broken, case_id, mistake", MISTAKES, ids=[broken.__name__ for broken, _, _ in MISTAKES])
def test_each_mapping_mistake_is_named_and_no_other(broken, case_id, mistake):
    *_, clean = compared(NumpyStackAdapter(), case_id)
    assert all(comparison.passed for comparison in clean), [comparison.describe() for comparison in clean]
    request, actual, expectation, comparisons = compared(broken(), case_id)
    assert not all(comparison.passed for comparison in comparisons)
    diagnosis = diagnose_forward(request, actual, expectation)
    assert diagnosis.explanations == (mistake,), diagnosis.describe()
    assert diagnosis.tried >= 4 * 23  # at least every wrong gate order in each of the four parameter groups
    assert diagnosis.describe() == f"diagnosis: explained by {mistake}"


def test_quantities_a_known_deviation_excuses_do_not_stop_a_diagnosis():
    class SquashedAndSwapped(InputAndCandidateSwapped):
        def _run(self, request, inputs, params):
            result = super()._run(request, inputs, params)
            return result._replace(c_n=np.tanh(result.c_n))

    request, actual, expectation, _ = compared(SquashedAndSwapped(), LSTM2)
    assert diagnose_forward(request, actual, expectation).explanations == ()
    diagnosis = diagnose_forward(request, actual, expectation, frozenset({"c_n"}))
    assert diagnosis.explanations == ("gate blocks i and g swapped in w_ih, w_hh, b_ih, b_hh",)


def test_a_difference_no_mistake_explains_is_said_to_be_unexplained():
    class Noisy(NumpyStackAdapter):
        def _run(self, request, inputs, params):
            result = super()._run(request, inputs, params)
            return result._replace(outputs=result.outputs * 1.01)

    request, actual, expectation, _ = compared(Noisy(), LSTM2)
    diagnosis = diagnose_forward(request, actual, expectation)
    assert diagnosis.explanations == ()
    assert diagnosis.describe() == f"diagnosis: none of {diagnosis.tried} common mapping mistakes explains the difference"


def test_the_worst_element_is_located_in_the_lstms_terms():
    """One element changed at a time: the comparison names exactly where it is."""
    case = Case.from_id("L2-bidir-bm-mixed-h0-P0-bias-nopeep-noclip-std-f64-H13-typ-cpu")
    request = request_for(case, make_data(case))
    expectation = expected_forward(request, regime_scale(case.regime))

    class OneWrong(NumpyStackAdapter):
        def __init__(self, quantity, index):
            self.quantity, self.index = quantity, index

        def _run(self, request, inputs, params):
            result = super()._run(request, inputs, params)
            changed = getattr(result, self.quantity).copy()
            changed[self.index] += 1.0
            return result._replace(**{self.quantity: changed})

    valid_row = int(np.argmax(request.lengths))
    for quantity, index, where in (
        ("outputs", (valid_row, 2, 13 + 4), f"time step 2, batch row {valid_row}, backward direction, unit 4"),
        ("h_n", (3, 1, 7), "layer 1, backward direction, batch row 1, unit 7"),
        ("c_n", (0, 2, 12), "layer 0, forward direction, batch row 2, unit 12"),
    ):
        padded = padded_mask(request.lengths, case.steps, True)
        actual = OneWrong(quantity, index).run(request)
        comparisons = compare_quantities(forward_quantities(actual, padded), expectation, Locator(case.spec, True, padded))
        (failed,) = [comparison for comparison in comparisons if not comparison.passed]
        assert failed.quantity == quantity and failed.where == where
        assert f"worst at {where}" in failed.describe()
    short_row = int(np.argmin(request.lengths))
    padded_step = int(request.lengths[short_row])
    actual = OneWrong("outputs", (short_row, padded_step, 0)).run(request)
    comparisons = compare_quantities(forward_quantities(actual, padded), expectation, Locator(case.spec, True, padded))
    (failed,) = [comparison for comparison in comparisons if not comparison.passed]
    assert (failed.quantity, failed.where) == ("outputs_padded", f"time step {padded_step}, batch row {short_row}, forward direction, unit 0")


GRADIENT_CASE = "L2-bidir-tm-mixed-h0-P3-bias-peep-noclip-std-f64-base-typ-cpu"


def oracle_gradient_case():
    case = Case.from_id(GRADIENT_CASE)
    request = request_for(case, make_data(case))
    rng = np.random.default_rng(0)
    shapes = expected_forward(request, 1.0)
    outputs_shape = (case.steps, case.batch, 2 * case.spec.output_size)
    upstream = LSTMResult(rng.standard_normal(outputs_shape), rng.standard_normal(np.shape(shapes.values["h_n"])), rng.standard_normal(np.shape(shapes.values["c_n"])))
    padded = padded_mask(request.lengths, case.steps, False)
    upstream.outputs[padded] = 0.0
    return case, request, upstream, expected_gradients(request, upstream, regime_scale(case.regime)), padded


def test_gradients_are_located_by_parameter_cell_and_gate_block():
    case, request, upstream, expectation, padded = oracle_gradient_case()
    gradients = oracle_gradients(request, upstream)
    cell = gradients.params[3]
    changed = cell.w_hh.copy()
    changed[2 * 6 + 4, 1] += 1.0
    params = (*gradients.params[:3], replace(cell, w_hh=changed), *gradients.params[4:])
    comparisons = compare_quantities(gradient_quantities(gradients._replace(params=params), padded), expectation, Locator(case.spec, False, padded))
    (failed,) = [comparison for comparison in comparisons if not comparison.passed]
    assert (failed.quantity, failed.where) == ("grad_w_hh", "w_hh of layer 1, backward direction, gate block g, unit 4, column 1")
    grad_c0 = gradients.c0.copy()
    grad_c0[1, 2, 5] += 1.0
    comparisons = compare_quantities(gradient_quantities(gradients._replace(c0=grad_c0), padded), expectation, Locator(case.spec, False, padded))
    (failed,) = [comparison for comparison in comparisons if not comparison.passed]
    assert (failed.quantity, failed.where) == ("grad_c0", "layer 0, backward direction, batch row 2, unit 5")
    peephole = gradients.params[1].w_fc.copy()
    peephole[3] += 1.0
    params = (gradients.params[0], replace(gradients.params[1], w_fc=peephole), *gradients.params[2:])
    comparisons = compare_quantities(gradient_quantities(gradients._replace(params=params), padded), expectation, Locator(case.spec, False, padded))
    (failed,) = [comparison for comparison in comparisons if not comparison.passed]
    assert (failed.quantity, failed.where) == ("grad_w_fc", "w_fc of layer 0, backward direction, forget-gate peephole, unit 3")


def test_gradients_mapped_back_in_another_gate_order_are_named():
    _, request, upstream, expectation, _ = oracle_gradient_case()
    gradients = oracle_gradients(request, upstream)
    order = (0, 3, 2, 1)
    params = tuple(replace(cell, b_ih=permute_blocks(cell.b_ih, order, 6), b_hh=permute_blocks(cell.b_hh, order, 6)) for cell in gradients.params)
    diagnosis = diagnose_gradients(request, gradients._replace(params=params), expectation)
    assert diagnosis.explanations == ("gate blocks f and o swapped in grad_b_ih, grad_b_hh",)
    swapped = gradients._replace(h0=gradients.h0[[1, 0, 3, 2]], c0=gradients.c0[[1, 0, 3, 2]])
    diagnosis = diagnose_gradients(request, swapped, expectation)
    assert diagnosis.explanations == ("initial-state gradients with the forward and backward directions swapped",)


def test_the_unbroken_stack_backend_maps_both_ways():
    case = Case.from_id("L2-bidir-tm-none-zero-P3-bias-peep-noclip-std-f64-base-typ-cpu")
    spec, params = case.spec, make_data(case).params
    adapter = NumpyStackAdapter()
    back = adapter.backend_to_canonical(spec, adapter.canonical_to_backend(spec, params))
    for original, mapped in zip(params, back, strict=True):
        for name in ("w_ih", "w_hh", "w_hr", "w_ic", "w_fc", "w_oc"):
            np.testing.assert_array_equal(getattr(mapped, name), getattr(original, name))
        np.testing.assert_array_equal(mapped.b_ih + mapped.b_hh, original.b_ih + original.b_hh)
