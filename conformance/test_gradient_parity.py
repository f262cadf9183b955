"""Every backend's autograd against the oracle's hand-written backward pass.

Gradients are linear in the upstream gradient, so two checks cover every upstream:
one through the outputs and h_n, one through c_n alone. Upstream gradients at padded
output positions are 0 here (those outputs are constants); a separate check gives them
noise and expects no gradient to change.
"""

from __future__ import annotations

import numpy as np
import pytest

from reference import LSTMGradients, LSTMResult, lstm_backward

from .cases import Case, CaseData, round_to
from .compare import Comparison, compare_arrays
from .deviations import find_deviations
from .running import PreparedCase, conclude, prepare
from .seeding import seed_for
from .test_invariants import INVARIANT_CASES
from .tolerances import gradient_tolerance, regime_scale

PADDED_UPSTREAM_NOISE = 3.0


def padded_positions(case: Case, data: CaseData) -> np.ndarray:
    """[T, B] (or [B, T] batch-major) mask of padded positions, all False without lengths."""
    lengths = np.full(case.batch, case.steps) if data.lengths is None else data.lengths
    padded = np.arange(case.steps)[:, None] >= lengths[None, :]
    return padded.T if case.layout == "bm" else padded


def upstream_for(prepared: PreparedCase, shapes: LSTMResult, through: str) -> LSTMResult:
    """Seeded upstream gradients with the shapes of the results, in the case's dtype; 0 at
    padded output positions; only on outputs and h_n, or only on c_n (``through``)."""
    rng = np.random.default_rng(seed_for(f"{prepared.case.id}:upstream"))
    dtype = prepared.request.dtype
    grads = [round_to(dtype, rng.standard_normal(np.shape(value))) for value in shapes]
    grads[0][padded_positions(prepared.case, prepared.data)] = 0.0
    keep = {"outputs_and_h_n": (True, True, False), "c_n": (False, False, True)}[through]
    return LSTMResult(*(grad if kept else np.zeros_like(grad) for grad, kept in zip(grads, keep)))


def oracle_gradients(prepared: PreparedCase, upstream: LSTMResult) -> LSTMGradients:
    request = prepared.request
    return lstm_backward(
        request.spec,
        request.params,
        request.x,
        *upstream,
        lengths=request.lengths,
        initial_states=request.initial_states,
        batch_first=request.batch_first,
    )


def compare_gradients(prepared: PreparedCase, actual: LSTMGradients, expected: LSTMGradients) -> list[Comparison]:
    """grad_x at valid positions, grad_x at padded positions (exactly 0), grad_h0, grad_c0 and
    one comparison per canonical parameter name, all cells together."""
    case, request = prepared.case, prepared.request
    scale = regime_scale(case.regime)

    def compare(quantity: str, got: np.ndarray, want: np.ndarray) -> Comparison:
        tolerance = gradient_tolerance(request.spec, request.dtype, case.steps, case.batch, scale, want)
        return compare_arrays(quantity, got, want, tolerance)

    padded = padded_positions(case, prepared.data)
    comparisons = [compare("grad_x", actual.x[~padded], expected.x[~padded])]
    if padded.any():
        comparisons.append(compare_arrays("grad_x_padded", actual.x[padded], expected.x[padded], 0.0))
    comparisons += [compare("grad_h0", actual.h0, expected.h0), compare("grad_c0", actual.c0, expected.c0)]
    for name in expected.params[0].arrays():
        got = np.concatenate([getattr(cell, name).ravel() for cell in actual.params])
        want = np.concatenate([getattr(cell, name).ravel() for cell in expected.params])
        comparisons.append(compare(f"grad_{name}", got, want))
    return comparisons


def check_gradients(backend_gradient_case, record, node: pytest.Item, check: str, through: str) -> None:
    prepared = prepare(backend_gradient_case, check, node, record, gradients=True)
    upstream = upstream_for(prepared, prepared.run(), through)
    expected = oracle_gradients(prepared, upstream)
    actual = prepared.gradients(upstream)
    conclude(compare_gradients(prepared, actual, expected), prepared.deviations, record)


def test_gradients_match_oracle(backend_gradient_case, record, request):
    """Upstream gradients on the outputs (valid positions) and on h_n."""
    check_gradients(backend_gradient_case, record, request.node, "gradients", "outputs_and_h_n")


def test_gradients_through_final_cell_state_match_oracle(backend_gradient_case, record, request):
    """Upstream gradient on c_n alone."""
    check_gradients(backend_gradient_case, record, request.node, "gradients_c_n", "c_n")


@pytest.mark.cases(*INVARIANT_CASES)
def test_upstream_at_padded_steps_changes_no_gradient(backend_case, record, request):
    """Outputs at padded steps are constants: whatever upstream gradient they get, no
    gradient changes (the backend against itself, bit for bit)."""
    prepared = prepare(backend_case, "padded_upstream", request.node, record, gradients=True)
    padded = padded_positions(prepared.case, prepared.data)
    if not padded.any():
        pytest.skip("no padded positions in this case")
    upstream = upstream_for(prepared, prepared.run(), "outputs_and_h_n")
    noisy_outputs = upstream.outputs.copy()
    noise = np.random.default_rng(seed_for(f"{prepared.case.id}:padding")).standard_normal(noisy_outputs[padded].shape)
    noisy_outputs[padded] = round_to(prepared.request.dtype, noise * PADDED_UPSTREAM_NOISE)
    clean = prepared.gradients(upstream)
    noisy = prepared.gradients(upstream._replace(outputs=noisy_outputs))
    comparisons = [
        compare_arrays(f"grad_{name}", getattr(noisy, name), getattr(clean, name), 0.0) for name in ("x", "h0", "c0")
    ]
    for name in clean.params[0].arrays():
        got = np.concatenate([getattr(cell, name).ravel() for cell in noisy.params])
        want = np.concatenate([getattr(cell, name).ravel() for cell in clean.params])
        comparisons.append(compare_arrays(f"grad_{name}", got, want, 0.0))
    # Gradients a known deviation already makes wrong (some from uninitialised memory) are
    # not compared with themselves.
    known_wrong = set().union(*(d.quantities for d in find_deviations(prepared.backend.name, "gradients", prepared.request)))
    conclude([c for c in comparisons if c.quantity not in known_wrong], prepared.deviations, record)
