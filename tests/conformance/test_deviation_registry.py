"""The registry of known deviations stays true: every reproducer reproduces, alone."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import quickstart
from adapters.registry import BUILTIN_ADAPTERS, EXEC_PREFIX
from conformance import deviations
from conformance.cases.table import Case
from conformance.deviations import CHECK_TESTS, KnownDeviation, Releases, registered_deviations
from conformance.deviations.known import KNOWN_DEVIATIONS

ROOT = Path(__file__).resolve().parents[2]


def test_names_are_unique_and_checks_known():
    names = [deviation.name for deviation in KNOWN_DEVIATIONS]
    assert len(names) == len(set(names))
    for deviation in KNOWN_DEVIATIONS:
        assert set(deviation.checks) <= set(CHECK_TESTS), deviation.name
        assert deviation.quantities, deviation.name


def test_the_built_in_table_comes_through_the_entry_point_plug_ins_use():
    """The mechanism imports neither the table nor any adapter; the table arrives as the
    project's own entry of the plug-ins' group, first and whole."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, conformance.deviations; print(sorted(m for m in sys.modules if m.startswith(('adapters', 'conformance'))))"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    modules = json.loads(loaded.replace("'", '"'))
    assert "conformance.deviations.known" not in modules
    adapter_modules = {reference.partition(":")[0] for reference in BUILTIN_ADAPTERS.values() if not reference.startswith(EXEC_PREFIX)}
    assert adapter_modules and adapter_modules.isdisjoint(modules), sorted(adapter_modules & set(modules))
    assert [deviation.name for deviation in registered_deviations()[: len(KNOWN_DEVIATIONS)]] == [deviation.name for deviation in KNOWN_DEVIATIONS]


def test_without_the_projects_own_entry_the_registry_says_to_install_it(monkeypatch):
    monkeypatch.setattr(deviations, "entry_points", lambda group: [])
    with pytest.raises(RuntimeError, match=r"expected the entry point 'lstm-conformance' of group 'lstm_conformance.deviations'.*got \[\]: install the project"):
        registered_deviations.__wrapped__()


def test_every_built_in_deviation_has_measured_versions_and_the_scoreboard_agrees():
    """Each built-in deviation's versions come from the committed scoreboard: the registry
    gives exactly what the scoreboard measured it reproducing on, and never nothing."""
    scoreboard = json.loads((ROOT / "reports" / "scoreboard.json").read_text(encoding="utf-8"))
    measured = {entry["name"]: entry["versions_seen"] for entry in scoreboard["deviations"]}
    registered = {deviation.name: deviation for deviation in registered_deviations()}
    for deviation in KNOWN_DEVIATIONS:
        assert measured.get(deviation.name), f"{deviation.name}: the committed scoreboard never saw it reproduce"
        assert list(registered[deviation.name].versions_seen) == measured[deviation.name], deviation.name


@pytest.mark.full_depth
def test_every_reproducer_runs_alone_and_reproduces(tmp_path):
    for module in ("torch", "paddle", "onnxruntime", "onnxscript", "paddle2onnx"):
        pytest.importorskip(module)
    # A backend with an environment of its own (quickstart.py builds it) runs there; where
    # that environment is missing, its reproducers cannot run.
    separate = {name: quickstart.executable(environment, "python") for name, (environment, _) in quickstart.SEPARATE_ENVIRONMENTS.items()}
    interpreters = [f"--interpreter={name}={python}" for name, python in separate.items() if python.exists()]
    deviations = [deviation for deviation in KNOWN_DEVIATIONS if deviation.backend not in separate or separate[deviation.backend].exists()]
    report = tmp_path / "reproducers.json"
    node_ids = [deviation.reproducer_test for deviation in deviations]
    process = subprocess.run(
        [sys.executable, "-m", "pytest", *node_ids, *interpreters, "-p", "no:cacheprovider", "-q", "--parity-json", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stdout[-3000:]
    records = {record["test"]: record for record in json.loads(report.read_text())["records"]}
    for deviation in deviations:
        record = records[deviation.reproducer_test]
        outcome, reason = record["outcome"], record["reason"]
        if not deviation.exists_in(record.get("backend_version", "")):
            # Outside the releases it exists in, its reproducer runs without it armed: it passes, or
            # ends as another deviation of that release (OpenVINO 2024.6 refuses peepholes, later
            # releases drop them silently).
            assert deviation.name not in record["deviations"] and deviation.name not in reason, (deviation.name, outcome, reason)
            assert outcome == "pass" or (outcome == "known_deviation" and record["deviations"]), (deviation.name, outcome, reason)
            continue
        assert outcome == "known_deviation", (deviation.name, outcome, reason)
        assert deviation.name in reason, (deviation.name, reason)


def test_the_shipped_reproducer_check_names_each_kind_of_broken_reproducer():
    from conformance.run.backends import BackendPool
    from conformance.test_deviation_reproducers import reproducer_problems

    pool = BackendPool(["adapters.example:ExampleAdapter"], isolate=False)
    (backend,) = pool.backends
    good = KnownDeviation(
        name="good", backend=backend.name, checks=("forward",), summary="", quantities=frozenset({"c_n"}),
        applies=lambda request: True, reproducer=pool.case_tables[backend.name][0].id, versions_seen=("0",),
    )
    broken = [
        replace(good, name="bad-id", reproducer="L1-nonsense"),
        replace(good, name="not-run", reproducer=good.reproducer.replace("L1-fwd", "L2-bidir")),
        replace(good, name="not-armed", applies=lambda request: False),
    ]
    assert reproducer_problems(backend, pool, [good]) == []
    problems = reproducer_problems(backend, pool, broken)
    assert [problem.split(":")[0] for problem in problems] == ["bad-id", "not-run", "not-armed"]
    assert "is not among the cases forward runs" in problems[1] and "not armed on its own reproducer" in problems[2]


def test_a_deviation_with_releases_exists_only_in_them():
    releases = Releases("3.12", "3.13")
    assert "3.12.0 on torch 2.13.0+cpu" in releases and "3.13.2" in releases
    assert "3.11.3 on torch 2.13.0+cpu" not in releases and "3.14.1" not in releases and "4.0" not in releases
    ranged = [deviation for deviation in registered_deviations() if deviation.releases is not None]
    assert ranged, "no built-in deviation is limited to some releases"
    for deviation in ranged:
        assert deviation.exists_in("") and not deviation.exists_in("0.0.1")
        assert all(version in deviation.releases for version in deviation.versions_seen), deviation.name


def test_a_reproducer_the_backend_cannot_run_is_excused_only_where_the_deviation_was_never_seen():
    """A version that lacks what a deviation needs cannot show it (Paddle 2.6 has no projection);
    on a version the deviation was seen on, or one in its releases with nothing excusing it,
    the reproducer must run."""
    from conformance.run.backends import BackendPool
    from conformance.test_deviation_reproducers import shows_here

    pool = BackendPool(["adapters.example:ExampleAdapter"], isolate=False)
    (backend,) = pool.backends
    version = backend.availability.version
    runnable = pool.case_tables[backend.name][0]
    unrunnable = runnable.id.replace("-none-", "-mixed-")  # the example backend takes no lengths
    assert not backend.supports(Case.from_id(unrunnable))
    deviation = KnownDeviation(
        name="lengths-only", backend=backend.name, checks=("forward",), summary="", quantities=frozenset({"c_n"}),
        applies=lambda request: True, reproducer=unrunnable, versions_seen=("0.0.0-elsewhere",),
    )
    assert not shows_here(backend, deviation)
    assert shows_here(backend, replace(deviation, versions_seen=(version,)))
    assert shows_here(backend, replace(deviation, reproducer=runnable.id))
    assert not shows_here(backend, replace(deviation, reproducer=runnable.id, releases=Releases("0.0.1", "0.0.2")))
