"""The LSTM as the textbook writes it: one step at a time, forward and backward.

:func:`textbook_forward` and :func:`textbook_backward` compute what :func:`lstm_forward`
and :func:`lstm_backward` compute, for every spec, written to be read rather than to be
fast: canonical gate order i, f, g, o throughout, one function per step, no chunks, no
buffers reused, no internal gate order. The project's tests hold the fast oracle to
them over the whole case table. One step of one cell, with z = W x + R h_prev + b::

    i = act_gate(z_i + w_ic * c_prev)        f = act_gate(z_f + w_fc * c_prev)  (f = 1 - i, coupled)
    g = act_cand(z_g)                        c = f * c_prev + i * g             (clipped to +-cell_clip)
    o = act_gate(z_o + w_oc * c)             h = W_hr (o * act_cell(c))         (clipped to +-proj_clip)

The activation clip bounds the inputs of act_gate and act_cand. Where the fast oracle
departs from this, and why: :mod:`reference.forward` keeps the gates in the order i, f, o,
g (the three that share act_gate are one array), projects the input of a chunk of steps
with one matrix product, and writes into buffers it reuses; :mod:`reference.backward`
works out the activations' derivatives a chunk of steps at a time and each parameter's
gradient as one product over all steps. None of that changes a value beyond rounding.

A :class:`Variant` makes the LSTM a backend computes where it departs from the textbook,
for the models of known deviations (``conformance.deviations.models``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .backward import LSTMGradients
from .forward import LSTMResult
from .inputs import validate_inputs
from .params import CellParams, LSTMParams, validate_params
from .spec import LSTMSpec

ROLES = ("gate_activation", "candidate_activation", "cell_activation")


@dataclass(frozen=True)
class Variant:
    """Where a backend's LSTM departs from the textbook.

    ``activations``: per role (``gate_activation``, ``candidate_activation``,
    ``cell_activation``), an object with ``__call__(x)`` and ``derivative(x, y)`` computed
    instead of the spec's. ``gate_gradients(dz, cell, step)``: the gate gradients dz
    [B, 4, H] (canonical order) that a step's matrix products use (the gradients of x,
    h_prev, the weights and biases), given the true ones of that cell at that step (its
    processing order); the cell state's and the peepholes' gradients keep the true ones.
    ``cell_clip_gradient``: whether the cell clip's derivative is applied (False: the clip
    passes every gradient). ``cell_output_gradient``: whether the gradient of c_t receives
    the cell output's term dh * o * act_cell'(c_t) (and the output peephole's).
    ``recurrent_rows(cell, step)``: a [B] weight per batch row of h_prev in that step's
    product for the recurrent weight's gradient (None: every row, weight 1)."""

    activations: Mapping[str, object] = field(default_factory=dict)
    gate_gradients: Callable[[np.ndarray, int, int], np.ndarray] | None = None
    cell_clip_gradient: bool = True
    cell_output_gradient: bool = True
    recurrent_rows: Callable[[int, int], np.ndarray | None] | None = None


TEXTBOOK = Variant()


def clip(values: np.ndarray, bound: float | None) -> np.ndarray:
    return values if bound is None else np.clip(values, -bound, bound)


def inside(values: np.ndarray, bound: float | None) -> np.ndarray:
    """A clip's derivative: 1 where ``|values| < bound``, 0 where it held them (and without a clip, 1)."""
    return np.ones_like(values) if bound is None else (np.abs(values) < bound).astype(np.float64)


def step_forward(spec: LSTMSpec, cell: CellParams, acts: Mapping, x: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray) -> dict:
    """One step of one cell on x [B, I], h_prev [B, R], c_prev [B, H]: every value the
    backward step needs, by name."""
    z = x @ cell.w_ih.T + h_prev @ cell.w_hh.T
    if spec.bias:
        z = z + cell.b_ih + cell.b_hh
    z_i, z_f, z_g, z_o = np.split(z, 4, axis=1)
    if spec.peepholes:
        z_i, z_f = z_i + cell.w_ic * c_prev, z_f + cell.w_fc * c_prev
    z_i, z_f, z_g = (clip(value, spec.activation_clip) for value in (z_i, z_f, z_g))
    i, g = acts["gate_activation"](z_i), acts["candidate_activation"](z_g)
    f = 1.0 - i if spec.input_forget else acts["gate_activation"](z_f)
    c = clip(f * c_prev + i * g, spec.cell_clip)
    if spec.peepholes:
        z_o = z_o + cell.w_oc * c
    z_o = clip(z_o, spec.activation_clip)
    o = acts["gate_activation"](z_o)
    m = o * acts["cell_activation"](c)
    h = clip(m @ cell.w_hr.T, spec.proj_clip) if cell.w_hr is not None else m
    return dict(x=x, h_prev=h_prev, c_prev=c_prev, z_i=z_i, z_f=z_f, z_g=z_g, z_o=z_o, i=i, f=f, g=g, o=o, c=c, m=m, h=h)


def step_backward(spec: LSTMSpec, cell: CellParams, acts: Mapping, s: dict, dh: np.ndarray, dc: np.ndarray, variant: Variant, where: tuple[int, int]) -> tuple:
    """Backpropagate one step (``where``: the cell's index and the step in its processing
    order): from the gradients of h and c to those of x, h_prev, c_prev and of the cell's
    parameters (a dict)."""
    grads = {}
    if cell.w_hr is not None:
        dh = dh * inside(s["h"], spec.proj_clip)
        grads["w_hr"] = dh.T @ s["m"]
        dm = dh @ cell.w_hr
    else:
        dm = dh
    cell_act = acts["cell_activation"](s["c"])
    dz_o = dm * cell_act * acts["gate_activation"].derivative(s["z_o"], s["o"]) * inside(s["z_o"], spec.activation_clip)
    if variant.cell_output_gradient:
        dc = dc + dm * s["o"] * acts["cell_activation"].derivative(s["c"], cell_act)
        if spec.peepholes:
            dc = dc + dz_o * cell.w_oc
    if variant.cell_clip_gradient:
        dc = dc * inside(s["c"], spec.cell_clip)
    d_i = dc * s["g"]
    d_f = dc * s["c_prev"]
    if spec.input_forget:
        d_i, d_f = d_i - d_f, np.zeros_like(d_f)
    dz_i = d_i * acts["gate_activation"].derivative(s["z_i"], s["i"]) * inside(s["z_i"], spec.activation_clip)
    dz_f = d_f * acts["gate_activation"].derivative(s["z_f"], s["f"]) * inside(s["z_f"], spec.activation_clip) if not spec.input_forget else d_f
    dz_g = dc * s["i"] * acts["candidate_activation"].derivative(s["z_g"], s["g"]) * inside(s["z_g"], spec.activation_clip)
    dc_prev = dc * s["f"]
    if spec.peepholes:
        dc_prev = dc_prev + dz_i * cell.w_ic + dz_f * cell.w_fc
        grads.update(w_ic=(dz_i * s["c_prev"]).sum(0), w_fc=(dz_f * s["c_prev"]).sum(0), w_oc=(dz_o * s["c"]).sum(0))
    dz = np.stack([dz_i, dz_f, dz_g, dz_o], axis=1)
    if variant.gate_gradients is not None:
        dz = variant.gate_gradients(dz, *where)
    flat = dz.reshape(len(dz), -1)
    rows = None if variant.recurrent_rows is None else variant.recurrent_rows(*where)
    grads.update(w_ih=flat.T @ s["x"], w_hh=flat.T @ (s["h_prev"] if rows is None else s["h_prev"] * rows[:, None]))
    if spec.bias:
        grads.update(b_ih=flat.sum(0), b_hh=flat.sum(0))
    return flat @ cell.w_ih, flat @ cell.w_hh, dc_prev, grads


def within_lengths(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Time-major ``values`` [T, B, ...] with each sequence reversed within its length
    (padded steps stay where they are); its own inverse."""
    reversed_ = values.copy()
    for b, length in enumerate(lengths):
        reversed_[:length, b] = values[:length, b][::-1]
    return reversed_


def activations_of(spec: LSTMSpec, variant: Variant) -> dict:
    return {role: variant.activations.get(role) or spec.activation(role) for role in ROLES}


def run_cells(spec, params, inputs, acts):
    """The forward pass; per cell the steps it ran (in its own processing order) and its
    input as processed."""
    lengths, steps = inputs.lengths_or_full(), inputs.steps
    valid = np.arange(steps)[:, None] < lengths[None, :]
    layer_input, h_n, c_n, cells = inputs.x, np.empty_like(inputs.h0), np.empty_like(inputs.c0), []
    for layer in range(spec.num_layers):
        outputs = []
        for direction in range(spec.num_directions):
            index = spec.cell_index(layer, direction)
            reversed_ = spec.runs_reversed(direction)
            x = within_lengths(layer_input, lengths) if reversed_ else layer_input
            h, c, done, out = inputs.h0[index], inputs.c0[index], [], np.zeros((steps, inputs.batch, spec.output_size))
            for t in range(steps):
                s = step_forward(spec, params[index], acts, x[t], h, c)
                keep = valid[t][:, None]
                h, c = np.where(keep, s["h"], h), np.where(keep, s["c"], c)
                out[t] = np.where(keep, s["h"], 0.0)
                done.append(s)
            h_n[index], c_n[index] = h, c
            cells.append((index, reversed_, done))
            outputs.append(within_lengths(out, lengths) if reversed_ else out)
        layer_input = np.concatenate(outputs, axis=2)
    return LSTMResult(layer_input, h_n, c_n), cells, valid


def textbook_forward(
    spec: LSTMSpec, params: LSTMParams, x: np.ndarray, *, lengths=None, initial_states=None, batch_first: bool = False, variant: Variant = TEXTBOOK
) -> LSTMResult:
    """What :func:`reference.lstm_forward` computes (same arguments and result), one step at
    a time; ``variant``: see :class:`Variant`."""
    spec.validate()
    inputs = validate_inputs(spec, x, lengths=lengths, initial_states=initial_states, batch_first=batch_first)
    result, _, _ = run_cells(spec, validate_params(spec, params), inputs, activations_of(spec, variant))
    return result._replace(outputs=result.outputs.transpose(1, 0, 2).copy()) if batch_first else result


def textbook_backward(
    spec: LSTMSpec,
    params: LSTMParams,
    x: np.ndarray,
    grad_outputs: np.ndarray,
    grad_h_n: np.ndarray | None = None,
    grad_c_n: np.ndarray | None = None,
    *,
    lengths=None,
    initial_states=None,
    batch_first: bool = False,
    variant: Variant = TEXTBOOK,
) -> LSTMGradients:
    """What :func:`reference.lstm_backward` computes (same arguments and result), one step at
    a time, from the top layer down; ``variant``: see :class:`Variant`."""
    spec.validate()
    params = validate_params(spec, params)
    inputs = validate_inputs(spec, x, lengths=lengths, initial_states=initial_states, batch_first=batch_first)
    acts = activations_of(spec, variant)
    _, cells, valid = run_cells(spec, params, inputs, acts)
    lengths_ = inputs.lengths_or_full()
    d_out = np.zeros((inputs.steps, inputs.batch, spec.num_directions * spec.output_size)) if grad_outputs is None else np.asarray(grad_outputs, np.float64)
    d_out = d_out.transpose(1, 0, 2) if batch_first else d_out
    d_out = np.where(valid[:, :, None], d_out, 0.0)
    zeros = np.zeros_like
    d_h_n = zeros(inputs.h0) if grad_h_n is None else np.asarray(grad_h_n, np.float64)
    d_c_n = zeros(inputs.c0) if grad_c_n is None else np.asarray(grad_c_n, np.float64)
    d_h0, d_c0, grads = zeros(inputs.h0), zeros(inputs.c0), [None] * spec.num_cells
    for layer in reversed(range(spec.num_layers)):
        d_input = None
        for direction in range(spec.num_directions):
            index, reversed_, done = cells[spec.cell_index(layer, direction)]
            width = slice(direction * spec.output_size, (direction + 1) * spec.output_size)
            d_own = within_lengths(d_out[:, :, width], lengths_) if reversed_ else d_out[:, :, width]
            dh, dc = d_h_n[index], d_c_n[index]
            cell_grads = {name: zeros(value) for name, value in params[index].arrays().items()}
            d_x = np.zeros((inputs.steps, inputs.batch, done[0]["x"].shape[1]))
            for t in reversed(range(inputs.steps)):
                keep = valid[t][:, None]
                dx_t, dh_prev, dc_prev, step_grads = step_backward(
                    spec, params[index], acts, {name: np.where(keep, value, 0.0) for name, value in done[t].items()}, np.where(keep, dh + d_own[t], 0.0), np.where(keep, dc, 0.0), variant, (index, t)
                )
                for name, value in step_grads.items():
                    cell_grads[name] += value
                d_x[t] = dx_t
                dh, dc = np.where(keep, dh_prev, dh), np.where(keep, dc_prev, dc)
            d_h0[index], d_c0[index], grads[index] = dh, dc, CellParams(**cell_grads)
            d_x = within_lengths(d_x, lengths_) if reversed_ else d_x
            d_input = d_x if d_input is None else d_input + d_x
        if layer:
            d_out = d_input
    grad_x = d_input.transpose(1, 0, 2) if batch_first else d_input
    return LSTMGradients(grad_x, d_h0, d_c0, tuple(grads))
