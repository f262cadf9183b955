"""Running one case on a backend and on the oracle, and judging the comparisons."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pytest

from adapters.base import RunRequest, UnsupportedCase
from reference import LSTMResult, lstm_forward

from .backends import Backend
from .cases import DTYPE_NAMES, Case, CaseData, make_data
from .compare import Comparison
from .deviations import DeviationReproduced, KnownDeviation, find_deviation


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


def oracle_forward(request: RunRequest) -> LSTMResult:
    """What the oracle computes for a request (in float64, whatever the request's dtype)."""
    return lstm_forward(
        request.spec,
        request.params,
        request.x,
        lengths=request.lengths,
        initial_states=request.initial_states,
        batch_first=request.batch_first,
    )


def skip_if_unsupported(backend: Backend, request: RunRequest) -> None:
    """Skip the calling test, with the backend's reasons, when it cannot run ``request``."""
    if not backend.availability.available:
        pytest.skip(f"{backend.name} unavailable: {backend.availability.reason}")
    reasons = backend.unsupported(request.config())
    if reasons:
        pytest.skip(f"{backend.name} unsupported: {'; '.join(reasons)}")


def expect_deviation(node: pytest.Item, deviation: KnownDeviation | None) -> None:
    """Turn the test into a strict xfail that accepts only this deviation reproducing."""
    if deviation is not None:
        node.add_marker(pytest.mark.xfail(raises=DeviationReproduced, strict=True, reason=deviation.describe()))


def run_backend(backend: Backend, request: RunRequest, deviation: KnownDeviation | None) -> LSTMResult:
    """The backend's result; a run failure is a reproduced deviation when one says it fails."""
    try:
        return backend.adapter.run(request)
    except UnsupportedCase as unsupported:
        pytest.skip(f"{backend.name} unsupported: {'; '.join(unsupported.reasons)}")
    except Exception as error:
        if deviation is not None and "run" in deviation.quantities:
            raise DeviationReproduced(f"{deviation.describe()}: {type(error).__name__}: {error}") from error
        raise


def judge(comparisons: list[Comparison], deviation: KnownDeviation | None) -> None:
    """Fail on any mismatch the deviation does not cover; raise DeviationReproduced when only
    the deviation's quantities mismatch."""
    failed = [comparison for comparison in comparisons if not comparison.passed]
    unexpected = [comparison for comparison in failed if deviation is None or comparison.quantity not in deviation.quantities]
    report = "\n".join(comparison.describe() for comparison in comparisons)
    if unexpected:
        raise AssertionError(f"values differ beyond their tolerance:\n{report}")
    if failed:
        raise DeviationReproduced(f"{deviation.describe()}\n{report}")


@dataclass(frozen=True)
class PreparedCase:
    """A case ready to run on a backend: its data, request and the deviation it may show."""

    backend: Backend
    case: Case
    data: CaseData
    request: RunRequest
    deviation: KnownDeviation | None

    def run(self, request: RunRequest | None = None) -> LSTMResult:
        """The backend's result for ``request`` (default: the case's own)."""
        return run_backend(self.backend, request or self.request, self.deviation)


def prepare(backend_case: tuple[Backend, Case], check: str, node: pytest.Item, record) -> PreparedCase:
    """Record what is tested, skip what the backend cannot run, and arm the known deviation
    registered for this backend, check and request."""
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
    )
    skip_if_unsupported(backend, request)
    deviation = find_deviation(backend.name, check, request)
    expect_deviation(node, deviation)
    record(deviation=deviation.name if deviation else None)
    return PreparedCase(backend, case, data, request, deviation)


def conclude(comparisons: list[Comparison], deviation: KnownDeviation | None, record) -> None:
    """Record the comparisons, then judge them."""
    record(comparisons=[comparison.as_record() for comparison in comparisons])
    judge(comparisons, deviation)
