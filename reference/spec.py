"""The specification of an LSTM: every structural choice, and nothing about data."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .activations import ACTIVATION_NAMES

# (gate, candidate, cell) activations of the classic LSTM.
DEFAULT_ACTIVATIONS = ("sigmoid", "tanh", "tanh")


def _require_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")


def _require_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")


def _require_activation(name: str, value: object) -> None:
    if value not in ACTIVATION_NAMES:
        raise ValueError(f"{name}: expected one of {', '.join(ACTIVATION_NAMES)}, got {value!r}")


@dataclass(frozen=True)
class LSTMSpec:
    """What an LSTM is, independent of its parameters and inputs.

    Sizes: ``I = input_size``, ``H = hidden_size``, ``P = proj_size`` (0 means no
    projection), ``R = P if P > 0 else H`` (the size of ``h`` and of each output
    direction), ``D = 2 if bidirectional else 1``, ``L = num_layers``.

    One step of one layer and direction, with gate activation ``act_gate`` (default
    sigmoid), candidate activation ``act_cand`` (default tanh) and cell activation
    ``act_cell`` (default tanh)::

        i = act_gate(W_ii x + b_ii + W_hi h + b_hi [+ w_ic * c_prev])
        f = act_gate(W_if x + b_if + W_hf h + b_hf [+ w_fc * c_prev])
        g = act_cand(W_ig x + b_ig + W_hg h + b_hg)
        c = f * c_prev + i * g            then clipped to [-cell_clip, cell_clip] if set
        o = act_gate(W_io x + b_io + W_ho h + b_ho [+ w_oc * c])   (peephole sees the new c)
        h = W_hr (o * act_cell(c))        (without projection: h = o * act_cell(c))

    The bracketed peephole terms exist only when ``peepholes`` is true; the output
    gate's peephole reads the *new* cell state, as Paddle's legacy ``lstm`` kernel does.
    """

    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    proj_size: int = 0
    bias: bool = True
    peepholes: bool = False
    gate_activation: str = "sigmoid"
    cell_activation: str = "tanh"
    candidate_activation: str = "tanh"
    cell_clip: float | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise TypeError/ValueError naming the first field that is not valid (also for a spec
        whose fields were set past construction, e.g. by unpickling)."""
        _require_int("input_size", self.input_size, 1)
        _require_int("hidden_size", self.hidden_size, 1)
        _require_int("num_layers", self.num_layers, 1)
        _require_int("proj_size", self.proj_size, 0)
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"proj_size: expected 0 (no projection) or 0 < proj_size < hidden_size={self.hidden_size}, "
                f"got {self.proj_size}"
            )
        for name in ("bidirectional", "bias", "peepholes"):
            _require_bool(name, getattr(self, name))
        for name in ("gate_activation", "cell_activation", "candidate_activation"):
            _require_activation(name, getattr(self, name))
        if self.cell_clip is not None:
            clip = self.cell_clip
            if isinstance(clip, bool) or not isinstance(clip, (int, float)):
                raise TypeError(f"cell_clip: expected None or a positive float, got {type(clip).__name__} {clip!r}")
            if not (math.isfinite(clip) and clip > 0):
                raise ValueError(f"cell_clip: expected None or a finite float > 0, got {clip!r}")

    @property
    def has_default_activations(self) -> bool:
        """Gate sigmoid, candidate tanh, cell tanh: the only activations most frameworks offer."""
        return (self.gate_activation, self.candidate_activation, self.cell_activation) == DEFAULT_ACTIVATIONS

    @property
    def num_directions(self) -> int:
        """D: 2 when bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """R: the size of h (and of each direction's output), P if projecting, else H."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    @property
    def num_cells(self) -> int:
        """L * D: how many (layer, direction) cells, and the first axis of h_n and c_n."""
        return self.num_layers * self.num_directions

    def layer_input_size(self, layer: int) -> int:
        """I_k: input_size for layer 0, D * R for every layer above it."""
        if not 0 <= layer < self.num_layers:
            raise ValueError(f"layer: expected 0 <= layer < num_layers={self.num_layers}, got {layer}")
        return self.input_size if layer == 0 else self.num_directions * self.output_size

    def cell_index(self, layer: int, direction: int) -> int:
        """Position of (layer, direction) in parameter tuples and in h_n / c_n: layer * D + direction."""
        if not 0 <= direction < self.num_directions:
            raise ValueError(f"direction: expected 0 <= direction < {self.num_directions}, got {direction}")
        self.layer_input_size(layer)
        return layer * self.num_directions + direction
