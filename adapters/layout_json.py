"""Layouts declared as JSON data: a program speaking the process protocol declares its
weight layout (:class:`adapters.layouts.Layout`) in the form :func:`dataclasses.asdict`
gives one, and :func:`read_layout` reads it back, every field checked.

Example (Keras's layout)::

    {"name": "keras", "counted_as": "keras", "cells": "layer_direction",
     "gate_order": ["i", "f", "g", "o"],
     "arrays": [{"name": "{cell}.kernel", "parts": [["w_ih"]], "transposed": true},
                {"name": "{cell}.recurrent_kernel", "parts": [["w_hh"]], "transposed": true},
                {"name": "{cell}.bias", "parts": [["b_ih", "b_hh"]]}]}
"""

from __future__ import annotations

from collections.abc import Mapping

from .layouts import CANONICAL_GATES, Layout, Part, Stored


def read_layout(value: object, where: str) -> Layout:
    """A layout declared as JSON data, in the form :func:`dataclasses.asdict` gives a
    :class:`Layout` (parts as ``{"names": [...], "gate": k}``, or a bare list of names);
    TypeError/ValueError naming ``where``, the field, what it must be and what it is."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{where}: expected an object declaring a layout, got {value!r}")
    known, required = ("name", "counted_as", "cells", "gate_order", "stacks_directions", "always", "arrays"), ("name", "counted_as", "cells", "arrays")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValueError(f"{where}: expected fields among {', '.join(known)}, got {', '.join(map(repr, unknown))}")
    missing = [field_name for field_name in required if field_name not in value]
    if missing:
        raise ValueError(f"{where}: expected the fields {', '.join(required)}, got none for {', '.join(missing)}")
    if not isinstance(value["arrays"], list):
        raise TypeError(f"{where}: arrays: expected a list of arrays, got {value['arrays']!r}")
    try:
        return Layout(
            name=_text(value["name"], "name"),
            counted_as=_text(value["counted_as"], "counted_as"),
            cells=_text(value["cells"], "cells"),
            gate_order=tuple(_texts(value.get("gate_order", list(CANONICAL_GATES)), "gate_order")),
            stacks_directions=_flag(value.get("stacks_directions", False), "stacks_directions"),
            always=tuple(_texts(value.get("always", []), "always")),
            arrays=tuple(_stored(item, f"arrays[{index}]") for index, item in enumerate(value["arrays"])),
        )
    except (TypeError, ValueError) as error:
        raise type(error)(f"{where}: {error}") from None


def _stored(value: object, where: str) -> Stored:
    if not isinstance(value, Mapping) or not isinstance(value.get("parts"), list):
        raise TypeError(f"{where}: expected an object with a name and a list of parts, got {value!r}")
    unknown = sorted(set(value) - {"name", "parts", "axis", "transposed", "row"})
    if unknown:
        raise ValueError(f"{where}: expected fields among name, parts, axis, transposed, row, got {', '.join(map(repr, unknown))}")
    axis = value.get("axis", 0)
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"{where}.axis: expected 0 or 1, got {axis!r}")
    return Stored(
        name=_text(value.get("name"), f"{where}.name"),
        parts=tuple(_part(part, f"{where}.parts[{index}]") for index, part in enumerate(value["parts"])),
        axis=axis,
        transposed=_flag(value.get("transposed", False), f"{where}.transposed"),
        row=_flag(value.get("row", False), f"{where}.row"),
    )


def _part(value: object, where: str) -> Part:
    if isinstance(value, list):
        return Part(tuple(_texts(value, where)))
    if not isinstance(value, Mapping) or set(value) - {"names", "gate"}:
        raise TypeError(f"{where}: expected a list of canonical parameter names or an object of names and gate, got {value!r}")
    gate = value.get("gate")
    if gate is not None and (isinstance(gate, bool) or not isinstance(gate, int)):
        raise TypeError(f"{where}.gate: expected 0 to 3 or null, got {gate!r}")
    return Part(tuple(_texts(value.get("names"), f"{where}.names")), gate)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{where}: expected a string, got {value!r}")
    return value


def _texts(value: object, where: str) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"{where}: expected a list of strings, got {value!r}")
    return list(value)


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{where}: expected true or false, got {value!r}")
    return value
