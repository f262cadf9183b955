"""The float64 LSTM backward pass: backpropagation through time, written out by hand.

:func:`lstm_backward` runs the forward pass keeping its traces, then goes through the
layers from the top down. Per layer and direction (:func:`backward_direction`):

1. the reverse step loop: per step, in-place element-wise products on contiguous [B, H]
   gate blocks and one [B, 4H] x [4H, R] product for the gradient of the previous state,
   writing the gradient of every step's gate pre-activations into one [T, B, 4, H]
   buffer; the derivatives of the activations it needs are worked out for a chunk of
   steps at once, just before the loop reaches them, from the values the trace kept;
2. the parameter and input gradients from all steps at once: one GEMM (or sum) per
   parameter block.

Conventions:

- Padded steps (t >= length): an output there is the constant 0, so its upstream
  gradient is ignored; the state is carried unchanged, so the state gradients are carried
  unchanged; nothing else flows through them. A sequence of length 0 therefore gets
  grad h0 = grad h_n and grad c0 = grad c_n. Values of x or of grad_outputs at padded
  steps never affect a gradient, not even NaN.
- Clips (cell, activation and projection clip): a clip's derivative is 1 where
  ``|v| < clip`` and 0 where ``|v| >= clip``, so it is 0 exactly on the boundary too.
  ``|v| >= clip`` holds before clipping exactly when it holds after, so the clipped
  values the trace keeps are all this needs.
- Activation kinks (relu at 0...): see :mod:`reference.activations`.
- ``input_forget``: f = 1 - i, so the input gate also receives the forget gate's
  share with its sign flipped, and the forget gate's own parameters get 0.

``stored_as`` makes the backward pass, like the forward's, a model of a kernel that keeps
what it stores in a narrower format: the forward pass it differentiates stores its values
so (see :mod:`reference.forward`), each step's gate gradients and the state gradients
carried to the step before are rounded to the format as soon as they are made, and so
are the gradients returned; the sums over steps and batch rows are exact (their rounding
is a separate term: ``conformance.judge.tolerances``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np

from .formats import FORMATS, round_to_format
from .forward import DirectionTrace, forward_with_traces, reversal_index, reverse_within_lengths
from .inputs import LSTMInputs, float_array, validate_inputs
from .params import CellParams, LSTMParams, validate_params
from .spec import LSTMSpec

# Steps times batch rows whose activation derivatives are worked out at once, just before
# the reverse step loop reaches them: enough to keep the calls few, few enough to stay in cache.
CHUNK_ROWS = 1024


class LSTMGradients(NamedTuple):
    """Gradients of a scalar loss with respect to every input of :func:`lstm_forward`.

    x: the shape and layout of the x given ([B, T, I] when batch-first); h0: [L*D, B, R];
    c0: [L*D, B, H] (given whether or not initial states were); params: one CellParams per
    cell in the canonical layout (gate order i, f, g, o), the same structure as the params.
    """

    x: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    params: LSTMParams


def _grad_array(name: str, value: object, expected: tuple[int, ...], layout: str) -> np.ndarray:
    """``value`` as float64 of shape ``expected`` (zeros for None), or TypeError/ValueError naming ``name``."""
    if value is None:
        return np.zeros(expected)
    array = float_array(name, value, len(expected))
    if array.shape != expected:
        raise ValueError(f"{name}: expected shape {expected} {layout}, got {array.shape}")
    return array


def validate_upstream(
    spec: LSTMSpec,
    inputs: LSTMInputs,
    grad_outputs: object,
    grad_h_n: object,
    grad_c_n: object,
    batch_first: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upstream gradients as float64: grad_outputs time-major [T, B, D*R] (given [B, T, D*R]
    when ``batch_first``), grad_h_n [L*D, B, R], grad_c_n [L*D, B, H]; None becomes zeros."""
    steps, batch, cells = inputs.steps, inputs.batch, spec.num_cells
    width = spec.num_directions * spec.output_size
    if batch_first:
        grad_outputs = _grad_array("grad_outputs", grad_outputs, (batch, steps, width), "[B, T, D*R]").transpose(1, 0, 2)
    else:
        grad_outputs = _grad_array("grad_outputs", grad_outputs, (steps, batch, width), "[T, B, D*R]")
    grad_h_n = _grad_array("grad_h_n", grad_h_n, (cells, batch, spec.output_size), "[L*D, B, R]")
    grad_c_n = _grad_array("grad_c_n", grad_c_n, (cells, batch, spec.hidden_size), "[L*D, B, H]")
    return grad_outputs, grad_h_n, grad_c_n


def _previous(first: np.ndarray, sequence: np.ndarray) -> np.ndarray:
    """The sequence shifted one step later, starting from ``first``: [first, s_0, ..., s_{T-2}]."""
    return np.concatenate((first[None], sequence[:-1]))


def _without_padding(trace: DirectionTrace) -> DirectionTrace:
    """``trace`` with its scratch values at padded steps (x, gates, cell activations and
    outputs) replaced by 0, so that nothing there, not even a NaN, reaches a gradient."""
    valid = trace.valid[:, :, None]
    return replace(
        trace,
        x=np.where(valid, trace.x, 0.0),
        gates=np.where(valid[:, None], trace.gates, 0.0),
        pre_gates=None if trace.pre_gates is None else np.where(valid[:, None], trace.pre_gates, 0.0),
        cell_acts=np.where(valid, trace.cell_acts, 0.0),
        cell_outputs=np.where(valid, trace.cell_outputs, 0.0),
    )


def _activation_derivatives(
    spec: LSTMSpec, trace: DirectionTrace, steps: slice
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The derivative of each activation at the given steps, from the values it was given
    and produced, times the activation clip's derivative.

    Returns [n, 3, B, H] for the gates i, f, o, [n, B, H] for the candidate g and
    [n, B, H] for the cell activation (n steps), all 0 at padded steps.
    """
    pre = None if trace.pre_gates is None else trace.pre_gates[steps]
    gates = spec.activation("gate_activation").derivative(None if pre is None else pre[:, :3], trace.gates[steps, :3])
    candidate = spec.activation("candidate_activation").derivative(None if pre is None else pre[:, 3], trace.gates[steps, 3])
    cell = spec.activation("cell_activation").derivative(trace.cells[steps], trace.cell_acts[steps])
    if spec.activation_clip is not None:
        inside = np.abs(pre) < spec.activation_clip
        gates = gates * inside[:, :3]
        candidate = candidate * inside[:, 3]
    if trace.valid is not None:
        valid = trace.valid[steps, :, None]
        gates = gates * valid[:, None]
        candidate = candidate * valid
        cell = cell * valid
    return gates, candidate, cell


def _clipped(values: np.ndarray, clip: float | None, valid: np.ndarray | None) -> np.ndarray | None:
    """Where a clip held ``values`` [T, B, n] at its bound (at valid steps), None without the clip."""
    if clip is None:
        return None
    clipped = np.abs(values) >= clip
    if valid is not None:
        clipped &= valid[:, :, None]
    return clipped


def _parameter_gradients(
    spec: LSTMSpec, trace: DirectionTrace, grad_gates: np.ndarray, grad_states: np.ndarray
) -> CellParams:
    """One cell's parameter gradients from all its steps at once: one GEMM or sum per parameter.

    grad_gates: dz [T, B, 4, H] (canonical gate order, 0 at padded steps); grad_states: the
    total gradient of every h_t [T, B, R]; trace: with 0 for x and the cell outputs at
    padded steps (see :func:`_without_padding`), so padded steps contribute nothing.
    """
    steps, batch, _, hidden = grad_gates.shape
    dz = grad_gates.reshape(steps * batch, 4 * hidden)
    # h_prev is h0 at step 0 and h_{t-1} after it: two products instead of a shifted copy of the states.
    w_hh = dz[batch:].T @ trace.states[:-1].reshape((steps - 1) * batch, trace.h0.shape[1]) + dz[:batch].T @ trace.h0
    grads = {"w_ih": dz.T @ trace.x.reshape(steps * batch, -1), "w_hh": w_hh}
    if spec.bias:
        grads["b_ih"] = np.ones(steps * batch) @ dz  # the sum over all steps, as a GEMV: several times faster than dz.sum(axis=0)
        grads["b_hh"] = grads["b_ih"].copy()
    if spec.proj_size:
        grads["w_hr"] = grad_states.reshape(steps * batch, -1).T @ trace.cell_outputs.reshape(steps * batch, hidden)
    if spec.peepholes:
        c_prev = _previous(trace.c0, trace.cells)
        grads["w_ic"] = np.einsum("tbh,tbh->h", grad_gates[:, :, 0], c_prev)
        grads["w_fc"] = np.einsum("tbh,tbh->h", grad_gates[:, :, 1], c_prev)
        grads["w_oc"] = np.einsum("tbh,tbh->h", grad_gates[:, :, 3], trace.cells)
    return CellParams(**grads)


def backward_direction(
    spec: LSTMSpec,
    cell: CellParams,
    trace: DirectionTrace,
    grad_states: np.ndarray,
    grad_h: np.ndarray,
    grad_c: np.ndarray,
    stored_as: str = "float64",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, CellParams]:
    """Backpropagate through one layer and direction, in its processing order: the
    reverse step loop, the recurrence of BPTT, mirroring the forward's step loop
    (``stored_as``: see the module docstring).

    With dy the gradient of o * act_cell(c_t) and dc that of c_t (after clipping), the
    gradients of the gate pre-activations z at step t are::

        dz_o = dy * act_cell(c_t) * act_gate'(o)
        dc   = dc from step t+1 + dy * o * act_cell'(c_t) [+ dz_o * w_oc]    then 0 where clipped
        dz_i = dc * g * act_gate'(i);  dz_f = dc * c_prev * act_gate'(f);  dz_g = dc * i * act_cand'(g)
        dc_prev = dc * f [+ dz_i * w_ic + dz_f * w_fc];  dh_prev = dz @ w_hh

    With ``input_forget`` (f = 1 - i) dz_f is 0 and dz_i gains ``- dc * c_prev * act_gate'(i)``.
    A clipped projection passes no gradient to W_hr (o * act_cell(c)) where it clipped.

    grad_states: [T, B, R] gradient of each h_t as an output, 0 at padded steps; it is
    overwritten with its total gradient (before the projection clip). grad_h: [B, R] and
    grad_c: [B, H] gradients of the final state. Returns the gradients of x [T, B, I_k],
    h0 [B, R], c0 [B, H] and the cell's parameters (canonical layout).
    """
    if trace.valid is not None:
        trace = _without_padding(trace)
    steps, batch, _ = trace.x.shape
    hidden, valid = spec.hidden_size, trace.valid
    clipped = _clipped(trace.cells, spec.cell_clip, valid)
    proj_clipped = _clipped(trace.states, spec.proj_clip, valid)

    chunk = max(1, CHUNK_ROWS // batch)
    # dz [T, B, 4, H] (canonical gate order i, f, g, o); each step's dz is worked out in
    # contiguous gate blocks, then stored there.
    grad_gates = np.empty((steps, batch, 4, hidden))
    dz = np.empty((4, batch, hidden))
    dz_i, dz_f, dz_g, dz_o = dz
    dh_next, dc_next = grad_h.copy(), grad_c.copy()
    dy = np.empty((batch, hidden)) if cell.w_hr is not None else None
    dc, scratch = np.empty((batch, hidden)), np.empty((batch, hidden))
    rounds = stored_as != "float64"
    for t in range(steps - 1, -1, -1):
        if t == steps - 1 or t % chunk == chunk - 1:
            first = t - t % chunk
            gate_grads, cand_grads, cell_grads = _activation_derivatives(spec, trace, slice(first, t + 1))
        i, f, o, g = trace.gates[t]
        di, df, do = gate_grads[t - first]
        c_prev = trace.cells[t - 1] if t else trace.c0
        dh = grad_states[t]
        dh += dh_next
        if proj_clipped is not None:
            np.copyto(dh, 0.0, where=proj_clipped[t])
        if cell.w_hr is not None:
            np.matmul(dh, cell.w_hr, out=dy)
        else:
            dy = dh
        np.multiply(dy, trace.cell_acts[t], out=dz_o)
        dz_o *= do
        np.multiply(dy, o, out=dc)
        dc *= cell_grads[t - first]
        if spec.peepholes:
            dc += np.multiply(dz_o, cell.w_oc, out=scratch)
        dc += dc_next
        if clipped is not None:
            np.copyto(dc, 0.0, where=clipped[t])
        np.multiply(dc, g, out=dz_i)
        dz_i *= di
        np.multiply(dc, c_prev, out=dz_f)
        if spec.input_forget:
            dz_i -= np.multiply(dz_f, di, out=scratch)
            dz_f.fill(0.0)
        else:
            dz_f *= df
        np.multiply(dc, i, out=dz_g)
        dz_g *= cand_grads[t - first]
        if rounds:
            dz[...] = round_to_format(dz, stored_as)
        np.multiply(dc, f, out=dc_next)
        if spec.peepholes:
            dc_next += np.multiply(dz_i, cell.w_ic, out=scratch)
            dc_next += np.multiply(dz_f, cell.w_fc, out=scratch)
        np.copyto(grad_gates[t].transpose(1, 0, 2), dz)
        np.matmul(grad_gates[t].reshape(batch, 4 * hidden), cell.w_hh, out=dh_next)
        if rounds:
            dh_next[...] = round_to_format(dh_next, stored_as)
            dc_next[...] = round_to_format(dc_next, stored_as)
        if valid is not None and not valid[t].all():
            # The state was carried across this step, so its gradient is carried back unchanged.
            padded = ~valid[t][:, None]
            np.copyto(dh_next, dh, where=padded)
            np.copyto(dc_next, dc, where=padded)
    grad_x = (grad_gates.reshape(steps * batch, -1) @ cell.w_ih).reshape(trace.x.shape)
    return grad_x, dh_next, dc_next, _parameter_gradients(spec, trace, grad_gates, grad_states)


def lstm_backward(
    spec: LSTMSpec,
    params: LSTMParams,
    x: np.ndarray,
    grad_outputs: np.ndarray,
    grad_h_n: np.ndarray | None = None,
    grad_c_n: np.ndarray | None = None,
    *,
    lengths: np.ndarray | None = None,
    initial_states: tuple[np.ndarray, np.ndarray] | None = None,
    batch_first: bool = False,
    stored_as: str = "float64",
) -> LSTMGradients:
    """Gradients of ``sum(outputs * grad_outputs) + sum(h_n * grad_h_n) + sum(c_n * grad_c_n)``.

    ``outputs, h_n, c_n`` are what :func:`lstm_forward` returns for the same ``spec``,
    ``params``, ``x``, ``lengths``, ``initial_states`` and ``batch_first``.
    grad_outputs: [T, B, D*R] ([B, T, D*R] with ``batch_first``; ignored at padded steps);
    grad_h_n: [L*D, B, R] and grad_c_n: [L*D, B, H], or None for zeros.
    ``stored_as``: "float64" (exact), or "float32", "bfloat16", "float16" for the storage
    model of the module docstring.
    """
    if not isinstance(spec, LSTMSpec):
        raise TypeError(f"spec: expected LSTMSpec, got {type(spec).__name__}")
    spec.validate()
    if stored_as not in FORMATS:
        raise ValueError(f"stored_as: expected one of {', '.join(FORMATS)}, got {stored_as!r}")
    inputs = validate_inputs(spec, x, lengths=lengths, initial_states=initial_states, batch_first=batch_first)
    params = validate_params(spec, params)
    grad_outputs, grad_h_n, grad_c_n = validate_upstream(spec, inputs, grad_outputs, grad_h_n, grad_c_n, batch_first)
    steps, out = inputs.steps, spec.output_size

    _, traces = forward_with_traces(spec, params, inputs, stored_as=stored_as)
    valid = traces[0].valid
    reverse = reversal_index(inputs.lengths_or_full(), steps)
    grad_h0, grad_c0 = np.empty_like(grad_h_n), np.empty_like(grad_c_n)
    cell_grads: list[CellParams | None] = [None] * spec.num_cells
    grad_layer_output = grad_outputs
    for layer in reversed(range(spec.num_layers)):
        direction_grads = []
        for direction in range(spec.num_directions):
            index = spec.cell_index(layer, direction)
            grad_states = grad_layer_output[:, :, direction * out : (direction + 1) * out]
            # A fresh array (the step loop accumulates into it), 0 where the output is the constant 0.
            reversed_ = spec.runs_reversed(direction)
            grad_states = reverse_within_lengths(grad_states, reverse) if reversed_ else grad_states.copy()
            if valid is not None:
                grad_states[~valid] = 0.0
            grad_x, grad_h0[index], grad_c0[index], cell_grads[index] = backward_direction(
                spec, params[index], traces[index], grad_states, grad_h_n[index], grad_c_n[index], stored_as
            )
            direction_grads.append(reverse_within_lengths(grad_x, reverse) if reversed_ else grad_x)
        grad_layer_output = direction_grads[0] + direction_grads[1] if spec.bidirectional else direction_grads[0]
    grad_x = grad_layer_output.transpose(1, 0, 2).copy() if batch_first else grad_layer_output
    gradients = LSTMGradients(grad_x, grad_h0, grad_c0, tuple(cell_grads))
    if stored_as == "float64":
        return gradients

    def rounded(array: np.ndarray) -> np.ndarray:
        return round_to_format(array, stored_as)

    cells = tuple(replace(cell, **{name: rounded(value) for name, value in cell.arrays().items()}) for cell in gradients.params)
    return LSTMGradients(rounded(grad_x), rounded(grad_h0), rounded(grad_c0), cells)
