"""Splitting one run of the suite across machines: ``--shard K/N`` runs the K-th of N parts.

Every test belongs to exactly one shard, chosen from a hash of its group, so the split is
the same on every machine and in every process (pytest-xdist workers included) whatever
else is collected there: the tests of one (backend, case) form a group (a backend that
compiles per shape compiles a case once, in one shard), any other test is a group of its
own. Each shard's ``--parity-json`` records which shard it ran; ``lstm-parity merge``
combines the parts into one report.
"""

from __future__ import annotations

import hashlib
import re

SHARD_PATTERN = re.compile(r"(\d+)/(\d+)")


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as (K, N), 1 <= K <= N; ValueError naming the expected form otherwise."""
    match = SHARD_PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"--shard: expected K/N with whole numbers, as 2/4, got {text!r}")
    index, count = int(match[1]), int(match[2])
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"--shard: expected K/N with 1 <= K <= N, got {text!r}")
    return index, count


def shard_of(group: str, count: int) -> int:
    """The shard (1..count) that holds the tests of ``group``: a stable hash, not Python's
    salted ``hash``, so every process agrees."""
    digest = hashlib.sha256(group.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1
