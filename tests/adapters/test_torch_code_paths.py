"""Each new factor reaches a code path of its own in torch's CPU LSTM, as oneDNN's verbose
log shows (``ONEDNN_VERBOSE=1``: one line per primitive run, with its kind, its
implementation and its memory formats, and the thread count in use).

Established on torch 2.13 (CPU): a float32 run on unpacked input is oneDNN's ``rnn``
primitive, a packed one (per-sequence lengths) and a float64 one run no oneDNN primitive
(torch's own loop); bfloat16 and float16 run the ``rnn`` primitive on those types (on an
Intel Xeon with AMX: ``brgemm:avx10_1_512_amx`` for bfloat16, ``ref+matmul`` for
float16); a hidden size that no weight block divides (203) gets padded weight layouts
(``ap``) where 128 does not (``a``); the thread count is the one the suite sets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
PLAIN = "L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-{dtype}-{shape}-typ-cpu"
PACKED = "L1-fwd-tm-mixed-zero-P0-bias-nopeep-noclip-std-f32-base-typ-cpu"
CASES = {
    "float32": PLAIN.format(dtype="f32", shape="base"),
    "packed": PACKED,
    "float64": PLAIN.format(dtype="f64", shape="base"),
    "bfloat16": PLAIN.format(dtype="bf16", shape="base"),
    "float16": PLAIN.format(dtype="f16", shape="base"),
    "H203": PLAIN.format(dtype="f32", shape="H203"),
    "H128": PLAIN.format(dtype="f32", shape="H128"),
}
SCRIPT = """
import sys
from adapters.torch_lstm import TorchLSTMAdapter
from conformance.cases.table import Case, make_data, request_for
adapter = TorchLSTMAdapter()
adapter.set_threads(int(sys.argv[1]))
for name, case_id in zip(sys.argv[2::2], sys.argv[3::2]):
    print("=== " + name, flush=True)
    case = Case.from_id(case_id)
    adapter.run(request_for(case, make_data(case)))
    sys.stdout.flush()
"""


def onednn_log(threads: int, cases: dict[str, str]) -> tuple[list[str], dict[str, list[str]]]:
    """The log's info lines, and per case the primitives it ran (``exec`` lines)."""
    arguments = [item for pair in cases.items() for item in pair]
    environment = {**os.environ, "ONEDNN_VERBOSE": "1", "OMP_NUM_THREADS": str(threads)}
    process = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(threads), *arguments], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )
    assert process.returncode == 0, process.stderr[-2000:]
    info, runs, current = [], {}, None
    for line in process.stdout.splitlines():
        if line.startswith("=== "):
            current = runs.setdefault(line[4:], [])
        elif ",info," in line:
            info.append(line)
        elif ",exec," in line and current is not None:
            current.append(line)
    return info, runs


def rnn_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if ",primitive,exec,cpu,rnn," in line]


@pytest.fixture(scope="module")
def single_threaded():
    return onednn_log(1, CASES)


def test_dtype_and_layout_choose_between_onednn_and_torch_s_own_loop(single_threaded):
    _, runs = single_threaded
    assert any("src_layer:f32" in line for line in rnn_lines(runs["float32"]))
    assert rnn_lines(runs["packed"]) == []
    assert runs["float64"] == []


@pytest.mark.parametrize("dtype, onednn_type, supported", [("bfloat16", "bf16", "_is_mkldnn_bf16_supported"), ("float16", "f16", "_is_mkldnn_fp16_supported")])
def test_reduced_precision_runs_onednn_s_rnn_in_that_type(single_threaded, dtype, onednn_type, supported):
    if not getattr(torch.ops.mkldnn, supported)():
        pytest.skip(f"this CPU has no oneDNN {dtype} support: torch runs its own loop")
    _, runs = single_threaded
    assert any(f"src_layer:{onednn_type}" in line for line in rnn_lines(runs[dtype]))


def test_a_hidden_size_no_block_divides_gets_padded_weight_layouts(single_threaded):
    _, runs = single_threaded
    assert all("wei_layer:f32:ap:" in line for line in rnn_lines(runs["H203"])) and rnn_lines(runs["H203"])
    assert all("wei_layer:f32:a:" in line for line in rnn_lines(runs["H128"])) and rnn_lines(runs["H128"])


def test_the_thread_count_set_is_the_one_onednn_runs_with(single_threaded):
    info, _ = single_threaded
    assert any(line.endswith("nthr:1") for line in info)
    info, runs = onednn_log(4, {"H203": CASES["H203"]})
    assert any(line.endswith("nthr:4") for line in info) and rnn_lines(runs["H203"])


def test_a_threaded_run_uses_its_count_and_leaves_torch_s_own_as_it_was():
    """``run_threaded`` (the threads check in the backend's own process) computes on the
    count asked for and gives torch back the count it had, for the runs that follow."""
    from adapters.torch_lstm import on_torch_threads

    previous = torch.get_num_threads()
    seen = on_torch_threads(previous + 3, torch.get_num_threads)
    assert (seen, torch.get_num_threads()) == (previous + 3, previous)
