"""Properties every LSTM has, checked on each backend against itself: no oracle involved."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from adapters.base import RunRequest, promises_batch_invariance
from reference import LSTMResult, LSTMSpec

from conformance.judge.compare import Comparison, compare_arrays
from conformance.judge.location import Locator
from conformance.run.backends import Backend
from conformance.run.running import PreparedCase, conclude, prepare, skip_if_unsupported
from conformance.cases.table import INVARIANT_CASES, Case
from conformance.judge.expectations import PADDING_GARBAGE, expected_forward, last_outputs, lengths_of, padded_mask, time_major, with_padding
from conformance.judge.tolerances import regime_scale

# The inter-layer dropout probability of the dropout check: any value in (0, 1) must change nothing in inference mode.
DROPOUT = 0.5


def identical(quantity: str, actual: np.ndarray, expected: np.ndarray, locator: Locator | None = None) -> Comparison:
    """The same computation on the same inputs: equal to the last bit (``locator``: where a
    mismatch's worst element is, for whole outputs, h_n and c_n)."""
    return compare_arrays(quantity, actual, expected, 0.0, None if locator is None else (lambda index: locator(quantity, index)))


def same_results(first: LSTMResult, second: LSTMResult, request: RunRequest) -> list[Comparison]:
    locator = Locator(request.spec, request.batch_first, None)
    return [identical(name, getattr(second, name), getattr(first, name), locator) for name in LSTMResult._fields]


def specified(result: LSTMResult, prepared: PreparedCase, request: RunRequest | None = None) -> LSTMResult:
    """``result`` of ``request`` (default: the case's) with the outputs the backend's
    conventions leave unspecified (padded steps, under ``padded_outputs: unspecified``)
    set to 0: those are not compared."""
    request = request or prepared.request
    if prepared.backend.conventions(request.config())["padded_outputs"] != "unspecified" or request.lengths is None:
        return result
    padded = padded_mask(request.lengths, prepared.case.steps, request.batch_first)
    return result._replace(outputs=np.where(padded[..., None], 0.0, result.outputs))


@pytest.mark.cases(*INVARIANT_CASES)
def test_last_valid_output_is_the_final_state(backend_case, record, request):
    """Forward cells end at each sequence's last valid output, reversed cells at its first."""
    prepared = prepare(backend_case, "final_state_is_last_output", request.node, record)
    run_request, spec = prepared.request, prepared.request.spec
    result = prepared.run()
    outputs = time_major(result.outputs, run_request.batch_first)
    lengths = lengths_of(run_request)
    states_shape = (spec.num_cells, lengths.size, spec.output_size)
    if result.h_n.shape != states_shape:
        conclude([compare_arrays("h_n", result.h_n, np.zeros(states_shape), 0.0)], prepared, record)
        return
    rows = np.flatnonzero(lengths > 0)
    top, size = (spec.num_layers - 1) * spec.num_directions, spec.output_size
    comparisons = []
    for direction in range(spec.num_directions):
        features = slice(direction * size, (direction + 1) * size)
        if spec.runs_reversed(direction):
            comparisons.append(identical("reversed_first_output", outputs[0, rows, features], result.h_n[top + direction, rows]))
        else:
            comparisons.append(identical("forward_last_output", outputs[lengths[rows] - 1, rows, features], result.h_n[top + direction, rows]))
    conclude(comparisons, prepared, record)


def one_forward_direction(backend: Backend, case: Case) -> bool:
    """A forward-only case of two steps or more: what a stream is cut into calls of."""
    return case.direction == "fwd" and case.steps >= 2


def last_output_mode(backend: Backend, case: Case) -> bool:
    """The backend has a mode returning only each sequence's last output (``last_output_only``,
    declared) and runs it on the case, whose sequences are not empty (an empty one has no
    last output)."""
    return case.lengths != "mixed0" and backend.supports_config(replace(case.config(), last_output_only=True))


def padded(backend: Backend, case: Case) -> bool:
    return case.has_padding


def stacked(backend: Backend, case: Case) -> bool:
    return case.layers == 2


def dropout_between_layers(backend: Backend, case: Case) -> bool:
    """Two layers or more, and the backend runs inter-layer dropout (in inference mode)."""
    return case.layers >= 2 and backend.supports_config(replace(case.config(), dropout=DROPOUT))


@pytest.mark.cases(*INVARIANT_CASES, applies=padded)
def test_padding_content_changes_nothing(backend_case, record, request):
    prepared = prepare(backend_case, "padding", request.node, record)
    first = specified(prepared.run(), prepared)
    second = specified(prepared.run(with_padding(prepared.request, PADDING_GARBAGE)), prepared)
    conclude(same_results(first, second, prepared.request), prepared, record)


@pytest.mark.cases(*INVARIANT_CASES, applies=padded)
def test_nan_padding_changes_nothing(backend_case, record, request):
    """NaN marks missing values in real data; a backend that never reads padding is unaffected."""
    prepared = prepare(backend_case, "nan_padding", request.node, record)
    first = specified(prepared.run(), prepared)
    second = specified(prepared.run(with_padding(prepared.request, np.nan)), prepared)
    conclude(same_results(first, second, prepared.request), prepared, record)


@pytest.mark.cases(*INVARIANT_CASES, applies=one_forward_direction)
def test_a_sequence_run_in_two_calls_equals_one_call(backend_case, record, request):
    """Streaming: the first half of the steps in one call, the rest in a second call that
    starts from the first call's final (h, c) in every layer, equal one call over all steps
    (whole sequences: the case's data without its lengths, padding noise and all). Two
    calls may take other kernel paths and summation orders (a GEMM over fewer steps), and
    the carried states are rounded to the run's dtype, which one call's need not be: the
    two agree to the oracle's tolerances for the whole run, not bit for bit."""
    prepared = prepare(backend_case, "streaming", request.node, record)
    case = prepared.case
    whole_request = replace(prepared.request, lengths=None)
    time_axis = 1 if whole_request.batch_first else 0
    split = case.steps // 2
    head, tail = np.split(whole_request.x, [split], axis=time_axis)
    whole = prepared.run(whole_request)
    first = prepared.run(replace(whole_request, x=head))
    spec = whole_request.spec
    carried = {"h_n": (spec.num_cells, case.batch, spec.output_size), "c_n": (spec.num_cells, case.batch, spec.hidden_size)}
    if any(np.shape(getattr(first, name)) != shape for name, shape in carried.items()):
        # States of another shape cannot start the second call: that is the mismatch.
        conclude([compare_arrays(name, getattr(first, name), np.zeros(shape), 0.0) for name, shape in carried.items()], prepared, record)
        return
    second = prepared.run(replace(whole_request, x=tail, initial_states=(first.h_n, first.c_n)))
    streamed = LSTMResult(np.concatenate([first.outputs, second.outputs], axis=time_axis), second.h_n, second.c_n)
    tolerances = expected_forward(whole_request, regime_scale(case.regime), measured_only=case.measured_tolerances).tolerances
    locator = Locator(whole_request.spec, whole_request.batch_first, None)
    record(split_at=split)
    comparisons = [
        compare_arrays(name, getattr(streamed, name), getattr(whole, name), tolerances[name], lambda index, name=name: locator(name, index))
        for name in LSTMResult._fields
    ]
    conclude(comparisons, prepared, record)


@pytest.mark.cases(*INVARIANT_CASES, applies=last_output_mode)
def test_the_last_output_only_mode_equals_the_full_run(backend_case, record, request):
    """Keras's ``return_sequences=False``, an ONNX LSTM without its Y output: another code
    path, whose last outputs and final states must be the full run's (its outputs at each
    sequence's last step). The two may round differently, so they agree to the oracle's
    tolerance for the final states, not bit for bit."""
    prepared = prepare(backend_case, "last_output_only", request.node, record)
    full_request = prepared.request
    last_request = replace(full_request, last_output_only=True)
    full = prepared.run()
    last = prepared.run(last_request)
    tolerances = expected_forward(full_request, regime_scale(prepared.case.regime), measured_only=prepared.case.measured_tolerances).tolerances
    comparisons = [compare_arrays("last_output", last.outputs, last_outputs(full.outputs, full_request), tolerances["h_n"])]
    comparisons += [compare_arrays(name, getattr(last, name), getattr(full, name), tolerances[name]) for name in ("h_n", "c_n")]
    conclude(comparisons, prepared, record)


@pytest.mark.cases(*INVARIANT_CASES)
def test_each_sample_alone_equals_its_row_in_the_batch(backend_case, record, request):
    """A batch of one may take other kernel paths and summation orders than the full
    batch, so the two agree to rounding (the oracle's tolerances for the sample), unless
    the adapter says its backend is batch-invariant (``batch_invariant``): then bit for bit.
    Whether they agreed bitwise is recorded either way."""
    prepared = prepare(backend_case, "sample_alone", request.node, record)
    run_request, case = prepared.request, prepared.case
    batched = specified(prepared.run(), prepared)
    batch_axis = 0 if run_request.batch_first else 1
    bitwise = promises_batch_invariance(prepared.backend.adapter)
    comparisons, identical_rows = [], True
    for b in range(case.batch):
        sample = replace(
            run_request,
            x=np.take(run_request.x, [b], axis=batch_axis),
            lengths=None if run_request.lengths is None else run_request.lengths[b : b + 1],
            initial_states=None
            if run_request.initial_states is None
            else tuple(state[:, b : b + 1] for state in run_request.initial_states),
        )
        tolerances = expected_forward(sample, regime_scale(case.regime)).tolerances
        alone = specified(prepared.run(sample), prepared, sample)
        in_batch = LSTMResult(np.take(batched.outputs, [b], axis=batch_axis), batched.h_n[:, b : b + 1], batched.c_n[:, b : b + 1])
        comparisons += [
            compare_arrays(f"{name}[{b}]", getattr(alone, name), getattr(in_batch, name), 0.0 if bitwise else tolerances[name])
            for name in LSTMResult._fields
        ]
        identical_rows = identical_rows and all(np.array_equal(getattr(alone, name), getattr(in_batch, name), equal_nan=True) for name in LSTMResult._fields)
    record(bitwise_alone=identical_rows, promises_batch_invariance=bitwise)
    conclude(comparisons, prepared, record)


@pytest.mark.cases(*INVARIANT_CASES, applies=dropout_between_layers)
def test_dropout_in_inference_mode_changes_nothing(backend_case, record, request):
    prepared = prepare(backend_case, "dropout_inference", request.node, record)
    with_dropout = replace(prepared.request, dropout=DROPOUT)
    skip_if_unsupported(prepared.backend, with_dropout)
    conclude(same_results(prepared.run(), prepared.run(with_dropout), prepared.request), prepared, record)


@pytest.mark.cases(*INVARIANT_CASES, applies=stacked)
def test_two_layers_equal_two_stacked_single_layers(backend_case, record, request):
    prepared = prepare(backend_case, "stacking", request.node, record)
    run_request = prepared.request
    spec = run_request.spec
    directions = spec.num_directions
    lower_spec = replace(spec, num_layers=1)
    upper_spec = replace(spec, num_layers=1, input_size=directions * spec.output_size)
    states = run_request.initial_states or (None, None)

    def layer(layer_spec: LSTMSpec, x: np.ndarray, cells: slice) -> LSTMResult:
        initial = None if run_request.initial_states is None else tuple(state[cells] for state in states)
        return prepared.run(replace(run_request, spec=layer_spec, params=run_request.params[cells], x=x, initial_states=initial))

    whole = prepared.run()
    lower = layer(lower_spec, run_request.x, slice(0, directions))
    upper = layer(upper_spec, lower.outputs, slice(directions, 2 * directions))
    # The upper layer gets the lower layer's outputs, already representable in the run's
    # dtype, exactly as the two-layer run feeds them internally: no tolerance.
    stacked = LSTMResult(upper.outputs, np.concatenate([lower.h_n, upper.h_n]), np.concatenate([lower.c_n, upper.c_n]))
    comparisons = same_results(whole, stacked, run_request)
    conclude(comparisons, prepared, record)
