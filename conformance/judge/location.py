"""Where in a compared quantity its worst element lies, in the LSTM's own terms.

A quantity's array index becomes a sentence a porter can act on: the time step and batch
row of an output, the layer and direction of a final state, the gate block and parameter
of a gradient. Quantities are named as in :mod:`conformance.judge.expectations`; those split by
padding hold the valid (or padded) positions in layout order, one row per position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference import LSTMSpec
from reference.params import GATE_ORDER, cell_param_shapes

from conformance.judge.expectations import PADDED_SUFFIX

GATE_PARAMETERS = ("w_ih", "w_hh", "b_ih", "b_hh")
PEEPHOLE_GATES = {"w_ic": "input", "w_fc": "forget", "w_oc": "output"}
STATE_QUANTITIES = ("h_n", "c_n", "grad_h0", "grad_c0")


def direction_name(spec: LSTMSpec, direction: int) -> str:
    return "backward" if spec.runs_reversed(direction) else "forward"


def cell_words(spec: LSTMSpec, cell: int) -> str:
    """'layer 1, backward direction' for cell index layer * D + direction."""
    layer, direction = divmod(cell, spec.num_directions)
    return f"layer {layer}, {direction_name(spec, direction)} direction"


@dataclass(frozen=True)
class Locator:
    """Turns (quantity, index of its worst element) into words for one request.

    ``padded``: the [T, B] ([B, T] batch-first) mask of padded positions, or None.
    """

    spec: LSTMSpec
    batch_first: bool
    padded: np.ndarray | None

    def __call__(self, quantity: str, index: tuple[int, ...]) -> str:
        name = quantity.removesuffix(PADDED_SUFFIX)
        if name in ("outputs", "grad_x"):
            return self.sequence_position(quantity, index)
        if name in STATE_QUANTITIES:
            cell, row, unit = index
            return f"{cell_words(self.spec, cell)}, batch row {row}, unit {unit}"
        if name.startswith("grad_"):
            return self.parameter_position(name.removeprefix("grad_"), index[0])
        return ""

    def sequence_position(self, quantity: str, index: tuple[int, ...]) -> str:
        """Outputs and input gradients: [T, B, F] ([B, T, F]), or rows of positions when split."""
        if len(index) == 2:
            chosen = self.padded if quantity.endswith(PADDED_SUFFIX) else ~self.padded
            position, feature = tuple(np.argwhere(chosen)[index[0]]), index[1]
        else:
            position, feature = index[:2], index[2]
        step, row = (position[1], position[0]) if self.batch_first else position
        where = f"time step {step}, batch row {row}"
        if quantity.startswith("grad_"):
            return f"{where}, input feature {feature}"
        direction, unit = divmod(feature, self.spec.output_size)
        if self.spec.bidirectional:
            where += f", {direction_name(self.spec, direction)} direction"
        return f"{where}, unit {unit}"

    def parameter_position(self, name: str, flat: int) -> str:
        """A parameter gradient: every cell's array raveled and concatenated, in cell order."""
        for cell in range(self.spec.num_cells):
            shape = cell_param_shapes(self.spec, cell // self.spec.num_directions)[name]
            size = int(np.prod(shape))
            if flat < size:
                return f"{name} of {cell_words(self.spec, cell)}, {self.element(name, shape, flat)}"
            flat -= size
        return name

    def element(self, name: str, shape: tuple[int, ...], flat: int) -> str:
        index = np.unravel_index(flat, shape)
        if name in GATE_PARAMETERS:
            block, unit = divmod(int(index[0]), self.spec.hidden_size)
            words = f"gate block {GATE_ORDER[block]}, unit {unit}"
            return f"{words}, column {int(index[1])}" if len(index) == 2 else words
        if name in PEEPHOLE_GATES:
            return f"{PEEPHOLE_GATES[name]}-gate peephole, unit {int(index[0])}"
        return f"row {int(index[0])}, column {int(index[1])}"
