"""The layered weight files (Keras ``.weights.h5``/``.keras``, ONNX models, Flax msgpack):
files the frameworks themselves wrote are read and converted into a torch LSTM that
computes what the framework computed, and files written here load into the framework
(with its own loader) and compute what torch computes. Each framework runs in its own
process, as Keras picks its backend once per process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from adapters.checkpoints import check_format_holds, find_lstm, read_checkpoint
from adapters.registry import load_adapter
from adapters.stored_layers import StoredLayer, natural_key, stack_layers
from reference import LSTMSpec

ROOT = Path(__file__).resolve().parents[2]
# Two stacked bidirectional layers: layer 1's input is layer 0's two directions.
INPUT, HIDDEN, STEPS, BATCH = 5, 4, 6, 3
# float64 end to end, so frameworks computing the same LSTM agree to float64 rounding
# over a few steps (the oracle's own tests see ~1e-16; 1e-12 leaves room for 6 steps).
FLOAT64_AGREEMENT = 1e-12
SPEC = LSTMSpec(input_size=INPUT, hidden_size=HIDDEN, num_layers=2, bidirectional=True)


def run_python(code: str, **environment: str) -> str:
    """Run ``code`` in a fresh Python (the framework imported only there); its stdout."""
    import os

    process = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, cwd=ROOT,
                             env={**os.environ, **environment})
    assert process.returncode == 0, process.stdout + process.stderr
    return process.stdout


def convert(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance.cli", "convert", *map(str, arguments)], capture_output=True, text=True, timeout=300, cwd=ROOT)


def inputs() -> np.ndarray:
    """[B, T, I] float64."""
    return np.random.default_rng(5).standard_normal((BATCH, STEPS, INPUT))


def torch_outputs(state: dict, prefix: str, x: np.ndarray) -> np.ndarray:
    """A fresh torch.nn.LSTM of SPEC loaded with the arrays under ``prefix`` (strictly): its outputs [B, T, 2H]."""
    import torch

    lstm = torch.nn.LSTM(INPUT, HIDDEN, num_layers=2, bidirectional=True, batch_first=True).double()
    lstm.load_state_dict({name.removeprefix(prefix): torch.as_tensor(np.asarray(value)) for name, value in state.items() if name.startswith(prefix)})
    return lstm(torch.from_numpy(x))[0].detach().numpy()


def torch_checkpoint(path: Path, dtype: str = "float64") -> np.ndarray:
    """A torch model (an embedding and SPEC's LSTM) with weights in ``dtype`` saved at
    ``path``; the LSTM's outputs on inputs(), computed in float64 on those weights."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Module()
    model.embed = torch.nn.Embedding(10, INPUT)
    model.lstm = torch.nn.LSTM(INPUT, HIDDEN, num_layers=2, bidirectional=True, batch_first=True).to(getattr(torch, dtype))
    torch.save(model.state_dict(), path)
    return model.lstm.double()(torch.from_numpy(inputs()))[0].detach().numpy()


KERAS_MODEL = """
    import os, numpy as np, keras
    keras.utils.set_random_seed(0)
    layer = lambda: keras.layers.LSTM({hidden}, return_sequences=True, bias_initializer="random_normal", dtype="float64")
    model = keras.Sequential([keras.Input((None, {input}), dtype="float64"), keras.layers.Bidirectional(layer(), dtype="float64"),
                              keras.layers.Bidirectional(layer(), dtype="float64"), keras.layers.Dense(2, dtype="float64")])
    model.save_weights("{folder}/model.weights.h5")
    model.save("{folder}/model.keras")
    outputs = np.load("{folder}/x.npy")
    for layer in model.layers[:2]:
        outputs = layer(outputs)
    np.save("{folder}/keras_outputs.npy", keras.ops.convert_to_numpy(outputs))
"""


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_a_keras_file_converts_to_a_torch_lstm_that_computes_what_keras_did(tmp_path, suffix):
    pytest.importorskip("keras")
    pytest.importorskip("torch")
    np.save(tmp_path / "x.npy", inputs())
    run_python(KERAS_MODEL.format(hidden=HIDDEN, input=INPUT, folder=tmp_path), KERAS_BACKEND="torch")
    found = find_lstm(read_checkpoint(tmp_path / f"model{suffix}"), load_adapter("keras-torch"))
    assert found.prefix == "layers/bidirectional:" and found.spec == SPEC
    assert set(found.others) == {"layers/dense/vars/0", "layers/dense/vars/1"}
    process = convert(tmp_path / f"model{suffix}", "--from", "keras-torch", "--to", "torch", "-o", tmp_path / "model.pt")
    assert process.returncode == 0 and "verdict: PARITY" in process.stdout, process.stdout + process.stderr
    assert "2 other arrays passed through" in process.stdout
    import torch

    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert state["layers/dense/vars/1"].shape == (2,)
    actual = torch_outputs(state, "layers/bidirectional:", inputs())
    np.testing.assert_allclose(actual, np.load(tmp_path / "keras_outputs.npy"), rtol=0, atol=FLOAT64_AGREEMENT)


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_torch_weights_written_as_a_keras_file_load_into_keras_and_compute_what_torch_did(tmp_path, suffix):
    pytest.importorskip("keras")
    pytest.importorskip("torch")
    expected = torch_checkpoint(tmp_path / "model.pt")
    process = convert(tmp_path / "model.pt", "--from", "torch", "--to", "keras-torch", "-o", tmp_path / f"lstm{suffix}")
    assert process.returncode == 0 and "verdict: PARITY" in process.stdout, process.stdout + process.stderr
    assert "its format holds the LSTM alone, so the source's 1 other arrays are not in it" in process.stdout
    np.save(tmp_path / "x.npy", inputs())
    load = (
        f'model = keras.saving.load_model("{tmp_path}/lstm.keras")'
        if suffix == ".keras"
        else f"""layer = lambda: keras.layers.LSTM({HIDDEN}, return_sequences=True, dtype="float64")
    model = keras.Sequential([keras.Input((None, {INPUT}), dtype="float64"), keras.layers.Bidirectional(layer(), dtype="float64"), keras.layers.Bidirectional(layer(), dtype="float64")])
    model.load_weights("{tmp_path}/lstm.weights.h5")"""
    )
    run_python(
        f"""
    import numpy as np, keras
    {load}
    np.save("{tmp_path}/keras_outputs.npy", keras.ops.convert_to_numpy(model(np.load("{tmp_path}/x.npy"))))
    """,
        KERAS_BACKEND="torch",
    )
    np.testing.assert_allclose(np.load(tmp_path / "keras_outputs.npy"), expected, rtol=0, atol=FLOAT64_AGREEMENT)


@pytest.mark.parametrize("dynamo", [True, False], ids=["torch-export", "torchscript"])
def test_an_onnx_model_torch_exported_converts_back_to_torch_and_a_written_one_runs_in_onnxruntime(tmp_path, dynamo):
    """torch.onnx.export's LSTM nodes (both exporters: each folds the reordered weights into
    initializers) are read from their initializers (gate order i, o, f, c)
    into a torch LSTM computing what the original did; and the model written for torch's
    float32 weights, run by ONNX Runtime itself, computes what torch does (ONNX Runtime has
    no float64 LSTM: 1e-5 allows its float32 rounding over 6 steps of values of order 1)."""
    torch = pytest.importorskip("torch")
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    expected = torch_checkpoint(tmp_path / "model.pt", "float32")
    lstm = torch.nn.LSTM(INPUT, HIDDEN, num_layers=2, bidirectional=True, batch_first=True)
    lstm.load_state_dict({name.removeprefix("lstm."): value for name, value in torch.load(tmp_path / "model.pt").items() if name.startswith("lstm.")})
    torch.onnx.export(lstm, (torch.zeros(BATCH, STEPS, INPUT),), str(tmp_path / "exported.onnx"), dynamo=dynamo)
    process = convert(tmp_path / "exported.onnx", "--from", "onnxruntime", "--to", "torch", "-o", tmp_path / "back.pt")
    assert process.returncode == 0 and "verdict: PARITY" in process.stdout, process.stdout + process.stderr
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    (prefix,) = {name.removesuffix("weight_ih_l0") for name in back if name.endswith("weight_ih_l0")}
    # The weights come back exactly (float32 in, float32 out), so float64 runs agree to float64 rounding.
    np.testing.assert_allclose(torch_outputs(back, prefix, inputs()), expected, rtol=0, atol=FLOAT64_AGREEMENT)
    process = convert(tmp_path / "model.pt", "--from", "torch", "--to", "onnxruntime", "-o", tmp_path / "written.onnx")
    assert process.returncode == 0 and "verdict: PARITY" in process.stdout, process.stdout + process.stderr
    session = onnxruntime.InferenceSession(str(tmp_path / "written.onnx"), providers=["CPUExecutionProvider"])
    (outputs, _, _) = session.run(None, {"X": inputs().transpose(1, 0, 2).astype(np.float32)})
    np.testing.assert_allclose(outputs.transpose(1, 0, 2), expected, rtol=0, atol=1e-5)


FLAX_MODEL = """
    import jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from flax import nnx, serialization
    rngs = nnx.Rngs(0)
    def rnn(size, reverse):
        cell = nnx.{cell}(size, {hidden}, dtype=jnp.float64, param_dtype=jnp.float64, rngs=rngs)
        return nnx.RNN(cell, reverse=reverse, keep_order=True)
    class Model(nnx.Module):
        def __init__(self):
            self.head = nnx.Linear(2, 2, rngs=rngs)
            self.layers = nnx.List([nnx.Bidirectional(rnn(size, False), rnn(size, True)) for size in ({input}, {both})])
    model = Model()
    for variable in jax.tree.leaves(nnx.state(model, nnx.Param), is_leaf=lambda leaf: isinstance(leaf, nnx.Variable)):
        if variable.value.ndim == 1:
            variable.value = jax.random.normal(jax.random.key(1), variable.value.shape, jnp.float64)
    open("{folder}/model.msgpack", "wb").write(serialization.to_bytes(nnx.state(model, nnx.Param).to_pure_dict()))
    import orbax.checkpoint as ocp
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save("{folder}/orbax", nnx.state(model, nnx.Param))
    checkpointer.wait_until_finished()
    x = jnp.asarray(np.load("{folder}/x.npy"))
    for layer in model.layers:
        x = layer(x)
    np.save("{folder}/flax_outputs.npy", np.asarray(x))
"""


@pytest.mark.parametrize("checkpoint", ["model.msgpack", "orbax"])
@pytest.mark.parametrize("cell, layout", [("OptimizedLSTMCell", "flax"), ("LSTMCell", "flax-lstmcell")])
def test_a_flax_checkpoint_converts_to_a_torch_lstm_that_computes_what_flax_did(tmp_path, cell, layout, checkpoint):
    """Flax's msgpack of a state's pure dict and Orbax's directory of an nnx.State (as Flax's
    guide saves one), both read without the model; written back, the same arrays."""
    pytest.importorskip("flax")
    pytest.importorskip("torch")
    np.save(tmp_path / "x.npy", inputs())
    run_python(FLAX_MODEL.format(cell=cell, hidden=HIDDEN, input=INPUT, both=2 * HIDDEN, folder=tmp_path))
    process = convert(tmp_path / checkpoint, "--from", layout, "--to", "torch", "-o", tmp_path / "model.pt")
    assert process.returncode == 0 and "verdict: PARITY" in process.stdout, process.stdout + process.stderr
    assert "source: {} LSTM under prefix 'layers.0:'".format(layout) in process.stdout and "2 other arrays passed through" in process.stdout
    import torch

    state = torch.load(tmp_path / "model.pt", weights_only=True)
    np.testing.assert_allclose(torch_outputs(state, "layers.0:", inputs()), np.load(tmp_path / "flax_outputs.npy"), rtol=0, atol=FLOAT64_AGREEMENT)
    written = f"{tmp_path / 'back'}/" if checkpoint == "orbax" else tmp_path / "back.msgpack"
    back = convert(tmp_path / "model.pt", "--from", "torch", "--to", layout, "-o", written, "--prefix", "layers.0:")
    assert back.returncode == 0 and "verdict: PARITY" in back.stdout, back.stdout + back.stderr
    original, rewritten = read_checkpoint(tmp_path / checkpoint), read_checkpoint(written)
    assert set(rewritten) == set(original)
    for name, array in original.items():
        np.testing.assert_array_equal(rewritten[name], array, err_msg=name)


def layer(path: str, input_size: int, hidden: int) -> StoredLayer:
    arrays = {"W": np.zeros((1, 4 * hidden, input_size))}
    return StoredLayer(path, "", arrays, {"W": f"{path}/W"}, input_size, hidden, 1)


def test_stored_layers_stack_only_where_sizes_chain_and_in_their_numbered_order():
    """An encoder (3 -> 4, 4 -> 4) and a decoder (6 -> 4) in one file are two LSTMs; ``_10`` follows ``_2``."""
    layers = sorted([layer("lstm_10", 6, 4), layer("lstm", 3, 4), layer("lstm_2", 4, 4)], key=lambda stored: natural_key(stored.path))
    assert [stored.path for stored in layers] == ["lstm", "lstm_2", "lstm_10"]
    stacked = stack_layers(layers, {"lstm/W": 0, "lstm_2/W": 0, "lstm_10/W": 0, "dense/W": 1})
    assert sorted(stacked) == ["dense/W", "lstm:layer0.W", "lstm:layer1.W", "lstm_10:layer0.W"]


def test_a_layered_format_refuses_another_layout_naming_both():
    with pytest.raises(ValueError, match=r"path: a onnx file stores an LSTM in the onnx layout, not torch's \(such as weight_ih_l0\); got 'x.onnx'"):
        check_format_holds("x.onnx", load_adapter("torch"), SPEC)
    with pytest.raises(ValueError, match=r"a keras file stores an LSTM in the keras layout, not flax's"):
        check_format_holds("x.weights.h5", load_adapter("flax"), SPEC)


def test_a_keras_archive_without_weights_is_named(tmp_path):
    import zipfile

    pytest.importorskip("h5py")
    with zipfile.ZipFile(tmp_path / "model.keras", "w") as archive:
        archive.writestr("config.json", json.dumps({}))
    with pytest.raises(ValueError, match=r"path: expected a Keras archive holding model.weights.h5, got .* holding \['config.json'\]"):
        read_checkpoint(tmp_path / "model.keras")


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_keras_files_round_trip_under_the_names_keras_gives_its_layers(tmp_path, suffix):
    """Written and read back with h5py alone: the same arrays, as Keras names a Sequential's
    layers (``lstm``, ``lstm_1``), the second layer taking the first's output (the source's
    prefix may itself look like a layer's name)."""
    pytest.importorskip("h5py")
    from adapters.checkpoints import write_checkpoint
    from reference import init_params

    spec = LSTMSpec(input_size=INPUT, hidden_size=HIDDEN, num_layers=2)
    arrays = {f"model.layer1.lstm.{name}": array.astype(np.float32) for name, array in load_adapter("keras-torch").canonical_to_backend(spec, init_params(spec, 2)).items()}
    read = read_checkpoint(write_checkpoint(tmp_path / f"lstm{suffix}", arrays))
    assert set(read) == {name.replace("model.layer1.lstm.", "layers/lstm:") for name in arrays}
    for name, array in arrays.items():
        np.testing.assert_array_equal(read[name.replace("model.layer1.lstm.", "layers/lstm:")], array, err_msg=name)
    with pytest.raises(ValueError, match=r"a Keras weights file holds one Sequential model's LSTM layers only, got other arrays \['head.weight'\]"):
        write_checkpoint(tmp_path / f"other{suffix}", {**arrays, "head.weight": np.ones(2)})


SETTINGS_SPECS = [
    LSTMSpec(input_size=INPUT, hidden_size=HIDDEN, num_layers=2, reverse=True, gate_activation="hard_sigmoid(alpha=0.25, beta=0.4)",
             candidate_activation="relu", cell_activation="softsign", activation_clip=3.0, input_forget=True),
    LSTMSpec(input_size=INPUT, hidden_size=HIDDEN, bidirectional=True, candidate_activation="leaky_relu(alpha=0.3)"),
]


@pytest.mark.parametrize("spec", SETTINGS_SPECS, ids=["reverse-clip-cifg", "bidirectional-leaky"])
def test_an_onnx_nodes_attributes_are_read_as_the_spec_they_were_written_from(tmp_path, spec):
    pytest.importorskip("onnx")
    from adapters.checkpoints import write_checkpoint
    from reference import init_params

    adapter = load_adapter("onnxruntime")
    arrays = {name: array.astype(np.float32) for name, array in adapter.canonical_to_backend(spec, init_params(spec, 4)).items()}
    found = find_lstm(read_checkpoint(write_checkpoint(tmp_path / "lstm.onnx", arrays, spec)), adapter)
    assert found.spec == spec
    assert all(np.array_equal(found.arrays[name], array) for name, array in arrays.items())


def test_onnx_activations_the_oracle_cannot_run_as_one_set_are_named(tmp_path):
    onnx = pytest.importorskip("onnx")
    spec = LSTMSpec(input_size=INPUT, hidden_size=HIDDEN, bidirectional=True)
    model = load_adapter("onnxruntime").model(spec, "float32", lengths=False, initial_states=False)
    (node,) = [node for node in model.graph.node if node.op_type == "LSTM"]
    node.name = "encoder"
    for activations, message in [
        (["Sigmoid", "Tanh", "Tanh", "Sigmoid", "Relu", "Tanh"], r"LSTM node 'encoder' has activations \['sigmoid', 'tanh', 'tanh'\] forward and \['sigmoid', 'relu', 'tanh'\] backward"),
        (["Sigmoid", "Gelu", "Tanh"] * 2, r"LSTM node 'encoder' has activation Gelu, which is none of the oracle's"),
    ]:
        del node.attribute[:]
        node.attribute.extend([onnx.helper.make_attribute("hidden_size", HIDDEN), onnx.helper.make_attribute("direction", "bidirectional"),
                               onnx.helper.make_attribute("activations", activations)])
        onnx.save(model, str(tmp_path / "model.onnx"))
        with pytest.raises(ValueError, match=message):
            read_checkpoint(tmp_path / "model.onnx")


def test_a_keras_model_with_relu_run_backwards_converts_to_onnx_with_both_and_onnxruntime_computes_what_keras_did(tmp_path):
    """The archive's config sets the spec (activation relu, go_backwards); torch, which has
    neither, is refused naming both; the ONNX model written carries both, and ONNX Runtime
    on it computes Keras's outputs (Keras returns a go_backwards layer's outputs in reversed
    time order; both in float32, as ONNX Runtime has no float64 LSTM: 1e-5 allows two
    float32 roundings over 6 steps of values of order 1)."""
    pytest.importorskip("keras")
    onnxruntime = pytest.importorskip("onnxruntime")
    np.save(tmp_path / "x.npy", inputs())
    run_python(
        f"""
    import numpy as np, keras
    keras.utils.set_random_seed(0)
    layer = keras.layers.LSTM({HIDDEN}, activation="relu", go_backwards=True, return_sequences=True, bias_initializer="random_normal")
    model = keras.Sequential([keras.Input((None, {INPUT})), layer])
    model.save("{tmp_path}/relu.keras")
    np.save("{tmp_path}/keras_outputs.npy", keras.ops.convert_to_numpy(model(np.load("{tmp_path}/x.npy"))))
    """,
        KERAS_BACKEND="torch",
    )
    refused = convert(tmp_path / "relu.keras", "--from", "keras-torch", "--to", "torch", "-o", tmp_path / "relu.pt")
    assert refused.returncode == 2 and "as its file sets: candidate_activation='relu', cell_activation='relu', reverse=True" in refused.stdout
    assert "torch.nn.LSTM has no reverse-only direction; torch.nn.LSTM has no activations other than sigmoid/tanh/tanh" in refused.stderr
    process = convert(tmp_path / "relu.keras", "--from", "keras-torch", "--to", "onnxruntime", "-o", tmp_path / "relu.onnx")
    assert process.returncode == 0 and "verdict: PARITY" in process.stdout, process.stdout + process.stderr
    session = onnxruntime.InferenceSession(str(tmp_path / "relu.onnx"), providers=["CPUExecutionProvider"])
    (outputs, _, _) = session.run(None, {"X": inputs().transpose(1, 0, 2).astype(np.float32)})
    np.testing.assert_allclose(outputs.transpose(1, 0, 2), np.load(tmp_path / "keras_outputs.npy")[:, ::-1], rtol=0, atol=1e-5)


def test_a_keras_archive_keeps_the_activations_and_direction_of_its_spec(tmp_path):
    """Written with h5py and json alone, read back: the config's activation, recurrent
    activation and go_backwards are the spec's; a .weights.h5 (weights only) reads as defaults."""
    pytest.importorskip("h5py")
    from dataclasses import replace

    from adapters.checkpoints import write_checkpoint
    from reference import init_params

    spec = LSTMSpec(input_size=INPUT, hidden_size=HIDDEN, num_layers=2, reverse=True, gate_activation="hard_sigmoid_relu6",
                    candidate_activation="elu(alpha=1.0)", cell_activation="elu(alpha=1.0)")
    adapter = load_adapter("keras-torch")
    arrays = adapter.canonical_to_backend(spec, init_params(spec, 6))
    for suffix, expected in ((".keras", spec), (".weights.h5", replace(spec, reverse=False, gate_activation="sigmoid", candidate_activation="tanh", cell_activation="tanh"))):
        found = find_lstm(read_checkpoint(write_checkpoint(tmp_path / f"lstm{suffix}", arrays, spec)), adapter)
        assert found.spec == expected, suffix
        assert [np.shape(array) for array in found.arrays.values()] == [np.shape(array) for array in arrays.values()]
