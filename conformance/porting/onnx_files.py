"""ONNX models: the initializers of their ``LSTM`` nodes, read and written with the
``onnx`` package alone (no runtime needed).

Each ``LSTM`` node of the main graph is one layer of the ``onnxruntime`` adapter's layout:
its inputs W (1), R (2), B (3) and P (7), when given, become ``W``, ``R``, ``B`` and ``P``
(see :mod:`adapters.onnxruntime_lstm`; an exporter writes them already in ONNX's gate
order). Nodes stack in graph order where their sizes and attributes agree, as an exporter
lays out a multi-layer LSTM (with a Transpose and Reshape between nodes). The attributes
become spec fields: ``activations`` (with ``activation_alpha``/``activation_beta``),
``clip``, ``input_forget`` and ``direction="reverse"``. Every other initializer keeps its
name. A weight given by anything but an initializer is an error naming it.

Written, an LSTM becomes the model the ``onnxruntime`` adapter runs for its spec: input
X [T, B, I], outputs Y [T, B, D*H], Y_h and Y_c [L*D, B, H], with the spec's attributes.
It holds no other arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from reference import LSTMSpec
from reference.activations import activation_text

from adapters.onnxruntime_lstm import ONNX_ACTIVATIONS, ONNX_PARAMETERS
from conformance.porting.stored_layers import StoredLayer, split_stacks, stack_layers

SUFFIXES = (".onnx",)
# ONNX's activation names -> the oracle's (ONNX_ACTIVATIONS turned around; the oracle's
# identity is ONNX's Affine with alpha 1, beta 0, read back as that affine).
ORACLE_ACTIVATIONS = {onnx_name: name for name, onnx_name in ONNX_ACTIVATIONS.items() if name != "identity"}
# The node's f, g and h, and what ONNX runs without an activations attribute.
ROLES = ("gate_activation", "candidate_activation", "cell_activation")
DEFAULT_ACTIVATIONS = ("Sigmoid", "Tanh", "Tanh")
DEFAULT_SPEC = LSTMSpec(input_size=1, hidden_size=1)
# The LSTM operator's weight inputs, by position.
WEIGHT_INPUTS = {1: "W", 2: "R", 3: "B", 7: "P"}


def as_written(value: float) -> float:
    """A float attribute as it was written: ONNX stores float attributes in float32, so 0.3
    comes back as 0.30000001192092896; the shortest decimal that float32 reads as that value
    is what a model's author wrote (and the runtime computes with that float32 anyway)."""
    return float(str(np.float32(value)))


def node_activations(node_name: str, attributes: Mapping[str, object], directions: int) -> dict[str, str]:
    """The oracle's activations for a node's ``activations`` (f, g, h per direction), with the
    ``activation_alpha``/``activation_beta`` values consumed in order by those that take
    them; ValueError for a name the oracle lacks or two directions that differ."""
    names = [name.decode() if isinstance(name, bytes) else name for name in attributes.get("activations", DEFAULT_ACTIVATIONS * directions)]
    values = {key: list(attributes.get(f"activation_{key}", [])) for key in ("alpha", "beta")}
    bound = []
    for name in names:
        if name not in ORACLE_ACTIVATIONS:
            raise ValueError(f"path: LSTM node {node_name!r} has activation {name}, which is none of the oracle's ({', '.join(ORACLE_ACTIVATIONS)})")
        params = {key: as_written(values[key].pop(0)) for key in ONNX_PARAMETERS.get(name, ()) if values[key]}
        bound.append(activation_text(ORACLE_ACTIVATIONS[name], **params))
    if len(bound) == 6 and bound[:3] != bound[3:]:
        raise ValueError(f"path: LSTM node {node_name!r} has activations {bound[:3]} forward and {bound[3:]} backward; the oracle runs one set for both")
    return {role: activation for role, activation in zip(ROLES, bound) if activation != getattr(DEFAULT_SPEC, role)}


def node_settings(node, directions: int) -> dict[str, object]:
    """The spec fields other than their defaults that an ``LSTM`` node's attributes set."""
    from onnx import helper

    attributes = {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}
    settings: dict[str, object] = dict(node_activations(node.name, attributes, directions))
    if attributes.get("direction", b"forward") == b"reverse":
        settings["reverse"] = True
    if "clip" in attributes:
        settings["activation_clip"] = as_written(attributes["clip"])
    if attributes.get("input_forget", 0):
        settings["input_forget"] = True
    return settings


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
        arrays = {name: initializers[source] for name, source in sources.items()}
        layers.append(StoredLayer(path_name, "", arrays, sources, input_size, gates // 4, directions, node_settings(node, directions)))
    return stack_layers(layers, initializers)


def is_layer_name(name: str) -> bool:
    return name in WEIGHT_INPUTS.values()


def write_file(path: Path, arrays: Mapping[str, np.ndarray], spec: LSTMSpec | None = None) -> None:
    """The one LSTM among ``arrays`` (named in the onnxruntime adapter's layout under any
    prefix) as the adapter's model for ``spec`` (its activations, clip, direction; inferred
    from the arrays, with defaults, without one), in the arrays' dtype; ValueError when
    other arrays are among them."""
    import onnx

    from conformance.porting.conversion import infer_spec
    from adapters.onnxruntime_lstm import OnnxRuntimeLSTMAdapter

    _, layers, others = split_stacks(arrays, is_layer_name)
    if others or not layers:
        raise ValueError(f"arrays: an ONNX model written here holds one LSTM only, got other arrays {sorted(others)[:8]}")
    named = {f"layer{k}.{name}": array for k, layer in enumerate(layers) for name, array in layer.items()}
    dtype = str(np.result_type(*named.values()))
    if dtype not in ("float32", "float64"):
        raise ValueError(f"arrays: expected float32 or float64 weights for an ONNX model, got {dtype}")
    adapter = OnnxRuntimeLSTMAdapter()
    spec = spec if spec is not None else infer_spec(named, adapter)
    model = adapter.model(spec, dtype, lengths=False, initial_states=False, params=adapter.backend_to_canonical(spec, named))
    onnx.save(model, str(path))
