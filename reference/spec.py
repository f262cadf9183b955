"""The specification of an LSTM: every structural choice, and nothing about data."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .activations import BoundActivation, bind_activation

# (gate, candidate, cell) activations of the classic LSTM.
DEFAULT_ACTIVATIONS = ("sigmoid", "tanh", "tanh")
ACTIVATION_ROLES = ("gate_activation", "candidate_activation", "cell_activation")
# Every feature beyond the classic LSTM (sigmoid/tanh/tanh, bias, forward or bidirectional,
# optional projection): what an adapter must either implement or name as unsupported.
VARIANT_FEATURES = ("reverse", "peepholes", "activations", "cell_clip", "activation_clip", "input_forget", "proj_clip")


def _require_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")


def _require_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")


def _require_clip(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected None or a positive float, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: expected None or a finite float > 0, got {value!r}")


@dataclass(frozen=True)
class LSTMSpec:
    """What an LSTM is, independent of its parameters and inputs.

    Sizes: ``I = input_size``, ``H = hidden_size``, ``P = proj_size`` (0 means no
    projection), ``R = P if P > 0 else H`` (the size of ``h`` and of each output
    direction), ``D = 2 if bidirectional else 1``, ``L = num_layers``.

    One step of one layer and direction, with gate activation ``act_gate`` (default
    sigmoid), candidate activation ``act_cand`` (default tanh) and cell activation
    ``act_cell`` (default tanh), ``clip_a`` clipping to [-activation_clip, activation_clip]
    (the identity when ``activation_clip`` is None), likewise ``clip_c`` and ``clip_p``::

        i = act_gate(clip_a(W_ii x + b_ii + W_hi h + b_hi [+ w_ic * c_prev]))
        f = act_gate(clip_a(W_if x + b_if + W_hf h + b_hf [+ w_fc * c_prev]))   or 1 - i with input_forget
        g = act_cand(clip_a(W_ig x + b_ig + W_hg h + b_hg))
        c = clip_c(f * c_prev + i * g)
        o = act_gate(clip_a(W_io x + b_io + W_ho h + b_ho [+ w_oc * c]))   (peephole sees the new c)
        h = clip_p(W_hr (o * act_cell(c)))   (without projection: h = o * act_cell(c))

    - The bracketed peephole terms exist only when ``peepholes`` is true; the output gate's
      peephole reads the *new* cell state, as Paddle's legacy ``lstm`` kernel and ONNX do.
    - ``activation_clip`` (ONNX ``clip``) bounds the inputs of the gate and candidate
      activations, peephole terms included; the cell activation's input is not clipped
      (ONNX Runtime's CPU kernel applies it to i, f, c and o, and feeds the unclipped
      cell state to h). ``cell_clip`` (TensorFlow) bounds the cell state, ``proj_clip``
      (TensorFlow) the projected state.
    - ``input_forget`` (ONNX ``input_forget``, also called CIFG) couples the forget gate to
      the input gate, f = 1 - i: the forget gate's weights, biases and peephole stay in
      the layout but are not used (their gradients are 0).
    - Activations are named as in :mod:`reference.activations`, with parameters:
      ``"hard_sigmoid(alpha=0.25, beta=0.4)"``.
    - ``reverse`` runs the one direction over each sequence reversed within its length
      (ONNX ``direction="reverse"``, Keras ``go_backwards``, the legacy op's
      ``is_reverse``), outputs back in time order; it cannot be combined with
      ``bidirectional``, whose second direction is exactly that.
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
    activation_clip: float | None = None
    input_forget: bool = False
    proj_clip: float | None = None
    reverse: bool = False

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
        for name in ("bidirectional", "reverse", "bias", "peepholes", "input_forget"):
            _require_bool(name, getattr(self, name))
        if self.reverse and self.bidirectional:
            raise ValueError("reverse: expected False with bidirectional=True (its second direction already runs reversed), got True")
        for role in ACTIVATION_ROLES:
            bind_activation(getattr(self, role), role)
        for name in ("cell_clip", "activation_clip", "proj_clip"):
            _require_clip(name, getattr(self, name))
        if self.proj_clip is not None and not self.proj_size:
            raise ValueError(f"proj_clip: expected None without projection (proj_size=0), got {self.proj_clip!r}")

    @property
    def has_default_activations(self) -> bool:
        """Gate sigmoid, candidate tanh, cell tanh: the only activations most frameworks offer."""
        return tuple(getattr(self, role) for role in ACTIVATION_ROLES) == DEFAULT_ACTIVATIONS

    def activation(self, role: str) -> BoundActivation:
        """The activation of a role (``gate_activation``, ``candidate_activation`` or
        ``cell_activation``) with its parameters."""
        if role not in ACTIVATION_ROLES:
            raise ValueError(f"role: expected one of {', '.join(ACTIVATION_ROLES)}, got {role!r}")
        return bind_activation(getattr(self, role), role)

    def variant_features(self) -> tuple[str, ...]:
        """The :data:`VARIANT_FEATURES` this spec uses, in that order."""
        used = {
            "reverse": self.reverse,
            "peepholes": self.peepholes,
            "activations": not self.has_default_activations,
            "cell_clip": self.cell_clip is not None,
            "activation_clip": self.activation_clip is not None,
            "input_forget": self.input_forget,
            "proj_clip": self.proj_clip is not None,
        }
        return tuple(feature for feature in VARIANT_FEATURES if used[feature])

    @property
    def direction(self) -> str:
        """``forward``, ``reverse`` or ``bidirectional``."""
        return "bidirectional" if self.bidirectional else "reverse" if self.reverse else "forward"

    def runs_reversed(self, direction: int) -> bool:
        """Whether cell direction ``direction`` (0 or 1) runs over the reversed sequences."""
        return direction == 1 or self.reverse

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

    def cells(self) -> list[tuple[int, int]]:
        """Every (layer, direction) cell, in the order of parameter tuples and of h_n / c_n
        (the cell at position layer * D + direction: see :meth:`cell_index`)."""
        return [(layer, direction) for layer in range(self.num_layers) for direction in range(self.num_directions)]

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
