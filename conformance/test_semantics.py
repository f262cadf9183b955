"""Each backend's semantics table, and that every backend follows the conventions it declares.

Where frameworks define a value differently on purpose, an adapter declares its
framework's convention (:mod:`adapters.conventions`) and the parity checks hold it to
exactly that. Here each row of the table is measured on the backend, and a declaration the
measurement contradicts (or a backend that follows some other convention than the
oracle's without declaring it) fails.
"""

from __future__ import annotations

import pytest

# The row of the parameter offset the backend adds to the forget gate's bias (adapters.offsets):
# its cell is the declared value, confirmed by the offset probe (the mapping check fails
# where the probe contradicts it).
OFFSET_ROW = "forget-gate bias offset the framework adds (declared; the mapping undoes it)"

from conformance.probes.offsets import measure_forget_offset
from conformance.plugin import require_available
from conformance.probes.semantics import semantics


def test_backend_follows_its_declared_conventions(backend, record):
    require_available(backend)
    measured = semantics(backend)
    if all(measurement.reason for measurement in measured.values()):
        reasons = dict.fromkeys(measurement.reason for measurement in measured.values())
        pytest.skip(f"{backend.name} unsupported: no row of the semantics table runs: {'; '.join(reasons)}")
    offset = measure_forget_offset(backend)
    record(
        kind="semantics",
        backend=backend.name,
        backend_version=backend.availability.version,
        semantics={**{situation: measurement.cell for situation, measurement in measured.items()}, OFFSET_ROW: offset.cell},
        declared={situation: measurement.declared for situation, measurement in measured.items()},
    )
    problems = [f"{situation}: {measurement.problem}" for situation, measurement in measured.items() if measurement.problem]
    assert not problems, "\n".join(problems)
