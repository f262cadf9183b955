"""The canonical parameter layout every adapter maps to and from, and a seeded generator.

One :class:`CellParams` per (layer k, direction d), stored in a tuple at index
``k * D + d`` (the same index as h_n and c_n). With ``H`` the hidden size, ``R`` the
output size (``P`` with projection, else ``H``) and ``I_k`` the layer's input size:

====== ============ ==============================================================
name   shape        meaning
====== ============ ==============================================================
w_ih   [4H, I_k]    input weights, gate blocks in the order i, f, g, o
w_hh   [4H, R]      recurrent weights, same gate order
b_ih   [4H]         input bias (absent when ``spec.bias`` is false)
b_hh   [4H]         recurrent bias (absent when ``spec.bias`` is false)
w_hr   [P, H]       projection, h = w_hr @ (o * act_cell(c)) (only when P > 0)
w_ic   [H]          input-gate peephole on c_prev (only with peepholes)
w_fc   [H]          forget-gate peephole on c_prev (only with peepholes)
w_oc   [H]          output-gate peephole on the new c (only with peepholes)
====== ============ ==============================================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from .spec import LSTMSpec

GATE_ORDER = ("i", "f", "g", "o")
PARAM_NAMES = ("w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "w_ic", "w_fc", "w_oc")


@dataclass(frozen=True)
class CellParams:
    """Parameters of one layer and direction in the canonical layout (see the module docstring)."""

    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray | None = None
    b_hh: np.ndarray | None = None
    w_hr: np.ndarray | None = None
    w_ic: np.ndarray | None = None
    w_fc: np.ndarray | None = None
    w_oc: np.ndarray | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        """The present parameters by name, in PARAM_NAMES order."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


LSTMParams = tuple[CellParams, ...]


def cell_param_shapes(spec: LSTMSpec, layer: int) -> dict[str, tuple[int, ...]]:
    """The shape of every parameter a cell of ``layer`` has under ``spec``, in PARAM_NAMES order."""
    hidden, out = spec.hidden_size, spec.output_size
    shapes: dict[str, tuple[int, ...]] = {
        "w_ih": (4 * hidden, spec.layer_input_size(layer)),
        "w_hh": (4 * hidden, out),
    }
    if spec.bias:
        shapes["b_ih"] = (4 * hidden,)
        shapes["b_hh"] = (4 * hidden,)
    if spec.proj_size:
        shapes["w_hr"] = (spec.proj_size, hidden)
    if spec.peepholes:
        shapes.update(w_ic=(hidden,), w_fc=(hidden,), w_oc=(hidden,))
    return shapes


def _as_float64(name: str, value: object) -> np.ndarray:
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"{name}: expected a floating-point array, got dtype {array.dtype}")
    return array.astype(np.float64, copy=False)


def validate_params(spec: LSTMSpec, params: Sequence[CellParams]) -> LSTMParams:
    """Check ``params`` against ``spec`` and return them as a tuple of float64 CellParams.

    Raises ValueError naming the cell and parameter when a parameter is missing, extra,
    or of the wrong shape, and TypeError for non-float arrays.
    """
    if isinstance(params, CellParams) or not isinstance(params, Sequence):
        raise TypeError(f"params: expected a sequence of {spec.num_cells} CellParams, got {type(params).__name__}")
    if len(params) != spec.num_cells:
        raise ValueError(
            f"params: expected {spec.num_cells} cells (num_layers * num_directions), got {len(params)}"
        )
    checked = []
    for index, cell in enumerate(params):
        if not isinstance(cell, CellParams):
            raise TypeError(f"params[{index}]: expected CellParams, got {type(cell).__name__}")
        layer = index // spec.num_directions
        expected = cell_param_shapes(spec, layer)
        present = cell.arrays()
        for name in PARAM_NAMES:
            where = f"params[{index}].{name} (layer {layer}, direction {index % spec.num_directions})"
            if name in expected and name not in present:
                raise ValueError(f"{where}: expected an array of shape {expected[name]}, got None")
            if name in present and name not in expected:
                raise ValueError(f"{where}: expected None for this spec, got an array of shape {np.shape(present[name])}")
        converted = {}
        for name, shape in expected.items():
            array = _as_float64(f"params[{index}].{name}", present[name])
            if array.shape != shape:
                raise ValueError(f"params[{index}].{name}: expected shape {shape}, got {array.shape}")
            converted[name] = array
        checked.append(CellParams(**converted))
    return tuple(checked)


def init_params(spec: LSTMSpec, seed: int, scale: float = 1.0) -> LSTMParams:
    """Seeded canonical parameters, every entry uniform(-k, k) with k = scale / sqrt(H).

    ``scale=1`` is torch's and paddle's default initialisation; a larger ``scale``
    drives the gates into saturation.
    """
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale: expected a finite float > 0, got {scale!r}")
    rng = np.random.default_rng(seed)
    bound = scale / math.sqrt(spec.hidden_size)
    cells = []
    for layer in range(spec.num_layers):
        for _ in range(spec.num_directions):
            shapes = cell_param_shapes(spec, layer)
            cells.append(CellParams(**{name: rng.uniform(-bound, bound, shape) for name, shape in shapes.items()}))
    return tuple(cells)


def map_params(params: Sequence[CellParams], function) -> LSTMParams:
    """Apply ``function(array) -> array`` to every present parameter, keeping the structure."""
    return tuple(replace(cell, **{name: function(array) for name, array in cell.arrays().items()}) for cell in params)
