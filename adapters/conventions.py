"""Conventions: what a framework defines differently from the oracle on purpose.

Some values an LSTM returns are a matter of definition, not of arithmetic, and frameworks
document different definitions. An adapter declares its framework's convention where it
differs from the oracle's with an optional method ``conventions(config) -> {name: value}``
(a name left out means the oracle's value). The suite then checks exactly the declared
convention and never calls it a deviation; the semantics table in the report shows the
value each backend was measured to follow.

- ``padded_outputs``: what each direction's output holds at the padded steps of a
  sequence shorter than the input (steps ``t >= length``):

  - ``zeros`` (the oracle's): exactly 0;
  - ``carried``: the direction's output at the step it processed just before, so the
    forward direction repeats its last valid output; where the direction has processed no
    valid step yet (the reverse direction's padded steps, every step of an empty
    sequence), 0;
  - ``carried-initial``: as ``carried``, but where no valid step has been processed yet,
    the direction's initial hidden state (of the top layer);
  - ``unspecified``: the framework does not define them; they are not compared.

- ``empty_sequence_states``: what h_n and c_n hold, in every layer and direction, for a
  sequence of length 0 (one that no step reads):

  - ``initial`` (the oracle's): the initial states (zeros where none are given), as for a
    recurrence run over no step;
  - ``zeros``: zeros, whatever the initial states.

- ``default_precision``: the precision a float32 model computes in when the backend runs it
  at its own default settings (a run with ``backend_defaults``, as a model deployed without
  settings runs; asked only of adapters declaring that feature):

  - ``float32`` (the oracle's): the model's own;
  - ``bfloat16`` or ``float16``: lowered unless told otherwise, as OpenVINO's CPU plugin
    computes in bf16 on CPUs with bfloat16 instructions.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .base import RunConfig

PADDED_OUTPUTS = "padded_outputs"
EMPTY_SEQUENCE_STATES = "empty_sequence_states"
DEFAULT_PRECISION = "default_precision"
# name -> (the oracle's value, every value an adapter may declare).
CONVENTIONS: Mapping[str, tuple[str, tuple[str, ...]]] = MappingProxyType(
    {
        PADDED_OUTPUTS: ("zeros", ("zeros", "carried", "carried-initial", "unspecified")),
        EMPTY_SEQUENCE_STATES: ("initial", ("initial", "zeros")),
        DEFAULT_PRECISION: ("float32", ("float32", "float16", "bfloat16")),
    }
)


def oracle_conventions() -> dict[str, str]:
    """Every convention at the oracle's value."""
    return {name: oracle for name, (oracle, _) in CONVENTIONS.items()}


def declared_conventions(adapter: object, config: RunConfig) -> dict[str, str]:
    """Every convention for ``config``: the adapter's declaration (its optional
    ``conventions(config)`` method) over the oracle's values. ValueError/TypeError naming
    a declaration that is not a known convention or value."""
    method = getattr(adapter, "conventions", None)
    declared = method(config) if callable(method) else {}
    if not isinstance(declared, Mapping):
        raise TypeError(f"conventions: expected a mapping of convention names to values, got {type(declared).__name__}")
    for name, value in declared.items():
        if name not in CONVENTIONS:
            raise ValueError(f"conventions: expected names among {', '.join(CONVENTIONS)}, got {name!r}")
        allowed = CONVENTIONS[name][1]
        if value not in allowed:
            raise ValueError(f"conventions[{name!r}]: expected one of {', '.join(allowed)}, got {value!r}")
    return {**oracle_conventions(), **declared}
