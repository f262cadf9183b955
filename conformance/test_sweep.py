"""A randomized sweep over the whole spec space with hypothesis, per backend.

Where the case table fixes a few shapes and values, the sweep draws any sizes, any
activation in any role, any lengths (including 0), any layout and dtype. Examples are
derandomized (the same every run, in CI and under xdist) unless ``--sweep-random`` is
given; ``--sweep-examples N`` sets how many per backend (default: the run's depth's; a
quarter of them for a backend whose runs are costly). When a backend disagrees with the
oracle, hypothesis shrinks the example to a minimal failing spec and prints it.
Known deviations are left out of the judgment, not out of the sweep.
"""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, reject, settings
from hypothesis import strategies as st

from adapters.base import RunRequest, UnsupportedCase, has_costly_runs
from reference import LSTMSpec, init_params, map_params
from reference.activations import ACTIVATIONS, activation_text
from reference.spec import DEFAULT_ACTIVATIONS

from conformance.probes.capabilities import sweep_capabilities
from conformance.cases.table import SATURATION_INPUT_STD, SATURATION_SCALE, UNBOUNDED_GATE_SCALE, is_bounded, round_to
from conformance.judge.compare import compare_quantities
from conformance.judge.location import Locator
from conformance.deviations import find_deviations
from conformance.plugin import chosen_depth, require_available
from conformance.judge.expectations import expected_forward, forward_quantities, padded_mask
from conformance.judge.tolerances import regime_scale

# Beyond this the exact values overflow float32: such a draw tests overflow, not the LSTM.
LARGEST_MEANINGFUL = 1e30
# A backend with costly runs (adapters.base.has_costly_runs) sweeps this fraction of the examples.
COSTLY_SWEEP_FRACTION = 4


@st.composite
def activation_texts(draw, names: tuple[str, ...]) -> str:
    """One of ``names``, its parameters drawn in [0.1, 1] (away from most defaults)."""
    name = draw(st.sampled_from(names))
    params = {key: draw(st.floats(0.1, 1.0)) for key in ACTIVATIONS[name].defaults}
    return activation_text(name, **params)


@st.composite
def sweep_requests(draw, able: dict[str, bool], activations: dict[str, tuple[str, ...]], dtypes: tuple[str, ...]) -> tuple[RunRequest, str]:
    """A request drawn from the features, activations and dtypes the backend takes, and its regime (typ or sat)."""
    hidden = draw(st.integers(1, 12))
    roles = {role: draw(activation_texts(names)) if len(names) > 1 and draw(st.booleans()) else default for (role, names), default in zip(activations.items(), DEFAULT_ACTIVATIONS)}
    direction = draw(st.sampled_from([name for name in ("forward", "bidirectional", "reverse") if name == "forward" or able[name]]))
    proj_size = draw(st.integers(1, hidden - 1)) if able["projection"] and hidden > 1 and draw(st.booleans()) else 0
    spec = LSTMSpec(
        input_size=draw(st.integers(1, 10)),
        hidden_size=hidden,
        num_layers=draw(st.integers(1, 3)) if able["layers"] else 1,
        bidirectional=direction == "bidirectional",
        reverse=direction == "reverse",
        proj_size=proj_size,
        bias=not (able["no_bias"] and draw(st.booleans())),
        peepholes=able["peepholes"] and draw(st.booleans()),
        input_forget=able["input_forget"] and draw(st.booleans()),
        activation_clip=draw(st.floats(0.2, 3.0)) if able["activation_clip"] and draw(st.booleans()) else None,
        cell_clip=draw(st.floats(0.1, 2.0)) if able["cell_clip"] and draw(st.booleans()) else None,
        proj_clip=draw(st.floats(0.02, 1.0)) if able["proj_clip"] and proj_size and draw(st.booleans()) else None,
        **roles,
    )
    steps, batch = draw(st.integers(1, 12)), draw(st.integers(1, 5))
    lengths = None
    if able["lengths"] and draw(st.booleans()):
        lengths = np.array(draw(st.lists(st.integers(0 if able["zero_length"] else 1, steps), min_size=batch, max_size=batch)))
    saturated = all(is_bounded(activation) for activation in roles.values()) and draw(st.booleans())
    dtype = draw(st.sampled_from(dtypes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = SATURATION_SCALE if saturated else 1.0 if is_bounded(roles["gate_activation"]) else UNBOUNDED_GATE_SCALE
    x = round_to(dtype, rng.standard_normal((steps, batch, spec.input_size)) * (SATURATION_INPUT_STD if saturated else 1.0))
    initial_states = None
    if able["initial_states"] and draw(st.booleans()):
        initial_states = tuple(
            round_to(dtype, rng.standard_normal((spec.num_cells, batch, size)))
            for size in (spec.output_size, spec.hidden_size)
        )
    batch_first = able["batch_first"] and draw(st.booleans())
    request = RunRequest(
        spec=spec,
        params=map_params(init_params(spec, seed=int(rng.integers(2**63)), scale=scale), lambda a: round_to(dtype, a)),
        x=x.transpose(1, 0, 2).copy() if batch_first else x,
        lengths=lengths,
        initial_states=initial_states,
        batch_first=batch_first,
        dtype=dtype,
    )
    return request, "sat" if saturated else "typ"


def test_random_specs_match_the_oracle(backend, request, record):
    require_available(backend)
    able, activations, dtypes = sweep_capabilities(backend)
    if not dtypes:
        pytest.skip(f"{backend.name} takes neither float32 nor float64 on a plain one-layer LSTM")
    examples = request.config.getoption("--sweep-examples")
    if examples is None:
        examples = chosen_depth(request.config).sweep_examples
    if has_costly_runs(backend.adapter):
        examples = max(1, examples // COSTLY_SWEEP_FRACTION)
    worst: dict[str, dict] = {}
    compared = []

    @settings(
        max_examples=examples,
        derandomize=not request.config.getoption("--sweep-random"),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(sweep_requests(able, activations, dtypes))
    def sweep(drawn: tuple[RunRequest, str]) -> None:
        run_request, regime = drawn
        deviations = find_deviations(backend.name, "forward", run_request, version=backend.availability.version)
        excused = set().union(*(deviation.quantities for deviation in deviations))
        assume(not backend.unsupported(run_request.config()))
        assume("run" not in excused)
        conventions = backend.conventions(run_request.config())
        expectation = expected_forward(run_request, regime_scale(regime), conventions)
        assume(all(np.abs(value).max() < LARGEST_MEANINGFUL for value in expectation.values.values() if value.size))
        note(f"spec={run_request.spec} steps={run_request.x.shape} lengths={run_request.lengths} dtype={run_request.dtype}")
        try:
            actual = backend.adapter.run(run_request)
        except UnsupportedCase:
            reject()
        steps = run_request.x.shape[1 if run_request.batch_first else 0]
        padded = padded_mask(run_request.lengths, steps, run_request.batch_first)
        locator = Locator(run_request.spec, run_request.batch_first, padded)
        comparisons = compare_quantities(forward_quantities(actual, padded, conventions["padded_outputs"]), expectation, locator)
        judged = [comparison for comparison in comparisons if comparison.quantity not in excused]
        for comparison in judged:
            previous = worst.get(comparison.quantity)
            if previous is None or comparison.max_abs_error / max(comparison.tolerance, 1e-300) > previous["ratio"]:
                worst[comparison.quantity] = {**comparison.as_record(), "ratio": comparison.max_abs_error / max(comparison.tolerance, 1e-300)}
        compared.append(run_request.spec)
        failed = [comparison.describe() for comparison in judged if not comparison.passed]
        assert not failed, "\n".join(failed)

    record(kind="sweep", backend=backend.name, backend_version=backend.availability.version, examples=examples)
    try:
        sweep()
    finally:
        record(
            examples_compared=len(compared),
            comparisons=[{key: value for key, value in entry.items() if key != "ratio"} for entry in worst.values()],
        )
