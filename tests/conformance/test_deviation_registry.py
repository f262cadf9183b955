"""The registry of known deviations stays true: every reproducer reproduces, alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.deviations import CHECK_TESTS, KNOWN_DEVIATIONS

ROOT = Path(__file__).resolve().parents[2]


def test_names_are_unique_and_checks_known():
    names = [deviation.name for deviation in KNOWN_DEVIATIONS]
    assert len(names) == len(set(names))
    for deviation in KNOWN_DEVIATIONS:
        assert set(deviation.checks) <= set(CHECK_TESTS), deviation.name
        assert deviation.quantities and deviation.versions_seen, deviation.name


def test_every_reproducer_runs_alone_and_reproduces(tmp_path):
    for module in ("torch", "paddle", "onnxruntime", "onnxscript", "paddle2onnx"):
        pytest.importorskip(module)
    report = tmp_path / "reproducers.json"
    node_ids = [deviation.reproducer_test for deviation in KNOWN_DEVIATIONS]
    process = subprocess.run(
        [sys.executable, "-m", "pytest", *node_ids, "-p", "no:cacheprovider", "-q", "--parity-json", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stdout[-3000:]
    outcomes = {record["test"]: (record["outcome"], record["reason"]) for record in json.loads(report.read_text())["records"]}
    for deviation in KNOWN_DEVIATIONS:
        outcome, reason = outcomes[deviation.reproducer_test]
        assert outcome == "known_deviation", (deviation.name, outcome, reason)
        assert deviation.name in reason, (deviation.name, reason)
