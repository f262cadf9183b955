"""The LSTM layers a model file stores one by one (a Keras layer, a Flax ``RNN``, an ONNX
``LSTM`` node), stacked into the multi-layer LSTMs the adapters' layouts describe.

A file format reads its arrays under the file's own names and recognises its LSTM layers:
each a :class:`StoredLayer` holding its arrays under the names of one layer of an
adapter's layout (``forward.kernel`` for Keras's ``layer0.forward.kernel``, ``W`` for
ONNX's ``layer0.W``). :func:`stack_layers` joins consecutive layers of one container
whose sizes chain (the next layer's input is this layer's output, same hidden size,
directions and bias) into one LSTM, named ``{first layer's path}:layer{k}.{name}`` as the
adapter names it; every array that belongs to no layer keeps its file name. What a file
says of a layer besides its weights (activations, direction) rides along as spec fields,
and layers stack only where those agree. :func:`split_stacks` undoes the naming for writing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

T = TypeVar("T")

STACK_END = ":"
LAYER_PART = re.compile(r"layer(\d+)\.")


@dataclass(frozen=True)
class StoredLayer:
    """One LSTM layer in a file: ``path`` where the file keeps it, ``container`` the path of
    what holds it (layers of one container may stack), ``arrays`` its arrays by name in one
    layer of the adapter's layout, ``sources`` the file name of each, and its sizes."""

    path: str
    container: str
    arrays: dict[str, np.ndarray]
    sources: dict[str, str]
    input_size: int
    hidden_size: int
    num_directions: int
    settings: Mapping[str, object] = field(default_factory=dict)

    def continues(self, previous: StoredLayer) -> bool:
        """Whether this layer can be the layer after ``previous`` in one LSTM."""
        return (
            self.container == previous.container
            and self.input_size == previous.hidden_size * previous.num_directions
            and (self.hidden_size, self.num_directions, set(self.arrays)) == (previous.hidden_size, previous.num_directions, set(previous.arrays))
            and dict(self.settings) == dict(previous.settings)
        )


class LayeredCheckpoint(dict):
    """A checkpoint's arrays by name, and what its file says of each stacked LSTM besides
    the weights: ``settings``, spec fields (activations, ``reverse``, clips) by stack prefix."""

    def __init__(self, arrays: Mapping[str, np.ndarray], settings: Mapping[str, Mapping[str, object]]):
        super().__init__(arrays)
        self.settings = {prefix: dict(fields) for prefix, fields in settings.items()}


def group_directions(cells: Mapping[str, T], separator: str, sides: Mapping[str, str]) -> dict[str, dict[str, T]]:
    """Each stored layer's cells by direction: a wrapper holding both ``sides`` (a
    ``Bidirectional``'s ``forward_layer`` and ``backward_layer``, named ``forward`` and
    ``backward`` by ``sides``) is one layer of two directions; any other cell is a layer of
    one, read as forward. ``cells`` are keyed by path, parts joined by ``separator``."""
    layers: dict[str, dict[str, T]] = {}
    for path, cell in cells.items():
        parent, _, own = path.rpartition(separator)
        if own in sides and all(f"{parent}{separator}{side}" in cells for side in sides):
            layers.setdefault(parent, {})[sides[own]] = cell
        else:
            layers[path] = {"forward": cell}
    return {path: dict(sorted(layers[path].items(), reverse=True)) for path in sorted(layers, key=natural_key)}


def natural_key(path: str) -> tuple:
    """Sort key reading digit runs as numbers: ``lstm_2`` before ``lstm_10``, ``layers.2`` before ``layers.10``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path))


def stack_layers(layers: Iterable[StoredLayer], checkpoint: Mapping[str, np.ndarray]) -> LayeredCheckpoint:
    """``checkpoint`` with its stored layers' arrays renamed into stacks (see the module
    docstring), and each stack's settings; ``layers`` in the order the file stores them."""
    renamed: dict[str, np.ndarray] = {}
    owned: set[str] = set()
    settings: dict[str, Mapping[str, object]] = {}
    stack: list[StoredLayer] = []
    for layer in layers:
        stack = [*stack, layer] if stack and layer.continues(stack[-1]) else [layer]
        prefix = stack[0].path + STACK_END
        renamed.update({f"{prefix}layer{len(stack) - 1}.{name}": array for name, array in layer.arrays.items()})
        owned |= set(layer.sources.values())
        if layer.settings:
            settings[prefix] = layer.settings
    return LayeredCheckpoint({**{name: array for name, array in checkpoint.items() if name not in owned}, **renamed}, settings)


def layer_name_parts(full_name: str, is_layer_name: Callable[[str], bool]) -> tuple[str, int, str] | None:
    """(prefix, k, name) of ``{prefix}layer{k}.{name}`` where ``is_layer_name(name)`` (a
    prefix may hold ``layer1.`` itself: ``encoder.layer1.lstm.layer0.W``), or None."""
    for match in LAYER_PART.finditer(full_name):
        name = full_name[match.end() :]
        if is_layer_name(name):
            return full_name[: match.start()], int(match[1]), name
    return None


def split_stacks(arrays: Mapping[str, np.ndarray], is_layer_name: Callable[[str], bool]) -> tuple[str, list[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """The one LSTM among ``arrays``: its prefix and its layers (each a dict by name within
    the layer); and the other arrays. ``is_layer_name(name)`` tells a name of one layer of
    the layout; ValueError when the arrays hold several LSTMs (several prefixes) or skip a layer."""
    layers: dict[int, dict[str, np.ndarray]] = {}
    prefixes, others = set(), {}
    for full_name, array in arrays.items():
        parts = layer_name_parts(full_name, is_layer_name)
        if parts is None:
            others[full_name] = array
        else:
            prefix, layer, name = parts
            prefixes.add(prefix)
            layers.setdefault(layer, {})[name] = array
    if len(prefixes) > 1:
        raise ValueError(f"arrays: expected one LSTM, got LSTMs under prefixes {sorted(prefixes)}")
    if sorted(layers) != list(range(len(layers))):
        raise ValueError(f"arrays: expected layers 0 to {len(layers) - 1}, got layers {sorted(layers)}")
    return next(iter(prefixes), ""), [layers[k] for k in range(len(layers))], others
