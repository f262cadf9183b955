"""Covering designs contain every t-way combination the allowed rows contain, as often as asked."""

from __future__ import annotations

from collections import Counter
from itertools import combinations, product

import pytest

from conformance.cases.covering import covering_rows

FACTORS = {"a": (0, 1, 2), "b": ("x", "y"), "c": (True, False), "d": (1, 2, 3, 4), "e": ("p", "q", "r")}


def combination_counts(rows, strength):
    counts = Counter()
    for row in rows:
        for group in combinations(sorted(row), strength):
            counts[tuple((name, row[name]) for name in group)] += 1
    return counts


def allowed(row) -> bool:
    """A constraint like a backend's: a = 2 only with c false, and never d = 4."""
    return not (row["a"] == 2 and row["c"]) and row["d"] != 4


def every_row(allowed):
    return [dict(zip(FACTORS, values)) for values in product(*FACTORS.values()) if allowed(dict(zip(FACTORS, values)))]


@pytest.mark.parametrize("strength", [2, 3])
@pytest.mark.parametrize("multiplicity", [1, 2])
def test_every_allowed_combination_is_covered(strength, multiplicity):
    rows = covering_rows(FACTORS, allowed, strength=strength, multiplicity=multiplicity, seed=1)
    assert all(allowed(row) for row in rows)
    assert len({tuple(row.values()) for row in rows}) == len(rows)
    possible = combination_counts(every_row(allowed), strength)
    covered = combination_counts(rows, strength)
    for combination, available in possible.items():
        assert covered[combination] >= min(available, multiplicity), combination
    assert not set(covered) - set(possible)
    assert len(rows) < len(every_row(allowed))


def test_deterministic_for_a_seed():
    assert covering_rows(FACTORS, allowed, seed=5) == covering_rows(FACTORS, allowed, seed=5)


def test_a_base_row_that_is_not_allowed_is_replaced():
    rows = covering_rows(FACTORS, lambda row: row["a"] == 2, strength=2, seed=2)
    assert rows and all(row["a"] == 2 for row in rows)


def test_nothing_allowed_gives_no_rows():
    assert covering_rows(FACTORS, lambda row: False, seed=3) == []


def test_a_backend_with_costly_runs_gets_every_pair_once_and_a_smaller_table():
    from conformance.run.backends import COVERED_FACTORS, Backend
    from conformance.cases.depth import DEPTHS
    from tests.support.adapters import CostlyExampleAdapter, example_instance

    costly, plain = Backend("costly", CostlyExampleAdapter()), Backend("plain", example_instance)
    costly_cases, plain_cases = costly.covering_cases(), plain.covering_cases()
    assert DEPTHS["full"].costly == (2, 1) and 0 < len(costly_cases) < len(plain_cases) / 2
    assert all(costly.supports(case) for case in costly_cases)
    rows = [{name: getattr(case, name) for name in COVERED_FACTORS} for case in costly_cases]
    for first, second in combinations(COVERED_FACTORS, 2):
        allowed = {(row[first], row[second]) for row in (vars(case) for case in plain_cases)}
        assert allowed <= {(row[first], row[second]) for row in rows}, (first, second)


def test_a_batch_predicate_gives_the_design_a_row_predicate_gives():
    """A backend in another process answers many rows in one call; the design is the same."""
    calls = []

    def allowed_rows(rows):
        calls.append(len(rows))
        return [allowed(row) for row in rows]

    assert covering_rows(FACTORS, allowed_rows=allowed_rows, seed=7) == covering_rows(FACTORS, allowed, seed=7)
    assert len(calls) <= 4


def test_exactly_one_predicate_is_given():
    with pytest.raises(TypeError, match="covering_rows: expected one of allowed and allowed_rows"):
        covering_rows(FACTORS, allowed, allowed_rows=lambda rows: [True] * len(rows))
