"""Where a conformance run's time goes: seconds per backend and per check, from its parity JSON.

Each record of the JSON (``lstm-parity run`` or ``pytest --parity-json PATH``) carries the
wall time of its test (setup, call and teardown, in its worker). Prints, per backend, the
tests, their total and mean seconds, and the three costliest checks; then the totals per
check over all backends. Worker time, not wall time: with ``-n auto`` the run's wall
time is about this total over the number of workers.
Run: ``python benchmarks/suite_cost.py [reports/parity.json]``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def costs(records: list[dict]) -> dict[str, dict[str, list[float]]]:
    """Per backend, per check (record kind): the durations of its tests, in seconds."""
    table: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        table[record["backend"]][record["kind"]].append(record["duration_s"])
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("parity_json", nargs="?", default="reports/parity.json", type=Path)
    args = parser.parse_args()
    document = json.loads(args.parity_json.read_text(encoding="utf-8"))
    table = costs(document["records"])
    print(f"run: {document['run']['duration_s']:.1f} s wall, {len(document['records'])} recorded tests")
    print(f"{'backend':<24} {'tests':>6} {'total s':>9} {'mean s':>8}  costliest checks (s)")
    by_check: dict[str, float] = defaultdict(float)
    for backend, checks in sorted(table.items(), key=lambda item: -sum(map(sum, item[1].values()))):
        durations = [duration for values in checks.values() for duration in values]
        costliest = sorted(checks.items(), key=lambda item: -sum(item[1]))[:3]
        print(
            f"{backend:<24} {len(durations):>6} {sum(durations):>9.1f} {sum(durations) / len(durations):>8.3f}  "
            + ", ".join(f"{check} {sum(values):.1f}" for check, values in costliest)
        )
        for check, values in checks.items():
            by_check[check] += sum(values)
    print("per check, all backends: " + ", ".join(f"{check} {seconds:.1f}" for check, seconds in sorted(by_check.items(), key=lambda item: -item[1])))


if __name__ == "__main__":
    main()
