"""Comparing a backend's results with the oracle's, quantity by quantity."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from reference import LSTMResult


@dataclass(frozen=True)
class Comparison:
    """One compared quantity: max |actual - expected|, its norm-wise relative size
    max|actual - expected| / max|expected|, the tolerance applied and the verdict.
    ``detail`` explains a failure that is not a number (shape mismatch, NaN)."""

    quantity: str
    max_abs_error: float
    max_rel_error: float
    tolerance: float
    passed: bool
    detail: str = ""

    def as_record(self) -> dict:
        """The comparison as JSON-ready values: non-finite errors become None (JSON has no inf)."""
        record = asdict(self)
        for key in ("max_abs_error", "max_rel_error"):
            if not math.isfinite(record[key]):
                record[key] = None
        return record

    def describe(self) -> str:
        verdict = "ok" if self.passed else "MISMATCH"
        text = f"{self.quantity}: max abs error {self.max_abs_error:.3e} (rel {self.max_rel_error:.3e}), tolerance {self.tolerance:.3e}: {verdict}"
        return f"{text} ({self.detail})" if self.detail else text


def compare_arrays(quantity: str, actual: np.ndarray, expected: np.ndarray, tolerance: float) -> Comparison:
    """Compare two arrays elementwise; NaN or inf where the oracle is finite is a mismatch."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return Comparison(quantity, float("inf"), float("inf"), tolerance, False, f"shape {actual.shape}, expected {expected.shape}")
    if actual.size == 0:
        return Comparison(quantity, 0.0, 0.0, tolerance, True)
    difference = np.abs(actual - expected)
    not_finite = int(np.count_nonzero(~np.isfinite(difference)))
    max_abs = float("inf") if not_finite else float(difference.max())
    scale = float(np.abs(expected).max())
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    detail = f"{not_finite} non-finite values" if not_finite else ""
    return Comparison(quantity, max_abs, max_rel, tolerance, max_abs <= tolerance, detail)


def padded_mask(lengths: np.ndarray | None, steps: int, batch_first: bool) -> np.ndarray | None:
    """Boolean mask of padded output positions in the outputs' layout ([T, B] or [B, T])."""
    if lengths is None:
        return None
    padded = np.arange(steps)[:, None] >= np.asarray(lengths)[None, :]
    return padded.T if batch_first else padded


def compare_forward(
    actual: LSTMResult,
    expected: LSTMResult,
    padded: np.ndarray | None,
    tolerance_for,
) -> list[Comparison]:
    """Outputs at valid steps, outputs at padded steps (must be exactly 0), h_n and c_n.

    ``padded``: from :func:`padded_mask`; ``tolerance_for(expected_array) -> float``.
    """
    shapes_match = np.shape(actual.outputs) == np.shape(expected.outputs)
    if padded is None or not shapes_match:
        comparisons = [compare_arrays("outputs", actual.outputs, expected.outputs, tolerance_for(expected.outputs))]
    else:
        valid_expected = expected.outputs[~padded]
        comparisons = [
            compare_arrays("outputs", actual.outputs[~padded], valid_expected, tolerance_for(valid_expected)),
            compare_arrays("outputs_padded", actual.outputs[padded], expected.outputs[padded], 0.0),
        ]
    comparisons.append(compare_arrays("h_n", actual.h_n, expected.h_n, tolerance_for(expected.h_n)))
    comparisons.append(compare_arrays("c_n", actual.c_n, expected.c_n, tolerance_for(expected.c_n)))
    return comparisons


def compare_counts(actual: int, expected: int) -> Comparison:
    """Parameter counts must be equal."""
    error = float(abs(actual - expected))
    return Comparison("parameter_count", error, error / expected if expected else error, 0.0, error == 0, f"{actual} vs {expected}")
