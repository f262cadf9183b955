"""The processes of this machine as /proc shows them (Linux): a program's children and
whatever is left of a process group."""

from __future__ import annotations

import os
import time
from pathlib import Path


def process_stats() -> list[tuple[int, str, str, int, int]]:
    """(pid, command, state, parent pid, process group) of every process."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        command, fields = stat.split(" (", 1)[1].rsplit(")", 1)
        state, parent, group = fields.split()[:3]
        found.append((int(entry), command, state, int(parent), int(group)))
    return found


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    return [entry for entry, _, _, parent, _ in process_stats() if parent == pid]


def group_members(group: int) -> list[str]:
    """The processes of process group ``group`` that have not exited, as "pid state command"."""
    return [f"{entry} {state} {command}" for entry, command, state, _, member_of in process_stats() if member_of == group and state != "Z"]


def left_in_group(group: int, wait_s: float = 10.0) -> list[str]:
    """:func:`group_members` once they are gone or after ``wait_s``: killed processes linger
    as zombies until their parents (or init) reap them."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and group_members(group):
        time.sleep(0.1)
    return group_members(group)
