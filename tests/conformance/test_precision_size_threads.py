"""The size, threads and reduced-precision factors: the tables that hold them, the
tolerances they are held to, and the thread settings a backend's process gets."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from adapters.base import RunConfig
from conformance.run.backends import Backend, BackendPool, InProcessThreads
from conformance.cases.depth import DEPTHS
from conformance.cases.table import LARGE_SHAPES, Case, make_data, request_for
from conformance.deviations.models import TENSORFLOW_BLOCK_V1_GRADIENT
from conformance.judge.expectations import (
    expected_forward, expected_gradients, gradient_quantities, oracle_forward, oracle_gradients, padded_mask, seeded_upstream,
)
from conformance.deviations.modelling import ComposedModel
from conformance.run.isolation import IsolatedAdapter, thread_environment
from conformance.judge.tolerances import forward_bound, regime_scale
from reference import LSTMSpec

from .test_suite_runs import run_suite


def expectation_of(case: Case):
    request = request_for(case, make_data(case))
    return request, expected_forward(request, regime_scale(case.regime), measured_only=case.measured_tolerances)


@pytest.mark.full_depth
@pytest.mark.parametrize("shape", LARGE_SHAPES)
def test_at_large_shapes_a_float32_drift_of_one_part_in_ten_thousand_fails(shape):
    """The issue this factor answers: the a-priori bound lets such a drift pass at these
    sizes, the measured tolerance does not."""
    case = Case(layers=2, direction="bidir", lengths="mixed", init="h0", dtype="f32", shape=shape)
    request, expectation = expectation_of(case)
    outputs = expectation.values["outputs"]
    drift = 1e-4 * np.max(np.abs(outputs))
    assert expectation.tolerances["outputs"] < drift / 4
    assert forward_bound(case.spec, "float32", case.steps, 1.0, outputs) > drift


def swapped_input_and_forget_gates(params):
    """Canonical parameters with the i and f gate blocks exchanged: a gate-order mistake."""

    def swap(array):
        hidden = array.shape[0] // 4
        blocks = array.reshape(4, hidden, *array.shape[1:])
        return blocks[[1, 0, 2, 3]].reshape(array.shape) if array.shape[0] % 4 == 0 and array.ndim <= 2 else array

    return tuple(replace(cell, **{name: swap(getattr(cell, name)) for name in ("w_ih", "w_hh", "b_ih", "b_hh")}) for cell in params)


REDUCED_CASES = [
    f"L{layers}-{direction}-tm-{lengths}-h0-P0-bias-nopeep-noclip-std-{dtype}-{shape}-typ-cpu"
    for dtype in ("bf16", "f16")
    for layers, direction, lengths, shape in ((1, "fwd", "none", "base"), (2, "bidir", "mixed", "H13"), (3, "fwd", "full", "long"), (1, "bidir", "none", "H16"))
]


@pytest.mark.parametrize("case_id", REDUCED_CASES)
def test_in_reduced_precision_a_gate_order_mistake_fails(case_id):
    """bfloat16 and float16 tolerances stay below the values and below what a mapping
    mistake moves them by, so a check in these formats can fail."""
    case = Case.from_id(case_id)
    request, expectation = expectation_of(case)
    wrong = oracle_forward(replace(request, params=swapped_input_and_forget_gates(request.params)))
    outputs = expectation.values["outputs"]
    assert expectation.tolerances["outputs"] < 0.2 * np.max(np.abs(outputs))
    assert np.max(np.abs(wrong.outputs[~np.isnan(wrong.outputs)] - oracle_forward(request).outputs.ravel())) > expectation.tolerances["outputs"]


GRADIENT_REDUCED_CASES = [case_id for case_id in REDUCED_CASES if Case.from_id(case_id).gradients_well_posed]


@pytest.mark.parametrize("case_id", GRADIENT_REDUCED_CASES)
def test_in_reduced_precision_gradients_in_another_gate_order_fail(case_id):
    """The backward storage model keeps gradient tolerances below what a gate-order mistake
    in the backward pass moves them by (TensorFlow's V1-order gradient of BlockLSTMV2)."""
    case = Case.from_id(case_id)
    request = request_for(case, make_data(case))
    upstream = seeded_upstream(case, request, "outputs_and_h_n")
    expectation = expected_gradients(request, upstream, regime_scale(case.regime), measured_only=case.measured_tolerances)
    padded = padded_mask(request.lengths, case.steps, request.batch_first)
    wrong = gradient_quantities(ComposedModel((TENSORFLOW_BLOCK_V1_GRADIENT,)).gradients(request, upstream), padded)
    compared = {name: values for name, values in expectation.values.items() if np.any(values)}
    assert any(np.max(np.abs(wrong[name] - values)) > expectation.tolerances[name] for name, values in compared.items())
    # Below the gradients themselves: bfloat16's storage rounding carried through BPTT moves
    # them by about 1 % here, times SAFETY (16); float16's by an eighth of that.
    assert all(expectation.tolerances[name] < 0.25 * np.max(np.abs(values)) for name, values in compared.items())


def test_the_backward_storage_model_grows_with_the_format_s_unit_roundoff():
    case = Case(layers=2, lengths="mixed", init="h0", shape="H13")
    request = request_for(case, make_data(case))
    upstream = seeded_upstream(case, request, "outputs_and_h_n")
    exact = oracle_gradients(request, upstream)
    moved = {dtype: float(np.max(np.abs(oracle_gradients(request, upstream, stored_as=dtype).x - exact.x))) for dtype in ("float32", "float16", "bfloat16")}
    scale = float(np.max(np.abs(exact.x)))
    # Each format's rounding, carried through BPTT: a few units of its roundoff, relative to the gradients.
    for dtype, unit in (("float32", 2.0**-24), ("float16", 2.0**-11), ("bfloat16", 2.0**-8)):
        assert unit / 4 < moved[dtype] / scale < 64 * unit, (dtype, moved[dtype] / scale)


def test_reduced_precision_tolerances_grow_with_the_format_s_unit_roundoff():
    base = Case(layers=2, dtype="f32", shape="H13")
    tolerances = {dtype: expectation_of(replace(base, dtype=dtype))[1].tolerances["outputs"] for dtype in ("f32", "f16", "bf16")}
    assert tolerances["f32"] < tolerances["f16"] < tolerances["bf16"]
    # float16 has 3 more significand bits than bfloat16: about 8 times smaller rounding.
    assert 2 < tolerances["bf16"] / tolerances["f16"] < 32


def test_each_backend_runs_each_large_shape_once_and_its_offered_dtypes_on_copies_of_its_float32_cases():
    pool = BackendPool(["adapters.example:ExampleAdapter", "tests.support.adapters:CostlyExampleAdapter"], isolate=False)
    example, costly = (pool.case_tables[name] for name in ("example-keras-style", "costly-example"))
    # Each large shape in float32, and the H128 one in float64 too.
    assert sorted((case.shape, case.dtype) for case in example if case.large) == sorted([(shape, "f32") for shape in LARGE_SHAPES] + [("H128", "f64")])
    assert sorted((case.shape, case.dtype) for case in costly if case.large) == sorted([(LARGE_SHAPES[0], "f32"), ("H128", "f64")])
    assert all(case.regime == "typ" for case in example if case.large)
    reduced = [case for case in example if case.reduced_precision]
    assert [case.dtype for case in reduced] == ["f16"] * DEPTHS["full"].reduced_cases  # it offers no bfloat16
    assert [case.dtype for case in costly if case.reduced_precision] == ["f16"] * (DEPTHS["full"].reduced_cases // 2)
    float32_ids = {case.id for case in example if case.dtype == "f32"}
    assert all(replace(case, dtype="f32").id in float32_ids for case in reduced)
    assert not any(case.reduced_precision for table in pool.gradient_case_tables.values() for case in table)
    reasons = pool.backends[0].unsupported(RunConfig(LSTMSpec(2, 3), dtype="bfloat16"))
    assert reasons == ("example-keras-style has no dtype bfloat16",)


def test_an_isolated_process_says_which_dtypes_its_adapter_offers():
    adapter = IsolatedAdapter("adapters.example:ExampleAdapter")
    try:
        assert adapter.dtypes == ("float32", "float64", "float16")
    finally:
        adapter.close()


def test_a_thread_count_reaches_the_environment_and_the_adapter_s_own_setting(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/nowhere")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    plain = IsolatedAdapter("tests.support.adapters:ThreadReportingAdapter")
    threaded = IsolatedAdapter("tests.support.adapters:ThreadReportingAdapter", threads=4)
    try:
        assert plain.availability().version == "OMP=1;XLA=--xla_dump_to=/nowhere;set=never"
        flags = "--xla_dump_to=/nowhere --xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=4"
        assert threaded.availability().version == f"OMP=4;XLA={flags};set=4"
    finally:
        plain.close()
        threaded.close()
    assert thread_environment(1, {})["XLA_FLAGS"] == "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    with pytest.raises(ValueError, match="threads: expected a positive int or None, got 0"):
        IsolatedAdapter("adapters.example:ExampleAdapter", threads=0)


@pytest.mark.full_depth
@pytest.mark.parametrize(
    "sound_adapter, wrong_adapter, threads_set_in",
    [
        ("ThreadReportingAdapter", "WrongThreadedAdapter", "a second process"),
        ("ThreadedRunsAdapter", "WrongThreadedRunsAdapter", "its own process"),
    ],
)
def test_the_threads_check_passes_a_sound_backend_and_fails_one_that_drifts_with_threads(tmp_path, sound_adapter, wrong_adapter, threads_set_in):
    tests = ("conformance/test_threads.py",)
    sound_process, sound = run_suite(tmp_path, "sound", "--adapter", f"tests.support.adapters:{sound_adapter}", tests=tests)
    wrong_process, wrong = run_suite(tmp_path, "wrong", "--adapter", f"tests.support.adapters:{wrong_adapter}", tests=tests)
    assert sound_process.returncode == 0, sound_process.stdout[-2000:]
    (record,) = sound.values()
    assert record["outcome"] == "pass" and record["threads"] == [1, 4] and record["bitwise_across_threads"] is True
    assert record["threads_set_in"] == threads_set_in
    assert record["case"]["shape"] in LARGE_SHAPES
    assert wrong_process.returncode == 1
    (record,) = wrong.values()
    failed = {comparison["quantity"] for comparison in record["comparisons"] if not comparison["passed"]}
    assert failed == {"outputs[4 threads]", "outputs[4 threads against 1]"}


@pytest.mark.full_depth
def test_a_backend_that_promises_thread_determinism_is_held_to_it_bit_for_bit(tmp_path):
    process, records = run_suite(
        tmp_path, "claims", "--adapter", "tests.support.adapters:FalselyDeterministicAdapter", tests=("conformance/test_threads.py",)
    )
    assert process.returncode == 1, process.stdout[-2000:]
    (record,) = records.values()
    assert record["promises_thread_determinism"] is True and record["bitwise_across_threads"] is False
    failed = {comparison["quantity"] for comparison in record["comparisons"] if not comparison["passed"]}
    assert failed == {"outputs[4 threads against 1]"}


def test_a_backend_offering_threaded_runs_runs_them_in_its_own_process_and_keeps_its_count():
    """The threaded leg of an adapter with ``run_threaded`` goes to the process it always
    runs in, at the count asked for, one run only: no second process starts, and its next
    run is back at the count it had. One without it gets a second process at that count."""
    case = Case.from_id("L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f32-base-typ-cpu")
    request = request_for(case, make_data(case))
    offering = Backend("tests.support.adapters:ThreadedRunsAdapter", IsolatedAdapter("tests.support.adapters:ThreadedRunsAdapter"))
    plain = Backend("tests.support.adapters:ThreadReportingAdapter", IsolatedAdapter("tests.support.adapters:ThreadReportingAdapter"))
    try:
        threaded = offering.with_threads(4)
        assert isinstance(threaded, InProcessThreads)
        threaded.run(request)
        offering.adapter.run(request)
        (process, first_count), (same_process, next_count) = offering.adapter._call("runs_seen")
        assert (process == same_process, first_count, next_count) == (True, "4", "never")
        assert offering._threaded == {}
        second = plain.with_threads(4)
        assert isinstance(second, IsolatedAdapter) and second.availability().version.endswith("set=4")
    finally:
        offering.close()
        plain.close()


def test_a_backend_no_thread_setting_reaches_skips_the_threads_check_with_its_reason(tmp_path):
    process, records = run_suite(
        tmp_path, "fixed", "--adapter", "tests.support.adapters:FixedThreadsAdapter", tests=("conformance/test_threads.py",)
    )
    assert process.returncode == 0, process.stdout[-2000:]
    (record,) = records.values()
    assert record["outcome"] == "unsupported", record
    assert record["reason"].endswith("fixed-threads-example runs a fixed thread count: it computes in one thread of its own")


def test_the_report_s_large_shape_feature_holds_exactly_the_size_factor_s_shapes():
    from conformance.cases.table import SHAPES
    from conformance.report.features import LARGE_HIDDEN_SIZE

    assert all((SHAPES[name].hidden_size >= LARGE_HIDDEN_SIZE) == (name in LARGE_SHAPES) for name in SHAPES)


@pytest.mark.full_depth
@pytest.mark.parametrize(
    "adapter, tests",
    [
        ("tests.support.drifting:drifting_torch_large_float64", "conformance/test_forward_parity.py"),
        ("tests.support.drifting:drifting_torch_large_gradients", "conformance/test_gradient_parity.py"),
    ],
    ids=["float64-forward-at-H64-and-above", "gradients-at-H64-and-above"],
)
def test_a_drift_confined_to_large_shapes_fails_at_quick_depth(tmp_path, adapter, tests):
    """torch drifting only where a kernel's large-size paths run (H >= 64), in float64
    forward or in gradients: the README's quick depth fails it, on those cases alone."""
    process, records = run_suite(tmp_path, "drift", "--depth", "quick", "--adapter", adapter, tests=(tests,))
    failed = [record for record in records.values() if record["outcome"] == "fail"]
    assert process.returncode == 1 and failed, process.stdout[-2000:]
    assert all(record["spec"]["hidden_size"] >= 64 for record in failed)
    if "float64" in adapter:
        assert all(record["dtype"] == "float64" for record in failed)
    passed = [record for record in records.values() if record["outcome"] == "pass"]
    assert passed and all(record["spec"]["hidden_size"] < 64 or ("float64" in adapter and record["dtype"] != "float64") for record in passed)
