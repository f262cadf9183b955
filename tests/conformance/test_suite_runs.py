"""Whole runs of the suite, in a subprocess: crash isolation, xdist equivalence, plug-ins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conformance.report.schema import parity_schema
from conformance.probes.semantics import DEFAULT_PRECISION_SITUATION as DEFAULT_PRECISION_ROW
from conformance.probes.semantics import EMPTY_STATES_SITUATION as EMPTY_STATES_ROW
from conformance.test_semantics import OFFSET_ROW

ROOT = Path(__file__).resolve().parents[2]


def run_suite(
    tmp_path: Path, name: str, *arguments: str, tests: tuple[str, ...] = ("conformance/test_forward_parity.py",), environment: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess, dict[str, dict]]:
    """Run ``tests`` (default: the forward parity tests) with ``arguments`` (and ``environment``
    added to this process's); return the process and the records by test id."""
    report = tmp_path / f"{name}.json"
    command = [sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider"]
    process = subprocess.run(
        [*command, *arguments, "--parity-json", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, **(environment or {})},
    )
    records = {record["test"]: record for record in json.loads(report.read_text())["records"]}
    return process, records


@pytest.mark.full_depth
def test_a_backend_that_crashes_fails_only_its_own_cases(tmp_path):
    process, records = run_suite(tmp_path, "crash", "--adapter", "tests.support.adapters:CrashingAdapter", "-k", "base or H16 or B1")
    assert process.returncode == 1, process.stdout[-2000:]
    assert "passed" in process.stdout.splitlines()[-1]
    by_shape: dict[str, set[str]] = {}
    for record in records.values():
        if record["outcome"] != "unsupported":
            by_shape.setdefault(record["case"]["shape"], set()).add(record["outcome"] + ":" + record["reason"].split(": ")[-1])
    assert by_shape["base"] == {"fail:signal SIGSEGV (11)"}
    assert by_shape["H16"] == {"fail:signal SIGABRT (6)"}
    assert by_shape["B1"] == {"pass:"}


@pytest.mark.full_depth
def test_xdist_gives_the_same_results_as_a_serial_run(tmp_path):
    adapter = ("--adapter", "adapters.example:ExampleAdapter")
    serial_process, serial = run_suite(tmp_path, "serial", *adapter)
    parallel_process, parallel = run_suite(tmp_path, "parallel", *adapter, "-n", "2")
    assert serial_process.returncode == parallel_process.returncode == 0
    assert len(serial) > 50
    assert {test: record["outcome"] for test, record in serial.items()} == {
        test: record["outcome"] for test, record in parallel.items()
    }
    assert {test: record["comparisons"] for test, record in serial.items() if "comparisons" in record} == {
        test: record["comparisons"] for test, record in parallel.items() if "comparisons" in record
    }


@pytest.mark.full_depth
def test_records_survive_a_worker_that_crashes(tmp_path):
    """Without isolation a segfault takes a pytest-xdist worker down; xdist reports that test
    as failed and starts another worker. Every record still reaches the report."""
    crashing = ("--adapter", "tests.support.adapters:CrashingAdapter")
    listing = subprocess.run(
        [sys.executable, "-m", "pytest", "conformance/test_forward_parity.py", "--collect-only", "-q", *crashing],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    ids = [line for line in listing.stdout.splitlines() if "::" in line]
    crash = next(test for test in ids if "-f64-base-" in test)
    passing = [test for test in ids if "-B1-" in test][:6]
    process, records = run_suite(tmp_path, "worker-crash", *crashing, "--no-isolation", "-n", "2", tests=(*passing, crash))
    assert process.returncode == 1
    assert set(records) == {crash, *passing}
    assert records[crash]["outcome"] == "fail" and "crashed" in records[crash]["reason"]
    assert records[crash]["backend"] == "crashing-example"
    jsonschema.Draft202012Validator(parity_schema()).validate(json.loads((tmp_path / "worker-crash.json").read_text()))
    assert all(records[test]["outcome"] in ("pass", "unsupported") for test in passing)


@pytest.mark.full_depth
def test_a_case_outside_the_table_reruns_alone_with_the_printed_command(tmp_path):
    """``--case`` runs any valid id (here one no covering design holds: a reverse-only
    peephole LSTM, which the example adapter cannot run, beside one it can) on every
    case-taking test; a failure prints the command that reruns it from anywhere."""
    wrong = ("--adapter", "tests.support.wrong_adapter:WrongGateOrderAdapter")
    case_id = "L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f64-B1-sat-cpu"
    process, records = run_suite(tmp_path, "case", *wrong, "--case", case_id, "--case", case_id.replace("fwd", "rev").replace("nopeep", "peep"), tests=("conformance",))
    assert process.returncode == 1, process.stdout[-2000:]
    assert {record["case_id"] for record in records.values()} == {case_id, case_id.replace("fwd", "rev").replace("nopeep", "peep")}
    kinds = {record["kind"] for record in records.values()}
    # Neither case has padded positions, so the padding checks do not apply: no test, not a skip.
    assert kinds >= {"forward", "sample_alone"} and "padding" not in kinds, kinds
    failed = [record for record in records.values() if record["outcome"] == "fail"]
    assert failed and all(record["case_id"] == case_id for record in failed)
    command = f"pytest --pyargs conformance --adapter tests.support.wrong_adapter:WrongGateOrderAdapter --case {case_id}"
    assert command in process.stdout
    # From another directory, as after installing the wheel (PYTHONPATH stands for the install).
    rerun = subprocess.run(
        [sys.executable, "-m", *command.split()], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert rerun.returncode == 1 and "failed" in rerun.stdout.splitlines()[-1], rerun.stdout[-2000:]


def test_a_bad_case_id_is_one_usage_error(tmp_path):
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "conformance", "-p", "no:cacheprovider", "--case", "L9-bad"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert process.returncode == 4
    assert process.stderr.strip().splitlines() == [
        "ERROR: --case: case_id: expected 14 '-'-separated values (layers, direction, layout, lengths, init, proj, bias, cell, "
        "clip, acts, dtype, shape, regime, device), got 'L9-bad'"
    ]


def test_a_bad_adapter_is_one_usage_error_before_collection(tmp_path):
    """Not hundreds of collection errors: one line naming what is wrong."""
    for reference, message in (
        ("tests.support.adapters:not_an_adapter", "ERROR: adapter: 'tests.support.adapters:not_an_adapter' is not an adapter: it lacks name, "),
        ("no_such_package.module:Adapter", "ERROR: adapter: cannot load 'no_such_package.module:Adapter' (No module named 'no_such_package')"),
    ):
        process = subprocess.run(
            [sys.executable, "-m", "pytest", "conformance", "-p", "no:cacheprovider", "--adapter", reference],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
        assert process.returncode == 4, process.stdout[-2000:]
        lines = process.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(message), lines


def test_a_lossy_parameter_mapping_fails_the_shipped_mapping_check(tmp_path):
    process, records = run_suite(
        tmp_path, "mapping", "--adapter", "tests.support.wrong_adapter:LossyMappingAdapter", tests=("conformance/test_mapping.py",)
    )
    assert process.returncode == 1, process.stdout[-2000:]
    (record,) = records.values()
    assert record["outcome"] == "fail" and record["examples"] == record["examples_compared"] > 0
    assert "cell 0 w_hh changes" in record["reason"]


@pytest.mark.full_depth
def test_an_installed_plugin_gets_every_check_and_its_own_deviation(tmp_path):
    """tests/plugin_example is a package as another project would install it: its adapter and
    its deviation come from entry points only (its dist-info on the path stands for the
    install). The shipped suite runs every check on it, the mapping round trip, the
    reproducer check and its standalone reproducer included, and the report lists its
    deviation and no other."""
    report = tmp_path / "plugin.json"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "plugin_example"), str(ROOT)])}
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q", "-p", "no:cacheprovider", "--backend", "plugin-example", "--parity-json", str(report)],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600,
    )
    assert process.returncode == 0, process.stdout[-3000:]
    document = json.loads(report.read_text())
    assert [deviation["name"] for deviation in document["deviations"]] == ["plugin-example-cell-state-squashed"]
    records = document["records"]
    kinds = {record["kind"] for record in records if record["outcome"] != "unsupported"}
    # Every check the example backend can take (it has no lengths, so no padding checks).
    checks = {
        "forward", "threads", "final_state_is_last_output", "sample_alone", "streaming", "mapping", "deviation_reproducers", "standalone_reproducers",
        "sweep", "capabilities",
    }
    assert kinds == checks, kinds
    forward = [record for record in records if record["kind"] in ("forward", "threads") and record["outcome"] != "unsupported"]
    assert forward and all(record["outcome"] == "known_deviation" for record in forward)
    # A stream carried across calls continues from the squashed cell state: the deviation's model predicts it.
    streaming = [record for record in records if record["kind"] == "streaming"]
    assert streaming and all(record["outcome"] == "known_deviation" and record["judged"]["model"] > 0 for record in streaming)
    assert {record["dtype"] for record in forward} == {"float32", "float64", "float16"}
    reproducer = "L1-fwd-bm-none-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu"
    assert any(record["case_id"] == reproducer and record["deviations"] == ["plugin-example-cell-state-squashed"] for record in forward)
    # Its reproducer is diagnosed too: tanh of c_n is no mapping mistake.
    (checked,) = [record for record in records if record["kind"] == "deviation_reproducers"]
    assert checked["reproducer_diagnoses"] == {"plugin-example-cell-state-squashed": []}
    # And its standalone reproducer, from the plug-in's own standalone_source, shows it.
    (standalone,) = [record for record in records if record["kind"] == "standalone_reproducers"]
    assert standalone["standalone_exits"] == {"plugin-example-cell-state-squashed": 1}


@pytest.mark.full_depth
@pytest.mark.parametrize("declared", [True, False], ids=["declared", "undeclared"])
def test_padded_outputs_declared_unspecified_are_not_compared(tmp_path, declared):
    """Values at padded steps computed from the padding: declared unspecified, the forward
    parity, padding and semantics checks pass and the semantics table shows what they are;
    undeclared, the oracle's zeros are expected and the same checks fail."""
    adapter = "tests.support.conventions:" + ("PaddingRunOn" if declared else "PaddingRunOnUndeclared")
    tests = ("conformance/test_forward_parity.py", "conformance/test_invariants.py", "conformance/test_semantics.py")
    # The cases the NumPy stack runs (its layout has neither projection nor a missing bias).
    cases = "((forward_matches or padding_content or nan_padding) and mixed and P0 and not nobias) or semantics"
    process, records = run_suite(tmp_path, "conventions", "--adapter", adapter, "-k", cases, tests=tests)
    ran = {test: record for test, record in records.items() if record["outcome"] != "unsupported"}
    outcomes = {(record["kind"], record["outcome"]) for record in ran.values()}
    (semantics,) = [record for record in ran.values() if record["kind"] == "semantics"]
    # Every padded-output row measured as none of the conventions; an empty sequence's final
    # states are its initial ones (the stack runs no step of it); the forget-gate offset row: none (0).
    # The stack has no run at its own defaults: that row is not run.
    padded_rows = [situation for situation in semantics["declared"] if situation not in (EMPTY_STATES_ROW, DEFAULT_PRECISION_ROW)]
    assert semantics["semantics"] == {
        **dict.fromkeys(padded_rows, "other"), EMPTY_STATES_ROW: "initial", DEFAULT_PRECISION_ROW: "not run", OFFSET_ROW: "0"
    }
    if declared:
        assert process.returncode == 0, process.stdout[-3000:]
        assert {kind for kind, _ in outcomes} >= {"forward", "padding", "nan_padding", "semantics"}
        assert {outcome for _, outcome in outcomes} == {"pass"}
        assert {situation: semantics["declared"][situation] for situation in padded_rows} == dict.fromkeys(padded_rows, "unspecified")
        assert semantics["declared"][EMPTY_STATES_ROW] == "initial"
    else:
        assert process.returncode == 1
        assert {("forward", "fail"), ("padding", "fail"), ("nan_padding", "fail"), ("semantics", "fail")} <= outcomes


def test_a_run_at_the_backends_defaults_is_held_to_its_declared_precision(tmp_path):
    """The semantics table measures the tightest precision a float32 run at the backend's own
    defaults meets, and fails a declaration it contradicts: bfloat16 computed and declared
    passes; bfloat16 computed and nothing declared (the oracle's float32) fails, as does
    bfloat16 declared and float32 computed. An adapter that does not declare such runs is not
    run, and never sent a config asking for one. (The four plug-ins, one suite run.)"""
    expected = {
        "lowered-by-default": ("bfloat16", "pass"),
        "lowered-by-default-undeclared": ("bfloat16", "fail"),
        "exact-declared-lowered": ("float32", "fail"),
        "never-asked-at-defaults": ("not run", "pass"),
    }
    plugins = ("LoweredByDefault", "LoweredByDefaultUndeclared", "ExactDeclaredLowered", "NeverAskedAtDefaults")
    arguments = [argument for plugin in plugins for argument in ("--adapter", f"tests.support.conventions:{plugin}")]
    process, records = run_suite(tmp_path, "defaults", *arguments, "-k", "semantics", tests=("conformance/test_semantics.py",))
    semantics = {record["backend"]: record for record in records.values() if record["kind"] == "semantics"}
    assert {backend: (record["semantics"][DEFAULT_PRECISION_ROW], record["outcome"]) for backend, record in semantics.items()} == expected
    assert process.returncode == 1, process.stdout[-3000:]
    assert {backend for backend, record in semantics.items() if f"{DEFAULT_PRECISION_ROW}: declares" in record["reason"]} == {
        backend for backend, (_, outcome) in expected.items() if outcome == "fail"
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mindspore", "ERROR: --interpreter: expected NAME=PYTHON (a backend and a Python executable), got 'mindspore'"),
        ("mindspore=/no/such/python", "ERROR: --interpreter: expected an executable Python for 'mindspore', got '/no/such/python', which is not an executable file"),
    ],
)
def test_a_bad_interpreter_is_one_usage_error(value, message):
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "conformance", "-p", "no:cacheprovider", "--interpreter", value], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert process.returncode == 4
    assert process.stderr.strip().splitlines() == [message]
