"""Running one case on a backend and on the oracle, and judging the comparisons."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import pytest

from adapters.base import RunRequest, UnsupportedCase
from reference import LSTMGradients, LSTMResult

from .backends import Backend
from .cases import DTYPE_NAMES, Case, CaseData, make_data
from .compare import Comparison
from .deviations import DeviationReproduced, KnownDeviation, find_deviations
from .diagnosis import Diagnosis


def request_for(case: Case, data: CaseData, **overrides) -> RunRequest:
    """The run request of a case's data; ``overrides`` replace request fields."""
    fields = dict(
        spec=case.spec,
        params=data.params,
        x=data.x,
        lengths=data.lengths,
        initial_states=data.initial_states,
        batch_first=case.layout == "bm",
        dtype=DTYPE_NAMES[case.dtype],
        device=case.device,
    )
    fields.update(overrides)
    return RunRequest(**fields)


def skip_if_unsupported(backend: Backend, request: RunRequest, gradients: bool = False) -> None:
    """Skip the calling test, with the backend's reasons, when it cannot run ``request``."""
    if not backend.availability.available:
        pytest.skip(f"{backend.name} unavailable: {backend.availability.reason}")
    reasons = backend.unsupported(request.config(gradients))
    if reasons:
        pytest.skip(f"{backend.name} unsupported: {'; '.join(reasons)}")


def describe_deviations(deviations: tuple[KnownDeviation, ...]) -> str:
    return "; ".join(deviation.describe() for deviation in deviations)


def expect_deviations(node: pytest.Item, deviations: tuple[KnownDeviation, ...]) -> None:
    """Turn the test into an xfail that accepts only these deviations reproducing: strict
    unless one of them shows by chance."""
    if deviations:
        strict = all(deviation.strict for deviation in deviations)
        node.add_marker(pytest.mark.xfail(raises=DeviationReproduced, strict=strict, reason=describe_deviations(deviations)))


def run_backend(backend: Backend, call, deviations: tuple[KnownDeviation, ...]):
    """``call()``'s result; a failure is a reproduced deviation when a deviation says the run fails."""
    try:
        return call()
    except UnsupportedCase as unsupported:
        pytest.skip(f"{backend.name} unsupported: {'; '.join(unsupported.reasons)}")
    except Exception as error:
        if any("run" in deviation.quantities for deviation in deviations):
            raise DeviationReproduced(f"{describe_deviations(deviations)}: {type(error).__name__}: {error}") from error
        raise


def judge(
    comparisons: list[Comparison], deviations: tuple[KnownDeviation, ...], record, diagnose: Callable[[frozenset[str]], Diagnosis] | None = None
) -> None:
    """Fail on any mismatch outside the deviations' quantities, with the verdict of
    ``diagnose(the deviations' quantities)`` recorded and in the message; raise
    DeviationReproduced when the only mismatches are the deviations' quantities (a quantity
    compared per sample, ``outputs[2]``, is one of them when ``outputs`` is)."""
    allowed = frozenset().union(*(deviation.quantities for deviation in deviations))
    failed = [comparison for comparison in comparisons if not comparison.passed]
    unexpected = [comparison for comparison in failed if comparison.quantity.partition("[")[0] not in allowed]
    report = "\n".join(comparison.describe() for comparison in comparisons)
    if unexpected:
        if diagnose is not None:
            diagnosis = diagnose(allowed)
            record(diagnosis=list(diagnosis.explanations), hypotheses_tried=diagnosis.tried)
            report += "\n" + diagnosis.describe()
        raise AssertionError(f"values differ beyond their tolerance:\n{report}")
    if failed:
        raise DeviationReproduced(f"{describe_deviations(deviations)}\n{report}")


@dataclass(frozen=True)
class PreparedCase:
    """A case ready to run on a backend: its data, request and the deviations it may show."""

    backend: Backend
    case: Case
    data: CaseData
    request: RunRequest
    deviations: tuple[KnownDeviation, ...]

    def run(self, request: RunRequest | None = None) -> LSTMResult:
        """The backend's result for ``request`` (default: the case's own)."""
        return run_backend(self.backend, lambda: self.backend.adapter.run(request or self.request), self.deviations)

    def gradients(self, upstream: LSTMResult, request: RunRequest | None = None) -> LSTMGradients:
        """The backend's gradients for ``request`` (default: the case's own) and ``upstream``."""
        return run_backend(self.backend, lambda: self.backend.adapter.gradients(request or self.request, upstream), self.deviations)


def prepare(
    backend_case: tuple[Backend, Case], check: str, node: pytest.Item, record, gradients: bool = False, deviations_of: str | None = None
) -> PreparedCase:
    """Record what is tested, skip what the backend cannot run, and arm the known deviations
    registered for this backend, request and check (or ``deviations_of``, for a check that
    repeats another one's comparisons)."""
    backend, case = backend_case
    data = make_data(case)
    request = request_for(case, data)
    record(
        kind=check,
        backend=backend.name,
        backend_version=backend.availability.version,
        case_id=case.id,
        case=asdict(case),
        spec=asdict(case.spec),
        dtype=request.dtype,
        device=request.device,
        steps=case.steps,
        batch=case.batch,
        rerun=backend.rerun_command(case),
    )
    skip_if_unsupported(backend, request, gradients)
    deviations = find_deviations(backend.name, deviations_of or check, request, version=backend.availability.version)
    expect_deviations(node, deviations)
    record(deviations=[deviation.name for deviation in deviations])
    return PreparedCase(backend, case, data, request, deviations)


def conclude(
    comparisons: list[Comparison], deviations: tuple[KnownDeviation, ...], record, diagnose: Callable[[frozenset[str]], Diagnosis] | None = None
) -> None:
    """Record the comparisons, then judge them (``diagnose``: see :func:`judge`)."""
    record(comparisons=[comparison.as_record() for comparison in comparisons])
    judge(comparisons, deviations, record, diagnose)
