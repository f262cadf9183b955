"""Probing the primitives a backend's LSTM is built from, against the oracle's (:mod:`reference.activations`).

For each activation the backend takes (its declared ones, and sigmoid and tanh) and each
dtype it offers, the framework's own function and its autodiff derivative run on points
exactly representable in that dtype (:data:`PROBE_POINTS`, kinks left out: a derivative
there is a convention), and the matrix product on seeded matrices. Each probe says how
far the framework is from the exact value, in units of the dtype's rounding, and which
dtype it returned. A probe is *flagged* where a correct implementation in that dtype
could not be that far (see :data:`ACTIVATION_UNITS`, :func:`matmul_limit`) or the result
is in another dtype: a finding that names a primitive must name a flagged one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from adapters.base import offered_dtypes
from adapters.primitives import Primitive, offered_probes
from adapters.support import declaration_of
from reference.activations import ACTIVATIONS, bind_activation
from reference.formats import round_to_format

from conformance.run.backends import Backend
from conformance.cases.seeding import seed_for
from conformance.judge.tolerances import UNIT_ROUNDOFF

# Probe inputs: a fine grid over where gates and cells live, and a few far out.
PROBE_POINTS = np.concatenate([np.linspace(-8.0, 8.0, 161), [-30.0, -20.0, -12.0, 12.0, 20.0, 30.0]])
# The most an activation's value or derivative may be off, in units of its dtype's
# rounding (u * max(|exact|, 1)): 2^10. Correct implementations stay within a few units
# on most inputs, and within a few hundred on some (328 measured: jax.nn.gelu's tanh
# approximation differentiated by jax.grad in float64 at x = 7.3, against 50-digit
# arithmetic, where the oracle's derivative is within 8); computed in a narrower format a function is off by
# 2^29 units (float32 in float64) or 2^13 (float16 in float32), and a rational
# approximation off by 1e-4 in float32 (MindSpore's tanh) by about 1700.
ACTIVATION_UNITS = 1024.0
# The matrix product's probe: a [M, K] @ [K, N], entries normal.
MATMUL_SHAPE = (8, 64, 8)
CLASSIC_ACTIVATIONS = ("sigmoid", "tanh")
# The largest finite number of each dtype (bfloat16 keeps float32's exponent).
LARGEST = {"float64": float(np.finfo(np.float64).max), "float32": float(np.finfo(np.float32).max), "bfloat16": 3.3895313892515355e38, "float16": 65504.0}


@dataclass(frozen=True)
class PrimitiveProbe:
    """One primitive (an activation, its derivative ``name'`` or ``matmul``) in one dtype:
    the largest error in units of the dtype's rounding (inf: non-finite where the exact
    value is finite), where it was worst, the dtype returned and the most a correct
    implementation could be off."""

    primitive: str
    dtype: str
    returned: str
    error_units: float
    limit: float
    worst_at: str = ""

    @property
    def flagged(self) -> bool:
        return self.returned != self.dtype or not self.error_units <= self.limit

    def describe(self) -> str:
        returned = f", returned as {self.returned}" if self.returned != self.dtype else ""
        where = f" at {self.worst_at}" if self.worst_at else ""
        return f"{self.primitive} in {self.dtype}: {self.error_units:.3g} units of rounding{where} (limit {self.limit:g}){returned}"

    def as_record(self) -> dict:
        return {
            "primitive": self.primitive,
            "dtype": self.dtype,
            "returned": self.returned,
            "error_units": self.error_units if math.isfinite(self.error_units) else None,
            "limit": self.limit,
            "worst_at": self.worst_at,
            "flagged": self.flagged,
        }


def error_units(actual: np.ndarray, exact: np.ndarray, scale: np.ndarray, dtype: str) -> tuple[float, int]:
    """max |actual - exact| / (u * scale) and the flat index of the worst element (inf where non-finite)."""
    difference = np.abs(np.asarray(actual, dtype=np.float64) - exact) / (UNIT_ROUNDOFF[dtype] * scale)
    difference = np.where(np.isfinite(difference), difference, np.inf).ravel()
    worst = int(np.argmax(difference))
    return float(difference[worst]), worst


def probe_points(name: str, dtype: str) -> np.ndarray:
    """:data:`PROBE_POINTS` rounded to ``dtype``, without the activation's kinks and points
    whose exact value lies beyond the dtype's largest number."""
    bound = bind_activation(name)
    points = np.unique(round_to_format(PROBE_POINTS, dtype))
    points = points[~np.isin(points, bound.kinks())]
    return points[np.abs(bound(points)) < LARGEST[dtype]]


def probe_activation(backend: Backend, name: str, dtype: str) -> list[PrimitiveProbe]:
    """The backend's ``name`` and its derivative in ``dtype`` against the oracle's."""
    points = probe_points(name, dtype)
    found: Primitive = backend.adapter.activation_primitive(name, points, dtype)
    bound = bind_activation(found.activation or name)
    exact = bound(points)
    probes = []
    for primitive, actual, expected in ((name, found.values, exact), (f"{name}'", found.derivative, bound.derivative(points, exact))):
        if actual is None:
            continue
        units, worst = error_units(actual, expected, np.maximum(np.abs(expected), 1.0), dtype)
        probes.append(PrimitiveProbe(primitive, dtype, found.dtype, units, ACTIVATION_UNITS, f"x = {points[worst]:.6g}"))
    return probes


def matmul_limit(inner: int) -> float:
    """The classical bound of a length-``inner`` dot product, inner units of |a| |b|."""
    return float(inner)


def probe_matmul(backend: Backend, dtype: str) -> PrimitiveProbe:
    """The backend's matrix product in ``dtype`` against the exact one, in units of
    u * (|a| @ |b|) elementwise."""
    rows, inner, columns = MATMUL_SHAPE
    rng = np.random.default_rng(seed_for(f"primitives:matmul:{dtype}"))
    a, b = (round_to_format(rng.standard_normal(shape), dtype) for shape in ((rows, inner), (inner, columns)))
    found = backend.adapter.matmul_primitive(a, b, dtype)
    units, _ = error_units(found.values, a @ b, np.abs(a) @ np.abs(b), dtype)
    return PrimitiveProbe("matmul", dtype, found.dtype, units, matmul_limit(inner))


def probed_activations(backend: Backend) -> tuple[str, ...]:
    """The activations the backend takes: those it declares, and sigmoid and tanh."""
    declared = declaration_of(backend.adapter).support.activations
    return tuple(name for name in ACTIVATIONS if name in declared or name in CLASSIC_ACTIVATIONS)


def probe_primitives(backend: Backend) -> list[PrimitiveProbe]:
    """Every probe the backend offers (:mod:`adapters.primitives`), in every dtype it offers."""
    offered = offered_probes(backend.adapter)
    probes = []
    for dtype in offered_dtypes(backend.adapter):
        if "activation_primitive" in offered:
            for name in probed_activations(backend):
                probes += probe_activation(backend, name, dtype)
        if "matmul_primitive" in offered:
            probes.append(probe_matmul(backend, dtype))
    return probes
