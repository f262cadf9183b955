"""The parity JSON's schema: its version and the JSON Schema document that describes it.

``parity.schema.json`` (next to this module) is the documented format; readers check
``schema_version`` first. Version 1 is the first published format.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("parity.schema.json")


@cache
def parity_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a parity document."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
