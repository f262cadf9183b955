"""What the export-pipeline adapters declare about their exporters, established by running them.

Each test fails when the exporter changes: a rejection that stops being one, or the torch
exporter bug the ``torch-onnx`` adapter works around being fixed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from adapters.base import RunConfig
from reference import LSTMSpec, init_params

# torch.onnx.export twice in one process, with the adapter's clearing of the dispatch cache
# done or left out; prints whether each model runs at another sequence length.
TWO_EXPORTS = textwrap.dedent(
    """
    import sys, warnings
    warnings.simplefilter("ignore")
    import numpy as np
    import adapters.torch_onnx
    from adapters.base import RunConfig
    from adapters.onnx_session import session
    from adapters.torch_onnx import TorchOnnxAdapter
    from reference import LSTMSpec, init_params

    if sys.argv[1] != "clear":
        adapters.torch_onnx.forget_cached_lstm_kernels = lambda: None
    spec = LSTMSpec(3, 4, bidirectional=True)
    adapter = TorchOnnxAdapter()
    for attempt in ("first", "second"):
        model = adapter.export(RunConfig(spec, dtype="float32"), init_params(spec, seed=0), steps=5, batch=3)
        try:
            session(model).run(None, {"x": np.zeros((5, 3, 3), dtype=np.float32)})
            print(attempt, "runs")
        except Exception as error:
            print(attempt, "fails:", str(error).splitlines()[0])
    """
)


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def torch_onnx():
    pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    from adapters.torch_onnx import TorchOnnxAdapter, TorchOnnxTorchScriptAdapter

    return TorchOnnxAdapter(), TorchOnnxTorchScriptAdapter()


@pytest.mark.full_depth
@pytest.mark.parametrize("cache", ["kept", "clear"])
def test_second_dynamo_export_in_a_process_freezes_the_time_axis(torch_onnx, cache):
    """The bug behind the dispatch-cache clearing in adapters/torch_onnx.py: left alone, the
    second export's model only takes the example's sequence length; cleared, both run."""
    result = run_script(TWO_EXPORTS, cache)
    lines = [line for line in result.stdout.splitlines() if line.startswith(("first", "second"))]
    assert lines[0] == "first runs", result.stdout + result.stderr
    if cache == "clear":
        assert lines[1] == "second runs", result.stdout + result.stderr
    else:
        assert lines[1].startswith("second fails: [ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: x"), lines


def test_torchscript_exporter_rejects_projection_as_declared(torch_onnx):
    from adapters.torch_onnx import TORCHSCRIPT_REJECTS_PROJECTION

    spec = LSTMSpec(3, 4, proj_size=2)
    with pytest.raises(Exception, match="ONNX export of operator LSTM, LSTMs with projections"):
        torch_onnx[1].export(RunConfig(spec, dtype="float32"), init_params(spec, seed=0), steps=4, batch=2)
    assert TORCHSCRIPT_REJECTS_PROJECTION in torch_onnx[1].unsupported(RunConfig(spec, dtype="float32"))


def test_dynamo_exporter_rejects_packed_sequences_as_declared(torch_onnx):
    from adapters.torch_onnx import TORCH_EXPORT_REJECTS_PACKING

    spec, config = LSTMSpec(3, 4), RunConfig(LSTMSpec(3, 4), dtype="float32", lengths=True)
    with pytest.raises(Exception, match=r"zeros\(\): argument 'size' failed to unpack the object at pos 2"):
        torch_onnx[0].export(config, init_params(spec, seed=0), steps=4, batch=2)
    assert TORCH_EXPORT_REJECTS_PACKING in torch_onnx[0].unsupported(config)


def test_exported_models_reject_float64_as_declared(torch_onnx):
    from adapters.onnx_session import RUNTIME_REJECTS_FLOAT64, session

    spec = LSTMSpec(3, 4)
    model = torch_onnx[1].export(RunConfig(spec, dtype="float64"), init_params(spec, seed=0), steps=4, batch=2)
    with pytest.raises(Exception, match=RUNTIME_REJECTS_FLOAT64.removeprefix("onnxruntime: ")):
        session(model).run(None, {"x": np.zeros((4, 2, 3))})


def test_paddle2onnx_aborts_on_projection_as_declared():
    pytest.importorskip("paddle2onnx")
    pytest.importorskip("onnxruntime")
    from adapters.paddle_onnx import PADDLE2ONNX_ABORTS_ON_PROJECTION

    script = textwrap.dedent(
        """
        from adapters.base import RunConfig
        from adapters.paddle_onnx import PaddleOnnxAdapter
        from reference import LSTMSpec, init_params
        spec = LSTMSpec(3, 4, proj_size=2)
        PaddleOnnxAdapter().export(RunConfig(spec, dtype="float32"), init_params(spec, seed=0))
        print("exported")
        """
    )
    result = run_script(script)
    assert result.returncode != 0 and "exported" not in result.stdout
    assert "Due to the unsupported operators, the conversion is aborted" in result.stdout + result.stderr
    assert PADDLE2ONNX_ABORTS_ON_PROJECTION.startswith("paddle2onnx: Due to the unsupported operators, the conversion is aborted")


def test_lstm_weight_count_follows_weights_through_the_nodes_that_build_them():
    """Weights stored once and concatenated by the graph count once; integer constants do not count."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from adapters.onnx_session import lstm_weight_count

    halves = [numpy_helper.from_array(np.ones((1, 8, 3), np.float32), name) for name in ("w_top", "w_bottom")]
    recurrent = numpy_helper.from_array(np.ones((1, 16, 4), np.float32), "r")
    shape = numpy_helper.from_array(np.array([1, 16, 3], np.int64), "shape")
    nodes = [
        helper.make_node("Concat", ["w_top", "w_bottom"], ["w"], axis=1),
        helper.make_node("Reshape", ["w", "shape"], ["w_shaped"]),
        helper.make_node("LSTM", ["x", "w_shaped", "r"], ["y"], hidden_size=4),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 1, 3])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [*halves, recurrent, shape],
    )
    assert lstm_weight_count(helper.make_model(graph).SerializeToString()) == 48 + 64
