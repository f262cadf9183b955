"""The primitives each backend's LSTM is built from, probed alone (:mod:`conformance.probes.primitives`),
and every known deviation that blames a primitive blames one the probes flag (at full depth:
the JAX-based backends' probes take seconds)."""

from __future__ import annotations

import pytest

from conformance.deviations import registered_deviations
from conformance.plugin import require_available
from conformance.probes.primitives import probe_primitives


@pytest.mark.full_depth
def test_primitives_the_lstm_is_built_from(backend, record):
    require_available(backend)
    probes = probe_primitives(backend)
    record(kind="primitives", backend=backend.name, backend_version=backend.availability.version, primitives=[probe.as_record() for probe in probes])
    blaming = [
        deviation
        for deviation in registered_deviations()
        if deviation.backend == backend.name and deviation.primitive and deviation.exists_in(backend.availability.version)
    ]
    if not probes:
        assert not blaming, f"{', '.join(deviation.name for deviation in blaming)} blame primitives, but {backend.name}'s adapter offers no probe"
        pytest.skip(f"{backend.name}'s adapter offers no primitive probes (its LSTM kernel's activations are internal to it)")
    measured = {(probe.primitive, probe.dtype): probe for probe in probes}
    problems = [
        f"{deviation.name} blames {' in '.join(deviation.primitive)}, which "
        + (f"the probes do not flag ({measured[deviation.primitive].describe()})" if deviation.primitive in measured else "is not probed")
        for deviation in blaming
        if deviation.primitive not in measured or not measured[deviation.primitive].flagged
    ]
    record(examples_compared=len(probes))
    assert not problems, "\n".join(problems)
