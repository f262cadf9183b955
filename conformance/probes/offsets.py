"""Measuring what a backend adds to the forget gate's bias that its adapter's mapping leaves.

The probe is one step of one forward layer (I = 1, H = 2) whose gates see their biases
alone: every weight 0, x = 0, h0 = 0, c0 = 1, the input gate's bias -40 (so i < 5e-18)
and the forget gate's biases b_f. Then c_1 = sigmoid(b_f + r) * 1 + i * tanh(0), where
r is what the backend adds beyond the canonical ``b_ih + b_hh`` after the adapter's
mapping: 0 for a correct adapter, whatever offset the backend adds when the mapping does
not undo it (Haiku's and Sonnet's forget bias of 1.0, say). So r = logit(c_1) - b_f,
measured per unit. The forget biases are 0.3 and -0.2, where float32's sigmoid keeps
logit(c_1) within 1e-6 (see :data:`OFFSET_TOLERANCE`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adapters.base import PLAIN_DTYPES, RunRequest
from adapters.offsets import FORGET_GATE_BIAS, declared_offsets
from reference import CellParams, LSTMSpec

from conformance.run.backends import Backend
from conformance.deviations import find_deviations

PROBE_SPEC = LSTMSpec(input_size=1, hidden_size=2)
FORGET_BIASES = np.array([0.3, -0.2])
# sigmoid's input for a closed input gate: sigmoid(-40) = 4.2e-18, below float64's
# resolution of c_1 near 0.5.
CLOSED_GATE = -40.0
# In float32, c_1 near 0.45 to 0.57 carries a rounding of 3e-8, which logit magnifies by
# 1 / (c (1 - c)) < 4.1 to 1.2e-7; 1e-3 is far above that and far below any offset a
# framework adds (1.0), or a forget-gate bias counted twice (0.3).
OFFSET_TOLERANCE = 1e-3


@dataclass(frozen=True)
class OffsetMeasurement:
    """What the probe found: the forget-gate offset the adapter declares, the residual the
    backend adds beyond the canonical bias after the mapping (per unit), and why the probe
    did not run (``reason``, then ``residual`` is None)."""

    declared: float
    residual: tuple[float, ...] | None = None
    reason: str = ""

    @property
    def worst(self) -> float:
        return max((abs(value) for value in self.residual or ()), default=0.0)

    @property
    def problem(self) -> str:
        """'' when the mapping leaves no offset, else what it leaves, with the magnitude."""
        if self.residual is None or self.worst <= OFFSET_TOLERANCE:
            return ""
        left = ", ".join(f"{value:+.6g}" for value in self.residual)
        if self.declared:
            return (
                f"the forget gate's bias reaches the backend {left} away from the canonical b_ih + b_hh (per unit; allowed "
                f"{OFFSET_TOLERANCE:g}): the mapping does not undo the declared {FORGET_GATE_BIAS} offset {self.declared:g} "
                "(canonical_to_backend must store the canonical bias minus it)"
            )
        return (
            f"the forget gate's bias reaches the backend {left} away from the canonical b_ih + b_hh (per unit; allowed "
            f"{OFFSET_TOLERANCE:g}): if the framework adds a constant there (Haiku, Sonnet and TensorFlow's forget_bias add 1.0), "
            f"declare parameter_offsets = {{{FORGET_GATE_BIAS!r}: ...}} and subtract it in canonical_to_backend"
        )

    @property
    def cell(self) -> str:
        """The semantics table's cell: the declared offset, and whether the probe confirms the mapping undoes it."""
        if self.residual is None:
            return "not run"
        if self.problem:
            return f"{self.declared:g} declared; {self.worst:.3g} left by the mapping"
        return f"{self.declared:g}"


def probe_request(dtype: str) -> RunRequest:
    """The probe (see the module docstring) in ``dtype``."""
    hidden = PROBE_SPEC.hidden_size
    bias = np.zeros(4 * hidden)
    bias[:hidden] = CLOSED_GATE
    bias[hidden : 2 * hidden] = FORGET_BIASES
    cell = CellParams(w_ih=np.zeros((4 * hidden, 1)), w_hh=np.zeros((4 * hidden, hidden)), b_ih=bias, b_hh=np.zeros(4 * hidden))
    return RunRequest(
        spec=PROBE_SPEC,
        params=(cell,),
        x=np.zeros((1, 1, 1)),
        initial_states=(np.zeros((1, 1, hidden)), np.ones((1, 1, hidden))),
        dtype=dtype,
    )


def measure_forget_offset(backend: Backend) -> OffsetMeasurement:
    """Run the probe on ``backend`` in the first plain dtype it runs it in."""
    declared = declared_offsets(backend.adapter).get(FORGET_GATE_BIAS, 0.0)
    reasons = ""
    for dtype in PLAIN_DTYPES[::-1]:
        request = probe_request(dtype)
        unsupported = backend.unsupported(request.config())
        if unsupported:
            reasons = reasons or "; ".join(unsupported)
            continue
        known = find_deviations(backend.name, "forward", request, version=backend.availability.version)
        changing = [deviation.name for deviation in known if deviation.quantities & {"c_n", "run"}]
        if changing:
            return OffsetMeasurement(declared, reason=f"a known deviation changes the probe's final cell state: {', '.join(changing)}")
        c_1 = np.asarray(backend.adapter.run(request).c_n, dtype=np.float64).reshape(-1)
        residual = np.log(c_1) - np.log1p(-c_1) - FORGET_BIASES
        return OffsetMeasurement(declared, tuple(float(value) for value in residual))
    return OffsetMeasurement(declared, reason=reasons)
