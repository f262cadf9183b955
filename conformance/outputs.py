"""Outputs checked before anything runs, and written last and whole.

Every command that writes checks its output paths first (:func:`check_output_file`,
:func:`check_output_directory`, :func:`check_not_an_input`), so that a bad option fails
before anything is deleted, built or run; and writes each file through a temporary file
beside it that is renamed into place (:func:`write_atomically`), so that a reader never
sees half a file and a failure leaves the previous file as it was.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


# How much of an error message a one-line report keeps: a message names a file (often 100
# to 150 characters), the argument, what was expected (the list of built-in backends alone
# is 250) and what was received; of those, its last MESSAGE_END_CHARACTERS, where "got
# VALUE" stands, are always kept.
MESSAGE_CHARACTERS = 400
MESSAGE_END_CHARACTERS = 100


def one_line(error: BaseException | str) -> str:
    """An error's message on one line: its first line, at most :data:`MESSAGE_CHARACTERS`,
    a longer one with its middle elided (its start names the argument, its end what was received)."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    text = lines[0] + (" ..." if len(lines) > 1 else "")
    if len(text) <= MESSAGE_CHARACTERS:
        return text
    elision = " ... "
    head = MESSAGE_CHARACTERS - MESSAGE_END_CHARACTERS - len(elision)
    return text[:head] + elision + text[-MESSAGE_END_CHARACTERS:]


def nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_creatable_directory(argument: str, directory: Path) -> None:
    """ValueError naming ``argument`` unless ``directory`` is a writable directory or could be
    created as one (its nearest existing ancestor is a writable directory)."""
    existing = nearest_existing(directory)
    if not existing.is_dir():
        raise ValueError(f"{argument}: expected a directory that exists or can be created, got {str(directory)!r}, but {str(existing)!r} is a file")
    try:  # the only sure test: a file made and gone at once (permissions say yes in /proc)
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ValueError(f"{argument}: expected a writable directory, got {str(directory)!r}, but nothing can be created in {str(existing)!r} ({error.strerror})") from None


def check_output_directory(argument: str, directory: Path) -> None:
    """ValueError naming ``argument`` unless ``directory`` can hold the command's files."""
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{argument}: expected a directory, got {str(directory)!r}, which is a file")
    check_creatable_directory(argument, directory)


def check_output_file(argument: str, path: Path) -> None:
    """ValueError naming ``argument`` unless a file can be written at ``path``."""
    if path.is_dir():
        raise ValueError(f"{argument}: expected a file path, got {str(path)!r}, which is a directory")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{argument}: expected a writable file, got {str(path)!r}, which is read-only")
    check_creatable_directory(argument, path.parent)


def same_path(one: Path, other: Path) -> bool:
    """Whether two paths name the same file (through links too, when both exist)."""
    if one.exists() and other.exists():
        return os.path.samefile(one, other)
    return Path(os.path.abspath(one)) == Path(os.path.abspath(other))


def check_not_an_input(argument: str, output: Path, inputs: Iterable[Path]) -> None:
    """ValueError naming ``argument`` when ``output`` is one of ``inputs``."""
    for source in inputs:
        if same_path(output, source):
            raise ValueError(f"{argument}: expected a path that is not one of the inputs, got {str(output)!r}, which is the input {str(source)!r}")


def temporary_sibling(path: Path) -> Path:
    """A fresh name beside ``path`` ending in ``path``'s name (so its suffixes stay)."""
    handle, name = tempfile.mkstemp(prefix=".partial-", suffix="-" + path.name, dir=path.parent)
    os.close(handle)
    os.unlink(name)
    return Path(name)


def remove(path: Path) -> None:
    """Remove a file or directory tree if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary)`` on a temporary path beside ``path`` (created parents), then
    rename it onto ``path``; on any failure the temporary is removed and ``path`` is left as
    it was. A directory output (``write`` made one) replaces only a path that does not exist."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    try:
        write(temporary)
        if temporary.is_dir() and path.exists():
            raise ValueError(f"path: expected a path that does not exist for a directory output, got {str(path)!r}")
        os.replace(temporary, path)
    finally:
        remove(temporary)
    return path


def write_text_atomically(path: Path, text: str) -> Path:
    """``text`` written to ``path`` in UTF-8 through :func:`write_atomically`."""
    return write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def write_compressed_atomically(path: Path, text: str) -> Path:
    """``text`` in UTF-8, gzip-compressed with no timestamp (the same text always gives the
    same bytes), written to ``path`` through :func:`write_atomically`."""
    data = gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
    return write_atomically(path, lambda temporary: temporary.write_bytes(data))
