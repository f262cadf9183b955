"""Telling an adapter's own mistake from its framework's error.

An exception raised while an adapter runs a request is the framework's when it comes from
the framework: the deepest frame of its traceback lies in an installed package that is
not the adapter's own, or its type is defined by such a package. Anything else (the
deepest frame in the adapter's package, in this project, or in the standard library,
with a built-in or project type), except the validation of the request in
:mod:`adapters.base` and :mod:`reference` (a ValueError or TypeError by contract), is
the adapter's own mistake: a KeyError on an
activation name it does not know, a shape it got wrong. That becomes an
:class:`AdapterError` naming where it was raised, which the suite reports apart from the
backend's differences and never diagnoses. :class:`adapters.base.UnsupportedCase` stays
what it is: a refusal.
"""

from __future__ import annotations

import signal
import sys
import sysconfig
import traceback
from pathlib import Path

import reference

from .base import UnsupportedCase

# Where installed packages live (site-packages, dist-packages), and the standard library.
INSTALLED_FOLDERS = ("site-packages", "dist-packages")
STANDARD_LIBRARY = Path(sysconfig.get_paths()["stdlib"]).resolve()
PROJECT_FOLDERS = (Path(reference.__file__).resolve().parent, Path(__file__).resolve().parent)
# Where requests are validated before an adapter's own code runs: its errors are the contract's.
VALIDATION = (Path(reference.__file__).resolve().parent, Path(__file__).resolve().parent / "base.py")


def describe_exit(exitcode: int) -> str:
    """'signal SIGSEGV (11)' or 'exit status 3'."""
    if exitcode < 0:
        try:
            return f"signal {signal.Signals(-exitcode).name} ({-exitcode})"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit status {exitcode}"


class BackendFailure(RuntimeError):
    """The backend itself failed a run: a program speaking the process protocol crashed, hung
    or reported an error (:mod:`adapters.exec_backend`). A failure of the case, never an
    adapter error, wherever it was raised."""


class AdapterError(RuntimeError):
    """An exception raised by an adapter's own code: ``location`` (file:line in function,
    the file relative to its package's parent), the original ``error_type`` and ``message``."""

    def __init__(self, backend: str, location: str, error_type: str, message: str) -> None:
        super().__init__(f"adapter error in {backend}'s adapter at {location}: {error_type}: {message}")
        self.backend = backend
        self.location = location
        self.error_type = error_type
        self.message = message

    def __reduce__(self):
        return (type(self), (self.backend, self.location, self.error_type, self.message))

    def as_record(self) -> dict[str, str]:
        return {"location": self.location, "type": self.error_type, "message": self.message[:1000]}


def adapter_folders(adapter: object) -> tuple[Path, ...]:
    """The top-level package folders of the modules that define ``adapter``'s class and its
    bases (a plug-in subclassing a built-in adapter has both), and this project's."""
    folders = set(PROJECT_FOLDERS)
    for cls in type(adapter).__mro__:
        top = sys.modules.get(cls.__module__.partition(".")[0])
        path = getattr(top, "__file__", None)
        if path:
            folders.add(Path(path).resolve().parent)
    return tuple(folders)


def within(path: Path, folders: tuple[Path, ...]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


def shown_path(path: Path, folders: tuple[Path, ...]) -> str:
    """``path`` relative to the parent of the adapter folder holding it (else its name)."""
    for folder in folders:
        if path == folder or folder in path.parents:
            return path.relative_to(folder.parent).as_posix()
    return path.name


def in_standard_library(path: Path) -> bool:
    return STANDARD_LIBRARY in path.parents and not any(part in INSTALLED_FOLDERS for part in path.parts)


def defined_by_a_framework(error_type: type, folders: tuple[Path, ...]) -> bool:
    """Whether ``error_type`` comes from an installed package other than the adapter's."""
    path = getattr(sys.modules.get(error_type.__module__), "__file__", None)
    if error_type.__module__ == "builtins" or path is None:
        return False
    path = Path(path).resolve()
    return not (within(path, folders) or in_standard_library(path))


def as_adapter_error(error: BaseException, adapter: object) -> BaseException:
    """``error`` as an :class:`AdapterError` when the adapter's own code raised it (see the
    module docstring), else ``error`` unchanged."""
    if isinstance(error, (AdapterError, BackendFailure, UnsupportedCase)) or not isinstance(error, Exception):
        return error
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return error
    deepest = Path(frames[-1].filename).resolve()
    folders = adapter_folders(adapter)
    if not (within(deepest, folders) or in_standard_library(deepest)) or defined_by_a_framework(type(error), folders):
        return error
    if within(deepest, VALIDATION):
        return error  # the request's validation (adapters.base, reference): a ValueError/TypeError by contract
    last = frames[-1]
    location = f"{shown_path(deepest, folders)}:{last.lineno} in {last.name}"
    return AdapterError(getattr(adapter, "name", "?"), location, type(error).__name__, str(error))
