"""``lstm-parity repro TARGET... [-o DIR]``: standalone reproducers, for a framework's maintainers.

A target is a registered deviation's name (its reproducer case under its first check), a
pytest node id of the suite (``conformance/test_forward_parity.py::test_forward_matches_oracle[paddle-L1-...]``),
or a case id with its backend (``paddle-L1-...``, or the case id alone with ``--backend``, which
also takes a plug-in's ``module:attribute``)
under ``--check`` (default: forward). Each becomes ``NAME.py`` and ``NAME.npz`` in DIR
(default: ``repro``): a script that needs only NumPy and the framework (see
:mod:`conformance.repro.script`). Every target is resolved before anything is written.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from adapters.registry import load_adapter

from conformance.cases.table import Case, make_data, request_for
from conformance.deviations import CHECK_TESTS, registered_deviations
from conformance.outputs import check_output_directory, one_line
from conformance.repro.payload import SCRIPT_CHECKS
from conformance.repro.script import Reproducer, standalone_source, write_reproducer

USAGE_ERROR = 2
CASE_ID_PARTS = len(Case.__dataclass_fields__)


def split_backend_case(text: str, backend: str | None) -> tuple[str, Case]:
    """``BACKEND-CASE_ID`` (or ``CASE_ID`` with ``backend``) as (backend, case)."""
    parts = text.split("-")
    prefix, case_id = "-".join(parts[:-CASE_ID_PARTS]), "-".join(parts[-CASE_ID_PARTS:])
    if len(parts) < CASE_ID_PARTS:
        raise ValueError(f"TARGET: expected a deviation name, a node id or [BACKEND-]CASE_ID, got {text!r}")
    if prefix and backend and prefix != backend:
        raise ValueError(f"--backend: expected the target's backend {prefix!r}, got {backend!r}")
    if not (prefix or backend):
        raise ValueError(f"--backend: expected a backend for the case id {text!r} (or write it BACKEND-{text})")
    return prefix or backend, Case.from_id(case_id)


def resolve(target: str, backend: str | None, check: str) -> tuple[str, Reproducer]:
    """What ``target`` names (see the module docstring): the backend's name or ``module:attribute``
    reference, and what to reproduce on it; ValueError naming what is wrong."""
    deviations = {deviation.name: deviation for deviation in registered_deviations()}
    if target in deviations:
        deviation = deviations[target]
        if deviation.checks[0] not in SCRIPT_CHECKS:
            raise ValueError(f"TARGET: {target}'s first check is {deviation.checks[0]}; standalone scripts reproduce {', '.join(SCRIPT_CHECKS)}")
        return deviation.backend, Reproducer(deviation.backend, Case.from_id(deviation.reproducer), deviation.checks[0], deviation)
    if "::" in target and target.endswith("]") and "[" in target:
        test, _, parameters = target[:-1].partition("[")
        checks = {node: name for name, node in CHECK_TESTS.items()}
        if test not in checks:
            raise ValueError(f"TARGET: expected a node id of one of {', '.join(CHECK_TESTS.values())}, got {target!r}")
        check = checks[test]
        backend_name, case = split_backend_case(parameters, backend)
    else:
        backend_name, case = split_backend_case(target, backend)
    if check not in SCRIPT_CHECKS:
        raise ValueError(f"--check: expected one of {', '.join(SCRIPT_CHECKS)}, got {check!r}")
    return backend_name, Reproducer(backend_name, case, check)


def installed_version(adapter) -> str:
    """The backend's version here ('' where it is not installed in this environment)."""
    availability = adapter.availability()
    return availability.version if availability.available else ""


def repro(arguments) -> int:
    """Write every target's script, or say in one line why not (exit status 2)."""
    out = Path(arguments.output)
    try:
        check_output_directory("-o", out)
        targets = [resolve(target, arguments.backend, arguments.check) for target in arguments.targets]
        adapters = {reference: load_adapter(reference) for reference, _ in targets}
        for adapter in adapters.values():
            standalone_source(adapter)
    except (ValueError, TypeError) as error:
        print(f"lstm-parity repro: {one_line(error)}", file=sys.stderr)
        return USAGE_ERROR
    for reference, reproducer in targets:
        adapter = adapters[reference]
        reproducer = replace(reproducer, backend=adapter.name)
        request = request_for(reproducer.case, make_data(reproducer.case))
        script = write_reproducer(reproducer, adapter, request, out, installed_version(adapter))
        print(f"wrote {script} and {script.with_suffix('.npz').name}: python {script}")
    return 0


def add_repro_parser(commands) -> None:
    """The ``repro`` subcommand on ``lstm-parity``'s subparsers."""
    parser = commands.add_parser("repro", help="write standalone reproducers (NumPy and the framework only) of deviations or cases")
    parser.add_argument("targets", nargs="+", metavar="TARGET", help="a deviation's name, a node id, or [BACKEND-]CASE_ID")
    parser.add_argument("-o", "--output", default="repro", metavar="DIR", help="where the scripts go (default: repro)")
    parser.add_argument("--backend", metavar="NAME", help="the backend of a bare case id")
    parser.add_argument("--check", default="forward", metavar="CHECK", help=f"the check of a case id: one of {', '.join(SCRIPT_CHECKS)} (default: forward)")
    parser.set_defaults(handler=repro)
