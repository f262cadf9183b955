"""lstm-parity: params explains counts; report rebuilds pages; run runs the suite and writes all three files."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.commands.cli import main
from conformance.report.html_page import render_html
from conformance.report.markdown_page import render_markdown
from conformance.report.schema import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]
SEED_000 = ["params", "--input-size", "6", "--hidden-size", "8", "--num-layers", "2"]


def small_document(version: int = SCHEMA_VERSION) -> dict:
    """A document with one passing forward record."""
    return {
        "schema_version": version,
        "run": {"started": "2026-01-01T00:00:00+00:00", "duration_s": 2.0, "arguments": ["conformance/"], "exit_status": 0},
        "environment": {
            "python": "3.11.7", "platform": "Linux", "packages": {"numpy": "2.0"}, "cpu": "cpu", "cpu_count": 1, "gpus": []
        },
        "deviations": [],
        "records": [
            {
                "test": "conformance/test_forward_parity.py::test_forward_matches_oracle[numpy-case]",
                "kind": "forward",
                "outcome": "pass",
                "reason": "",
                "duration_s": 0.1,
                "backend": "numpy",
                "dtype": "float64",
                "steps": 3,
                "comparisons": [
                    {
                        "quantity": "outputs", "max_abs_error": 1e-16, "max_rel_error": 2e-16, "tolerance": 1e-14,
                        "passed": True, "detail": "",
                    }
                ],
            }
        ],
    }


def lstm_parity(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "conformance.commands.cli", *arguments], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_params_explains_the_seed_000_count(capsys):
    assert main(SEED_000) == 0
    printed = capsys.readouterr().out
    two_biases = printed.split("layout two_biases")[1].split("layout single_bias")[0]
    assert "total = 1088" in two_biases
    assert "layer 0 forward  w_ih             [32 x 6] = 192" in two_biases
    assert "why: total = layer 0 + layer 1 = 512 + 576 = 1088" in two_biases
    assert "layer 0 = w_ih 192 [32 x 6] + w_hh 256 [32 x 8] + b_ih 32 + b_hh 32 = 512" in two_biases
    assert "layer 1 = w_ih 256 [32 x 8] + w_hh 256 [32 x 8] + b_ih 32 + b_hh 32 = 576" in two_biases
    assert "total = 1024" in printed.split("layout single_bias")[1]


def test_params_counts_both_directions_and_skips_layouts_that_cannot_express_the_spec(capsys):
    assert main(["params", "--input-size", "3", "--hidden-size", "4", "--bidirectional", "--peepholes"]) == 0
    printed = capsys.readouterr().out
    assert "layout two_biases: cannot express this spec (spec.peepholes:" in printed
    assert "layer 0 = 2 directions x (input_projection 48 [3 x 16] + weight 64 [4 x 16] + bias 28 [1 x 28] = 140) = 280" in printed


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--peepholes", "--layout", "two_biases"], "two_biases layout (torch/paddle nn.LSTM) has no peephole weights"),
        (["--proj-size", "8"], "proj_size: expected 0 (no projection) or 0 < proj_size < hidden_size=8"),
    ],
)
def test_params_refuses_what_it_cannot_count(capsys, arguments, message):
    assert main([*SEED_000, *arguments]) == 2
    assert message in capsys.readouterr().err


def test_report_rebuilds_the_pages_from_a_json(tmp_path, capsys):
    document = small_document()
    source = tmp_path / "run" / "parity.json"
    source.parent.mkdir()
    source.write_text(json.dumps(document))
    assert main(["report", str(source), "--out", str(tmp_path / "pages")]) == 0
    # The pages link to the records they were built from, wherever those are.
    assert (tmp_path / "pages" / "parity.md").read_text(encoding="utf-8") == render_markdown(document, "../run/parity.json")
    assert (tmp_path / "pages" / "parity.html").read_text(encoding="utf-8") == render_html(document, "../run/parity.json")
    assert "[`../run/parity.json`](../run/parity.json)" in (tmp_path / "pages" / "parity.md").read_text(encoding="utf-8")
    assert main(["report", str(source)]) == 0
    assert '<a href="parity.json">' in (source.parent / "parity.html").read_text(encoding="utf-8")
    assert sorted(path.name for path in source.parent.iterdir()) == ["parity.html", "parity.json", "parity.md"]
    assert "wrote" in capsys.readouterr().out


def test_report_refuses_another_schema_version(tmp_path, capsys):
    source = tmp_path / "parity.json"
    source.write_text(json.dumps(small_document(version=SCHEMA_VERSION + 1)))
    assert main(["report", str(source), "--out", str(tmp_path / "pages")]) == 2
    error = capsys.readouterr().err
    assert f"schema_version {SCHEMA_VERSION + 1}" in error and f"reads schema_version {SCHEMA_VERSION} only" in error
    assert not (tmp_path / "pages").exists()


OLD_DEVIATION = {"name": "d", "backend": "b", "check": "forward", "summary": "", "quantities": [], "reproducer": "", "reproducer_test": ""}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ("[1, 2]", "no schema_version"),
        (json.dumps({**small_document(), "deviations": [OLD_DEVIATION]}), "deviations[0] lacks checks"),
    ],
)
def test_report_explains_a_file_it_cannot_use(tmp_path, capsys, content, message):
    source = tmp_path / "parity.json"
    if content is not None:
        source.write_text(content)
    assert main(["report", str(source)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.full_depth
def test_run_writes_the_three_files_from_any_directory(tmp_path):
    out = tmp_path / "reports"
    process = lstm_parity(
        "run", "--adapter", "adapters.example:ExampleAdapter", "--out", str(out), "-n", "0", "--", "-k", "test_forward", cwd=tmp_path
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    assert sorted(path.name for path in out.iterdir()) == ["parity.html", "parity.json.gz", "parity.md"]
    document = json.loads(gzip.decompress((out / "parity.json.gz").read_bytes()))
    assert {record["backend"] for record in document["records"]} == {"example-keras-style"}
    # The command names the records where the run left them, not a scratch file.
    assert document["run"]["arguments"][document["run"]["arguments"].index("--parity-json") + 1] == "reports/parity.json.gz"
    assert all(record["test"].startswith("conformance/test_forward_parity.py::") for record in document["records"])
    assert "| `example-keras-style` |" in (out / "parity.md").read_text(encoding="utf-8")
    assert "passed" in process.stdout


@pytest.mark.full_depth
def test_run_exits_with_pytests_status_when_cases_fail(tmp_path):
    process = lstm_parity(
        "run", "--adapter", "tests.support.wrong_adapter:WrongGateOrderAdapter", "--out", str(tmp_path), "-n", "0",
        "--", "-k", "test_forward", "-q",
        cwd=ROOT,
    )
    assert process.returncode == 1, process.stdout[-3000:] + process.stderr[-3000:]
    assert "tests failed" in (tmp_path / "parity.md").read_text(encoding="utf-8")
