"""Every tolerance the suite applies, with its reason.

A backend computing in dtype ``d`` is compared with the float64 oracle on identical
(``d``-representable) data, so the difference is the backend's own rounding. How far
rounding can move a result depends on the computation's size and on the case's
conditioning, so a tolerance is the larger of two bounds.

The a-priori bound, from the sizes of the computation:

    bound = SAFETY * u(d) * sqrt(fan_in) * T * L * S * max(1, max|expected|)

- ``u(d)``: unit roundoff of the backend's dtype (2**-24 for float32, 2**-53 for
  float64): a float64 backend is held to float64 precision, not float32's.
- ``sqrt(fan_in)``: a gate pre-activation is a dot product of ``fan_in`` terms (input,
  recurrent, two biases); independent roundings grow like its square root.
- ``T``: the cell state is a running sum; with forget gates near 1 nothing damps the
  rounding it accumulates, so the error can grow linearly with the number of steps.
- ``L``: each layer feeds its (rounded) output to the next.
- ``S``: the scale of the terms summed relative to the typical regime (larger weights
  and inputs make each product, and its rounding, larger): the product of the
  saturation regime's weight scale and input standard deviation, 1 otherwise.
- ``max(1, max|expected|)``: errors are relative to the values' magnitude, which
  unbounded activations (relu, identity) let grow beyond 1.
- gradients: times ``sqrt(B * T)``, since a parameter gradient sums one product per
  step and sequence.

The measured bound, from the case's conditioning: a kernel whose operations round
correctly returns the exact result of slightly perturbed data (backward stability).
The oracle is run on the case's data with every input and parameter entry multiplied by
``1 +- u(d)`` (random signs, ``SENSITIVITY_DRAWS`` draws); the largest change of each
quantity is how much rounding of that size moves it here. Deep, long, saturated float32
cases can be so ill-conditioned that this exceeds the a-priori bound (a 3-layer,
40-step saturated case moves its outputs by 0.04 under such perturbations).

    tolerance = max(bound, SAFETY * sensitivity)

Large shapes and reduced precision are held to the measured figures alone. The a-priori
bound grows like T * sqrt(fan_in): at H = 256, I = 512, T = 100 in float32 it is 2.6e-3
of the values, over a thousand times the error torch makes there (8.9e-7), so a kernel
drifting by 1e-4 would pass; in bfloat16 (u = 2**-8) it exceeds the values themselves
on every case. There the tolerance is

    tolerance = SAFETY * max(sensitivity, storage)

where ``storage`` is how far the oracle moves when every gate pre-activation, cell and
hidden state it stores is rounded to the dtype as it is made (``lstm_forward(...,
stored_as=dtype)``): the rounding a kernel that keeps its states in that format cannot
avoid, which perturbing the data alone does not show. Measured on torch 2.13's CPU
kernels (oneDNN), the error is at most 1.5 times the larger of the two over 80 bfloat16
and float16 cases of the table's shapes and at most 5.4 times the sensitivity on the
float32 large shapes (the sums of 770 products that a GEMM rounds): SAFETY leaves a
factor of 3 to spare there, and a 1e-4 drift fails at H = 256 in float32 (tolerance 2.6e-6).

Gradients at the large shapes (a case at H = 128 per dtype a backend computes gradients
in) are held to measured figures too,

    tolerance = SAFETY * max(sensitivity, u(d) * sqrt(B * T) * max|expected|)

where the sensitivity is the gradients' to perturbing the data and the upstream gradients
by ``u(d)``, and the second term stands for the rounding of the sums over batch rows and
steps that BPTT makes (a parameter gradient sums B * T outer products), which perturbing
the data does not show: without it, Flax's float32 grad_w_hh at H = 128 is 2.2 times the
sensitivity bound and MindSpore's grad_h0 1.6 times. In bfloat16 and float16 a third
term joins them, the storage model of the backward pass (``lstm_backward(...,
stored_as=dtype)``: the forward's stored values, each step's gate gradients, the state
gradients carried back and the gradients returned, rounded to the format), and the sums
are rounded in float32, where such kernels accumulate. Cases whose gradients jump (a clip,
an activation with a kink) are not compared in those formats: their rounding decides the
side of the jump (``Case.gradients_well_posed``). Measured on every
backend with gradients at full depth (torch 2.13, Paddle 3.3.1 and its legacy op, Keras 3
on three backends, Flax, MindSpore), the largest error is 0.067 of this tolerance
(MindSpore's float32 grad_x) and at most 0.053 elsewhere, float64 included. A 1e-4 drift
of float32 gradients at H = 128 exceeds the second term (16 * 6e-8 * sqrt(8 * 50) = 1.9e-5
of the values) and fails.

``SAFETY`` = 16: on torch 2.13 and paddle 3.3.1 (CPU) the largest error measured over
the case tables is 0.13 of the tolerance (a legacy-op float64 peephole gradient) and
below 0.06 for every forward comparison; the factor leaves room for platforms with other summation orders (fused
multiply-add, blocked GEMMs, GPU kernels). It is never raised to make a failing case
pass: a case that fails is a finding.

Outputs at padded steps must be exactly 0 (tolerance 0): they are defined, not computed.
Parameter counts must match exactly. Checks of a backend against itself on the same
computation (padding, dropout in inference, stacking) allow no difference at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from adapters.base import RunRequest
from reference import LSTMSpec, map_params

from conformance.cases.table import EDGE_INPUT_STD, SATURATION_INPUT_STD, SATURATION_SCALE
from conformance.cases.seeding import seed_for

UNIT_ROUNDOFF = {"float32": 2.0**-24, "float64": 2.0**-53, "bfloat16": 2.0**-8, "float16": 2.0**-11}
SAFETY = 16.0
SENSITIVITY_DRAWS = 2


def fan_in(spec: LSTMSpec) -> int:
    """Terms in the widest gate pre-activation: layer input, recurrent state and two biases."""
    widest_input = max(spec.layer_input_size(layer) for layer in range(spec.num_layers))
    return widest_input + spec.output_size + 2


def regime_scale(regime: str) -> float:
    """S in the module docstring: the weight scale times the inputs' standard deviation
    (1 for the typical regime; the edge regime's weights are the typical ones)."""
    return {"typ": 1.0, "sat": SATURATION_SCALE * SATURATION_INPUT_STD, "edge": EDGE_INPUT_STD}[regime]


def forward_bound(spec: LSTMSpec, dtype: str, steps: int, scale: float, expected: np.ndarray) -> float:
    """The a-priori bound for forward values (module docstring)."""
    magnitude = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    growth = math.sqrt(fan_in(spec)) * max(1, steps) * spec.num_layers * scale
    return SAFETY * UNIT_ROUNDOFF[dtype] * growth * magnitude


def gradient_bound(spec: LSTMSpec, dtype: str, steps: int, batch: int, scale: float, expected: np.ndarray) -> float:
    """The a-priori bound for gradients: the forward bound times sqrt(B * T)."""
    return forward_bound(spec, dtype, steps, scale, expected) * math.sqrt(batch * max(1, steps))


def tolerance(bound: float, sensitivity: float) -> float:
    """The larger of the a-priori bound and the measured one."""
    return max(bound, SAFETY * sensitivity)


# The dtype a kernel of each dtype sums in: bfloat16 and float16 kernels accumulate their
# products in float32 and store the sums in their format (the storage model's rounding).
ACCUMULATES_IN = {"float64": "float64", "float32": "float32", "bfloat16": "float32", "float16": "float32"}


def accumulation(dtype: str, batch: int, steps: int, expected: np.ndarray) -> float:
    """The rounding of the sums over batch rows and steps a gradient makes, in the dtype a
    kernel of ``dtype`` sums in (:data:`ACCUMULATES_IN`): u sqrt(B T) times the gradient's
    magnitude (module docstring)."""
    magnitude = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
    return UNIT_ROUNDOFF[ACCUMULATES_IN[dtype]] * math.sqrt(batch * max(1, steps)) * magnitude


def measured_tolerance(sensitivity: float, storage: float) -> float:
    """The tolerance of large shapes and reduced precision: the measured figures alone (module docstring)."""
    return SAFETY * max(sensitivity, storage)


def perturbed(request: RunRequest, rng: np.random.Generator, extra: tuple[np.ndarray, ...] = ()) -> tuple[RunRequest, tuple]:
    """``request`` (and the ``extra`` arrays) with every entry multiplied by 1 +- u(dtype)."""
    unit = UNIT_ROUNDOFF[request.dtype]

    def nudge(array: np.ndarray) -> np.ndarray:
        return array * (1.0 + unit * rng.choice((-1.0, 1.0), size=np.shape(array)))

    states = None if request.initial_states is None else tuple(nudge(state) for state in request.initial_states)
    moved = replace(request, x=nudge(request.x), params=map_params(request.params, nudge), initial_states=states)
    return moved, tuple(nudge(array) for array in extra)


def sensitivity(
    request: RunRequest,
    evaluate: Callable[[RunRequest, tuple], Mapping[str, np.ndarray]],
    extra: tuple[np.ndarray, ...] = (),
    unperturbed: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """Per quantity, the largest change of ``evaluate(request, extra)`` (the oracle's named
    results) when the request and ``extra`` are perturbed by their dtype's unit roundoff.
    ``unperturbed``: ``evaluate(request, extra)`` where the caller has computed it already."""
    if unperturbed is None:
        unperturbed = evaluate(request, extra)
    rng = np.random.default_rng(seed_for(f"sensitivity:{request.spec}:{request.x.shape}:{request.dtype}"))
    largest = {name: 0.0 for name in unperturbed}
    for _ in range(SENSITIVITY_DRAWS):
        moved = evaluate(*perturbed(request, rng, extra))
        for name, values in unperturbed.items():
            if values.size:
                largest[name] = max(largest[name], float(np.max(np.abs(moved[name] - values))))
    return largest
