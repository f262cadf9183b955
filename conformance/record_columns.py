"""Which column of a table a parity record belongs to: one reading of the records that the
probes' tables (capabilities, semantics, power) and the report share, below both."""

from __future__ import annotations


def column(record: dict) -> str:
    """The record's backend as the report shows it: its ``shown_as`` in a merged document
    where several runs ran the backend on the same cases (``paddle [paddlepaddle-2.6.2]``),
    else the backend's name."""
    return record.get("shown_as", record["backend"])
