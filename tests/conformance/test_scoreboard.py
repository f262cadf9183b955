"""The scoreboard on real records: the installed plug-in example at three releases, one with
its deviation, one that fixed it, one that cannot be imported (see lstm_plugin_example)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.commands.cli import main
from conformance.report.files import load_document
from conformance.report.scoreboard import FIXED, NOT_RUNNABLE, REPRODUCES, outside_releases, version_key

from .test_suite_runs import ROOT

DEVIATION = "plugin-example-cell-state-squashed"
RELEASES = ("0.1", "0.2", "0.0")


def run_release(directory: Path, release: str) -> Path:
    """The forward tests on the plug-in at ``release``; the path of its parity.json."""
    out = directory / f"release-{release}"
    out.mkdir()
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "plugin_example"), str(ROOT)]),
        "LSTM_PLUGIN_EXAMPLE_RELEASE": release,
    }
    subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance.test_forward_parity", "-q", "-p", "no:cacheprovider",
         "--backend", "plugin-example", "--parity-json", str(out / "parity.json")],
        cwd=directory, env=environment, capture_output=True, text=True, timeout=600, check=False,
    )
    return out / "parity.json"


@pytest.fixture(scope="module")
def scoreboard(tmp_path_factory) -> tuple[Path, list[Path]]:
    directory = tmp_path_factory.mktemp("scoreboard")
    sources = [run_release(directory, release) for release in RELEASES]
    out = directory / "board"
    assert main(["scoreboard", *map(str, sources), "-o", str(out), "--versions-seen", str(out / "versions_seen.json")]) == 0
    return out, sources


@pytest.mark.full_depth
def test_each_release_gets_its_measured_verdict(scoreboard):
    out, _ = scoreboard
    data = json.loads((out / "scoreboard.json").read_text())
    [entry] = [entry for entry in data["deviations"] if entry["name"] == DEVIATION]
    versions = {found["version"]: found for found in entry["versions"]}
    assert list(versions) == ["release-0.0 (not imported)", "0.1", "0.2"]
    assert versions["0.1"]["verdict"] == REPRODUCES and versions["0.1"]["reproduced"] == versions["0.1"]["armed"] > 10
    # Fixed in 0.2: every test that arms it passes (pytest reports each as a strict xpass).
    assert versions["0.2"]["verdict"] == FIXED and versions["0.2"]["reproduced"] == 0 and versions["0.2"]["armed"] > 10
    unimportable = versions["release-0.0 (not imported)"]
    assert unimportable["verdict"] == NOT_RUNNABLE and "lstm_plugin_example has no release '0.0'" in unimportable["reason"]
    assert entry["versions_seen"] == ["0.1"]
    assert json.loads((out / "versions_seen.json").read_text()) == {DEVIATION: ["0.1"]}


@pytest.mark.full_depth
def test_the_pages_show_the_verdicts_and_each_versions_outcomes(scoreboard):
    out, _ = scoreboard
    page = (out / "scoreboard.md").read_text()
    row = next(line for line in page.splitlines() if line.startswith(f"| `{DEVIATION}`"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2].startswith(REPRODUCES) and cells[3].startswith(FIXED) and cells[1].startswith(NOT_RUNNABLE)
    assert cells[4:] == ["0.1", "0.1"]
    outcomes = page.split("## Outcomes by version", 1)[1]
    # 0.2's strict xpasses are a fixed deviation, not failures nobody explains.
    fixed_row = next(line for line in outcomes.splitlines() if line.startswith("| `plugin-example` | 0.2 | release-0.2 |"))
    assert fixed_row.split("|")[5].strip() == "0"
    html = (out / "scoreboard.html").read_text()
    assert f"<code>{DEVIATION}</code>" in html and 'class="deviation"' in html and 'class="pass"' in html


@pytest.mark.full_depth
def test_a_fixed_deviation_fails_its_run_but_the_merge_shows_both_releases_side_by_side(scoreboard, tmp_path):
    _, sources = scoreboard
    records = json.loads(sources[1].read_text())["records"]
    assert {record["outcome"] for record in records if DEVIATION in record.get("deviations", ())} == {"fail"}
    assert main(["merge", *map(str, sources[:2]), "-o", str(tmp_path)]) == 0
    merged = load_document(tmp_path / "parity.json.gz")
    assert {record["shown_as"] for record in merged["records"]} == {"plugin-example [release-0.1]", "plugin-example [release-0.2]"}
    page = (tmp_path / "parity.md").read_text()
    assert "| backend version | 0.1 | 0.2 |" not in page  # versions are per backend, named after it
    assert "| plugin-example version | 0.1 | 0.2 |" in page


def test_versions_sort_by_their_numbers():
    assert sorted(["3.10.0", "2.6.2", "3.9.1", "3.3.1"], key=version_key) == ["2.6.2", "3.3.1", "3.9.1", "3.10.0"]


@pytest.mark.full_depth
def test_versions_a_matrix_could_not_install_are_listed_with_the_installers_reason(scoreboard, tmp_path, capsys):
    _, sources = scoreboard
    matrix = tmp_path / "matrix.json"
    reason = "installing it from the package index pulls GPU packages (nvidia-cublas); no CPU-only build of this version here"
    matrix.write_text(json.dumps([
        {"package": "lstm-plugin-example", "version": "0.3", "status": "skipped", "reason": reason, "parity_json": "", "exit_status": None},
        {"package": "lstm-plugin-example", "version": "0.1", "status": "ran", "reason": "", "parity_json": "x/parity.json", "exit_status": 0},
    ]))
    assert main(["scoreboard", str(sources[0]), "-o", str(tmp_path / "board"), "--matrix", str(matrix)]) == 0
    page = (tmp_path / "board" / "scoreboard.md").read_text()
    assert f"| `lstm-plugin-example` | 0.3 | {reason} |" in page
    assert "| 0.1 |" not in page.split("## Versions not run", 1)[1]
    assert json.loads((tmp_path / "board" / "scoreboard.json").read_text())["not_run"][0]["version"] == "0.3"
    matrix.write_text('{"not": "a list"}')
    assert main(["scoreboard", str(sources[0]), "-o", str(tmp_path / "board"), "--matrix", str(matrix)]) == 2
    assert "--matrix: expected a matrix.json that lstm-parity matrix wrote" in capsys.readouterr().err


@pytest.mark.full_depth
def test_outside_the_releases_it_exists_in_a_deviation_is_judged_by_that_versions_failures(scoreboard):
    _, sources = scoreboard
    fixed = json.loads(sources[0].read_text())["records"]  # release 0.1: every test passed or was a known deviation
    deviation = {"name": "ranged", "releases": "0.2 to 0.3", "releases_range": ["0.2", "0.3"]}
    found = outside_releases(deviation, "0.1", fixed)
    assert found.verdict == FIXED and "not armed outside releases 0.2 to 0.3" in found.describe()
    assert outside_releases(deviation, "0.2", fixed) is None
    failing = [*fixed, {**fixed[0], "outcome": "fail", "reason": "AssertionError: values differ"}]
    assert outside_releases(deviation, "0.1", failing).verdict == NOT_RUNNABLE
    assert outside_releases({"name": "everywhere"}, "0.1", fixed) is None
