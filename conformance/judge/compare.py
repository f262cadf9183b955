"""Comparing a backend's results with the oracle's, quantity by quantity."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

from conformance.judge.expectations import Expectation
from conformance.judge.power import drift_threshold



@dataclass(frozen=True)
class Comparison:
    """One compared quantity: max |actual - expected|, its norm-wise relative size
    max|actual - expected| / max|expected|, the tolerance applied and the verdict.
    ``detail`` explains a failure that is not a number (shape mismatch, NaN); ``where``
    says, for a mismatch, where its worst element lies (time step, batch row, layer...)."""

    quantity: str
    max_abs_error: float
    max_rel_error: float
    tolerance: float
    passed: bool
    detail: str = ""
    where: str = ""
    # The smallest relative drift of the actual values that this comparison fails
    # (conformance.judge.power.drift_threshold); None when none can or it fails already.
    drift_threshold: float | None = None

    def as_record(self) -> dict:
        """The comparison as JSON-ready values: non-finite errors become None (JSON has no
        inf); the drift threshold goes to the record's ``drift_thresholds`` instead."""
        record = asdict(self)
        del record["drift_threshold"]
        for key in ("max_abs_error", "max_rel_error"):
            if not math.isfinite(record[key]):
                record[key] = None
        return record

    def describe(self) -> str:
        verdict = "ok" if self.passed else "MISMATCH"
        text = f"{self.quantity}: max abs error {self.max_abs_error:.3e} (rel {self.max_rel_error:.3e}), tolerance {self.tolerance:.3e}: {verdict}"
        notes = "; ".join(note for note in (self.detail, f"worst at {self.where}" if self.where else "") if note)
        return f"{text} ({notes})" if notes else text


Locate = Callable[[tuple[int, ...]], str]


def compare_arrays(
    quantity: str, actual: np.ndarray, expected: np.ndarray, tolerance: float, locate: Locate | None = None, nan_equal: bool = False
) -> Comparison:
    """Compare two arrays elementwise; NaN or inf where the oracle is finite is a mismatch
    (``nan_equal``: NaN where the expected value is NaN too, or the same infinity, is a
    match, as a deviation's model may predict). ``locate`` turns the index of a mismatch's worst element (the first
    non-finite one, if any) into words."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return Comparison(quantity, float("inf"), float("inf"), tolerance, False, f"shape {actual.shape}, expected {expected.shape}")
    if actual.size == 0:
        return Comparison(quantity, 0.0, 0.0, tolerance, True)
    if nan_equal:
        both = (np.isnan(actual) & np.isnan(expected)) | (np.isinf(actual) & (actual == expected))
        actual, expected = np.where(both, 0.0, actual), np.where(both, 0.0, expected)
    difference = np.abs(actual - expected)
    not_finite = int(np.count_nonzero(~np.isfinite(difference)))
    max_abs = float("inf") if not_finite else float(difference.max())
    finite = np.abs(expected[np.isfinite(expected)])
    scale = float(finite.max()) if finite.size else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    detail = f"{not_finite} non-finite values" if not_finite else ""
    passed = max_abs <= tolerance
    where = ""
    if not passed and locate is not None:
        worst = np.argmax(np.where(np.isfinite(difference), difference, np.inf))
        where = locate(tuple(int(i) for i in np.unravel_index(worst, difference.shape)))
    threshold = drift_threshold(actual, expected, tolerance) if passed else None
    return Comparison(quantity, max_abs, max_rel, tolerance, passed, detail, where, threshold)


def compare_quantities(
    actual: Mapping[str, np.ndarray], expectation: Expectation, locator: Callable[[str, tuple[int, ...]], str] | None = None
) -> list[Comparison]:
    """Compare every quantity the expectation holds with the backend's (missing is a
    mismatch); ``locator(quantity, index)`` says where a mismatch's worst element lies."""
    return [
        compare_arrays(
            name,
            actual.get(name, np.full(np.shape(expected), np.nan)),
            expected,
            expectation.tolerances[name],
            None if locator is None else (lambda index, name=name: locator(name, index)),
        )
        for name, expected in expectation.values.items()
    ]


def compare_counts(actual: int, expected: int) -> Comparison:
    """Parameter counts must be equal."""
    error = float(abs(actual - expected))
    return Comparison("parameter_count", error, error / expected if expected else error, 0.0, error == 0, f"{actual} vs {expected}")
