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
forward unless a ``.keras`` archive's config says ``go_backwards``; from that config,
``activation`` and ``recurrent_activation`` become the spec's activations as well.

Written, an LSTM becomes what ``keras.Sequential`` of its layers (``LSTM``, or
``Bidirectional(LSTM)``, each ``return_sequences=True``) saves: ``model.load_weights``
takes the ``.weights.h5``, ``keras.saving.load_model`` the ``.keras``. Neither holds
arrays that are no layer's, so other arrays of a checkpoint cannot be written there.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path

import numpy as np

from reference import LSTMSpec
from reference.activations import activation_text

from adapters.keras_lstm import KERAS_ACTIVATIONS
from conformance.porting.stored_layers import StoredLayer, group_directions, split_stacks, stack_layers

SUFFIXES = (".weights.h5", ".keras")
CELL_VARIABLES = ("kernel", "recurrent_kernel", "bias")
DIRECTIONS = {"forward_layer": "forward", "backward_layer": "backward"}
ARCHIVE_WEIGHTS = "model.weights.h5"
ARCHIVE_CONFIG = "config.json"
# Keras's activation names -> the oracle's activations (KERAS_ACTIVATIONS turned around).
ORACLE_ACTIVATIONS = {keras_name: activation_text(name, **implied) for name, (keras_name, implied) in KERAS_ACTIVATIONS.items()}
SPEC_DEFAULTS = {spec_field.name: spec_field.default for spec_field in fields(LSTMSpec)}


def read_file(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a ``.weights.h5`` or ``.keras`` file, LSTM layers stacked (module docstring)."""
    import h5py

    config: Mapping = {}
    if path.name.endswith(".keras"):
        with zipfile.ZipFile(path) as archive:
            if ARCHIVE_WEIGHTS not in archive.namelist():
                raise ValueError(f"path: expected a Keras archive holding {ARCHIVE_WEIGHTS}, got {str(path)!r} holding {archive.namelist()}")
            source = io.BytesIO(archive.read(ARCHIVE_WEIGHTS))
            config = json.loads(archive.read(ARCHIVE_CONFIG)) if ARCHIVE_CONFIG in archive.namelist() else {}
    else:
        source = path
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(source, "r") as file:
        file.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return stack_layers(keras_layers(arrays, layer_settings(config)), arrays)


def snake_case(name: str) -> str:
    """A class name as Keras names its instances in files: ``InputLayer`` -> ``input_layer``, ``LSTM`` -> ``lstm``."""
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)).lower()


def oracle_activation(path: str, option: str, value: object) -> str:
    """The oracle's activation for a Keras layer's ``activation``/``recurrent_activation``."""
    if isinstance(value, Mapping):  # a registered function, serialized with its name as config
        value = value.get("config")
    if not isinstance(value, str) or value not in ORACLE_ACTIVATIONS:
        raise ValueError(f"path: the {option} of Keras layer {path} is {value!r}, which is none of the oracle's activations ({', '.join(ORACLE_ACTIVATIONS)})")
    return ORACLE_ACTIVATIONS[value]


def layer_settings(config: Mapping) -> dict[str, dict[str, object]]:
    """The spec fields other than their defaults that the top-level LSTM layers of a
    ``.keras`` archive's ``config.json`` set, by each layer's path in the weights file (Keras
    numbers the instances of each class in model order: ``lstm``, ``lstm_1``, ...)."""
    counts: dict[str, int] = {}
    settings = {}
    for layer in config.get("config", {}).get("layers", []):
        own = snake_case(layer["class_name"])
        counts[own] = counts.get(own, -1) + 1
        path = f"layers/{own}" + (f"_{counts[own]}" if counts[own] else "")
        bidirectional = layer["class_name"] == "Bidirectional"
        lstm = layer["config"]["layer"] if bidirectional else layer
        if lstm.get("class_name") != "LSTM":
            continue
        options = lstm["config"]
        candidate = oracle_activation(path, "activation", options.get("activation", "tanh"))
        found = {
            "gate_activation": oracle_activation(path, "recurrent_activation", options.get("recurrent_activation", "sigmoid")),
            "candidate_activation": candidate,
            "cell_activation": candidate,
            "reverse": bool(options.get("go_backwards", False)) and not bidirectional,
        }
        settings[path] = {name: value for name, value in found.items() if value != SPEC_DEFAULTS[name]}
    return settings


def cell_arrays(arrays: Mapping[str, np.ndarray], layer: str) -> dict[str, str] | None:
    """Variable name -> file name of the LSTM cell of the layer at ``layer``, or None when it has none."""
    names = {variable: f"{layer}/cell/vars/{index}" for index, variable in enumerate(CELL_VARIABLES) if f"{layer}/cell/vars/{index}" in arrays}
    if f"{layer}/cell/vars/{len(CELL_VARIABLES)}" in arrays or set(names) not in ({"kernel", "recurrent_kernel"}, set(CELL_VARIABLES)):
        return None
    kernel, recurrent = (np.shape(arrays[names[variable]]) for variable in ("kernel", "recurrent_kernel"))
    bias = np.shape(arrays[names["bias"]]) if "bias" in names else (4 * recurrent[0],)
    wide = len(kernel) == 2 and len(recurrent) == 2 and kernel[1] == recurrent[1] == 4 * recurrent[0] == bias[0] and len(bias) == 1
    return names if wide else None


def keras_layers(arrays: Mapping[str, np.ndarray], settings: Mapping[str, Mapping[str, object]]) -> list[StoredLayer]:
    """The LSTM layers among a Keras file's arrays, in stacking order, with the ``settings``
    of each path (see :func:`layer_settings`)."""
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
                settings=settings.get(path, {}),
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


def sequential_config(layers: list[dict[str, np.ndarray]], spec: LSTMSpec | None) -> dict:
    """The ``config.json`` of a ``keras.Sequential`` of the layers (``return_sequences=True``),
    with ``spec``'s activations (Keras's defaults without one)."""
    activations = {"activation": "tanh", "recurrent_activation": "sigmoid"}
    if spec is not None:
        activations = {
            option: KERAS_ACTIVATIONS[spec.activation(role).name][0]
            for option, role in (("activation", "candidate_activation"), ("recurrent_activation", "gate_activation"))
        }
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
                **activations,
                "dtype": dtype,
            },
        }
        wrapper = {"module": "keras.layers", "class_name": "Bidirectional", "config": {"name": name, "layer": lstm, "merge_mode": "concat", "dtype": dtype}}
        configs.append(lstm if len(directions) == 1 else wrapper)
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "layers": configs, "dtype": dtype}}


def write_file(path: Path, arrays: Mapping[str, np.ndarray], spec: LSTMSpec | None = None) -> None:
    """The one LSTM among ``arrays`` (named in the keras adapters' layout under any prefix)
    as a ``.weights.h5`` or ``.keras`` file (whose config takes ``spec``'s activations);
    ValueError when other arrays are among them."""
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
        archive.writestr(ARCHIVE_CONFIG, json.dumps(sequential_config(layers, spec)))
        archive.writestr(ARCHIVE_WEIGHTS, weights.getvalue())
