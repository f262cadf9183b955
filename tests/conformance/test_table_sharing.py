"""Case tables made once per run: one pytest-xdist worker makes a backend's tables, the
others read them with the answers that made them, and the tables are those each would make."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance.cases.depth import DEPTHS
from conformance.run.backends import BackendPool
from conformance.run.table_sharing import NOT_SHARED, WORKER_INPUT_KEY, SharedTablesFolder, TableSharing

from .test_suite_runs import ROOT

BACKENDS = ["adapters.example:ExampleAdapter", "tests.support.adapters:CostlyExampleAdapter"]


def test_each_worker_starts_at_its_share_of_the_backends_and_goes_round():
    orders = [TableSharing(Path("."), worker, 2).order(5) for worker in range(2)]
    assert orders == [[0, 1, 2, 3, 4], [2, 3, 4, 0, 1]]
    assert TableSharing(Path("."), 2, 3).order(3) == [2, 0, 1]


def test_a_worker_shares_only_where_the_controlling_process_gave_a_folder_it_can_reach(tmp_path):
    assert TableSharing.of_worker({"workerid": "gw1", "workercount": 2}) == NOT_SHARED
    assert TableSharing.of_worker({WORKER_INPUT_KEY: str(tmp_path), "workercount": 2}) == NOT_SHARED
    # A remote worker: the folder is on the controlling machine only.
    assert TableSharing.of_worker({WORKER_INPUT_KEY: str(tmp_path / "elsewhere"), "workerid": "gw1", "workercount": 2}) == NOT_SHARED
    assert TableSharing.of_worker({WORKER_INPUT_KEY: str(tmp_path), "workerid": "gw1", "workercount": 2}) == TableSharing(tmp_path, 1, 2)


def test_an_entry_is_made_once_and_read_after(tmp_path):
    sharing = TableSharing(tmp_path, 0, 2)
    assert sharing.shared("forward-0", lambda: ["made"]) == ["made"]

    def make_again() -> list[str]:
        raise AssertionError("made twice")

    assert sharing.shared("forward-0", make_again) == ["made"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["forward-0.lock", "forward-0.pickle"]


def test_an_entry_name_never_becomes_a_path_unchecked(tmp_path):
    with pytest.raises(ValueError, match=r"name: expected a shared entry name such as 'forward-3', got '\.\./forward-0'"):
        TableSharing(tmp_path, 0, 2).shared("../forward-0", lambda: None)


# Two processes ask for one entry at once: the second waits on the lock while the first
# makes it, then reads it.
RACE = """
import sys, time
from pathlib import Path
from types import SimpleNamespace
from conformance.run.table_sharing import TableSharing
folder = Path(sys.argv[1])

def make():
    with open(folder / "makers", "a") as makers:
        makers.write(sys.argv[2] + "\\n")
    time.sleep(1.0)
    return "made by " + sys.argv[2]

print(TableSharing(folder, int(sys.argv[2]), 2).shared("forward-7", make))
"""


def test_two_processes_asking_at_once_make_an_entry_once(tmp_path):
    processes = [
        subprocess.Popen([sys.executable, "-c", RACE, str(tmp_path), str(worker)], cwd=ROOT, stdout=subprocess.PIPE, text=True) for worker in range(2)
    ]
    answers = {process.communicate(timeout=60)[0].strip() for process in processes}
    makers = (tmp_path / "makers").read_text().split()
    assert len(makers) == 1
    assert answers == {f"made by {makers[0]}"}


def test_a_worker_reading_the_tables_asks_its_backends_nothing_and_gets_what_it_would_make(tmp_path):
    own = BackendPool(BACKENDS, isolate=False, depth=DEPTHS["quick"])
    maker = BackendPool(BACKENDS, isolate=False, depth=DEPTHS["quick"], sharing=TableSharing(tmp_path, 0, 2))
    reader = BackendPool(BACKENDS, isolate=False, depth=DEPTHS["quick"], sharing=TableSharing(tmp_path, 1, 2))
    made = (maker.case_tables, maker.gradient_case_tables)

    def asked(*arguments) -> None:
        raise AssertionError(f"a reader asked its backend {arguments}")

    for backend in reader.backends:
        backend.adapter.availability = backend.adapter.unsupported = asked
    read = (reader.case_tables, reader.gradient_case_tables)
    assert made == read == (own.case_tables, own.gradient_case_tables)
    for backend in reader.backends:
        assert backend.availability.available
        for case in read[0][backend.name]:
            assert backend.supports(case) == own.backends[reader.backends.index(backend)].supports(case)


def test_the_controlling_process_gives_every_worker_one_folder_and_removes_it_at_the_end():
    controller = SharedTablesFolder()
    workers = [SimpleNamespace(workerinput={"workerid": f"gw{index}", "workercount": 2}) for index in range(2)]
    for worker in workers:
        controller.pytest_configure_node(worker)
    folders = {worker.workerinput[WORKER_INPUT_KEY] for worker in workers}
    assert len(folders) == 1
    folder = Path(folders.pop())
    assert folder.is_dir() and oct(folder.stat().st_mode & 0o777) == "0o700"
    TableSharing.of_worker(workers[1].workerinput).shared("forward-0", lambda: "made")
    controller.pytest_unconfigure()
    assert not folder.exists()
