"""Validation of the data an LSTM runs on: input, lengths and initial states.

The oracle and every adapter call :func:`validate_inputs` first, so bad input is
rejected with the same clear error everywhere, before any framework sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spec import LSTMSpec


@dataclass(frozen=True)
class LSTMInputs:
    """Validated float64 inputs, always time-major.

    x: [T, B, I]; lengths: int64 [B] with 0 <= len <= T, or None (every sequence has
    length T); h0: [L*D, B, R] and c0: [L*D, B, H], zeros when not given.
    """

    x: np.ndarray
    lengths: np.ndarray | None
    h0: np.ndarray
    c0: np.ndarray
    initial_states_given: bool

    @property
    def steps(self) -> int:
        return self.x.shape[0]

    @property
    def batch(self) -> int:
        return self.x.shape[1]

    def lengths_or_full(self) -> np.ndarray:
        """Per-sequence lengths, [B] int64 (T for every sequence when no lengths were given)."""
        if self.lengths is None:
            return np.full(self.batch, self.steps, dtype=np.int64)
        return self.lengths


def float_array(name: str, value: object, ndim: int) -> np.ndarray:
    """``value`` as a float64 array of ``ndim`` dimensions, or TypeError/ValueError naming ``name``."""
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"{name}: expected a floating-point array, got dtype {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {array.shape}")
    return array.astype(np.float64, copy=False)


def _state(name: str, value: object, expected: tuple[int, ...]) -> np.ndarray:
    array = float_array(name, value, len(expected))
    if array.shape != expected:
        raise ValueError(f"{name}: expected shape {expected} (num_layers * num_directions, batch, size), got {array.shape}")
    return array


def validate_lengths(lengths: object, batch: int, steps: int) -> np.ndarray:
    """``lengths`` as int64 [batch] with every value in [0, steps], or a clear error."""
    array = np.asarray(lengths)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"lengths: expected an integer array, got dtype {array.dtype}")
    if array.shape != (batch,):
        raise ValueError(f"lengths: expected shape ({batch},) (one length per sequence), got {array.shape}")
    out_of_range = (array < 0) | (array > steps)
    if out_of_range.any():
        bad = int(np.flatnonzero(out_of_range)[0])
        raise ValueError(f"lengths: expected every length in [0, T={steps}], got lengths[{bad}] = {int(array[bad])}")
    return array.astype(np.int64)


def validate_inputs(
    spec: LSTMSpec,
    x: object,
    *,
    lengths: object = None,
    initial_states: tuple[object, object] | None = None,
    batch_first: bool = False,
) -> LSTMInputs:
    """Check and convert inputs for ``spec``.

    x: [T, B, I] (or [B, T, I] with ``batch_first``), any float dtype (upcast to float64);
    lengths: [B] integers in [0, T] or None; initial_states: (h0 [L*D, B, R], c0 [L*D, B, H]) or None.
    """
    if not isinstance(batch_first, bool):
        raise TypeError(f"batch_first: expected a bool, got {type(batch_first).__name__} {batch_first!r}")
    array = float_array("x", x, 3)
    if batch_first:
        array = array.transpose(1, 0, 2)
    steps, batch, features = array.shape
    layout = "[B, T, I]" if batch_first else "[T, B, I]"
    if steps < 1 or batch < 1:
        raise ValueError(f"x: expected {layout} with T >= 1 and B >= 1, got shape {np.shape(x)}")
    if features != spec.input_size:
        raise ValueError(f"x: expected {layout} with I = input_size = {spec.input_size}, got shape {np.shape(x)}")
    checked_lengths = None if lengths is None else validate_lengths(lengths, batch, steps)
    if initial_states is None:
        h0 = np.zeros((spec.num_cells, batch, spec.output_size))
        c0 = np.zeros((spec.num_cells, batch, spec.hidden_size))
    else:
        if not isinstance(initial_states, (tuple, list)) or len(initial_states) != 2:
            raise TypeError(f"initial_states: expected a pair (h0, c0) or None, got {type(initial_states).__name__}")
        h0 = _state("initial_states[0] (h0)", initial_states[0], (spec.num_cells, batch, spec.output_size))
        c0 = _state("initial_states[1] (c0)", initial_states[1], (spec.num_cells, batch, spec.hidden_size))
    return LSTMInputs(
        x=np.ascontiguousarray(array),
        lengths=checked_lengths,
        h0=h0,
        c0=c0,
        initial_states_given=initial_states is not None,
    )
