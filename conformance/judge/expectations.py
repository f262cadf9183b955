"""What the oracle expects for a request, quantity by quantity, and within what tolerance.

Quantities are named arrays: ``outputs`` (valid positions), ``outputs_padded`` (padded
positions: exactly 0, or what the backend's declared ``padded_outputs`` convention says,
not compared where that is ``unspecified``), ``h_n``, ``c_n``; for gradients ``grad_x``,
``grad_x_padded``, ``grad_h0``, ``grad_c0`` and ``grad_<parameter>`` (every cell of that
canonical parameter together).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from adapters.base import RunRequest
from adapters.conventions import EMPTY_SEQUENCE_STATES, PADDED_OUTPUTS, oracle_conventions
from reference import LSTMGradients, LSTMResult, lstm_backward, lstm_forward

from conformance.cases.table import Case, round_to
from conformance.cases.seeding import seed_for
from conformance.judge.tolerances import accumulation, forward_bound, gradient_bound, measured_tolerance, sensitivity, tolerance

PADDED_SUFFIX = "_padded"
# Garbage written into padded input positions: large enough to overflow any gate that reads it.
PADDING_GARBAGE = 1e30
# The size of the noise given to the upstream gradient at padded output positions.
PADDED_UPSTREAM_NOISE = 3.0


@dataclass(frozen=True)
class Expectation:
    """The oracle's values of every quantity and the tolerance each is held to."""

    values: dict[str, np.ndarray]
    tolerances: dict[str, float]


def oracle_forward(request: RunRequest, stored_as: str = "float64") -> LSTMResult:
    """What the oracle computes for a request (in float64, whatever the request's dtype;
    ``stored_as``: see :func:`reference.lstm_forward`)."""
    return lstm_forward(
        request.spec,
        request.params,
        request.x,
        lengths=request.lengths,
        initial_states=request.initial_states,
        batch_first=request.batch_first,
        stored_as=stored_as,
    )


def oracle_gradients(request: RunRequest, upstream: LSTMResult, stored_as: str = "float64") -> LSTMGradients:
    """The oracle's gradients of sum(outputs * upstream.outputs) + sum(h_n * upstream.h_n) +
    sum(c_n * upstream.c_n) (``stored_as``: the storage model of :mod:`reference.backward`)."""
    return lstm_backward(
        request.spec,
        request.params,
        request.x,
        *upstream,
        lengths=request.lengths,
        initial_states=request.initial_states,
        batch_first=request.batch_first,
        stored_as=stored_as,
    )


def seeded_upstream(case: Case, request: RunRequest, through: str) -> LSTMResult:
    """Seeded upstream gradients shaped as the case's results (the oracle's, so that the
    backend runs only its gradients), in the case's dtype; 0 at padded output positions;
    only on outputs and h_n, only on c_n, or on all three (``through``)."""
    rng = np.random.default_rng(seed_for(f"{case.id}:upstream"))
    grads = [round_to(request.dtype, rng.standard_normal(np.shape(value))) for value in oracle_forward(request)]
    padded = padded_mask(request.lengths, case.steps, request.batch_first)
    if padded is not None:
        grads[0][padded] = 0.0
    keep = {"outputs_and_h_n": (True, True, False), "c_n": (False, False, True), "all": (True, True, True)}[through]
    return LSTMResult(*(grad if kept else np.zeros_like(grad) for grad, kept in zip(grads, keep)))


def noisy_padded_upstream(case: Case, request: RunRequest, upstream: LSTMResult) -> LSTMResult:
    """``upstream`` with seeded noise (of size :data:`PADDED_UPSTREAM_NOISE`) on the outputs
    at padded positions, where the outputs are constants and no gradient may change."""
    padded = padded_mask(request.lengths, case.steps, request.batch_first)
    outputs = upstream.outputs.copy()
    noise = np.random.default_rng(seed_for(f"{case.id}:padding")).standard_normal(outputs[padded].shape)
    outputs[padded] = round_to(request.dtype, noise * PADDED_UPSTREAM_NOISE)
    return upstream._replace(outputs=outputs)


def time_major(values: np.ndarray, batch_first: bool) -> np.ndarray:
    """[B, T, ...] values as [T, B, ...] when ``batch_first`` (a view), else as they are."""
    return values.transpose(1, 0, 2) if batch_first else values


def lengths_of(request: RunRequest) -> np.ndarray:
    """Each sequence's length [B]: the request's, or T for every sequence without them."""
    steps = request.x.shape[1 if request.batch_first else 0]
    batch = request.x.shape[0 if request.batch_first else 1]
    return np.full(batch, steps) if request.lengths is None else np.asarray(request.lengths)


def last_outputs(outputs: np.ndarray, request: RunRequest) -> np.ndarray:
    """Each sequence's last output [B, D*R] from a run's outputs (in ``request``'s layout):
    per direction of the top layer, a forward one's at the sequence's last valid step, a
    reversed one's at step 0."""
    spec, time_major_outputs = request.spec, time_major(outputs, request.batch_first)
    lengths = lengths_of(request)
    rows, size = np.arange(lengths.size), spec.output_size
    parts = []
    for direction in range(spec.num_directions):
        features = slice(direction * size, (direction + 1) * size)
        step = np.zeros_like(lengths) if spec.runs_reversed(direction) else lengths - 1
        parts.append(time_major_outputs[step, rows, features])
    return np.concatenate(parts, axis=1)


def padded_mask(lengths: np.ndarray | None, steps: int, batch_first: bool) -> np.ndarray | None:
    """Boolean mask of padded positions in the outputs' layout ([T, B] or [B, T]); None without lengths."""
    if lengths is None:
        return None
    padded = np.arange(steps)[:, None] >= np.asarray(lengths)[None, :]
    return padded.T if batch_first else padded


def with_padding(request: RunRequest, value: float) -> RunRequest:
    """``request`` with every padded input position set to ``value``."""
    x = time_major(request.x.copy(), request.batch_first)
    padded = np.arange(x.shape[0])[:, None] >= lengths_of(request)[None, :]
    assert padded.any(), "the case table says this case has padded positions, but its data has none"
    x[padded] = value
    return replace(request, x=time_major(x, request.batch_first))


def split_padding(name: str, values: np.ndarray, padded: np.ndarray | None) -> dict[str, np.ndarray]:
    """``values`` at valid positions under ``name``, and at padded ones under ``name_padded``
    (whole under ``name`` when there is no padding or the shapes do not fit, which the
    comparison then reports)."""
    if padded is None or np.shape(values)[:2] != padded.shape:
        return {name: values}
    return {name: values[~padded], name + PADDED_SUFFIX: values[padded]}


def forward_quantities(result: LSTMResult, padded: np.ndarray | None, padded_outputs: str = "zeros") -> dict[str, np.ndarray]:
    """The forward quantities of ``result``; ``outputs_padded`` left out where the
    ``padded_outputs`` convention is ``unspecified``."""
    quantities = {**split_padding("outputs", result.outputs, padded), "h_n": result.h_n, "c_n": result.c_n}
    if padded_outputs == "unspecified":
        quantities.pop("outputs" + PADDED_SUFFIX, None)
    return quantities


def conventional_padding(request: RunRequest, result: LSTMResult, padded_outputs: str) -> LSTMResult:
    """``result`` (the oracle's, zeros at padded steps) with its padded outputs as the
    ``padded_outputs`` convention defines them (see :mod:`adapters.conventions`): per
    sequence and direction, the last valid output of a forward-running direction, else 0
    (``carried``) or the top layer's initial hidden state (``carried-initial``). A run in the
    last-output-only mode has no padded steps."""
    if request.lengths is None or request.last_output_only or padded_outputs in ("zeros", "unspecified"):
        return result
    spec, width = request.spec, request.spec.output_size
    outputs = result.outputs.transpose(1, 0, 2) if request.batch_first else result.outputs
    carried = outputs.copy()
    for direction in range(spec.num_directions):
        columns = slice(direction * width, (direction + 1) * width)
        top = spec.cell_index(spec.num_layers - 1, direction)
        for sequence, length in enumerate(np.asarray(request.lengths)):
            if length > 0 and not spec.runs_reversed(direction):
                fill = outputs[length - 1, sequence, columns]
            elif padded_outputs == "carried-initial" and request.initial_states is not None:
                fill = request.initial_states[0][top, sequence]
            else:
                fill = 0.0
            carried[length:, sequence, columns] = fill
    return result._replace(outputs=carried.transpose(1, 0, 2) if request.batch_first else carried)


def with_conventions(conventions: Mapping[str, str] | None) -> dict[str, str]:
    """Every convention: ``conventions`` over the oracle's."""
    return {**oracle_conventions(), **(conventions or {})}


def empty_sequences_zeroed(request: RunRequest, result: LSTMResult) -> LSTMResult:
    """``result`` with h_n and c_n (or their upstream gradients) 0 for sequences of length 0."""
    if request.lengths is None:
        return result
    empty = (np.asarray(request.lengths) == 0)[None, :, None]
    return result._replace(h_n=np.where(empty, 0.0, result.h_n), c_n=np.where(empty, 0.0, result.c_n))


def conventional(request: RunRequest, result: LSTMResult, conventions: Mapping[str, str] | None) -> LSTMResult:
    """``result`` (the oracle's) under ``conventions`` (default: the oracle's): its padded
    outputs, and h_n and c_n of sequences of length 0, as they define them."""
    conventions = with_conventions(conventions)
    padded = conventional_padding(request, result, conventions[PADDED_OUTPUTS])
    return empty_sequences_zeroed(request, padded) if conventions[EMPTY_SEQUENCE_STATES] == "zeros" else padded


def conventional_upstream(request: RunRequest, upstream: LSTMResult, conventions: Mapping[str, str] | None) -> LSTMResult:
    """The upstream gradients that reach the oracle's LSTM from a backend following
    ``conventions``: none through h_n and c_n of sequences of length 0 where it sets them
    to zeros (constants)."""
    return empty_sequences_zeroed(request, upstream) if with_conventions(conventions)[EMPTY_SEQUENCE_STATES] == "zeros" else upstream


def gradient_quantities(gradients: LSTMGradients, padded: np.ndarray | None) -> dict[str, np.ndarray]:
    quantities = {**split_padding("grad_x", gradients.x, padded), "grad_h0": gradients.h0, "grad_c0": gradients.c0}
    for name in gradients.params[0].arrays():
        quantities[f"grad_{name}"] = np.concatenate([getattr(cell, name).ravel() for cell in gradients.params])
    return quantities


def expected_forward(
    request: RunRequest, scale: float, conventions: dict[str, str] | None = None, measured_only: bool = False
) -> Expectation:
    """The oracle's forward quantities and their tolerances (``scale``: the regime's S), under
    the backend's ``conventions`` (default: the oracle's). Padded outputs that are zeros must
    be exactly 0; carried ones are held to the tolerance of the outputs they repeat.
    ``measured_only``: the tolerance of large shapes and reduced precision (see
    :mod:`conformance.judge.tolerances`), from the sensitivity and the storage rounding alone."""
    padded_outputs = with_conventions(conventions)[PADDED_OUTPUTS]
    steps = request.x.shape[1 if request.batch_first else 0]
    padded = padded_mask(request.lengths, steps, request.batch_first)

    def quantities(moved: RunRequest, stored_as: str = "float64") -> dict[str, np.ndarray]:
        return forward_quantities(conventional(moved, oracle_forward(moved, stored_as), conventions), padded, padded_outputs)

    values = quantities(request)
    measured = sensitivity(request, lambda moved, _: quantities(moved), unperturbed=values)
    if measured_only:
        stored = quantities(request, stored_as=request.dtype)
        storage = {name: float(np.max(np.abs(stored[name] - value), initial=0.0)) for name, value in values.items()}
    tolerances = {
        name: 0.0
        if name.endswith(PADDED_SUFFIX) and padded_outputs == "zeros"
        else measured_tolerance(measured[name], storage[name])
        if measured_only
        else tolerance(forward_bound(request.spec, request.dtype, steps, scale, value), measured[name])
        for name, value in values.items()
    }
    return Expectation(values, tolerances)


def expected_gradients(
    request: RunRequest, upstream: LSTMResult, scale: float, measured_only: bool = False, conventions: Mapping[str, str] | None = None
) -> Expectation:
    """The oracle's gradient quantities for ``upstream`` and their tolerances
    (``measured_only``: the tolerance of large shapes and reduced precision, from the
    sensitivity, the rounding of the batch and step sums and the storage rounding of the
    backward pass: see :mod:`conformance.judge.tolerances`), for a backend following
    ``conventions`` (default: the oracle's)."""
    upstream = conventional_upstream(request, upstream, conventions)
    batch_axis = 0 if request.batch_first else 1
    steps, batch = request.x.shape[1 - batch_axis], request.x.shape[batch_axis]
    padded = padded_mask(request.lengths, steps, request.batch_first)
    values = gradient_quantities(oracle_gradients(request, upstream), padded)
    measured = sensitivity(
        request, lambda moved, grads: gradient_quantities(oracle_gradients(moved, LSTMResult(*grads)), padded), tuple(upstream), values
    )
    if measured_only:
        stored = gradient_quantities(oracle_gradients(request, upstream, stored_as=request.dtype), padded)
        storage = {name: float(np.max(np.abs(stored[name] - value), initial=0.0)) for name, value in values.items()}
    tolerances = {
        name: 0.0
        if name.endswith(PADDED_SUFFIX)
        else measured_tolerance(measured[name], max(accumulation(request.dtype, batch, steps, value), storage[name]))
        if measured_only
        else tolerance(gradient_bound(request.spec, request.dtype, steps, batch, scale, value), measured[name])
        for name, value in values.items()
    }
    return Expectation(values, tolerances)
