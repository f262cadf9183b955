"""Known deviations: where a backend really differs from the oracle, named and reproducible.

Each entry names the backend, the check it concerns, the compared quantities that
deviate (``run`` when the run itself fails), which requests show it, the smallest
reproducing case (a case id: ``pytest "<reproducer_test>"`` runs it alone) and the
backend versions it was seen on.
Tests that hit a deviation become strict xfails that only accept
:class:`DeviationReproduced`: any other failure still fails, and a deviation that
stops reproducing fails the run, so this registry stays true.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from adapters.base import RunRequest
from reference import sigmoid, validate_inputs, validate_params
from reference.forward import forward_with_traces


class DeviationReproduced(AssertionError):
    """A known deviation showed up exactly where the registry says it does."""


@dataclass(frozen=True)
class KnownDeviation:
    """One registered deviation (see the module docstring)."""

    name: str
    backend: str
    check: str
    summary: str
    quantities: frozenset[str]
    applies: Callable[[RunRequest], bool]
    reproducer: str
    versions_seen: tuple[str, ...]

    @property
    def reproducer_test(self) -> str:
        """The pytest node id that runs the reproducer alone."""
        return f"{CHECK_TESTS[self.check]}[{self.backend}-{self.reproducer}]"

    def describe(self) -> str:
        return f"known deviation {self.name}: {self.summary} (seen on {self.backend} {', '.join(self.versions_seen)})"

    def as_record(self) -> dict:
        return {
            "name": self.name,
            "backend": self.backend,
            "check": self.check,
            "summary": self.summary,
            "quantities": sorted(self.quantities),
            "reproducer": self.reproducer,
            "reproducer_test": self.reproducer_test,
            "versions_seen": list(self.versions_seen),
        }


# The test function each check's cases run under (a reproducer is one of its parameters).
CHECK_TESTS = {
    "forward": "conformance/test_forward_parity.py::test_forward_matches_oracle",
    "padding": "conformance/test_invariants.py::test_padding_content_changes_nothing",
    "nan_padding": "conformance/test_invariants.py::test_nan_padding_changes_nothing",
}


def sigmoid_input_above(request: RunRequest, limit: float) -> bool:
    """Some sigmoid of the request's LSTM gets an input above ``limit`` at a valid step,
    according to the oracle's trace (sigmoid is increasing, so its output tells)."""
    spec = request.spec
    roles = (spec.gate_activation, spec.candidate_activation, spec.cell_activation)
    if "sigmoid" not in roles:
        return False
    inputs = validate_inputs(spec, request.x, lengths=request.lengths, initial_states=request.initial_states, batch_first=request.batch_first)
    _, traces = forward_with_traces(spec, validate_params(spec, request.params), inputs)
    threshold = float(sigmoid(np.array(limit)))
    for trace in traces:
        valid = np.ones(trace.cells.shape[:2], dtype=bool) if trace.valid is None else trace.valid
        outputs = [trace.gates[:, :3].transpose(0, 2, 1, 3)] if spec.gate_activation == "sigmoid" else []
        outputs += [trace.gates[:, 3]] if spec.candidate_activation == "sigmoid" else []
        outputs += [trace.cell_acts] if spec.cell_activation == "sigmoid" else []
        if any((values[valid] > threshold).any() for values in outputs):
            return True
    return False


def has_padding(request: RunRequest) -> bool:
    """Some sequence is shorter than T, so some output position is padding."""
    if request.lengths is None:
        return False
    steps = request.x.shape[1 if request.batch_first else 0]
    return bool((np.asarray(request.lengths) < steps).any())


KNOWN_DEVIATIONS: tuple[KnownDeviation, ...] = (
    KnownDeviation(
        name="paddle-projection-padded-outputs",
        backend="paddle",
        check="forward",
        summary="with proj_size > 0 and sequence_length, outputs at padded steps are not 0 but values computed from the padding",
        quantities=frozenset({"outputs_padded"}),
        applies=lambda request: request.spec.proj_size > 0 and has_padding(request),
        reproducer="L1-fwd-tm-mixed-zero-P3-bias-nopeep-std-f64-base-typ-cpu",
        versions_seen=("3.3.1",),
    ),
    KnownDeviation(
        name="paddle-no-bias-fails",
        backend="paddle",
        check="forward",
        summary="without bias (bias_ih_attr=bias_hh_attr=False) and without projection, the fused rnn path crashes "
        "the process (one forward layer: SIGSEGV in RnnKernel) or raises IndexError while building the layer",
        quantities=frozenset({"run"}),
        applies=lambda request: not request.spec.bias and request.spec.proj_size == 0,
        reproducer="L1-fwd-tm-none-zero-P0-nobias-nopeep-std-f64-base-typ-cpu",
        versions_seen=("3.3.1",),
    ),
    KnownDeviation(
        name="paddle-projection-padding-leaks-into-outputs",
        backend="paddle",
        check="padding",
        summary="with proj_size > 0 and sequence_length, what the padded input positions hold changes the outputs "
        "at padded steps (the same path as paddle-projection-padded-outputs)",
        quantities=frozenset({"outputs"}),
        applies=lambda request: request.spec.proj_size > 0 and has_padding(request),
        reproducer="L1-fwd-tm-mixed-zero-P3-bias-nopeep-std-f64-base-typ-cpu",
        versions_seen=("3.3.1",),
    ),
    KnownDeviation(
        name="paddle-nan-padding-poisons-results",
        backend="paddle",
        check="nan_padding",
        summary="NaN in padded input positions turns final states (and, bidirectional, valid outputs) into NaN: "
        "padding is masked by multiplication, and 0 * NaN is NaN",
        quantities=frozenset({"outputs", "h_n", "c_n"}),
        applies=has_padding,
        reproducer="L1-fwd-tm-mixed-zero-P0-bias-nopeep-std-f64-base-typ-cpu",
        versions_seen=("3.3.1",),
    ),
    KnownDeviation(
        name="paddle-legacy-sigmoid-clamped-at-13",
        backend="paddle-legacy",
        check="forward",
        summary="the op clamps sigmoid's input to [-40, 13], so sigmoid(x) = sigmoid(13) = 1 - 2.3e-6 for every x > 13: "
        "visible against float64 precision, hidden below float32's",
        quantities=frozenset({"outputs", "h_n", "c_n"}),
        applies=lambda request: request.dtype == "float64" and sigmoid_input_above(request, 13.0),
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-std-f64-base-sat-cpu",
        versions_seen=("3.3.1",),
    ),
)


def find_deviation(
    backend: str, check: str, request: RunRequest, registry: tuple[KnownDeviation, ...] = KNOWN_DEVIATIONS
) -> KnownDeviation | None:
    """The registered deviation of ``backend`` that ``request`` shows under ``check``, if any."""
    for deviation in registry:
        if deviation.backend == backend and deviation.check == check and deviation.applies(request):
            return deviation
    return None


def reproducer_cases(backend: str, check: str, registry: tuple[KnownDeviation, ...] = KNOWN_DEVIATIONS) -> list[str]:
    """Case ids of the reproducers registered for ``backend`` under ``check``."""
    return [deviation.reproducer for deviation in registry if deviation.backend == backend and deviation.check == check]
