"""The README's commands: its option examples from an installed wheel, outside the checkout,
and the quickstart's environment handling."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import quickstart

ROOT = Path(__file__).resolve().parents[1]


def readme_block_after(heading: str) -> list[str]:
    """The commands of the first bash block after ``heading``, comments and continuation
    comment lines dropped."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text[text.index(heading) :], re.S).group(1)
    commands = [line.split("  #")[0].strip() for line in block.splitlines()]
    return [command for command in commands if command and not command.startswith("#")]


OPTION_EXAMPLES = readme_block_after("### Options")
COUNT_EXAMPLES = [command for command in readme_block_after("## Reports") if command.startswith("lstm-parity params")]


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> dict[str, str]:
    """The project built as a wheel and installed into a folder of its own; the environment
    that imports it from there (the checkout is neither the working directory nor on the path)."""
    folder = tmp_path_factory.mktemp("wheel")
    # Built from a copy: a build in the checkout writes build/ there, which parallel workers share.
    source = folder / "source"
    for name in ("reference", "adapters", "conformance"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(folder / "dist"), str(source)]
    subprocess.run(build, check=True, capture_output=True, timeout=300)
    (wheel,) = (folder / "dist").glob("lstm_conformance-*.whl")
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(folder / "site"), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    environment = {**os.environ, "PYTHONPATH": str(folder / "site")}
    imported = subprocess.run(
        [sys.executable, "-c", "import adapters, conformance, reference; print(conformance.__file__, adapters.__file__, reference.__file__)"],
        cwd=folder, env=environment, capture_output=True, text=True, check=True,
    )
    assert all(Path(path).is_relative_to(folder / "site") for path in imported.stdout.split()), imported.stdout
    return {"cwd": str(folder), "env": environment}


def test_the_readme_has_option_examples():
    assert len(OPTION_EXAMPLES) >= 6 and all(command.startswith("pytest --pyargs conformance") for command in OPTION_EXAMPLES)
    assert COUNT_EXAMPLES


def test_each_case_example_is_a_case_its_backend_runs():
    """A ``--case`` example names a case its ``--backend`` supports (forward and gradients),
    so that it runs rather than skips."""
    from adapters.registry import load_adapter
    from conformance.cases.table import Case

    examples = [shlex.split(command) for command in OPTION_EXAMPLES if " --case " in command]
    assert examples
    for words in examples:
        adapter = load_adapter(words[words.index("--backend") + 1])
        case = Case.from_id(words[words.index("--case") + 1])
        assert not adapter.unsupported(case.config(False)), f"{adapter.name} cannot run {case.id}: {adapter.unsupported(case.config(False))}"


@pytest.mark.full_depth
@pytest.mark.parametrize("command", OPTION_EXAMPLES)
def test_each_option_example_works_from_an_installed_wheel(command, installed_wheel):
    """Collected from the wheel: the options parse, backends and adapters resolve, markers
    and case ids are valid, and the example selects tests."""
    process = subprocess.run(
        [sys.executable, "-m", *shlex.split(command), "--collect-only", "-q", "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=300, **installed_wheel,
    )
    assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-2000:]
    collected = [line for line in process.stdout.splitlines() if "::" in line]
    assert collected and all(line.startswith("site/conformance/") for line in collected), process.stdout[-2000:]


@pytest.mark.full_depth
@pytest.mark.parametrize("command", COUNT_EXAMPLES)
def test_the_count_example_works_from_an_installed_wheel(command, installed_wheel):
    program, *arguments = shlex.split(command)
    process = subprocess.run(
        [sys.executable, "-m", "conformance.commands.cli", *arguments], capture_output=True, text=True, timeout=120, **installed_wheel
    )
    assert process.returncode == 0 and "1088" in process.stdout, process.stdout + process.stderr


def test_quickstart_installs_when_the_environment_is_missing_or_stale(tmp_path):
    (tmp_path / ".ci").mkdir()
    for name in quickstart.INSTALL_INPUTS:
        (tmp_path / name).write_text(f"contents of {name}\n")
    environment = tmp_path / ".venv"
    assert quickstart.needs_install(environment, tmp_path)
    python = quickstart.executable(environment, "python")
    python.parent.mkdir(parents=True)
    python.write_text("")
    assert quickstart.needs_install(environment, tmp_path), "no stamp: the install never finished"
    (environment / quickstart.STAMP).write_text(quickstart.fingerprint(tmp_path))
    assert not quickstart.needs_install(environment, tmp_path)
    (tmp_path / ".ci" / "constraints.txt").write_text("torch==0.0\n")
    assert quickstart.needs_install(environment, tmp_path), "changed pins: reinstall"


def test_quickstart_names_a_wrong_command():
    process = subprocess.run([sys.executable, str(ROOT / "quickstart.py"), "tests"], capture_output=True, text=True, timeout=60)
    assert process.returncode == 2
    assert "quickstart.py: command: expected one of report, test, got 'tests'" in process.stderr


@pytest.mark.parametrize(
    "command, arguments, added",
    [
        ("test", [], ["--depth", "quick"]),
        ("test", ["--depth", "full"], []),
        ("test", ["-k", "torch", "--depth=full"], []),
        ("report", [], ["--depth", "full"]),
    ],
)
def test_quickstart_runs_each_command_at_its_depth_unless_told_another(command, arguments, added):
    assert quickstart.depth_arguments(command, arguments) == added


@pytest.mark.parametrize("name", sorted(quickstart.SEPARATE_ENVIRONMENTS))
def test_each_separate_environment_is_a_lock_installed_without_resolving(name, tmp_path, monkeypatch):
    """Its file pins every package it lists to one version (``name==version``), and the
    install hands pip exactly that file with ``--no-deps``: what the lock says is installed."""
    environment, requirements = quickstart.SEPARATE_ENVIRONMENTS[name]
    lines = [line.strip() for line in (ROOT / requirements).read_text().splitlines()]
    pins = [line for line in lines if line and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+", pin) for pin in pins), pins
    calls = []
    monkeypatch.setattr(quickstart.venv.EnvBuilder, "create", lambda builder, folder: None)
    monkeypatch.setattr(quickstart.subprocess, "run", lambda command, **options: calls.append(command))
    (tmp_path / ".ci").mkdir()
    (tmp_path / requirements).write_text("\n".join(pins) + "\n")
    (tmp_path / "env").mkdir()
    quickstart.install_separate(tmp_path / "env", tmp_path, requirements)
    assert calls[-1][3:] == ["install", "--quiet", "--no-deps", "-r", requirements]
    assert (tmp_path / "env" / quickstart.STAMP).read_text() == quickstart.fingerprint(tmp_path, (requirements,))
