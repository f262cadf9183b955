"""The version matrix as a CI engine's job matrix: ``lstm-parity matrix --plan`` and the
GitHub Actions workflow that runs its jobs (``.github/workflows/matrix.yml``), checked by
actionlint and, for one job, run here step by step."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.commands.cli import main
from conformance.commands.matrix import Framework, plan

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "matrix.yml"
# A framework that installs in seconds, tested by the example backend.
SMALL_MATRIX = '[[framework]]\npackage = "tomli"\nversions = ["2.2.1"]\nbackends = ["adapters.example:ExampleAdapter"]\n'


def test_a_plan_is_one_job_per_version_and_shard():
    frameworks = [Framework("paddlepaddle", ("2.6.2", "3.3.1"), ("paddle",)), Framework("torch", ("2.13.0+cpu",), ("torch",))]
    jobs = plan(frameworks, ("paddlepaddle",), shards=2)["include"]
    assert [(job["version"], job["shard"]) for job in jobs] == [("2.6.2", "1/2"), ("2.6.2", "2/2"), ("3.3.1", "1/2"), ("3.3.1", "2/2")]
    assert jobs[0] == {"package": "paddlepaddle", "version": "2.6.2", "shard": "1/2", "name": "paddlepaddle-2.6.2-shard-1-of-2"}
    assert [job["name"] for job in plan(frameworks)["include"]] == ["paddlepaddle-2.6.2-shard-1-of-1", "paddlepaddle-3.3.1-shard-1-of-1", "torch-2.13.0+cpu-shard-1-of-1"]


def test_the_command_prints_the_plan_as_json_and_runs_nothing(tmp_path, capsys):
    assert main(["matrix", str(ROOT / ".ci" / "matrix.toml"), "--plan", "3", "--only", "openvino==2026.4.1", "--out", str(tmp_path / "out")]) == 0
    jobs = json.loads(capsys.readouterr().out)["include"]
    assert [job["shard"] for job in jobs] == ["1/3", "2/3", "3/3"] and {job["package"] for job in jobs} == {"openvino"}
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--plan", "0"], "--plan: expected a positive whole number of shards, got 0"),
        (["--plan", "--shard", "1/2"], "--shard: expected none with --plan (it prints every shard's job), got '1/2'"),
        (["--shard", "3/2"], "--shard: expected K/N with 1 <= K <= N, got '3/2'"),
    ],
)
def test_a_bad_plan_or_shard_is_one_usage_error_before_anything_is_built(tmp_path, capsys, arguments, message):
    assert main(["matrix", str(ROOT / ".ci" / "matrix.toml"), "--out", str(tmp_path / "out"), *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def lint(workflow: Path) -> subprocess.CompletedProcess:
    actionlint = Path(sys.executable).parent / "actionlint"
    if not actionlint.exists():
        pytest.skip("actionlint is not installed (the test extra installs it)")
    return subprocess.run([str(actionlint), "-no-color", str(workflow)], capture_output=True, text=True, cwd=workflow.parents[2], check=False)


def test_the_workflow_lints_clean(tmp_path):
    linted = lint(WORKFLOW)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    # The linter sees a job output that does not exist.
    broken = tmp_path / ".github" / "workflows" / "matrix.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text(encoding="utf-8").replace("needs.plan.outputs.jobs", "needs.plan.outputs.job_list"))
    linted = lint(broken)
    assert linted.returncode == 1 and "job_list" in linted.stdout, linted.stdout + linted.stderr


def steps(job: str) -> dict[str, str]:
    """The ``run`` scripts of one job of the workflow, by step name."""
    import yaml

    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return {step["name"]: step["run"] for step in workflow["jobs"][job]["steps"] if "run" in step}


def run_step(script: str, folder: Path, environment: dict[str, str]) -> None:
    """Run a step's script as the runner does (bash, -e, in the checkout's place)."""
    completed = subprocess.run(["bash", "-e", "-c", script], cwd=folder, env={**os.environ, **environment}, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]


@pytest.mark.full_depth
def test_one_job_of_the_workflow_runs_here_step_by_step(tmp_path):
    """The plan job's step, then one matrix job's run step on its first job, then the
    scoreboard job's merge over the artifact that job uploads, with a matrix of one small
    package tested by the example backend in place of the committed one."""
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "matrix.toml").write_text(SMALL_MATRIX)
    (tmp_path / "reports").mkdir()
    shutil.copy(ROOT / "reports" / "parity.json.gz", tmp_path / "reports" / "parity.json.gz")
    executables = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    outputs = tmp_path / "github-output"
    run_step(steps("plan")["Plan the jobs"], tmp_path, {**executables, "SHARDS": "2", "GITHUB_OUTPUT": str(outputs)})
    key, _, value = outputs.read_text().strip().partition("=")
    jobs = json.loads(value)["include"]
    assert key == "jobs" and [job["shard"] for job in jobs] == ["1/2", "2/2"]
    job = jobs[0]
    run_step(steps("run")["Run one version's shard"], tmp_path, {**executables, "PACKAGE": job["package"], "VERSION": job["version"], "SHARD": job["shard"]})
    (entry,) = json.loads((tmp_path / "matrix-out" / "matrix.json").read_text())
    assert (entry["package"], entry["version"], entry["shard"], entry["status"]) == ("tomli", "2.2.1", "1/2", "ran")
    records = tmp_path / "matrix-out" / job["name"] / "parity.json.gz"
    assert entry["parity_json"] == f"{job['name']}/parity.json.gz" and records.exists()
    # What actions/download-artifact leaves of the job's artifact: its files under the artifact's name.
    artifact = tmp_path / "collected" / f"records-{job['name']}"
    shutil.copytree(tmp_path / "matrix-out", artifact, ignore=shutil.ignore_patterns("environments"))
    run_step(steps("scoreboard")["Merge the records into the scoreboard"], tmp_path, executables)
    assert (tmp_path / "scoreboard" / "scoreboard.md").exists()
