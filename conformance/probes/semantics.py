"""What each backend was measured to define where frameworks differ on purpose: the semantics table.

A row per situation a convention governs (:data:`SEMANTICS_PROBES`), a column per
backend. Each cell is measured, never copied from a declaration: the backend runs the
row's case, and the values the convention governs are matched against what each of its
values (:mod:`adapters.conventions`) predicts: the outputs at padded steps from the
backend's own valid outputs and the case's initial states, the final states of empty
sequences from the case's initial states, and a float32 run at the backend's own defaults
from the oracle under each precision's error model. A backend must be measured to follow
the convention it declares (or the oracle's, declaring none).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from adapters.base import RunRequest
from adapters.conventions import CONVENTIONS, DEFAULT_PRECISION, EMPTY_SEQUENCE_STATES, PADDED_OUTPUTS
from reference import LSTMResult
from reference.formats import round_to_format
from reference.params import map_params

from conformance.run.backends import Backend
from conformance.cases.table import PLAIN_DTYPES, Case, make_data, request_for
from conformance.deviations import find_deviations
from conformance.judge.expectations import conventional, expected_forward, forward_quantities, oracle_forward, padded_mask
from conformance.record_columns import column
from conformance.judge.tolerances import regime_scale

# Each convention's values that predict values (``unspecified`` predicts none), in the
# order a cell names the first that matches.
PREDICTING = {name: tuple(value for value in values if value != "unspecified") for name, (_, values) in CONVENTIONS.items()}
# The quantities a known deviation must name to make a convention's values wrong whatever it is.
GOVERNED = {PADDED_OUTPUTS: {"run", "outputs_padded"}, EMPTY_SEQUENCE_STATES: {"run", "h_n", "c_n"}, DEFAULT_PRECISION: {"run", "outputs", "h_n", "c_n"}}
NOT_RUN = "not run"
# Errors below this are taken as this, so that an exact run compares on a log scale.
TINY = 1e-300
# The rows of the empty-sequence states and default precision conventions.
EMPTY_STATES_SITUATION = "final states h_n, c_n of an empty sequence (length 0)"
DEFAULT_PRECISION_SITUATION = "precision of a float32 model run at the backend's own defaults"


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
    SemanticsProbe(EMPTY_STATES_SITUATION, Case(lengths="mixed0", init="h0"), EMPTY_SEQUENCE_STATES),
    SemanticsProbe(DEFAULT_PRECISION_SITUATION, Case(dtype="f32"), DEFAULT_PRECISION),
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
    convention: str = PADDED_OUTPUTS

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
        measured = " or ".join(self.matches) if self.matches else "none of " + ", ".join(PREDICTING[self.convention])
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


def governed_values(convention: str, request: RunRequest, result: LSTMResult) -> np.ndarray:
    """The values ``convention`` governs in ``result``: the outputs at padded steps, or h_n and
    c_n of the sequences of length 0 (flattened together)."""
    steps = request.x.shape[1 if request.batch_first else 0]
    if convention == PADDED_OUTPUTS:
        return result.outputs[padded_mask(request.lengths, steps, request.batch_first)]
    empty = np.asarray(request.lengths) == 0
    return np.concatenate([result.h_n[:, empty].ravel(), result.c_n[:, empty].ravel()])


def measure(backend: Backend, probe: SemanticsProbe) -> Measurement:
    """Run the probe's case on ``backend`` and match the values its convention governs against
    what each of the convention's values predicts, within the tolerance of the outputs."""
    convention = probe.convention
    case, reason = runnable_case(backend, probe.case)
    declared = backend.conventions((case or probe.case).config())[convention]
    if case is None:
        return Measurement((), declared, reason, convention=convention)
    request = request_for(case, make_data(case))
    known = find_deviations(backend.name, "forward", request, version=backend.availability.version)
    excusing = ", ".join(deviation.name for deviation in known if deviation.quantities & GOVERNED[convention])
    if any("run" in deviation.quantities for deviation in known):
        return Measurement((), declared, deviation=excusing, convention=convention)
    actual = backend.adapter.run(request)
    padded = padded_mask(request.lengths, case.steps, request.batch_first)
    allowed = expected_forward(request, regime_scale(case.regime)).tolerances["outputs"]
    # Padded outputs are predicted from the backend's own valid outputs (what is measured is
    # what the governed values hold, whatever the accuracy of the others), empty sequences'
    # final states from the case's initial states.
    own = actual._replace(outputs=np.where(padded[..., None], 0.0, actual.outputs))
    if convention == EMPTY_SEQUENCE_STATES:
        own = own._replace(h_n=request.initial_states[0], c_n=request.initial_states[1])
    observed = governed_values(convention, request, actual)
    matches = tuple(
        value
        for value in PREDICTING[convention]
        if np.max(np.abs(observed - governed_values(convention, request, conventional(request, own, {convention: value}))), initial=0.0) <= allowed
    )
    return Measurement(matches, declared, deviation=excusing, convention=convention)


def lowered(request: RunRequest, precision: str) -> RunRequest:
    """``request`` with its inputs, initial states and weights rounded to ``precision``, as a
    kernel computing a float32 model in it reads them."""
    def rounded(array: np.ndarray) -> np.ndarray:
        return round_to_format(array, precision)

    states = None if request.initial_states is None else tuple(rounded(state) for state in request.initial_states)
    return replace(request, dtype=precision, backend_defaults=False, x=rounded(request.x), params=map_params(request.params, rounded), initial_states=states)


def largest_error(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(actual[name] - value), initial=0.0)) for name, value in expected.items())


def measure_default_precision(backend: Backend, probe: SemanticsProbe) -> Measurement:
    """Run the probe's float32 case at the backend's own defaults and name the precision it
    computed in: among float32, float16 and bfloat16, those whose error model its values meet,
    the one whose own error is nearest in size to the run's (the oracle's distance from its
    storage model of a kernel reading and storing in that precision, compared on a log
    scale: neighbouring precisions differ by a factor of 8 or more in unit roundoff). The
    error models alone cannot tell: the looser ones hold what the tighter ones do."""
    convention, config = probe.convention, probe.case.config()
    reasons = backend.unsupported(replace(config, backend_defaults=True))
    # An adapter that did not declare runs at its defaults is never sent such a config, its conventions included.
    declared = backend.conventions(config if reasons else replace(config, backend_defaults=True))[convention]
    if reasons:
        return Measurement((), declared, "; ".join(reasons), convention=convention)
    request = replace(request_for(probe.case, make_data(probe.case)), backend_defaults=True)
    known = find_deviations(backend.name, "forward", request, version=backend.availability.version)
    excusing = ", ".join(deviation.name for deviation in known if deviation.quantities & GOVERNED[convention])
    if excusing:
        return Measurement((), declared, deviation=excusing, convention=convention)
    padded = padded_mask(request.lengths, probe.case.steps, request.batch_first)
    actual = forward_quantities(backend.adapter.run(request), padded)
    oracle = forward_quantities(oracle_forward(request), padded)
    run = largest_error(actual, oracle)
    met = []
    for precision in PREDICTING[convention]:
        at_precision = replace(request, dtype=precision, backend_defaults=False)
        tolerances = expected_forward(at_precision, regime_scale(probe.case.regime), measured_only=precision != "float32").tolerances
        if all(np.max(np.abs(actual[name] - expected), initial=0.0) <= tolerances[name] for name, expected in oracle.items()):
            own = largest_error(forward_quantities(oracle_forward(lowered(request, precision), stored_as=precision), padded), oracle)
            met.append((abs(np.log(max(run, TINY) / max(own, TINY))), precision))
    return Measurement((min(met)[1],) if met else (), declared, convention=convention)


def semantics(backend: Backend) -> dict[str, Measurement]:
    """Per row of :data:`SEMANTICS_PROBES`, what ``backend`` was measured to do."""
    return {probe.situation: (measure_default_precision if probe.convention == DEFAULT_PRECISION else measure)(backend, probe) for probe in SEMANTICS_PROBES}


def semantics_tables(records: list[dict]) -> dict[str, dict[str, str]]:
    """Per backend, its recorded semantics row -> cell (from the ``semantics`` records)."""
    return {column(record): record["semantics"] for record in records if record.get("kind") == "semantics" and "semantics" in record}
