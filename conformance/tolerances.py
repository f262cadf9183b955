"""Every tolerance the suite applies, with its reason.

A backend computing in dtype ``d`` is compared with the float64 oracle on identical
(``d``-representable) data, so the difference is the backend's own rounding. The bound:

    atol = SAFETY * u(d) * sqrt(fan_in) * T * L * S * max(1, max|expected|)

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
- ``SAFETY``: on torch 2.13 and paddle 3.3.1 (CPU) the largest error measured over the
  case table is 0.8 of the bound without it (float32, 3 layers, 40 steps, saturated);
  the factor leaves room for platforms with other summation orders (fused multiply-add,
  blocked GEMMs, GPU kernels). It is never raised to make a failing case pass: a case
  that fails is a finding.

Outputs at padded steps must be exactly 0 (tolerance 0): they are defined, not computed.
Parameter counts must match exactly.
"""

from __future__ import annotations

import math

import numpy as np

from reference import LSTMSpec

from .cases import SATURATION_INPUT_STD, SATURATION_SCALE

UNIT_ROUNDOFF = {"float32": 2.0**-24, "float64": 2.0**-53}
SAFETY = 16.0


def fan_in(spec: LSTMSpec) -> int:
    """Terms in the widest gate pre-activation: layer input, recurrent state and two biases."""
    widest_input = max(spec.layer_input_size(layer) for layer in range(spec.num_layers))
    return widest_input + spec.output_size + 2


def forward_tolerance(spec: LSTMSpec, dtype: str, steps: int, regime_scale: float, expected: np.ndarray) -> float:
    """Absolute tolerance for comparing a backend's forward values with the oracle's ``expected``."""
    magnitude = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    growth = math.sqrt(fan_in(spec)) * max(1, steps) * spec.num_layers * regime_scale
    return SAFETY * UNIT_ROUNDOFF[dtype] * growth * magnitude


def regime_scale(regime: str) -> float:
    """S in the module docstring: 1 for the typical regime, weight scale x input std when saturated."""
    return SATURATION_SCALE * SATURATION_INPUT_STD if regime == "sat" else 1.0


def gradient_tolerance(
    spec: LSTMSpec, dtype: str, steps: int, batch: int, regime_scale: float, expected: np.ndarray
) -> float:
    """Absolute tolerance for a backend's gradient against the oracle's ``expected``.

    The forward bound, times sqrt(B * T): a parameter gradient sums one product per step
    and sequence, and the rounding of B * T independent terms grows like its square root.
    """
    return forward_tolerance(spec, dtype, steps, regime_scale, expected) * math.sqrt(batch * max(1, steps))
