"""lstm-parity matrix: run the suite against several released versions of a framework.

A matrix file (TOML) lists frameworks, each with the versions to measure, the backends that
exercise it and any requirements it needs beside itself::

    [[framework]]
    package = "paddlepaddle"
    versions = ["2.6.2", "3.0.0", "3.3.1"]
    backends = ["paddle", "paddle-legacy"]
    with = []                              # more requirements for every version (optional)
    [framework.requires]                   # more requirements for one version (optional)
    "2.6.2" = ["numpy<2"]

Each (package, version) gets a virtual environment of its own under
``<out>/environments/``, built from the package index with this project (from its checkout),
its test extra, ``package==version`` and the requirements named; then ``lstm-parity run``
with those backends writes ``<out>/<package>-<version>/parity.json.gz`` (its pages beside
it). A version that cannot
be installed, or whose installation would pull GPU packages (``nvidia-*``, ``triton``: a
torch wheel from the index that is not CPU-only), is skipped with the installer's reason.
What happened to each version is written to ``<out>/matrix.json``.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import venv
from dataclasses import asdict, dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

# Packages whose presence in an installation plan means a GPU build (gigabytes of CUDA).
GPU_PACKAGE_PREFIXES = ("nvidia-", "triton")
# How much of an installer's error output a skip keeps as its reason.
REASON_LINES = 6
MATRIX_RECORD = "matrix.json"


@dataclass(frozen=True)
class Framework:
    """One framework of a matrix file: a distribution, its versions, the backends that test it."""

    package: str
    versions: tuple[str, ...]
    backends: tuple[str, ...]
    requirements: tuple[str, ...] = ()
    version_requirements: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def requirements_of(self, version: str) -> list[str]:
        """What one version's environment installs beside the project: ``package==version``
        and the requirements of the framework and of that version."""
        return [f"{self.package}=={version}", *self.requirements, *self.version_requirements.get(version, ())]


@dataclass(frozen=True)
class VersionResult:
    """What the matrix did with one version: ``ran`` (with pytest's exit status) or ``skipped``."""

    package: str
    version: str
    status: str
    reason: str = ""
    parity_json: str = ""
    exit_status: int | None = None


def string_list(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"{where}: expected a list of non-empty strings, got {value!r}")
    return tuple(value)


def read_matrix(path: Path) -> list[Framework]:
    """The frameworks of the matrix file at ``path``; ValueError naming the field that is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"matrix file {path}: cannot read it ({error})") from None
    entries = data.get("framework")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"matrix file {path}: expected [[framework]] tables, got {sorted(data) or 'nothing'}")
    frameworks = []
    for index, entry in enumerate(entries):
        where = f"matrix file {path}: framework {index + 1}"
        unknown = set(entry) - {"package", "versions", "backends", "with", "requires"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; expected package, versions, backends, with, requires")
        if not isinstance(entry.get("package"), str) or not entry["package"]:
            raise ValueError(f"{where}: package: expected a distribution name, got {entry.get('package')!r}")
        requires = entry.get("requires", {})
        if not isinstance(requires, dict):
            raise ValueError(f"{where}: requires: expected a table of version = [requirements], got {requires!r}")
        frameworks.append(
            Framework(
                package=entry["package"],
                versions=string_list(entry.get("versions"), f"{where}: versions"),
                backends=string_list(entry.get("backends"), f"{where}: backends"),
                requirements=string_list(entry.get("with", []), f"{where}: with") if entry.get("with") else (),
                version_requirements={version: string_list(items, f"{where}: requires.{version}") for version, items in requires.items()},
            )
        )
    return frameworks


def project_root() -> Path:
    """The checkout this package runs from (the folder with its pyproject.toml); ValueError
    from an installed wheel, which carries no source to install into other environments."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").exists():
        raise ValueError(f"lstm-parity matrix installs the project from its checkout; {root} holds no pyproject.toml (run it from a checkout)")
    return root


def installer_reason(output: str) -> str:
    """The installer's error lines (its last lines when none says ERROR), joined."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return " | ".join((errors or lines)[-REASON_LINES:]) or "the installer failed without a message"


def program(environment: Path, name: str) -> str:
    """A program of a virtual environment (``python``, ``lstm-parity``), on any platform."""
    folder = environment / ("Scripts" if os.name == "nt" else "bin")
    return str(folder / (name + (".exe" if os.name == "nt" else "")))


def gpu_packages(plan: dict) -> list[str]:
    """The GPU packages (see :data:`GPU_PACKAGE_PREFIXES`) in a ``pip install --report`` plan."""
    names = [item["metadata"]["name"] for item in plan.get("install", [])]
    return sorted(name for name in names if name.lower().startswith(GPU_PACKAGE_PREFIXES))


def prepare_environment(environment: Path, project: str, requirements: list[str]) -> str:
    """Create ``environment`` and install ``requirements`` (``project``, the project with its
    extras, among them) into it; '' when it worked, else why not (the installer's own words,
    or the GPU packages it would have pulled)."""
    python = program(environment, "python")
    if not Path(python).exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(environment)
    plan = subprocess.run(
        [python, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-", *requirements], capture_output=True, text=True, check=False
    )
    if plan.returncode != 0:
        return installer_reason(plan.stderr)
    gpu = gpu_packages(json.loads(plan.stdout))
    if gpu:
        return f"installing it from the package index pulls GPU packages ({', '.join(gpu)}); no CPU-only build of this version here"
    for arguments in (requirements, ["--no-deps", "--force-reinstall", project]):
        # The project again, alone: an environment built earlier keeps an older build of it.
        installed = subprocess.run([python, "-m", "pip", "install", "--quiet", *arguments], capture_output=True, text=True, check=False)
        if installed.returncode != 0:
            return installer_reason(installed.stderr)
    return ""


def run_version(framework: Framework, version: str, out: Path, workers: str, root: Path) -> VersionResult:
    """Build one version's environment and run its backends' suite there."""
    label = f"{framework.package}-{version}"
    print(f"lstm-parity matrix: {label}: installing", flush=True)
    environment = out / "environments" / label
    reason = prepare_environment(environment, str(root), [f"{root}[test]", *framework.requirements_of(version)])
    if reason:
        print(f"lstm-parity matrix: {label}: skipped: {reason}", flush=True)
        return VersionResult(framework.package, version, "skipped", reason=reason)
    result_dir = out / label
    command = [program(environment, "lstm-parity"), "run", "--out", str(result_dir.resolve()), "-n", workers]
    for backend in framework.backends:
        command += ["--backend", backend]
    print(f"lstm-parity matrix: {label}: running {', '.join(framework.backends)}", flush=True)
    status = subprocess.run(command, cwd=out, check=False, stdout=subprocess.DEVNULL).returncode
    json_path = result_dir / "parity.json"
    if not json_path.exists():
        return VersionResult(framework.package, version, "skipped", reason=f"the suite exited with status {status} and wrote no parity.json")
    # Kept compressed (a tenth of the size): lstm-parity merge and scoreboard read it as it is.
    compressed = json_path.with_suffix(".json.gz")
    compressed.write_bytes(gzip.compress(json_path.read_bytes(), mtime=0))
    json_path.unlink()
    return VersionResult(framework.package, version, "ran", parity_json=str(compressed.relative_to(out)), exit_status=status)


def selected(framework: Framework, version: str, only: tuple[str, ...]) -> bool:
    """Whether ``--only`` (``PACKAGE`` or ``PACKAGE==VERSION`` items; none: everything) selects
    this version."""
    return not only or framework.package in only or f"{framework.package}=={version}" in only


def run_matrix(frameworks: list[Framework], out: Path, workers: str = "auto", only: tuple[str, ...] = ()) -> list[VersionResult]:
    """Run every version of every framework that ``only`` selects; write what happened to each
    into ``<out>/matrix.json`` (beside what earlier runs there recorded of other versions) and
    return it."""
    root = project_root()
    out.mkdir(parents=True, exist_ok=True)
    results = [
        run_version(framework, version, out, workers, root)
        for framework in frameworks
        for version in framework.versions
        if selected(framework, version, only)
    ]
    record = out / MATRIX_RECORD
    earlier = json.loads(record.read_text(encoding="utf-8")) if record.exists() else []
    ran = {(result.package, result.version) for result in results}
    kept = [VersionResult(**entry) for entry in earlier if (entry["package"], entry["version"]) not in ran]
    results = sorted(kept + results, key=lambda result: (result.package, result.version))
    record.write_text(json.dumps([asdict(result) for result in results], indent=1) + "\n", encoding="utf-8")
    return results


def main_matrix(matrix_file: str, out: str, workers: str, only: list[str]) -> int:
    """The ``matrix`` subcommand: 0 when every version was run or skipped with its reason,
    2 for a matrix file that cannot be read."""
    try:
        frameworks = read_matrix(Path(matrix_file))
        known = {name for framework in frameworks for version in framework.versions for name in (framework.package, f"{framework.package}=={version}")}
        unknown = set(only) - known
        if unknown:
            raise ValueError(f"--only: expected a package or package==version of the matrix file, got {sorted(unknown)}")
        results = run_matrix(frameworks, Path(out), workers, tuple(only))
    except ValueError as error:
        print(f"lstm-parity matrix: {error}", file=sys.stderr)
        return 2
    for result in results:
        print(f"{result.package} {result.version}: {result.status}{' (' + result.reason + ')' if result.reason else ''}")
    return 0
