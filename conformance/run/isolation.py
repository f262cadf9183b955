"""Running an adapter in a child process, so a backend that crashes takes only its case down.

:class:`IsolatedAdapter` implements the adapter interface by forwarding each call to a
child process that loaded the adapter by reference (a registry name or
``module:attribute``). Exceptions raised there come back and are raised here with
their type and message; if the child dies (segfault, abort, ``os._exit``) or hangs
past the timeout, the call raises :class:`BackendCrashed` naming the signal, and the
next call starts a fresh child.

The child may run under another Python interpreter (``python=``): a virtual environment
of its own for a framework that cannot share one with the others (MindSpore's wheel
needs NumPy 1, JAX needs NumPy 2). That child sees this project's packages and the
working directory (:func:`child_path`), everything else from its own environment; arrays cross between
NumPy 1 and 2 (:func:`receive_message` reads either's pickles).
"""

from __future__ import annotations

import atexit
import functools
import io
import os
import pickle
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

import adapters
import reference as reference_package
from adapters.base import (
    Availability,
    RunConfig,
    RunRequest,
    fixed_thread_count,
    has_costly_runs,
    offered_dtypes,
    offers_gradients,
    offers_threaded_runs,
    promises_batch_invariance,
    promises_thread_determinism,
)
from adapters.conventions import declared_conventions
from adapters.errors import as_adapter_error, describe_exit
from adapters.offsets import declared_offsets
from adapters.packages import declared_packages
from adapters.primitives import Primitive, offered_probes
from adapters.standalone import standalone_arrays, standalone_path
from adapters.registry import load_adapter
from adapters.support import declaration_of
from reference import LSTMGradients, LSTMParams, LSTMResult, LSTMSpec

_HEADER = struct.Struct("<Q")
# The variables that set the thread pools of OpenMP, MKL and OpenBLAS (torch, Paddle, NumPy).
POOL_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def thread_environment(threads: int, environment: Mapping[str, str]) -> dict[str, str]:
    """The variables that set a child's intra-op thread count to ``threads``: OpenMP's, MKL's
    and OpenBLAS's, TensorFlow's and XLA's (JAX), the latter added to any XLA flags
    ``environment`` already holds. (ONNX Runtime's sessions read OpenMP's.)"""
    count = str(threads)
    xla = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} intra_op_parallelism_threads={count}"
    return {
        **dict.fromkeys(POOL_VARIABLES, count),
        "TF_NUM_INTRAOP_THREADS": count,
        "XLA_FLAGS": f"{environment.get('XLA_FLAGS', '')} {xla}".strip(),
    }


# Several backend processes share each core (one per backend per test worker), and
# spinning thread pools starve each other there; most of the suite's cases are small.
# Children run single-threaded unless the environment already sets these.
SINGLE_THREADED = thread_environment(1, {})


def send_message(stream: BinaryIO, message: object) -> None:
    """Write one length-prefixed pickled message."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


# NumPy 2 pickles arrays by functions of numpy._core, NumPy 1 by the same of numpy.core.
NUMPY_CORE = "numpy._core" if int(np.__version__.split(".")[0]) >= 2 else "numpy.core"


class PortableUnpickler(pickle.Unpickler):
    """Unpickles what a process on the other NumPy major version pickled."""

    def find_class(self, module: str, name: str):
        for core in ("numpy._core", "numpy.core"):
            if module == core or module.startswith(core + "."):
                module = NUMPY_CORE + module[len(core) :]
                break
        return super().find_class(module, name)


def receive_message(stream: BinaryIO) -> object:
    """Read one length-prefixed pickled message (EOFError when the other side is gone)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("connection closed")
    size = _HEADER.unpack(header)[0]
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError("connection closed mid-message")
    return PortableUnpickler(io.BytesIO(payload)).load()


class BackendCrashed(RuntimeError):
    """The backend's process died or hung while running a call."""


def _portable_exception(error: BaseException) -> BaseException:
    """``error`` if it survives pickling, else a RuntimeError carrying its type and message."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


def serve(reference: str, requests: BinaryIO, replies: BinaryIO, threads: int | None = None) -> None:
    """Child process: load the adapter (and, with ``threads``, call its optional
    ``set_threads(threads)``, the framework's own setting), then answer (method, args)
    requests until EOF."""
    try:
        adapter = load_adapter(reference)
        if threads is not None and callable(getattr(adapter, "set_threads", None)):
            adapter.set_threads(threads)
        handshake = (
            adapter.name,
            adapter.parameter_layout,
            offers_gradients(adapter),
            has_costly_runs(adapter),
            offered_dtypes(adapter),
            promises_thread_determinism(adapter),
            fixed_thread_count(adapter),
            promises_batch_invariance(adapter),
            declaration_of(adapter),
            declared_offsets(adapter),
            declared_packages(adapter),
            standalone_path(adapter),
            offered_probes(adapter),
            offers_threaded_runs(adapter),
        )
    except BaseException as error:
        send_message(replies, ("raise", _portable_exception(error)))
        return
    send_message(replies, ("ok", handshake))
    while True:
        try:
            method, args = receive_message(requests)
        except EOFError:
            return
        try:
            # conventions and standalone_arrays are optional in the interface: the suite's own reading answers.
            if method == "conventions":
                value = declared_conventions(adapter, *args)
            elif method == "standalone_arrays":
                value = standalone_arrays(adapter, *args)
            elif method == "unsupported_many":
                value = [tuple(adapter.unsupported(config)) for config in args[0]]
            else:
                value = getattr(adapter, method)(*args)
            reply = ("ok", value)
        except BaseException as error:
            reply = ("raise", _portable_exception(as_adapter_error(error, adapter)))
        send_message(replies, reply)


@functools.cache
def project_packages_folder() -> str:
    """A folder holding only links to this project's packages, for children under another
    interpreter: the folder they are installed in may hold other packages (NumPy among
    them) that would shadow the child's own."""
    folder = tempfile.mkdtemp(prefix="lstm-conformance-packages-")
    atexit.register(shutil.rmtree, folder, True)
    for package in (adapters, reference_package, sys.modules[__package__]):
        os.symlink(Path(package.__file__).resolve().parent, Path(folder) / package.__name__)
    return folder


def child_path(python: str | None) -> list[str]:
    """The module search path of a child: this process's, or for another interpreter only
    this project's packages and the working directory."""
    if python is None:
        return [path for path in sys.path if path]
    return [project_packages_folder(), os.getcwd()]


# How long a --interpreter is given to say which Python it is.
INTERPRETER_CHECK_SECONDS = 60


@functools.cache
def python_major_version(python: str) -> str:
    """What ``python -c 'print(sys.version_info[0])'`` prints ('' when it fails): a Python 3
    says 3."""
    try:
        answer = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[0])"], capture_output=True, text=True, timeout=INTERPRETER_CHECK_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return answer.stdout.strip() if answer.returncode == 0 else ""


def parse_interpreters(values: list[str], known: Collection[str] | None = None) -> dict[str, str]:
    """``--interpreter NAME=PYTHON`` values as {NAME: PYTHON}; ValueError naming a malformed
    value, a NAME given twice or not among ``known`` (the backends of the command, when
    given), or a PYTHON that is not an executable Python 3."""
    interpreters = {}
    for value in values:
        name, equals, python = value.partition("=")
        if not equals or not name or not python:
            raise ValueError(f"--interpreter: expected NAME=PYTHON (a backend and a Python executable), got {value!r}")
        if known is not None and name not in known:
            raise ValueError(f"--interpreter: expected NAME one of the backends run ({', '.join(known)}), got {name!r}")
        if name in interpreters:
            raise ValueError(f"--interpreter: expected one interpreter for {name!r}, got {interpreters[name]!r} and {python!r}")
        if not (os.path.isfile(python) and os.access(python, os.X_OK)):
            raise ValueError(f"--interpreter: expected an executable Python for {name!r}, got {python!r}, which is not an executable file")
        if python_major_version(python) != "3":
            raise ValueError(f"--interpreter: expected a Python 3 interpreter for {name!r}, got {python!r}, which does not run as one")
        interpreters[name] = python
    return interpreters


class IsolatedAdapter:
    """An adapter whose every call runs in a child process (see the module docstring).

    ``threads``: the child's intra-op thread count, set through the usual environment
    variables and the adapter's ``set_threads`` (default: single-threaded unless this
    process's environment says otherwise)."""

    def __init__(self, reference: str, timeout: float = 300.0, python: str | None = None, threads: int | None = None) -> None:
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads: expected a positive int or None, got {threads!r}")
        self.reference = reference
        self.timeout = timeout
        self.python = python
        self.threads = threads
        self._process: subprocess.Popen | None = None
        self._requests: BinaryIO | None = None
        self._replies: BinaryIO | None = None
        (
            self.name,
            self.parameter_layout,
            self.has_gradients,
            self.costly_runs,
            self.dtypes,
            self.deterministic_across_threads,
            self.fixed_thread_count,
            self.batch_invariant,
            declaration,
            self.parameter_offsets,
            self.packages,
            standalone,
            self.offered_probes,
            self.has_threaded_runs,
        ) = self._start()
        # The file its standalone reproducers run it from (see adapters.standalone), when it has one.
        if standalone is not None:
            self.standalone_source = standalone
        # The child's declaration, read the same way here (see adapters.support).
        self.interface_version = declaration.interface_version
        self.supports = declaration.support if declaration.listed else None

    def _start(self) -> tuple:
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        threads = {} if self.threads is None else thread_environment(self.threads, os.environ)
        environment = {**SINGLE_THREADED, **os.environ, **threads, "PYTHONPATH": os.pathsep.join(child_path(self.python))}
        command = [self.python or sys.executable, "-m", "conformance.run.isolation", self.reference, str(to_child_read), str(from_child_write)]
        self._process = subprocess.Popen(
            command + ([] if self.threads is None else [str(self.threads)]),
            pass_fds=(to_child_read, from_child_write),
            env=environment,
        )
        os.close(to_child_read)
        os.close(from_child_write)
        self._requests = os.fdopen(to_child_write, "wb")
        self._replies = os.fdopen(from_child_read, "rb")
        return self._receive(f"loading {self.reference}")

    def _crashed(self, what: str) -> BackendCrashed:
        self._stop()
        return BackendCrashed(f"backend {self.reference!r}: its process died while {what}: {describe_exit(self._process.returncode)}")

    def _hung(self, what: str) -> BackendCrashed:
        self._stop()
        return BackendCrashed(f"backend {self.reference!r}: no answer within {self.timeout:g} s while {what}; its process was killed")

    def _receive(self, what: str):
        deadline = time.monotonic() + self.timeout
        while not select.select([self._replies], [], [], 0.05)[0]:
            if self._process.poll() is not None:
                raise self._crashed(what)
            if time.monotonic() > deadline:
                raise self._hung(what)
        try:
            status, value = receive_message(self._replies)
        except EOFError:
            self._process.wait(5)
            raise self._crashed(what) from None
        if status == "raise":
            raise value
        return value

    def _stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        if self._process is not None:
            self._process.wait(5)
        for stream in (self._requests, self._replies):
            if stream is not None:
                stream.close()
        self._requests = self._replies = None

    def _call(self, method: str, *args):
        if self._requests is None:
            self._start()
        try:
            send_message(self._requests, (method, args))
        except BrokenPipeError:
            raise self._crashed(f"receiving {method}") from None
        return self._receive(f"running {method}")

    def close(self) -> None:
        """Stop the child process."""
        self._stop()

    def availability(self) -> Availability:
        return self._call("availability")

    def unsupported(self, config: RunConfig) -> tuple[str, ...]:
        return self._call("unsupported", config)

    def unsupported_many(self, configs: list[RunConfig]) -> list[tuple[str, ...]]:
        """``unsupported`` of each config, in one call to the child (a case table asks thousands)."""
        return self._call("unsupported_many", configs)

    def parameter_count(self, spec: LSTMSpec) -> int:
        return self._call("parameter_count", spec)

    def canonical_to_backend(self, spec: LSTMSpec, params: LSTMParams) -> dict[str, np.ndarray]:
        return self._call("canonical_to_backend", spec, params)

    def backend_to_canonical(self, spec: LSTMSpec, backend_params: Mapping[str, np.ndarray]) -> LSTMParams:
        return self._call("backend_to_canonical", spec, backend_params)

    def conventions(self, config: RunConfig) -> dict[str, str]:
        """The adapter's conventions for ``config``, every one (see :mod:`adapters.conventions`)."""
        return self._call("conventions", config)

    def activation_primitive(self, name: str, x: np.ndarray, dtype: str) -> Primitive:
        return self._call("activation_primitive", name, x, dtype)

    def matmul_primitive(self, a: np.ndarray, b: np.ndarray, dtype: str) -> Primitive:
        return self._call("matmul_primitive", a, b, dtype)

    def standalone_arrays(self, request: RunRequest) -> dict[str, np.ndarray]:
        """What the adapter adds to a standalone reproducer's weights (see :mod:`adapters.standalone`)."""
        return self._call("standalone_arrays", request)

    def run(self, request: RunRequest) -> LSTMResult:
        return self._call("run", request)

    def gradients(self, request: RunRequest, upstream: LSTMResult) -> LSTMGradients:
        return self._call("gradients", request, upstream)

    def run_threaded(self, request: RunRequest, count: int) -> LSTMResult:
        """The child's ``run_threaded``: offered when ``has_threaded_runs`` (see :func:`adapters.base.offers_threaded_runs`)."""
        return self._call("run_threaded", request, count)


def main(arguments: list[str]) -> None:
    """``python -m conformance.run.isolation REFERENCE READ_FD WRITE_FD [THREADS]``: serve one adapter."""
    reference, read_fd, write_fd, *threads = arguments
    with os.fdopen(int(read_fd), "rb") as requests, os.fdopen(int(write_fd), "wb") as replies:
        serve(reference, requests, replies, int(threads[0]) if threads else None)


if __name__ == "__main__":
    main(sys.argv[1:])
