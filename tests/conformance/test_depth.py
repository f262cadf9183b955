"""``--depth``: a quick run keeps every check on every backend, the threads check included, over
smaller designs that still hold every pair of forward factor values and every value in the
gradients, and leaves out the tests marked ``full_depth``; the run's depth is recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import combinations

import pytest

from conformance.run.backends import COVERED_FACTORS, BackendPool
from conformance.cases.table import LARGE_SHAPES
from conformance.commands.cli import build_parser, pytest_command
from conformance.cases.depth import DEPTHS
from conformance.report.merging import common_depth
from conformance.report.sections import run_lines

from .test_suite_runs import ROOT, run_suite

BACKENDS = ["adapters.example:ExampleAdapter", "tests.support.adapters:CostlyExampleAdapter"]


def combinations_of(cases: list, strength: int) -> set[tuple]:
    """Every ``strength``-way combination of covered factor values that ``cases`` hold."""
    return {
        tuple((name, getattr(case, name)) for name in names) for case in cases for names in combinations(COVERED_FACTORS, strength)
    }


def covering_part(table: list) -> list:
    """The cases of a table that its covering design made (not its size, structure, precision or CUDA copies)."""
    return [case for case in table if not (case.large or case.long or case.layers > 3 or case.reduced_precision or case.device != "cpu")]


def test_quick_tables_are_smaller_and_still_cover_every_pair_forward_and_every_value_with_gradients():
    full, quick = BackendPool(BACKENDS, isolate=False), BackendPool(BACKENDS, isolate=False, depth=DEPTHS["quick"])
    for name in ("example-keras-style", "costly-example"):
        assert len(quick.case_tables[name]) < len(full.case_tables[name]) / 2, name
        assert len(quick.gradient_case_tables[name]) <= len(full.gradient_case_tables[name]), name
    plain_full, plain_quick = (covering_part(pool.case_tables["example-keras-style"]) for pool in (full, quick))
    assert combinations_of(plain_full, 2) == combinations_of(plain_quick, 2)
    assert not combinations_of(plain_full, 3) <= combinations_of(plain_quick, 3), "quick is not the full design"
    for tables in ("case_tables", "gradient_case_tables"):
        full_cases, quick_cases = (covering_part(getattr(pool, tables)["costly-example"]) for pool in (full, quick))
        assert combinations_of(full_cases, 1) == combinations_of(quick_cases, 1), tables
    example, costly = quick.case_tables["example-keras-style"], quick.case_tables["costly-example"]
    # The first large shape in float32, and the float64 copy at H128.
    large = [(LARGE_SHAPES[0], "f32"), ("H128", "f64")]
    assert [(case.shape, case.dtype) for case in example if case.large] == [(case.shape, case.dtype) for case in costly if case.large] == large
    assert [case.dtype for case in example if case.reduced_precision] == ["f16"] * DEPTHS["quick"].reduced_cases
    assert [case.dtype for case in costly if case.reduced_precision] == ["f16"]


@pytest.mark.full_depth
def test_a_quick_run_keeps_every_check_lists_fewer_cases_and_says_so(tmp_path):
    tests = ("conformance/test_threads.py", "conformance/test_invariants.py")
    adapter = ("--adapter", "tests.support.numpy_stack:NumpyStackAdapter", "--adapter", "tests.support.adapters:CostlyNumpyStackAdapter")
    quick_process, quick = run_suite(tmp_path, "quick", *adapter, "--depth", "quick", tests=tests)
    full_process, full = run_suite(tmp_path, "full", *adapter, tests=tests)
    # What runs is the point here, not the outcomes (0: all passed, 1: some failed; not a usage or internal error).
    assert {quick_process.returncode, full_process.returncode} <= {0, 1}, quick_process.stdout[-2000:] + full_process.stdout[-2000:]
    assert "depth quick" in quick_process.stdout and "--depth full runs the whole suite" in quick_process.stdout
    assert "depth quick" not in full_process.stdout

    def kinds(records: dict[str, dict], backend: str) -> list[str]:
        return [record["kind"] for record in records.values() if record["backend"] == backend]

    plain, costly = (kinds(quick, name) for name in ("numpy-stack", "costly-numpy-stack"))
    # The threads check: one case per backend at either depth.
    assert plain.count("threads") == costly.count("threads") == kinds(full, "numpy-stack").count("threads") == 1
    assert plain.count("sample_alone") == DEPTHS["quick"].listed_cases < kinds(full, "numpy-stack").count("sample_alone")
    assert costly.count("sample_alone") == DEPTHS["quick"].costly_listed_cases < DEPTHS["quick"].listed_cases
    document = json.loads((tmp_path / "quick.json").read_text())
    assert document["run"]["depth"] == "quick" and "at depth quick;" in run_lines(document)[0][0]
    assert json.loads((tmp_path / "full.json").read_text())["run"]["depth"] == "full"


def test_lstm_parity_run_passes_its_depth_to_pytest(tmp_path):
    parser = build_parser()
    for arguments, depth in ((["run"], "full"), (["run", "--depth", "quick"], "quick")):
        command = pytest_command(parser.parse_args(arguments), tmp_path / "parity.json")
        assert command[command.index("--depth") + 1] == depth


def test_a_sweep_of_no_examples_is_a_usage_error_before_anything_runs():
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "conformance/test_sweep.py", "-p", "no:cacheprovider", "--sweep-examples", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert process.returncode == 4, process.stdout[-2000:]
    assert "--sweep-examples: expected a positive number of examples, got 0" in process.stderr


def test_a_merge_says_the_depth_only_when_every_merged_run_ran_at_it():
    quick, full, unsaid = ({"run": {"depth": "quick"}}, {"run": {"depth": "full"}}, {"run": {}})
    assert common_depth([quick, quick]) == {"depth": "quick"}
    assert common_depth([quick, full]) == common_depth([quick, unsaid]) == {}
