"""What each backend was measured to define where frameworks differ on purpose: the semantics table.

A row per situation a convention governs (:data:`SEMANTICS_PROBES`), a column per
backend. Each cell is measured, never copied from a declaration: the backend runs the
row's case, and the values at its padded steps are matched against what every convention
of :mod:`adapters.conventions` predicts from the backend's own valid outputs and the
case's initial states. A backend must be measured to follow
the convention it declares (or the oracle's, declaring none).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from adapters.conventions import CONVENTIONS, PADDED_OUTPUTS

from .backends import Backend
from .cases import PLAIN_DTYPES, Case, make_data, request_for
from .deviations import find_deviations
from .expectations import conventional_padding, expected_forward, padded_mask
from .report.columns import column
from .tolerances import regime_scale

# Conventions that predict values (``unspecified`` predicts none), in the order a cell
# names the first that matches.
PREDICTING = tuple(value for value in CONVENTIONS[PADDED_OUTPUTS][1] if value != "unspecified")
NOT_RUN = "not run"


@dataclass(frozen=True)
class SemanticsProbe:
    """One row: the situation, and the plainest case that has it (with initial states, so
    that a convention reading them is told apart from one writing zeros)."""

    situation: str
    case: Case
    convention: str = PADDED_OUTPUTS


SEMANTICS_PROBES: tuple[SemanticsProbe, ...] = (
    SemanticsProbe("outputs at padded steps: forward direction", Case(lengths="mixed", init="h0")),
    SemanticsProbe("outputs at padded steps: reverse direction only", Case(direction="rev", lengths="mixed", init="h0")),
    SemanticsProbe("outputs at padded steps: bidirectional", Case(direction="bidir", lengths="mixed", init="h0")),
    SemanticsProbe("outputs of an empty sequence (length 0)", Case(lengths="mixed0", init="h0")),
)


@dataclass(frozen=True)
class Measurement:
    """What a backend was measured to do in one row: the conventions its values match
    (first: the one the table shows), the one it declares, why it did not run, and the
    known deviation that makes its padded outputs wrong whatever the convention."""

    matches: tuple[str, ...]
    declared: str
    reason: str = ""
    deviation: str = ""

    @property
    def cell(self) -> str:
        if self.reason:
            return NOT_RUN
        if self.deviation and not self.matches:
            return f"other (known deviation {self.deviation})"
        return self.matches[0] if self.matches else "other"

    @property
    def problem(self) -> str:
        """'' when the measurement agrees with the declaration, else what disagrees."""
        if self.reason or self.deviation or self.declared == "unspecified" or self.declared in self.matches:
            return ""
        measured = " or ".join(self.matches) if self.matches else "none of " + ", ".join(PREDICTING)
        return f"declares {self.declared}, measured {measured}"


def runnable_case(backend: Backend, case: Case) -> tuple[Case | None, str]:
    """``case`` in the first dtype the backend runs it in, or None and its reasons."""
    reasons = ""
    for dtype in dict.fromkeys((case.dtype, *PLAIN_DTYPES)):
        candidate = replace(case, dtype=dtype)
        unsupported = backend.unsupported(candidate.config())
        if not unsupported:
            return candidate, ""
        reasons = reasons or "; ".join(unsupported)
    return None, reasons


def measure(backend: Backend, probe: SemanticsProbe) -> Measurement:
    """Run the probe's case on ``backend`` and match its padded outputs against every
    predicting convention, within the tolerance of the outputs."""
    case, reason = runnable_case(backend, probe.case)
    declared = backend.conventions((case or probe.case).config())[probe.convention]
    if case is None:
        return Measurement((), declared, reason)
    request = request_for(case, make_data(case))
    known = find_deviations(backend.name, "forward", request, version=backend.availability.version)
    excusing = ", ".join(deviation.name for deviation in known if deviation.quantities & {"run", "outputs_padded"})
    if any("run" in deviation.quantities for deviation in known):
        return Measurement((), declared, deviation=excusing)
    actual = backend.adapter.run(request)
    padded = padded_mask(request.lengths, case.steps, request.batch_first)
    allowed = expected_forward(request, regime_scale(case.regime)).tolerances["outputs"]
    # Conventions predict from the backend's own valid outputs: what is measured is what
    # padded steps hold, whatever the accuracy of the valid ones.
    own = actual._replace(outputs=np.where(padded[..., None], 0.0, actual.outputs))
    matches = tuple(
        convention
        for convention in PREDICTING
        if np.max(np.abs(actual.outputs[padded] - conventional_padding(request, own, convention).outputs[padded])) <= allowed
    )
    return Measurement(matches, declared, deviation=excusing)


def semantics(backend: Backend) -> dict[str, Measurement]:
    """Per row of :data:`SEMANTICS_PROBES`, what ``backend`` was measured to do."""
    return {probe.situation: measure(backend, probe) for probe in SEMANTICS_PROBES}


def semantics_tables(records: list[dict]) -> dict[str, dict[str, str]]:
    """Per backend, its recorded semantics row -> cell (from the ``semantics`` records)."""
    return {column(record): record["semantics"] for record in records if record.get("kind") == "semantics" and "semantics" in record}
