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

from conformance.porting.checkpoints import check_format_holds, find_lstm, read_checkpoint, write_checkpoint
from adapters.registry import load_adapter
from conformance.porting.stored_layers import StoredLayer, natural_key, stack_layers
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
    return subprocess.run([sys.executable, "-m", "conformance.commands.cli", "convert", *map(str, arguments)], capture_output=True, text=True, timeout=300, cwd=ROOT)


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


def to_torch(path: Path | str, source: str) -> tuple[str, dict[str, np.ndarray]]:
    """The LSTM in the file at ``path`` (``source``'s layout) converted with the Python API:
    its prefix, and its torch arrays under that prefix."""
    from conformance.porting.conversion import convert as convert_arrays

    found = find_lstm(read_checkpoint(path), load_adapter(source))
    arrays = convert_arrays(found.arrays, found.spec, load_adapter(source), load_adapter("torch"))
    return found.prefix, {found.prefix + name: array for name, array in arrays.items()}


KERAS_MODEL = """
    import numpy as np, keras
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


@pytest.fixture(scope="module")
def keras_saved(tmp_path_factory) -> Path:
    """A folder holding a float64 Keras model (two Bidirectional LSTM layers and a Dense head)
    as Keras saves it (model.weights.h5, model.keras) and its LSTM layers' outputs on inputs()."""
    pytest.importorskip("keras")
    folder = tmp_path_factory.mktemp("keras")
    np.save(folder / "x.npy", inputs())
    run_python(KERAS_MODEL.format(hidden=HIDDEN, input=INPUT, folder=folder), KERAS_BACKEND="torch")
    return folder


@pytest.mark.full_depth
@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_a_keras_file_converts_to_a_torch_lstm_that_computes_what_keras_did(keras_saved, suffix):
    pytest.importorskip("torch")
    found = find_lstm(read_checkpoint(keras_saved / f"model{suffix}"), load_adapter("keras-torch"))
    assert found.prefix == "layers/bidirectional:" and found.spec == SPEC
    assert set(found.others) == {"layers/dense/vars/0", "layers/dense/vars/1"}
    prefix, state = to_torch(keras_saved / f"model{suffix}", "keras-torch")
    np.testing.assert_allclose(torch_outputs(state, prefix, inputs()), np.load(keras_saved / "keras_outputs.npy"), rtol=0, atol=FLOAT64_AGREEMENT)


@pytest.mark.full_depth
def test_the_command_converts_a_keras_archive_into_a_torch_file_with_its_other_arrays(keras_saved, tmp_path):
    torch = pytest.importorskip("torch")
    process = convert(keras_saved / "model.keras", "--from", "keras-torch", "--to", "torch", "-o", tmp_path / "model.pt")
    assert process.returncode == 0 and "verdict: PARITY" in process.stdout, process.stdout + process.stderr
    assert "2 other arrays passed through" in process.stdout
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert state["layers/dense/vars/1"].shape == (2,)
    np.testing.assert_allclose(torch_outputs(state, "layers/bidirectional:", inputs()), np.load(keras_saved / "keras_outputs.npy"), rtol=0, atol=FLOAT64_AGREEMENT)


@pytest.mark.full_depth
def test_torch_weights_written_as_keras_files_load_into_keras_and_compute_what_torch_did(tmp_path):
    """The command writes the .keras (keras.saving.load_model takes it whole); the Python
    API the .weights.h5 (model.load_weights takes it into the same Sequential)."""
    pytest.importorskip("keras")
    pytest.importorskip("torch")
    from conformance.porting.conversion import convert as convert_arrays

    expected = torch_checkpoint(tmp_path / "model.pt")
    process = convert(tmp_path / "model.pt", "--from", "torch", "--to", "keras-torch", "-o", tmp_path / "lstm.keras")
    assert process.returncode == 0 and "verdict: PARITY" in process.stdout, process.stdout + process.stderr
    assert "its format holds the LSTM alone, so the source's 1 other arrays are not in it" in process.stdout
    found = find_lstm(read_checkpoint(tmp_path / "model.pt"), load_adapter("torch"))
    arrays = convert_arrays(found.arrays, found.spec, load_adapter("torch"), load_adapter("keras-torch"))
    write_checkpoint(tmp_path / "lstm.weights.h5", arrays, found.spec)
    np.save(tmp_path / "x.npy", inputs())
    run_python(
        f"""
    import numpy as np, keras
    x = np.load("{tmp_path}/x.npy")
    archive = keras.saving.load_model("{tmp_path}/lstm.keras")
    np.save("{tmp_path}/from_archive.npy", keras.ops.convert_to_numpy(archive(x)))
    layer = lambda: keras.layers.LSTM({HIDDEN}, return_sequences=True, dtype="float64")
    model = keras.Sequential([keras.Input((None, {INPUT}), dtype="float64"), keras.layers.Bidirectional(layer(), dtype="float64"),
                              keras.layers.Bidirectional(layer(), dtype="float64")])
    model.load_weights("{tmp_path}/lstm.weights.h5")
    np.save("{tmp_path}/from_weights.npy", keras.ops.convert_to_numpy(model(x)))
    """,
        KERAS_BACKEND="torch",
    )
    for loaded in ("from_archive", "from_weights"):
        np.testing.assert_allclose(np.load(tmp_path / f"{loaded}.npy"), expected, rtol=0, atol=FLOAT64_AGREEMENT, err_msg=loaded)


@pytest.mark.parametrize("dynamo", [True, False], ids=["torch-export", "torchscript"])
def test_an_onnx_model_torch_exported_converts_back_to_the_torch_lstm(tmp_path, dynamo):
    """torch.onnx.export's LSTM nodes (both exporters fold the reordered weights into
    initializers) are read from their initializers (gate order i, o, f, c) into a torch LSTM
    computing what the original did: the float32 weights come back exactly, so float64 runs
    agree to float64 rounding."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    expected = torch_checkpoint(tmp_path / "model.pt", "float32")
    lstm = torch.nn.LSTM(INPUT, HIDDEN, num_layers=2, bidirectional=True, batch_first=True)
    lstm.load_state_dict({name.removeprefix("lstm."): value for name, value in torch.load(tmp_path / "model.pt").items() if name.startswith("lstm.")})
    torch.onnx.export(lstm, (torch.zeros(BATCH, STEPS, INPUT),), str(tmp_path / "exported.onnx"), dynamo=dynamo)
    prefix, state = to_torch(tmp_path / "exported.onnx", "onnxruntime")
    np.testing.assert_allclose(torch_outputs(state, prefix, inputs()), expected, rtol=0, atol=FLOAT64_AGREEMENT)


@pytest.mark.full_depth
def test_the_command_writes_an_onnx_model_onnxruntime_runs_like_torch_and_reads_it_back(tmp_path):
    """Torch's float32 weights as an ONNX model, run by ONNX Runtime itself (it has no float64
    LSTM: 1e-5 allows its float32 rounding over 6 steps of values of order 1); read back by
    the command, parity again."""
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    expected = torch_checkpoint(tmp_path / "model.pt", "float32")
    process = convert(tmp_path / "model.pt", "--from", "torch", "--to", "onnxruntime", "-o", tmp_path / "written.onnx")
    assert process.returncode == 0 and "verdict: PARITY" in process.stdout, process.stdout + process.stderr
    session = onnxruntime.InferenceSession(str(tmp_path / "written.onnx"), providers=["CPUExecutionProvider"])
    (outputs, _, _) = session.run(None, {"X": inputs().transpose(1, 0, 2).astype(np.float32)})
    np.testing.assert_allclose(outputs.transpose(1, 0, 2), expected, rtol=0, atol=1e-5)
    back = convert(tmp_path / "written.onnx", "--from", "onnxruntime", "--to", "torch", "-o", tmp_path / "back.pt")
    assert back.returncode == 0 and "source: onnxruntime LSTM under prefix 'LSTM_0:'" in back.stdout and "verdict: PARITY" in back.stdout


FLAX_MODEL = """
    import jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import orbax.checkpoint as ocp
    from flax import nnx, serialization
    def rnn(cell, size, reverse, rngs):
        return nnx.RNN(cell(size, {hidden}, dtype=jnp.float64, param_dtype=jnp.float64, rngs=rngs), reverse=reverse, keep_order=True)
    class Model(nnx.Module):
        def __init__(self, cell, rngs):
            self.head = nnx.Linear(2, 2, rngs=rngs)
            self.layers = nnx.List([nnx.Bidirectional(rnn(cell, size, False, rngs), rnn(cell, size, True, rngs)) for size in ({input}, {both})])
    for name in ("OptimizedLSTMCell", "LSTMCell"):
        model = Model(getattr(nnx, name), nnx.Rngs(0))
        for variable in jax.tree.leaves(nnx.state(model, nnx.Param), is_leaf=lambda leaf: isinstance(leaf, nnx.Variable)):
            if variable.value.ndim == 1:
                variable.value = jax.random.normal(jax.random.key(1), variable.value.shape, jnp.float64)
        open(f"{folder}/{{name}}.msgpack", "wb").write(serialization.to_bytes(nnx.state(model, nnx.Param).to_pure_dict()))
        checkpointer = ocp.StandardCheckpointer()
        checkpointer.save(f"{folder}/{{name}}-orbax", nnx.state(model, nnx.Param))
        checkpointer.wait_until_finished()
        x = jnp.asarray(np.load("{folder}/x.npy"))
        for layer in model.layers:
            x = layer(x)
        np.save(f"{folder}/{{name}}-outputs.npy", np.asarray(x))
"""


@pytest.fixture(scope="module")
def flax_saved(tmp_path_factory) -> Path:
    """A folder holding, for each Flax cell, a float64 model (a Linear head and two
    Bidirectional layers in an nnx.List) saved by Flax as {cell}.msgpack (a state's pure dict)
    and {cell}-orbax (Orbax's directory of an nnx.State, as Flax's guide saves one), and its
    layers' outputs on inputs()."""
    pytest.importorskip("flax")
    folder = tmp_path_factory.mktemp("flax")
    np.save(folder / "x.npy", inputs())
    run_python(FLAX_MODEL.format(hidden=HIDDEN, input=INPUT, both=2 * HIDDEN, folder=folder))
    return folder


@pytest.mark.full_depth
@pytest.mark.parametrize("checkpoint", ["msgpack", "orbax"])
@pytest.mark.parametrize("cell, layout", [("OptimizedLSTMCell", "flax"), ("LSTMCell", "flax-lstmcell")])
def test_a_flax_checkpoint_converts_to_a_torch_lstm_that_computes_what_flax_did_and_back(flax_saved, tmp_path, cell, layout, checkpoint):
    """Read without the model into torch arrays computing Flax's outputs; those written back
    in Flax's layout and format are the checkpoint's own arrays."""
    pytest.importorskip("torch")
    from conformance.porting.checkpoints import write_checkpoint
    from conformance.porting.conversion import convert as convert_arrays

    path = flax_saved / (f"{cell}.msgpack" if checkpoint == "msgpack" else f"{cell}-orbax")
    prefix, state = to_torch(path, layout)
    assert prefix == "layers.0:"
    np.testing.assert_allclose(torch_outputs(state, prefix, inputs()), np.load(flax_saved / f"{cell}-outputs.npy"), rtol=0, atol=FLOAT64_AGREEMENT)
    original = read_checkpoint(path)
    found = find_lstm({name.removeprefix(prefix): array for name, array in state.items()}, load_adapter("torch"))
    back = convert_arrays(found.arrays, found.spec, load_adapter("torch"), load_adapter(layout))
    others = {name: array for name, array in original.items() if not name.startswith(prefix)}
    written = f"{tmp_path / 'back'}/" if checkpoint == "orbax" else tmp_path / "back.msgpack"
    rewritten = read_checkpoint(write_checkpoint(written, {**others, **{prefix + name: array for name, array in back.items()}}))
    assert set(rewritten) == set(original)
    for name, array in original.items():
        np.testing.assert_array_equal(rewritten[name], array, err_msg=name)


@pytest.mark.full_depth
def test_the_command_converts_a_flax_checkpoint_with_its_other_arrays(flax_saved, tmp_path):
    torch = pytest.importorskip("torch")
    process = convert(flax_saved / "OptimizedLSTMCell-orbax", "--from", "flax", "--to", "torch", "-o", tmp_path / "model.pt")
    assert process.returncode == 0 and "verdict: PARITY" in process.stdout, process.stdout + process.stderr
    assert "source: flax LSTM under prefix 'layers.0:'" in process.stdout and "2 other arrays passed through" in process.stdout
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    np.testing.assert_allclose(torch_outputs(state, "layers.0:", inputs()), np.load(flax_saved / "OptimizedLSTMCell-outputs.npy"), rtol=0, atol=FLOAT64_AGREEMENT)


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
    from conformance.porting.checkpoints import write_checkpoint
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
    from conformance.porting.checkpoints import write_checkpoint
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


@pytest.mark.full_depth
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
    assert "torch has no reverse direction; torch has no activation relu (as candidate_activation)" in refused.stderr
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

    from conformance.porting.checkpoints import write_checkpoint
    from reference import init_params

    spec = LSTMSpec(input_size=INPUT, hidden_size=HIDDEN, num_layers=2, reverse=True, gate_activation="hard_sigmoid_relu6",
                    candidate_activation="elu(alpha=1.0)", cell_activation="elu(alpha=1.0)")
    adapter = load_adapter("keras-torch")
    arrays = adapter.canonical_to_backend(spec, init_params(spec, 6))
    for suffix, expected in ((".keras", spec), (".weights.h5", replace(spec, reverse=False, gate_activation="sigmoid", candidate_activation="tanh", cell_activation="tanh"))):
        found = find_lstm(read_checkpoint(write_checkpoint(tmp_path / f"lstm{suffix}", arrays, spec)), adapter)
        assert found.spec == expected, suffix
        assert [np.shape(array) for array in found.arrays.values()] == [np.shape(array) for array in arrays.values()]


def test_the_weights_proof_allows_one_rounding_of_a_folded_bias_and_nothing_else():
    """torch's two float32 biases folded into Keras's one float32 bias round once: that
    passes, with the difference reported; a bias two rounding steps off, or a moved array
    off by one, fails."""
    from conformance.porting.conversion import convert as convert_arrays
    from conformance.porting.proof import compare_weights
    from reference import init_params

    spec = LSTMSpec(input_size=INPUT, hidden_size=HIDDEN)
    torch_adapter, keras_adapter = load_adapter("torch"), load_adapter("keras-torch")
    source = {name: array.astype(np.float32) for name, array in torch_adapter.canonical_to_backend(spec, init_params(spec, 8)).items()}
    stored = {name: array.astype(np.float32) for name, array in convert_arrays(source, spec, torch_adapter, keras_adapter).items()}
    source_params = torch_adapter.backend_to_canonical(spec, {name: array.astype(np.float64) for name, array in source.items()})

    def proof(arrays):
        return compare_weights(source_params, keras_adapter.backend_to_canonical(spec, {name: array.astype(np.float64) for name, array in arrays.items()}), "float32")

    folded = proof(stored)
    assert folded.passed and folded.moved_difference == 0 and 0 < folded.bias_difference <= folded.bias_allowance
    bias = stored["layer0.forward.bias"]
    off = np.nextafter(np.nextafter(bias, np.inf), np.inf)
    assert not proof({**stored, "layer0.forward.bias": off}).passed
    kernel = stored["layer0.forward.kernel"]
    assert not proof({**stored, "layer0.forward.kernel": np.nextafter(kernel, np.inf)}).passed
