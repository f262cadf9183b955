"""Case tables made once per run and shared by pytest-xdist's workers.

Every worker collects the whole suite, and a backend's case tables take thousands of
support questions to its process, the first of which waits for its framework to import.
Under pytest-xdist the controlling process hands its workers one folder of its own
(:class:`SharedTablesFolder`). For each backend and kind of table, the first worker to
reach it makes the table, under a file lock, and writes it there with what the backend
answered on the way (its availability, its support and conventions answers); the others
read it, and ask their own backend process only what the file lacks, so a backend a
worker never runs never imports its framework there. Worker k of N starts at the k-th
N-th of the backends and goes round: the workers make different tables at the same
time, each first those of the backends its first tests run. The tables are the same
whoever makes them: a covering design is a function of the adapter's answers.

Without pytest-xdist, or where the platform has no file locks, each process makes its
own tables (:data:`NOT_SHARED`).
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

try:
    import fcntl
except ImportError:
    fcntl = None

Made = TypeVar("Made")
# The key under which a worker's input names the folder.
WORKER_INPUT_KEY = "lstm_conformance_tables"
# What pytest-xdist calls its workers: gw0, gw1, ...
WORKER_ID = re.compile(r"gw(\d+)")
# What a shared entry may be called: written by the suite itself, never from a backend's name.
ENTRY_NAME = re.compile(r"[a-z]+-\d+")


@dataclass(frozen=True)
class TableSharing:
    """Where this process shares its tables (None: nowhere), and its place among the
    ``workers`` processes that share them."""

    folder: Path | None = None
    worker: int = 0
    workers: int = 1

    @classmethod
    def of_worker(cls, worker_input: Mapping[str, object]) -> TableSharing:
        """The sharing a pytest-xdist worker's input describes (:data:`NOT_SHARED` when the
        controlling process gave no folder, the folder is not on this machine, as for a
        remote worker, or file locks are missing here)."""
        folder = worker_input.get(WORKER_INPUT_KEY)
        found = WORKER_ID.fullmatch(str(worker_input.get("workerid", "")))
        workers = int(worker_input.get("workercount", 1))
        if folder is None or found is None or fcntl is None or not Path(str(folder)).is_dir():
            return NOT_SHARED
        return cls(Path(str(folder)), int(found.group(1)) % workers, workers)

    def order(self, count: int) -> list[int]:
        """The indices of ``count`` backends in the order this process makes their tables."""
        start = self.worker * count // self.workers
        return [(start + step) % count for step in range(count)]

    def shared(self, name: str, make: Callable[[], Made]) -> Made:
        """``make()``, made by the first process that asks for ``name`` and read from the
        folder by the others (each waits while another makes it)."""
        if self.folder is None:
            return make()
        if not ENTRY_NAME.fullmatch(name):
            raise ValueError(f"name: expected a shared entry name such as 'forward-3', got {name!r}")
        path = self.folder / f"{name}.pickle"
        with open(self.folder / f"{name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if path.exists():
                # Written by another worker of this run into a folder only this user can write.
                return pickle.loads(path.read_bytes())
            made = make()
            partial = path.with_suffix(".partial")
            partial.write_bytes(pickle.dumps(made))
            os.replace(partial, path)
            return made


NOT_SHARED = TableSharing()


class SharedTablesFolder:
    """The controlling process's side: a private folder for its workers' tables, named in
    each worker's input and removed when the run ends."""

    def __init__(self) -> None:
        self.folder: str | None = None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix="lstm-conformance-tables-")
        node.workerinput[WORKER_INPUT_KEY] = self.folder

    def pytest_unconfigure(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
