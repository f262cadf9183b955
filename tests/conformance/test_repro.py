"""lstm-parity repro: standalone reproducers that need only NumPy and the framework.

The example adapter's backend is a NumPy LSTM, so its scripts run here without any
framework; every registered deviation's own script is run by the suite at full depth
(conformance/test_deviation_reproducers.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from adapters.example import ExampleAdapter
from adapters.offsets import declared_offsets
from adapters.registry import BUILTIN_ADAPTERS, EXEC_PREFIX, load_adapter
from adapters.standalone import STANDALONE, standalone_path
from conformance.cases.table import Case, make_data, request_for
from conformance.commands.cli import main
from conformance.deviations import CHECK_TESTS, KnownDeviation, registered_deviations
from conformance.repro import driver
from conformance.repro.payload import BackendLayout
from conformance.repro.running import PROJECT_PACKAGES, run_standalone
from conformance.repro.script import Reproducer, imported_modules, write_reproducer
from reference import CellParams, LSTMSpec, init_params

EXAMPLE = "adapters.example:ExampleAdapter"
CASE = Case.from_id("L1-fwd-bm-none-h0-P0-bias-nopeep-noclip-std-f32-base-typ-cpu")


def write(folder: Path, adapter=None, deviation: KnownDeviation | None = None, check: str = "forward", case: Case = CASE) -> Path:
    adapter = adapter or ExampleAdapter()
    reproducer = Reproducer(adapter.name, case, check, deviation)
    return write_reproducer(reproducer, adapter, request_for(case, make_data(case)), folder)


def changed(script: Path, key: str, change: float) -> None:
    """Add ``change`` to one array of the script's data."""
    data_file = script.with_suffix(".npz")
    with np.load(data_file) as stored:
        data = {name: stored[name] for name in stored.files}
    data[key] = data[key] + change
    np.savez(data_file, **data)


def deviation_of(quantities: set[str]) -> KnownDeviation:
    return KnownDeviation(
        name="example-deviation",
        backend=ExampleAdapter.name,
        checks=("forward",),
        summary="a deviation made up for this test",
        quantities=frozenset(quantities),
        applies=lambda request: True,
        reproducer=CASE.id,
        unmodelled="made up for this test",
    )


def test_a_case_the_backend_computes_right_exits_0(tmp_path):
    run = run_standalone(write(tmp_path), sys.executable)
    assert run.exit_status == 0, run.output
    assert "a difference from the expected values: does not show" in run.output


def test_each_sample_alone_against_its_row_runs_every_sample_with_its_own_zero_states(tmp_path):
    """sample_alone runs the batch and each sample alone: batches of 3 and of 1, no initial states given."""
    case = Case.from_id("L1-fwd-bm-none-zero-P0-bias-nopeep-noclip-std-f32-base-typ-cpu")
    run = run_standalone(write(tmp_path, check="sample_alone", case=case), sys.executable)
    assert run.exit_status == 0, run.output
    assert "outputs[2]" in run.output


def test_weights_changed_in_its_data_make_the_script_exit_1(tmp_path):
    script = write(tmp_path)
    changed(script, "weights.bias", 0.5)
    run = run_standalone(script, sys.executable)
    assert run.exit_status == 1, run.output
    assert "DIFFERS" in run.output and "SHOWS" in run.output


def test_a_deviation_shows_only_through_the_quantities_it_names(tmp_path):
    script = write(tmp_path, deviation=deviation_of({"c_n"}))
    changed(script, "expected.h_n", 1.0)
    run = run_standalone(script, sys.executable)
    assert run.exit_status == 0, run.output
    assert "DIFFERS" in run.output and "deviation example-deviation: does not show" in run.output
    changed(script, "expected.c_n", 1.0)
    run = run_standalone(script, sys.executable)
    assert run.exit_status == 1, run.output
    assert "deviation example-deviation: SHOWS" in run.output


@pytest.mark.parametrize(("quantities", "exit_status"), [({"run"}, 1), ({"h_n"}, 0)])
def test_a_backend_that_crashes_fails_its_run_not_the_script(tmp_path, quantities, exit_status):
    source = tmp_path / "aborting.py"
    source.write_text('"""A backend that aborts."""\n\nimport os\n\n\ndef forward(case, weights, inputs):\n    os.abort()\n', encoding="utf-8")

    class AbortingAdapter(ExampleAdapter):
        standalone_source = source

    run = run_standalone(write(tmp_path, AbortingAdapter(), deviation_of(quantities)), sys.executable)
    assert run.exit_status == exit_status, run.output
    assert "the run failed (killed by SIGABRT)" in run.output


def test_this_project_cannot_be_imported_where_standalone_scripts_run(tmp_path):
    script = tmp_path / "imports_the_project.py"
    script.write_text("import reference\n", encoding="utf-8")
    run = run_standalone(script, sys.executable)
    assert run.exit_status != 0
    assert "reference is not importable here" in run.output


def test_scripts_import_numpy_and_their_framework_only(tmp_path):
    script = write(tmp_path)
    assert imported_modules(script.read_text(encoding="utf-8")) == ["numpy"]
    assert imported_modules(Path(driver.__file__).read_text(encoding="utf-8")) == ["numpy"]
    for source in STANDALONE.glob("*.py"):
        if source.name != "__init__.py":
            modules = imported_modules(source.read_text(encoding="utf-8"))
            assert "numpy" in modules and not set(modules) & set(PROJECT_PACKAGES), f"{source.name} imports {modules}"


def test_every_built_in_backend_with_known_deviations_has_a_standalone_source():
    """Every Python one: a backend speaking the process protocol is a program of its own
    language, which a standalone reproducer (a Python file) cannot run without this project."""
    python_backends = {name for name, reference in BUILTIN_ADAPTERS.items() if not reference.startswith(EXEC_PREFIX)}
    backends = {deviation.backend for deviation in registered_deviations()} & python_backends
    missing = [name for name in sorted(backends) if not Path(standalone_path(load_adapter(name)) or "").is_file()]
    assert not missing, f"backends with known deviations but no standalone source: {missing}"


@pytest.mark.parametrize("name", sorted(BUILTIN_ADAPTERS))
def test_parameter_gradients_are_expected_in_the_backends_own_layout(name):
    """The backend's gradients derived from canonical ones map back to them: each weight's
    exactly, the bias summed (one-bias layouts hold b_ih + b_hh, whose gradient is b_ih's)."""
    adapter = load_adapter(name)
    spec = LSTMSpec(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    case = Case.from_id("L2-bidir-tm-none-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu")
    request = request_for(case, make_data(case), spec=spec, params=init_params(spec, seed=1))
    canonical = tuple(CellParams(**{**cell.arrays(), "b_hh": cell.b_ih}) for cell in init_params(spec, seed=2))
    gradients = BackendLayout(adapter, request).gradients(canonical)
    # The mapping back is affine where the adapter declares a parameter offset: gradients
    # follow its linear part, what it maps zeros to taken off.
    back = adapter.backend_to_canonical(spec, gradients)
    origin = adapter.backend_to_canonical(spec, {array: np.zeros_like(values) for array, values in gradients.items()})
    offset = max(map(abs, declared_offsets(adapter).values()), default=0.0)
    for expected, found, zero in zip(canonical, back, origin):
        for parameter in ("w_ih", "w_hh", "b_ih"):
            linear, wanted = getattr(found, parameter) - getattr(zero, parameter), getattr(expected, parameter)
            # An offset is added and taken off again: one float64 rounding of values of the
            # offset's size (adapters/offsets.py); without one, exactly.
            allowed = np.max(np.spacing(offset + np.abs(wanted))) if offset and parameter == "b_ih" else 0.0
            np.testing.assert_allclose(linear, wanted, rtol=0, atol=allowed, err_msg=f"{name}: {parameter}")


def test_repro_writes_a_node_ids_script_with_a_plugins_adapter(tmp_path, capsys):
    node = f"{CHECK_TESTS['forward']}[{CASE.id}]"
    assert main(["repro", node, "--backend", EXAMPLE, "-o", str(tmp_path / "out")]) == 0
    script = tmp_path / "out" / f"example-keras-style-forward-{CASE.id}.py"
    assert script.is_file() and script.with_suffix(".npz").is_file()
    assert f"pytest \"{CHECK_TESTS['forward']}[example-keras-style-{CASE.id}]\"" in script.read_text(encoding="utf-8")
    assert run_standalone(script, sys.executable).exit_status == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["no-such-deviation"], "TARGET: expected a deviation name, a node id or [BACKEND-]CASE_ID, got 'no-such-deviation'"),
        ([CASE.id], f"--backend: expected a backend for the case id '{CASE.id}'"),
        ([CASE.id, "--backend", EXAMPLE, "--check", "stacking"], "--check: expected one of forward, gradients"),
        ([f"torch-{CASE.id}", "--backend", "paddle"], "--backend: expected the target's backend 'torch', got 'paddle'"),
    ],
)
def test_repro_refuses_bad_targets_before_writing_anything(tmp_path, capsys, arguments, message):
    out = tmp_path / "out"
    assert main(["repro", *arguments, "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
