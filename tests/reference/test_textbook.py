"""The fast oracle against the textbook LSTM (:mod:`reference.textbook`), forward and
backward, over the whole case table (the oracle's own covering design of every factor)."""

from __future__ import annotations

import numpy as np

from conformance.run.backends import BackendPool
from conformance.cases.table import make_data
from reference import lstm_backward, lstm_forward
from reference.textbook import Variant, textbook_backward, textbook_forward

# Both compute every value in float64, the same sums in other orders (the fast oracle
# multiplies a chunk of steps at once and sums parameter gradients over all steps in one
# product). Their difference is rounding, which accumulates at most about linearly with
# the steps and layers it passes through: measured over the table, at most 1.5e-15 per
# step and layer relative to max(1, |value|). The tolerance, 64 units of float64 roundoff
# (1.4e-14) per step and layer, leaves a factor of ten; a wrong term is off by 1e-3 or more.
ROUNDING_PER_STEP_AND_LAYER = 64 * np.finfo(np.float64).eps


def gradient_pairs(case, data, arguments: dict, fast, variant: dict) -> dict[str, tuple]:
    """The fast and textbook gradients of each quantity, for a seeded upstream."""
    upstream = [np.random.default_rng(len(case.id)).standard_normal(np.shape(value)) for value in fast]
    fast_grads = lstm_backward(case.spec, data.params, data.x, *upstream, **arguments)
    plain_grads = textbook_backward(case.spec, data.params, data.x, *upstream, **arguments, **variant)
    pairs = {f"grad_{name}": (getattr(fast_grads, name), getattr(plain_grads, name)) for name in ("x", "h0", "c0")}
    for index, (one, other) in enumerate(zip(fast_grads.params, plain_grads.params, strict=True)):
        pairs.update({f"grad_{name}[cell {index}]": (value, getattr(other, name)) for name, value in one.arrays().items()})
    return pairs


def differences(case, **variant) -> list[str]:
    """The quantities where the two disagree beyond the tolerance, for one case (``variant``:
    hooks of the textbook's backward, to show the comparison sees a wrong term); gradients
    where they are well posed (off a kink: see Case.gradients_well_posed)."""
    data = make_data(case)
    arguments = dict(lengths=data.lengths, initial_states=data.initial_states, batch_first=case.layout == "bm")
    fast = lstm_forward(case.spec, data.params, data.x, **arguments)
    plain = textbook_forward(case.spec, data.params, data.x, **arguments)
    pairs = {name: (getattr(fast, name), getattr(plain, name)) for name in fast._fields}
    if case.gradients_well_posed:
        pairs.update(gradient_pairs(case, data, arguments, fast, variant))
    found = []
    for name, (one, other) in pairs.items():
        tolerance = ROUNDING_PER_STEP_AND_LAYER * case.steps * case.spec.num_layers * max(1.0, float(np.abs(one).max(initial=0.0)))
        error = float(np.abs(np.asarray(one) - np.asarray(other)).max(initial=0.0))
        if not error <= tolerance:
            found.append(f"{case.id} {name}: {error:.3e} > {tolerance:.3e}")
    return found


def test_the_fast_oracle_computes_what_the_textbook_lstm_computes_on_every_case_of_the_table():
    cases = BackendPool._oracle_covering()
    assert len(cases) > 500
    found = [line for case in cases for line in differences(case)]
    assert not found, "\n".join(found[:20])


def test_the_comparison_sees_a_wrong_term():
    """A textbook whose gate gradients lose a thousandth of the forget block fails it."""

    def damped(dz: np.ndarray, cell: int, step: int) -> np.ndarray:
        dz = dz.copy()
        dz[:, 1] *= 0.999
        return dz

    case = BackendPool._oracle_covering()[0]
    assert not differences(case)
    assert any("grad_w_hh" in line for line in differences(case, variant=Variant(gate_gradients=damped)))
