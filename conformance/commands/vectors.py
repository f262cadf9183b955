"""``lstm-parity vectors`` and ``lstm-parity check-vectors``: the case table as language-neutral
test vectors, and the judge of what another program computed from them (:mod:`conformance.porting.vectors`).

``vectors --depth quick|full -o DIR [--case ID ...]`` writes the vectors (DIR must not exist;
it appears whole or not at all). ``check-vectors DIR RESULTS`` prints one line per array that
failed and a count; exit status 0 when every array passed, 1 when some did not, 2 for bad
arguments or a directory that is not this format.
"""

from __future__ import annotations

import sys
from pathlib import Path

from conformance.cases.table import Case
from conformance.cases.depth import DEPTHS
from conformance.outputs import check_creatable_directory, one_line
from conformance.porting.vectors import VectorsError, check_vectors, write_vectors

USAGE_ERROR = 2


def checked_arguments(arguments) -> tuple[Path, tuple[str, ...]]:
    """The output directory and case ids of ``vectors``, checked before anything is computed."""
    out = Path(arguments.out)
    if out.exists() or out.is_symlink():
        raise ValueError(f"-o: expected a directory that does not exist yet, got {str(out)!r}, which exists")
    check_creatable_directory("-o", out.parent)
    for case_id in arguments.case:
        try:
            Case.from_id(case_id)
        except ValueError as error:
            raise ValueError(f"--case: {error}") from None
        if arguments.case.count(case_id) > 1:
            raise ValueError(f"--case: expected each case id once, got {case_id!r} twice")
    return out, tuple(arguments.case)


def vectors(arguments) -> int:
    """Write the vectors; 2 with a one-line message for a bad argument."""
    try:
        out, case_ids = checked_arguments(arguments)
        written = write_vectors(arguments.depth, out, case_ids)
    except (ValueError, OSError) as error:
        print(f"lstm-parity vectors: {one_line(error)}", file=sys.stderr)
        return USAGE_ERROR
    print(f"lstm-parity vectors: wrote {len(written)} cases into {out}")
    return 0


def check(arguments) -> int:
    """Judge the results; 0 when all passed, 1 when some did not, 2 when unreadable."""
    try:
        verdicts = check_vectors(Path(arguments.vectors), Path(arguments.results))
    except VectorsError as error:
        print(f"lstm-parity check-vectors: {one_line(error)}", file=sys.stderr)
        return USAGE_ERROR
    failed = [verdict for verdict in verdicts if not verdict.passed]
    for verdict in failed:
        print(f"FAIL {verdict.case} {verdict.name}: {verdict.problem}")
    cases = len({verdict.case for verdict in verdicts})
    failed_cases = len({verdict.case for verdict in failed})
    print(f"{len(verdicts) - len(failed)} of {len(verdicts)} arrays passed; {cases - failed_cases} of {cases} cases passed")
    return 1 if failed else 0


def add_vectors_parsers(commands) -> None:
    """The ``vectors`` and ``check-vectors`` subcommands on ``lstm-parity``'s subparsers."""
    parser = commands.add_parser("vectors", help="write the case table as language-neutral test vectors (.npy and JSON)")
    parser.add_argument("--depth", choices=tuple(DEPTHS), default="quick", help="which table: the depth's covering design (default: quick)")
    parser.add_argument("-o", "--out", required=True, metavar="DIR", help="the directory to create")
    parser.add_argument("--case", action="append", default=[], metavar="ID", help="only this case (repeatable)")
    parser.set_defaults(handler=vectors)
    judge = commands.add_parser("check-vectors", help="judge results another program wrote for test vectors")
    judge.add_argument("vectors", metavar="DIR", help="a directory lstm-parity vectors wrote")
    judge.add_argument("results", metavar="RESULTS", help="a directory with <case id>/<name>.npy for each array a case returns")
    judge.set_defaults(handler=check)
