"""The factor levels real LSTM bugs switch on at: every sequence shorter than T, a stream
cut into calls, a sample's position in its batch, more than three layers and 500 steps.
Each is in the tables of both depths, and a backend broken on it alone fails."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.run.backends import BackendPool
from conformance.cases.table import DEEP_LAYERS, LONG_SHAPE, Case, draw_lengths
from conformance.cases.depth import DEPTHS

from .test_suite_runs import run_suite

STACK = "tests.support.numpy_stack:NumpyStackAdapter"


@pytest.mark.parametrize("batch, steps", [(2, 2), (3, 5), (8, 50), (3, 500)])
def test_short_lengths_are_all_below_t_and_hold_one_and_t_minus_one(batch, steps):
    lengths = draw_lengths(np.random.default_rng(batch * steps), "short", batch, steps)
    assert lengths.max() == steps - 1 and lengths.min() == 1
    assert Case(lengths="short").has_padding


def test_short_lengths_need_two_sequences():
    with pytest.raises(ValueError, match="short needs two sequences or more"):
        Case(lengths="short", shape="B1")


@pytest.mark.parametrize("depth", ["quick", "full"])
def test_each_depth_holds_short_lengths_a_deep_case_and_a_long_case_on_every_backend(depth):
    pool = BackendPool([STACK, "tests.support.adapters:CostlyNumpyStackAdapter"], isolate=False, depth=DEPTHS[depth])
    for name in ("numpy-stack", "costly-numpy-stack"):
        forward = pool.case_tables[name]
        assert any(case.lengths == "short" for case in forward), name
        assert [case.layers for case in forward if case.layers > 3] == [DEEP_LAYERS], name
        long = [case for case in forward if case.long]
        assert len(long) == 1 and long[0].shape == LONG_SHAPE and long[0].steps >= 500, name
    # A backend with costly runs gets the cheapest long case: one forward layer over whole sequences.
    (costly_long,) = [case for case in pool.case_tables["costly-numpy-stack"] if case.long]
    assert (costly_long.layers, costly_long.direction, costly_long.lengths) == (1, "fwd", "none")


@pytest.mark.parametrize("depth", ["quick", "full"])
def test_each_depth_computes_gradients_four_layers_deep(depth):
    pytest.importorskip("torch")
    gradients = BackendPool(["torch"], isolate=False, depth=DEPTHS[depth]).gradient_case_tables["torch"]
    assert [case.layers for case in gradients if case.layers > 3] == [DEEP_LAYERS]
    assert not any(case.long for case in gradients)


@pytest.mark.full_depth
def test_outputs_cut_at_the_longest_sequence_fail_only_where_every_sequence_is_shorter_than_t(tmp_path):
    short, mixed = (f"L1-fwd-tm-{lengths}-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu" for lengths in ("short", "mixed"))
    process, records = run_suite(tmp_path, "trimmed", "--adapter", "tests.support.adapters:TrimmedToLongestAdapter", "--case", short, "--case", mixed)
    outcomes = {record["case_id"]: record["outcome"] for record in records.values()}
    assert process.returncode == 1 and outcomes == {short: "fail", mixed: "pass"}, process.stdout[-2000:]


@pytest.mark.full_depth
def test_a_stream_that_loses_its_cell_state_between_calls_fails_the_streaming_check(tmp_path):
    tests = ("conformance/test_invariants.py",)
    sound_process, sound = run_suite(tmp_path, "sound", "--adapter", STACK, "-k", "two_calls", tests=tests)
    broken_process, broken = run_suite(tmp_path, "broken", "--adapter", "tests.support.adapters:FreshCellAdapter", "-k", "two_calls", tests=tests)
    assert sound_process.returncode == 0 and sound and all(record["outcome"] == "pass" for record in sound.values()), sound_process.stdout[-2000:]
    assert all(record["split_at"] >= 1 and record["case"]["direction"] == "fwd" for record in sound.values())
    assert broken_process.returncode == 1
    failed = {comparison["quantity"] for record in broken.values() for comparison in record["comparisons"] if not comparison["passed"]}
    assert {"outputs", "c_n"} <= failed


@pytest.mark.full_depth
def test_a_backend_that_says_it_is_batch_invariant_is_held_to_it_bit_for_bit(tmp_path):
    tests = ("conformance/test_invariants.py",)
    sound_process, sound = run_suite(tmp_path, "sound", "--adapter", "tests.support.adapters:BatchInvariantAdapter", "-k", "sample_alone", tests=tests)
    false_process, false = run_suite(tmp_path, "false", "--adapter", "tests.support.adapters:FalselyBatchInvariantAdapter", "-k", "sample_alone", tests=tests)
    assert sound_process.returncode == 0, sound_process.stdout[-2000:]
    assert all(record["promises_batch_invariance"] and record["bitwise_alone"] for record in sound.values())
    assert false_process.returncode == 1
    for record in false.values():
        assert record["outcome"] == "fail" and record["bitwise_alone"] is False
        failed = {comparison["quantity"].partition("[")[0] for comparison in record["comparisons"] if not comparison["passed"]}
        assert failed == {"outputs"}


@pytest.mark.full_depth
def test_a_last_output_mode_that_reads_step_t_fails_where_a_sequence_is_shorter(tmp_path):
    tests = ("conformance/test_invariants.py",)
    process, records = run_suite(tmp_path, "last", "--adapter", "tests.support.adapters:LastStepOutputAdapter", "-k", "last_output_only", tests=tests)
    outcomes = {record["case"]["lengths"]: record["outcome"] for record in records.values()}
    assert process.returncode == 1 and outcomes.get("mixed") == "fail" and outcomes.get("none") == "pass", process.stdout[-2000:]
    for record in records.values():
        failed = {comparison["quantity"] for comparison in record["comparisons"] if not comparison["passed"]}
        assert failed == ({"last_output"} if record["outcome"] == "fail" else set())
