"""Rounding to the narrower formats, against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from reference.formats import round_to_format

# (value, bfloat16 value): 8 significand bits, so steps of 2**-7 just above 1.
BFLOAT16_CASES = (
    (1.0 + 2.0**-8, 1.0),  # halfway between 1 and 1 + 2**-7: to the even one, 1
    (1.0 + 3 * 2.0**-8, 1.0 + 2.0**-6),  # halfway between 1 + 2**-7 (odd) and 1 + 2**-6 (even)
    (1.0 + 2.0**-8 + 2.0**-20, 1.0 + 2.0**-7),  # just above halfway: up
    (-(1.0 + 2.0**-8 + 2.0**-20), -(1.0 + 2.0**-7)),
    (2.0**127 * (1.0 + 2.0**-8 + 2.0**-20), 2.0**127 * (1.0 + 2.0**-7)),  # the same at the top exponent
    (0.0, 0.0),
)


@pytest.mark.parametrize("value, expected", BFLOAT16_CASES)
def test_bfloat16_rounds_to_nearest_even(value, expected):
    assert round_to_format(np.array([value]), "bfloat16")[0] == expected


def test_bfloat16_keeps_infinities_and_nans_and_leaves_its_values_alone():
    rounded = round_to_format(np.array([np.inf, -np.inf, np.nan]), "bfloat16")
    assert rounded[0] == np.inf and rounded[1] == -np.inf and np.isnan(rounded[2])
    values = round_to_format(np.random.default_rng(0).standard_normal(1000), "bfloat16")
    assert np.array_equal(round_to_format(values, "bfloat16"), values)
    # 8 significand bits: the lower 16 bits of each float32 are 0.
    assert not np.any(values.astype(np.float32).view(np.uint32) & 0xFFFF)


def test_float16_and_float32_round_as_numpy_does_and_overflow_to_infinity():
    assert round_to_format(np.array([65504.0, 65520.0, 1.0 + 2.0**-11]), "float16").tolist() == [65504.0, np.inf, 1.0]
    assert round_to_format(np.array([1.0 + 2.0**-24]), "float32")[0] == 1.0
    assert round_to_format(np.array([1.0 + 2.0**-24]), "float64")[0] == 1.0 + 2.0**-24


def test_an_unknown_format_is_refused_by_name():
    with pytest.raises(ValueError, match="format_name: expected one of float64, float32, bfloat16, float16, got 'float8'"):
        round_to_format(np.zeros(1), "float8")
