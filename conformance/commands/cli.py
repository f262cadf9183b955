"""lstm-parity: run the conformance suite and write its reports, rebuild reports, explain counts.

Subcommands:
  run     run the installed suite through pytest (progress shown), write <out>/parity.json.gz
          (the records, gzip-compressed), parity.md and parity.html; exit with pytest's status
  report  rebuild parity.md and parity.html from an existing parity.json (or .json.gz)
  params  print a spec's parameter count under each layout, term by term, and why
  convert convert an LSTM's weights file between frameworks, then prove both against the oracle
  merge   merge parity.json files of several runs (shards, machines, framework versions) into one
  matrix  run the suite against several released versions of frameworks, each in its own venv
  scoreboard deviation x version and per-version outcome counts from parity.json files
  new-adapter write a plug-in package for a new backend (an adapter green as written, pyproject, README)
  repro   write standalone reproducers of deviations or cases: scripts that need only NumPy and the framework
  power   the smallest drift the suite notices, per backend and factor level, from parity.json files; its blind spots
  vectors the case table as language-neutral test vectors (.npy arrays and JSON) for a program in any language
  check-vectors judge the results such a program wrote for the vectors
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from adapters.registry import load_adapter
from reference import LAYOUTS, LSTMSpec, parameter_count

from conformance.run.backends import default_references
from conformance.commands.convert import add_convert_parser
from conformance.cases.depth import DEFAULT_DEPTH, DEPTHS
from conformance.run.isolation import parse_interpreters
from conformance.commands.matrix import main_matrix
from conformance.commands.new_adapter import add_new_adapter_parser
from conformance.commands.power import add_power_parser
from conformance.commands.repro import add_repro_parser
from conformance.commands.vectors import add_vectors_parsers
from conformance.outputs import check_not_an_input, check_output_directory, check_output_file, one_line, write_compressed_atomically, write_text_atomically
from conformance.report.recording import format_document
from conformance.report.count_explanation import explain_count
from conformance.report.files import RECORDS_NAME, SCOREBOARD_FILES, ReportError, load_document, write_pages, write_scoreboard
from conformance.report.merging import merge_documents
from conformance.report.scoreboard import versions_seen, with_registry
from conformance.cases.sharding import parse_shard

# The suite is the directory of this package, wherever it is installed.
SUITE_DIRECTORY = Path(__file__).resolve().parents[1]
ALL_LAYOUTS = "all"
# The spec fields a parameter count depends on (activations and clips do not change it; the
# coupled input-forget gate keeps the forget gate's tensors in every layout that has it).
COUNTED_FIELDS = ("input_size", "hidden_size", "num_layers", "bidirectional", "reverse", "proj_size", "bias", "peepholes", "input_forget")
# Exit status for a command that cannot do what it was asked (as argparse uses for bad usage).
USAGE_ERROR = 2
# The fields of each entry of a matrix.json (conformance.commands.matrix.VersionResult).
MATRIX_ENTRY_FIELDS = ("package", "version", "status", "reason")
# pytest-xdist's -n words besides a number.
WORKER_WORDS = ("auto", "logical")
# The most layers ``params`` prints one by one, and the largest size it counts.
MAX_PRINTED_LAYERS = 1000
MAX_SIZE = 2**31 - 1


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it (so that the command a
    report shows carries no machine's directories), else absolute."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def pytest_command(arguments: argparse.Namespace, json_path: Path) -> list[str]:
    """The pytest command line that runs the suite for ``run``'s arguments.

    The rootdir is the suite's parent, so test ids read ``conformance/test_...`` as the
    reproducer commands do; the cache plugin is off so an installed package stays untouched.
    An installed suite (no checkout around it) reads no configuration file: pytest would
    otherwise take the first one above it, a project's that holds the environment (the
    version matrix's environments in a checkout), with that project's import path. Paths are
    relative to the working directory where they can be (the JSON records them).
    """
    command = [sys.executable, "-m", "pytest", shown_path(SUITE_DIRECTORY), "--rootdir", shown_path(SUITE_DIRECTORY.parent)]
    if not (SUITE_DIRECTORY.parent / "pyproject.toml").exists():
        command += ["-c", os.devnull]
    command += ["-p", "no:cacheprovider", "-n", arguments.workers, "--parity-json", shown_path(json_path)]
    for name in arguments.backend:
        command += ["--backend", name]
    for reference in arguments.adapter:
        command += ["--adapter", reference]
    for interpreter in arguments.interpreter:
        command += ["--interpreter", interpreter]
    if arguments.shard:
        command += ["--shard", arguments.shard]
    return command + ["--depth", arguments.depth] + arguments.pytest_args


def report_written(paths: list[Path]) -> None:
    print(f"lstm-parity: wrote {', '.join(str(path) for path in paths)}")


def usage_error(command: str, error: BaseException | str) -> int:
    """Print ``lstm-parity COMMAND: message`` (one line) and return the usage exit status."""
    print(f"lstm-parity {command}: {one_line(error)}", file=sys.stderr)
    return USAGE_ERROR


def check_workers(value: str) -> None:
    """ValueError unless ``value`` is what pytest-xdist's ``-n`` takes: auto, logical or N >= 0."""
    if value not in WORKER_WORDS and not (value.isdigit() and value.isascii()):
        raise ValueError(f"-n: expected auto, logical or a number of workers >= 0, got {value!r}")


def check_run_arguments(arguments: argparse.Namespace) -> None:
    """Every option of ``run`` checked before anything is deleted or run; ValueError naming
    the option (backends and adapters load, interpreters are Pythons for backends of the run,
    -n, --shard and --out are well formed)."""
    chosen = list(dict.fromkeys(arguments.backend + arguments.adapter))
    for reference in chosen:
        load_adapter(reference)
    parse_interpreters(arguments.interpreter, known=chosen or default_references())
    check_workers(arguments.workers)
    if arguments.shard:
        parse_shard(arguments.shard)
    check_output_directory("--out", Path(arguments.out))


def run(arguments: argparse.Namespace) -> int:
    """Check the options, run the suite, then write the pages and the JSON (each atomically,
    replacing the last run's only once this one has written its records); pytest's exit
    status (2 for a bad option, or when pytest wrote no records)."""
    try:
        check_run_arguments(arguments)
    except (ValueError, TypeError) as error:
        return usage_error("run", error)
    out = Path(arguments.out).resolve()
    json_path = out / RECORDS_NAME
    with tempfile.TemporaryDirectory(prefix="lstm-parity-run-") as scratch:
        records = Path(scratch) / "parity.json"
        status = subprocess.run(pytest_command(arguments, records), check=False).returncode
        if not records.exists():
            print(f"lstm-parity run: pytest exited with status {status} and wrote no records; {json_path} is left as it was", file=sys.stderr)
            return status or USAGE_ERROR
        document = recorded_at(load_document(records), records, json_path)
    pages = write_pages(document, out, json_path)
    write_compressed_atomically(json_path, format_document(document))
    report_written([json_path, *pages])
    return status


def recorded_at(document: dict, scratch: Path, final: Path) -> dict:
    """``document`` with its command naming the records file where the run leaves it
    (``final``, as :func:`shown_path` shows it) instead of the scratch file pytest wrote."""
    written = {str(scratch), shown_path(scratch)}
    arguments = [shown_path(final) if argument in written else argument for argument in document["run"]["arguments"]]
    return {**document, "run": {**document["run"], "arguments": arguments}}


def report(arguments: argparse.Namespace) -> int:
    """Rebuild the pages from a parity JSON; 2 with a message when it cannot be read or the
    pages cannot be written."""
    json_path = Path(arguments.json)
    out = Path(arguments.out) if arguments.out else json_path.parent
    try:
        check_output_directory("--out", out)
        document = load_document(json_path)
        report_written(write_pages(document, out, json_path))
    except (ReportError, ValueError, OSError) as error:
        return usage_error("report", error)
    return 0


def merge(arguments: argparse.Namespace) -> int:
    """Merge parity JSONs into <out>/parity.json.gz and write its pages; 2 with a message when
    an input cannot be read, a run is given twice, or the output would overwrite an input."""
    out = Path(arguments.out)
    json_path = out / RECORDS_NAME
    try:
        check_output_directory("--out", out)
        check_not_an_input("--out", json_path, [Path(path) for path in arguments.json])
        document = read_merged(arguments.json)
        pages = write_pages(document, out, json_path)
        write_compressed_atomically(json_path, format_document(document))
    except (ReportError, ValueError, OSError) as error:
        return usage_error("merge", error)
    report_written([json_path, *pages])
    return 0


def read_merged(paths: list[str]) -> dict:
    """The parity documents at ``paths`` merged; ReportError naming one that cannot be read
    or a run given twice."""
    return merge_documents([(Path(path), load_document(Path(path))) for path in paths])


def read_skipped_versions(paths: list[str]) -> list[dict]:
    """The versions the ``matrix.json`` files at ``paths`` could not run; ValueError naming a
    file that is not one."""
    skipped = []
    for path in paths:
        try:
            entries = json.loads(Path(path).read_text(encoding="utf-8"))
            if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
                raise ValueError(f"expected a JSON array of objects, got {type(entries).__name__}")
            lacking = [sorted(set(MATRIX_ENTRY_FIELDS) - set(entry)) for entry in entries if not set(MATRIX_ENTRY_FIELDS) <= set(entry)]
            if lacking:
                raise ValueError(f"an entry lacks {', '.join(lacking[0])}")
            skipped += [entry for entry in entries if entry["status"] == "skipped"]
        except (OSError, ValueError, TypeError, KeyError, RecursionError) as error:
            raise ValueError(f"--matrix: expected a matrix.json that lstm-parity matrix wrote, got {path!r}, which is not one ({type(error).__name__}: {one_line(error)})") from None
    return skipped


def scoreboard(arguments: argparse.Namespace) -> int:
    """Write <out>/scoreboard.{md,html,json} from parity JSONs (and, when asked, the registry's
    measured versions); 2 with a message when an input cannot be read or an output would
    overwrite one."""
    out = Path(arguments.out)
    inputs = [Path(path) for path in arguments.json + arguments.matrix]
    try:
        check_output_directory("--out", out)
        for name in SCOREBOARD_FILES:
            check_not_an_input("--out", out / name, inputs)
        if arguments.versions_seen:
            check_output_file("--versions-seen", Path(arguments.versions_seen))
            check_not_an_input("--versions-seen", Path(arguments.versions_seen), inputs)
        skipped = read_skipped_versions(arguments.matrix)
        document = with_registry(read_merged(arguments.json))
        written = write_scoreboard(document, out, skipped)
        if arguments.versions_seen:
            path = Path(arguments.versions_seen)
            written.append(write_text_atomically(path, json.dumps(versions_seen(document), indent=1, sort_keys=True) + "\n"))
    except (ReportError, ValueError, OSError) as error:
        return usage_error("scoreboard", error)
    report_written(written)
    return 0


def matrix(arguments: argparse.Namespace) -> int:
    """The ``matrix`` subcommand (:func:`conformance.commands.matrix.main_matrix`), its -n checked first."""
    try:
        check_workers(arguments.workers)
    except ValueError as error:
        return usage_error("matrix", error)
    return main_matrix(arguments.matrix_file, arguments.out, arguments.workers, arguments.only, arguments.shard, arguments.plan)


def params(arguments: argparse.Namespace) -> int:
    """Print the spec's parameter count per layout with its terms and why; 2 for an invalid spec
    or a layout that cannot express it."""
    if not 1 <= arguments.num_layers <= MAX_PRINTED_LAYERS:
        return usage_error("params", f"--num-layers: expected 1 to {MAX_PRINTED_LAYERS} (this command prints every layer), got {arguments.num_layers}")
    for option, size in (("--input-size", arguments.input_size), ("--hidden-size", arguments.hidden_size), ("--proj-size", arguments.proj_size)):
        if size > MAX_SIZE:
            return usage_error("params", f"{option}: expected at most {MAX_SIZE} (the largest dimension a framework indexes with int32), got {size}")
    try:
        spec = LSTMSpec(
            input_size=arguments.input_size,
            hidden_size=arguments.hidden_size,
            num_layers=arguments.num_layers,
            bidirectional=arguments.bidirectional,
            reverse=arguments.reverse,
            proj_size=arguments.proj_size,
            bias=not arguments.no_bias,
            peepholes=arguments.peepholes,
            input_forget=arguments.input_forget,
        )
    except (TypeError, ValueError) as error:
        return usage_error("params", error)
    print("spec: " + ", ".join(f"{field}={getattr(spec, field)}" for field in COUNTED_FIELDS))
    layouts = list(LAYOUTS) if arguments.layout == ALL_LAYOUTS else [arguments.layout]
    for layout in layouts:
        try:
            count = parameter_count(spec, layout)
        except ValueError as error:
            if arguments.layout != ALL_LAYOUTS:
                print(f"lstm-parity params: {error}", file=sys.stderr)
                return USAGE_ERROR
            print(f"\nlayout {layout}: cannot express this spec ({error})")
            continue
        print(f"\n{count.describe()}\n{explain_count(count)}")
    return 0


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the usage itself is on --help)."""

    def error(self, message: str):
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="lstm-parity", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{run,report,params,convert,matrix,merge,scoreboard,new-adapter,repro,power,vectors,check-vectors}")

    run_parser = commands.add_parser("run", help="run the suite and write parity.json.gz, parity.md and parity.html")
    run_parser.add_argument("--backend", action="append", default=[], metavar="NAME", help="test a registered backend (repeatable)")
    run_parser.add_argument("--adapter", action="append", default=[], metavar="MODULE:ATTR|exec:COMMAND", help="test an out-of-tree adapter, or a program speaking the process protocol (repeatable)")
    run_parser.add_argument(
        "--interpreter", action="append", default=[], metavar="NAME=PYTHON", help="run backend NAME's process under this Python (repeatable)"
    )
    run_parser.add_argument("--shard", metavar="K/N", help="run the K-th of N deterministic parts (merge the parts with lstm-parity merge)")
    run_parser.add_argument(
        "--depth", choices=tuple(DEPTHS), default=DEFAULT_DEPTH, help=f"how much of the case space to cover (default {DEFAULT_DEPTH}; see conformance.cases.depth)"
    )
    run_parser.add_argument("--out", default="reports", metavar="DIR", help="where to write the three files (default: reports)")
    run_parser.add_argument("-n", dest="workers", default="auto", metavar="N|auto", help="pytest-xdist workers (default: auto; 0: none)")
    run_parser.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS", help="more pytest arguments, after --")
    run_parser.set_defaults(handler=run)

    report_parser = commands.add_parser("report", help="rebuild parity.md and parity.html from a parity.json or parity.json.gz")
    report_parser.add_argument("json", metavar="JSON", help="a parity.json(.gz) written by a run")
    report_parser.add_argument("--out", metavar="DIR", help="where to write the pages (default: the JSON's directory)")
    report_parser.set_defaults(handler=report)

    merge_parser = commands.add_parser("merge", help="merge parity.json files (shards, machines, versions) into one report")
    merge_parser.add_argument("json", nargs="+", metavar="JSON", help="parity.json files written by runs (or by merge)")
    merge_parser.add_argument("-o", "--out", required=True, metavar="DIR", help="where to write the merged parity.json.gz and its pages")
    merge_parser.set_defaults(handler=merge)

    scoreboard_parser = commands.add_parser("scoreboard", help="deviation x version and per-version outcomes from parity.json files")
    scoreboard_parser.add_argument("json", nargs="+", metavar="JSON", help="parity.json files of runs on several versions (or merged ones)")
    scoreboard_parser.add_argument("-o", "--out", required=True, metavar="DIR", help="where to write scoreboard.md, .html and .json")
    scoreboard_parser.add_argument(
        "--versions-seen", metavar="PATH", help="also write each deviation's measured versions here (the registry reads conformance/deviations/versions_seen.json)"
    )
    scoreboard_parser.add_argument(
        "--matrix", action="append", default=[], metavar="MATRIX.json", help="a matrix.json: list the versions it could not run (repeatable)"
    )
    scoreboard_parser.set_defaults(handler=scoreboard)

    params_parser = commands.add_parser("params", help="a spec's parameter count per layout, term by term")
    params_parser.add_argument("--input-size", type=int, required=True, metavar="I")
    params_parser.add_argument("--hidden-size", type=int, required=True, metavar="H")
    params_parser.add_argument("--num-layers", type=int, default=1, metavar="L")
    params_parser.add_argument("--bidirectional", action="store_true")
    params_parser.add_argument("--reverse", action="store_true", help="one direction, over each sequence reversed")
    params_parser.add_argument("--proj-size", type=int, default=0, metavar="P")
    params_parser.add_argument("--no-bias", action="store_true")
    params_parser.add_argument("--peepholes", action="store_true")
    params_parser.add_argument("--input-forget", action="store_true", help="coupled input-forget gate, f = 1 - i")
    params_parser.add_argument(
        "--layout",
        choices=[*LAYOUTS, ALL_LAYOUTS],
        default=ALL_LAYOUTS,
        help="the layout to count under (default: every layout that can express the spec)",
    )
    params_parser.set_defaults(handler=params)
    add_convert_parser(commands)
    add_new_adapter_parser(commands)
    add_repro_parser(commands)
    add_power_parser(commands)
    add_vectors_parsers(commands)

    matrix_parser = commands.add_parser("matrix", help="run the suite against several released versions of frameworks")
    matrix_parser.add_argument("matrix_file", metavar="MATRIX.toml", help="the frameworks, versions and backends to run (see conformance.commands.matrix)")
    matrix_parser.add_argument("--out", default="reports/matrix", metavar="DIR", help="where environments and records go (default: reports/matrix)")
    matrix_parser.add_argument("--only", action="append", default=[], metavar="PACKAGE", help="run only this package's versions, or PACKAGE==VERSION only (repeatable)")
    matrix_parser.add_argument("-n", dest="workers", default="auto", metavar="N|auto", help="pytest-xdist workers per run (default: auto)")
    matrix_parser.add_argument("--shard", metavar="K/N", help="run only the K-th of N parts of each version's suite (merge them with lstm-parity merge)")
    matrix_parser.add_argument(
        "--plan", type=int, nargs="?", const=1, metavar="SHARDS",
        help="print the jobs (package, version, shard; each version in SHARDS parts, default 1) as a CI job matrix in JSON, and run nothing",
    )
    matrix_parser.set_defaults(handler=matrix)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line), run the subcommand, return its exit status."""
    # Paddle warns on import that it finds no compiler cache, which this project never uses.
    warnings.filterwarnings("ignore", "No ccache found", UserWarning)
    arguments = build_parser().parse_args(argv)
    return arguments.handler(arguments)


if __name__ == "__main__":
    sys.exit(main())
