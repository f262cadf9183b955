"""Seeds derived from case ids: stable across processes, machines and pytest-xdist workers."""

from __future__ import annotations

import hashlib


def seed_for(case_id: str) -> int:
    """A 63-bit seed from the SHA-256 of ``case_id`` (never Python's randomized ``hash``)."""
    return int.from_bytes(hashlib.sha256(case_id.encode("utf-8")).digest()[:8], "little") >> 1
