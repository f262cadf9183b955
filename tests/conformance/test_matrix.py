"""The version matrix's own parts: its file, the GPU-package refusal, an install that fails.
(The matrix itself downloads a build of every version: it is run by hand, not here.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conformance.commands.cli import main
from conformance.commands.matrix import Framework, gpu_packages, prepare_environment, read_matrix, selected

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_matrix_names_registered_backends_and_several_versions():
    from adapters.registry import load_adapter

    frameworks = {framework.package: framework for framework in read_matrix(ROOT / ".ci" / "matrix.toml")}
    assert len(frameworks["paddlepaddle"].versions) >= 4
    assert all(len(framework.versions) >= 3 for framework in frameworks.values())
    for framework in frameworks.values():
        for backend in framework.backends:
            load_adapter(backend)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected \\[\\[framework\\]\\] tables, got nothing"),
        ('[[framework]]\npackage = "x"\nversions = "1.0"\nbackends = ["torch"]', "framework 1: versions: expected a list of non-empty strings, got '1.0'"),
        ('[[framework]]\npackage = "x"\nversions = ["1"]\nbackends = ["torch"]\nflavour = 1', "framework 1: unknown keys \\['flavour'\\]"),
        ('[[framework]]\nversions = ["1"]\nbackends = ["torch"]', "framework 1: package: expected a distribution name \\(.*\\), got None"),
        ("[[framework]\n", "cannot read it"),
        # Names that become paths or installer arguments.
        ('[[framework]]\npackage = "x"\nversions = ["1/../../../victim"]\nbackends = ["torch"]', "framework 1: versions: expected a release .*, got '1/../../../victim'"),
        ('[[framework]]\npackage = "../x"\nversions = ["1"]\nbackends = ["torch"]', "framework 1: package: expected a distribution name .*, got '../x'"),
        ('[[framework]]\npackage = "x"\nversions = [".."]\nbackends = ["torch"]', "framework 1: versions: expected a release .*, got '..'"),
        ('[[framework]]\npackage = "x"\nversions = ["1"]\nbackends = ["tourch"]', "framework 1: backends: expected one of .*torch.* got 'tourch'"),
        ('[[framework]]\npackage = "x"\nversions = ["1"]\nbackends = ["torch"]\nwith = ["--target=/tmp/x"]', "framework 1: with: expected requirements .*installer would read as an option"),
        ('[[framework]]\npackage = "x"\nversions = ["1"]\nbackends = ["torch"]\nwithout_dependencies = ["-e."]', "framework 1: without_dependencies: expected requirements .*installer would read as an option"),
        ('[[framework]]\npackage = "x"\nversions = ["1"]\nbackends = ["torch"]\n[framework.requires]\n"2" = ["numpy<2"]', "framework 1: requires: expected versions of the framework's list \\['1'\\], got \\['2'\\]"),
    ],
)
def test_a_bad_matrix_file_names_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "matrix.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_matrix(path)


def test_the_command_refuses_an_unknown_selection(tmp_path, capsys):
    assert main(["matrix", str(ROOT / ".ci" / "matrix.toml"), "--out", str(tmp_path), "--only", "paddlepaddle==9.9"]) == 2
    assert "--only: expected a package or package==version of the matrix file, got ['paddlepaddle==9.9']" in capsys.readouterr().err


def test_only_selects_packages_or_single_versions():
    framework = Framework("paddlepaddle", ("2.6.2", "3.3.1"), ("paddle",), ("numpy<2",), {"2.6.2": ("protobuf<5",)})
    assert framework.requirements_of("2.6.2") == ["paddlepaddle==2.6.2", "numpy<2", "protobuf<5"]
    assert framework.requirements_of("3.3.1") == ["paddlepaddle==3.3.1", "numpy<2"]
    assert [version for version in framework.versions if selected(framework, version, ("paddlepaddle==3.3.1",))] == ["3.3.1"]
    assert [version for version in framework.versions if selected(framework, version, ("paddlepaddle",))] == ["2.6.2", "3.3.1"]
    assert [version for version in framework.versions if selected(framework, version, ("torch",))] == []


def test_a_plan_with_cuda_packages_is_refused():
    def plan(*names: str) -> dict:
        return {"install": [{"metadata": {"name": name}} for name in names]}

    assert gpu_packages(plan("torch", "nvidia-cublas-cu12", "triton", "numpy")) == ["nvidia-cublas-cu12", "triton"]
    assert gpu_packages(plan("torch", "numpy")) == []


def test_requirements_without_dependencies_are_installed_alone_with_no_deps(tmp_path, monkeypatch):
    """After the requirements and before the project again: pip's --no-deps, those names only."""
    commands = []

    def installer(command, **_):
        commands.append(command[3:])
        return subprocess.CompletedProcess(command, 0, stdout='{"install": []}', stderr="")

    environment = tmp_path / "environment"
    (environment / "bin").mkdir(parents=True)
    (environment / "bin" / "python").touch()
    monkeypatch.setattr(subprocess, "run", installer)
    assert prepare_environment(environment, "PROJECT", ["PROJECT[test]", "ai-edge-litert==2.3.0"], ("tf_keras==2.21.0",)) == ""
    assert commands == [
        ["install", "--dry-run", "--quiet", "--report", "-", "PROJECT[test]", "ai-edge-litert==2.3.0"],
        ["install", "--quiet", "PROJECT[test]", "ai-edge-litert==2.3.0"],
        ["install", "--quiet", "--no-deps", "tf_keras==2.21.0"],
        ["install", "--quiet", "--no-deps", "--force-reinstall", "PROJECT"],
    ]


def test_the_matrix_file_installs_tf_keras_without_its_dependencies():
    (litert,) = [framework for framework in read_matrix(ROOT / ".ci" / "matrix.toml") if framework.package == "ai-edge-litert"]
    assert litert.without_dependencies == ("tf_keras==2.21.0",) and "tensorflow-cpu==2.21.0" in litert.requirements


@pytest.mark.full_depth
def test_a_version_that_cannot_be_installed_is_skipped_with_the_installers_reason(tmp_path):
    reason = prepare_environment(tmp_path / "environment", str(ROOT), ["packaging==0.0.0.dev424242"])
    assert "packaging==0.0.0.dev424242" in reason and "No matching distribution" in reason


def test_a_folder_the_matrix_did_not_create_is_never_cleared(tmp_path, capsys):
    """An environment's place holding a folder of someone else's: the command refuses before
    building anything, and the folder keeps its file."""
    matrix = tmp_path / "matrix.toml"
    matrix.write_text('[[framework]]\npackage = "x"\nversions = ["1"]\nbackends = ["torch"]')
    victim = tmp_path / "out" / "environments" / "x-1"
    victim.mkdir(parents=True)
    (victim / "keep.txt").write_text("mine")
    assert main(["matrix", str(matrix), "--out", str(tmp_path / "out")]) == 2
    assert "a folder it did not create" in capsys.readouterr().err
    assert (victim / "keep.txt").read_text() == "mine"
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["environments"]
