"""``lstm-parity convert``: convert an LSTM's weights between frameworks, then prove it.

    lstm-parity convert model.pt --from torch --to paddle -o model.pdparams
    lstm-parity convert model.pt --from torch --to paddle -o model.pdparams --check-only

The LSTM is found in the source file (``--prefix`` chooses among several), its spec
inferred (``--spec FIELD=VALUE`` settles an ambiguity; settings the file holds besides the
weights join it), its arrays converted under the same prefix with every other
array of the file passed through (where the target's format has a place for them: a Keras
file and an ONNX model hold the LSTM alone), in the source's dtype; formats: see
:mod:`conformance.porting.checkpoints`. Then the proof (:mod:`conformance.porting.proof`): the converted
weights against the source's, and both frameworks, each in a process of its own, against
the oracle. Every option is checked before anything is read, and the output is written
last, atomically, and only when the weights proof holds (the file is the source's LSTM):
a failed weights proof writes nothing; a proof that could not run writes it unproven.
Exit status: 0 when all agree, 1 when one does not, 3 when a side could not run (framework
not installed), 2 for bad input (one line naming the option).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from conformance.porting.checkpoints import (
    FoundLSTM,
    check_format_holds,
    checkpoint_format,
    find_lstm,
    holds_other_arrays,
    is_directory_format,
    keeps_names,
    read_checkpoint,
    with_aliases,
    write_checkpoint,
)
from conformance.porting.conversion import STRUCTURAL_FIELDS, convert, describe_spec
from adapters.registry import load_adapter

from conformance.run.isolation import IsolatedAdapter, parse_interpreters
from conformance.outputs import check_not_an_input, check_output_directory, check_output_file, one_line, write_atomically
from conformance.porting.proof import prove_conversion

USAGE_ERROR, MISMATCH, UNPROVEN = 2, 1, 3


def parse_known(settings: list[str]) -> dict[str, object]:
    """``FIELD=VALUE`` settings of structural spec fields, typed (ints and true/false)."""
    known: dict[str, object] = {}
    for setting in settings:
        field, _, value = setting.partition("=")
        if field not in STRUCTURAL_FIELDS or not value:
            raise ValueError(f"--spec: expected FIELD=VALUE with FIELD one of {', '.join(STRUCTURAL_FIELDS)}, got {setting!r}")
        if value.lower() in ("true", "false"):
            known[field] = value.lower() == "true"
        elif value.isdigit():
            known[field] = int(value)
        else:
            raise ValueError(f"--spec: expected an integer or true/false for {field}, got {value!r}")
    return known


def check_arguments(arguments: argparse.Namespace) -> dict[str, str]:
    """Every option checked before anything is read, run or written: the backends, the
    interpreters (for the two sides only), the ``--spec`` settings, the output's format and
    path (not the source, writable; an Orbax directory is written where nothing is yet).
    Returns the interpreters by backend; ValueError naming the option otherwise."""
    sides = (arguments.source_backend, arguments.target_backend)
    for side in sides:
        load_adapter(side)
    interpreters = parse_interpreters(arguments.interpreter, known=sides)
    parse_known(arguments.spec)
    if arguments.output_prefix is not None and not arguments.check_only:
        raise ValueError(f"--output-prefix: expected only with --check-only (a written file takes the source's prefix), got {arguments.output_prefix!r}")
    source, output = Path(arguments.source), Path(arguments.output)
    checkpoint_format(source)
    checkpoint_format(output)
    check_not_an_input("--output", output, [source])
    if not arguments.check_only:
        if is_directory_format(arguments.output) and output.exists():
            raise ValueError(f"--output: expected a path where nothing is yet for an Orbax checkpoint directory, got {str(output)!r}, which exists")
        if not is_directory_format(arguments.output):
            check_output_file("--output", output)
        else:
            check_output_directory("--output", output)
    return interpreters


def read_lstm(path: str, adapter, prefix: str | None, spec: list[str]) -> FoundLSTM:
    """The LSTM in the file at ``path``; a ValueError that says which ``--spec`` settings
    the arrays were read with when there were any."""
    try:
        return find_lstm(read_checkpoint(path), adapter, prefix, **parse_known(spec))
    except ValueError as error:
        if spec and str(error).startswith("arrays:"):
            raise ValueError(f"{one_line(error)} (read with --spec {' '.join(spec)}; the arrays may contradict it)") from None
        raise


def prove(found: FoundLSTM, target_arrays: dict, arguments: argparse.Namespace, interpreters: dict[str, str]) -> list:
    """The conversion's proof, each framework's side in a process of its own (two Keras
    backends cannot share one), under the Python ``--interpreter`` names for it."""
    sides = [IsolatedAdapter(reference, python=interpreters.get(reference)) for reference in (arguments.source_backend, arguments.target_backend)]
    try:
        return prove_conversion(found.spec, sides[0], found.arrays, sides[1], target_arrays)
    finally:
        for side in sides:
            side.close()


def write_output(arguments: argparse.Namespace, found: FoundLSTM, target, target_arrays: dict) -> str:
    """Write the converted checkpoint at ``--output`` atomically; the line that says what it holds."""
    stored = with_aliases(target, found.spec, target_arrays)
    others = found.others if holds_other_arrays(arguments.output) else {}
    directory = is_directory_format(arguments.output)
    contents = {**others, **{found.prefix + name: array for name, array in stored.items()}}
    write_atomically(Path(arguments.output), lambda temporary: write_checkpoint(f"{temporary}{os.sep}" if directory else temporary, contents, found.spec))
    aliases = len(stored) - len(target_arrays)
    dtype = np.result_type(*target_arrays.values())
    return (
        f"wrote {arguments.output}: {len(target_arrays)} {target.name} LSTM arrays ({dtype})"
        + (f" and {aliases} aliases of them" if aliases else "")
        + (
            f", {len(others)} other arrays passed through"
            if others or not found.others
            else f"; its format holds the LSTM alone, so the source's {len(found.others)} other arrays are not in it"
        )
    )


def convert_files(arguments: argparse.Namespace) -> int:
    """Check every option, read and convert, prove, and only then write the output (when the
    weights proof holds: the file is the source's LSTM); the exit status of the module
    docstring."""
    try:
        interpreters = check_arguments(arguments)
        source, target = load_adapter(arguments.source_backend), load_adapter(arguments.target_backend)
        found = read_lstm(arguments.source, source, arguments.prefix, arguments.spec)
        print(f"source: {source.name} LSTM under prefix {found.prefix!r}: {describe_spec(found.spec)}")
        if found.settings:
            print("  as its file sets: " + ", ".join(f"{name}={value!r}" for name, value in found.settings.items()))
        if arguments.check_only:
            prefix = arguments.output_prefix or (found.prefix if keeps_names(arguments.output) else None)
            converted = read_lstm(arguments.output, target, prefix, arguments.spec)
            if converted.spec != found.spec:
                raise ValueError(f"--output: its LSTM is {describe_spec(converted.spec)}, not the source's")
            target_arrays = converted.arrays
            print(f"target: {arguments.output} holds the {target.name} LSTM under prefix {converted.prefix!r}")
        else:
            check_format_holds(arguments.output, target, found.spec)
            dtype = np.result_type(*found.arrays.values())
            target_arrays = {name: array.astype(dtype) for name, array in convert(found.arrays, found.spec, source, target).items()}
    except (ValueError, TypeError, KeyError) as error:
        print(f"lstm-parity convert: {one_line(error)}", file=sys.stderr)
        return USAGE_ERROR
    try:
        proofs = prove(found, target_arrays, arguments, interpreters)
    except Exception as error:  # a proof that could not be made leaves the conversion unproven
        print(f"lstm-parity convert: the proof could not run ({type(error).__name__}: {one_line(error)})", file=sys.stderr)
        proofs = None
    for proof in proofs or []:
        print("\n".join(proof.describe()))
    weights_hold = proofs is not None and proofs[0].passed
    if not arguments.check_only:
        if weights_hold or proofs is None:
            try:
                print(write_output(arguments, found, target, target_arrays) + ("" if weights_hold else " (unproven)"))
            except (OSError, ValueError, TypeError) as error:
                print(f"lstm-parity convert: --output: cannot write {arguments.output!r} ({type(error).__name__}: {one_line(error)})", file=sys.stderr)
                return USAGE_ERROR
        else:
            print(f"not written: {arguments.output} (the converted weights are not the source's)")
    if proofs is None or any(proof.skipped for proof in proofs):
        print("verdict: UNPROVEN (a side could not run)")
        return UNPROVEN
    if all(proof.passed for proof in proofs):
        print("verdict: PARITY (the weights are the source's and both frameworks agree with the oracle within the suite's tolerances)")
        return 0
    failed = [proof for proof in proofs if not proof.passed]
    # The weights' proof names no deviations: when it fails, no framework bug explains it.
    explained = ", ".join(deviation for proof in failed for deviation in proof.deviations) if all(proof.deviations for proof in failed) else ""
    print("verdict: MISMATCH" + (f" from known deviations of the framework ({explained}); the weights are the source's" if explained else ""))
    return MISMATCH


def add_convert_parser(commands) -> None:
    """The ``convert`` subcommand on ``lstm-parity``'s subparsers."""
    parser = commands.add_parser("convert", help="convert an LSTM's weights between frameworks and prove parity")
    parser.add_argument("source", metavar="SOURCE_FILE", help="a weights file: .pt/.pth (torch), .pdparams (Paddle), .weights.h5/.keras (Keras), .onnx, .msgpack (Flax) or .npz")
    parser.add_argument("--from", dest="source_backend", required=True, metavar="BACKEND", help="the source file's layout (a backend name)")
    parser.add_argument("--to", dest="target_backend", required=True, metavar="BACKEND", help="the layout to write (a backend name)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="the file to write (or, with --check-only, to check)")
    parser.add_argument("--prefix", metavar="PREFIX", help="the LSTM's module prefix when the file holds several (e.g. encoder.lstm.)")
    parser.add_argument("--output-prefix", metavar="PREFIX", help="with --check-only: the LSTM's prefix in OUT (default: the source's, or found in a Keras, ONNX or Flax file)")
    parser.add_argument("--spec", action="append", default=[], metavar="FIELD=VALUE", help="fix a spec field the arrays leave ambiguous")
    parser.add_argument(
        "--interpreter", action="append", default=[], metavar="NAME=PYTHON", help="run backend NAME's side of the proof under this Python (repeatable)"
    )
    parser.add_argument("--check-only", action="store_true", help="write nothing: prove an existing pair of files")
    parser.set_defaults(handler=convert_files)
