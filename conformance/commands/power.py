"""``lstm-parity power JSON... [--backend NAME] [--epsilon E]``: the suite's detection thresholds.

Reads parity JSONs (a run's, a merge's) and prints, per backend and factor level, the
smallest relative drift of outputs, states and gradients that the run's checks notice
(:mod:`conformance.judge.power`), then the blind spots: levels a backend ran where no drift up
to E (default 1e-3) is noticed. Exit status 0 without blind spots, 1 with some, 2 for bad
arguments or an unreadable file.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from conformance.outputs import one_line
from conformance.judge.power import BLIND_SPOT_EPSILON, blind_spots, power_lines, power_table
from conformance.report.files import ReportError, load_document
from conformance.report.merging import merge_documents

USAGE_ERROR = 2


def checked_epsilon(value: float) -> float:
    """``value`` when it is a relative drift in (0, 1); else ValueError naming --epsilon."""
    if not (math.isfinite(value) and 0 < value < 1):
        raise ValueError(f"--epsilon: expected a relative drift in (0, 1), got {value!r}")
    return value


def power(arguments) -> int:
    """Print the thresholds and blind spots, or say in one line why not (exit status 2)."""
    try:
        epsilon = checked_epsilon(arguments.epsilon)
        documents = [(Path(path), load_document(Path(path))) for path in arguments.json]
        document = documents[0][1] if len(documents) == 1 else merge_documents(documents)
        table = power_table(document["records"])
        unknown = sorted(set(arguments.backend) - set(table))
        if unknown:
            raise ValueError(f"--backend: expected backends with judged records in the JSON ({', '.join(table) or 'none'}), got {', '.join(unknown)}")
    except (ReportError, ValueError) as error:
        print(f"lstm-parity power: {one_line(error)}", file=sys.stderr)
        return USAGE_ERROR
    if arguments.backend:
        table = {backend: levels for backend, levels in table.items() if backend in arguments.backend}
    for line in power_lines(table, epsilon):
        print(line)
    return 1 if blind_spots(table, epsilon) else 0


def add_power_parser(commands) -> None:
    """The ``power`` subcommand on ``lstm-parity``'s subparsers."""
    parser = commands.add_parser("power", help="the smallest drift the suite notices, per backend and factor level, and its blind spots")
    parser.add_argument("json", nargs="+", metavar="JSON", help="parity.json files written by runs (or by merge)")
    parser.add_argument("--backend", action="append", default=[], metavar="NAME", help="only this backend (repeatable)")
    parser.add_argument(
        "--epsilon", type=float, default=BLIND_SPOT_EPSILON, metavar="E", help=f"the drift a level must notice (default {BLIND_SPOT_EPSILON:g})"
    )
    parser.set_defaults(handler=power)
