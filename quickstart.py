"""The README's two commands, on a machine with nothing but Python 3.10 or newer.

    python3 quickstart.py report   # writes reports/parity.{json.gz,md,html}
    python3 quickstart.py test     # the project's tests and the conformance suite at --depth quick

Each creates the virtual environment ``.venv`` when it is missing, installs the project
with every backend at the versions CI pins (``.ci/constraints.txt``), and reinstalls when
``pyproject.toml`` or the constraints changed since. MindSpore cannot share that
environment (its wheel needs NumPy 1, JAX needs NumPy 2): it gets ``.venv-mindspore``,
built from ``.ci/mindspore-environment.txt``, and the command runs the mindspore backend
under that environment's Python (``--interpreter``); so does onnx2tf (TensorFlow 2.19 and
NumPy 1), in ``.venv-onnx2tf`` from ``.ci/onnx2tf-environment.txt``. Each such file is a
lock (every package at one version), installed without resolving. Further arguments go to the command
run (``lstm-parity run`` or ``pytest -n auto``); ``test`` runs at ``--depth quick`` (every
backend and check, smaller designs: minutes) unless they name a depth, and ``test
--depth full`` is what CI runs after it (see ``conformance/cases/depth.py``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ENVIRONMENT = ROOT / ".venv"
# Installed-from fingerprint: the environment is rebuilt when these files change.
INSTALL_INPUTS = ("pyproject.toml", ".ci/constraints.txt")
STAMP = "lstm-conformance-installed"
# Backends that run under an environment of their own: (environment, its pinned requirements).
SEPARATE_ENVIRONMENTS = {
    "mindspore": (ROOT / ".venv-mindspore", ".ci/mindspore-environment.txt"),
    "onnx2tf": (ROOT / ".venv-onnx2tf", ".ci/onnx2tf-environment.txt"),
}
# Backends that are Node.js programs (adapters/exec): each folder's packages are installed
# with npm from its committed lockfile, into its node_modules.
NODE_PROGRAMS = (ROOT / "adapters" / "exec" / "tfjs",)
# Packages installed without their dependencies, at the constraints' versions: tf_keras (the
# Keras 2 of the litert and tf2onnx backends) names the full tensorflow wheel, which would
# land beside tensorflow-cpu, the same modules twice over.
WITHOUT_DEPENDENCIES = ("tf_keras",)
COMMANDS = {"report": ("lstm-parity", "run"), "test": ("pytest", "-n", "auto")}
# The depth each command runs at unless its arguments name one (conformance/cases/depth.py).
DEFAULT_DEPTHS = {"report": "full", "test": "quick"}


def executable(environment: Path, name: str) -> Path:
    """A console script or the interpreter of a virtual environment, on any platform."""
    folder = environment / ("Scripts" if os.name == "nt" else "bin")
    return folder / (name + (".exe" if os.name == "nt" else ""))


def fingerprint(root: Path, inputs: tuple[str, ...] = INSTALL_INPUTS) -> str:
    """A digest of the files an installation is made from."""
    digest = hashlib.sha256()
    for name in inputs:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes())
    return digest.hexdigest()


def needs_install(environment: Path, root: Path, inputs: tuple[str, ...] = INSTALL_INPUTS) -> bool:
    """Whether ``environment`` is missing, incomplete, or installed from other inputs."""
    stamp = environment / STAMP
    return not (executable(environment, "python").exists() and stamp.exists() and stamp.read_text() == fingerprint(root, inputs))


def install(environment: Path, root: Path) -> None:
    """Create ``environment`` (if needed) and install the project with every extra, pinned."""
    print(f"quickstart: installing the project into {environment.name} (once; minutes)", flush=True)
    if not executable(environment, "python").exists():
        venv.EnvBuilder(with_pip=True).create(environment)
    python = str(executable(environment, "python"))
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "-c", ".ci/constraints.txt", "-e", ".[all]"], cwd=root, check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "-c", ".ci/constraints.txt", *WITHOUT_DEPENDENCIES], cwd=root, check=True)
    (environment / STAMP).write_text(fingerprint(root))


def install_separate(environment: Path, root: Path, requirements: str) -> None:
    """Create ``environment`` (if needed) and install exactly ``requirements``, a lock (every
    package at one version), into it: without resolving (pip's ``--no-deps``), so a package
    that names more than its LSTM needs (onnx2tf names the full tensorflow wheel) gets
    what the lock says."""
    print(f"quickstart: installing {environment.name} from {requirements} (once; minutes)", flush=True)
    if not executable(environment, "python").exists():
        venv.EnvBuilder(with_pip=True).create(environment)
    python = str(executable(environment, "python"))
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "-r", requirements], cwd=root, check=True)
    (environment / STAMP).write_text(fingerprint(root, (requirements,)))


def install_node_programs(folders: tuple[Path, ...] = NODE_PROGRAMS) -> None:
    """``npm ci`` (no install scripts) in each folder whose node_modules is missing or was
    installed from another lockfile. Without npm, say so: those backends then report that
    their program cannot start, and their tests skip."""
    for folder in folders:
        stamp = folder / "node_modules" / STAMP
        if stamp.exists() and stamp.read_text() == fingerprint(folder, ("package-lock.json",)):
            continue
        if shutil.which("npm") is None:
            print(f"quickstart: npm not found: {folder.name}'s packages are not installed, and its backend will not run", flush=True)
            continue
        print(f"quickstart: installing {folder.name}'s packages with npm ci (once)", flush=True)
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, check=True)
        stamp.write_text(fingerprint(folder, ("package-lock.json",)))


def interpreter_arguments(root: Path) -> list[str]:
    """``--interpreter NAME=PYTHON`` for each backend with an environment of its own, building
    the environment first where it is missing or stale."""
    arguments = []
    for name, (environment, requirements) in SEPARATE_ENVIRONMENTS.items():
        if needs_install(environment, root, (requirements,)):
            install_separate(environment, root, requirements)
        arguments += ["--interpreter", f"{name}={executable(environment, 'python').relative_to(root)}"]
    return arguments


def depth_arguments(command: str, arguments: list[str]) -> list[str]:
    """``--depth NAME`` of the command's default depth, unless ``arguments`` name one."""
    if any(argument == "--depth" or argument.startswith("--depth=") for argument in arguments):
        return []
    return ["--depth", DEFAULT_DEPTHS[command]]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python3 quickstart.py {{{','.join(COMMANDS)}}} [arguments...]", file=sys.stderr)
        print(f"quickstart.py: command: expected one of {', '.join(COMMANDS)}, got {argv[0] if argv else 'nothing'!r}", file=sys.stderr)
        return 2
    if needs_install(ENVIRONMENT, ROOT):
        install(ENVIRONMENT, ROOT)
    install_node_programs()
    program, *arguments = COMMANDS[argv[0]]
    command = [str(executable(ENVIRONMENT, program)), *arguments, *interpreter_arguments(ROOT), *depth_arguments(argv[0], argv[1:]), *argv[1:]]
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
