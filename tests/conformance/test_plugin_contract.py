"""The plug-in contract: an adapter is sent only what it declared, its own exceptions are
adapter errors, layouts with arithmetic pass the mapping check, and the mistakes adapter
writers make are named, forward and in gradients."""

from __future__ import annotations

import importlib.metadata
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import adapters.support as support
from adapters.base import RunConfig, UnsupportedCase
from adapters.errors import AdapterError, as_adapter_error
from adapters.example import ExampleAdapter
from adapters.support import Declaration, Support, declaration_of, undeclared
from conformance.run.backends import BackendPool
from conformance.cases.table import Case, make_data, request_for
from conformance.judge.compare import compare_quantities
from conformance.judge.diagnosis import diagnose_forward, diagnose_gradients
from conformance.judge.expectations import expected_forward, expected_gradients, forward_quantities, gradient_quantities, oracle_forward
from conformance.report.summary import outcomes_by_backend
from conformance.judge.tolerances import regime_scale
from reference import LSTMResult, LSTMSpec
from tests.support import haiku_style
from tests.support.plugin_contract import InterfaceOneAdapter

from .test_suite_runs import ROOT, run_suite

NEW_IN_TWO = Case.from_id("L1-rev-tm-none-h0-P0-bias-peepcifg-aclip-keras3-f64-base-typ-cpu")


def test_an_adapter_that_does_not_say_its_version_is_sent_only_what_interface_one_could_send():
    adapter = InterfaceOneAdapter()
    declaration = declaration_of(adapter)
    assert (declaration.interface_version, declaration.listed) == (1, False)
    reasons = adapter.unsupported(NEW_IN_TWO.config())
    assert "interface-one has no reverse direction (its adapter was written against interface 1, before interface 2 added it)" in reasons
    assert "interface-one has no coupled input-forget gate (its adapter was written against interface 1, before interface 2 added it)" in reasons
    assert "interface-one has no activation clipping (its adapter was written against interface 1, before interface 2 added it)" in reasons
    with pytest.raises(UnsupportedCase):
        adapter.run(request_for(NEW_IN_TWO, make_data(NEW_IN_TWO)))


@pytest.mark.full_depth
def test_an_adapter_written_against_interface_one_passes_unchanged_and_its_claiming_twin_fails_with_adapter_errors_apart(tmp_path):
    """The interface-1 adapter runs every check it can take and passes. The same code
    claiming interface 4 without listing what it runs is sent activations it looks up by
    name (KeyError: adapter errors, counted apart and not diagnosed) and an activation clip
    and coupled gate it ignores (values that differ: failures of the backend, diagnosed)."""
    process, records = run_suite(tmp_path, "one", "--depth", "quick", "--adapter", "tests.support.plugin_contract:InterfaceOneAdapter")
    assert process.returncode == 0, process.stdout[-2000:]
    assert records and all(record["outcome"] == "pass" for record in records.values())
    process, records = run_suite(tmp_path, "claims", "--depth", "quick", "--adapter", "tests.support.plugin_contract:ClaimsTodaysInterface")
    assert process.returncode == 1
    errors = [record for record in records.values() if "adapter_error" in record]
    differences = [record for record in records.values() if record["outcome"] == "fail" and "adapter_error" not in record]
    assert errors and differences
    for record in errors:
        assert record["outcome"] == "fail" and "diagnosis" not in record
        assert record["adapter_error"]["type"] == "KeyError"
        assert record["adapter_error"]["location"].startswith("tests/support/plugin_contract.py:") and record["adapter_error"]["location"].endswith(" in _run")
    assert all("hypotheses_tried" in record for record in differences)
    assert f"adapter errors: {len(errors)} failed tests raised in an adapter's own code, not findings about a backend" in process.stdout
    document = json.loads((tmp_path / "claims.json").read_text())
    counts = outcomes_by_backend(document)["claims-interface-four"]
    assert (counts["adapter_error"], counts["fail"]) == (len(errors), len(differences))


class WrittenToday(ExampleAdapter):
    """The example adapter as written today: it lists what it runs."""

    name = "written-today"


class VersionOnly(ExampleAdapter):
    """The example adapter saying only its interface version: what it lacks, its own
    ``unsupported`` refuses."""

    name = "version-only"
    supports = None

    def _unsupported(self, config):
        return undeclared(self.name, Declaration(support.INTERFACE_VERSION, ExampleAdapter.supports), config)


@pytest.mark.full_depth
def test_a_feature_added_after_an_adapter_was_written_is_never_sent_to_it(monkeypatch):
    """A later interface gains a feature (here: one asked by every case with initial
    states). An adapter written today, listing what it runs or only its version, is never
    sent it: its table loses those cases (the covering design is drawn again over what is
    left), and what it is sent passes."""
    references = {cls.name: f"{__name__}:{cls.__name__}" for cls in (WrittenToday, VersionOnly)}
    before = {name: BackendPool([reference], isolate=False).case_tables[name] for name, reference in references.items()}
    later = support.Aspect("future", "a future feature", support.INTERFACE_VERSION + 1, lambda config: config.initial_states)
    monkeypatch.setattr(support, "ASPECTS", (*support.ASPECTS, later))
    monkeypatch.setattr(support, "INTERFACE_VERSION", support.INTERFACE_VERSION + 1)
    for name, reference in references.items():
        pool = BackendPool([reference], isolate=False)
        table = pool.case_tables[name]
        assert any(case.init != "zero" for case in before[name])
        assert table and all(case.init == "zero" for case in table)
        adapter = pool.backends[0].adapter
        assert adapter.unsupported(RunConfig(LSTMSpec(2, 3), initial_states=True))[0].startswith(f"{name} has no a future feature")
        for case in table:
            if pool.backends[0].unsupported(case.config()):
                continue  # a CUDA copy: the run skips it
            request = request_for(case, make_data(case))
            expectation = expected_forward(request, regime_scale(case.regime), measured_only=case.measured_tolerances)
            assert all(comparison.passed for comparison in compare_quantities(forward_quantities(adapter.run(request), None), expectation)), case.id


def test_a_declaration_the_suite_cannot_read_is_one_clear_error():
    with pytest.raises(ValueError, match=r"supports.features: expected names among .*, got 'peephole'"):
        Support(features={"peephole"})

    class FromTheFuture(ExampleAdapter):
        interface_version = 99

    with pytest.raises(ValueError, match=rf"interface_version: expected 1 to {support.INTERFACE_VERSION} \(this suite's interface\), got 99"):
        declaration_of(FromTheFuture())


def test_roles_declared_to_share_one_activation_are_never_sent_two():
    """Keras's ``activation`` is both the candidate's and the cell output's: an adapter
    declaring those roles shared is refused a spec where they differ, before it is asked,
    and sent one where they agree (whatever else it is)."""
    shared = Declaration(support.INTERFACE_VERSION, Support(activations={"tanh", "relu"}, shared_activations={"candidate_activation", "cell_activation"}))
    differ = RunConfig(LSTMSpec(2, 3, candidate_activation="relu"))
    agree = RunConfig(LSTMSpec(2, 3, candidate_activation="relu", cell_activation="relu"))
    assert undeclared("shared", shared, differ) == ["shared has one activation for its candidate_activation and cell_activation"]
    assert undeclared("shared", shared, agree) == []
    assert undeclared("free", Declaration(support.INTERFACE_VERSION, Support(activations={"tanh", "relu"})), differ) == []
    with pytest.raises(ValueError, match=r"supports.shared_activations: expected no roles or at least two, got \['cell_activation'\]"):
        Support(shared_activations={"cell_activation"})
    with pytest.raises(ValueError, match=r"supports.shared_activations: expected names among .*, got 'output_activation'"):
        Support(shared_activations={"cell_activation", "output_activation"})


def test_the_keras_style_backends_declare_their_shared_activation_and_are_never_sent_two():
    from adapters import load_adapter
    from adapters.exec_backend import ExecAdapter

    differ = RunConfig(LSTMSpec(2, 3, candidate_activation="relu"), dtype="float32")
    for adapter in (load_adapter("keras-torch"), load_adapter("flax"), ExecAdapter("exec:adapters/exec/tfjs/tfjs.json")):
        assert adapter.unsupported(differ) == (f"{adapter.name} has one activation for its candidate_activation and cell_activation",)


def raise_in_numpy() -> None:
    np.split(np.zeros(5), 4)


def test_an_exception_raised_in_the_adapters_own_code_is_an_adapter_error_and_the_frameworks_is_not():
    adapter = InterfaceOneAdapter()
    try:
        {}["softplus"]
    except KeyError as error:
        own = as_adapter_error(error, adapter)
    assert isinstance(own, AdapterError) and own.error_type == "KeyError"
    assert own.location.startswith("tests/conformance/test_plugin_contract.py:") and own.location.endswith("in test_an_exception_raised_in_the_adapters_own_code_is_an_adapter_error_and_the_frameworks_is_not")
    assert pickle.loads(pickle.dumps(own)).as_record() == own.as_record()
    try:
        raise_in_numpy()
    except ValueError as error:
        assert as_adapter_error(error, adapter) is error  # raised inside NumPy: the framework's
    refusal = UnsupportedCase("x", ("no",))
    assert as_adapter_error(refusal, adapter) is refusal


BROKEN = [
    (haiku_style.ForgetsTheOffset, "a forget-gate bias offset of +1 the mapping does not undo"),
    (haiku_style.GatesInCanonicalOrder, "gate blocks f and g swapped in w_ih, w_hh, b_ih, b_hh (i, g, f, o: the order of TensorFlow's BasicLSTMCell"),
    (haiku_style.HalvesSwapped, "the input and hidden halves of a fused [x, h] kernel swapped"),
    (haiku_style.RecurrentBlocksTransposed, "each gate's block of w_hh transposed"),
    (haiku_style.KernelReshaped, "the whole w_ih [4H, in] reshaped to [in, 4H] where it needed a transpose"),
    (haiku_style.BiasTwice, "b_ih counted twice (in place of b_hh)"),
    (haiku_style.BiasFromOneSide, "b_hh dropped (only b_ih reaches the backend)"),
    (haiku_style.OnnxOrder, "gate blocks of w_ih, w_hh, b_ih, b_hh in the order i, o, f, g instead of i, f, g, o (i, o, f, g: ONNX's order (iofc))"),
]
HAIKU_CASE = Case.from_id("L1-fwd-tm-none-h0-P0-bias-nopeep-noclip-std-f64-base-typ-cpu")


@pytest.mark.parametrize("broken, mistake", BROKEN, ids=[broken.__name__ for broken, _ in BROKEN])
def test_each_mistake_of_a_fused_offset_layout_is_named_forward_and_in_gradients(broken, mistake):
    request = request_for(HAIKU_CASE, make_data(HAIKU_CASE))
    rng = np.random.default_rng(0)
    upstream = LSTMResult(*(rng.standard_normal(np.shape(value)) for value in oracle_forward(request)))
    forward = expected_forward(request, regime_scale(HAIKU_CASE.regime))
    gradients = expected_gradients(request, upstream, regime_scale(HAIKU_CASE.regime))
    correct = haiku_style.HaikuStyleAdapter()
    assert all(comparison.passed for comparison in compare_quantities(forward_quantities(correct.run(request), None), forward))
    assert all(comparison.passed for comparison in compare_quantities(gradient_quantities(correct.gradients(request, upstream), None), gradients))
    adapter = broken()
    offsets = tuple(adapter.parameter_offsets.values())
    actual = adapter.run(request)
    assert not all(comparison.passed for comparison in compare_quantities(forward_quantities(actual, None), forward))
    (named,) = diagnose_forward(request, actual, forward, offsets=offsets).explanations
    assert named.startswith(mistake)
    actual_gradients = adapter.gradients(request, upstream)
    (named,) = diagnose_gradients(request, actual_gradients, gradients, upstream=upstream, offsets=offsets).explanations
    assert named.startswith(mistake) and named.endswith("(in the parameters handed to the backend; seen in the gradients of x and the initial states)")


@pytest.mark.full_depth
@pytest.mark.parametrize(
    "adapter, passes, message",
    [
        ("HaikuStyleAdapter", True, ""),
        ("ForgetsTheOffset", False, "offset probe: the forget gate's bias reaches the backend +1, +1 away from the canonical b_ih + b_hh"),
    ],
)
def test_a_haiku_style_offset_passes_the_mapping_check_and_a_forgotten_one_fails_it_with_the_magnitude(tmp_path, adapter, passes, message):
    process, records = run_suite(tmp_path, adapter, "--adapter", f"tests.support.haiku_style:{adapter}", tests=("conformance/test_mapping.py",))
    (record,) = records.values()
    assert (process.returncode == 0) is passes, process.stdout[-2000:]
    assert record["forget_offset"]["declared"] == 1.0
    assert message in record["reason"]
    if passes:
        # The stored bias is computed (b - 1), so its round trip is allowed a rounding, and needs it.
        assert record["examples_compared"] > 0


@pytest.mark.full_depth
def test_the_round_trip_gives_the_magnitude_of_what_changes(tmp_path):
    process, records = run_suite(tmp_path, "lossy", "--adapter", "tests.support.wrong_adapter:LossyMappingAdapter", tests=("conformance/test_mapping.py",))
    (record,) = records.values()
    assert process.returncode == 1
    assert "cell 0 w_hh changes by up to " in record["reason"] and "it must come back exactly (the layout only moves it)" in record["reason"]


@pytest.mark.full_depth
def test_new_adapter_writes_a_plugin_that_installs_and_passes(tmp_path):
    """The template ``lstm-parity new-adapter`` writes runs green as written, from its own folder."""
    folder = tmp_path / "lstm-my-backend"
    made = subprocess.run([sys.executable, "-m", "conformance.commands.cli", "new-adapter", "my-backend", "-o", str(folder)], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert made.returncode == 0, made.stderr
    assert (folder / "pyproject.toml").is_file() and (folder / "lstm_my_backend" / "adapter.py").is_file()
    environment = {"PYTHONPATH": f"{folder}:{ROOT}"}
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q", "-p", "no:cacheprovider", "--depth", "quick", "--adapter", "lstm_my_backend.adapter:MyBackendAdapter"],
        cwd=tmp_path, env={**os.environ, **environment}, capture_output=True, text=True, timeout=600, check=False,
    )
    assert process.returncode == 0, process.stdout[-3000:]
    again = subprocess.run([sys.executable, "-m", "conformance.commands.cli", "new-adapter", "my-backend", "-o", str(folder)], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 2 and "exists" in again.stderr


def test_a_rerun_command_carries_the_folder_a_plugin_was_found_in():
    case = Case.from_id("L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f64-B1-sat-cpu")
    pool = BackendPool(["tests.support.plugin_contract:InterfaceOneAdapter", "torch"], isolate=False)
    plugin, built_in = (backend.rerun_command(case) for backend in pool.backends)
    assert plugin == f"PYTHONPATH={ROOT} pytest --pyargs conformance --adapter tests.support.plugin_contract:InterfaceOneAdapter --case {case.id}"
    assert built_in == f"pytest --pyargs conformance --backend torch --case {case.id}"


@pytest.mark.full_depth
def test_the_environment_lists_the_packages_a_plugin_declares(tmp_path):
    process, _ = run_suite(tmp_path, "packages", "--adapter", "tests.support.haiku_style:WithItsFrameworkPackages", tests=("conformance/test_capabilities.py",))
    assert process.returncode == 0, process.stdout[-2000:]
    document = json.loads((tmp_path / "packages.json").read_text())
    assert document["environment"]["packages"]["jsonschema"] == importlib.metadata.version("jsonschema")
    (record,) = document["records"]
    assert record["packages"] == ["numpy", "jsonschema"]
