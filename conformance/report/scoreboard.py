"""The scoreboard: for each registered deviation and each measured version of its backend,
whether it reproduces; per backend version, how its tests ended.

It is built from parity documents of runs on different framework versions (``lstm-parity
matrix`` writes them; any run's parity.json counts), merged first. A deviation *reproduces*
on a version when a test that arms it ended as that known deviation there; it *does not*
when the tests that arm it passed instead (a strict xfail that passed: the run reports it
as a failure, the scoreboard as fixed); it is *not runnable* when no test of that version
armed it (the backend could not be imported, or runs none of the cases it applies to) or
every such test failed otherwise. Outside the releases a deviation is registered for it is
not armed: there it does not reproduce when every test of that version passed or is
explained, and is not runnable otherwise. A deviation's measured versions are those it
reproduces on; :func:`versions_seen` gives them, in version order, to the registry. Deviations are
judged as the installed registry describes them (:func:`with_registry`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from conformance.deviations import Releases, registered_deviations
from conformance.report.content import Page, Section, Span, Table, counted, counts_span
from conformance.report.summary import count_outcomes

REPRODUCES = "reproduces"
FIXED = "does not reproduce"
NOT_RUNNABLE = "not runnable"
VERDICT_TONES = {REPRODUCES: "deviation", FIXED: "pass", NOT_RUNNABLE: "unsupported"}
# A strict xfail that passed: pytest's failure message starts with this.
STRICT_XPASS = "[XPASS(strict)]"
NUMBER = re.compile(r"\d+")
# How many of a version's most frequent failure messages the scoreboard lists.
TOP_FAILURES = 3


def version_key(version: str) -> tuple:
    """Sort key of a version string by its numbers (``3.10.0`` after ``3.9.1``), then its text."""
    return tuple(int(number) for number in NUMBER.findall(version)), version


def backend_version_of(records: list[dict]) -> str:
    """The version a group of records reports (the first one that does)."""
    return next((record["backend_version"] for record in records if record.get("backend_version")), "")


def columns(document: dict) -> dict[str, dict[str, list[dict]]]:
    """Backend -> version -> its records, versions in version order. A run whose records of a
    backend report no version (the backend could not be imported) is a column of its own,
    named after the run."""
    grouped: dict[tuple[str, str], list[dict]] = {}
    for record in document["records"]:
        grouped.setdefault((record["backend"], record.get("run", "")), []).append(record)
    by_backend: dict[str, dict[str, list[dict]]] = {}
    for (backend, run), records in grouped.items():
        version = backend_version_of(records) or f"{run} (not imported)"
        by_backend.setdefault(backend, {}).setdefault(version, []).extend(records)
    return {backend: dict(sorted(versions.items(), key=lambda item: version_key(item[0]))) for backend, versions in sorted(by_backend.items())}


@dataclass(frozen=True)
class Verdict:
    """One deviation on one version: the verdict, how many tests armed it, how many of those
    reproduced it, the runs they came from, and the reason: why it could not run (``not
    runnable``), or, outside the releases it exists in, why it counts as not reproducing."""

    verdict: str
    armed: int
    reproduced: int
    reason: str = ""
    runs: int = 1

    def describe(self) -> str:
        over = f" over {self.runs} runs" if self.runs > 1 else ""
        if self.verdict == REPRODUCES:
            return f"{REPRODUCES} ({self.reproduced} of {counted(self.armed, 'test')}{over})"
        if self.verdict == FIXED and self.reason:
            return f"{FIXED} ({self.reason})"
        if self.verdict == FIXED:
            return f"{FIXED} ({self.armed - self.reproduced} of {counted(self.armed, 'test')} pass{over})"
        return f"{NOT_RUNNABLE}: {self.reason}"


def is_strict_pass(record: dict) -> bool:
    """A test that armed deviations and passed: a strict xfail that passed, or a pass."""
    return record["outcome"] == "pass" or (record["outcome"] == "fail" and record["reason"].startswith(STRICT_XPASS))


def outside_releases(deviation: dict, version: str, records: list[dict]) -> Verdict | None:
    """For a deviation registered for some releases only, at a version outside them: not armed
    there, so it does not reproduce when that version's tests all passed or are explained,
    and cannot be judged otherwise. None inside its releases (or without any)."""
    if "releases_range" not in deviation or version in Releases(*deviation["releases_range"]):
        return None
    where = f"not armed outside releases {deviation['releases']}"
    if unexplained_failures(records):
        return Verdict(NOT_RUNNABLE, 0, 0, f"{where}, and this version has failures nothing explains")
    return Verdict(FIXED, 0, 0, f"{where}; every test passed or is explained")


def verdict(names: tuple[str, ...], records: list[dict]) -> Verdict:
    """The deviation of ``names`` (its name, then any it had before) on one version, judged
    from that version's records of its backend."""
    armed = [record for record in records if any(name in record.get("deviations", ()) for name in names)]
    reproduced = sum(record["outcome"] == "known_deviation" for record in armed)
    runs = len({record.get("run", "") for record in armed})
    if reproduced:
        return Verdict(REPRODUCES, len(armed), reproduced, runs=runs)
    if any(is_strict_pass(record) for record in armed):
        return Verdict(FIXED, len(armed), 0, runs=runs)
    if armed:
        reasons = Counter(record["reason"] for record in armed)
        return Verdict(NOT_RUNNABLE, len(armed), 0, f"every test that arms it failed otherwise ({reasons.most_common(1)[0][0]})")
    skipped = [record["reason"] for record in records if record["outcome"] == "unsupported"]
    if records and len(skipped) == len(records):
        return Verdict(NOT_RUNNABLE, 0, 0, Counter(skipped).most_common(1)[0][0])
    return Verdict(NOT_RUNNABLE, 0, 0, "no test of this version arms it (the backend runs none of the cases it applies to)")


@dataclass(frozen=True)
class DeviationRow:
    name: str
    backend: str
    summary: str
    verdicts: dict[str, Verdict]

    @property
    def seen(self) -> list[str]:
        """The versions it reproduces on, in version order."""
        return [version for version, found in self.verdicts.items() if found.verdict == REPRODUCES]


def with_registry(document: dict) -> dict:
    """``document`` with each deviation the installed registry knows described as the registry
    describes it now (its summary, checks, releases...), keeping the versions the document
    saw it on: records written before a deviation was limited to some releases are judged
    by its releases as they stand, and those armed under a name it had before as armed
    under its name now. Deviations the registry does not know (a plug-in not
    installed here) stay as the records describe them."""
    current = {name: deviation.as_record() for deviation in registered_deviations() for name in (deviation.name, *deviation.formerly)}
    deviations: dict[str, dict] = {}
    for entry in document["deviations"]:
        described = {**current[entry["name"]], "versions_seen": entry["versions_seen"]} if entry["name"] in current else entry
        known = deviations.setdefault(described["name"], described)
        known["versions_seen"] = list(dict.fromkeys([*known["versions_seen"], *described["versions_seen"]]))
    return {**document, "deviations": list(deviations.values())}


def deviation_rows(document: dict) -> list[DeviationRow]:
    """One row per registered deviation of the document: its verdict on each measured version
    of its backend."""
    by_backend = columns(document)
    return [
        DeviationRow(
            deviation["name"],
            deviation["backend"],
            deviation["summary"],
            {
                version: outside_releases(deviation, version, records) or verdict((deviation["name"], *deviation.get("formerly", ())), records)
                for version, records in by_backend.get(deviation["backend"], {}).items()
            },
        )
        for deviation in sorted(document["deviations"], key=lambda deviation: (deviation["backend"], deviation["name"]))
    ]


def versions_seen(document: dict) -> dict[str, list[str]]:
    """Deviation name -> the versions it was measured to reproduce on, in version order."""
    return {row.name: row.seen for row in deviation_rows(document)}


def unexplained_failures(records: list[dict]) -> Counter:
    """Failure messages of tests that failed for a reason no registered deviation explains
    (a strict xfail that passed is a fixed deviation, not counted here)."""
    return Counter(record["reason"].splitlines()[0][:200] if record["reason"] else "" for record in records if record["outcome"] == "fail" and not is_strict_pass(record))


def deviation_section(document: dict) -> Section:
    """Per backend, a table deviation x version with first and last version seen."""
    subsections = []
    by_backend = columns(document)
    for backend in by_backend:
        rows = [row for row in deviation_rows(document) if row.backend == backend]
        if not rows:
            continue
        versions = list(by_backend[backend])
        table = Table(
            ("deviation", *versions, "first seen", "last seen"),
            tuple(
                (
                    Span(row.name, code=True),
                    *(Span(row.verdicts[version].describe(), tone=VERDICT_TONES[row.verdicts[version].verdict]) for version in versions),
                    row.seen[0] if row.seen else "never",
                    row.seen[-1] if row.seen else "never",
                )
                for row in rows
            ),
        )
        subsections.append(Section(backend, notes=tuple((Span(row.name, code=True), f": {row.summary}") for row in rows), tables=(table,)))
    return Section(
        "Deviations by version",
        notes=((f"{REPRODUCES}: a test that arms the deviation ended as it; {FIXED}: the tests that arm it passed; "
                f"{NOT_RUNNABLE}: no test of that version could show it (with the reason).",),),
        subsections=tuple(subsections),
    )


def version_section(document: dict) -> Section:
    """Per backend and version: outcome counts, and the most frequent failures no registered
    deviation explains."""
    rows = []
    for backend, versions in columns(document).items():
        for version, records in versions.items():
            by_run: dict[str, list[dict]] = {}
            for record in records:
                by_run.setdefault(record.get("run", ""), []).append(record)
            for run, run_records in by_run.items():
                failures = unexplained_failures(run_records)
                listed = "; ".join(f"{count}x {message}" for message, count in failures.most_common(TOP_FAILURES))
                rows.append((Span(backend, code=True), version, run, counts_span(count_outcomes(run_records)), str(sum(failures.values())), listed))
    return Section(
        "Outcomes by version",
        notes=(("One row per backend, version and run. Cells: pass / fail / unsupported / known deviation. Unexplained failures "
                "are failures no registered deviation accounts for (a deviation that no longer reproduces is counted under "
                "Deviations by version instead).",),),
        tables=(Table(("backend", "version", "run", "outcomes", "unexplained failures", "most frequent"), tuple(rows)),),
    )


def skipped_section(skipped: list[dict]) -> Section:
    """The versions a matrix could not run (``matrix.json`` entries), with the installer's reason."""
    if not skipped:
        return Section("Versions not run", notes=(("Every version the matrix lists ran.",),))
    return Section(
        "Versions not run",
        notes=(("Versions the matrix lists but could not install here, in the installer's words.",),),
        tables=(Table(("package", "version", "why"), tuple((Span(entry["package"], code=True), entry["version"], entry["reason"]) for entry in skipped)),),
    )


def scoreboard_page(document: dict, skipped: list[dict] | None = None) -> Page:
    """The scoreboard of a (merged) parity document; ``skipped``: the versions a matrix could
    not run (``matrix.json`` entries whose status is ``skipped``)."""
    runs = document.get("runs") or [{"label": "this run"}]
    return Page(
        "LSTM conformance scoreboard",
        ((f"Built from {counted(len(runs), 'run')}: {', '.join(run['label'] for run in runs)}.",),),
        (deviation_section(document), version_section(document), skipped_section(skipped or [])),
    )
