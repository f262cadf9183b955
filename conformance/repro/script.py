"""Writing a standalone reproducer: a script that needs only NumPy and the framework, and its data.

The script is, in order: a docstring saying what it reproduces and how its expected values
were made; the driver (:mod:`conformance.repro.driver`); ``CASE``; the parent's part (run
the child, judge, exit), which returns before any framework is imported; then the
backend's standalone source (its adapter's ``standalone_source``, see
:mod:`adapters.standalone`), which only the child imports.
"""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from adapters.base import RunRequest
from adapters.converted import case_activations
from adapters.standalone import standalone_arrays, standalone_path

from conformance.cases.table import Case
from conformance.deviations import CHECK_TESTS, KnownDeviation
from conformance.outputs import write_atomically, write_text_atomically
from conformance.repro import driver
from conformance.repro.payload import Payload, build_payload

SCRIPT_TAIL = '''
if __name__ == "__main__" and sys.argv[1:2] != ["--child"]:
    # The parent: runs this script again as the child, judges what it wrote, and exits.
    main(CASE, None, None)

# The backend, as the child runs it (NumPy and the framework only).
{source}

if __name__ == "__main__":
    main(CASE, forward, {gradients})
'''


@dataclass(frozen=True)
class Reproducer:
    """What a standalone script reproduces: ``check`` of ``case`` on ``backend`` (the
    ``deviation`` whose reproducer it is, or None)."""

    backend: str
    case: Case
    check: str
    deviation: KnownDeviation | None = None

    @property
    def name(self) -> str:
        return self.deviation.name if self.deviation else f"{self.backend}-{self.check}-{self.case.id}"

    @property
    def node_id(self) -> str:
        return f"{CHECK_TESTS[self.check]}[{self.backend}-{self.case.id}]"


def standalone_source(adapter: object) -> str:
    """The text of the adapter's ``standalone_source`` file; ValueError when it names none."""
    path = standalone_path(adapter)
    if path is None:
        raise ValueError(
            f"backend: {adapter.name}'s adapter has no standalone_source (a file that runs its LSTM with NumPy and the "
            "framework only: see adapters/standalone), so it has no standalone reproducers"
        )
    return Path(path).read_text(encoding="utf-8")


def without_docstring(source: str) -> str:
    """``source`` without its module docstring (and ``from __future__`` imports)."""
    tree = ast.parse(source)
    lines = source.splitlines()
    skip = set()
    for node in tree.body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        if docstring or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            skip.update(range(node.lineno - 1, node.end_lineno))
    return "\n".join(line for index, line in enumerate(lines) if index not in skip).strip() + "\n"


def imported_modules(source: str, module_level: bool = False) -> list[str]:
    """The top-level modules ``source`` imports (at module level only, or anywhere), outside
    the standard library, in order."""
    names = []
    tree = ast.parse(source)
    for node in tree.body if module_level else ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name.partition(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module.partition(".")[0])
    return [name for name in dict.fromkeys(names) if name not in sys.stdlib_module_names and name != "__future__"]


def first_paragraph(source: str) -> str:
    """The first paragraph of ``source``'s module docstring, on one line."""
    docstring = ast.get_docstring(ast.parse(source)) or ""
    return " ".join(docstring.split("\n\n")[0].split())


def imports_line(source: str) -> str:
    """What the script imports besides the standard library: at module level, then inside functions."""
    everywhere, module_level = imported_modules(source), imported_modules(source, module_level=True)
    inside = [name for name in everywhere if name not in module_level]
    return " and ".join(["numpy", *(name for name in module_level if name != "numpy")]) + (f" (and, where used, {', '.join(inside)})" if inside else "")


def header(reproducer: Reproducer, adapter: object, source: str, request: RunRequest, version: str) -> str:
    """The script's docstring: what it reproduces, where it comes from, how to read it."""
    deviation = reproducer.deviation
    lines = [f"{reproducer.name}: a standalone reproducer written by lstm-parity repro; it imports {imports_line(source)} only.", ""]
    if deviation:
        lines += [f"Deviation: {deviation.summary}.", ""]
        if deviation.model:
            lines += [f"What the backend computes instead (the suite's model of it): {deviation.model.summary}.", ""]
        if deviation.upstream:
            lines += [f"Upstream: {deviation.upstream}.", ""]
        if deviation.versions_seen:
            lines += [f"Seen on {adapter.name} {', '.join(deviation.versions_seen)}.", ""]
    lines += [
        f"Backend: {adapter.name}{' ' + version if version else ''}: {first_paragraph(source)}",
        f"Case: {reproducer.case.id} ({request.dtype}, {'batch-first' if request.batch_first else 'time-major'}), check "
        f"{reproducer.check}. In the lstm-conformance suite: pytest \"{reproducer.node_id}\".",
        "",
        f"Data: {reproducer.name}.npz beside this script: each run's inputs (run<i>.*), the weights in the backend's own",
        "layout and names (weights.*) and the expected values (expected.*), every input exactly representable in "
        f"{request.dtype}.",
        "Expected values: computed in float64 by the lstm-conformance NumPy oracle (reference/forward.py and",
        "reference/backward.py: the LSTM equations, checked against a per-step textbook LSTM) for this data; parameter",
        "gradients are given in the backend's layout. Checks of the backend against itself (two runs that must agree)",
        "compare its own runs instead.",
        f"Tolerances: the suite's for {request.dtype} at this shape: a bound on the rounding error of the computation, and",
        "the measured sensitivity of the expected values to rounding their inputs (conformance/judge/tolerances.py); 0 where",
        "two runs must agree to the last bit.",
        "",
        f"Run: python {reproducer.name}.py. It runs the backend in a child process (a crash fails the run, not the script),",
        "prints each quantity's max error against its tolerance and exits 1 when "
        + ("the deviation shows, 0 when it does not." if deviation else "anything differs, 0 when nothing does."),
    ]
    return '"""' + "\n".join(lines).replace('"""', "'''").replace("\\", "/") + '\n"""\n'


def case_record(reproducer: Reproducer, request: RunRequest, payload: Payload, data_name: str) -> dict:
    spec = request.spec
    return {
        "backend": reproducer.backend,
        "deviation": reproducer.deviation.name if reproducer.deviation else "",
        "shows": sorted(reproducer.deviation.quantities) if reproducer.deviation else [],
        "data": data_name,
        "spec": asdict(spec),
        "activations": case_activations(spec),
        "dtype": request.dtype,
        "batch_first": request.batch_first,
        "device": request.device,
        "runs": payload.runs,
        "comparisons": payload.comparisons,
    }


def script_text(reproducer: Reproducer, adapter: object, request: RunRequest, payload: Payload, version: str) -> str:
    source = standalone_source(adapter)
    record = json.dumps(case_record(reproducer, request, payload, f"{reproducer.name}.npz"), indent=1)
    has_gradients = "def gradients(" in source
    return (
        header(reproducer, adapter, source, request, version)
        + "\nimport json\n"
        + without_docstring(Path(driver.__file__).read_text(encoding="utf-8"))
        + f"\n\nCASE = json.loads(r'''\n{record}\n''')\n"
        + SCRIPT_TAIL.format(source=without_docstring(source), gradients="gradients" if has_gradients else "None")
    )


def write_reproducer(reproducer: Reproducer, adapter: object, request: RunRequest, out: Path, version: str = "") -> Path:
    """Write ``<name>.py`` and ``<name>.npz`` into ``out`` (created if missing), each
    atomically, after everything is computed; returns the script's path."""
    payload = build_payload(adapter, reproducer.case, reproducer.check, request, version)
    weights = {**adapter.canonical_to_backend(request.spec, request.params), **standalone_arrays(adapter, request)}
    arrays = {**payload.arrays, **{f"weights.{name}": np.asarray(values) for name, values in weights.items()}}
    text = script_text(reproducer, adapter, request, payload, version)
    write_atomically(out / f"{reproducer.name}.npz", lambda temporary: np.savez(temporary, **arrays))
    return write_text_atomically(out / f"{reproducer.name}.py", text)

