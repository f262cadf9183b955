"""Keras 3 weight files: ``.weights.h5`` (``model.save_weights``) and ``.keras`` archives
(``model.save``), read and written with h5py alone, no Keras needed.

Keras stores a layer's variables by creation order, under the layer's place in the model
(``layers/lstm_1/cell/vars/0``): an ``LSTM``'s cell has ``vars/0`` the kernel [I, 4H],
``vars/1`` the recurrent kernel [H, 4H] and ``vars/2`` the bias [4H] (with ``use_bias``);
a ``Bidirectional`` holds two such layers, ``forward_layer`` and ``backward_layer``. A
group is recognised as an LSTM layer by those shapes (a GRU's are 3H wide), and becomes one
layer of the ``keras`` adapters' layout (``forward.kernel``, ...; see
:mod:`adapters.keras_lstm`). Keras names the layers of one class in model order (``lstm``,
``lstm_1``, ...), which is the order they stack in; a lone layer's direction is read as
forward (whether it ran with ``go_backwards`` is in no weights file).

Written, an LSTM becomes what ``keras.Sequential`` of its layers (``LSTM``, or
``Bidirectional(LSTM)``, each ``return_sequences=True``) saves: ``model.load_weights``
takes the ``.weights.h5``, ``keras.saving.load_model`` the ``.keras``. Neither holds
arrays that are no layer's, so other arrays of a checkpoint cannot be written there.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .stored_layers import StoredLayer, group_directions, split_stacks, stack_layers

SUFFIXES = (".weights.h5", ".keras")
CELL_VARIABLES = ("kernel", "recurrent_kernel", "bias")
DIRECTIONS = {"forward_layer": "forward", "backward_layer": "backward"}
ARCHIVE_WEIGHTS = "model.weights.h5"


def read_file(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a ``.weights.h5`` or ``.keras`` file, LSTM layers stacked (module docstring)."""
    import h5py

    if path.name.endswith(".keras"):
        with zipfile.ZipFile(path) as archive:
            if ARCHIVE_WEIGHTS not in archive.namelist():
                raise ValueError(f"path: expected a Keras archive holding {ARCHIVE_WEIGHTS}, got {str(path)!r} holding {archive.namelist()}")
            source = io.BytesIO(archive.read(ARCHIVE_WEIGHTS))
    else:
        source = path
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(source, "r") as file:
        file.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return stack_layers(keras_layers(arrays), arrays)


def cell_arrays(arrays: Mapping[str, np.ndarray], layer: str) -> dict[str, str] | None:
    """Variable name -> file name of the LSTM cell of the layer at ``layer``, or None when it has none."""
    names = {variable: f"{layer}/cell/vars/{index}" for index, variable in enumerate(CELL_VARIABLES) if f"{layer}/cell/vars/{index}" in arrays}
    if f"{layer}/cell/vars/{len(CELL_VARIABLES)}" in arrays or set(names) not in ({"kernel", "recurrent_kernel"}, set(CELL_VARIABLES)):
        return None
    kernel, recurrent = (np.shape(arrays[names[variable]]) for variable in ("kernel", "recurrent_kernel"))
    bias = np.shape(arrays[names["bias"]]) if "bias" in names else (4 * recurrent[0],)
    wide = len(kernel) == 2 and len(recurrent) == 2 and kernel[1] == recurrent[1] == 4 * recurrent[0] == bias[0] and len(bias) == 1
    return names if wide else None


def keras_layers(arrays: Mapping[str, np.ndarray]) -> list[StoredLayer]:
    """The LSTM layers among a Keras file's arrays, in stacking order."""
    cells = {}
    for name in arrays:
        if name.endswith("/cell/vars/1"):
            layer = name.removesuffix("/cell/vars/1")
            found = cell_arrays(arrays, layer)
            if found is not None:
                cells[layer] = found
    stored = []
    for path, directions in group_directions(cells, "/", DIRECTIONS).items():
        sources = {f"{direction}.{variable}": name for direction, variables in directions.items() for variable, name in variables.items()}
        kernel, recurrent = np.shape(arrays[directions["forward"]["kernel"]]), np.shape(arrays[directions["forward"]["recurrent_kernel"]])
        stored.append(
            StoredLayer(
                path=path,
                container=path.rpartition("/")[0],
                arrays={name: arrays[source] for name, source in sources.items()},
                sources=sources,
                input_size=kernel[0],
                hidden_size=recurrent[0],
                num_directions=len(directions),
            )
        )
    return stored


def is_layer_name(name: str) -> bool:
    direction, _, variable = name.partition(".")
    return direction in DIRECTIONS.values() and variable in CELL_VARIABLES


def keras_layer_names(layers: list[dict[str, np.ndarray]]) -> list[str]:
    """The names Keras gives the layers of a Sequential model in its files, in model order."""
    classes = ["bidirectional" if {"forward.kernel", "backward.kernel"} <= set(layer) else "lstm" for layer in layers]
    return [name if not index else f"{name}_{index}" for index, name in ((classes[:position].count(name), name) for position, name in enumerate(classes))]


def write_weights_h5(target, layers: list[dict[str, np.ndarray]]) -> None:
    """The layers as ``keras.Sequential``'s ``save_weights`` writes them, to a path or file object."""
    import h5py

    with h5py.File(target, "w") as file:
        file.create_group("vars").attrs["name"] = "sequential"
        for name, layer in zip(keras_layer_names(layers), layers):
            group = file.create_group(f"layers/{name}")
            group.create_group("vars").attrs["name"] = name
            directions = sorted({key.partition(".")[0] for key in layer}, reverse=True)
            for direction in directions:
                owner = group.require_group(f"{direction}_layer") if len(directions) == 2 else group
                if len(directions) == 2:
                    owner.create_group("vars").attrs["name"] = f"{direction}_lstm"
                variables = owner.create_group("cell/vars")
                variables.attrs["name"] = "lstm_cell"
                for index, variable in enumerate(variable for variable in CELL_VARIABLES if f"{direction}.{variable}" in layer):
                    variables.create_dataset(str(index), data=np.asarray(layer[f"{direction}.{variable}"]))


def sequential_config(layers: list[dict[str, np.ndarray]]) -> dict:
    """The ``config.json`` of a ``keras.Sequential`` of the layers (``return_sequences=True``)."""
    first = layers[0]
    input_size = np.shape(first.get("forward.kernel", first.get("backward.kernel")))[0]
    dtype = str(np.result_type(*first.values()))
    configs = [{"module": "keras.layers", "class_name": "InputLayer", "config": {"name": "input_layer", "batch_shape": [None, None, int(input_size)], "dtype": dtype}}]
    for name, layer in zip(keras_layer_names(layers), layers):
        directions = {key.partition(".")[0] for key in layer}
        direction = next(iter(directions))
        lstm = {
            "module": "keras.layers",
            "class_name": "LSTM",
            "config": {
                "name": name if len(directions) == 1 else "forward_lstm",
                "units": int(np.shape(layer[f"{direction}.recurrent_kernel"])[0]),
                "use_bias": f"{direction}.bias" in layer,
                "return_sequences": True,
                "go_backwards": directions == {"backward"},
                "dtype": dtype,
            },
        }
        configs.append(lstm if len(directions) == 1 else {"module": "keras.layers", "class_name": "Bidirectional", "config": {"name": name, "layer": lstm, "merge_mode": "concat", "dtype": dtype}})
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "layers": configs, "dtype": dtype}}


def write_file(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """The one LSTM among ``arrays`` (named in the keras adapters' layout under any prefix)
    as a ``.weights.h5`` or ``.keras`` file; ValueError when other arrays are among them."""
    _, layers, others = split_stacks(arrays, is_layer_name)
    if others or not layers:
        raise ValueError(f"arrays: a Keras weights file holds one Sequential model's LSTM layers only, got other arrays {sorted(others)[:8]}")
    if path.name.endswith(".weights.h5"):
        write_weights_h5(path, layers)
        return
    weights = io.BytesIO()
    write_weights_h5(weights, layers)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3", "date_saved": ""}))
        archive.writestr("config.json", json.dumps(sequential_config(layers)))
        archive.writestr(ARCHIVE_WEIGHTS, weights.getvalue())
