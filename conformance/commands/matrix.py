"""lstm-parity matrix: run the suite against several released versions of a framework.

A matrix file (TOML) lists frameworks, each with the versions to measure, the backends that
exercise it and any requirements it needs beside itself::

    [[framework]]
    package = "paddlepaddle"
    versions = ["2.6.2", "3.0.0", "3.3.1"]
    backends = ["paddle", "paddle-legacy"]
    with = []                              # more requirements for every version (optional)
    without_dependencies = []              # requirements installed alone, with pip's --no-deps (optional)
    [framework.requires]                   # more requirements for one version (optional)
    "2.6.2" = ["numpy<2"]

Each (package, version) gets a virtual environment of its own under
``<out>/environments/``, built from the package index with this project (from its checkout),
its test extra, ``package==version`` and the requirements named (then those of
``without_dependencies``, each without what its metadata asks for: tf_keras names the full
tensorflow wheel where tensorflow-cpu is installed); then ``lstm-parity run``
with those backends writes ``<out>/<package>-<version>/parity.json.gz`` (its pages beside
it). A version that cannot
be installed, or whose installation would pull GPU packages (``nvidia-*``, ``triton``: a
torch wheel from the index that is not CPU-only), is skipped with the installer's reason.
What happened to each version is written to ``<out>/matrix.json``.

A version may run in parts (``--shard K/N``, the suite's deterministic shards): its records
then go to ``<out>/<package>-<version>-shard-K-of-N/``, and ``lstm-parity merge`` joins
them. ``--plan`` prints the jobs instead of running them, one per (package, version,
shard), as JSON in the shape a CI system's job matrix takes (GitHub Actions:
``strategy.matrix: ${{ fromJSON(...) }}``); ``.github/workflows/matrix.yml`` runs the plan
as parallel jobs and merges their records into the scoreboard.

Every name that becomes a path or an installer's argument is checked before anything is
built: packages and versions against :data:`PACKAGE_NAME` and :data:`VERSION` (no
separators, no ``..``), backends against the registry (or a ``module:attribute``
reference), requirements that would read as installer options are refused. An environment
is cleared or reused only where this command created it (it holds :data:`OWNED_MARKER`);
any other folder in its place is refused.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
from dataclasses import asdict, dataclass, field
from pathlib import Path

from adapters.registry import known_adapters, load_adapter

from conformance.outputs import check_output_directory, write_text_atomically
from conformance.report.files import RECORDS_NAME
from conformance.cases.sharding import parse_shard

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

# Packages whose presence in an installation plan means a GPU build (gigabytes of CUDA).
GPU_PACKAGE_PREFIXES = ("nvidia-", "triton")
# How much of an installer's error output a skip keeps as its reason.
REASON_LINES = 6
MATRIX_RECORD = "matrix.json"
# A distribution name (PEP 508) and a release (PEP 440, with a local part such as +cpu):
# words joined by dots, dashes, underscores and pluses, so never a path.
PACKAGE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
VERSION = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.+!_-]*[A-Za-z0-9])?")
# A backend given as an importable reference rather than a registered name.
ADAPTER_REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
# The file that marks an environment this command created (and so may clear or reuse).
OWNED_MARKER = "lstm-parity-matrix-environment"


@dataclass(frozen=True)
class Framework:
    """One framework of a matrix file: a distribution, its versions, the backends that test it."""

    package: str
    versions: tuple[str, ...]
    backends: tuple[str, ...]
    requirements: tuple[str, ...] = ()
    version_requirements: dict[str, tuple[str, ...]] = field(default_factory=dict)
    without_dependencies: tuple[str, ...] = ()

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
    # The part of the version's suite that ran ("K/N"), '' for all of it.
    shard: str = ""


def string_list(value: object, where: str) -> tuple[str, ...]:
    """``value`` when it is a list of distinct non-empty strings; ValueError otherwise."""
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"{where}: expected a list of non-empty strings, got {value!r}")
    repeated = sorted({item for item in value if value.count(item) > 1})
    if repeated:
        raise ValueError(f"{where}: expected each entry once, got {repeated} more than once")
    return tuple(value)


def nonempty(values: tuple[str, ...], where: str) -> tuple[str, ...]:
    if not values:
        raise ValueError(f"{where}: expected at least one entry, got none")
    return values


def matching(pattern: re.Pattern, values: tuple[str, ...], where: str, what: str) -> tuple[str, ...]:
    """``values`` when each matches ``pattern`` whole; ValueError naming the first that does not."""
    for value in values:
        if not pattern.fullmatch(value):
            raise ValueError(f"{where}: expected {what} ({pattern.pattern}), got {value!r}")
    return values


def backend_names(values: tuple[str, ...], where: str) -> tuple[str, ...]:
    """``values`` when each is a registered backend or a ``module:attribute`` reference to an
    adapter that loads here."""
    known = known_adapters()
    for value in values:
        if value not in known and not ADAPTER_REFERENCE.fullmatch(value):
            raise ValueError(f"{where}: expected one of {', '.join(sorted(known))} or a module:attribute reference, got {value!r}")
        if value not in known:
            try:
                load_adapter(value)
            except (ValueError, TypeError) as error:
                raise ValueError(f"{where}: expected an adapter reference, got {value!r} ({error})") from None
    return values


def requirement_list(value: object, where: str) -> tuple[str, ...]:
    """A list of requirements, none of which the installer would read as an option."""
    requirements = string_list(value, where)
    for requirement in requirements:
        if requirement.lstrip().startswith("-"):
            raise ValueError(f"{where}: expected requirements (name and version range), got {requirement!r}, which the installer would read as an option")
    return requirements


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
        unknown = set(entry) - {"package", "versions", "backends", "with", "without_dependencies", "requires"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; expected package, versions, backends, with, without_dependencies, requires")
        if not isinstance(entry.get("package"), str) or not PACKAGE_NAME.fullmatch(entry["package"]):
            raise ValueError(f"{where}: package: expected a distribution name ({PACKAGE_NAME.pattern}), got {entry.get('package')!r}")
        requires = entry.get("requires", {})
        if not isinstance(requires, dict):
            raise ValueError(f"{where}: requires: expected a table of version = [requirements], got {requires!r}")
        versions = matching(VERSION, nonempty(string_list(entry.get("versions"), f"{where}: versions"), f"{where}: versions"), f"{where}: versions", "a release")
        unknown_versions = sorted(set(requires) - set(versions))
        if unknown_versions:
            raise ValueError(f"{where}: requires: expected versions of the framework's list {list(versions)}, got {unknown_versions}")
        frameworks.append(
            Framework(
                package=entry["package"],
                versions=versions,
                backends=backend_names(nonempty(string_list(entry.get("backends"), f"{where}: backends"), f"{where}: backends"), f"{where}: backends"),
                requirements=requirement_list(entry.get("with", []), f"{where}: with") if entry.get("with") else (),
                version_requirements={version: requirement_list(items, f"{where}: requires.{version}") for version, items in requires.items()},
                without_dependencies=(
                    requirement_list(entry["without_dependencies"], f"{where}: without_dependencies") if entry.get("without_dependencies") else ()
                ),
            )
        )
    return frameworks


def project_root() -> Path:
    """The checkout this package runs from (the folder with its pyproject.toml); ValueError
    from an installed wheel, which carries no source to install into other environments."""
    root = Path(__file__).resolve().parents[2]
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


def check_owned(environment: Path) -> None:
    """ValueError when ``environment`` exists but this command did not create it."""
    if environment.exists() and not (environment / OWNED_MARKER).is_file():
        raise ValueError(f"--out: expected {environment} to be an environment lstm-parity matrix created (holding {OWNED_MARKER}), got a folder it did not create; move it away")


def prepare_environment(environment: Path, project: str, requirements: list[str], without_dependencies: tuple[str, ...] = ()) -> str:
    """Create ``environment`` and install ``requirements`` (``project``, the project with its
    extras, among them) into it, then ``without_dependencies`` with pip's ``--no-deps``; ''
    when it worked, else why not (the installer's own words, or the GPU packages it would
    have pulled)."""
    python = program(environment, "python")
    if not Path(python).exists():
        check_owned(environment)
        venv.EnvBuilder(with_pip=True, clear=environment.exists()).create(environment)
        (environment / OWNED_MARKER).write_text("created by lstm-parity matrix\n", encoding="utf-8")
    plan = subprocess.run(
        [python, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-", *requirements], capture_output=True, text=True, check=False
    )
    if plan.returncode != 0:
        return installer_reason(plan.stderr)
    gpu = gpu_packages(json.loads(plan.stdout))
    if gpu:
        return f"installing it from the package index pulls GPU packages ({', '.join(gpu)}); no CPU-only build of this version here"
    alone = [["--no-deps", *without_dependencies]] if without_dependencies else []
    for arguments in (requirements, *alone, ["--no-deps", "--force-reinstall", project]):
        # The project again, alone: an environment built earlier keeps an older build of it.
        installed = subprocess.run([python, "-m", "pip", "install", "--quiet", *arguments], capture_output=True, text=True, check=False)
        if installed.returncode != 0:
            return installer_reason(installed.stderr)
    return ""


def shard_label(shard: tuple[int, int] | None) -> str:
    """A shard as a name's suffix: ``-shard-2-of-4``, '' for a whole run."""
    return "" if shard is None else f"-shard-{shard[0]}-of-{shard[1]}"


def run_version(framework: Framework, version: str, out: Path, workers: str, root: Path, shard: tuple[int, int] | None = None) -> VersionResult:
    """Build one version's environment and run its backends' suite there (``shard``: that part of it)."""
    label = f"{framework.package}-{version}"
    part = "" if shard is None else f"{shard[0]}/{shard[1]}"
    print(f"lstm-parity matrix: {label}: installing", flush=True)
    # Absolute: the suite runs with ``out`` as its working directory.
    environment = (out / "environments" / label).resolve()
    reason = prepare_environment(environment, str(root), [f"{root}[test]", *framework.requirements_of(version)], framework.without_dependencies)
    if reason:
        print(f"lstm-parity matrix: {label}: skipped: {reason}", flush=True)
        return VersionResult(framework.package, version, "skipped", reason=reason, shard=part)
    result_dir = out / f"{label}{shard_label(shard)}"
    command = [program(environment, "lstm-parity"), "run", "--out", str(result_dir.resolve()), "-n", workers]
    if shard is not None:
        command += ["--shard", part]
    for backend in framework.backends:
        command += ["--backend", backend]
    print(f"lstm-parity matrix: {label}: running {', '.join(framework.backends)}", flush=True)
    status = subprocess.run(command, cwd=out, check=False, stdout=subprocess.DEVNULL).returncode
    # The run keeps its records compressed (a tenth of the size); merge and scoreboard read them as they are.
    records = result_dir / RECORDS_NAME
    if not records.exists():
        return VersionResult(framework.package, version, "skipped", reason=f"the suite exited with status {status} and wrote no {RECORDS_NAME}", shard=part)
    return VersionResult(framework.package, version, "ran", parity_json=str(records.relative_to(out)), exit_status=status, shard=part)


def selected(framework: Framework, version: str, only: tuple[str, ...]) -> bool:
    """Whether ``--only`` (``PACKAGE`` or ``PACKAGE==VERSION`` items; none: everything) selects
    this version."""
    return not only or framework.package in only or f"{framework.package}=={version}" in only


def plan(frameworks: list[Framework], only: tuple[str, ...] = (), shards: int = 1) -> dict[str, list[dict[str, str]]]:
    """The jobs of the versions ``only`` selects, each split in ``shards`` parts: ``{"include":
    [{"package", "version", "shard" ("K/N"), "name"}, ...]}``, a CI job matrix."""
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise ValueError(f"--plan: expected a positive whole number of shards, got {shards!r}")
    jobs = [
        {"package": framework.package, "version": version, "shard": f"{index}/{shards}", "name": f"{framework.package}-{version}{shard_label((index, shards))}"}
        for framework in frameworks
        for version in framework.versions
        if selected(framework, version, only)
        for index in range(1, shards + 1)
    ]
    return {"include": jobs}


def run_matrix(
    frameworks: list[Framework], out: Path, workers: str = "auto", only: tuple[str, ...] = (), shard: tuple[int, int] | None = None
) -> list[VersionResult]:
    """Run every version of every framework that ``only`` selects (``shard``: that part of
    each); write what happened to each into ``<out>/matrix.json`` (beside what earlier runs
    there recorded of other versions and parts) and return it."""
    root = project_root()
    check_output_directory("--out", out)
    for framework in frameworks:
        for version in framework.versions:
            if selected(framework, version, only):
                check_owned(out / "environments" / f"{framework.package}-{version}")
    record = out / MATRIX_RECORD
    try:
        earlier = json.loads(record.read_text(encoding="utf-8")) if record.exists() else []
        kept_entries = [VersionResult(**entry) for entry in earlier]
    except (OSError, ValueError, TypeError) as error:
        raise ValueError(f"--out: expected {record} to be a matrix.json this command wrote, got one it cannot read ({type(error).__name__}: {error})") from None
    out.mkdir(parents=True, exist_ok=True)
    results = [
        run_version(framework, version, out, workers, root, shard)
        for framework in frameworks
        for version in framework.versions
        if selected(framework, version, only)
    ]
    ran = {(result.package, result.version, result.shard) for result in results}
    kept = [entry for entry in kept_entries if (entry.package, entry.version, entry.shard) not in ran]
    results = sorted(kept + results, key=lambda result: (result.package, result.version, result.shard))
    write_text_atomically(record, json.dumps([asdict(result) for result in results], indent=1) + "\n")
    return results


def main_matrix(matrix_file: str, out: str, workers: str, only: list[str], shard: str | None = None, plan_shards: int | None = None) -> int:
    """The ``matrix`` subcommand: 0 when every version was run or skipped with its reason (or,
    with ``plan_shards``, the plan printed), 2 for a matrix file that cannot be read or an
    option that is not valid."""
    try:
        frameworks = read_matrix(Path(matrix_file))
        known = {name for framework in frameworks for version in framework.versions for name in (framework.package, f"{framework.package}=={version}")}
        unknown = set(only) - known
        if unknown:
            raise ValueError(f"--only: expected a package or package==version of the matrix file, got {sorted(unknown)}")
        if plan_shards is not None:
            if shard is not None:
                raise ValueError(f"--shard: expected none with --plan (it prints every shard's job), got {shard!r}")
            print(json.dumps(plan(frameworks, tuple(only), plan_shards)))
            return 0
        results = run_matrix(frameworks, Path(out), workers, tuple(only), None if shard is None else parse_shard(shard))
    except ValueError as error:
        print(f"lstm-parity matrix: {error}", file=sys.stderr)
        return 2
    for result in results:
        print(f"{result.package} {result.version}: {result.status}{' (' + result.reason + ')' if result.reason else ''}")
    return 0
