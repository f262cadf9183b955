"""Constants a backend adds to its parameters at every call: parameter offsets.

DeepMind's Haiku (``hk.LSTM``) and Sonnet, TensorFlow's ``BasicLSTMCell`` and
``LSTMBlockCell`` (``forget_bias``) and TF.js's ``basicLSTMCell`` add a constant, 1.0
by default, to the forget gate's pre-activation at every step. The canonical LSTM has
no such constant: its forget gate sees ``b_ih + b_hh``. An adapter for such a backend
declares ``parameter_offsets = {"forget_gate_bias": 1.0}`` and maps the canonical forget
bias to the stored one minus the offset (and adds it back on the way back). The suite then:

- allows that stored bias one float64 rounding on the round trip, because the mapping
  computes it instead of moving it (``conformance/test_mapping.py``);
- measures the offset the backend adds, with a run whose gates see their biases alone, and
  fails a mapping that does not undo the declared offset, with the magnitude;
- shows each backend's declared offset in the semantics table, and the diagnosis tries
  a forgotten offset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

FORGET_GATE_BIAS = "forget_gate_bias"
# offset name -> what it adds to.
OFFSETS = {FORGET_GATE_BIAS: "the forget gate's pre-activation"}


def declared_offsets(adapter: object) -> dict[str, float]:
    """The adapter's ``parameter_offsets`` (empty when it declares none); TypeError/ValueError
    naming a declaration that is not a known offset with a finite float value."""
    return checked_offsets(getattr(adapter, "parameter_offsets", None) or {})


def checked_offsets(offsets: object) -> dict[str, float]:
    """``offsets`` as offset name -> float; TypeError/ValueError naming what is not a known
    offset with a finite float value."""
    if not isinstance(offsets, Mapping):
        raise TypeError(f"parameter_offsets: expected a mapping of offset names to floats, got {type(offsets).__name__}")
    checked = {}
    for name, value in offsets.items():
        if name not in OFFSETS:
            raise ValueError(f"parameter_offsets: expected names among {', '.join(OFFSETS)}, got {name!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"parameter_offsets[{name!r}]: expected a finite float, got {value!r}")
        checked[name] = float(value)
    return checked
