"""Flax checkpoints, read without the model and without a hub: Flax's msgpack format
(``.msgpack``: what ``flax.serialization.to_bytes(nnx.state(model, nnx.Param).to_pure_dict())``
writes, read with ``flax.serialization.msgpack_restore``), and Orbax checkpoint
directories (what Flax's guide saves: ``ocp.StandardCheckpointer().save(path,
nnx.state(model))``, restored here into NumPy arrays shaped from its own metadata; a path
that is a directory, or ends in a separator when written).

The nested dict is flattened into dotted names (``layers.0.forward_rnn.cell.dense_i.kernel``;
an Orbax checkpoint of an ``nnx.State`` keeps each array under ``value``, which is dropped
when read and added when written). An ``nnx.RNN`` is a module whose ``cell`` holds one of the two Flax cells' weights
(``OptimizedLSTMCell``'s ``dense_i``/``dense_h``, ``LSTMCell``'s ``ii`` ... ``ho``); an
``nnx.Bidirectional`` holds two RNNs, ``forward_rnn`` and ``backward_rnn``. Each is one
layer of the ``flax`` / ``flax-lstmcell`` layouts (:mod:`adapters.flax_lstm`); a lone
RNN's direction is read as forward. Modules of one container stack in the container's
order (``layers.0``, ``layers.1``, ...) where their sizes chain.

Written, an LSTM's layers go to ``{container}.{k}`` (an ``nnx.List`` of them): the
container is the LSTM's prefix without its trailing separator and, for a stack read from
a Flax file (``layers.0:``), without the first layer's index; ``layers`` for no prefix.
Every other array keeps its dotted place. Orbax stores each name's parts as keys of its
own, so a written name's parts must be plain words (:data:`KEY_PART`): no separator, no
``..``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from reference import LSTMSpec

from adapters.flax_lstm import FLAX_LAYOUT, FLAX_PER_GATE_LAYOUT
from adapters.layouts import cell_paths
from conformance.porting.stored_layers import STACK_END, StoredLayer, group_directions, split_stacks, stack_layers

SUFFIXES = (".msgpack",)
# Where an Orbax checkpoint of an nnx.State keeps a variable's array.
VARIABLE_VALUE = ".value"
# Each Flax cell's weight names, and which of them are its input and recurrent kernels
# ([I, 4H] and [H, 4H] for OptimizedLSTMCell, [I, H] and [H, H] per gate for LSTMCell).
CELLS = {
    cell_paths(FLAX_LAYOUT): ("dense_i.kernel", "dense_h.kernel"),
    cell_paths(FLAX_PER_GATE_LAYOUT): ("ii.kernel", "hi.kernel"),
}
DIRECTIONS = {"forward_rnn": "forward", "backward_rnn": "backward"}
# What one dotted part of a name written into an Orbax checkpoint may be.
KEY_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_:\-]*")


def check_key_parts(names: list[str]) -> None:
    """ValueError naming the first name with a part that is not :data:`KEY_PART`."""
    for name in names:
        if not all(KEY_PART.fullmatch(part) for part in name.split(".")):
            raise ValueError(f"arrays: expected names of dotted words ({KEY_PART.pattern}) in an Orbax checkpoint, got {name!r}")


def flatten(tree: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = np.asarray(value)
    return flat


def unflatten(arrays: Mapping[str, np.ndarray]) -> dict:
    """Dotted names as a nested dict; ValueError when a name is both an array and a module."""
    tree: dict = {}
    for name, array in arrays.items():
        *parents, leaf = name.split(".")
        node = tree
        for depth, key in enumerate(parents):
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"arrays: {'.'.join(parents[: depth + 1])} is an array and also holds {name}")
        if leaf in node:
            raise ValueError(f"arrays: {name} is a module and also an array")
        node[leaf] = np.asarray(array)
    return tree


def restore_orbax(path: Path) -> Mapping:
    """An Orbax checkpoint's tree as NumPy arrays in their stored dtypes (restored without a
    target, Orbax makes JAX arrays, which without JAX's x64 mode would be float32)."""
    import jax
    import orbax.checkpoint as ocp

    checkpointer = ocp.StandardCheckpointer()
    metadata = checkpointer.metadata(path.absolute())
    stored = getattr(metadata, "item_metadata", metadata)
    target = jax.tree_util.tree_map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), stored, is_leaf=lambda leaf: hasattr(leaf, "shape") and hasattr(leaf, "dtype"))
    return checkpointer.restore(path.absolute(), target)


def read_file(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a Flax checkpoint, its LSTM modules stacked (module docstring)."""
    if path.is_dir():
        tree = restore_orbax(path)
    else:
        from flax import serialization

        tree = serialization.msgpack_restore(path.read_bytes())
    if not isinstance(tree, Mapping):
        raise ValueError(f"path: expected a Flax state dict in {str(path)!r}, got {type(tree).__name__}")
    arrays = {name.removesuffix(VARIABLE_VALUE): array for name, array in flatten(tree).items()}
    return stack_layers(flax_layers(arrays), arrays)


def cell_names(arrays: Mapping[str, np.ndarray], cell: str) -> tuple[str, ...] | None:
    """The weight names of the Flax cell at ``cell``, or None when none is there."""
    return next((names for names in CELLS if all(f"{cell}.{name}" in arrays for name in names)), None)


def flax_layers(arrays: Mapping[str, np.ndarray]) -> list[StoredLayer]:
    """The RNN and Bidirectional modules among a Flax checkpoint's arrays, in stacking order."""
    rnns = {}
    for name in arrays:
        rnn = name.partition(".cell.")[0] if ".cell." in name else None
        if rnn is not None and rnn not in rnns and cell_names(arrays, f"{rnn}.cell"):
            rnns[rnn] = cell_names(arrays, f"{rnn}.cell")
    stored = []
    for path, directions in group_directions({rnn: rnn for rnn in rnns}, ".", DIRECTIONS).items():
        sources = {f"{direction}.{name}": f"{rnn}.cell.{name}" for direction, rnn in directions.items() for name in rnns[rnn]}
        input_kernel, recurrent_kernel = CELLS[rnns[directions["forward"]]]
        stored.append(
            StoredLayer(path, path.rpartition(".")[0], {name: arrays[source] for name, source in sources.items()}, sources,
                        input_size=np.shape(arrays[sources[f"forward.{input_kernel}"]])[0],
                        hidden_size=np.shape(arrays[sources[f"forward.{recurrent_kernel}"]])[0], num_directions=len(directions))
        )
    return stored


def is_layer_name(name: str) -> bool:
    direction, _, weight = name.partition(".")
    return direction in DIRECTIONS.values() and any(weight in names for names in CELLS)


def container_of(prefix: str) -> str:
    """Where a written LSTM's layers go (module docstring)."""
    base = prefix.rstrip("./" + STACK_END)
    if prefix.endswith(STACK_END):
        parent, _, index = base.rpartition(".")
        base = parent if index.isdigit() else base
    return base or "layers"


def write_file(path: Path, arrays: Mapping[str, np.ndarray], spec: LSTMSpec | None = None) -> None:
    """``arrays`` as a Flax msgpack checkpoint or Orbax directory, the LSTM (named in a flax
    layout under any prefix) as an ``nnx.List`` of ``RNN``/``Bidirectional`` modules. A Flax
    checkpoint holds weights only: ``spec`` (its activations) has no place there."""
    from flax import serialization

    prefix, layers, others = split_stacks(arrays, is_layer_name)
    container = container_of(prefix)
    placed = {}
    for k, layer in enumerate(layers):
        directions = {name.partition(".")[0] for name in layer}
        for name, array in layer.items():
            direction, _, weight = name.partition(".")
            module = f"{direction}_rnn." if len(directions) == 2 else ""
            placed[f"{container}.{k}.{module}cell.{weight}"] = array
    if path.suffix in SUFFIXES:
        path.write_bytes(serialization.to_bytes(unflatten({**others, **placed})))
        return
    check_key_parts([*others, *placed])
    import orbax.checkpoint as ocp

    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(path.absolute(), unflatten({f"{name}{VARIABLE_VALUE}": array for name, array in {**others, **placed}.items()}))
    checkpointer.wait_until_finished()
