"""Weight files from strangers: no code runs from a file, and a file no reader can read is
one clear error naming the path.

The payloads are live: unpickled without restriction, each creates its marker file (the
first test shows it), so a reader that ran one would leave the marker behind.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from conformance.porting import paddle_files
from conformance.porting.checkpoints import read_checkpoint
from conformance.commands.cli import main

PROTOCOLS = (0, 2, 4)


class Payload:
    """Unpickled, runs ``touch MARKER`` through ``os.system``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def payload_file(folder: Path, protocol: int, place: str) -> tuple[Path, Path]:
    """A ``.pdparams`` whose payload sits in ``place`` of a state dict; (file, marker)."""
    marker = folder / f"ran-{protocol}-{place}"
    weights = {"lstm.weight_ih_l0": np.zeros((8, 3), np.float32)}
    placed = {
        "value": {**weights, "lstm.weight_hh_l0": Payload(marker)},
        "pair": {**weights, "lstm.weight_hh_l0": ("weight_hh_l0", Payload(marker))},
        "name table": {**weights, paddle_files.NAME_TABLE: {"lstm.weight_ih_l0": Payload(marker)}},
        "whole file": Payload(marker),
    }[place]
    path = folder / f"payload-{protocol}-{place.replace(' ', '-')}.pdparams"
    path.write_bytes(pickle.dumps(placed, protocol=protocol))
    return path, marker


PLACES = ("value", "pair", "name table", "whole file")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_payloads_are_live(tmp_path, protocol):
    path, marker = payload_file(tmp_path, protocol, "value")
    pickle.loads(path.read_bytes())
    assert marker.exists()


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_pdparams_payload_is_refused_naming_its_global_and_never_runs(tmp_path, protocol, place):
    path, marker = payload_file(tmp_path, protocol, place)
    with pytest.raises(ValueError, match=r"names the global (posix|os)\.system, which a Paddle state dict never holds; refused without running it"):
        read_checkpoint(path)
    assert not marker.exists()


def convert_arguments(tmp_path: Path) -> list[str]:
    """A torch checkpoint to convert into Paddle's layout."""
    from adapters.registry import load_adapter
    from reference import LSTMSpec, init_params

    spec = LSTMSpec(input_size=3, hidden_size=2)
    arrays = load_adapter("torch").canonical_to_backend(spec, init_params(spec, seed=0))
    np.savez(tmp_path / "source.npz", **{f"lstm.{name}": array for name, array in arrays.items()})
    return [str(tmp_path / "source.npz"), "--from", "torch", "--to", "paddle"]


@pytest.mark.parametrize("position", ["source", "--check-only output"])
def test_convert_refuses_a_payload_in_either_position(tmp_path, capsys, position):
    path, marker = payload_file(tmp_path, 4, "value")
    if position == "source":
        arguments = ["convert", str(path), "--from", "paddle", "--to", "torch", "-o", str(tmp_path / "out.pt")]
    else:
        arguments = ["convert", *convert_arguments(tmp_path), "-o", str(path), "--check-only"]
    assert main(arguments) == 2
    printed = capsys.readouterr()
    assert "refused without running it" in printed.err and len(printed.err.splitlines()) == 1
    assert not marker.exists() and not (tmp_path / "out.pt").exists()


def test_object_arrays_are_refused_even_without_a_foreign_global(tmp_path):
    path = tmp_path / "objects.pdparams"
    path.write_bytes(pickle.dumps({"w": np.array(["rm -rf /", 1], dtype=object)}, protocol=4))
    with pytest.raises(ValueError, match="w: expected a numeric array, got an array of dtype object"):
        read_checkpoint(path)


def test_paddle_2_1_pairs_and_split_arrays_read_as_paddle_load_joins_them(tmp_path):
    """What ``paddle.save`` writes besides plain arrays, made by hand: a (name, array) pair, an
    array split into slices with its joining table, the name table."""
    whole = np.arange(12.0).reshape(3, 4)
    saved = {
        "pair": ("linear_0.w_0", np.ones(2, np.float32)),
        "big@@.0": whole.ravel()[:5],
        "big@@.1": whole.ravel()[5:],
        paddle_files.SPLIT_ARRAYS: {"big": {"OriginShape": (3, 4), "slices": ["big@@.0", "big@@.1"]}},
        paddle_files.NAME_TABLE: {"pair": "linear_0.w_0"},
    }
    path = tmp_path / "old.pdparams"
    path.write_bytes(pickle.dumps(saved, protocol=2))
    read = read_checkpoint(path)
    assert sorted(read) == ["big", "pair"]
    np.testing.assert_array_equal(read["big"], whole)
    np.testing.assert_array_equal(read["pair"], np.ones(2, np.float32))


def test_a_file_paddle_saved_reads_as_paddle_loads_it(tmp_path):
    paddle = pytest.importorskip("paddle")
    layer = paddle.nn.LSTM(3, 4, num_layers=2, direction="bidirect")
    paddle.save(layer.state_dict(), str(tmp_path / "layer.pdparams"))
    expected = paddle.load(str(tmp_path / "layer.pdparams"), return_numpy=True)
    read = read_checkpoint(tmp_path / "layer.pdparams")
    assert sorted(read) == sorted(expected)
    for name, array in expected.items():
        np.testing.assert_array_equal(read[name], array, err_msg=name)
        assert read[name].dtype == array.dtype


def truncated(source: Path, folder: Path) -> Path:
    """The first half of ``source``'s bytes, under the same name in ``folder``."""
    path = folder / source.name
    path.write_bytes(source.read_bytes()[: len(source.read_bytes()) // 2])
    return path


BAD_FILES = {
    "text as .pt": ("model.pt", b"hello, not a checkpoint\n"),
    "text as .pth": ("model.pth", b"hello\n"),
    "text as .pdparams": ("model.pdparams", b"hello\n"),
    "text as .npz": ("model.npz", b"hello\n"),
    "text as .weights.h5": ("model.weights.h5", b"hello\n"),
    "text as .keras": ("model.keras", b"hello\n"),
    "text as .onnx": ("model.onnx", b"\xff\xfe garbage"),
    "text as .msgpack": ("model.msgpack", b"\xc1"),
    "empty .pdparams": ("model.pdparams", b""),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_a_file_its_reader_refuses_is_one_line_naming_the_path(tmp_path, name):
    file_name, content = BAD_FILES[name]
    path = tmp_path / file_name
    path.write_bytes(content)
    with pytest.raises(ValueError) as raised:
        read_checkpoint(path)
    message = str(raised.value)
    assert message.startswith("path: ") and str(path) in message and len(message.splitlines()) == 1, message


def test_truncated_checkpoints_and_an_empty_orbax_folder_are_clear_errors(tmp_path):
    torch = pytest.importorskip("torch")
    whole = tmp_path / "whole"
    whole.mkdir()
    torch.save(torch.nn.LSTM(3, 4).state_dict(), whole / "model.pt")
    np.savez(whole / "model.npz", w=np.ones((50, 50)))
    (whole / "model.pdparams").write_bytes(pickle.dumps({"w": np.ones((50, 50))}, protocol=4))
    (tmp_path / "orbax").mkdir()
    broken = [truncated(whole / name, tmp_path) for name in ("model.pt", "model.npz", "model.pdparams")] + [tmp_path / "orbax"]
    for path in broken:
        with pytest.raises(ValueError, match=r"^path: .*" + str(path)):
            read_checkpoint(path)


class OtherCodec:
    """Unpickled, calls ``_codecs.encode`` with a codec other than Latin-1 (a decompressor's)."""

    def __reduce__(self):
        import _codecs

        return (_codecs.encode, (b"x" * 10, "zlib_codec"))


def test_only_latin_1_is_reachable_through_codecs(tmp_path):
    path = tmp_path / "codec.pdparams"
    path.write_bytes(pickle.dumps({"w": OtherCodec()}, protocol=2))
    with pytest.raises(ValueError, match="names the global _codecs.encode with the codec 'zlib_codec'"):
        read_checkpoint(path)
