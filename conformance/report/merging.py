"""Merging parity documents: shards of one run, other machines, other framework versions.

A merged document is a parity document with two more things: ``runs``, each merged run with
its label, source file, run and environment; and on each record the ``run`` it came from.
Nothing is overwritten: a test two runs ran stays two records. Where several runs ran one
backend on the same cases, or ran different versions of it, each record also gets
``shown_as``, the backend with its run's label, so that the report gives each run its own
column and shows the runs side by side; shards of one run (disjoint tests, one version)
share the backend's column. Merged documents merge again: their runs keep their labels.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from conformance.report.schema import SCHEMA_VERSION


# File names that say nothing of their run: such a run is named after its folder.
GENERIC_NAMES = ("parity.json", "parity.json.gz")


def run_label(source: Path, document: dict) -> str:
    """A run's label: the folder of a ``parity.json`` (``paddlepaddle-2.6.2``) or the file's
    name without its suffixes otherwise, with ``shard K/N`` when the run was one."""
    label = source.parent.name if source.name in GENERIC_NAMES and source.parent.name else source.name.split(".")[0]
    shard = document["run"].get("shard")
    return f"{label} shard {shard}" if shard else label


def unique(label: str, taken: set[str]) -> str:
    """``label``, or ``label (2)``, ``label (3)``... when already taken."""
    candidate, number = label, 1
    while candidate in taken:
        number += 1
        candidate = f"{label} ({number})"
    taken.add(candidate)
    return candidate


def runs_of(source: Path, document: dict, taken: set[str]) -> tuple[list[dict], list[dict]]:
    """One input's runs and records, each record carrying its run's label."""
    if "runs" in document:
        renamed = {run["label"]: unique(run["label"], taken) for run in document["runs"]}
        runs = [{**run, "label": renamed[run["label"]]} for run in document["runs"]]
        records = [{**record, "run": renamed[record["run"]]} for record in document["records"]]
    else:
        label = unique(run_label(source, document), taken)
        runs = [{"label": label, "source": str(source), "run": document["run"], "environment": document["environment"]}]
        records = [{**record, "run": label} for record in document["records"]]
    return runs, [{key: value for key, value in record.items() if key != "shown_as"} for record in records]


def split_backends(records: list[dict]) -> set[str]:
    """The backends that need a column per run: run by several runs on a common test, or at
    several versions."""
    tests: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    versions: dict[str, set[str]] = defaultdict(set)
    for record in records:
        tests[record["backend"]][record["test"]].add(record["run"])
        versions[record["backend"]].add(record.get("backend_version", ""))
    return {
        backend
        for backend, by_test in tests.items()
        if len(versions[backend] - {""}) > 1 or any(len(runs) > 1 for runs in by_test.values())
    }


def merged_deviations(documents: list[dict]) -> list[dict]:
    """Every input's registered deviations, once per name, with the union of versions seen."""
    merged: dict[str, dict] = {}
    for document in documents:
        for deviation in document["deviations"]:
            entry = merged.setdefault(deviation["name"], {**deviation, "versions_seen": []})
            entry["versions_seen"] += [version for version in deviation["versions_seen"] if version not in entry["versions_seen"]]
    return [merged[name] for name in sorted(merged)]


def common_depth(runs: list[dict]) -> dict[str, str]:
    """{"depth": NAME} when every merged run says it ran at that depth, else {}."""
    depths = {run["run"].get("depth") for run in runs}
    return {"depth": depths.pop()} if len(depths) == 1 and None not in depths else {}


def run_identity(run: dict) -> str:
    """What tells one run from every other: its run section (start, arguments, duration,
    shard) and environment, as canonical JSON."""
    return json.dumps([run["run"], run["environment"]], sort_keys=True)


def check_distinct_runs(runs: list[dict]) -> None:
    """ValueError naming the two sources when one run is given twice (the same file twice,
    a file and its compressed copy, or a run inside a merged document given again)."""
    seen: dict[str, str] = {}
    for run in runs:
        identity = run_identity(run)
        if identity in seen:
            raise ValueError(f"json: expected each run once, got the run of {seen[identity]} again in {run['source']}")
        seen[identity] = run["source"]


def merge_documents(inputs: list[tuple[Path, dict]]) -> dict:
    """One parity document holding every run and record of ``inputs`` ((source, document)
    pairs, each already checked; ValueError when a run is given twice). The top-level run starts with the earliest, lasts the sum
    of their durations and ends with the worst exit status; the top-level environment is
    the first run's (each run's is under ``runs``)."""
    if not inputs:
        raise ValueError("merge: expected at least one parity document, got none")
    taken: set[str] = set()
    runs: list[dict] = []
    records: list[dict] = []
    for source, document in inputs:
        more_runs, more_records = runs_of(source, document, taken)
        runs += more_runs
        records += more_records
    check_distinct_runs(runs)
    split = split_backends(records)
    for record in records:
        if record["backend"] in split:
            record["shown_as"] = f"{record['backend']} [{record['run']}]"
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "started": min(run["run"]["started"] for run in runs),
            "duration_s": sum(run["run"]["duration_s"] for run in runs),
            "arguments": ["lstm-parity", "merge", *(str(source) for source, _ in inputs)],
            "exit_status": max(run["run"]["exit_status"] for run in runs),
            **common_depth(runs),
        },
        "environment": runs[0]["environment"],
        "runs": runs,
        "deviations": merged_deviations([document for _, document in inputs]),
        "records": sorted(records, key=lambda record: (record["test"], record["run"])),
    }
