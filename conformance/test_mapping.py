"""Every backend's parameter mapping, both ways, on every spec of its own case table.

``canonical_to_backend`` then ``backend_to_canonical`` must give back the canonical
parameters exactly (a single-bias layout keeps only ``b_ih + b_hh``, so that sum is what
must come back), and ``backend_to_canonical`` then ``canonical_to_backend`` the backend's
arrays exactly: a mapping that drops, transposes or reorders anything fails here before any
run, for built-in backends and plug-ins alike.
"""

from __future__ import annotations

import numpy as np

from reference import ONE_BIAS_LAYOUTS, init_params

from .plugin import backend_pool, require_available
from .seeding import seed_for



def canonical_arrays(params, single_bias: bool) -> list[dict[str, np.ndarray]]:
    """Each cell's arrays by name; a single-bias layout's two biases as their sum ``b``."""
    cells = []
    for cell in params:
        arrays = cell.arrays()
        if single_bias and "b_ih" in arrays:
            arrays["b"] = arrays.pop("b_ih") + arrays.pop("b_hh")
        cells.append(arrays)
    return cells


def test_parameter_mapping_round_trips_exactly(backend, record, request):
    require_available(backend)
    adapter = backend.adapter
    specs = list(dict.fromkeys(case.spec for case in backend_pool(request.config).case_tables[backend.name] if backend.supports(case)))
    single_bias = adapter.parameter_layout in ONE_BIAS_LAYOUTS
    record(kind="mapping", backend=backend.name, backend_version=backend.availability.version, examples=len(specs))
    mismatches = []
    for spec in specs:
        params = init_params(spec, seed=seed_for(f"mapping:{spec}"))
        arrays = adapter.canonical_to_backend(spec, params)
        back = canonical_arrays(adapter.backend_to_canonical(spec, arrays), single_bias)
        for index, (original, returned) in enumerate(zip(canonical_arrays(params, single_bias), back)):
            if original.keys() != returned.keys() or len(back) != len(params):
                mismatches.append(f"{spec}: cell {index} comes back with {sorted(returned)}, expected {sorted(original)}")
            mismatches += [f"{spec}: cell {index} {name} changes" for name in original if name in returned and not np.array_equal(original[name], returned[name])]
        again = adapter.canonical_to_backend(spec, adapter.backend_to_canonical(spec, arrays))
        if again.keys() != arrays.keys():
            mismatches.append(f"{spec}: backend arrays {sorted(arrays)} come back as {sorted(again)}")
        mismatches += [f"{spec}: backend array {name} changes" for name in arrays if name in again and not np.array_equal(arrays[name], again[name])]
    record(examples_compared=len(specs))
    assert not mismatches, "\n".join(mismatches[:20])
