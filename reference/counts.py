"""Trainable parameter counts of a spec under each framework's parameter layout.

A layout says which tensors a framework keeps per (layer, direction) cell:

- ``canonical``: the oracle's own (two biases, projection, three peephole vectors);
- ``two_biases``: torch.nn.LSTM and paddle.nn.LSTM: w_ih, w_hh, b_ih, b_hh (each 4H) and the
  projection; no peepholes;
- ``single_bias``: Paddle's legacy ``lstm`` op as ``dynamic_lstm`` built it: an input
  projection [I_k, 4H], the recurrent weight [H, 4H] and one bias row [1, 4H], or
  [1, 7H] with the three peephole vectors appended; no projection, and always a bias;
- ``onnx``: the ONNX ``LSTM`` operator, per direction of a (one-layer) node: ``W`` [4H, I_k],
  ``R`` [4H, H], ``B`` [8H] (both biases, optional) and ``P`` [3H] (peepholes, optional);
  no projection;
- ``keras``: ``keras.layers.LSTM``: ``kernel`` [I_k, 4H], ``recurrent_kernel`` [H, 4H] and one
  ``bias`` [4H] (optional); neither projection nor peepholes;
- ``flax`` and ``flax_per_gate``: Flax's ``nnx.OptimizedLSTMCell`` (``dense_i.kernel`` [I_k, 4H],
  ``dense_h.kernel`` [H, 4H], ``dense_h.bias`` [4H]) and ``nnx.LSTMCell`` (the same split per
  gate: four input kernels [I_k, H], four recurrent kernels [H, H] and their biases [H]);
  always a bias, on the recurrent side only; neither projection nor peepholes;
- ``tf_block``: TensorFlow's fused ``BlockLSTMV2`` op: ``kernel`` [I_k + H, 4H], one ``bias``
  [4H] (optional) and three peephole vectors [H] (optional); no projection. With ``input_forget`` every layout keeps the forget gate's tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .params import cell_param_shapes
from .spec import LSTMSpec


@dataclass(frozen=True)
class ParameterTerm:
    """One tensor of one cell: its layout name, shape and number of entries; ``reversed``
    when the cell runs over the reversed sequences (a backward or reverse-only cell)."""

    layer: int
    direction: int
    name: str
    shape: tuple[int, ...]
    reversed: bool = False

    @property
    def count(self) -> int:
        total = 1
        for size in self.shape:
            total *= size
        return total


@dataclass(frozen=True)
class ParameterCount:
    """The total trainable parameter count of a spec under a layout, with every term."""

    layout: str
    total: int
    terms: tuple[ParameterTerm, ...]

    def describe(self) -> str:
        """A table of the terms, one line each, and the total."""
        lines = [f"layout {self.layout}"]
        for term in self.terms:
            direction = "backward" if term.reversed else "forward"
            shape = " x ".join(str(size) for size in term.shape)
            lines.append(f"  layer {term.layer} {direction:8} {term.name:16} [{shape}] = {term.count}")
        lines.append(f"  total = {self.total}")
        return "\n".join(lines)


def _two_bias_terms(spec: LSTMSpec, layer: int) -> dict[str, tuple[int, ...]]:
    if spec.peepholes:
        raise ValueError("spec.peepholes: the two_biases layout (torch/paddle nn.LSTM) has no peephole weights, got True")
    return cell_param_shapes(spec, layer)


def _single_bias_terms(spec: LSTMSpec, layer: int) -> dict[str, tuple[int, ...]]:
    if spec.proj_size:
        raise ValueError(f"spec.proj_size: the single_bias layout (legacy lstm op) has no projection, got {spec.proj_size}")
    if not spec.bias:
        raise ValueError("spec.bias: the single_bias layout (legacy lstm op) always has a bias row, got False")
    hidden = spec.hidden_size
    return {
        "input_projection": (spec.layer_input_size(layer), 4 * hidden),
        "weight": (hidden, 4 * hidden),
        "bias": (1, (7 if spec.peepholes else 4) * hidden),
    }


def _onnx_terms(spec: LSTMSpec, layer: int) -> dict[str, tuple[int, ...]]:
    if spec.proj_size:
        raise ValueError(f"spec.proj_size: the onnx layout (ONNX LSTM operator) has no projection, got {spec.proj_size}")
    hidden = spec.hidden_size
    terms = {"W": (4 * hidden, spec.layer_input_size(layer)), "R": (4 * hidden, hidden)}
    if spec.bias:
        terms["B"] = (8 * hidden,)
    if spec.peepholes:
        terms["P"] = (3 * hidden,)
    return terms


def _keras_terms(spec: LSTMSpec, layer: int) -> dict[str, tuple[int, ...]]:
    if spec.proj_size or spec.peepholes:
        feature = "proj_size" if spec.proj_size else "peepholes"
        raise ValueError(f"spec.{feature}: the keras layout (keras.layers.LSTM) has neither projection nor peepholes, got {getattr(spec, feature)}")
    hidden = spec.hidden_size
    terms = {"kernel": (spec.layer_input_size(layer), 4 * hidden), "recurrent_kernel": (hidden, 4 * hidden)}
    return {**terms, "bias": (4 * hidden,)} if spec.bias else terms


def _flax_terms(spec: LSTMSpec, layer: int) -> dict[str, tuple[int, ...]]:
    if spec.proj_size or spec.peepholes or not spec.bias:
        feature = "proj_size" if spec.proj_size else "peepholes" if spec.peepholes else "bias"
        raise ValueError(f"spec.{feature}: the flax layouts (nnx LSTM cells) have no projection, no peepholes and always a bias, got {getattr(spec, feature)}")
    hidden = spec.hidden_size
    return {"dense_i.kernel": (spec.layer_input_size(layer), 4 * hidden), "dense_h.kernel": (hidden, 4 * hidden), "dense_h.bias": (4 * hidden,)}


def _flax_per_gate_terms(spec: LSTMSpec, layer: int) -> dict[str, tuple[int, ...]]:
    _flax_terms(spec, layer)  # the same limits
    hidden, terms = spec.hidden_size, {}
    for input_side, recurrent_side in (("ii", "hi"), ("if_", "hf"), ("ig", "hg"), ("io", "ho")):
        terms[f"{input_side}.kernel"] = (spec.layer_input_size(layer), hidden)
        terms.update({f"{recurrent_side}.kernel": (hidden, hidden), f"{recurrent_side}.bias": (hidden,)})
    return terms


def _tf_block_terms(spec: LSTMSpec, layer: int) -> dict[str, tuple[int, ...]]:
    if spec.proj_size:
        raise ValueError(f"spec.proj_size: the tf_block layout (BlockLSTMV2) has no projection, got {spec.proj_size}")
    hidden = spec.hidden_size
    terms = {"kernel": (spec.layer_input_size(layer) + hidden, 4 * hidden)}
    if spec.bias:
        terms["bias"] = (4 * hidden,)
    if spec.peepholes:
        terms.update({name: (hidden,) for name in ("wci", "wcf", "wco")})
    return terms


# Layouts with one bias per gate where the canonical layout has b_ih and b_hh: they keep
# only the sum b_ih + b_hh.
ONE_BIAS_LAYOUTS = ("single_bias", "keras", "tf_block", "flax", "flax_per_gate")

LAYOUTS: dict[str, Callable[[LSTMSpec, int], dict[str, tuple[int, ...]]]] = {
    "canonical": cell_param_shapes,
    "two_biases": _two_bias_terms,
    "single_bias": _single_bias_terms,
    "keras": _keras_terms,
    "tf_block": _tf_block_terms,
    "flax": _flax_terms,
    "flax_per_gate": _flax_per_gate_terms,
    "onnx": _onnx_terms,
}


def parameter_count(spec: LSTMSpec, layout: str = "canonical") -> ParameterCount:
    """Count the trainable parameters of ``spec`` as a framework with ``layout`` stores them.

    Raises ValueError when the layout cannot express the spec (e.g. peepholes in
    two_biases) or the layout is unknown.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {', '.join(LAYOUTS)}, got {layout!r}")
    terms = tuple(
        ParameterTerm(layer, direction, name, shape, spec.runs_reversed(direction))
        for layer, direction in spec.cells()
        for name, shape in LAYOUTS[layout](spec, layer).items()
    )
    return ParameterCount(layout, sum(term.count for term in terms), terms)
