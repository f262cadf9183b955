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
# Random rows tried per factor value before deciding that no allowed row has it.
VALUE_TRIES = 200


def allowed_values(
    factors: Mapping[str, Sequence[object]], allowed: Callable[[Row], bool], base: Row, rng: np.random.Generator, tries: int
) -> dict[str, list]:
    """Per factor, the values some allowed row has: the base row with that value, or else
    one of ``tries`` random rows with that value."""

    def possible(name: str, value: object) -> bool:
        if allowed({**base, name: value}):
            return True
        for _ in range(tries):
            row = {other: values[int(rng.integers(len(values)))] for other, values in factors.items()}
            if allowed({**row, name: value}):
                return True
        return False

    return {name: [value for value in values if possible(name, value)] for name, values in factors.items()}


def first_allowed_row(
    factors: Mapping[str, Sequence[object]], allowed: Callable[[Row], bool], rng: np.random.Generator, tries: int
) -> Row | None:
    """The row of every factor's first value if allowed, else the first allowed of ``tries``
    random rows, else None."""
    first = {name: values[0] for name, values in factors.items()}
    if allowed(first):
        return first
    for _ in range(tries):
        row = {name: values[int(rng.integers(len(values)))] for name, values in factors.items()}
        if allowed(row):
            return row
    return None


def covering_rows(
    factors: Mapping[str, Sequence[object]],
    allowed: Callable[[Row], bool],
    *,
    strength: int = 3,
    multiplicity: int = 1,
    seed: int = 0,
    pool_size: int = 4000,
) -> list[Row]:
    """Greedy covering rows over ``factors``: every ``strength``-way combination of values
    found in the pool of ``allowed`` rows appears in at least ``multiplicity`` chosen rows
    (or in all pool rows holding it, if fewer). Deterministic for a given seed. Empty when
    no allowed row is found.
    """
    names = list(factors)
    rng = np.random.default_rng(seed)
    base = first_allowed_row(factors, allowed, rng, pool_size)
    if base is None:
        return []
    domains = allowed_values(factors, allowed, base, rng, tries=VALUE_TRIES)
    base_indices = tuple(domains[name].index(base[name]) for name in names)
    pool, seen = [(base_indices, base)], {base_indices}
    for _ in range(pool_size):
        indices = tuple(int(rng.integers(len(domains[name]))) for name in names)
        if indices in seen:
            continue
        seen.add(indices)
        row = {name: domains[name][index] for name, index in zip(names, indices)}
        if allowed(row):
            pool.append((indices, row))
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
