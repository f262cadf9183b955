"""What the tract adapter says of tract is what tract does: each refusal quotes the error tract
raises on that model, and the input shapes the adapter sets are needed (without them tract
aborts the process). Skipped where tract is not installed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tract")
pytest.importorskip("onnx")

from adapters.tract_lstm import TRACT_REJECTS_FLOAT64, TRACT_REJECTS_LENGTHS, TractLSTMAdapter, runner  # noqa: E402
from reference import LSTMSpec, init_params  # noqa: E402

SPEC = LSTMSpec(input_size=3, hidden_size=4)


def model_bytes(dtype: str, lengths: bool, initial_states: bool = False) -> bytes:
    return TractLSTMAdapter().model(SPEC, dtype, lengths, initial_states, init_params(SPEC, seed=0)).SerializeToString()


def quoted(reason: str) -> str:
    """The words a refusal quotes from tract: what follows 'tract: ', up to any parenthesis."""
    return reason.removeprefix("tract: ").split(" (")[0]


def test_sequence_lens_as_an_input_is_refused_in_tract_s_words():
    x = np.zeros((5, 2, 3), dtype=np.float32)
    with pytest.raises(Exception) as raised:
        runner().run(model_bytes("float32", lengths=True), [x, np.array([5, 2], dtype=np.int32)])
    assert quoted(TRACT_REJECTS_LENGTHS) in str(raised.value)


def test_float64_is_refused_in_tract_s_words():
    """With initial states given: without them the float32 zero states tract builds fail first
    (as for float16, a registered deviation there)."""
    feeds = [np.zeros((5, 2, 3)), np.zeros((1, 2, 4)), np.zeros((1, 2, 4))]
    with pytest.raises(Exception) as raised:
        runner().run(model_bytes("float64", lengths=False, initial_states=True), feeds)
    assert quoted(TRACT_REJECTS_FLOAT64) in str(raised.value)


def test_the_same_model_runs_with_its_shapes_set():
    outputs, h_n, c_n = runner().run(model_bytes("float32", lengths=False), [np.zeros((5, 2, 3), dtype=np.float32)])
    assert outputs.shape == (5, 2, 4) and h_n.shape == c_n.shape == (1, 2, 4)


def test_without_its_shapes_set_tract_aborts_the_process():
    """The models' T and B are dynamic: tract panics on the undetermined batch size, which no
    exception can catch, so the adapter sets every input's shape."""
    script = (
        "import sys, tempfile, numpy as np, tract\n"
        "path = tempfile.mktemp(suffix='.onnx'); open(path, 'wb').write(sys.stdin.buffer.read())\n"
        "onnx = tract.onnx()\n"
        "model = onnx.load(path) if hasattr(onnx, 'load') else onnx.model_for_path(path)\n"
        "typed = model.into_model() if hasattr(model, 'into_model') else model.into_optimized()\n"
        "typed.into_runnable().run([np.zeros((5, 2, 3), dtype=np.float32)])\n"
    )
    finished = subprocess.run([sys.executable, "-c", script], input=model_bytes("float32", lengths=False), capture_output=True, timeout=120)
    assert finished.returncode != 0
    assert b"Undetermined symbol in expression" in finished.stderr
