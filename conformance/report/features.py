"""The features of a case-table record: which of the LSTM's options its case exercises.

A record of the case table carries ``case`` (one value per factor of
:data:`conformance.cases.table.FACTORS`), ``spec`` (the LSTMSpec's fields) and ``dtype``;
records without a case (the sweep) have no features.
"""

from __future__ import annotations

from collections.abc import Callable

DEFAULT_ACTIVATIONS = {"gate_activation": "sigmoid", "cell_activation": "tanh", "candidate_activation": "tanh"}
# The size factor's hidden sizes start here (conformance.cases.table.LARGE_SHAPES); the table's
# other shapes stay below 40.
LARGE_HIDDEN_SIZE = 128

FEATURES: dict[str, Callable[[dict], bool]] = {
    "layers > 1": lambda record: record["spec"]["num_layers"] > 1,
    "layers > 3": lambda record: record["spec"]["num_layers"] > 3,
    "bidirectional": lambda record: record["spec"]["bidirectional"],
    "per-sequence lengths": lambda record: record["case"]["lengths"] != "none",
    "every sequence shorter than T": lambda record: record["case"]["lengths"] == "short",
    "long sequence (T >= 500)": lambda record: record["steps"] >= 500,
    "projection": lambda record: record["spec"]["proj_size"] > 0,
    "peepholes": lambda record: record["spec"]["peepholes"],
    "no bias": lambda record: not record["spec"]["bias"],
    "initial states": lambda record: record["case"]["init"] != "zero",
    "non-default activations": lambda record: any(record["spec"][role] != name for role, name in DEFAULT_ACTIVATIONS.items()),
    "saturation regime": lambda record: record["case"]["regime"] == "sat",
    "edge regime": lambda record: record["case"]["regime"] == "edge",
    "large shape (H >= 128)": lambda record: record["spec"]["hidden_size"] >= LARGE_HIDDEN_SIZE,
    "several threads": lambda record: max(record.get("threads", [1])) > 1,
    "float32": lambda record: record["dtype"] == "float32",
    "float64": lambda record: record["dtype"] == "float64",
    "bfloat16": lambda record: record["dtype"] == "bfloat16",
    "float16": lambda record: record["dtype"] == "float16",
}


def is_case_record(record: dict) -> bool:
    """Whether ``record`` ran a case of the case table (it has ``case``, ``spec`` and ``dtype``)."""
    return all(key in record for key in ("case", "spec", "dtype"))


def features_of(record: dict) -> list[str]:
    """Names of the :data:`FEATURES` the case of ``record`` (a case record) exercises, in table order."""
    return [name for name, exercised in FEATURES.items() if exercised(record)]
