"""Converting an LSTM's weights from one backend's layout to another's, through the
canonical layout, and inferring the LSTMSpec a set of a backend's arrays describes.

Every adapter takes part: conversion is ``target.canonical_to_backend(spec,
source.backend_to_canonical(spec, arrays))``, checked on both sides. Folding two biases
into a backend's one bias is exact; unfolding one bias into two puts it in ``b_ih`` and
zeros in ``b_hh`` (the sum, which is all an LSTM computes with, is unchanged). A feature
the target lacks is an error naming it. Inference is structural and needs no framework:
it asks the source adapter which arrays each candidate spec would give, and keeps the
specs whose names and shapes are exactly those given.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

import numpy as np

from reference import LSTMSpec, init_params

from adapters.base import Adapter, RunConfig

# The spec fields weights decide; activations, clips and direction order do not change them.
STRUCTURAL_FIELDS = ("input_size", "hidden_size", "num_layers", "bidirectional", "proj_size", "bias", "peepholes")
# Placeholder sizes for matching names alone: distinct, so no two sizes coincide by chance.
PLACEHOLDER_SIZES = {"input_size": 5, "hidden_size": 7, "proj_size": 3}
MAX_LAYERS = 16


def unsupported_features(adapter: Adapter, spec: LSTMSpec) -> tuple[str, ...]:
    """What ``adapter`` lacks for ``spec``'s weights (the reasons it gives, in float32 on the CPU)."""
    return tuple(adapter.unsupported(RunConfig(spec=spec, dtype="float32")))


def expected_arrays(adapter: Adapter, spec: LSTMSpec) -> dict[str, tuple[int, ...]]:
    """The names and shapes of the arrays ``adapter`` holds for ``spec``."""
    return {name: np.shape(array) for name, array in adapter.canonical_to_backend(spec, init_params(spec, 0)).items()}


def check_arrays(adapter: Adapter, spec: LSTMSpec, arrays: Mapping[str, np.ndarray], argument: str = "arrays") -> None:
    """ValueError naming the missing, unexpected and misshapen arrays, if any."""
    expected = expected_arrays(adapter, spec)
    problems = [f"missing {name} {shape}" for name, shape in expected.items() if name not in arrays]
    problems += [f"unexpected {name}" for name in arrays if name not in expected]
    problems += [
        f"{name}: expected shape {shape}, got {np.shape(arrays[name])}"
        for name, shape in expected.items()
        if name in arrays and np.shape(arrays[name]) != shape
    ]
    if problems:
        raise ValueError(f"{argument}: not the {adapter.name} arrays of {describe_spec(spec)}: " + "; ".join(problems))


def describe_spec(spec: LSTMSpec) -> str:
    return "LSTMSpec(" + ", ".join(f"{name}={getattr(spec, name)!r}" for name in STRUCTURAL_FIELDS) + ")"


def convert(arrays: Mapping[str, np.ndarray], spec: LSTMSpec, source: Adapter, target: Adapter) -> dict[str, np.ndarray]:
    """``source``'s named arrays of an LSTM described by ``spec`` as ``target``'s, float64.

    Raises ValueError when ``arrays`` are not exactly the source's arrays for ``spec``, or
    when the target lacks a feature of ``spec`` (naming it).
    """
    for role, adapter in (("source", source), ("target", target)):
        lacking = unsupported_features(adapter, spec)
        if lacking:
            raise ValueError(f"{role}: {adapter.name} cannot hold {describe_spec(spec)}: {'; '.join(lacking)}")
    check_arrays(source, spec, arrays)
    canonical = source.backend_to_canonical(spec, {name: np.asarray(array, dtype=np.float64) for name, array in arrays.items()})
    return {name: np.asarray(array, dtype=np.float64) for name, array in target.canonical_to_backend(spec, canonical).items()}


def candidate_sizes(arrays: Mapping[str, np.ndarray], differences: bool = False) -> list[int]:
    """Every size the arrays' axes could stand for: each axis length, and a quarter of it;
    with ``differences``, also the difference of two of those (an axis of I + H, as a
    kernel that stacks input and recurrent weights has)."""
    lengths = {int(length) for array in arrays.values() for length in np.shape(array)}
    sizes = lengths | {length // 4 for length in lengths if length % 4 == 0}
    if differences:
        sizes |= {one - other for one in sizes for other in sizes}
    return sorted({size for size in sizes if size > 0})


def structures(known: Mapping[str, object]) -> Iterable[dict]:
    """Layers, directions, bias, projection and peepholes, every combination ``known`` allows."""
    choices = {
        "num_layers": range(1, MAX_LAYERS + 1),
        "bidirectional": (False, True),
        "bias": (True, False),
        "peepholes": (False, True),
        "projects": (False, True),
    }
    if "proj_size" in known:
        choices["projects"] = (bool(known["proj_size"]),)
    for name in ("num_layers", "bidirectional", "bias", "peepholes"):
        if name in known:
            choices[name] = (known[name],)
    for values in itertools.product(*choices.values()):
        yield dict(zip(choices, values))


def spec_of(structure: dict, sizes: Mapping[str, int]) -> LSTMSpec | None:
    """The spec of a structure and sizes, None when the two do not make a valid spec."""
    fields_ = {name: value for name, value in structure.items() if name != "projects"}
    try:
        return LSTMSpec(**fields_, input_size=sizes["input_size"], hidden_size=sizes["hidden_size"], proj_size=sizes["proj_size"] if structure["projects"] else 0)
    except ValueError:
        return None


def infer_spec(arrays: Mapping[str, np.ndarray], source: Adapter, **known) -> LSTMSpec:
    """The spec whose ``source`` arrays are exactly ``arrays`` (names and shapes).

    ``known`` fixes any of :data:`STRUCTURAL_FIELDS`. Raises ValueError when no spec fits
    (naming the closest), or when several do (naming the fields they differ in, which are
    the arguments that settle it).
    """
    unknown = set(known) - set(STRUCTURAL_FIELDS)
    if unknown:
        raise TypeError(f"known: expected fields among {', '.join(STRUCTURAL_FIELDS)}, got {', '.join(sorted(unknown))}")
    names = set(arrays)
    shapes = {name: tuple(np.shape(array)) for name, array in arrays.items()}
    placeholders = {name: known.get(name) or size for name, size in PLACEHOLDER_SIZES.items()}
    fitting_names = []
    for structure in structures(known):
        spec = spec_of(structure, placeholders)
        if spec is not None and not unsupported_features(source, spec) and set(expected_arrays(source, spec)) == names:
            fitting_names.append(structure)
    matches = []
    # Sizes read off the axes first; differences of them only where those fit no spec.
    for differences in (False, True):
        sizes = candidate_sizes(arrays, differences)
        for structure in fitting_names:
            for input_size, hidden_size, proj_size in itertools.product(
                [known["input_size"]] if "input_size" in known else sizes,
                [known["hidden_size"]] if "hidden_size" in known else sizes,
                ([known["proj_size"]] if known.get("proj_size") else sizes) if structure["projects"] else [0],
            ):
                spec = spec_of(structure, {"input_size": input_size, "hidden_size": hidden_size, "proj_size": proj_size})
                if spec is not None and not unsupported_features(source, spec) and expected_arrays(source, spec) == shapes:
                    matches.append(spec)
        if matches:
            break
    if not matches:
        hint = "its names fit no spec" if not fitting_names else "its names fit, its shapes fit no sizes"
        raise ValueError(f"arrays: no LSTMSpec gives exactly these {source.name} arrays ({hint}): {sorted(names)}")
    if len(matches) > 1:
        differing = [name for name in STRUCTURAL_FIELDS if len({getattr(spec, name) for spec in matches}) > 1]
        options = "; ".join(f"{name} could be {' or '.join(sorted({repr(getattr(spec, name)) for spec in matches}))}" for name in differing)
        raise ValueError(f"arrays: ambiguous for {source.name}: {options}; pass {', '.join(f'{name}=...' for name in differing)} to settle it")
    return matches[0]

