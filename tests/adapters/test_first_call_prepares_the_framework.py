"""Some frameworks take process-wide settings that must precede their first use (Keras binds
its backend at its first import; JAX computes float64 only once x64 is enabled): a backend's
process must make them whatever its first call is, not only after ``availability``."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from conformance.cases.table import Case, make_data, request_for
from conformance.judge.expectations import oracle_forward
from conformance.run.isolation import IsolatedAdapter

# Without tanh, which Keras on JAX computes in float32 (the registered deviation
# keras-jax-float64-tanh-in-float32).
FLOAT64_CASE = "L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-keras3-f64-base-typ-cpu"


@pytest.mark.full_depth
@pytest.mark.parametrize(
    ("reference", "modules", "runs_on"),
    [("keras-jax", ("keras", "jax"), "jax"), ("keras-torch", ("keras", "torch"), "torch"), ("flax", ("flax", "jax"), "jax")],
)
def test_a_backend_whose_first_call_is_a_run_computes_on_its_framework_in_float64(reference, modules, runs_on):
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    case = Case.from_id(FLOAT64_CASE)
    request = request_for(case, make_data(case))
    adapter = IsolatedAdapter(reference)
    try:
        result = adapter.run(request)
        availability = adapter.availability()
    finally:
        adapter.close()
    assert availability.available, availability.reason
    assert f" on {runs_on} " in availability.version
    # float64 all the way: a run in float32 (JAX without x64) is off by about 1e-7.
    np.testing.assert_allclose(result.outputs, oracle_forward(request).outputs, rtol=0, atol=1e-12)
