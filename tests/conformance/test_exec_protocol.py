"""The process protocol (adapters.exec_backend): a program in any language as a backend.

The program under test (tests/support/exec_program.py) reads and writes nothing but JSON
lines and ``.npy`` files, computing with the oracle; its modes break it the ways a real
program breaks."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest

from adapters.base import RunConfig, RunRequest, offers_threaded_runs
from adapters.errors import AdapterError, BackendFailure
from adapters.exec_backend import ExecDeclaration, parse_reference
from adapters.registry import load_adapter
from reference import LSTMResult, LSTMSpec, init_params, lstm_backward, lstm_forward

from ..support.processes import left_in_group
from .test_suite_runs import run_suite

PROGRAM = f"exec:{sys.executable} -m tests.support.exec_program"
SPEC = LSTMSpec(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)


def request(batch_first: bool = False) -> RunRequest:
    x = np.random.default_rng(0).standard_normal((2, 5, 3) if batch_first else (5, 2, 3))
    return RunRequest(SPEC, init_params(SPEC, 1), x, lengths=np.array([5, 3]), batch_first=batch_first)


@pytest.mark.parametrize(
    ("mode", "failure", "message"),
    [
        ("crash", BackendFailure, "exited (exit status 3) without answering while running"),
        ("hang", BackendFailure, "gave no answer within 1 s (killed) while running"),
        ("error", BackendFailure, "reported an error while running: the LSTM kernel failed"),
        ("garbage", AdapterError, "answered running with a line that is not JSON"),
        ("wrong-shape", AdapterError, "wrote outputs.npy as float64 (4, 2, 8), expected floats (5, 2, 8)"),
        ("nothing", AdapterError, "answered ok while running but missing: no file outputs.npy"),
    ],
)
def test_a_broken_program_fails_the_run_with_what_it_did_and_starts_again(mode, failure, message):
    adapter = load_adapter(f"{PROGRAM} --mode {mode} --timeout-s 1")
    run = request()
    float32 = RunRequest(run.spec, run.params, run.x, run.lengths, dtype="float32")
    with pytest.raises(failure, match=re.escape(message)):
        adapter.run(float32)
    # The next request starts the program again where it died or was killed.
    with pytest.raises(failure):
        adapter.run(float32)
    adapter.close()


def test_a_killed_program_takes_the_processes_it_started_with_it():
    adapter = load_adapter(f"{PROGRAM} --mode hang-with-helper --timeout-s 1")
    group = adapter.program.process.pid
    with pytest.raises(BackendFailure, match="gave no answer within 1 s"):
        adapter.run(request())
    assert left_in_group(group) == []
    adapter.close()


@pytest.mark.parametrize("batch_first", [False, True])
def test_a_program_computing_with_the_oracle_gives_its_arrays_back(batch_first):
    adapter, run = load_adapter(PROGRAM), request(batch_first)
    arguments = dict(lengths=run.lengths, batch_first=batch_first)
    expected = lstm_forward(SPEC, run.params, run.x, **arguments)
    result = adapter.run(run)
    for name in ("outputs", "h_n", "c_n"):
        np.testing.assert_array_equal(getattr(result, name), getattr(expected, name))
    upstream = LSTMResult(*(np.random.default_rng(1).standard_normal(getattr(expected, name).shape) for name in ("outputs", "h_n", "c_n")))
    grads = adapter.gradients(run, upstream)
    wanted = lstm_backward(SPEC, run.params, run.x, upstream.outputs, upstream.h_n, upstream.c_n, **arguments)
    np.testing.assert_array_equal(grads.x, wanted.x)
    for got, want in zip(grads.params, wanted.params):
        for name, array in want.arrays().items():
            np.testing.assert_array_equal(got.arrays()[name], array)
    assert adapter.parameter_count(SPEC) == sum(array.size for cell in run.params for array in cell.arrays().values())
    adapter.close()


def test_only_a_program_declaring_threaded_runs_is_sent_a_thread_count():
    """``run_threaded`` sends ``"threads"`` to a program that declares ``threaded_runs`` (and
    its result is the run's: this program has no thread drift); one that does not is not
    offered threaded runs and is never sent a count (TypeError before anything is sent)."""
    declaring, plain, run = load_adapter(f"{PROGRAM} --threaded-runs --threaded-drift"), load_adapter(PROGRAM), request()
    try:
        assert (offers_threaded_runs(declaring), offers_threaded_runs(plain)) == (True, False)
        single, threaded = declaring.run(run), declaring.run_threaded(run, 4)
        np.testing.assert_allclose(threaded.outputs, single.outputs * (1 + 1e-4), rtol=1e-12)
        np.testing.assert_array_equal(declaring.run_threaded(run, 1).outputs, single.outputs)
        with pytest.raises(TypeError, match="oracle-program: run_threaded: expected a program that declares threaded_runs, got one that does not"):
            plain.run_threaded(run, 4)
        np.testing.assert_array_equal(plain.run(run).outputs, single.outputs)
    finally:
        declaring.close()
        plain.close()


@pytest.mark.full_depth
@pytest.mark.parametrize(("options", "outcome"), [("--threaded-runs", "pass"), ("--threaded-runs --threaded-drift", "fail")])
def test_a_program_declaring_threaded_runs_is_threads_checked_in_its_running_process(tmp_path, options, outcome):
    process, records = run_suite(tmp_path, "threaded", "--adapter", f"{PROGRAM} {options}", tests=("conformance/test_threads.py",))
    (record,) = records.values()
    assert (record["outcome"], record["threads_set_in"]) == (outcome, "its own process"), process.stdout[-3000:]
    if outcome == "fail":
        assert {comparison["quantity"] for comparison in record["comparisons"] if not comparison["passed"]} == {"outputs[4 threads]", "outputs[4 threads against 1]"}


DECLARATION = {"name": "mine", "command": ["prog"], "parameter_layout": "canonical"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "My LSTM"}, "name: expected lowercase letters, digits, '.' and '-', got 'My LSTM'"),
        ({"parameter_layout": "mine"}, "parameter_layout: expected one of canonical, "),
        ({"layout": "caffe"}, "layout: expected one of canonical, torch, onnx, keras or an object declaring a layout, got 'caffe'"),
        ({"gradients": "yes"}, "gradients: expected true or false, got 'yes'"),
        ({"timeout_s": 0}, "timeout_s: expected a positive number of seconds, got 0"),
        ({"fixed_thread_count": True}, "fixed_thread_count: expected a sentence saying why no thread setting reaches it, got True"),
        ({"threaded_runs": "yes"}, "threaded_runs: expected true or false, got 'yes'"),
        ({"supports": {"features": ["telepathy"]}}, "supports.features: expected names among "),
        ({"supports": {"devices": ["cuda"]}}, "supports: expected fields among features, activations, dtypes, directions, shared_activations, got 'devices'"),
        ({"supports": {"shared_activations": ["cell_activation"]}}, "supports.shared_activations: expected no roles or at least two, got ['cell_activation']"),
        ({"conventions": {"padded_outputs": "maybe"}}, "conventions.padded_outputs: expected one of zeros, carried, carried-initial, unspecified, got 'maybe'"),
        ({"conventions": {"padded_outputs": {"sideways": "zeros"}}}, "conventions.padded_outputs: expected directions among forward, bidirectional, reverse, got 'sideways'"),
        ({"colour": "blue"}, "expected fields among name, parameter_layout, "),
        ({"command": "prog --fast"}, "command: expected a non-empty list of strings, got 'prog --fast'"),
    ],
)
def test_a_bad_declaration_file_names_the_field_what_it_must_be_and_what_it_is(tmp_path, change, message):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({**DECLARATION, **change}))
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        command, folder, fields = parse_reference(f"exec:{path}")
        ExecDeclaration.read(fields, str(path))


def test_a_declaration_file_runs_its_command_in_its_own_folder(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(DECLARATION))
    command, folder, fields = parse_reference(f"exec:{path}")
    assert (command, folder, fields) == (["prog"], tmp_path, {"name": "mine", "parameter_layout": "canonical"})


def test_a_program_that_cannot_start_is_one_usage_error():
    with pytest.raises(ValueError, match="adapter: cannot run 'exec:no-such-program-here' as a backend .*cannot start no-such-program-here"):
        load_adapter("exec:no-such-program-here")


@pytest.mark.full_depth
def test_a_program_computing_with_the_oracle_passes_every_check(tmp_path):
    process, records = run_suite(tmp_path, "oracle-program", "--adapter", PROGRAM, tests=("conformance",))
    assert process.returncode == 0, process.stdout[-3000:]
    outcomes = [record["outcome"] for record in records.values()]
    assert outcomes.count("pass") > 500 and set(outcomes) <= {"pass", "unsupported"}


@pytest.mark.full_depth
def test_a_program_with_a_precision_bug_fails_the_parity_checks(tmp_path):
    process, records = run_suite(tmp_path, "bfloat16-inside", "--adapter", f"{PROGRAM} --stored-as bfloat16", "-k", "base and not f16 and not bf16")
    assert process.returncode == 1
    failed = [record for record in records.values() if record["outcome"] == "fail"]
    assert failed and all("adapter_error" not in record for record in failed)


@pytest.mark.full_depth
@pytest.mark.parametrize("mode", ["crash", "hang", "garbage", "wrong-shape", "nothing"])
def test_a_broken_program_fails_each_case_once_and_the_run_completes(tmp_path, mode):
    process, records = run_suite(tmp_path, mode, "--adapter", f"{PROGRAM} --mode {mode} --timeout-s 1", "-k", "base and L1 and f32")
    assert process.returncode == 1, process.stdout[-2000:]
    assert "failed" in process.stdout.splitlines()[-1]
    ran = [record for record in records.values() if record["outcome"] != "unsupported"]
    assert len(ran) >= 2 and all(record["outcome"] == "fail" for record in ran)
    assert len({record["test"] for record in ran}) == len(ran)
    protocol_error = mode in ("garbage", "wrong-shape", "nothing")
    assert all(("adapter_error" in record) == protocol_error for record in ran)


def test_a_program_declaring_its_own_layout_is_sent_its_arrays_and_agrees_with_the_oracle():
    """The program declares a layout as data (Keras's arrays with the input and forget gate
    blocks swapped) and maps its weights back by hand: the arrays it is sent are the declared
    ones, and what it computes from them is the oracle's."""
    from tests.support.exec_program import DECLARED_LAYOUT

    adapter, run = load_adapter(f"{PROGRAM} --declared-layout"), request()
    assert adapter.declaration.layout.name == DECLARED_LAYOUT["name"]
    cell = run.params[SPEC.cell_index(1, 1)]
    arrays = adapter.canonical_to_backend(SPEC, run.params)
    swapped = np.concatenate([cell.w_ih[4:8], cell.w_ih[0:4], cell.w_ih[8:]])
    np.testing.assert_array_equal(arrays["layer1.backward.kernel"], swapped.T)
    expected = lstm_forward(SPEC, run.params, run.x, lengths=run.lengths)
    result = adapter.run(run)
    for name in ("outputs", "h_n", "c_n"):
        # The program adds the bias as one sum b_ih + b_hh, the oracle as two terms: a few
        # float64 roundings apart, far inside float64's tolerances.
        np.testing.assert_allclose(getattr(result, name), getattr(expected, name), rtol=1e-12, atol=1e-14)
    assert adapter.unsupported(RunConfig(LSTMSpec(3, 4, proj_size=2))) == (
        "the gates-fiog layout oracle-program reads cannot express this LSTM: the gates-fiog layout has no projection (w_hr)",
    )
    adapter.close()


def test_a_declared_layout_the_suite_cannot_read_is_one_clear_error(tmp_path):
    path = tmp_path / "mine.json"
    broken = {"name": "mine", "counted_as": "keras", "cells": "layer_direction", "arrays": [{"name": "{cell}.kernel", "parts": [["w_xyz"]]}]}
    path.write_text(json.dumps({**DECLARATION, "layout": broken}))
    command, folder, fields = parse_reference(f"exec:{path}")
    with pytest.raises(ValueError, match=re.escape("layout: mine: arrays[0]: parts[0]: expected canonical parameter names among w_ih, w_hh, b_ih, b_hh, w_hr, w_ic, w_fc, w_oc, got ['w_xyz']")):
        ExecDeclaration.read(fields, str(path))
    path.write_text(json.dumps({**DECLARATION, "layout": {**broken, "name": "keras", "arrays": [{"name": "{cell}.kernel", "parts": [["w_ih"]]}]}}))
    with pytest.raises(ValueError, match=re.escape("layout.name: expected a name other than the named layouts' (canonical, torch, onnx, keras), got 'keras'")):
        ExecDeclaration.read(parse_reference(f"exec:{path}")[2], str(path))
