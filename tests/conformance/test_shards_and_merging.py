"""Shards of one run and merged reports, on real records: runs of the suite on the example
backend, split with ``--shard`` and put back together with ``lstm-parity merge``."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conformance.commands.cli import main
from conformance.report.files import load_document
from conformance.report.schema import parity_schema
from conformance.cases.sharding import parse_shard, shard_of

from .test_suite_runs import ROOT, run_suite

EXAMPLE = ("--adapter", "adapters.example:ExampleAdapter")
SHARDS = 3


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[Path, dict[str, dict]]]:
    """The forward and invariant tests on the example backend: whole, and in three shards."""
    directory = tmp_path_factory.mktemp("shards")
    tests = ("conformance/test_forward_parity.py", "conformance/test_invariants.py")
    found = {}
    for name, shard in [("whole", ()), *((f"part{index}", ("--shard", f"{index}/{SHARDS}")) for index in range(1, SHARDS + 1))]:
        run_directory = directory / name
        run_directory.mkdir()
        process, records = run_suite(run_directory, "parity", *EXAMPLE, *shard, tests=tests)
        assert process.returncode == 0, process.stdout[-2000:]
        found[name] = (run_directory / "parity.json", records)
    return found


@pytest.mark.full_depth
def test_shards_split_the_run_into_disjoint_parts_that_keep_each_case_together(runs):
    whole = set(runs["whole"][1])
    parts = [set(runs[f"part{index}"][1]) for index in range(1, SHARDS + 1)]
    assert all(parts), "a shard ran nothing"
    assert sum(len(part) for part in parts) == len(whole)
    assert set().union(*parts) == whole
    # The checks of one (backend, case) land in one shard (a backend that compiles per
    # shape compiles once): every case id is in exactly one part.
    case_parts = [{record["case_id"] for record in runs[f"part{index}"][1].values() if "case_id" in record} for index in range(1, SHARDS + 1)]
    assert sum(len(cases) for cases in case_parts) == len(set().union(*case_parts))
    for index in range(1, SHARDS + 1):
        assert json.loads(runs[f"part{index}"][0].read_text())["run"]["shard"] == f"{index}/{SHARDS}"


@pytest.mark.full_depth
def test_merged_shards_equal_the_whole_run(runs, tmp_path, capsys):
    out = tmp_path / "merged"
    # A gzip-compressed record reads as the JSON it holds (the committed matrix records are).
    compressed = tmp_path / "part1" / "parity.json.gz"
    compressed.parent.mkdir()
    compressed.write_bytes(gzip.compress(runs["part1"][0].read_bytes()))
    sources = [str(compressed), *(str(runs[f"part{index}"][0]) for index in range(2, SHARDS + 1))]
    assert main(["merge", *sources, "-o", str(out)]) == 0
    merged = load_document(out / "parity.json.gz")
    jsonschema.Draft202012Validator(parity_schema()).validate(merged)
    whole = runs["whole"][1]
    assert {record["test"]: record["outcome"] for record in merged["records"]} == {test: record["outcome"] for test, record in whole.items()}
    assert {record["test"]: record.get("comparisons") for record in merged["records"]} == {test: record.get("comparisons") for test, record in whole.items()}
    # Shards of one run share the backend's column; the environment shows each shard.
    assert not any("shown_as" in record for record in merged["records"])
    assert [run["run"]["shard"] for run in merged["runs"]] == [f"{index}/{SHARDS}" for index in range(1, SHARDS + 1)]
    page = (out / "parity.md").read_text()
    assert "Runs side by side" not in page
    assert "| shard | 1/3 | 2/3 | 3/3 |" in page


@pytest.mark.full_depth
def test_the_same_case_on_two_runs_is_shown_side_by_side(runs, tmp_path):
    whole_path, whole = runs["whole"]
    part_path, part = runs["part1"]
    out = tmp_path / "merged"
    assert main(["merge", str(whole_path), str(part_path), "-o", str(out)]) == 0
    merged = load_document(out / "parity.json.gz")
    labels = [run["label"] for run in merged["runs"]]
    assert labels == ["whole", "part1 shard 1/3"]
    # Nothing overwritten: the shard's tests are there twice, once per run, each in its column.
    assert len(merged["records"]) == len(whole) + len(part)
    backend = next(iter(whole.values()))["backend"]
    columns = {record["shown_as"] for record in merged["records"]}
    assert columns == {f"{backend} [{label}]" for label in labels}
    page = (out / "parity.md").read_text()
    side_by_side = page.split("## Runs side by side", 1)[1].split("\n## ", 1)[0]
    assert f"{len(part)} tests ran in more than one run; the outcome differs in 0" in side_by_side
    assert "| test | whole | part1 shard 1/3 |" in side_by_side
    for test in part:
        assert test in side_by_side


@pytest.mark.full_depth
def test_merge_refuses_a_file_that_is_not_a_parity_document_and_overwriting_an_input(runs, tmp_path, capsys):
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"records": []}')
    assert main(["merge", str(runs["whole"][0]), str(wrong), "-o", str(tmp_path / "out")]) == 2
    assert f"{wrong}: not a parity document (no schema_version)" in capsys.readouterr().err
    # A merge writes parity.json.gz: into the folder of an input of that name, it would overwrite it.
    source = tmp_path / "earlier" / "parity.json.gz"
    source.parent.mkdir()
    source.write_bytes(gzip.compress(runs["whole"][0].read_bytes(), mtime=0))
    assert main(["merge", str(source), "-o", str(source.parent)]) == 2
    assert "--out: expected a path that is not one of the inputs" in capsys.readouterr().err
    assert gzip.decompress(source.read_bytes()) == runs["whole"][0].read_bytes()


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "a/b", "1/0", "-1/2"])
def test_a_bad_shard_is_a_usage_error_naming_what_was_given(text):
    with pytest.raises(ValueError, match=f"--shard: expected .* got {text!r}"):
        parse_shard(text)


def test_pytest_refuses_a_bad_shard_before_collecting():
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "conformance/test_forward_parity.py", "--shard", "4/3", *EXAMPLE, "-p", "no:cacheprovider", "--collect-only", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert process.returncode == 4
    assert "--shard: expected K/N with 1 <= K <= N, got '4/3'" in process.stderr


def test_every_group_lands_in_one_shard_of_each_count():
    groups = [f"backend-{index}" for index in range(300)]
    for count in (1, 2, 5):
        shards = [shard_of(group, count) for group in groups]
        assert set(shards) == set(range(1, count + 1))
        # Roughly balanced: no shard holds more than twice its share of 300 groups.
        assert max(shards.count(index) for index in range(1, count + 1)) < 2 * len(groups) / count


def test_lstm_parity_run_passes_the_shard_to_pytest(tmp_path):
    from conformance.commands.cli import build_parser, pytest_command

    arguments = build_parser().parse_args(["run", "--backend", "torch", "--shard", "2/4", "--out", str(tmp_path)])
    command = pytest_command(arguments, tmp_path / "parity.json")
    assert command[command.index("--shard") + 1] == "2/4"
