"""Covering designs: few rows that still contain every t-way combination of factor values.

The full product of the case factors has hundreds of thousands of rows; a strength-3
covering array contains every combination of values of every three factors in a few
hundred. Rows are drawn from a seeded pool of allowed rows (so constraints such as
"this backend has no peepholes" are respected), then chosen greedily, each covering
the most combinations still needed, until every combination the pool contains is
covered as many times as asked (a multiplicity of 2 puts every combination in two
different contexts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import combinations

import numpy as np

Row = dict[str, object]
# Whether each of some rows is allowed: one call for many rows, so that a predicate that asks
# another process (a backend's support) asks once per batch.
AllowedRows = Callable[[list[Row]], list[bool]]
# Random rows tried per factor value before deciding that no allowed row has it.
VALUE_TRIES = 200


def random_rows(factors: Mapping[str, Sequence[object]], rng: np.random.Generator, count: int) -> list[Row]:
    """``count`` rows of uniformly drawn values (one draw of the generator for all of them)."""
    names = list(factors)
    draws = rng.integers(0, [len(factors[name]) for name in names], size=(count, len(names)))
    return [{name: factors[name][index] for name, index in zip(names, row)} for row in draws.tolist()]


def allowed_values(factors: Mapping[str, Sequence[object]], allowed: AllowedRows, base: Row, rng: np.random.Generator, tries: int) -> dict[str, list]:
    """Per factor, the values some allowed row has: the base row with that value, or else
    one of ``tries`` random rows with that value."""
    pairs = [(name, value) for name, values in factors.items() for value in values]
    with_base = allowed([{**base, name: value} for name, value in pairs])
    doubtful = [pair for pair, found in zip(pairs, with_base) if not found]
    candidates = [{**row, name: value} for name, value in doubtful for row in random_rows(factors, rng, tries)]
    answers = allowed(candidates) if candidates else []
    found = {pair for pair, ok in zip(pairs, with_base) if ok}
    found |= {pair for index, pair in enumerate(doubtful) if any(answers[index * tries : (index + 1) * tries])}
    return {name: [value for value in values if (name, value) in found] for name, values in factors.items()}


def first_allowed_row(factors: Mapping[str, Sequence[object]], allowed: AllowedRows, rng: np.random.Generator, tries: int) -> Row | None:
    """The row of every factor's first value if allowed, else the first allowed of ``tries``
    random rows, else None."""
    first = {name: values[0] for name, values in factors.items()}
    if allowed([first])[0]:
        return first
    rows = random_rows(factors, rng, tries)
    return next((row for row, ok in zip(rows, allowed(rows)) if ok), None)


def covering_rows(
    factors: Mapping[str, Sequence[object]],
    allowed: Callable[[Row], bool] | None = None,
    *,
    allowed_rows: AllowedRows | None = None,
    strength: int = 3,
    multiplicity: int = 1,
    seed: int = 0,
    pool_size: int = 4000,
) -> list[Row]:
    """Greedy covering rows over ``factors``: every ``strength``-way combination of values
    found in the pool of allowed rows appears in at least ``multiplicity`` chosen rows
    (or in all pool rows holding it, if fewer). Rows are allowed by ``allowed`` (one row) or
    ``allowed_rows`` (many at once). Deterministic for a given seed. Empty when no allowed
    row is found.
    """
    if (allowed is None) == (allowed_rows is None):
        raise TypeError("covering_rows: expected one of allowed and allowed_rows")
    evaluate = allowed_rows or (lambda rows: [allowed(row) for row in rows])
    names = list(factors)
    rng = np.random.default_rng(seed)
    base = first_allowed_row(factors, evaluate, rng, pool_size)
    if base is None:
        return []
    domains = allowed_values(factors, evaluate, base, rng, tries=VALUE_TRIES)
    base_indices = tuple(domains[name].index(base[name]) for name in names)
    drawn = rng.integers(0, [len(domains[name]) for name in names], size=(pool_size, len(names)))
    candidates = list(dict.fromkeys(tuple(indices) for indices in drawn.tolist() if tuple(indices) != base_indices))
    rows = [{name: domains[name][index] for name, index in zip(names, indices)} for indices in candidates]
    pool = [(base_indices, base)] + [(indices, row) for indices, row, ok in zip(candidates, rows, evaluate(rows)) if ok]
    sizes = [len(domains[name]) for name in names]
    groups = list(combinations(range(len(names)), min(strength, len(names))))
    offsets = np.cumsum([0] + [int(np.prod([sizes[f] for f in group])) for group in groups])
    index_matrix = np.array([indices for indices, _ in pool])
    combination_ids = np.empty((len(pool), len(groups)), dtype=np.int64)
    for column, group in enumerate(groups):
        code = np.zeros(len(pool), dtype=np.int64)
        for factor in group:
            code = code * sizes[factor] + index_matrix[:, factor]
        combination_ids[:, column] = offsets[column] + code
    occurrences = np.bincount(combination_ids.ravel(), minlength=offsets[-1])
    needed = np.minimum(occurrences, multiplicity)
    available = np.ones(len(pool), dtype=bool)
    chosen = []
    while needed.any():
        gains = np.where(available, (needed[combination_ids] > 0).sum(axis=1), -1)
        best = int(np.argmax(gains))
        chosen.append(pool[best][1])
        available[best] = False
        np.subtract.at(needed, combination_ids[best], needed[combination_ids[best]] > 0)
    return chosen
