"""Bad input to every subcommand: the documented exit status, one clear line (at most 3),
no traceback, and nothing written, changed or deleted.

Each row names a command with ``{...}`` fields filled from files made in a fresh folder
(:func:`bad_input_files`); the whole folder is compared byte for byte before and after,
so a command that writes, overwrites or deletes anything there fails its row.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conformance.commands.cli import main
from conformance.outputs import MESSAGE_CHARACTERS, one_line
from tests.conformance.test_cli import small_document

USAGE, MAX_LINES = 2, 3
CASE_ID = "L1-bidir-tm-none-h0-P0-bias-nopeep-noclip-std-f64-H13-typ-cpu"


@dataclass(frozen=True)
class BadInput:
    """A command line (fields in braces name the prepared files) and the line it must print."""

    arguments: str
    message: str
    status: int = USAGE


MATRICES = {
    "escape": '[[framework]]\npackage = "x"\nversions = ["1/../../../victim"]\nbackends = ["torch"]',
    "spaces": '[[framework]]\npackage = "x y"\nversions = ["1"]\nbackends = ["torch"]',
    "backend": '[[framework]]\npackage = "x"\nversions = ["1"]\nbackends = ["tourch"]',
    "broken": "[[framework]\n",
    "option": '[[framework]]\npackage = "x"\nversions = ["1"]\nbackends = ["torch"]\nwith = ["--target=/tmp"]',
    "valid": '[[framework]]\npackage = "x"\nversions = ["1"]\nbackends = ["torch"]',
    "no_versions": '[[framework]]\npackage = "x"\nversions = []\nbackends = ["torch"]',
    "no_backends": '[[framework]]\npackage = "x"\nversions = ["1"]\nbackends = []',
    "twice": '[[framework]]\npackage = "x"\nversions = ["1", "1"]\nbackends = ["torch"]',
    "reference": '[[framework]]\npackage = "x"\nversions = ["1"]\nbackends = ["os:path"]',
}

ROWS = [
    # convert
    BadInput("convert {missing}.pt --from torch --to paddle -o {dir}/out.pdparams", "path: expected an existing file"),
    BadInput("convert {text}.pt --from torch --to paddle -o {dir}/out.pdparams", "path: expected a readable torch file"),
    BadInput("convert {text}.pdparams --from paddle --to torch -o {dir}/out.pt", "path: expected a Paddle state dict"),
    BadInput("convert {text}.npz --from torch --to paddle -o {dir}/out.pdparams", "path: expected a readable numpy file"),
    BadInput("convert {text}.onnx --from onnxruntime --to torch -o {dir}/out.pt", "path: expected a readable onnx file"),
    BadInput("convert {text}.keras --from keras-torch --to torch -o {dir}/out.pt", "path: expected a readable keras file"),
    BadInput("convert {source} --from tourch --to paddle -o {dir}/out.pdparams", "adapter: expected one of .* got 'tourch'"),
    BadInput("convert {source} --from torch --to torch -o {source}", "--output: expected a path that is not one of the inputs"),
    BadInput("convert {source} --from torch --to paddle -o {file}/out.pdparams", "--output: expected a directory that exists or can be created"),
    BadInput("convert {source} --from torch --to paddle -o {dir}/out.txt", "path: expected a file ending in"),
    BadInput("convert {source} --from torch --to paddle -o {dir}/out.pdparams --spec layers=2", "--spec: expected FIELD=VALUE"),
    BadInput("convert {source} --from torch --to paddle -o {dir}/out.pdparams --interpreter tourch={python}", "--interpreter: expected NAME one of the backends run \\(torch, paddle\\), got 'tourch'"),
    BadInput("convert {source} --from torch --to paddle -o {dir}/out.pdparams --interpreter torch=/bin/false", "--interpreter: expected a Python 3 interpreter for 'torch'"),
    BadInput("convert {source} --from torch --to paddle -o {dir}/missing.pdparams --check-only", "path: expected an existing file"),
    BadInput("convert {source} --from torch --to paddle -o {dir}/out.pdparams --output-prefix x.", "--output-prefix: expected only with --check-only"),
    BadInput("convert {source} --from torch --to paddle -o /proc/nope/out.pdparams", "--output: expected a writable directory, got '/proc/nope', but nothing can be created in '/proc'"),
    # run: refused before the last run's files are touched
    BadInput("run --backend nosuch --out {out}", "adapter: expected one of .* got 'nosuch'"),
    BadInput("run --backend torch --out {out} -n -1", "-n: expected auto, logical or a number of workers >= 0, got '-1'"),
    BadInput("run --backend torch --out {out} --interpreter tourch={python}", "--interpreter: expected NAME one of the backends run \\(torch\\), got 'tourch'"),
    BadInput("run --backend torch --out {out} --interpreter torch=/bin/false", "--interpreter: expected a Python 3 interpreter"),
    BadInput("run --backend torch --out {out} --shard 0/2", "--shard: expected K/N with 1 <= K <= N, got '0/2'"),
    BadInput("run --backend torch --out {file}", "--out: expected a directory, got .*, which is a file"),
    BadInput("run --adapter no.such.module:Adapter --out {out}", "no.such.module"),
    BadInput("run --backend torch --out /proc/nope", "--out: expected a writable directory"),
    # pytest refuses the option: no records, and not even the output folder is made
    BadInput("run --backend torch --out {dir}/new -n 0 -- --case garbage", "pytest exited with status 4 and wrote no records", status=4),
    # report
    BadInput("report {missing}.json", "no such file"),
    BadInput("report {text}.json", "not JSON"),
    BadInput("report {binary}", "expected UTF-8 JSON, got a byte that is not UTF-8"),
    BadInput("report {list}", "not a parity document \\(no schema_version\\)"),
    BadInput("report {records_number}", "records: expected array, got int"),
    BadInput("report {record_string}", "records\\[0\\]: expected object, got str"),
    BadInput("report {truncated_gz}", "cannot read it"),
    BadInput("report {fake_gz}", "cannot read it"),
    BadInput("report {parity} --out {file}", "--out: expected a directory, got .*, which is a file"),
    BadInput("report {empty_run}", "run lacks started, duration_s, arguments, exit_status"),
    BadInput("report {mistyped_outcome}", "records\\[0\\].outcome: expected one of"),
    BadInput("report {deep}", "JSON nested deeper than Python parses"),
    # merge
    BadInput("merge {parity} {parity} -o {dir}/merged", "json: expected each run once, got the run of .* again"),
    BadInput("merge {parity} {parity_gz} -o {dir}/merged", "json: expected each run once"),
    BadInput("merge {parity} {other} -o {out}", "--out: expected a path that is not one of the inputs"),
    BadInput("merge {parity} {missing}.json -o {dir}/merged", "no such file"),
    BadInput("merge {parity} -o {file}", "--out: expected a directory"),
    BadInput("merge {parity} {runs_number} -o {dir}/merged", "runs: expected array, got int"),
    # scoreboard
    BadInput("scoreboard {parity} -o {dir}/board --versions-seen {parity}", "--versions-seen: expected a path that is not one of the inputs"),
    BadInput("scoreboard {parity} -o {dir}/board --matrix {text}.json", "--matrix: expected a matrix.json that lstm-parity matrix wrote"),
    BadInput("scoreboard {parity} -o {dir}/board --matrix {records_number}", "--matrix: expected a matrix.json"),
    BadInput("scoreboard {parity} -o {file}", "--out: expected a directory"),
    BadInput("scoreboard {parity} -o {dir}/board --matrix {matrix_entry}", "--matrix: expected a matrix.json .* an entry lacks package, reason, version"),
    # matrix: refused before any environment is built
    BadInput("matrix {matrix_escape} --out {dir}/matrix", "versions: expected a release .*, got '1/../../../victim'"),
    BadInput("matrix {matrix_spaces} --out {dir}/matrix", "package: expected a distribution name .*, got 'x y'"),
    BadInput("matrix {matrix_backend} --out {dir}/matrix", "backends: expected one of .* got 'tourch'"),
    BadInput("matrix {matrix_broken} --out {dir}/matrix", "cannot read it"),
    BadInput("matrix {matrix_option} --out {dir}/matrix", "with: expected requirements .* the installer would read as an option"),
    BadInput("matrix {matrix_valid} --out {dir}/matrix -n -1", "-n: expected auto, logical or a number of workers >= 0"),
    BadInput("matrix {matrix_valid} --out {file}", "--out: expected a directory"),
    BadInput("matrix {matrix_valid} --out {dir}/matrix --only y", "--only: expected a package or package==version"),
    BadInput("matrix {matrix_no_versions} --out {dir}/matrix", "versions: expected at least one entry, got none"),
    BadInput("matrix {matrix_no_backends} --out {dir}/matrix", "backends: expected at least one entry, got none"),
    BadInput("matrix {matrix_twice} --out {dir}/matrix", "versions: expected each entry once, got \\['1'\\] more than once"),
    BadInput("matrix {matrix_reference} --out {dir}/matrix", "backends: expected an adapter reference, got 'os:path'"),
    # params
    BadInput("params --input-size 3 --hidden-size 4 --num-layers 1000000", "--num-layers: expected 1 to 1000"),
    BadInput("params --input-size 3 --hidden-size 0", "hidden_size: expected an int >= 1, got 0"),
    BadInput("params --input-size 3 --hidden-size 1000000000000000000000000000000", "--hidden-size: expected at most 2147483647"),
    BadInput("params --input-size 3 --hidden-size 4 --layout nosuch", "argument --layout: invalid choice: 'nosuch'"),
    BadInput("params --input-size x --hidden-size 4", "argument --input-size: invalid int value: 'x'"),
    # vectors: refused before anything is computed or written; check-vectors: a folder that is not vectors
    BadInput(f"vectors -o {{out}} --case {CASE_ID}", "-o: expected a directory that does not exist yet"),
    BadInput(f"vectors -o {{dir}}/new --case {CASE_ID} --case {CASE_ID}", f"--case: expected each case id once, got '{CASE_ID}' twice"),
    BadInput("vectors -o {file}/new", "-o: expected a directory that exists or can be created"),
    BadInput("vectors -o {dir}/new --case L1-nothing", "--case: case_id: expected 14"),
    BadInput("check-vectors {dir} {out}", "index.json: no such file \\(expected the vectors index\\)"),
    BadInput("check-vectors {dir} {missing}", "RESULTS: expected a directory of results"),
]


def bad_input_files(folder: Path) -> dict[str, str]:
    """The files the rows name, made in ``folder``; their fields for ``str.format``."""
    from adapters.registry import load_adapter
    from reference import LSTMSpec, init_params

    document = small_document()
    text = json.dumps(document)
    files = {
        "parity": ("run/parity.json", text.encode()),
        "parity_gz": ("run/parity.json.gz", gzip.compress(text.encode(), mtime=0)),
        "other": ("out/parity.json.gz", gzip.compress(json.dumps({**document, "run": {**document["run"], "started": "2026-02-02T00:00:00+00:00"}}).encode(), mtime=0)),
        "binary": ("binary.json", b'{"schema_version": "\xff\xfe"}'),
        "list": ("list.json", b"[1, 2]"),
        "records_number": ("records.json", json.dumps({**document, "records": 5}).encode()),
        "record_string": ("record.json", json.dumps({**document, "records": ["x"]}).encode()),
        "truncated_gz": ("truncated.json.gz", gzip.compress(text.encode())[:40]),
        "fake_gz": ("fake.json.gz", text.encode()),
        "empty_run": ("empty-run.json", json.dumps({**document, "run": {}}).encode()),
        "mistyped_outcome": ("outcome.json", json.dumps({**document, "records": [{**document["records"][0], "outcome": "maybe"}]}).encode()),
        "deep": ("deep.json", b"[" * 200_000),
        "runs_number": ("runs.json", json.dumps({**document, "runs": 5}).encode()),
        "matrix_entry": ("matrix.json", json.dumps([{"status": "skipped"}]).encode()),
        "file": ("a-file", b"not a folder"),
        **{f"matrix_{name}": (f"matrix-{name}.toml", content.encode()) for name, content in MATRICES.items()},
    }
    for suffix in ("pt", "pdparams", "npz", "onnx", "keras", "json"):
        files[f"text_{suffix}"] = (f"text.{suffix}", b"hello, not a weights file\n")
    for name, (relative, content) in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(content)
    for page in ("parity.md", "parity.html"):
        (folder / "out" / page).write_text("the last run's page")
    spec = LSTMSpec(input_size=3, hidden_size=2)
    arrays = load_adapter("torch").canonical_to_backend(spec, init_params(spec, seed=0))
    np.savez(folder / "source.npz", **{f"lstm.{name}": array for name, array in arrays.items()})
    fields = {name: str(folder / relative) for name, (relative, _) in files.items()}
    fields["text"] = str(folder / "text")
    return {**fields, "dir": str(folder), "out": str(folder / "out"), "missing": str(folder / "missing"), "source": str(folder / "source.npz"), "python": sys.executable}


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and a digest of its bytes."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.mark.parametrize("row", ROWS, ids=[row.arguments.split(" --out")[0].split(" -o ")[0][:70] for row in ROWS])
def test_a_bad_input_is_one_clear_line_and_leaves_everything_as_it_was(tmp_path, capfd, row):
    fields = bad_input_files(tmp_path)
    arguments = [part.format(**fields) for part in row.arguments.split()]
    # The fields hold no spaces (tmp_path has none), so splitting the row first is safe.
    before = snapshot(tmp_path)
    try:
        status = main(arguments)
    except SystemExit as exit:  # argparse's own usage errors
        status = exit.code
    printed = capfd.readouterr()  # the file descriptors: what a child process prints too
    lines = [line for line in (printed.out + printed.err).splitlines() if line.strip()]
    assert status == row.status, lines
    assert 1 <= len(lines) <= MAX_LINES and not any("Traceback" in line for line in lines), lines
    assert any(re.search(row.message, line) for line in lines), lines
    assert snapshot(tmp_path) == before


PLUGIN_ROWS = {
    "a case given twice": (["--backend", "torch", "--case", CASE_ID, "--case", CASE_ID], f"--case: expected each case id once, got '{CASE_ID}' twice"),
    "an interpreter for no backend of the run": (["--backend", "torch", "--interpreter", f"tourch={sys.executable}"], "--interpreter: expected NAME one of the backends run (torch), got 'tourch'"),
    "a parity JSON that cannot be written": (["--backend", "torch", "--parity-json", "{file}/parity.json"], "--parity-json: expected a directory that exists or can be created"),
}


@pytest.mark.parametrize("name", PLUGIN_ROWS)
def test_the_plugins_options_are_refused_before_anything_runs(tmp_path, name):
    arguments, message = PLUGIN_ROWS[name]
    fields = bad_input_files(tmp_path)
    before = snapshot(tmp_path)
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-p", "no:cacheprovider", "--collect-only", "-q", *(part.format(**fields) for part in arguments)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert process.returncode == 4, process.stdout[-2000:] + process.stderr[-2000:]
    assert message in process.stderr and "Traceback" not in process.stderr, process.stderr[-2000:]
    assert snapshot(tmp_path) == before


def test_a_long_message_keeps_the_argument_and_what_was_received():
    message = "adapter: expected one of " + ", ".join(f"backend{index}" for index in range(60)) + ", got 'nosuch'"
    shown = one_line(ValueError(message))
    assert len(shown) <= MESSAGE_CHARACTERS
    assert shown.startswith("adapter: expected one of backend0, ")
    assert shown.endswith(", got 'nosuch'")
    assert " ... " in shown
