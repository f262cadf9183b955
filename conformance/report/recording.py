"""Recording what every comparison found, serially or under pytest-xdist.

Tests attach their record to their report through ``user_properties`` (the ``record``
fixture); pytest-xdist sends reports from workers to the controlling process, where
:class:`ParityRecorder` merges each test's phases into one record with its outcome.
Records of finished tests therefore survive a worker that crashes later, and a crashed
test arrives as a failed report of its own.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conformance.outputs import write_text_atomically
from conformance.report.environment import describe_environment
from conformance.report.schema import SCHEMA_VERSION
from conformance.cases.sharding import parse_shard

RECORD_KEY = "lstm_parity"


def outcome_of(report: pytest.TestReport) -> str:
    """pass, fail, known_deviation (an xfail that reproduced) or unsupported (skipped).
    A strict xfail that passed is a failure; a non-strict one (a deviation that shows by
    chance) that passed is a pass."""
    if hasattr(report, "wasxfail"):
        if report.skipped:
            return "known_deviation"
        return "pass" if report.passed else "fail"
    if report.skipped:
        return "unsupported"
    return "pass" if report.passed else "fail"


def skip_reason(report: pytest.TestReport) -> str:
    """The message of a skip or xfail, without pytest's location prefix."""
    if hasattr(report, "wasxfail"):
        return str(report.wasxfail)
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return ""


def failure_message(report: pytest.TestReport) -> str:
    """The exception line of a failure (type and message), at most 2000 characters."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(report.longrepr or "")
    return message[:2000]


def format_document(document: dict) -> str:
    """The document as JSON with sorted keys: indented, except that each record takes one
    compact line (thousands of records stay small and diff line by line)."""
    parts = []
    for key in sorted(document):
        if key == "records":
            records = ",\n".join(json.dumps(record, sort_keys=True, separators=(",", ":")) for record in document[key])
            value = f"[\n{records}\n]"
        else:
            value = json.dumps(document[key], indent=1, sort_keys=True)
        parts.append(f"{json.dumps(key)}: {value}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


class ParityRecorder:
    """Collects one record per recorded test in the controlling process; writes JSON at the end."""

    def __init__(self, config: pytest.Config, path: str) -> None:
        self.config = config
        self.path = Path(path)
        self.records: dict[str, dict] = {}
        self.started = datetime.now(timezone.utc)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        recorded = [value for key, value in report.user_properties if key == RECORD_KEY]
        if not recorded and report.nodeid not in self.records:
            return
        fields = {key: value for entry in recorded for key, value in entry.items()}
        record = self.records.setdefault(report.nodeid, {"test": report.nodeid, "outcome": "pass", "reason": ""})
        record.update(fields)
        outcome = outcome_of(report)
        if report.when == "call" or outcome != "pass":
            record["outcome"] = outcome
            record["reason"] = skip_reason(report) if outcome in ("unsupported", "known_deviation") else ""
            if outcome == "fail":
                record["reason"] = failure_message(report)
        record["duration_s"] = record.get("duration_s", 0.0) + report.duration

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from conformance.deviations import registered_deviations

        finished = datetime.now(timezone.utc)
        # The report speaks of the backends that ran: their deviations only.
        ran = {record.get("backend") for record in self.records.values()}
        run = {
            "started": self.started.isoformat(timespec="seconds"),
            "duration_s": (finished - self.started).total_seconds(),
            "arguments": [str(argument) for argument in self.config.invocation_params.args],
            "exit_status": int(exitstatus),
            "depth": self.config.getoption("--depth"),
        }
        shard = self.config.getoption("--shard")
        if shard:
            run["shard"] = "/".join(str(part) for part in parse_shard(shard))
        document = {
            "schema_version": SCHEMA_VERSION,
            "run": run,
            "environment": describe_environment(sorted({name for record in self.records.values() for name in record.get("packages", ())})),
            "deviations": [deviation.as_record() for deviation in registered_deviations() if deviation.backend in ran],
            "records": sorted(self.records.values(), key=lambda record: record["test"]),
        }
        write_text_atomically(self.path, format_document(document))
