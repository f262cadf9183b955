"""The suite's own detection thresholds: the smallest drift each check notices, per factor level.

A kernel that goes wrong on one code path moves the values it returns there, typically by
a relative drift: ``a`` becomes ``a * (1 + eps)`` or ``a * (1 - eps)``. A comparison of
the backend's ``a`` with expected ``x`` under tolerance ``tol`` (it passed: every
``|e_i| <= tol`` with ``e_i = a_i - x_i``) fails such a drift once one element leaves the
tolerance, ``|e_i + eps a_i| > tol`` (or ``- eps``), so each comparison has an exact
threshold (:func:`drift_threshold`):

    up   = min_i (tol - sign(a_i) e_i) / |a_i|      (1 + eps fails beyond it)
    down = min_i (tol + sign(a_i) e_i) / |a_i|      (1 - eps fails beyond it)
    threshold = max(up, down)                      (a drift of either sign beyond it fails)

over the elements where ``a_i`` is finite and not 0. Every check against the oracle (or
against a deviation's model, where one judges the quantity) records the threshold of the
comparison that judged each quantity (``drift_thresholds``); quantities a model-less
deviation leaves unjudged have none.

A perturbation confined to one factor level (one dtype, H >= 64, several threads, lengths
given...) changes only the runs of that level, so the suite notices it when any
comparison of a record in the level does: the level's threshold for a target (outputs,
states or gradients) is the smallest threshold over its records and the target's
quantities (:func:`power_table`). The threads check's comparison of its threaded run
against its single-threaded one notices a drift confined to threads only; a drift of
every run of a dtype moves both sides of it, so only that level counts it. A level a
backend runs but where no drift up to :data:`BLIND_SPOT_EPSILON` is noticed is a blind
spot (:func:`blind_spots`), unless the level's own resolution explains it: in bfloat16,
float16 and the edge regime a correct backend's rounding moves values by about that much
(:data:`BELOW_RESOLUTION`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable

import numpy as np

from conformance.record_columns import column

# A level whose drift of this size goes unnoticed is a blind spot: it is 10 to 100 times
# a float32 LSTM's own rounding at the table's shapes, and far below any mapping mistake.
BLIND_SPOT_EPSILON = 1e-3
# The records whose comparisons hold a backend's values against the oracle (or a model).
JUDGED_KINDS = ("forward", "threads", "gradients", "gradients_c_n")
TARGETS: dict[str, Callable[[str], bool]] = {
    "outputs": lambda quantity: quantity.startswith("outputs"),
    "states": lambda quantity: quantity in ("h_n", "c_n"),
    "gradients": lambda quantity: quantity.startswith("grad_"),
}
# The threads check's labels: its threaded run against the oracle and against its
# single-threaded run (conformance.test_threads).
THREADED_LABEL = " threads"
AGAINST_LABEL = " against "


def drift_threshold(actual: np.ndarray, expected: np.ndarray, tolerance: float) -> float | None:
    """The smallest relative drift of ``actual`` (either sign) that makes its comparison with
    ``expected`` under ``tolerance`` fail (see the module docstring); None when the
    comparison fails already or no drift can make it fail (every value 0 or not finite)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape or not math.isfinite(tolerance):
        return None
    error = actual - expected
    usable = np.isfinite(actual) & np.isfinite(error) & (actual != 0)
    if not usable.any() or np.any(np.abs(error[usable]) > tolerance):
        return None
    values, errors = actual[usable], error[usable]
    size, signed = np.abs(values), np.sign(values) * errors
    up = float(np.min((tolerance - signed) / size))
    down = float(np.min((tolerance + signed) / size))
    return max(up, down)


# The factor levels a perturbation is confined to, each as the records it reaches.
THREADS_LEVEL = "several threads"
LEVELS: dict[str, Callable[[dict], bool]] = {
    "float32": lambda record: record["dtype"] == "float32",
    "float64": lambda record: record["dtype"] == "float64",
    "bfloat16": lambda record: record["dtype"] == "bfloat16",
    "float16": lambda record: record["dtype"] == "float16",
    "H >= 64": lambda record: record["spec"]["hidden_size"] >= 64,
    THREADS_LEVEL: lambda record: record["kind"] == "threads",
    "T >= 500": lambda record: record["steps"] >= 500,
    "layers > 3": lambda record: record["spec"]["num_layers"] > 3,
    "layers > 1": lambda record: record["spec"]["num_layers"] > 1,
    "reverse direction": lambda record: record["spec"]["reverse"],
    "bidirectional": lambda record: record["spec"]["bidirectional"],
    "lengths given": lambda record: record["case"]["lengths"] != "none",
    "every sequence shorter than T": lambda record: record["case"]["lengths"] == "short",
    "an empty sequence": lambda record: record["case"]["lengths"] == "mixed0",
    "batch-major": lambda record: record["case"]["layout"] == "bm",
    "initial states": lambda record: record["case"]["init"] == "h0",
    "projection": lambda record: record["spec"]["proj_size"] > 0,
    "no bias": lambda record: not record["spec"]["bias"],
    "peepholes": lambda record: record["spec"]["peepholes"],
    "coupled input-forget gate": lambda record: record["spec"]["input_forget"],
    "clips": lambda record: record["case"]["clip"] != "noclip",
    "non-default activations": lambda record: record["case"]["acts"] != "std",
    "saturation regime": lambda record: record["case"]["regime"] == "sat",
    "edge regime": lambda record: record["case"]["regime"] == "edge",
    "CUDA": lambda record: record["device"] == "cuda",
}


def base_quantity(quantity: str) -> str:
    """``outputs[4 threads]`` -> ``outputs``."""
    return quantity.partition("[")[0]


def in_level(record: dict, quantity: str, level: str) -> bool:
    """Whether a drift confined to ``level`` reaches ``quantity``'s comparison in ``record``
    and leaves what it is compared with alone (see the module docstring)."""
    against_single = AGAINST_LABEL in quantity
    if level == THREADS_LEVEL:
        return THREADED_LABEL in quantity
    return not against_single and LEVELS[level](record)


# Levels where a drift of BLIND_SPOT_EPSILON is within what a correct backend's own
# rounding moves values by there, so no tolerance could notice it without failing correct
# backends: why each is not a blind spot.
BELOW_RESOLUTION = {
    "bfloat16": "bfloat16 keeps 8 significant bits: one rounding moves a value by up to 2^-9 (2.0e-3), and the recurrence carries many",
    "float16": "float16 keeps 11 significant bits: the storage rounding a correct kernel cannot avoid, carried through the recurrence, "
    "moves values by about 5e-4 of themselves here, and tolerances are SAFETY (16) times the measured figure",
    "edge regime": "inputs 300 times the typical ones are held to the a-priori bound scaled by S = 300 (conformance.judge.tolerances), "
    "2e-3 to 1e-2 of the values here; the regime is there for exp's overflow, which shows as inf whatever the tolerance",
}

# Per backend, per level, per target: the threshold (None: the level ran, no comparison
# of the target judged anything there).
PowerTable = dict[str, dict[str, dict[str, float | None]]]


def judged_records(records: Iterable[dict]) -> list[dict]:
    """The case records of checks against the oracle that recorded thresholds."""
    return [record for record in records if record.get("kind") in JUDGED_KINDS and "drift_thresholds" in record and "case" in record]


@functools.cache
def target_of(quantity: str) -> str | None:
    """The target whose drift ``quantity``'s comparison can notice (None: no target's)."""
    base = base_quantity(quantity)
    return next((name for name, belongs in TARGETS.items() if belongs(base)), None)


def power_table(records: Iterable[dict]) -> PowerTable:
    """Per backend (its report column), per level it ran, per target whose quantities its
    records of that level compared: the smallest drift threshold (see the module docstring)."""
    table: PowerTable = {}
    for record in judged_records(records):
        levels = table.setdefault(column(record), {})
        compared = [(quantity, threshold, target_of(quantity)) for quantity, threshold in record["drift_thresholds"].items()]
        for level in LEVELS:
            if not LEVELS[level](record):
                continue
            targets = levels.setdefault(level, {})
            for quantity, threshold, target in compared:
                if target is None or not in_level(record, quantity, level):
                    continue
                known = targets.get(target)
                targets[target] = threshold if known is None else known if threshold is None else min(known, threshold)
    return table


def unnoticed(table: PowerTable, epsilon: float = BLIND_SPOT_EPSILON) -> list[tuple[str, str, str]]:
    """(backend, level, target) where the backend ran the level and compared the target
    there, but no drift up to ``epsilon`` fails any of its comparisons."""
    return [
        (backend, level, target)
        for backend, levels in table.items()
        for level, targets in levels.items()
        for target, threshold in targets.items()
        if threshold is None or threshold > epsilon
    ]


def blind_spots(table: PowerTable, epsilon: float = BLIND_SPOT_EPSILON) -> list[tuple[str, str, str]]:
    """The :func:`unnoticed` drifts at levels whose resolution does not explain them
    (:data:`BELOW_RESOLUTION`)."""
    return [spot for spot in unnoticed(table, epsilon) if spot[1] not in BELOW_RESOLUTION]


def below_resolution(table: PowerTable, epsilon: float = BLIND_SPOT_EPSILON) -> list[tuple[str, str, str]]:
    """The :func:`unnoticed` drifts that :data:`BELOW_RESOLUTION` explains."""
    return [spot for spot in unnoticed(table, epsilon) if spot[1] in BELOW_RESOLUTION]


def format_threshold(threshold: float | None) -> str:
    """``3e-07``; '-' for none."""
    return "-" if threshold is None else f"{threshold:.0e}"


def power_lines(table: PowerTable, epsilon: float = BLIND_SPOT_EPSILON) -> list[str]:
    """The table as text: per backend, a line per level with each target's threshold, then
    the blind spots."""
    lines = []
    for backend, levels in table.items():
        lines.append(f"{backend}:")
        width = max(map(len, levels), default=0)
        for level, targets in levels.items():
            cells = ", ".join(f"{target} {format_threshold(targets[target])}" for target in TARGETS if target in targets)
            lines.append(f"  {level.ljust(width)}  {cells}")
    spots = blind_spots(table, epsilon)
    lines.append(f"blind spots (no drift up to {epsilon:g} noticed): " + ("none" if not spots else ""))
    lines += [f"  {backend}: {target} at {level}" for backend, level, target in spots]
    explained = below_resolution(table, epsilon)
    for level in dict.fromkeys(level for _, level, _ in explained):
        backends = ", ".join(dict.fromkeys(backend for backend, spot_level, _ in explained if spot_level == level))
        lines.append(f"below the resolution of {level} (not blind spots: {BELOW_RESOLUTION[level]}): {backends}")
    return lines
