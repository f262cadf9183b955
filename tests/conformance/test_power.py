"""The suite's detection thresholds: exact per comparison, confined per factor level, the
blind spots they leave, the command that prints them, and a drift run through the suite."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conformance.commands.cli import main
from conformance.judge.compare import compare_arrays
from conformance.judge.power import BLIND_SPOT_EPSILON, below_resolution, blind_spots, drift_threshold, power_lines, power_table

from ..support.drifting import OUTPUT_DRIFT_VARIABLE
from .test_cli import small_document
from .test_suite_runs import run_suite


def drifted_passes(actual: np.ndarray, expected: np.ndarray, tolerance: float, epsilon: float) -> tuple[bool, bool]:
    """Whether the comparison passes with ``actual`` times 1 + epsilon, and times 1 - epsilon."""
    return tuple(compare_arrays("outputs", actual * (1 + sign * epsilon), expected, tolerance).passed for sign in (1, -1))


@pytest.mark.parametrize("seed", range(20))
def test_a_drift_just_beyond_the_threshold_fails_either_way_and_one_just_below_passes_one_way(seed):
    rng = np.random.default_rng(seed)
    expected = rng.standard_normal((5, 3, 4)) * 10.0 ** rng.integers(-3, 3)
    tolerance = float(np.max(np.abs(expected))) * 10.0 ** rng.uniform(-9, -3)
    actual = expected + rng.uniform(-1, 1, expected.shape) * tolerance
    threshold = drift_threshold(actual, expected, tolerance)
    assert compare_arrays("outputs", actual, expected, tolerance).passed and threshold is not None
    assert drifted_passes(actual, expected, tolerance, threshold * (1 + 1e-6)) == (False, False)
    assert True in drifted_passes(actual, expected, tolerance, threshold * (1 - 1e-6))


def test_no_threshold_where_no_drift_can_fail_or_the_comparison_fails_already():
    zeros = np.zeros((2, 3))
    assert drift_threshold(zeros, zeros, 1e-6) is None
    assert drift_threshold(np.ones(3), np.zeros(3), 0.5) is None
    assert compare_arrays("h_n", np.array([np.nan, 1.0]), np.ones(2), 0.1).drift_threshold is None
    # Bit for bit: any drift of a nonzero value fails.
    assert compare_arrays("h_n", np.ones(2), np.ones(2), 0.0).drift_threshold == 0.0


def record(kind: str, thresholds: dict, dtype: str = "float32", hidden: int = 6, backend: str = "b", lengths: str = "none") -> dict:
    return {
        "kind": kind, "backend": backend, "dtype": dtype, "device": "cpu", "steps": 5, "drift_thresholds": thresholds,
        "spec": {"hidden_size": hidden, "num_layers": 1, "reverse": False, "bidirectional": False, "proj_size": 0, "bias": True,
                 "peepholes": False, "input_forget": False},
        "case": {"lengths": lengths, "layout": "tm", "init": "zero", "clip": "noclip", "acts": "std", "regime": "typ"},
    }


def test_a_level_s_threshold_is_the_smallest_of_its_records_and_a_thread_drift_counts_only_the_threaded_run():
    records = [
        record("forward", {"outputs": 1e-6, "h_n": 4e-6, "c_n": 2e-6}),
        record("forward", {"outputs": 3e-7, "h_n": None, "c_n": 5e-6}, dtype="float64", hidden=128),
        record("gradients", {"grad_x": 2e-5, "grad_w_ih": 8e-6}),
        record("threads", {"outputs[1 thread]": 1e-9, "outputs[4 threads]": 2e-6, "outputs[4 threads against 1]": 5e-7}, hidden=128),
        record("sample_alone", {"outputs[0]": 1e-12}),
    ]
    table = power_table(records)["b"]
    assert table["float32"] == {"outputs": 1e-9, "states": 2e-6, "gradients": 8e-6}
    assert table["float64"] == {"outputs": 3e-7, "states": 5e-6}
    # A drift of every H >= 64 run moves both runs of the threads check alike: their comparison with each other does not count.
    assert table["H >= 64"] == {"outputs": 1e-9, "states": 5e-6}
    # A drift of the threaded run alone: its comparisons with the oracle and with the single-threaded run.
    assert table["several threads"] == {"outputs": 5e-7}
    assert "lengths given" not in table and blind_spots({"b": table}) == []


def test_a_level_whose_drifts_go_unnoticed_is_a_blind_spot_and_the_command_says_so(tmp_path, capsys):
    records = [record("forward", {"outputs": 2e-3, "h_n": None, "c_n": None}, lengths="short"), record("forward", {"outputs": 1e-7, "h_n": 1e-7, "c_n": None})]
    table = power_table(records)
    short = [(level, target) for level in ("lengths given", "every sequence shorter than T") for target in ("outputs", "states")]
    assert blind_spots(table) == [("b", level, target) for level, target in short]
    assert blind_spots(table, epsilon=1e-2) == [("b", level, "states") for level, _ in short[::2]]
    assert power_lines(table)[-1] == "  b: states at every sequence shorter than T"
    document = {**small_document(), "records": [{"test": f"t{index}", "outcome": "pass", "reason": "", "duration_s": 0.0, **each} for index, each in enumerate(records)]}
    path = tmp_path / "parity.json"
    path.write_text(json.dumps(document))
    assert main(["power", str(path)]) == 1
    printed = capsys.readouterr().out
    assert "every sequence shorter than T  outputs 2e-03, states -" in printed
    assert f"blind spots (no drift up to {BLIND_SPOT_EPSILON:g} noticed):" in printed


def test_a_drift_below_a_format_s_resolution_is_explained_not_a_blind_spot():
    table = power_table([record("forward", {"outputs": 1e-2, "h_n": 8e-3, "c_n": 9e-3}, dtype="float16")])
    assert blind_spots(table) == []
    assert below_resolution(table) == [("b", "float16", "outputs"), ("b", "float16", "states")]
    assert power_lines(table)[-1].startswith("below the resolution of float16 (not blind spots: float16 keeps 11 significant bits")


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--epsilon", "0"], "--epsilon: expected a relative drift in (0, 1), got 0.0"),
        (["--epsilon", "nan"], "--epsilon: expected a relative drift in (0, 1), got nan"),
        (["--backend", "nowhere"], "--backend: expected backends with judged records in the JSON (none), got nowhere"),
    ],
)
def test_bad_arguments_are_refused_naming_them(tmp_path, capsys, arguments, message):
    path = tmp_path / "parity.json"
    path.write_text(json.dumps({**small_document(), "records": []}))
    assert main(["power", str(path), *arguments]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_file_is_refused_naming_it(tmp_path, capsys):
    assert main(["power", str(tmp_path / "absent.json")]) == 2
    assert "absent.json: no such file" in capsys.readouterr().err


CALIBRATION_CASE = "L1-fwd-bm-none-h0-P0-bias-nopeep-noclip-std-f32-H13-typ-cpu"


@pytest.mark.full_depth
def test_a_drift_through_a_wrapper_adapter_fails_the_suite_just_beyond_the_recorded_threshold_and_not_well_below(tmp_path):
    """The calibration: the threshold the example backend's run records for its outputs is
    the drift at which the suite starts failing it, measured by drifting its outputs through
    a wrapper adapter and running the check again."""
    arguments = ("--adapter", "tests.support.drifting:drifting_example_outputs", "--case", CALIBRATION_CASE)

    def outcome(name: str, drift: float) -> dict:
        _, records = run_suite(tmp_path, name, *arguments, environment={OUTPUT_DRIFT_VARIABLE: repr(drift)})
        (found,) = records.values()
        return found

    threshold = outcome("plain", 0.0)["drift_thresholds"]["outputs"]
    assert threshold is not None and 0 < threshold < BLIND_SPOT_EPSILON
    assert outcome("beyond", threshold * 1.05)["outcome"] == outcome("beyond-down", -threshold * 1.05)["outcome"] == "fail"
    # The threshold is the larger of the two signs': well below it, one sign at least passes.
    assert "pass" in {outcome("below", threshold * 0.5)["outcome"], outcome("below-down", -threshold * 0.5)["outcome"]}
