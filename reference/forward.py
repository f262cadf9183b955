"""The float64 LSTM forward pass: the oracle every backend is compared with.

Per layer and direction: a step loop adds the recurrent product ``h_prev @ w_hh.T`` (one
[B, R] x [R, 4H] GEMM per step) to the input's projection onto the four gates (one GEMM
per chunk of steps, made just before the loop reaches them), writing the sum in
gate-block order, and applies the activations in place. The gate buffer ends up
holding the activated gates of every step, and the cell buffer every cell state, which
is what backpropagation through time needs.

Sequences with lengths: a sequence's state stops changing after its last valid step
and its outputs at padded steps are exactly 0. A reversed direction (the second one of
a bidirectional LSTM, or the only one with ``spec.reverse``) starts each sequence at its
own last valid step: it runs the forward step loop over the sequence reversed within
its length (padded steps stay where they are).

Dropout between layers is the identity here: the oracle has inference semantics.

``stored_as`` makes the oracle a model of a kernel that keeps what it stores between
operations in a narrower format: each step's gate pre-activations (what the GEMMs write),
cell state and hidden state are rounded to that format as soon as they are made, and
everything else is computed exactly. The difference from the exact oracle is how much
that storage rounding moves this case's results (see ``conformance.judge.tolerances``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .formats import FORMATS, round_to_format
from .inputs import LSTMInputs, validate_inputs
from .params import CellParams, LSTMParams, validate_params
from .spec import LSTMSpec


class LSTMResult(NamedTuple):
    """outputs: [T, B, D*R] ([B, T, D*R] when batch-first), forward direction in the first R
    features; h_n: [L*D, B, R]; c_n: [L*D, B, H], first axis indexed layer * D + direction."""

    outputs: np.ndarray
    h_n: np.ndarray
    c_n: np.ndarray


# The step loop keeps gate blocks in the order i, f, o, g (canonical block indices below),
# so the three blocks that share the gate activation are one contiguous array.
INTERNAL_GATE_ORDER = (0, 1, 3, 2)
# Rows of x (steps times batch) projected onto the gates by one GEMM: a chunk of steps is
# projected just before the step loop reaches it, so it is still in cache when it is added.
PROJECTION_ROWS = 1024


def internal_gate_order(array: np.ndarray, hidden: int) -> np.ndarray:
    """Reorder the 4H gate rows of a canonical weight [4H, ...] or bias [4H] to i, f, o, g."""
    return array.reshape(4, hidden, *array.shape[1:])[list(INTERNAL_GATE_ORDER)].reshape(array.shape)


@dataclass(frozen=True)
class DirectionTrace:
    """Everything one (layer, direction) computed, in its own processing order.

    For the backward direction every array is in reversed time (sequence b reversed
    within its length); :func:`reverse_within_lengths` maps it back.

    x: [T, B, I_k] input as processed; gates: [T, 4, B, H] activated gates in the
    internal order i, f, o, g; pre_gates: [T, 4, B, H] their inputs (after the activation
    clip), kept only when an activation's derivative needs its input or the activations
    are clipped, else None; cells: [T, B, H] c_t; cell_acts: [T, B, H] act_cell(c_t);
    cell_outputs: [T, B, H] o * act_cell(c_t) (before projection; the same array as
    states without projection); states: [T, B, R] h_t, holding at padded steps the state
    carried from the last valid step; h0: [B, R]; c0: [B, H]; valid: [T, B] bool, or
    None when every step is valid. Values at padded steps other than states and cells
    are scratch.
    """

    x: np.ndarray
    gates: np.ndarray
    pre_gates: np.ndarray | None
    cells: np.ndarray
    cell_acts: np.ndarray
    cell_outputs: np.ndarray
    states: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    valid: np.ndarray | None


def reversal_index(lengths: np.ndarray, steps: int) -> np.ndarray:
    """[T, B] time index that reverses each sequence within its length: t -> len - 1 - t for
    t < len, padded steps unchanged. Applying it twice is the identity."""
    time = np.arange(steps)[:, None]
    return np.where(time < lengths[None, :], lengths[None, :] - 1 - time, time)


def reverse_within_lengths(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Reorder time-major ``values`` [T, B, ...] with a :func:`reversal_index`."""
    return np.take_along_axis(values, index.reshape(index.shape + (1,) * (values.ndim - 2)), axis=0)


def keeps_pre_activations(spec: LSTMSpec) -> bool:
    """Whether the backward pass needs the gates' inputs: an activation's derivative
    needs them, or the activation clip's mask does."""
    roles = (spec.activation("gate_activation"), spec.activation("candidate_activation"))
    return spec.activation_clip is not None or any(activation.needs_input for activation in roles)


def run_direction(
    spec: LSTMSpec,
    cell: CellParams,
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    valid: np.ndarray | None,
    keep_trace: bool = True,
    stored_as: str = "float64",
) -> DirectionTrace:
    """Run one layer in forward time order over x [T, B, I_k] from (h0 [B, R], c0 [B, H]),
    rounding stored values to ``stored_as`` (module docstring).

    ``valid`` [T, B] marks the valid steps (a prefix of each sequence), None if all are.
    Without ``keep_trace`` the per-step gates and cell activations live in one reused
    slot (index 0) instead of T slots, and the returned trace holds only the states and,
    as its cells [1, B, H], the final cell state.
    """
    steps, batch, _ = x.shape
    hidden = spec.hidden_size
    gate_act = spec.activation("gate_activation").apply_
    cand_act = spec.activation("candidate_activation").apply_
    cell_act = spec.activation("cell_activation").apply_
    clip, cell_clip, proj_clip = spec.activation_clip, spec.cell_clip, spec.proj_clip

    # Contiguous transposes, not transposed views: on a 2-core Intel Xeon NumPy's OpenBLAS
    # made [8, 64] x [64, 256] in 5.0 us from one and 11.7 us from a view, and
    # [64, 256] x [256, 1024] as fast from either.
    w_ih_t = np.ascontiguousarray(internal_gate_order(cell.w_ih, hidden).T)
    w_hh_t = np.ascontiguousarray(internal_gate_order(cell.w_hh, hidden).T)
    w_hr_t = None if cell.w_hr is None else np.ascontiguousarray(cell.w_hr.T)
    bias = internal_gate_order(cell.b_ih + cell.b_hh, hidden) if spec.bias else None

    chunk = max(1, PROJECTION_ROWS // batch)
    projected = np.empty((min(chunk, steps) * batch, 4 * hidden))
    recurrent = np.empty((batch, 4 * hidden))
    # The same two buffers seen as [4, B, H] gate blocks, per step.
    projected_blocks = projected.reshape(-1, batch, 4, hidden).transpose(0, 2, 1, 3)
    recurrent_blocks = recurrent.reshape(batch, 4, hidden).transpose(1, 0, 2)
    slots = steps if keep_trace else 1
    gates = np.empty((slots, 4, batch, hidden))
    pre_gates = np.empty((slots, 4, batch, hidden)) if keep_trace and keeps_pre_activations(spec) else None
    cell_acts = np.empty((slots, batch, hidden))
    cells = np.empty((steps if keep_trace else 2, batch, hidden))
    if w_hr_t is None:
        states = cell_outputs = np.empty((steps, batch, hidden))
    else:
        states, cell_outputs = np.empty((steps, batch, spec.output_size)), np.empty((slots, batch, hidden))
    scratch = np.empty((batch, hidden))
    # Without peepholes o is activated with i and f; with them, after the new c exists.
    early = 2 if spec.peepholes else 3
    rounds = stored_as != "float64"
    h_prev, c_prev = h0, c0
    for t in range(steps):
        if t % chunk == 0:
            rows = min(chunk, steps - t) * batch
            np.matmul(x[t : t + chunk].reshape(rows, -1), w_ih_t, out=projected[:rows])
            if bias is not None:
                projected += bias
        slot = t if keep_trace else 0
        np.matmul(h_prev, w_hh_t, out=recurrent)
        z = np.add(recurrent_blocks, projected_blocks[t % chunk], out=gates[slot])
        if rounds:
            z[...] = round_to_format(z, stored_as)
        i, f, o, g = z
        if spec.peepholes:
            i += np.multiply(cell.w_ic, c_prev, out=scratch)
            f += np.multiply(cell.w_fc, c_prev, out=scratch)
        if clip is not None and spec.peepholes:
            np.clip(z[:2], -clip, clip, out=z[:2])
            np.clip(g, -clip, clip, out=g)
        elif clip is not None:
            np.clip(z, -clip, clip, out=z)
        if pre_gates is not None:
            np.copyto(pre_gates[slot], z)
        gate_act(z[:early], out=z[:early])
        cand_act(g, out=g)
        if spec.input_forget:
            np.subtract(1.0, i, out=f)
        c = np.multiply(f, c_prev, out=cells[t % len(cells)])
        c += np.multiply(i, g, out=scratch)
        if cell_clip is not None:
            np.clip(c, -cell_clip, cell_clip, out=c)
        if rounds:
            c[...] = round_to_format(c, stored_as)
        if spec.peepholes:
            o += np.multiply(cell.w_oc, c, out=scratch)
            if clip is not None:
                np.clip(o, -clip, clip, out=o)
            if pre_gates is not None:
                np.copyto(pre_gates[slot, 2], o)
            gate_act(o, out=o)
        cell_output = np.multiply(o, cell_act(c, out=cell_acts[slot]), out=cell_outputs[t if w_hr_t is None else slot])
        h = states[t]
        if w_hr_t is not None:
            np.matmul(cell_output, w_hr_t, out=h)
            if proj_clip is not None:
                np.clip(h, -proj_clip, proj_clip, out=h)
        if rounds:
            h[...] = round_to_format(h, stored_as)
        if valid is not None and not valid[t].all():
            padded = ~valid[t][:, None]
            np.copyto(c, c_prev, where=padded)
            np.copyto(h, h_prev, where=padded)
        h_prev, c_prev = h, c
    if not keep_trace:
        cells = c_prev[None]
    return DirectionTrace(x, gates, pre_gates, cells, cell_acts, cell_outputs, states, h0, c0, valid)


def forward_with_traces(
    spec: LSTMSpec, params: LSTMParams, inputs: LSTMInputs, keep_trace: bool = True, stored_as: str = "float64"
) -> tuple[LSTMResult, list[DirectionTrace]]:
    """The forward pass on validated inputs, stored values rounded to ``stored_as``; returns
    time-major results and one trace per cell (index layer * D + direction), complete only
    with ``keep_trace``."""
    steps = inputs.steps
    lengths = inputs.lengths_or_full()
    valid = None if lengths.min() == steps else np.arange(steps)[:, None] < lengths[None, :]
    reverse = reversal_index(lengths, steps)
    traces: list[DirectionTrace] = []
    h_n, c_n = np.empty_like(inputs.h0), np.empty_like(inputs.c0)
    layer_input = inputs.x
    for layer in range(spec.num_layers):
        direction_outputs = []
        for direction in range(spec.num_directions):
            index = spec.cell_index(layer, direction)
            reversed_ = spec.runs_reversed(direction)
            x = reverse_within_lengths(layer_input, reverse) if reversed_ else layer_input
            trace = run_direction(spec, params[index], x, inputs.h0[index], inputs.c0[index], valid, keep_trace, stored_as)
            traces.append(trace)
            h_n[index], c_n[index] = trace.states[-1], trace.cells[-1]
            out = trace.states if valid is None else np.where(valid[:, :, None], trace.states, 0.0)
            direction_outputs.append(reverse_within_lengths(out, reverse) if reversed_ else out)
        layer_input = np.concatenate(direction_outputs, axis=2) if spec.bidirectional else direction_outputs[0]
    return LSTMResult(layer_input, h_n, c_n), traces


def lstm_forward(
    spec: LSTMSpec,
    params: LSTMParams,
    x: np.ndarray,
    *,
    lengths: np.ndarray | None = None,
    initial_states: tuple[np.ndarray, np.ndarray] | None = None,
    batch_first: bool = False,
    stored_as: str = "float64",
) -> LSTMResult:
    """Run the LSTM described by ``spec`` with canonical ``params`` in float64.

    x: [T, B, I] ([B, T, I] with ``batch_first``); lengths: [B] ints in [0, T] or None;
    initial_states: (h0 [L*D, B, R], c0 [L*D, B, H]) or None for zeros.
    Returns outputs [T, B, D*R] ([B, T, D*R] with ``batch_first``; exactly 0 at padded
    steps), h_n [L*D, B, R] and c_n [L*D, B, H] (each sequence's state after its last
    valid step; forward cells at even, backward cells at odd indices; with
    ``spec.reverse`` the one cell of each layer, at index ``layer``, runs reversed).
    ``stored_as``: "float64" (exact), or "float32", "bfloat16", "float16" to round each
    step's gate pre-activations, cell and hidden states to that format (module docstring).
    """
    if not isinstance(spec, LSTMSpec):
        raise TypeError(f"spec: expected LSTMSpec, got {type(spec).__name__}")
    if stored_as not in FORMATS:
        raise ValueError(f"stored_as: expected one of {', '.join(FORMATS)}, got {stored_as!r}")
    spec.validate()
    inputs = validate_inputs(spec, x, lengths=lengths, initial_states=initial_states, batch_first=batch_first)
    result, _ = forward_with_traces(spec, validate_params(spec, params), inputs, keep_trace=False, stored_as=stored_as)
    if batch_first:
        return result._replace(outputs=result.outputs.transpose(1, 0, 2).copy())
    return result
