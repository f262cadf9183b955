"""Proving a weight conversion: source and target frameworks against the oracle.

A conversion is proven in two parts. The weights: read back through the target adapter's
mapping, every array the conversion only moves (transposes, reorders gates, splits
directions) equals the source's exactly, and each cell's bias sum b_ih + b_hh (all an LSTM
computes with) equals the source's up to the rounding of one sum stored in the file's
dtype (when two float32 biases are folded into Keras's or Flax's one bias, their sum is
rounded to float32: at most half a unit in the last place of each element). The
frameworks: both sides run their own weights on the same seeded inputs against the oracle
run on those weights in float64, each held to the suite's tolerances for its dtype
(float64 where the backend takes it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from adapters.base import Adapter, RunConfig, RunRequest
from reference import LSTMParams, LSTMSpec

from conformance.cases.table import round_to
from conformance.judge.compare import Comparison, compare_quantities
from conformance.deviations import find_deviations
from conformance.judge.expectations import expected_forward, forward_quantities
from conformance.cases.seeding import seed_for
from conformance.judge.tolerances import regime_scale

PROOF_STEPS, PROOF_BATCH = 6, 3


@dataclass(frozen=True)
class SideProof:
    """One side of a conversion run against the oracle: its comparisons, the error its run
    raised, or why it did not run; and the backend's known deviations that apply to the spec."""

    role: str
    backend: str
    dtype: str
    comparisons: tuple[Comparison, ...] = ()
    error: str = ""
    skipped: str = ""
    deviations: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.skipped and not self.error and all(comparison.passed for comparison in self.comparisons)

    def describe(self) -> list[str]:
        if self.skipped:
            return [f"{self.role} {self.backend}: not run ({self.skipped})"]
        lines = [f"{self.role} {self.backend} ({self.dtype}) against the oracle:"]
        lines += [f"  run failed: {self.error}"] if self.error else [f"  {comparison.describe()}" for comparison in self.comparisons]
        return lines + [f"  known deviation of {self.backend} that applies: {name}" for name in self.deviations]


@dataclass(frozen=True)
class WeightProof:
    """The converted weights against the source's, in canonical layout: the largest
    difference of the arrays the conversion moves (exactly 0 when correct), and of the bias
    sums with the rounding allowed for the file's dtype (see the module docstring)."""

    dtype: str
    moved_difference: float
    bias_difference: float
    bias_allowance: float
    bias_within: bool
    skipped: str = ""
    deviations: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.moved_difference == 0 and self.bias_within

    def describe(self) -> list[str]:
        verdict = "ok" if self.passed else "MISMATCH"
        return [
            f"weights ({self.dtype}) against the source's: moved arrays max abs difference {self.moved_difference:.3e} (must be 0), "
            f"bias sums {self.bias_difference:.3e} (allowed: rounding to {self.dtype}, up to {self.bias_allowance:.3e}): {verdict}"
        ]


def largest(values: np.ndarray) -> float:
    """The largest of ``values`` (0 for none), NaN when any is NaN: a NaN weight is a mismatch,
    never hidden by a larger difference elsewhere."""
    return float(np.max(values, initial=0.0)) if not np.isnan(values).any() else float("nan")


def worst(one: float, other: float) -> float:
    """The larger of two differences, NaN when either is."""
    return float("nan") if np.isnan(one) or np.isnan(other) else max(one, other)


def compare_weights(source: LSTMParams, target: LSTMParams, dtype: str) -> WeightProof:
    """``target``'s canonical parameters against ``source``'s, stored in ``dtype``; a NaN in
    either (a difference that is NaN) fails the proof."""
    moved, bias, allowance, within = 0.0, 0.0, 0.0, True
    for one, other in zip(source, target, strict=True):
        for name, array in one.arrays().items():
            if name not in ("b_ih", "b_hh"):
                moved = worst(moved, largest(np.abs(getattr(other, name) - array)))
        if one.b_ih is not None:
            expected = one.b_ih + one.b_hh
            difference = np.abs(other.b_ih + other.b_hh - expected)
            # Round to nearest: a stored sum is within half the spacing of the stored value.
            allowed = np.spacing(np.abs(expected).astype(dtype)).astype(np.float64) / 2
            bias, allowance = worst(bias, largest(difference)), max(allowance, float(np.nanmax(allowed, initial=0.0)))
            within = within and bool(np.all(difference <= allowed))
    return WeightProof(dtype, moved, bias, allowance, within)


def proof_dtype(adapter: Adapter, spec: LSTMSpec) -> str | None:
    """float64 when the backend takes it, else float32; None when it takes neither."""
    for dtype in ("float64", "float32"):
        if not adapter.unsupported(RunConfig(spec=spec, dtype=dtype)):
            return dtype
    return None


def prove_side(role: str, adapter: Adapter, spec: LSTMSpec, own: LSTMParams, oracle: LSTMParams, x: np.ndarray) -> SideProof:
    """Run ``adapter`` on ``own`` parameters and compare with the oracle on ``oracle``'s."""
    availability = adapter.availability()
    if not availability.available:
        return SideProof(role, adapter.name, "", skipped=availability.reason)
    dtype = proof_dtype(adapter, spec)
    if dtype is None:
        return SideProof(role, adapter.name, "", skipped="it runs this spec in no dtype")
    request = RunRequest(spec=spec, params=oracle, x=round_to(dtype, x), dtype=dtype)
    deviations = tuple(deviation.name for deviation in find_deviations(adapter.name, "forward", request, version=availability.version))
    expectation = expected_forward(request, regime_scale("typ"))
    try:
        actual = adapter.run(RunRequest(spec=spec, params=own, x=request.x, dtype=dtype))
    except Exception as error:  # a framework's own failure is this side's result, reported
        return SideProof(role, adapter.name, dtype, error=f"{type(error).__name__}: {error}", deviations=deviations)
    comparisons = tuple(compare_quantities(forward_quantities(actual, None), expectation))
    return SideProof(role, adapter.name, dtype, comparisons, deviations=deviations)


def float64_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.asarray(array, dtype=np.float64) for name, array in arrays.items()}


def prove_conversion(
    spec: LSTMSpec, source: Adapter, source_arrays: Mapping[str, np.ndarray], target: Adapter, target_arrays: Mapping[str, np.ndarray]
) -> list[WeightProof | SideProof]:
    """The weights, then both frameworks against the oracle on seeded inputs [T, B, I]."""
    source_params = source.backend_to_canonical(spec, float64_arrays(source_arrays))
    target_params = target.backend_to_canonical(spec, float64_arrays(target_arrays))
    stored = str(np.result_type(*(np.asarray(array).dtype for array in target_arrays.values())))
    x = np.random.default_rng(seed_for(f"convert:{spec}")).standard_normal((PROOF_STEPS, PROOF_BATCH, spec.input_size))
    return [
        compare_weights(source_params, target_params, stored),
        prove_side("source", source, spec, source_params, source_params, x),
        prove_side("target", target, spec, target_params, target_params, x),
    ]
