"""Every backend's parameter mapping, both ways, on every spec of its own case table.

``canonical_to_backend`` then ``backend_to_canonical`` must give back the canonical
parameters (a single-bias layout keeps only ``b_ih + b_hh``, so that sum is what must
come back), and ``backend_to_canonical`` then ``canonical_to_backend`` the backend's
arrays. Arrays a layout only moves (weights, and biases without an offset) must come back
exactly; biases a layout computes with a declared parameter offset (:mod:`adapters.offsets`:
the stored forget bias is the canonical one minus the offset) may differ by one float64
rounding each way. Every mismatch is given with its magnitude. Then the offset probe
(:mod:`conformance.probes.offsets`) runs the backend once to measure what it adds to the
forget gate's bias beyond the mapping: a mapping that leaves an offset fails with it.
A mapping that drops, transposes or reorders anything fails here before any run, for
built-in backends and plug-ins alike.
"""

from __future__ import annotations

import numpy as np

from adapters.offsets import declared_offsets
from reference import ONE_BIAS_LAYOUTS, init_params

from conformance.probes.offsets import measure_forget_offset
from conformance.plugin import backend_pool, require_available
from conformance.cases.seeding import seed_for

# A float64 rounding is at most 2^-53 of the value rounded: storing b - d and adding d back
# rounds twice, by at most 2^-53 (|b - d| + |b|) <= 2^-53 (2 |b| + |d|).
UNIT_ROUNDOFF = 2.0**-53


def canonical_arrays(params, single_bias: bool) -> list[dict[str, np.ndarray]]:
    """Each cell's arrays by name; a single-bias layout's two biases as their sum ``b``."""
    cells = []
    for cell in params:
        arrays = cell.arrays()
        if single_bias and "b_ih" in arrays:
            arrays["b"] = arrays.pop("b_ih") + arrays.pop("b_hh")
        cells.append(arrays)
    return cells


def change(where: str, original: np.ndarray, returned: np.ndarray, allowance: np.ndarray | float) -> str:
    """'' when ``returned`` is ``original`` within ``allowance`` (0: exactly), else the
    mismatch with its magnitude and what was allowed."""
    original, returned = np.asarray(original, dtype=np.float64), np.asarray(returned, dtype=np.float64)
    if original.shape != returned.shape:
        return f"{where} comes back with shape {returned.shape}, expected {original.shape}"
    difference = np.abs(returned - original)
    if np.all(difference <= allowance):
        return ""
    allowed = "exactly (the layout only moves it)" if np.all(np.asarray(allowance) == 0) else f"within one float64 rounding each way of its offset (up to {np.max(allowance):.3g})"
    return f"{where} changes by up to {np.max(difference):.3g} (max |value| {np.max(np.abs(original), initial=0.0):.3g}); it must come back {allowed}"


def allowance_for(name: str, original: np.ndarray, offset: float) -> np.ndarray | float:
    """What a round trip may change in array ``name``: biases computed with an offset one
    rounding each way, everything else nothing."""
    if offset and name in ("b_ih", "b_hh", "b"):
        return UNIT_ROUNDOFF * (2 * np.abs(original) + abs(offset))
    return 0.0


def test_parameter_mapping_round_trips_exactly(backend, record, request):
    require_available(backend)
    adapter = backend.adapter
    specs = list(dict.fromkeys(case.spec for case in backend_pool(request.config).case_tables[backend.name] if backend.supports(case)))
    single_bias = adapter.parameter_layout in ONE_BIAS_LAYOUTS
    offset = max((abs(value) for value in declared_offsets(adapter).values()), default=0.0)
    record(kind="mapping", backend=backend.name, backend_version=backend.availability.version, examples=len(specs))
    mismatches = []
    for spec in specs:
        params = init_params(spec, seed=seed_for(f"mapping:{spec}"))
        arrays = adapter.canonical_to_backend(spec, params)
        back = canonical_arrays(adapter.backend_to_canonical(spec, arrays), single_bias)
        for index, (original, returned) in enumerate(zip(canonical_arrays(params, single_bias), back)):
            if original.keys() != returned.keys() or len(back) != len(params):
                mismatches.append(f"{spec}: cell {index} comes back with {sorted(returned)}, expected {sorted(original)}")
            for name in original.keys() & returned.keys():
                mismatches.append(change(f"{spec}: cell {index} {name}", original[name], returned[name], allowance_for(name, original[name], offset)))
        again = adapter.canonical_to_backend(spec, adapter.backend_to_canonical(spec, arrays))
        if again.keys() != arrays.keys():
            mismatches.append(f"{spec}: backend arrays {sorted(arrays)} come back as {sorted(again)}")
        for name in arrays.keys() & again.keys():
            allowance = UNIT_ROUNDOFF * (2 * np.abs(np.asarray(arrays[name], dtype=np.float64)) + offset) if offset else 0.0
            mismatches.append(change(f"{spec}: backend array {name}", arrays[name], again[name], allowance))
    measured = measure_forget_offset(backend)
    record(examples_compared=len(specs), forget_offset={"declared": measured.declared, "residual": list(measured.residual or ()), "reason": measured.reason})
    mismatches = [mismatch for mismatch in mismatches if mismatch]
    if measured.problem:
        mismatches.append(f"offset probe: {measured.problem}")
    assert not mismatches, "\n".join(mismatches[:20])
