"""Weight layouts several adapters share, kept out of any one backend's file.

- torch.nn.LSTM's state dict (torch, its ONNX exports, MindSpore's nn.LSTM): per layer k,
  suffix ``_l{k}`` plus ``_reverse`` for the backward direction, ``weight_ih`` [4H, I_k],
  ``weight_hh`` [4H, R], ``bias_ih`` and ``bias_hh`` [4H], with a projection ``weight_hr``
  [P, H]: the canonical layout under other names, gate order i, f, g, o.
- The per-cell prefix ``layer{k}.forward`` / ``layer{k}.backward`` (a reverse-only LSTM's
  one direction is ``backward``) that Paddle's legacy op, Keras, Flax and TensorFlow's
  block LSTM name their arrays under.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reference import CellParams, LSTMParams, LSTMSpec

TORCH_NAMES = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh", "w_hr": "weight_hr"}


def cell_suffix(layer: int, direction: int) -> str:
    """torch's (and paddle's) parameter name suffix for a cell: ``_l{k}`` plus ``_reverse``."""
    return f"_l{layer}" + ("_reverse" if direction else "")


def canonical_to_torch(spec: LSTMSpec, params: LSTMParams) -> dict[str, np.ndarray]:
    """Canonical parameters as a torch.nn.LSTM state dict of NumPy arrays (same shapes)."""
    state = {}
    for layer, direction in spec.cells():
        cell = params[spec.cell_index(layer, direction)]
        for name, array in cell.arrays().items():
            state[TORCH_NAMES[name] + cell_suffix(layer, direction)] = array
    return state


def torch_to_canonical(spec: LSTMSpec, state: Mapping[str, np.ndarray]) -> LSTMParams:
    """A torch.nn.LSTM state dict (NumPy arrays) as canonical parameters."""
    cells = []
    for layer, direction in spec.cells():
        suffix = cell_suffix(layer, direction)
        cells.append(
            CellParams(**{name: np.asarray(state[torch + suffix]) for name, torch in TORCH_NAMES.items() if torch + suffix in state})
        )
    return tuple(cells)


class TorchLayout:
    """Parameters laid out as torch.nn.LSTM holds them (see the module docstring), for every
    adapter whose backend is built from that module."""

    parameter_layout = "two_biases"

    def canonical_to_backend(self, spec: LSTMSpec, params: LSTMParams) -> dict[str, np.ndarray]:
        return canonical_to_torch(spec, params)

    def backend_to_canonical(self, spec: LSTMSpec, backend_params: Mapping[str, np.ndarray]) -> LSTMParams:
        return torch_to_canonical(spec, backend_params)


def cell_prefix(spec: LSTMSpec, layer: int, direction: int) -> str:
    """The prefix of a cell's arrays: ``layer{k}.forward`` or ``layer{k}.backward``."""
    return f"layer{layer}.{'backward' if spec.runs_reversed(direction) else 'forward'}"
