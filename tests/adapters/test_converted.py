"""Converted models are kept by everything that made them, and only the last few."""

from __future__ import annotations

import numpy as np

from adapters.converted import ConvertedModels


def test_a_model_is_converted_once_per_case_steps_and_weights():
    conversions = []

    def convert(case, weights, steps):
        conversions.append((case["n"], steps, float(weights["w"][0])))
        return f"model {len(conversions)}".encode()

    kept = ConvertedModels(kept=2)
    weights = {"w": np.array([1.0, 2.0])}
    first = kept.get({"n": 1}, weights, 5, convert)
    assert kept.get({"n": 1}, {"w": np.array([1.0, 2.0])}, 5, convert) == first
    assert len(conversions) == 1
    kept.get({"n": 2}, weights, 5, convert)
    kept.get({"n": 1}, weights, 6, convert)
    kept.get({"n": 1}, {"w": np.array([1.0, 2.5])}, 5, convert)
    assert len(conversions) == 4
    assert kept.get({"n": 1}, weights, 5, convert) != first  # evicted: two kept, three made since
    assert len(conversions) == 5
