"""A NumPy LSTM with most of the oracle's features, laid out like a real framework, as a
plug-in author would write one; tests break it in one known way at a time.

Layout, per cell ``"{layer}.{direction}."``: ``kernel`` [I_k, 4H] and
``recurrent_kernel`` [R, 4H] with gate blocks in the order i, f, c, o (Keras's), one
``bias`` [4H], ``projection`` [H, P] (h = (o * tanh(c)) @ projection) and ``peepholes``
[3, H] (rows: input, forget, output gate). Sequences with lengths run to their own end
(a reversed direction starts there); the final state is read at each sequence's last valid
step; outputs at padded steps are 0. No activation options, clips or coupled gate.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from adapters.base import BaseAdapter, RunConfig, RunRequest
from adapters.support import DIRECTIONS, INTERFACE_VERSION, STRUCTURAL, Support
from reference import CellParams, LSTMInputs, LSTMParams, LSTMResult, LSTMSpec, parameter_count, sigmoid


def run_cell(x, kernel, recurrent_kernel, bias, projection, peepholes, h0, c0) -> tuple[np.ndarray, np.ndarray]:
    """x [T, B, I]; weights as in the module docstring (bias, projection, peepholes may be
    None); h0 [B, R]; c0 [B, H]. Returns every step's h [T, B, R] and c [T, B, H]."""
    h, c, states, cells = h0, c0, [], []
    for step in x:
        z = step @ kernel + h @ recurrent_kernel + (0 if bias is None else bias)
        i, f, g, o = np.split(z, 4, axis=-1)
        if peepholes is not None:
            i, f = i + peepholes[0] * c, f + peepholes[1] * c
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        if peepholes is not None:
            o = o + peepholes[2] * c
        h = sigmoid(o) * np.tanh(c)
        if projection is not None:
            h = h @ projection
        states.append(h)
        cells.append(c)
    return np.stack(states), np.stack(cells)


def within_lengths(steps: int, lengths: np.ndarray) -> np.ndarray:
    """[T, B] time index reversing each sequence within its length (padding stays put)."""
    time = np.arange(steps)[:, None]
    return np.where(time < lengths, lengths - 1 - time, time)


class NumpyStackAdapter(BaseAdapter):
    """The NumPy LSTM above; every mapping decision is a method a test can override."""

    name = "numpy-stack"
    parameter_layout = "single_bias"
    interface_version = INTERFACE_VERSION
    supports = Support(features=STRUCTURAL | {"peepholes"}, directions=DIRECTIONS)

    def _import_version(self) -> str:
        return np.__version__

    def _unsupported(self, config: RunConfig) -> list[str]:
        return []  # everything it declared, it runs

    def parameter_count(self, spec: LSTMSpec) -> int:
        return parameter_count(spec, self.parameter_layout).total

    def canonical_to_backend(self, spec: LSTMSpec, params: LSTMParams) -> dict[str, np.ndarray]:
        arrays = {}
        for index, cell in enumerate(params):
            prefix = "{}.{}.".format(*divmod(index, spec.num_directions))
            arrays[prefix + "kernel"] = cell.w_ih.T
            arrays[prefix + "recurrent_kernel"] = cell.w_hh.T
            if spec.bias:
                arrays[prefix + "bias"] = cell.b_ih + cell.b_hh
            if spec.proj_size:
                arrays[prefix + "projection"] = cell.w_hr.T
            if spec.peepholes:
                arrays[prefix + "peepholes"] = np.stack([cell.w_ic, cell.w_fc, cell.w_oc])
        return arrays

    def backend_to_canonical(self, spec: LSTMSpec, backend_params: Mapping[str, np.ndarray]) -> LSTMParams:
        cells = []
        for index in range(spec.num_cells):
            prefix = "{}.{}.".format(*divmod(index, spec.num_directions))
            cell = {name.removeprefix(prefix): np.asarray(array) for name, array in backend_params.items() if name.startswith(prefix)}
            fields = {"w_ih": cell["kernel"].T, "w_hh": cell["recurrent_kernel"].T}
            if spec.bias:
                fields.update(b_ih=cell["bias"], b_hh=np.zeros_like(cell["bias"]))
            if spec.proj_size:
                fields["w_hr"] = cell["projection"].T
            if spec.peepholes:
                fields.update(zip(("w_ic", "w_fc", "w_oc"), cell["peepholes"]))
            cells.append(CellParams(**fields))
        return tuple(cells)

    def direction_lengths(self, spec: LSTMSpec, direction: int, lengths: np.ndarray, steps: int) -> np.ndarray:
        """The lengths a direction runs with: the sequences' own."""
        return lengths

    def initial_state_order(self, spec: LSTMSpec) -> list[int]:
        """Which given initial state each cell starts from: its own."""
        return list(range(spec.num_cells))

    def final_state_order(self, spec: LSTMSpec) -> list[int]:
        """Which cell's final state goes in each slot of h_n and c_n: its own."""
        return list(range(spec.num_cells))

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        spec, dtype = request.spec, np.dtype(request.dtype)
        weights = {name: array.astype(dtype) for name, array in self.canonical_to_backend(spec, params).items()}
        steps, batch, rows = inputs.steps, inputs.batch, np.arange(inputs.batch)
        lengths = inputs.lengths_or_full()
        valid = (np.arange(steps)[:, None] < lengths)[:, :, None]
        starts = self.initial_state_order(spec)
        h0, c0 = inputs.h0[starts].astype(dtype), inputs.c0[starts].astype(dtype)
        h_n, c_n = np.empty_like(h0), np.empty_like(c0)
        layer_input = inputs.x.astype(dtype)
        for layer in range(spec.num_layers):
            outputs = []
            for direction in range(spec.num_directions):
                index = spec.cell_index(layer, direction)
                prefix = f"{layer}.{direction}."
                own = self.direction_lengths(spec, direction, lengths, steps)
                order = within_lengths(steps, own) if spec.runs_reversed(direction) else np.repeat(np.arange(steps)[:, None], batch, 1)
                x = np.take_along_axis(layer_input, order[:, :, None], axis=0)
                states, cells = run_cell(
                    x, *(weights.get(prefix + name) for name in ("kernel", "recurrent_kernel", "bias", "projection", "peepholes")), h0[index], c0[index]
                )
                last = np.maximum(own - 1, 0)
                h_n[index] = np.where((own > 0)[:, None], states[last, rows], h0[index])
                c_n[index] = np.where((own > 0)[:, None], cells[last, rows], c0[index])
                outputs.append(np.where(valid, np.take_along_axis(states, order[:, :, None], axis=0), 0))
            layer_input = np.concatenate(outputs, axis=2)
        ends = self.final_state_order(spec)
        outputs = layer_input.transpose(1, 0, 2) if request.batch_first else layer_input
        return LSTMResult(*(array.astype(np.float64) for array in (outputs, h_n[ends], c_n[ends])))
