"""Weight layouts as data: how a backend stores each cell's canonical parameters.

A :class:`Layout` lists the arrays a backend keeps per cell (:class:`Stored`). Each array
is made of parts (:class:`Part`): one canonical parameter, or several folded into their
sum (``b_ih + b_hh`` kept as one bias), or one gate block of one (a layout that keeps each
gate apart). The parts are joined along one canonical axis, and the whole is stored
transposed or with a leading axis of one where the backend says. The 4H rows of w_ih,
w_hh, b_ih and b_hh hold four gate blocks, which the layout may order its own way
(:attr:`Layout.gate_order`). A layout whose arrays hold every direction of a layer (ONNX's
``W`` [D, 4H, I]) stacks them on a new first axis.

Both mapping directions derive from the declaration (:func:`to_backend`, :func:`to_canonical`);
so do the parameter count (:func:`stored_count`), checked against the independent
formulas of :mod:`reference.counts`, and what the layout cannot hold (:func:`layout_refusals`).
Mapping back puts a folded sum in its first parameter and zeros in the others.

Array names are templates over the cell, in one of the naming schemes of :data:`CELL_NAMES`:
``{cell}`` is the cell's name there and ``{layer}`` its layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from reference import LAYOUTS as COUNT_FORMULAS
from reference import CellParams, LSTMParams, LSTMSpec, cell_param_shapes

# The canonical gate blocks inside 4H rows (:mod:`reference.params`).
CANONICAL_GATES = ("i", "f", "g", "o")
# The canonical parameters whose rows are the four gate blocks.
GATED = frozenset({"w_ih", "w_hh", "b_ih", "b_hh"})
# The LSTM feature each canonical parameter belongs to.
PARAMETER_FEATURES = {
    "w_ih": "input weight",
    "w_hh": "recurrent weight",
    "b_ih": "bias",
    "b_hh": "bias",
    "w_hr": "projection",
    "w_ic": "peepholes",
    "w_fc": "peepholes",
    "w_oc": "peepholes",
}


def torch_cell(spec: LSTMSpec, layer: int, direction: int) -> str:
    """torch.nn.LSTM's cell suffix: ``_l{k}``, plus ``_reverse`` for the backward direction."""
    return f"_l{layer}" + ("_reverse" if direction else "")


def paddle_cell(spec: LSTMSpec, layer: int, direction: int) -> str:
    """paddle.nn.LSTM's structural cell path: ``{k}.cell``, or ``{k}.cell_fw`` / ``{k}.cell_bw``."""
    if not spec.bidirectional:
        return f"{layer}.cell"
    return f"{layer}.cell_fw" if direction == 0 else f"{layer}.cell_bw"


def layer_direction_cell(spec: LSTMSpec, layer: int, direction: int) -> str:
    """``layer{k}.forward`` or ``layer{k}.backward`` (a reverse-only LSTM's one direction is
    ``backward``): Paddle's legacy op, Keras, Flax and TensorFlow's block LSTM."""
    return f"layer{layer}.{'backward' if spec.runs_reversed(direction) else 'forward'}"


def layer_cell(spec: LSTMSpec, layer: int, direction: int) -> str:
    """``layer{k}``: one array per layer holds every direction (ONNX's LSTM node)."""
    return f"layer{layer}"


# Naming scheme -> the name of a (layer, direction) cell.
CELL_NAMES: dict[str, Callable[[LSTMSpec, int, int], str]] = {
    "torch": torch_cell,
    "paddle": paddle_cell,
    "layer_direction": layer_direction_cell,
    "layer": layer_cell,
}


@dataclass(frozen=True)
class Part:
    """One piece of a stored array: the canonical parameter ``names[0]``, or the sum of all
    of ``names`` (a folded bias); with ``gate``, only that canonical gate block (0 to 3) of it."""

    names: tuple[str, ...]
    gate: int | None = None

    @property
    def gated(self) -> bool:
        """Whether its rows are gate blocks the layout's gate order applies to."""
        return self.names[0] in GATED and self.gate is None

    def shape(self, shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, ...]:
        """Its canonical shape, from the cell's parameter shapes."""
        shape = shapes[self.names[0]]
        return shape if self.gate is None else (shape[0] // 4, *shape[1:])


@dataclass(frozen=True)
class Stored:
    """One array a backend keeps per cell: ``name`` a template (see the module docstring),
    its parts joined along canonical ``axis``, then ``transposed`` (a 2-D whole) or given a
    leading axis of one (``row``: [1, n])."""

    name: str
    parts: tuple[Part, ...]
    axis: int = 0
    transposed: bool = False
    row: bool = False


def check_stored(stored: Stored, where: str) -> None:
    """ValueError naming ``where`` for an array no cell can be stored in: no parts, a part
    naming no canonical parameter or a gate outside 0 to 3, an axis other than 0 or 1, or a
    name template with fields other than ``{cell}`` and ``{layer}``."""
    if not stored.parts:
        raise ValueError(f"{where}: parts: expected at least one part, got none")
    for index, part in enumerate(stored.parts):
        unknown = [name for name in part.names if name not in PARAMETER_FEATURES]
        if not part.names or unknown:
            raise ValueError(f"{where}: parts[{index}]: expected canonical parameter names among {', '.join(PARAMETER_FEATURES)}, got {list(part.names)}")
        if part.gate is not None and part.gate not in range(4):
            raise ValueError(f"{where}: parts[{index}]: gate: expected 0 to 3 (a canonical gate block i, f, g, o), got {part.gate!r}")
    if stored.axis not in (0, 1):
        raise ValueError(f"{where}: axis: expected 0 or 1, got {stored.axis!r}")
    try:
        stored.name.format(cell="c", layer=0)
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"{where}: name: expected a template with {{cell}} and {{layer}} only, got {stored.name!r} ({type(error).__name__}: {error})") from None


def single(name: str, parameter: str, **options: object) -> Stored:
    """An array holding one canonical parameter whole (``options``: :class:`Stored`'s)."""
    return Stored(name, (Part((parameter,)),), **options)


@dataclass(frozen=True)
class Layout:
    """A backend's weight layout (see the module docstring): ``counted_as`` names the
    :data:`reference.LAYOUTS` formula its parameter count follows; ``gate_order`` its four
    gate blocks as canonical letters; ``cells`` its naming scheme (a key of
    :data:`CELL_NAMES`); ``stacks_directions``: one array per layer, directions on its first
    axis; ``always``: canonical parameters the backend keeps whatever the spec says."""

    name: str
    counted_as: str
    arrays: tuple[Stored, ...]
    cells: str
    gate_order: tuple[str, ...] = CANONICAL_GATES
    stacks_directions: bool = False
    always: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if sorted(self.gate_order) != sorted(CANONICAL_GATES):
            raise ValueError(f"{self.name}: gate_order: expected a permutation of {CANONICAL_GATES}, got {self.gate_order}")
        if self.cells not in CELL_NAMES:
            raise ValueError(f"{self.name}: cells: expected one of {sorted(CELL_NAMES)}, got {self.cells!r}")
        if self.counted_as not in COUNT_FORMULAS:
            raise ValueError(f"{self.name}: counted_as: expected one of {', '.join(COUNT_FORMULAS)}, got {self.counted_as!r}")
        unknown = sorted({name for name in self.always if name not in PARAMETER_FEATURES})
        if unknown:
            raise ValueError(f"{self.name}: always: expected canonical parameter names among {', '.join(PARAMETER_FEATURES)}, got {unknown}")
        if not self.arrays:
            raise ValueError(f"{self.name}: arrays: expected at least one stored array, got none")
        for index, stored in enumerate(self.arrays):
            check_stored(stored, f"{self.name}: arrays[{index}]")

    @property
    def stored_names(self) -> frozenset[str]:
        """Every canonical parameter some part holds."""
        return frozenset(name for stored in self.arrays for part in stored.parts for name in part.names)

    def blocks(self) -> list[int]:
        """For each of the layout's gate blocks, the canonical block it holds."""
        return [CANONICAL_GATES.index(gate) for gate in self.gate_order]

    def array_name(self, stored: Stored, spec: LSTMSpec, layer: int, direction: int) -> str:
        return stored.name.format(cell=CELL_NAMES[self.cells](spec, layer, direction), layer=layer)


def cell_paths(layout: Layout) -> tuple[str, ...]:
    """The names of a cell's arrays below the cell's own (a ``{cell}.`` template's rest)."""
    return tuple(stored.name.removeprefix("{cell}.") for stored in layout.arrays)


def present_parts(stored: Stored, shapes: Mapping[str, tuple[int, ...]]) -> list[Part]:
    """The parts of ``stored`` a cell with these parameter shapes has (all of a part's names)."""
    return [part for part in stored.parts if all(name in shapes for name in part.names)]


def array_names(layout: Layout, spec: LSTMSpec) -> list[str]:
    """The names of ``layout``'s arrays for ``spec``, cell by cell in canonical cell order."""
    names: dict[str, None] = {}
    for layer, direction in spec.cells():
        shapes = cell_param_shapes(spec, layer)
        names.update({layout.array_name(stored, spec, layer, direction): None for stored in layout.arrays if present_parts(stored, shapes)})
    return list(names)


def reorder_gates(array: np.ndarray, blocks: list[int]) -> np.ndarray:
    """The gate blocks on ``array``'s first axis taken in the order ``blocks``."""
    return array.reshape(4, -1, *array.shape[1:])[blocks].reshape(array.shape)


def layout_refusals(layout: Layout, spec: LSTMSpec) -> tuple[str, ...]:
    """What ``spec`` has that ``layout`` keeps nowhere, and what it always keeps that ``spec``
    lacks, one reason per feature; empty when it holds ``spec``'s parameters exactly."""
    shapes = cell_param_shapes(spec, 0)
    missing = [name for name in shapes if name not in layout.stored_names]
    absent = [name for name in layout.always if name not in shapes]
    reasons = [f"the {layout.name} layout has no {feature} ({', '.join(names)})" for feature, names in by_feature(missing).items()]
    reasons += [f"the {layout.name} layout always has a {feature} ({', '.join(names)})" for feature, names in by_feature(absent).items()]
    return tuple(reasons)


def by_feature(names: list[str]) -> dict[str, list[str]]:
    """Canonical parameter names grouped by the feature of :data:`PARAMETER_FEATURES` they belong to."""
    grouped: dict[str, list[str]] = {}
    for name in names:
        grouped.setdefault(PARAMETER_FEATURES[name], []).append(name)
    return grouped


def to_backend(layout: Layout, spec: LSTMSpec, params: LSTMParams) -> dict[str, np.ndarray]:
    """Canonical parameters as ``layout``'s named arrays."""
    blocks, arrays = layout.blocks(), {}
    for layer, direction in spec.cells():
        cell = params[spec.cell_index(layer, direction)].arrays()
        for stored in layout.arrays:
            parts = present_parts(stored, cell)
            if not parts:
                continue
            pieces = []
            for part in parts:
                value = sum(cell[name] for name in part.names)
                if part.gate is not None:
                    value = value.reshape(4, -1, *value.shape[1:])[part.gate]
                pieces.append(reorder_gates(value, blocks) if part.gated else value)
            value = np.concatenate(pieces, axis=stored.axis)
            value = value.T if stored.transposed else value
            value = value[None] if stored.row else value
            name = layout.array_name(stored, spec, layer, direction)
            if layout.stacks_directions:
                arrays.setdefault(name, []).append(value)
            else:
                arrays[name] = value
    return {name: np.stack(value) if layout.stacks_directions else value for name, value in arrays.items()}


def to_canonical(layout: Layout, spec: LSTMSpec, arrays: Mapping[str, np.ndarray]) -> LSTMParams:
    """``layout``'s named arrays as canonical parameters (the inverse of :func:`to_backend`;
    a folded sum comes back in its first parameter, zeros in the others)."""
    inverse = list(np.argsort(layout.blocks()))
    cells = []
    for layer, direction in spec.cells():
        shapes = cell_param_shapes(spec, layer)
        fields: dict[str, np.ndarray] = {}
        gate_blocks: dict[tuple[str, ...], dict[int, np.ndarray]] = {}
        for stored in layout.arrays:
            parts = present_parts(stored, shapes)
            if not parts:
                continue
            value = np.asarray(arrays[layout.array_name(stored, spec, layer, direction)])
            value = value[direction] if layout.stacks_directions else value
            value = value[0] if stored.row else value
            value = value.T if stored.transposed else value
            ends = np.cumsum([part.shape(shapes)[stored.axis] for part in parts])[:-1]
            for part, piece in zip(parts, np.split(value, ends, axis=stored.axis)):
                if part.gate is not None:
                    gate_blocks.setdefault(part.names, {})[part.gate] = piece
                    continue
                fields[part.names[0]] = reorder_gates(piece, inverse) if part.gated else piece
                fields.update({name: np.zeros_like(piece) for name in part.names[1:]})
        for names, by_gate in gate_blocks.items():
            whole = np.concatenate([by_gate[gate] for gate in range(4)])
            fields[names[0]] = whole
            fields.update({name: np.zeros_like(whole) for name in names[1:]})
        cells.append(CellParams(**fields))
    return tuple(cells)


def stored_count(layout: Layout, spec: LSTMSpec) -> int:
    """How many numbers ``layout`` stores for ``spec``: the entries of every array of every cell."""
    count = 0
    for layer in range(spec.num_layers):
        shapes = cell_param_shapes(spec, layer)
        count += sum(int(np.prod(part.shape(shapes))) for stored in layout.arrays for part in present_parts(stored, shapes))
    return count * spec.num_directions
