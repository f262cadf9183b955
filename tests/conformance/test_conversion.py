"""Weight conversion between every pair of adapters, spec inference, checkpoint files and
the ``lstm-parity convert`` command."""

from __future__ import annotations

import itertools
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conformance.porting.checkpoints import find_lstm, read_checkpoint, write_checkpoint
from conformance.porting.conversion import convert, infer_spec, unsupported_features
from adapters.example import ExampleAdapter
from adapters.registry import BUILTIN_ADAPTERS, load_adapter
from conformance.commands.convert import parse_known
from conformance.porting.proof import prove_conversion
from reference import LSTMSpec, init_params

ROOT = Path(__file__).resolve().parents[2]
SPECS = [
    LSTMSpec(input_size=6, hidden_size=8, num_layers=2, bidirectional=True, proj_size=3),
    LSTMSpec(input_size=5, hidden_size=7, num_layers=3, bidirectional=True),
    LSTMSpec(input_size=4, hidden_size=6, num_layers=2, bias=False),
    LSTMSpec(input_size=3, hidden_size=5, peepholes=True),
]
ADAPTERS = {name: load_adapter(name) for name in BUILTIN_ADAPTERS}
# Backends whose every run is a quick call (the export pipelines export a model per run and
# share the layout of torch or paddle, whose runs stand for theirs here).
RUNNABLE = [name for name, adapter in ADAPTERS.items() if not getattr(adapter, "costly_runs", False)]


def holds(name: str, spec: LSTMSpec) -> bool:
    return not unsupported_features(ADAPTERS[name], spec)


def same_lstm(first, second) -> None:
    """Canonical parameters of the same LSTM: weights equal, the two biases' sums equal."""
    for one, other in zip(first, second, strict=True):
        for name, array in one.arrays().items():
            if name not in ("b_ih", "b_hh"):
                np.testing.assert_array_equal(getattr(other, name), array, err_msg=name)
        if one.b_ih is not None:
            np.testing.assert_allclose(other.b_ih + other.b_hh, one.b_ih + one.b_hh, rtol=0, atol=1e-15)


PAIRS = [(spec, a, b) for spec in SPECS for a, b in itertools.permutations(ADAPTERS, 2) if holds(a, spec) and holds(b, spec)]


@pytest.mark.full_depth
@pytest.mark.parametrize("spec, source, target", PAIRS, ids=[f"{a}-to-{b}-{i}" for i, (_, a, b) in enumerate(PAIRS)])
def test_every_pair_converts_the_same_lstm(spec, source, target):
    params = init_params(spec, seed=7)
    arrays = ADAPTERS[source].canonical_to_backend(spec, params)
    converted = convert(arrays, spec, ADAPTERS[source], ADAPTERS[target])
    assert infer_spec(converted, ADAPTERS[target]) == spec
    same_lstm(params, ADAPTERS[target].backend_to_canonical(spec, converted))
    back = convert(converted, spec, ADAPTERS[target], ADAPTERS[source])
    same_lstm(params, ADAPTERS[source].backend_to_canonical(spec, back))


@pytest.mark.full_depth
def test_every_pair_of_runnable_backends_has_parity_through_the_target_framework():
    """The converted weights are the source's (float64 arrays: bias sums to float64 rounding),
    and the target framework runs them as the oracle does: to float64 precision where the
    target takes float64."""
    proven = 0
    for spec, source, target in PAIRS:
        if source not in RUNNABLE or target not in RUNNABLE or not all(ADAPTERS[name].availability().available for name in (source, target)):
            continue
        arrays = ADAPTERS[source].canonical_to_backend(spec, init_params(spec, seed=3))
        proofs = prove_conversion(spec, ADAPTERS[source], arrays, ADAPTERS[target], convert(arrays, spec, ADAPTERS[source], ADAPTERS[target]))
        if any(proof.deviations for proof in proofs):
            # A framework's registered bug for this spec (paddle.nn.LSTM without bias) is
            # reported by the proof, not a conversion error.
            assert all(proof.passed or proof.deviations for proof in proofs)
            continue
        assert all(proof.passed for proof in proofs), "\n".join(line for proof in proofs for line in proof.describe())
        weights, _, target_side = proofs
        assert weights.moved_difference == 0 and weights.bias_difference <= 1e-15
        if target_side.dtype == "float64":
            assert max(comparison.max_abs_error for comparison in target_side.comparisons) < 1e-12
        proven += 1
    if not proven:
        pytest.skip("fewer than two runnable backends installed")


def test_a_feature_the_target_lacks_is_an_error_naming_it():
    spec = SPECS[0]
    arrays = ADAPTERS["torch"].canonical_to_backend(spec, init_params(spec, 0))
    with pytest.raises(ValueError, match="target: onnxruntime cannot hold .*the ONNX LSTM operator has no projection"):
        convert(arrays, spec, ADAPTERS["torch"], ADAPTERS["onnxruntime"])
    with pytest.raises(ValueError, match=r"arrays: not the torch arrays of .*missing weight_hr_l1_reverse \(3, 8\)"):
        convert({k: v for k, v in arrays.items() if k != "weight_hr_l1_reverse"}, spec, ADAPTERS["torch"], ADAPTERS["paddle"])


class AugmentedKernelAdapter(ExampleAdapter):
    """The bias stored as the kernel's last row: [I + 1, 4H] with bias reads like [I, 4H]
    without, so the arrays alone cannot tell input_size and bias apart."""

    name = "augmented-kernel"
    supports = replace(ExampleAdapter.supports, features=ExampleAdapter.supports.features | {"no_bias"})

    def canonical_to_backend(self, spec, params):
        cell = params[0]
        rows = [cell.w_ih.T, (cell.b_ih + cell.b_hh)[None]] if spec.bias else [cell.w_ih.T]
        return {"kernel": np.concatenate(rows), "recurrent_kernel": cell.w_hh.T}


def test_an_ambiguous_layout_names_the_fields_and_the_argument_that_settles_it():
    spec = LSTMSpec(input_size=4, hidden_size=4)
    arrays = AugmentedKernelAdapter().canonical_to_backend(spec, init_params(spec, 0))
    with pytest.raises(
        ValueError,
        match=r"ambiguous for augmented-kernel: input_size could be 4 or 5; bias could be False or True; pass input_size=..., bias=... to settle it",
    ):
        infer_spec(arrays, AugmentedKernelAdapter())
    assert infer_spec(arrays, AugmentedKernelAdapter(), bias=True) == spec
    with pytest.raises(ValueError, match="no LSTMSpec gives exactly these torch arrays"):
        infer_spec({"weight_ih_l0": np.zeros((8, 3))}, ADAPTERS["torch"])


def test_spec_settings_are_typed_and_bad_ones_named():
    assert parse_known(["num_layers=2", "bias=false", "bidirectional=True"]) == {"num_layers": 2, "bias": False, "bidirectional": True}
    with pytest.raises(ValueError, match="--spec: expected FIELD=VALUE with FIELD one of input_size, .*, got 'layers=2'"):
        parse_known(["layers=2"])
    with pytest.raises(ValueError, match="--spec: expected an integer or true/false for hidden_size, got 'eight'"):
        parse_known(["hidden_size=eight"])


def test_a_checkpoint_with_several_lstms_needs_a_prefix_and_keeps_everything_else(tmp_path):
    encoder, decoder = SPECS[0], SPECS[2]
    torch_adapter = ADAPTERS["torch"]
    checkpoint = {"embed.weight": np.ones((10, 6), np.float32)}
    for prefix, spec in (("encoder.lstm.", encoder), ("decoder.lstm.", decoder)):
        checkpoint.update({prefix + name: array.astype(np.float32) for name, array in torch_adapter.canonical_to_backend(spec, init_params(spec, 1)).items()})
    with pytest.raises(ValueError, match=r"several torch LSTMs, under prefixes \['decoder.lstm.', 'encoder.lstm.'\]; pass prefix"):
        find_lstm(checkpoint, torch_adapter)
    with pytest.raises(ValueError, match=r"prefix: expected one of \['decoder.lstm.', 'encoder.lstm.'\] .*, got 'lstm.'"):
        find_lstm(checkpoint, torch_adapter, "lstm.")
    found = find_lstm(checkpoint, torch_adapter, "decoder.lstm.")
    assert found.spec == decoder and set(found.others) == {"embed.weight"} | {name for name in checkpoint if name.startswith("encoder.")}
    path = write_checkpoint(tmp_path / "model.npz", checkpoint)
    read = read_checkpoint(path)
    assert set(read) == set(checkpoint) and all(np.array_equal(read[name], checkpoint[name]) for name in checkpoint)


@pytest.mark.parametrize("proj_size", [0, 3])
def test_paddle_state_dict_aliases_are_the_layers_own(proj_size):
    """paddle.nn.LSTM's state dict names each parameter a second time; the adapter knows
    which tensor each flat name holds, shifted ones (with a projection) included."""
    paddle = pytest.importorskip("paddle")
    spec = LSTMSpec(input_size=6, hidden_size=8, num_layers=2, bidirectional=True, proj_size=proj_size)
    state = {name: value.numpy() for name, value in paddle.nn.LSTM(6, 8, num_layers=2, direction="bidirect", proj_size=proj_size).state_dict().items()}
    aliases = ADAPTERS["paddle"].state_dict_aliases(spec)
    assert set(state) == set(aliases) | set(ADAPTERS["paddle"].canonical_to_backend(spec, init_params(spec, 0)))
    assert all(np.array_equal(state[alias], state[name]) for alias, name in aliases.items())
    shifted = [alias for alias, name in aliases.items() if alias.split("_l")[0] != name.split(".")[-1]]
    assert bool(shifted) == bool(proj_size)


@pytest.mark.full_depth
def test_the_command_writes_a_file_the_target_framework_loads_and_runs_like_the_source(tmp_path):
    """torch -> paddle: the written .pdparams loads into a real paddle.nn.LSTM, whose outputs
    equal torch's on the same input, with no code of this project in between."""
    torch = pytest.importorskip("torch")
    paddle = pytest.importorskip("paddle")
    torch.manual_seed(0)
    model = torch.nn.Module()
    model.embed = torch.nn.Embedding(10, 6)
    model.lstm = torch.nn.LSTM(6, 8, num_layers=2, bidirectional=True, proj_size=3).double()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    command = [sys.executable, "-m", "conformance.commands.cli", "convert", str(tmp_path / "model.pt"), "--from", "torch", "--to", "paddle", "-o", str(tmp_path / "model.pdparams")]
    process = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert process.returncode == 0, process.stdout + process.stderr
    assert "source: torch LSTM under prefix 'lstm.'" in process.stdout and "1 other arrays passed through" in process.stdout
    assert "verdict: PARITY" in process.stdout
    state = paddle.load(str(tmp_path / "model.pdparams"))
    paddle.set_default_dtype("float64")
    try:
        layer = paddle.nn.LSTM(6, 8, num_layers=2, direction="bidirect", proj_size=3)
    finally:
        paddle.set_default_dtype("float32")
    missing, unexpected = layer.set_state_dict({name.removeprefix("lstm."): value for name, value in state.items() if name.startswith("lstm.")})
    assert not missing and not unexpected
    assert np.array_equal(state["embed.weight"].numpy(), model.embed.weight.detach().numpy())
    x = np.random.default_rng(0).standard_normal((3, 5, 6))
    expected, _ = model.lstm(torch.from_numpy(x).transpose(0, 1))
    actual, _ = layer(paddle.to_tensor(x))
    np.testing.assert_allclose(actual.numpy(), expected.transpose(0, 1).detach().numpy(), rtol=0, atol=1e-13)
    check = subprocess.run([*command, "--check-only"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert check.returncode == 0 and "verdict: PARITY" in check.stdout, check.stdout + check.stderr
    state["lstm.0.cell_fw.weight_hh"] = state["lstm.0.cell_fw.weight_hh"] * 1.01
    paddle.save(state, str(tmp_path / "model.pdparams"))
    inconsistent = subprocess.run([*command, "--check-only"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert inconsistent.returncode == 2
    assert "lstm.weight_hh_l0 should repeat lstm.0.cell_fw.weight_hh (as paddle stores it), but differs" in inconsistent.stderr
    state["lstm.weight_hh_l0"] = state["lstm.0.cell_fw.weight_hh"]
    paddle.save(state, str(tmp_path / "model.pdparams"))
    tampered = subprocess.run([*command, "--check-only"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert tampered.returncode == 1 and "verdict: MISMATCH" in tampered.stdout, tampered.stdout + tampered.stderr


def test_a_nan_weight_fails_the_weights_proof_and_names_it():
    from conformance.porting.proof import compare_weights

    spec = SPECS[3]
    params = init_params(spec, seed=2)
    broken = init_params(spec, seed=2)
    broken[0].w_hh[1, 2] = np.nan
    proof = compare_weights(params, broken, "float64")
    assert not proof.passed and np.isnan(proof.moved_difference)
    assert "moved arrays max abs difference nan (must be 0)" in proof.describe()[0] and "MISMATCH" in proof.describe()[0]
    broken = init_params(spec, seed=2)
    broken[0].b_hh[0] = np.nan
    assert not compare_weights(params, broken, "float32").passed


def test_the_command_writes_its_output_after_the_proof_and_only_when_the_weights_hold(tmp_path):
    """The output appears after both sides were proven; a source with a NaN weight converts
    to weights the proof rejects, and nothing is written."""
    pytest.importorskip("torch")
    spec = LSTMSpec(input_size=3, hidden_size=4)
    arrays = ADAPTERS["torch"].canonical_to_backend(spec, init_params(spec, seed=3))
    np.savez(tmp_path / "good.npz", **{f"lstm.{name}": array for name, array in arrays.items()})
    command = [sys.executable, "-m", "conformance.commands.cli", "convert", "--from", "torch", "--to", "paddle-legacy"]
    good = subprocess.run([*command, str(tmp_path / "good.npz"), "-o", str(tmp_path / "good-out.npz")], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert good.returncode == 0, good.stdout + good.stderr
    lines = good.stdout.splitlines()
    written = next(index for index, line in enumerate(lines) if line.startswith("wrote "))
    assert written > next(index for index, line in enumerate(lines) if line.startswith("target "))
    assert (tmp_path / "good-out.npz").exists() and sorted(path.name for path in tmp_path.iterdir()) == ["good-out.npz", "good.npz"]
    arrays["weight_hh_l0"][0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", **{f"lstm.{name}": array for name, array in arrays.items()})
    refused = subprocess.run([*command, str(tmp_path / "nan.npz"), "-o", str(tmp_path / "nan-out.npz")], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "moved arrays max abs difference nan" in refused.stdout and "not written" in refused.stdout
    assert not (tmp_path / "nan-out.npz").exists()
