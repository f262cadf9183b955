"""Running one case on a backend and on the oracle, and judging the comparisons."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import pytest

from adapters.base import RunRequest, UnsupportedCase
from adapters.errors import AdapterError, as_adapter_error
from reference import LSTMGradients, LSTMResult

from conformance.run.backends import Backend
from conformance.cases.table import Case, CaseData, make_data, request_for
from conformance.judge.compare import Comparison
from conformance.deviations import DeviationReproduced, KnownDeviation, find_deviations
from conformance.judge.diagnosis import Diagnosis
from conformance.run.isolation import IsolatedAdapter
from conformance.deviations.modelling import Judging, Run, judged_against_models
from conformance.judge.tolerances import regime_scale


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


def run_backend(backend: Backend, call, deviations: tuple[KnownDeviation, ...], record) -> object:
    """``call()``'s result. A refusal skips; an exception the adapter's own code raised
    (:mod:`adapters.errors`; already classified in an isolated backend's process) is
    recorded as an adapter error and fails the test as one, never as a finding about the
    backend; the framework's failure is a reproduced deviation when a deviation says the run fails."""
    try:
        return call()
    except UnsupportedCase as unsupported:
        pytest.skip(f"{backend.name} unsupported: {'; '.join(unsupported.reasons)}")
    except Exception as error:
        # An isolated backend's process classified it already, where its traceback was.
        classified = error if isinstance(backend.adapter, IsolatedAdapter) else as_adapter_error(error, backend.adapter)
        if isinstance(classified, AdapterError):
            record(adapter_error=classified.as_record())
            if classified is error:
                raise
            raise classified from error
        if any("run" in deviation.quantities for deviation in deviations):
            raise DeviationReproduced(f"{describe_deviations(deviations)}: {type(error).__name__}: {error}") from error
        raise


def judgement_counts(comparisons: list[Comparison], deviations: tuple[KnownDeviation, ...], modelled: bool) -> dict[str, int]:
    """How many of a record's comparisons were judged against the oracle, against a
    deviation's model (``modelled``: the record was held to its armed deviations' models),
    and not at all (where those deviations excused a mismatch: quantities of an armed
    deviation without a model)."""
    counts = {"oracle": 0, "model": 0, "not_judged": 0}
    excused = modelled or any(not comparison.passed for comparison in comparisons)
    unmodelled = frozenset().union(*(deviation.quantities for deviation in deviations if deviation.model is None)) if excused else frozenset()
    named = frozenset().union(*(deviation.quantities for deviation in deviations))
    for comparison in comparisons:
        quantity = comparison.quantity.partition("[")[0]
        counts["not_judged" if quantity in unmodelled else "model" if quantity in named and modelled else "oracle"] += 1
    return counts


def judge(
    comparisons: list[Comparison], prepared: PreparedCase, record, diagnose: Callable[[frozenset[str]], Diagnosis] | None = None
) -> None:
    """Fail on any mismatch outside the armed deviations' quantities, with the verdict of
    ``diagnose(the deviations' quantities)`` recorded and in the message (a quantity
    compared per sample, ``outputs[2]``, is one of them when ``outputs`` is). Where the
    only mismatches are theirs, every run the check made is held to the deviations' models
    (:mod:`conformance.deviations.modelling`): a run that matches neither the oracle nor the model
    fails with both comparisons; DeviationReproduced when every run matches the model (or,
    for deviations without one, when the only mismatches are theirs)."""
    deviations = prepared.deviations
    allowed = frozenset().union(*(deviation.quantities for deviation in deviations))
    failed = [comparison for comparison in comparisons if not comparison.passed]
    unexpected = [comparison for comparison in failed if comparison.quantity.partition("[")[0] not in allowed]
    report = "\n".join(comparison.describe() for comparison in comparisons)
    if unexpected or not failed:
        # Everything was held to the oracle: it failed outside the deviations, or matched
        # (a strict deviation that no longer shows then fails as a strict xfail that passed).
        record(judged=judgement_counts(comparisons, deviations, modelled=False), drift_thresholds=drift_thresholds(comparisons))
    if not failed:
        pass_where_unseen(prepared, record)
    if unexpected:
        if diagnose is not None:
            diagnosis = diagnose(allowed)
            record(diagnosis=list(diagnosis.explanations), hypotheses_tried=diagnosis.tried)
            report += "\n" + diagnosis.describe()
        raise AssertionError(f"values differ beyond their tolerance:\n{report}")
    if not failed:
        return
    model, against_model = judged_against_models(prepared.runs, deviations, prepared.judging(), prepared.applying)
    record(
        judged=judgement_counts(comparisons, deviations, modelled=model is not None),
        drift_thresholds=drift_thresholds(comparisons, allowed, against_model if model is not None else None),
    )
    if model is not None:
        record(model_comparisons=[comparison.as_record() for comparison in against_model])
        if not all(comparison.passed for comparison in against_model):
            raise AssertionError(
                f"values match neither the oracle nor the model of {describe_deviations(deviations)}\n"
                f"against the oracle:\n{report}\nagainst the model ({model.summary}):\n" + "\n".join(comparison.describe() for comparison in against_model)
            )
    matched = f"\nmatches its model: {worst_ratio(against_model):.3g} of the tolerance at worst" if model is not None else ""
    raise DeviationReproduced(f"{describe_deviations(deviations)}{matched}\n{report}")


def pass_where_unseen(prepared: PreparedCase, record) -> None:
    """A run of a case with deviations armed that matches the oracle, and the model of every
    armed deviation as well, cannot tell them apart there: at this case's tolerances the
    models and the oracle agree (a peephole term too small to see in bfloat16, say). Such a
    case passes on the oracle's judgement, its unseen deviations recorded, instead of failing
    as a strict xfail that passed. Where a deviation has no model, or the run does not match
    its model (the backend may have been fixed), it still fails so."""
    deviations = prepared.deviations
    if not deviations or prepared.node is None or any(deviation.model is None for deviation in deviations):
        return
    model, against_model = judged_against_models(prepared.runs, deviations, prepared.judging(), prepared.applying)
    if model is None or not all(comparison.passed for comparison in against_model):
        return
    record(deviations_unseen=[deviation.name for deviation in deviations], model_comparisons=[comparison.as_record() for comparison in against_model])
    prepared.node.own_markers[:] = [mark for mark in prepared.node.own_markers if not (mark.name == "xfail" and mark.kwargs.get("raises") is DeviationReproduced)]


def drift_thresholds(
    comparisons: list[Comparison], excused: frozenset[str] = frozenset(), against_model: list[Comparison] | None = None
) -> dict[str, float | None]:
    """Per compared quantity, the smallest relative drift the comparison judging it fails
    (:mod:`conformance.judge.power`): the oracle's comparison, except for the ``excused``
    quantities (an armed deviation's), which the model's comparisons of every run judge
    (the smallest of theirs), or nothing (None) where no model does."""
    thresholds: dict[str, float | None] = {}
    for comparison in comparisons:
        quantity = comparison.quantity.partition("[")[0]
        if quantity not in excused:
            thresholds[comparison.quantity] = comparison.drift_threshold
            continue
        modelled = [other.drift_threshold for other in against_model or () if other.quantity.partition("[")[0] == quantity]
        found = [threshold for threshold in modelled if threshold is not None]
        thresholds[comparison.quantity] = min(found) if found else None
    return thresholds


def worst_ratio(comparisons: list[Comparison]) -> float:
    """The largest error as a share of its tolerance (0 for none)."""
    ratios = [comparison.max_abs_error / comparison.tolerance if comparison.tolerance > 0 else (0.0 if comparison.max_abs_error == 0 else float("inf")) for comparison in comparisons]
    return max(ratios, default=0.0)


@dataclass(frozen=True)
class PreparedCase:
    """A case ready to run on a backend: its data, request, the deviations it may show, and
    every run made of it (what a deviation's model is checked against)."""

    backend: Backend
    case: Case
    data: CaseData
    request: RunRequest
    deviations: tuple[KnownDeviation, ...]
    record: Callable[..., None]
    runs: list[Run] = field(default_factory=list)
    # The test, whose xfail the armed deviations made (see :func:`pass_where_unseen`).
    node: pytest.Item | None = None

    def check_declared(self, request: RunRequest, gradients: bool = False) -> None:
        """Skip a request a check derived from the case's own (another layout, one sample,
        another thread count) that asks what the backend does not run (:mod:`adapters.support`):
        it is never sent what it did not declare."""
        if request is not self.request:
            reasons = self.backend.unsupported(request.config(gradients))
            if reasons:
                pytest.skip(f"{self.backend.name} unsupported: {'; '.join(reasons)}")

    def run(self, request: RunRequest | None = None, adapter=None) -> LSTMResult:
        """The backend's result for ``request`` (default: the case's own), through ``adapter``
        (default: the backend's own; another process of it, say)."""
        request = request or self.request
        adapter = adapter or self.backend.adapter
        self.check_declared(request)
        result = run_backend(self.backend, lambda: adapter.run(request), self.deviations, self.record)
        self.runs.append(Run(request, result))
        return result

    def gradients(self, upstream: LSTMResult, request: RunRequest | None = None) -> LSTMGradients:
        """The backend's gradients for ``request`` (default: the case's own) and ``upstream``."""
        request = request or self.request
        self.check_declared(request, gradients=True)
        result = run_backend(self.backend, lambda: self.backend.adapter.gradients(request, upstream), self.deviations, self.record)
        self.runs.append(Run(request, result, upstream))
        return result

    def applying(self, run: Run) -> tuple[KnownDeviation, ...]:
        """The backend's deviations that apply to a run's request, under the check of its kind
        (forward or gradients)."""
        check = "forward" if run.upstream is None else "gradients"
        return find_deviations(self.backend.name, check, run.request, version=self.backend.availability.version)

    def judging(self) -> Judging:
        """How this case's runs are held to a model (see :class:`conformance.deviations.modelling.Judging`)."""
        return Judging(self.backend.conventions(self.request.config()), regime_scale(self.case.regime), self.case.measured_tolerances)


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
    return PreparedCase(backend, case, data, request, deviations, record, node=node)


def conclude(comparisons: list[Comparison], prepared: PreparedCase, record, diagnose: Callable[[frozenset[str]], Diagnosis] | None = None) -> None:
    """Record the comparisons, then judge them (``diagnose``: see :func:`judge`)."""
    record(comparisons=[comparison.as_record() for comparison in comparisons])
    judge(comparisons, prepared, record, diagnose)
