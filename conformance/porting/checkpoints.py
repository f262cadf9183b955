"""Reading and writing the weight files porters have, and finding an LSTM inside them.

A checkpoint is read as a flat mapping of names to NumPy arrays, by file suffix:
``.npz`` (NumPy, no framework needed), ``.pt``/``.pth`` (a torch ``state_dict``, or a dict
holding one under ``state_dict``; read with ``weights_only``), ``.pdparams`` (Paddle's
pickle, read without Paddle by a restricted unpickler: :mod:`conformance.porting.paddle_files`), and
formats that store an LSTM
layer by layer, whose layers are stacked and named in an adapter's layout as they are read
(:mod:`conformance.porting.stored_layers`): Keras's ``.weights.h5`` and ``.keras``
(:mod:`conformance.porting.keras_files`), ONNX models' initializers (:mod:`conformance.porting.onnx_files`),
Flax's msgpack checkpoints and Orbax checkpoint directories (:mod:`conformance.porting.flax_files`).
No format runs code from a file, and a file a reader cannot read (corrupt, truncated, of
another format) is a ValueError naming the path and what the reader said.
Keras files and ONNX models hold the LSTM alone when written. An LSTM's arrays sit under a
module prefix (``encoder.lstm.``); :func:`find_lstm` finds it by the names the adapter
gives its arrays, infers the spec, and returns every other array untouched. A framework
whose state dict holds some arrays twice under other names (paddle.nn.LSTM's flat names)
says so through its adapter's optional ``state_dict_aliases(spec)``: read, the aliases are
checked against the arrays they repeat; written, they are added.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from reference import LSTMSpec

from adapters.base import Adapter
from conformance.porting import flax_files, keras_files, onnx_files, paddle_files
from conformance.porting.conversion import PLACEHOLDER_SIZES, expected_arrays, infer_spec, spec_of, structures, unsupported_features
from conformance.porting.stored_layers import layer_name_parts

SUFFIXES = {
    ".npz": "numpy", ".pt": "torch", ".pth": "torch", ".pdparams": "paddle",
    **dict.fromkeys(keras_files.SUFFIXES, "keras"), **dict.fromkeys(onnx_files.SUFFIXES, "onnx"), **dict.fromkeys(flax_files.SUFFIXES, "flax"),
}
# Formats that store an LSTM layer by layer, each a module with ``read_file(path)``,
# ``write_file(path, arrays, spec)`` and ``is_layer_name(name)`` (the names of one layer of an
# adapter's layout it stores).
LAYERED_FORMATS = {"keras": keras_files, "onnx": onnx_files, "flax": flax_files}
# Formats written with the LSTM alone: a checkpoint's other arrays have no place there.
LSTM_ONLY_FORMATS = ("keras", "onnx")
# A module prefix ends where a name's part does: "encoder.lstm." (never "lstm.1" of "lstm.10.").
PREFIX_ENDS = "./:"


def is_directory_format(path: str | Path) -> bool:
    """Whether ``path`` names an Orbax checkpoint directory: a directory, or a path ending in a
    separator."""
    return Path(path).is_dir() or os.fspath(path).endswith(("/", os.sep))


def checkpoint_format(path: str | Path) -> str:
    """The format of ``path``: by suffix, or an Orbax checkpoint (Flax) for a directory or a
    path ending in a separator."""
    if is_directory_format(path):
        return "flax"
    kind = next((kind for suffix, kind in SUFFIXES.items() if Path(path).name.endswith(suffix)), None)
    if kind is None:
        raise ValueError(f"path: expected a file ending in {', '.join(SUFFIXES)} or an Orbax checkpoint directory, got {os.fspath(path)!r}")
    return kind


def holds_other_arrays(path: str | Path) -> bool:
    """Whether a file of ``path``'s format can hold arrays other than an LSTM's."""
    return checkpoint_format(path) not in LSTM_ONLY_FORMATS


def keeps_names(path: str | Path) -> bool:
    """Whether a file of ``path``'s format keeps the names arrays are written under (a layered
    format names an LSTM, when read, by where it stored it)."""
    return checkpoint_format(path) not in LAYERED_FORMATS


def check_format_holds(path: str | Path, adapter: Adapter, spec: LSTMSpec) -> None:
    """ValueError when ``path``'s format cannot store ``adapter``'s arrays of ``spec``."""
    kind = checkpoint_format(path)
    if kind in LAYERED_FORMATS:
        names = list(expected_arrays(adapter, spec))
        foreign = [name for name in names if layer_name_parts(name, LAYERED_FORMATS[kind].is_layer_name) is None]
        if foreign:
            raise ValueError(f"path: a {kind} file stores an LSTM in the {kind} layout, not {adapter.name}'s (such as {foreign[0]}); got {str(path)!r}")


def read_torch(path: Path) -> dict[str, np.ndarray]:
    import torch

    loaded = torch.load(path, map_location="cpu", weights_only=True)
    state = loaded.get("state_dict", loaded) if isinstance(loaded, Mapping) else None
    if not isinstance(state, Mapping):
        raise ValueError(f"path: expected a torch state_dict in {str(path)!r}, got {type(loaded).__name__}")
    return {name: value.detach().cpu().numpy() for name, value in state.items() if isinstance(value, torch.Tensor)}


def read_numpy(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


READERS = {"numpy": read_numpy, "torch": read_torch, "paddle": paddle_files.read_file, **{kind: module.read_file for kind, module in LAYERED_FORMATS.items()}}


def read_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of the file at ``path``, by name (see the module docstring for formats);
    ValueError naming the path for a file that is missing or cannot be read as its format."""
    kind = checkpoint_format(path)
    path = Path(path)
    if not path.exists():
        raise ValueError(f"path: expected an existing file, got {str(path)!r}")
    try:
        return READERS[kind](path)
    except Exception as error:  # each framework's reader fails in its own way on a bad file
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if isinstance(error, ValueError) and message.startswith(("path:", "checkpoint:", "arrays:")):
            raise
        raise ValueError(f"path: expected a readable {kind} file, got {str(path)!r}, which its reader refused ({type(error).__name__}: {message[:300]})") from None


def write_checkpoint(path: str | Path, arrays: Mapping[str, np.ndarray], spec: LSTMSpec | None = None) -> Path:
    """Write ``arrays`` in the format of ``path`` (see :func:`checkpoint_format`); returns the
    path. ``spec``: the LSTM's, for a format that stores settings besides the weights (a
    ``.keras`` archive's activations, an ONNX node's attributes)."""
    kind = checkpoint_format(path)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind in LAYERED_FORMATS:
        LAYERED_FORMATS[kind].write_file(path, arrays, spec)
    elif kind == "numpy":
        with path.open("wb") as file:
            np.savez(file, **arrays)
    elif kind == "torch":
        import torch

        torch.save({name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in arrays.items()}, path)
    else:
        import paddle

        paddle.save({name: paddle.to_tensor(np.ascontiguousarray(array)) for name, array in arrays.items()}, str(path))
    return path


def aliases_of(adapter: Adapter, spec: LSTMSpec) -> dict[str, str]:
    """Alias name -> the adapter's array name it repeats, in the framework's state dict."""
    aliases = getattr(adapter, "state_dict_aliases", None)
    return dict(aliases(spec)) if aliases is not None else {}


def with_aliases(adapter: Adapter, spec: LSTMSpec, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``arrays`` and their aliases, as the framework's own state dict holds them."""
    return {**{alias: arrays[name] for alias, name in aliases_of(adapter, spec).items()}, **arrays}


def possible_names(adapter: Adapter) -> set[str]:
    """Every array name ``adapter`` gives any LSTM (up to the inference's layer limit)."""
    names: set[str] = set()
    for structure in structures({}):
        spec = spec_of(structure, PLACEHOLDER_SIZES)
        if spec is not None and not unsupported_features(adapter, spec):
            names |= set(expected_arrays(adapter, spec))
    return names


@dataclass(frozen=True)
class FoundLSTM:
    """An LSTM inside a checkpoint: its prefix, spec and arrays (names without the prefix),
    every other array of the checkpoint (full names), and the spec fields its file sets
    besides the weights (a Keras archive's activations, an ONNX node's attributes)."""

    prefix: str
    spec: LSTMSpec
    arrays: dict[str, np.ndarray]
    others: dict[str, np.ndarray]
    settings: dict[str, object] = field(default_factory=dict)


def find_lstm(checkpoint: Mapping[str, np.ndarray], adapter: Adapter, prefix: str | None = None, **known) -> FoundLSTM:
    """The LSTM stored in ``adapter``'s layout in ``checkpoint``, under ``prefix`` (found when
    None: an error lists the prefixes when there are several). ``known``: see
    :func:`conformance.porting.conversion.infer_spec`."""
    names = possible_names(adapter)
    found = {name[: len(name) - len(own)] for name in checkpoint for own in names if name.endswith(own)}
    found = {candidate for candidate in found if not candidate or candidate[-1] in PREFIX_ENDS}
    if prefix is None:
        if not found:
            raise ValueError(f"checkpoint: no {adapter.name} LSTM arrays found among {sorted(checkpoint)[:8]}...")
        if len(found) > 1:
            raise ValueError(f"checkpoint: several {adapter.name} LSTMs, under prefixes {sorted(found)}; pass prefix (--prefix) to choose one")
        (prefix,) = found
    elif prefix not in found:
        raise ValueError(f"prefix: expected one of {sorted(found)} (where {adapter.name} LSTM arrays are), got {prefix!r}")
    arrays = {name[len(prefix) :]: array for name, array in checkpoint.items() if name.startswith(prefix) and name[len(prefix) :] in names}
    spec = infer_spec(arrays, adapter, **known)
    owned = set(arrays)
    settings = getattr(checkpoint, "settings", {}).get(prefix, {})
    if settings:
        # What the file says besides the weights (activations, a reversed direction); where
        # that renames arrays (a reverse-only layer's cells are "backward"), in layout order.
        structural, spec = spec, replace(spec, **settings)
        arrays = dict(zip(expected_arrays(adapter, spec), (arrays[name] for name in expected_arrays(adapter, structural))))
    for alias, name in aliases_of(adapter, spec).items():
        if prefix + alias in checkpoint:
            if not np.array_equal(checkpoint[prefix + alias], arrays[name]):
                raise ValueError(f"checkpoint: {prefix + alias} should repeat {prefix + name} (as {adapter.name} stores it), but differs")
            owned.add(alias)
    others = {name: array for name, array in checkpoint.items() if not (name.startswith(prefix) and name[len(prefix) :] in owned)}
    return FoundLSTM(prefix, spec, arrays, others, dict(settings))
