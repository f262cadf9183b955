"""ONNX models: the initializers of their ``LSTM`` nodes, read and written with the
``onnx`` package alone (no runtime needed).

Each ``LSTM`` node of the main graph is one layer of the ``onnxruntime`` adapter's layout:
its inputs W (1), R (2), B (3) and P (7), when given, become ``W``, ``R``, ``B`` and ``P``
(see :mod:`adapters.onnxruntime_lstm`; an exporter writes them already in ONNX's gate
order). Nodes stack in graph order where their sizes chain, as an exporter lays out a
multi-layer LSTM (with a Transpose and Reshape between nodes). Every other initializer
keeps its name. A weight given by anything but an initializer is an error naming it.

Written, an LSTM becomes the model the ``onnxruntime`` adapter runs for its spec: input
X [T, B, I], outputs Y [T, B, D*H], Y_h and Y_c [L*D, B, H], default activations.
It holds no other arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .stored_layers import StoredLayer, split_stacks, stack_layers

SUFFIXES = (".onnx",)
# The LSTM operator's weight inputs, by position.
WEIGHT_INPUTS = {1: "W", 2: "R", 3: "B", 7: "P"}


def read_file(path: Path) -> dict[str, np.ndarray]:
    """Every initializer of the model at ``path``, its LSTM nodes' weights stacked (module docstring)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    layers = []
    for index, node in enumerate(graph.node):
        if node.op_type != "LSTM" or node.domain not in ("", "ai.onnx"):
            continue
        path_name = node.name or f"LSTM_{index}"
        sources = {name: node.input[position] for position, name in WEIGHT_INPUTS.items() if position < len(node.input) and node.input[position]}
        for name, source in sources.items():
            if source not in initializers:
                raise ValueError(f"path: the {name} input {source!r} of LSTM node {path_name!r} is not an initializer; only initializers can be read")
        directions, gates, input_size = initializers[sources["W"]].shape
        layers.append(StoredLayer(path_name, "", {name: initializers[source] for name, source in sources.items()}, sources, input_size, gates // 4, directions))
    return stack_layers(layers, initializers)


def is_layer_name(name: str) -> bool:
    return name in WEIGHT_INPUTS.values()


def write_file(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """The one LSTM among ``arrays`` (named in the onnxruntime adapter's layout under any
    prefix) as the adapter's model, in the arrays' dtype; ValueError when other arrays are among them."""
    import onnx

    from .conversion import infer_spec
    from .onnxruntime_lstm import OnnxRuntimeLSTMAdapter

    _, layers, others = split_stacks(arrays, is_layer_name)
    if others or not layers:
        raise ValueError(f"arrays: an ONNX model written here holds one LSTM only, got other arrays {sorted(others)[:8]}")
    named = {f"layer{k}.{name}": array for k, layer in enumerate(layers) for name, array in layer.items()}
    dtype = str(np.result_type(*named.values()))
    if dtype not in ("float32", "float64"):
        raise ValueError(f"arrays: expected float32 or float64 weights for an ONNX model, got {dtype}")
    adapter = OnnxRuntimeLSTMAdapter()
    spec = infer_spec(named, adapter)
    model = adapter.model(spec, dtype, lengths=False, initial_states=False, params=adapter.backend_to_canonical(spec, named))
    onnx.save(model, str(path))
