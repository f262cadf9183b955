"""Floating-point formats narrower than float64, as values the float64 oracle can hold.

NumPy has float32 and float16 but no bfloat16; bfloat16 is float32's upper 16 bits
(8 exponent bits, 7 stored significand bits), so rounding to it is rounding float32's
bit pattern to its upper half, to nearest with ties to even, as frameworks do.
"""

from __future__ import annotations

import numpy as np

FORMATS = ("float64", "float32", "bfloat16", "float16")


def round_to_format(array: np.ndarray, format_name: str) -> np.ndarray:
    """``array`` rounded to ``format_name`` (one of :data:`FORMATS`), as float64 of the same shape.

    bfloat16 rounds through float32 first, as a kernel that computes in float32 and
    stores bfloat16 does.
    """
    if format_name not in FORMATS:
        raise ValueError(f"format_name: expected one of {', '.join(FORMATS)}, got {format_name!r}")
    with np.errstate(over="ignore"):  # beyond the format's largest value is infinity, as in a kernel
        if format_name != "bfloat16":
            return np.asarray(array, dtype=format_name).astype(np.float64)
        bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
    finite = np.isfinite(bits.view(np.float32))
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return np.where(finite, rounded, bits & np.uint32(0xFFFF0000)).view(np.float32).astype(np.float64)
