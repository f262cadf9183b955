"""Language-neutral test vectors (conformance.porting.vectors): a program that reads only the vectors'
files and computes correctly passes check-vectors; each way of being wrong fails exactly
the arrays it touches, and a directory that is not the format is one clear error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from adapters.exchange import NAMED_LAYOUTS
from adapters.registry import load_adapter
from conformance.run.backends import COVERED_FACTORS
from conformance.commands.cli import main
from conformance.porting.vectors import check_vectors, vector_cases, write_vectors
from reference import LSTMSpec

from ..support.vector_program import run_all

# float32, two bidirectional layers with projection, lengths and initial states.
DEEP_CASE = "L2-bidir-tm-mixed-h0-P5-bias-nopeep-noclip-std-f32-H13-typ-cpu"
# float64, the plainest case.
PLAIN_CASE = "L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu"
# batch-major, reversed, an empty sequence, peepholes, a cell clip and Keras activations.
EMPTY_SEQUENCE_CASE = "L1-rev-bm-mixed0-zero-P0-nobias-peep-cclip-keras5-f32-H13-typ-cpu"
CASES = (DEEP_CASE, PLAIN_CASE, EMPTY_SEQUENCE_CASE)


@pytest.fixture(scope="module")
def vectors(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("vectors") / "vectors"
    assert write_vectors("quick", folder, CASES) == list(CASES)
    return folder


@pytest.fixture
def results(vectors, tmp_path) -> Path:
    """What a correct program computes from the vectors' files alone."""
    folder = tmp_path / "results"
    run_all(vectors, folder)
    return folder


def failures(vectors: Path, results: Path) -> dict[tuple[str, str], str]:
    return {(verdict.case, verdict.name): verdict.problem for verdict in check_vectors(vectors, results) if not verdict.passed}


def test_a_program_that_reads_only_the_files_and_computes_correctly_passes(vectors, results):
    verdicts = check_vectors(vectors, results)
    assert {verdict.case for verdict in verdicts} == set(CASES)
    assert all(verdict.passed for verdict in verdicts), [verdict for verdict in verdicts if not verdict.passed]
    names = {verdict.name for verdict in verdicts if verdict.case == DEEP_CASE}
    assert {"outputs", "h_n", "c_n", "grad_x", "grad_h0", "grad_c0", "grad_cell3.w_hr"} <= names
    # The case's own manifest says why each tolerance is what it is.
    manifest = json.loads((vectors / DEEP_CASE / "case.json").read_text())
    assert all(entry["reason"] and entry["tolerance"] > 0 for entry in manifest["expected"].values())
    assert manifest["expected"]["outputs"]["padded"]["tolerance"] == 0.0


def test_each_alteration_fails_exactly_the_array_it_touches(vectors, results):
    outputs = results / DEEP_CASE / "outputs.npy"
    valid = ~np.load(vectors / DEEP_CASE / "padded.npy").astype(bool)
    values = np.load(outputs)
    drifted = values.copy()
    drifted[valid] *= 1 + 1e-3
    np.save(outputs, drifted)
    (results / PLAIN_CASE / "grad_cell0.w_hh.npy").unlink()
    h_n = np.load(results / PLAIN_CASE / "h_n.npy")
    np.save(results / PLAIN_CASE / "h_n.npy", h_n[..., :-1])
    c_n = np.load(results / EMPTY_SEQUENCE_CASE / "c_n.npy")
    c_n.flat[0] = np.nan
    np.save(results / EMPTY_SEQUENCE_CASE / "c_n.npy", c_n)
    found = failures(vectors, results)
    assert set(found) == {
        (DEEP_CASE, "outputs"), (PLAIN_CASE, "grad_cell0.w_hh"), (PLAIN_CASE, "h_n"), (EMPTY_SEQUENCE_CASE, "c_n")
    }, found
    assert found[(DEEP_CASE, "outputs")].startswith("max abs error")
    assert found[(PLAIN_CASE, "grad_cell0.w_hh")] == "missing: no file grad_cell0.w_hh.npy"
    assert found[(PLAIN_CASE, "h_n")] == f"shape {h_n[..., :-1].shape}, expected {h_n.shape}"
    assert found[(EMPTY_SEQUENCE_CASE, "c_n")] == "not finite where the expected values are"


def test_padded_outputs_are_judged_on_their_own(vectors, results):
    # Within the valid outputs' tolerance, but the padded steps are defined as exactly 0.
    outputs = results / DEEP_CASE / "outputs.npy"
    padded = np.load(vectors / DEEP_CASE / "padded.npy").astype(bool)
    assert padded.any()
    values = np.load(outputs)
    values[padded] = 1e-9
    np.save(outputs, values)
    assert failures(vectors, results) == {(DEEP_CASE, "outputs"): "at padded positions: max abs error 1.000e-09 > tolerance 0.000e+00"}


def test_a_float64_case_computed_in_float32_fails_and_a_float32_one_passes(vectors, tmp_path):
    run_all(vectors, tmp_path / "float32", stored_as="float32")
    found = failures(vectors, tmp_path / "float32")
    assert {case for case, _ in found} == {PLAIN_CASE}
    assert (PLAIN_CASE, "outputs") in found


# The built-in backend that reads each named layout: the vectors' arrays are read back
# through its own mapping.
BACKEND_OF_LAYOUT = {"torch": "torch", "onnx": "onnxruntime", "keras": "keras-torch"}


def test_the_named_layouts_hold_the_canonical_weights(vectors):
    manifest = json.loads((vectors / PLAIN_CASE / "case.json").read_text())
    spec = LSTMSpec(**manifest["spec"])
    canonical = {name.removeprefix("cell0."): np.load(vectors / PLAIN_CASE / file) for name, file in manifest["weights"]["canonical"].items()}
    assert set(manifest["weights"]) == {"canonical", *NAMED_LAYOUTS} == {"canonical", *BACKEND_OF_LAYOUT}
    for layout, backend in BACKEND_OF_LAYOUT.items():
        arrays = {name: np.load(vectors / PLAIN_CASE / file) for name, file in manifest["weights"][layout].items()}
        (cell,) = load_adapter(backend).backend_to_canonical(spec, arrays)
        assert effective(cell.arrays()).keys() == effective(canonical).keys()
        assert all(np.array_equal(array, effective(canonical)[name]) for name, array in effective(cell.arrays()).items()), layout
    # A framework that cannot express a spec says why instead.
    deep = json.loads((vectors / DEEP_CASE / "case.json").read_text())
    assert deep["layouts_left_out"] == {"onnx": "the onnx layout has no projection (w_hr)", "keras": "the keras layout has no projection (w_hr)"}


def effective(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Parameters as the LSTM uses them: the two biases only through their sum (a framework
    with one bias, as Keras, keeps just that)."""
    summed = {name: array for name, array in arrays.items() if name not in ("b_ih", "b_hh")}
    return {**summed, "bias": arrays["b_ih"] + arrays["b_hh"]} if "b_ih" in arrays else summed


def test_the_quick_vectors_cover_every_value_of_every_factor():
    cases = vector_cases("quick")
    for factor, values in COVERED_FACTORS.items():
        if factor != "device":
            assert {getattr(case, factor) for case in cases} == set(values), factor
    assert {case.device for case in cases} == {"cpu"}


def test_the_commands_exit_0_when_every_array_passes_1_when_some_fail(vectors, results, capsys):
    assert main(["check-vectors", str(vectors), str(results)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(f"{len(CASES)} of {len(CASES)} cases passed")
    (results / PLAIN_CASE / "c_n.npy").unlink()
    assert main(["check-vectors", str(vectors), str(results)]) == 1
    printed = capsys.readouterr().out
    assert f"FAIL {PLAIN_CASE} c_n: missing: no file c_n.npy" in printed
    assert printed.splitlines()[-1].endswith(f"{len(CASES) - 1} of {len(CASES)} cases passed")


def test_vectors_refuses_bad_arguments_before_writing(vectors, tmp_path, capsys):
    assert main(["vectors", "-o", str(vectors), "--case", PLAIN_CASE]) == 2
    assert "-o: expected a directory that does not exist yet" in capsys.readouterr().err
    assert main(["vectors", "-o", str(tmp_path / "new"), "--case", "L9-nothing"]) == 2
    error = capsys.readouterr().err
    assert "--case: case_id: expected 14 '-'-separated values" in error and "got 'L9-nothing'" in error
    assert not (tmp_path / "new").exists()
    assert main(["vectors", "-o", str(tmp_path / "one"), "--case", PLAIN_CASE]) == 0
    assert json.loads((tmp_path / "one" / "index.json").read_text())["cases"] == [PLAIN_CASE]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda folder: (folder / "index.json").write_text('{"format": "other", "version": 1, "cases": []}'), "expected format 'lstm-parity-vectors' version 1"),
        (lambda folder: (folder / "index.json").write_text('{"format": "lstm-parity-vectors", "version": 1, "cases": ["../escape"]}'), "cases[0]: expected a plain name"),
        (lambda folder: edit_manifest(folder, lambda manifest: manifest["expected"]["outputs"].update(file="../../secret.npy")), "expected['outputs'].file: expected a plain name"),
        (lambda folder: edit_manifest(folder, lambda manifest: manifest["expected"]["h_n"].update(tolerance="big")), "expected['h_n'].tolerance: expected a number >= 0, got 'big'"),
        (lambda folder: (folder / PLAIN_CASE / "expected.c_n.npy").write_bytes(b"\x80\x03pickle"), "expected['c_n']: unreadable expected.c_n.npy"),
    ],
)
def test_a_directory_that_is_not_the_format_is_one_clear_error(vectors, results, tmp_path, capsys, change, message):
    folder = tmp_path / "altered"
    shutil.copytree(vectors, folder)
    change(folder)
    assert main(["check-vectors", str(folder), str(results)]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1, error


def edit_manifest(folder: Path, edit) -> None:
    path = folder / PLAIN_CASE / "case.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
