"""One verdict per backend, the first thing the parity page says: does it conform, what is
wrong with it if not, how close it came to its tolerances, how small a drift the run would
have noticed, and what it cannot run here. :func:`backend_verdicts` gathers them from the
document (pure data, as :mod:`.summary` does); :func:`verdict_section` shows them, a line each."""

from __future__ import annotations

from dataclasses import dataclass

from conformance.probes.capabilities import capability_tables
from conformance.judge.power import BELOW_RESOLUTION, blind_spots, format_threshold, power_table
from conformance.record_columns import column
from conformance.report.content import NOTHING_RAN, OUTCOME_SYMBOLS, Cell, Inline, Section, Span, Table, counted
from conformance.report.summary import backend_names, outcomes_by_backend, tolerance_ratios


@dataclass(frozen=True)
class BackendVerdict:
    """What a run says of one backend (its report column).

    ``failures``: records where the backend differs; ``adapter_errors``: failures its
    adapter's own code raised; ``findings``: the known deviations its records reproduced, by
    name; ``ran``: records that ran at all (not unsupported). ``worst_ratio``: the largest
    max abs error / tolerance of its comparisons with the oracle, in ``worst_dtype`` (None:
    none compared). ``weakest_threshold``: over the factor levels it ran whose dtype or
    regime does not explain it (:data:`conformance.judge.power.BELOW_RESOLUTION`), the largest of
    the smallest drifts its checks notice, at ``weakest_level`` (None with an empty level:
    no thresholds recorded; None at a level: a level where nothing was judged);
    ``blind_spots``: levels where no drift up to the blind-spot bound is noticed.
    ``cannot_run``: (feature, reason) for each feature its capability table refuses."""

    backend: str
    failures: int
    adapter_errors: int
    findings: tuple[str, ...]
    ran: int
    worst_ratio: float | None
    worst_dtype: str
    weakest_threshold: float | None
    weakest_level: str
    blind_spots: int
    cannot_run: tuple[tuple[str, str], ...]

    @property
    def conforms(self) -> bool:
        """Everything that ran agreed with the oracle, and something ran."""
        return not (self.failures or self.adapter_errors or self.findings) and self.ran > 0


def reproduced_findings(document: dict) -> dict[str, tuple[str, ...]]:
    """Per backend column, the names of the known deviations its records reproduced, sorted."""
    found: dict[str, set[str]] = {}
    for record in document["records"]:
        if record["outcome"] == "known_deviation":
            found.setdefault(column(record), set()).update(record.get("deviations", []))
    return {backend: tuple(sorted(names)) for backend, names in found.items()}


def weakest_levels(document: dict) -> dict[str, tuple[float | None, str, int]]:
    """Per backend column: the weakest threshold over the levels the resolution does not
    explain, its level (the first in level order at a tie), and the number of blind spots."""
    table = power_table(document["records"])
    spots = blind_spots(table)
    weakest = {}
    for backend, levels in table.items():
        judged = {level: targets for level, targets in levels.items() if level not in BELOW_RESOLUTION and targets}
        worst: tuple[float | None, str] = (0.0, "") if judged else (None, "")
        for level, targets in judged.items():
            threshold = None if None in targets.values() else max(targets.values())
            if worst[0] is not None and (threshold is None or threshold > worst[0]):
                worst = (threshold, level)
        weakest[backend] = (*worst, len({level for spot_backend, level, _ in spots if spot_backend == backend}))
    return weakest


def backend_verdicts(document: dict) -> list[BackendVerdict]:
    """Every backend of the document's verdict, by name."""
    outcomes = outcomes_by_backend(document)
    findings = reproduced_findings(document)
    ratios: dict[str, tuple[float, str]] = {}
    for distribution in tolerance_ratios(document):
        if distribution.backend not in ratios or distribution.largest > ratios[distribution.backend][0]:
            ratios[distribution.backend] = (distribution.largest, distribution.dtype)
    weakest = weakest_levels(document)
    capabilities = capability_tables(document["records"])
    verdicts = []
    for backend in backend_names(document):
        counts = outcomes[backend]
        threshold, level, spots = weakest.get(backend, (None, "", 0))
        worst_ratio, worst_dtype = ratios.get(backend, (None, ""))
        verdicts.append(
            BackendVerdict(
                backend=backend,
                failures=counts["fail"],
                adapter_errors=counts["adapter_error"],
                findings=findings.get(backend, ()),
                ran=counts["pass"] + counts["fail"] + counts["known_deviation"] + counts["adapter_error"],
                worst_ratio=worst_ratio,
                worst_dtype=worst_dtype,
                weakest_threshold=threshold,
                weakest_level=level,
                blind_spots=spots,
                cannot_run=tuple((feature, reason) for feature, reason in capabilities.get(backend, {}).items() if reason),
            )
        )
    return verdicts


def verdict_cell(verdict: BackendVerdict) -> Span:
    """The verdict: conforms, or what is wrong (failures, adapter errors, findings), toned."""
    if verdict.conforms:
        return Span(f"{OUTCOME_SYMBOLS['pass']} conforms", tone="pass")
    if not verdict.ran:
        return Span(f"{NOTHING_RAN} nothing ran", tone="unsupported")
    wrong = ((verdict.failures, "failure"), (verdict.adapter_errors, "adapter error"), (len(verdict.findings), "finding"))
    text = ", ".join(counted(count, word) for count, word in wrong if count)
    if verdict.failures or verdict.adapter_errors:
        return Span(f"{OUTCOME_SYMBOLS['fail']} {text}", tone="fail")
    return Span(f"{OUTCOME_SYMBOLS['known_deviation']} {text}", tone="deviation")


def findings_cell(verdict: BackendVerdict) -> Cell:
    """The findings' names, each a link to its section (the backend's own prefix left off)."""
    if not verdict.findings:
        return "none"
    links: list[Inline] = []
    for name in verdict.findings:
        links += [", "] if links else []
        links.append(Span(name.removeprefix(f"{verdict.backend}-"), section=name, detail=name))
    return tuple(links)


def ratio_cell(verdict: BackendVerdict) -> Inline:
    """The worst error against its tolerance, with its dtype; toned as a failure above 1."""
    if verdict.worst_ratio is None:
        return "-"
    return Span(f"{verdict.worst_ratio:.2g} ({verdict.worst_dtype})", tone="fail" if verdict.worst_ratio > 1 else "")


def threshold_cell(verdict: BackendVerdict) -> Inline:
    """The smallest drift noticed at every level (its weakest level named), and blind spots."""
    if not verdict.weakest_level:
        return "not recorded"
    spots = f"; {counted(verdict.blind_spots, 'blind spot')}" if verdict.blind_spots else ""
    text = f"{format_threshold(verdict.weakest_threshold)} ({verdict.weakest_level}){spots}"
    return Span(text, tone="fail" if verdict.blind_spots else "", section="Detection thresholds")


def cannot_run_cell(verdict: BackendVerdict) -> Inline:
    """How many features the backend refuses, the features and reasons on hover."""
    if not verdict.cannot_run:
        return "nothing"
    detail = "\n".join(f"{feature}: {reason}" for feature, reason in verdict.cannot_run)
    return Span(counted(len(verdict.cannot_run), "feature"), tone="unsupported", section="Capabilities", detail=detail)


def verdict_section(document: dict) -> Section:
    """A line per backend: its verdict, worst error against tolerance, detection threshold,
    what it cannot run, and its findings."""
    verdicts = backend_verdicts(document)
    rows = tuple(
        (Span(verdict.backend, code=True), verdict_cell(verdict), ratio_cell(verdict), threshold_cell(verdict),
         cannot_run_cell(verdict), findings_cell(verdict))
        for verdict in verdicts
    )
    # The findings last, on one line: a long list runs on to the right (the table scrolls in its
    # box) instead of making its row taller, so every backend's verdict fits one screen.
    headers = ("backend", "verdict", "worst error / tolerance", "drift noticed everywhere", "cannot run", "findings (known deviations reproduced)")
    return Section(
        "Verdicts",
        tables=(Table(headers, rows, layout="lines"),) if rows else (),
        afterword=(
            ("Conforms: everything the backend ran agreed with the oracle within tolerance. A finding is a registered "
             "known deviation this run reproduced; where it has a model, the backend's values were held to it (see "
             "Findings). Worst error / tolerance: the largest over its comparisons with the oracle (above 1 fails). "
             "Drift noticed everywhere: the smallest relative drift of the backend's values that some check would have "
             f"failed at every factor level it ran, and the level where that is largest ({', '.join(BELOW_RESOLUTION)} "
             "apart: their own rounding is coarser; see Detection thresholds). Cannot run: the features its capability "
             "table refuses here, with the reasons on hover and under Capabilities.",),
        ) if rows else (("Nothing ran: no backend has a verdict.",),),
    )
