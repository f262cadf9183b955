"""The process protocol: any program that reads and writes ``.npy`` files is a backend.

``--adapter exec:COMMAND`` runs COMMAND (split as a shell would, run in the current
directory) as a backend; ``--adapter exec:FILE.json`` runs the program a declaration file
names. The suite starts the program once and keeps it running; it talks to it through
its standard input and output, one JSON object per line each way, and through files.
A program that exits after answering one request is simply started again for the next.
Its standard error is its own (the tail is shown when it fails).

Protocol :data:`PROTOCOL`, version :data:`PROTOCOL_VERSION`. Every request carries
``"protocol"``, ``"version"`` and ``"op"``; every reply is ``{"ok": true, ...}``, or
``{"ok": false, "error": MESSAGE}`` (the program's framework failed: a failure of the case),
or ``{"ok": false, "unsupported": [REASON, ...]}`` (a refusal: the case is skipped).

- ``{"op": "describe"}``: the reply gives ``version`` (the implementation's version, a
  string) and, unless a declaration file gives them, the declaration's fields below.
- ``{"op": "count", "spec": SPEC}``: the reply gives ``count``, the trainable parameters
  the implementation itself holds for that LSTM (SPEC as :class:`reference.LSTMSpec`'s fields).
- ``{"op": "run", "dir": FOLDER}``: FOLDER (an absolute path) holds a run as
  :mod:`adapters.exchange` writes it: ``case.json`` and its arrays, with the weights in the
  declared layout. The program writes every array of the manifest's ``returns`` as
  ``FOLDER/<name>.npy`` (any float dtype, C order), then replies ``{"ok": true}``. To a
  program that declares ``threaded_runs``, a run request may also carry ``"threads": N``:
  that run is computed on N intra-op threads, the program's other runs on its own count.

The declaration (a JSON object; the file's own fields plus ``command``):

- ``name``: the backend's name (lowercase letters, digits, ``.`` and ``-``);
- ``command`` (a file only): the program and its arguments, a list of strings, run in the
  file's folder;
- ``parameter_layout``: which :data:`reference.LAYOUTS` formula its parameter count follows;
- ``layout``: the layout it reads weights in, one of :data:`adapters.exchange.LAYOUTS`
  (default ``canonical``), or its own declared as data: an object read by
  :func:`adapters.layout_json.read_layout`, whose ``name`` then keys the manifest's weights;
  gradients are returned in the canonical layout whatever it is;
- ``supports``: what it runs, as :class:`adapters.support.Support`'s fields, each a list of
  names (``features``, ``activations``, ``dtypes``, ``directions``, ``shared_activations``; default: the classic
  LSTM in float32 and float64); it is sent nothing else, and only on the CPU;
- ``gradients``: whether it computes gradients (default false);
- ``conventions``: :mod:`adapters.conventions` it follows, name -> value, or name ->
  {direction: value} where the value depends on the direction (default: the oracle's);
- ``parameter_offsets``: constants it adds to parameters at every call (:mod:`adapters.offsets`:
  ``{"forget_gate_bias": 1.0}``), with the canonical layout only: each cell's ``b_ih`` is
  then handed over less the offset;
- ``timeout_s``: how long one request may take before the program is killed, with every
  process it started (it runs in a process group of its own), and the case fails
  (default :data:`DEFAULT_TIMEOUT_S`);
- ``costly_runs``: each run takes seconds (see :func:`adapters.base.has_costly_runs`);
- ``fixed_thread_count``: why no thread setting reaches the implementation, a sentence (see
  :func:`adapters.base.fixed_thread_count`); by default the program gets the usual thread
  variables (``OMP_NUM_THREADS`` and others) and is taken to follow them;
- ``threaded_runs``: whether one run can be computed on a thread count of its own, asked
  with ``"threads"`` in its request (default false; see :func:`adapters.base.offers_threaded_runs`):
  the threads check then runs in the program already running, not in a second one.

A program that crashes, hangs past its timeout or reports an error fails that case as the
backend's failure (:class:`adapters.errors.BackendFailure`); one that answers outside the
protocol (a line that is not JSON, a missing, unreadable or mis-shaped array) fails it as
an adapter error, its protocol side being its adapter. Either way the run goes on, and the
next request starts the program again if it is gone.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from reference import LAYOUTS as PARAMETER_LAYOUTS
from reference import (
    CellParams,
    LSTMGradients,
    LSTMInputs,
    LSTMParams,
    LSTMResult,
    LSTMSpec,
)
from reference.params import cell_param_shapes

from .base import BaseAdapter, RunConfig, RunRequest, UnsupportedCase
from .conventions import CONVENTIONS
from .errors import AdapterError, BackendFailure, describe_exit
from .offsets import FORGET_GATE_BIAS, checked_offsets
from .exchange import (
    LAYOUTS,
    MANIFEST_NAME,
    NAMED_LAYOUTS,
    cell_arrays,
    load_array,
    run_manifest,
    save_arrays,
)
from .layout_json import read_layout
from .layouts import Layout, layout_refusals, to_backend, to_canonical
from .registry import EXEC_PREFIX
from .support import DIRECTIONS, INTERFACE_VERSION, PLAIN_DTYPES, Support

PROTOCOL = "lstm-parity-exec"
PROTOCOL_VERSION = 1
DEFAULT_TIMEOUT_S = 120.0
# How much of the program's standard error a failure shows.
STDERR_TAIL = 2000
NAME = re.compile(r"[a-z0-9][a-z0-9.\-]*")
DECLARED_FIELDS = (
    "name",
    "parameter_layout",
    "layout",
    "supports",
    "gradients",
    "conventions",
    "parameter_offsets",
    "timeout_s",
    "costly_runs",
    "fixed_thread_count",
    "threaded_runs",
)
SUPPORT_FIELDS = ("features", "activations", "dtypes", "directions", "shared_activations")


@dataclass(frozen=True)
class ExecDeclaration:
    """A program's declaration (see the module docstring), read and checked."""

    name: str
    parameter_layout: str
    layout: str | Layout = "canonical"
    supports: Support = field(default_factory=Support)
    gradients: bool = False
    conventions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    parameter_offsets: Mapping[str, float] = field(default_factory=dict)
    timeout_s: float = DEFAULT_TIMEOUT_S
    costly_runs: bool = False
    fixed_thread_count: str = ""
    threaded_runs: bool = False

    @classmethod
    def read(cls, fields: Mapping[str, object], where: str) -> ExecDeclaration:
        """The declaration in ``fields``; ValueError/TypeError naming ``where``, the field,
        what it must be and what it is."""
        unknown = sorted(set(fields) - set(DECLARED_FIELDS))
        if unknown:
            raise ValueError(f"{where}: expected fields among {', '.join(DECLARED_FIELDS)}, got {', '.join(map(repr, unknown))}")
        for required in ("name", "parameter_layout"):
            if required not in fields:
                raise ValueError(f"{where}: expected a {required!r} field, got none")
        name = fields["name"]
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ValueError(f"{where}: name: expected lowercase letters, digits, '.' and '-', got {name!r}")
        parameter_layout = fields["parameter_layout"]
        if parameter_layout not in PARAMETER_LAYOUTS:
            raise ValueError(f"{where}: parameter_layout: expected one of {', '.join(PARAMETER_LAYOUTS)}, got {parameter_layout!r}")
        layout = fields.get("layout", "canonical")
        if isinstance(layout, Mapping):
            layout = read_layout(layout, f"{where}: layout")
            if layout.name in LAYOUTS:
                raise ValueError(f"{where}: layout.name: expected a name other than the named layouts' ({', '.join(LAYOUTS)}), got {layout.name!r}")
        elif layout not in LAYOUTS:
            raise ValueError(f"{where}: layout: expected one of {', '.join(LAYOUTS)} or an object declaring a layout, got {layout!r}")
        flags = {flag: fields.get(flag, False) for flag in ("gradients", "costly_runs", "threaded_runs")}
        for flag, value in flags.items():
            if not isinstance(value, bool):
                raise TypeError(f"{where}: {flag}: expected true or false, got {value!r}")
        try:
            offsets = checked_offsets(fields.get("parameter_offsets", {}))
        except (TypeError, ValueError) as error:
            raise type(error)(f"{where}: {error}") from None
        if offsets and layout != "canonical":
            raise ValueError(f"{where}: parameter_offsets: expected only with the canonical layout, got layout {layout_name(layout)!r}")
        fixed_threads = fields.get("fixed_thread_count", "")
        if not isinstance(fixed_threads, str):
            raise TypeError(f"{where}: fixed_thread_count: expected a sentence saying why no thread setting reaches it, got {fixed_threads!r}")
        timeout = fields.get("timeout_s", DEFAULT_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"{where}: timeout_s: expected a positive number of seconds, got {timeout!r}")
        return cls(
            name=name,
            parameter_layout=parameter_layout,
            layout=layout,
            supports=read_support(fields.get("supports", {}), where),
            conventions=read_conventions(fields.get("conventions", {}), where),
            parameter_offsets=offsets,
            timeout_s=float(timeout),
            fixed_thread_count=fixed_threads,
            **flags,
        )


def read_support(value: object, where: str) -> Support:
    """A declaration's ``supports`` as a :class:`Support` on the CPU."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{where}: supports: expected an object of name lists, got {value!r}")
    unknown = sorted(set(value) - set(SUPPORT_FIELDS))
    if unknown:
        raise ValueError(f"{where}: supports: expected fields among {', '.join(SUPPORT_FIELDS)}, got {', '.join(map(repr, unknown))}")
    lists = {name: value[name] for name in SUPPORT_FIELDS if name in value}
    for name, names in lists.items():
        if not isinstance(names, list):
            raise TypeError(f"{where}: supports.{name}: expected a list of names, got {names!r}")
    defaults = {"dtypes": list(PLAIN_DTYPES), "directions": ["forward"]}
    try:
        return Support(**{**defaults, **lists, "devices": ["cpu"]})
    except (TypeError, ValueError) as error:
        raise type(error)(f"{where}: {error}") from None


def read_conventions(value: object, where: str) -> dict[str, dict[str, str]]:
    """A declaration's ``conventions`` as name -> {direction: value} for every direction."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{where}: conventions: expected an object, got {value!r}")
    conventions = {}
    for name, declared in value.items():
        if name not in CONVENTIONS:
            raise ValueError(f"{where}: conventions: expected names among {', '.join(CONVENTIONS)}, got {name!r}")
        by_direction = dict(declared) if isinstance(declared, Mapping) else dict.fromkeys(DIRECTIONS, declared)
        for direction, chosen in by_direction.items():
            if direction not in DIRECTIONS:
                raise ValueError(f"{where}: conventions.{name}: expected directions among {', '.join(DIRECTIONS)}, got {direction!r}")
            if chosen not in CONVENTIONS[name][1]:
                raise ValueError(f"{where}: conventions.{name}: expected one of {', '.join(CONVENTIONS[name][1])}, got {chosen!r}")
        conventions[name] = by_direction
    return conventions


def parse_reference(reference: str) -> tuple[list[str], Path, Mapping[str, object] | None]:
    """An ``exec:`` reference as (command, the folder it runs in, the declaration file's
    fields or None when the program declares itself); ValueError for one that is not."""
    text = reference.removeprefix(EXEC_PREFIX).strip()
    if not text:
        raise ValueError(f"adapter: expected exec:COMMAND or exec:FILE.json, got {reference!r}")
    if text.endswith(".json"):
        path = Path(text).expanduser().resolve()
        try:
            fields = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"adapter: cannot read the declaration {str(path)!r} ({type(error).__name__}: {error})") from None
        if not isinstance(fields, dict):
            raise ValueError(f"adapter: expected the declaration {str(path)!r} to hold a JSON object, got {type(fields).__name__}")
        command = fields.pop("command", None)
        if not (isinstance(command, list) and command and all(isinstance(part, str) and part for part in command)):
            raise ValueError(f"{path}: command: expected a non-empty list of strings, got {command!r}")
        return command, path.parent, fields
    try:
        command = shlex.split(text)
    except ValueError as error:
        raise ValueError(f"adapter: cannot split the command {text!r} ({error})") from None
    return command, Path.cwd(), None


class ProgramFailed(BackendFailure):
    """The program crashed, hung past its timeout, or reported an error."""


class Program:
    """The running program: one JSON line out, one JSON line back."""

    def __init__(self, name: str, command: list[str], folder: Path, timeout_s: float) -> None:
        self.name, self.command, self.folder, self.timeout_s = name, command, folder, timeout_s
        self.process: subprocess.Popen | None = None
        self.pending = b""
        self.scratch = Path(tempfile.mkdtemp(prefix=f"lstm-parity-exec-{name}-"))
        self.stderr_path = self.scratch / "stderr.txt"

    def start(self) -> None:
        """Start the program (ImportError when it cannot be started at all)."""
        try:
            with open(self.stderr_path, "wb") as stderr:
                self.process = subprocess.Popen(
                    self.command, cwd=self.folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, start_new_session=True
                )
        except OSError as error:
            raise ImportError(f"cannot start {shlex.join(self.command)} in {self.folder} ({type(error).__name__}: {error})") from None
        self.pending = b""

    def stderr_tail(self) -> str:
        try:
            text = self.stderr_path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""
        return f"; its standard error ends: {text[-STDERR_TAIL:]}" if text else ""

    def stop(self) -> None:
        if self.process is None:
            return
        # The program leads its own process group (start_new_session): whatever it started,
        # a browser say, goes with it, even when the program itself has exited already.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(5)
        for stream in (self.process.stdin, self.process.stdout):
            stream.close()
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def failed(self, what: str, why: str) -> ProgramFailed:
        tail = self.stderr_tail()
        self.stop()
        return ProgramFailed(f"{self.name}: {shlex.join(self.command)} {why} while {what}{tail}")

    def ask(self, request: dict, what: str) -> dict:
        """The program's reply to ``request`` (ProgramFailed when it dies or hangs, AdapterError
        when it answers with anything but one JSON object)."""
        if self.process is None or self.process.poll() is not None:
            self.start()
        line = json.dumps({"protocol": PROTOCOL, "version": PROTOCOL_VERSION, **request}) + "\n"
        try:
            self.process.stdin.write(line.encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self.failed(what, "exited before reading the request") from None
        reply = self.read_line(what)
        try:
            value = json.loads(reply)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self.stop()
            raise self.protocol_error(f"answered {what} with a line that is not JSON: {reply[:200]!r}") from None
        if not isinstance(value, dict) or not isinstance(value.get("ok"), bool):
            raise self.protocol_error(f"answered {what} with {reply[:200]!r}, not an object with 'ok' true or false")
        return value

    def read_line(self, what: str) -> bytes:
        deadline = time.monotonic() + self.timeout_s
        stdout = self.process.stdout.fileno()
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self.failed(what, f"gave no answer within {self.timeout_s:g} s (killed)")
            if select.select([stdout], [], [], min(left, 0.5))[0]:
                chunk = os.read(stdout, 1 << 16)
                if not chunk:
                    self.process.wait(5)
                    raise self.failed(what, f"exited ({describe_exit(self.process.returncode)}) without answering")
                self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line

    def protocol_error(self, message: str) -> AdapterError:
        return AdapterError(self.name, f"exec program {shlex.join(self.command)}", "ProtocolError", message)


def expected_shapes(request: RunRequest, gradients: bool) -> dict[str, tuple[int, ...]]:
    """Every array a run returns, by name, with its shape (see :mod:`adapters.exchange`)."""
    spec, x = request.spec, np.asarray(request.x)
    batch = x.shape[0] if request.batch_first else x.shape[1]
    cells = spec.num_layers * spec.num_directions
    width = spec.num_directions * spec.output_size
    if request.last_output_only:
        outputs = (batch, width)
    else:
        outputs = (*x.shape[:2], width)
    shapes = {"outputs": outputs, "h_n": (cells, batch, spec.output_size), "c_n": (cells, batch, spec.hidden_size)}
    if gradients:
        shapes.update(grad_x=x.shape, grad_h0=shapes["h_n"], grad_c0=shapes["c_n"])
        for layer, direction in spec.cells():
            for name, shape in cell_param_shapes(spec, layer).items():
                shapes[f"grad_cell{spec.cell_index(layer, direction)}.{name}"] = shape
    return shapes


def canonical_cells(spec: LSTMSpec, arrays: Mapping[str, np.ndarray], prefix: str = "") -> LSTMParams:
    """Canonical parameters from ``{prefix}cell<k>.<name>`` arrays (the inverse of
    :func:`adapters.exchange.cell_arrays`)."""
    return tuple(
        CellParams(**{name: np.asarray(arrays[f"{prefix}cell{spec.cell_index(layer, direction)}.{name}"]) for name in cell_param_shapes(spec, layer)})
        for layer, direction in spec.cells()
    )


class ExecAdapter(BaseAdapter):
    """A program speaking the process protocol, as an adapter (see the module docstring)."""

    interface_version = INTERFACE_VERSION

    def __init__(self, reference: str) -> None:
        command, folder, declared = parse_reference(reference)
        self.reference = reference
        self.program = Program(command[0].rsplit("/", 1)[-1], command, folder, DEFAULT_TIMEOUT_S)
        self.described: dict | None = None
        if declared is None:
            self.declare(self.describe(), f"the description {shlex.join(command)} gave")
        else:
            self.declare(declared, f"declaration {reference.removeprefix(EXEC_PREFIX)}")
        self.runs = 0
        # The thread count of the run in progress, when ``run_threaded`` asked for one.
        self.run_threads: int | None = None

    def declare(self, fields: Mapping[str, object], where: str) -> None:
        self.declaration = ExecDeclaration.read({key: value for key, value in fields.items() if key in DECLARED_FIELDS}, where)
        self.name = self.program.name = self.declaration.name
        self.parameter_layout = self.declaration.parameter_layout
        self.supports = self.declaration.supports
        self.costly_runs = self.declaration.costly_runs
        self.fixed_thread_count = self.declaration.fixed_thread_count
        self.parameter_offsets = dict(self.declaration.parameter_offsets)
        self.program.timeout_s = self.declaration.timeout_s

    def describe(self) -> dict:
        """The program's description (asked once); ImportError when it cannot give one."""
        if self.described is None:
            try:
                reply = self.program.ask({"op": "describe"}, "describing itself")
            except (ProgramFailed, AdapterError) as error:
                raise ImportError(str(error)) from None
            if not reply["ok"] or not isinstance(reply.get("version"), str):
                raise ImportError(f"{shlex.join(self.program.command)} answered describe with {reply!r}, not ok with a version string")
            self.described = reply
        return self.described

    @property
    def has_gradients(self) -> bool:
        return self.declaration.gradients

    @property
    def has_threaded_runs(self) -> bool:
        return self.declaration.threaded_runs

    def run_threaded(self, request: RunRequest, count: int) -> LSTMResult:
        """``run(request)`` with ``"threads": count`` in its request, for a program that
        declares ``threaded_runs`` (TypeError for one that does not: it is never sent it)."""
        if not self.declaration.threaded_runs:
            raise TypeError(f"{self.name}: run_threaded: expected a program that declares threaded_runs, got one that does not")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count: expected a positive int, got {count!r}")
        self.run_threads = count
        try:
            return self.run(request)
        finally:
            self.run_threads = None

    def _import_version(self) -> str:
        described = self.describe()
        given = {key: described[key] for key in DECLARED_FIELDS if key in described}
        if given and ExecDeclaration.read({**asdict_fields(self.declaration), **given}, "its description") != self.declaration:
            raise ImportError(f"{self.name}: the program describes itself as {given}, which differs from its declaration")
        return described["version"]

    def conventions(self, config: RunConfig) -> dict[str, str]:
        return {name: by_direction[config.spec.direction] for name, by_direction in self.declaration.conventions.items() if config.spec.direction in by_direction}

    def weights_layout(self) -> Layout | None:
        """The layout the program reads its weights in, named or its own; None for the canonical one."""
        layout = self.declaration.layout
        return layout if isinstance(layout, Layout) else NAMED_LAYOUTS.get(layout)

    def _unsupported(self, config: RunConfig) -> list[str]:
        layout = self.weights_layout()
        refusals = layout_refusals(layout, config.spec) if layout else ()
        reasons = [f"the {layout.name} layout {self.name} reads cannot express this LSTM: {reason}" for reason in refusals]
        if self.parameter_offsets and not config.spec.bias:
            reasons.append(f"{self.name} adds a forget-gate bias offset, which an LSTM without bias has no parameter to undo")
        return reasons

    def parameter_count(self, spec: LSTMSpec) -> int:
        self.prepare_framework()
        reply = self.answer({"op": "count", "spec": asdict(spec)}, "counting parameters")
        count = reply.get("count")
        if isinstance(count, bool) or not isinstance(count, int):
            raise self.program.protocol_error(f"answered count with {reply!r}, not a whole number 'count'")
        return count

    def canonical_to_backend(self, spec: LSTMSpec, params: LSTMParams) -> dict[str, np.ndarray]:
        """The declared layout's arrays; with a forget-gate offset, each ``b_ih`` less it."""
        layout = self.weights_layout()
        arrays = to_backend(layout, spec, params) if layout else cell_arrays("", params)
        return {name: array - self.forget_offset(spec, name) for name, array in arrays.items()}

    def backend_to_canonical(self, spec: LSTMSpec, backend_params: Mapping[str, np.ndarray]) -> LSTMParams:
        layout = self.weights_layout()
        if layout:
            return to_canonical(layout, spec, backend_params)
        return canonical_cells(spec, {name: np.asarray(array) + self.forget_offset(spec, name) for name, array in backend_params.items()})

    def forget_offset(self, spec: LSTMSpec, name: str) -> np.ndarray | float:
        """What the declared forget-gate offset takes off the canonical array ``name`` (0 but for ``b_ih``)."""
        offset = self.parameter_offsets.get(FORGET_GATE_BIAS, 0.0)
        if not offset or not name.endswith(".b_ih"):
            return 0.0
        block = np.zeros(4 * spec.hidden_size)
        block[spec.hidden_size : 2 * spec.hidden_size] = offset
        return block

    def answer(self, request: dict, what: str) -> dict:
        """The program's ok reply; ProgramFailed for an error it reports, UnsupportedCase for a refusal."""
        reply = self.program.ask(request, what)
        if reply["ok"]:
            return reply
        if isinstance(reply.get("unsupported"), list) and reply["unsupported"]:
            raise UnsupportedCase(self.name, tuple(map(str, reply["unsupported"])))
        if isinstance(reply.get("error"), str):
            raise ProgramFailed(f"{self.name} reported an error while {what}: {reply['error']}")
        raise self.program.protocol_error(f"answered {what} with {reply!r}: not ok, without an 'error' message or 'unsupported' reasons")

    def exchange(self, request: RunRequest, params: LSTMParams, upstream: LSTMResult | None) -> dict[str, np.ndarray]:
        """Write the run, have the program compute it, and read back every array it returns,
        each checked for its shape and converted to float64."""
        self.runs += 1
        folder = self.program.scratch / f"run-{self.runs}"
        weights = {layout_name(self.declaration.layout): self.canonical_to_backend(request.spec, params)}
        manifest, arrays = run_manifest(request, weights, upstream)
        try:
            save_arrays(folder, arrays)
            (folder / MANIFEST_NAME).write_text(json.dumps(manifest) + "\n", encoding="utf-8")
            what = "computing gradients" if upstream is not None else "running"
            threads = {} if self.run_threads is None else {"threads": self.run_threads}
            self.answer({"op": "run", "dir": str(folder), **threads}, what)
            results = {}
            for name, shape in expected_shapes(request, upstream is not None).items():
                array, problem = load_array(folder / f"{name}.npy")
                if array is None:
                    raise self.program.protocol_error(f"answered ok while {what} but {problem}")
                if array.shape != shape or not np.issubdtype(array.dtype, np.floating):
                    raise self.program.protocol_error(f"wrote {name}.npy as {array.dtype} {array.shape}, expected floats {shape}")
                results[name] = array.astype(np.float64)
            return results
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        results = self.exchange(request, params, None)
        return LSTMResult(results["outputs"], results["h_n"], results["c_n"])

    def _gradients(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, upstream: LSTMResult) -> LSTMGradients:
        # The upstream's outputs come time-major; the program reads them in the request's layout.
        outputs = upstream.outputs.transpose(1, 0, 2) if request.batch_first else upstream.outputs
        results = self.exchange(request, params, LSTMResult(outputs, upstream.h_n, upstream.c_n))
        grads = canonical_cells(request.spec, results, "grad_")
        return LSTMGradients(x=results["grad_x"], h0=results["grad_h0"], c0=results["grad_c0"], params=grads)

    def close(self) -> None:
        """Stop the program and remove its scratch folder."""
        self.program.close()

    def __del__(self) -> None:
        program = getattr(self, "program", None)
        if program is not None:
            program.close()


def layout_name(layout: str | Layout) -> str:
    """The name a declared layout goes by (a named layout's own)."""
    return layout.name if isinstance(layout, Layout) else layout


def asdict_fields(declaration: ExecDeclaration) -> dict[str, object]:
    """A declaration back as the fields it was read from."""
    support = declaration.supports
    return {
        "name": declaration.name,
        "parameter_layout": declaration.parameter_layout,
        "layout": asdict(declaration.layout) if isinstance(declaration.layout, Layout) else declaration.layout,
        "supports": {name: sorted(getattr(support, name)) for name in SUPPORT_FIELDS},
        "gradients": declaration.gradients,
        "conventions": {name: dict(by_direction) for name, by_direction in declaration.conventions.items()},
        "parameter_offsets": dict(declaration.parameter_offsets),
        "timeout_s": declaration.timeout_s,
        "costly_runs": declaration.costly_runs,
        "fixed_thread_count": declaration.fixed_thread_count,
        "threaded_runs": declaration.threaded_runs,
    }

