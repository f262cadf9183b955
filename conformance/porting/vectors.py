"""Language-neutral test vectors: the case table as NumPy arrays and JSON, and the judge of
what another program computed from them.

A program in any language that reads and writes ``.npy`` files (a short text header, then
the raw little-endian array) can check itself against the oracle without running Python:
it reads each case's inputs and weights, runs its LSTM, writes the arrays the case asks
for, and ``lstm-parity check-vectors`` judges them with the suite's own tolerances.

A vectors directory (format :data:`FORMAT`, version :data:`VERSION`)::

    index.json             {"format", "version", "depth" (null: cases chosen by id), "cases": [case id, ...]}
    <case id>/case.json    the manifest below
    <case id>/<file>.npy   every array the manifest names: float64 in C order (lengths: int64)

The manifest of a case is a run's (:mod:`adapters.exchange`: ``spec``, ``dtype``,
``batch_first``, ``last_output_only``, ``inputs``, ``weights``, ``upstream`` with gradients,
``returns``), with the weights in the canonical layout and in ``torch``, ``onnx`` and
``keras`` where the framework can express the spec (``layouts_left_out`` says why not,
where it cannot); each returned name is written as ``<name>.npy`` in the case's folder of
a results directory. Beside those:

- ``id``: the case's id (``lstm-parity run --case ID`` reruns it);
- ``expected``: per returned name, its ``file`` (the shape to return), its ``tolerance``
  (the largest absolute difference allowed) and the ``reason`` for it; for ``outputs`` and
  ``grad_x`` of a case with lengths, ``padded``: the ``mask`` file of padded positions
  ([T, B], or [B, T] when batch-first), judged apart with their own ``tolerance`` and
  ``reason`` (outputs at padded steps are defined as exactly 0, and the loss does not
  depend on padded inputs).

A returned array passes when it has the expected shape, is finite wherever the expected
one is, and is within its tolerance at valid and at padded positions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adapters.base import RunRequest
from adapters.exchange import (
    FILE_NAME,
    FORWARD_RETURNS,
    LAYOUTS,
    MANIFEST_NAME,
    cell_arrays,
    layout_arrays,
    layout_refusals,
    load_array,
    run_manifest,
    save_arrays,
)
from reference import CellParams, LSTMResult, LSTMSpec

from conformance.run.backends import COVERED_FACTORS, case_or_none
from conformance.cases.table import Case, make_data, request_for
from conformance.cases.covering import covering_rows
from conformance.cases.depth import DEPTHS
from conformance.judge.expectations import (
    PADDED_SUFFIX,
    expected_forward,
    expected_gradients,
    oracle_forward,
    oracle_gradients,
    padded_mask,
    seeded_upstream,
)
from conformance.outputs import write_atomically
from conformance.cases.seeding import seed_for
from conformance.judge.tolerances import regime_scale

FORMAT = "lstm-parity-vectors"
VERSION = 1
INDEX_NAME = "index.json"
# What an index may name: case ids as the table spells them.
CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*")
REASONS = {
    "bound": "the larger of the a-priori rounding bound (16 u sqrt(fan_in) T L S max(1, |expected|)) and 16 times the oracle's "
    "sensitivity to perturbing every input by u, the dtype's unit roundoff (conformance.judge.tolerances)",
    "gradient_bound": "the larger of the a-priori rounding bound times sqrt(B T) (a parameter gradient sums B T products) and 16 "
    "times the oracle's sensitivity to perturbing every input and upstream gradient by u (conformance.judge.tolerances)",
    "measured": "16 times the larger of the oracle's sensitivity to perturbing every input by u and the rounding of the values "
    "a kernel stores in this dtype (conformance.judge.tolerances: large shapes, long and deep cases, reduced precision)",
    "gradient_measured": "16 times the largest of the oracle's sensitivity, the rounding of the batch and step sums and the "
    "backward pass's storage rounding in this dtype (conformance.judge.tolerances: large shapes, long and deep cases, reduced precision)",
    "padded_outputs": "outputs at padded steps are defined as exactly 0",
    "padded_inputs": "the loss does not depend on padded inputs: their gradient is exactly 0",
}


class VectorsError(Exception):
    """A vectors or results directory that is not this format, or names a file it may not."""


def vector_cases(depth: str) -> list[Case]:
    """The cases written at ``depth`` (a key of :data:`conformance.cases.depth.DEPTHS`): the
    oracle's own covering design of the table's factors at the depth's forward strength and
    multiplicity, on the CPU."""
    if depth not in DEPTHS:
        raise ValueError(f"--depth: expected one of {', '.join(DEPTHS)}, got {depth!r}")
    strength, multiplicity = DEPTHS[depth].forward
    factors = {**COVERED_FACTORS, "device": ("cpu",)}
    rows = covering_rows(
        factors, lambda row: case_or_none(row) is not None, strength=strength, multiplicity=multiplicity, seed=seed_for("covering:vectors")
    )
    return [Case(**row) for row in rows]


@dataclass(frozen=True)
class Expected:
    """A returned array's expected values, its tolerance and why; its padded positions' own
    tolerance and reason (None: it has none)."""

    values: np.ndarray
    tolerance: float
    reason: str
    padded_tolerance: float | None
    padded_reason: str


def expected(values: np.ndarray, tolerances: dict[str, float], family: str, reason: str, padded_reason: str) -> Expected:
    """``values`` held to ``tolerances[family]``, and to that of ``family_padded`` at padded positions if it has one."""
    padded = tolerances.get(family + PADDED_SUFFIX)
    return Expected(values, tolerances[family], reason, padded, padded_reason if padded is not None else "")


def gradient_family(name: str) -> str:
    """The suite's quantity a returned gradient belongs to: ``grad_cell2.w_hh`` -> ``grad_w_hh``."""
    return "grad_" + name.partition(".")[2] if name.startswith("grad_cell") else name


def expected_arrays(case: Case, request: RunRequest) -> tuple[dict[str, Expected], LSTMResult | None]:
    """Per returned name, the oracle's whole array (zeros at padded outputs, in the case's
    layout) and its tolerances as the suite's parity checks set them; the upstream gradients,
    for a case whose gradients are well posed (None otherwise)."""
    scale, measured = regime_scale(case.regime), case.measured_tolerances
    forward = expected_forward(request, scale, measured_only=measured)
    reason = REASONS["measured" if measured else "bound"]
    result = oracle_forward(request)
    arrays = {name: expected(getattr(result, name), forward.tolerances, name, reason, REASONS["padded_outputs"]) for name in FORWARD_RETURNS}
    if not case.gradients_well_posed:
        return arrays, None
    upstream = seeded_upstream(case, request, "all")
    backward = expected_gradients(request, upstream, scale, measured_only=measured)
    reason = REASONS["gradient_measured" if measured else "gradient_bound"]
    grads = oracle_gradients(request, upstream)
    values = {"grad_x": grads.x, "grad_h0": grads.h0, "grad_c0": grads.c0, **cell_arrays("grad_", grads.params)}
    for name, array in values.items():
        arrays[name] = expected(array, backward.tolerances, gradient_family(name), reason, REASONS["padded_inputs"])
    return arrays, upstream


def named_layouts(spec: LSTMSpec, params: tuple[CellParams, ...]) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, str]]:
    """The canonical arrays and each of :data:`adapters.exchange.NAMED_LAYOUTS`' for
    ``params``; and for each framework that cannot express ``spec``, why."""
    layouts, left_out = {}, {}
    for layout in LAYOUTS:
        reasons = layout_refusals(layout, spec)
        if reasons:
            left_out[layout] = "; ".join(reasons)
        else:
            layouts[layout] = layout_arrays(layout, spec, params)
    return layouts, left_out


def case_manifest_and_arrays(case: Case) -> tuple[dict, dict[str, np.ndarray]]:
    """A case's manifest (see the module docstring) and the arrays its files hold, by file name."""
    data = make_data(case)
    request = request_for(case, data)
    layouts, left_out = named_layouts(case.spec, data.params)
    returned, upstream = expected_arrays(case, request)
    run, arrays = run_manifest(request, layouts, upstream)
    manifest = {"id": case.id, **run, "layouts_left_out": left_out, "expected": {}}
    mask = padded_mask(data.lengths, case.steps, request.batch_first)
    if mask is not None:
        arrays["padded.npy"] = np.asarray(mask, dtype=np.float64)
    for name, values in returned.items():
        entry = {"file": f"expected.{name}.npy", "tolerance": values.tolerance, "reason": values.reason}
        if values.padded_tolerance is not None:
            entry["padded"] = {"mask": "padded.npy", "tolerance": values.padded_tolerance, "reason": values.padded_reason}
        manifest["expected"][name] = entry
        arrays[entry["file"]] = values.values
    return manifest, arrays


def write_vectors(depth: str, out: Path, case_ids: tuple[str, ...] = ()) -> list[str]:
    """Write the vectors of every case of ``depth`` (or of the cases ``case_ids`` names) into
    the directory ``out``, which must not exist: it is built beside it and renamed into place
    whole. The case ids written."""
    cases = [Case.from_id(case_id) for case_id in case_ids] if case_ids else vector_cases(depth)

    def make(folder: Path) -> None:
        folder.mkdir()
        for case in cases:
            manifest, arrays = case_manifest_and_arrays(case)
            save_arrays(folder / case.id, arrays)
            (folder / case.id / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        index = {"format": FORMAT, "version": VERSION, "depth": None if case_ids else depth, "cases": [case.id for case in cases]}
        (folder / INDEX_NAME).write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")

    write_atomically(out, make)
    return [case.id for case in cases]


@dataclass(frozen=True)
class Verdict:
    """One returned array of one case, judged: its largest error at valid positions (None
    when it could not be compared), its tolerance, and what is wrong ('' when it passed)."""

    case: str
    name: str
    error: float | None
    tolerance: float
    problem: str

    @property
    def passed(self) -> bool:
        return not self.problem


def read_json(path: Path, what: str) -> dict:
    """The JSON object in ``path``; VectorsError naming ``what`` and the path otherwise."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VectorsError(f"{path}: no such file (expected the {what})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VectorsError(f"{path}: not the {what} ({type(error).__name__}: {error})") from None
    if not isinstance(value, dict):
        raise VectorsError(f"{path}: expected the {what} as a JSON object, got {type(value).__name__}")
    return value


def checked(pattern: re.Pattern, value: object, where: str) -> str:
    """``value`` when it is a string of ``pattern``'s form (never a path elsewhere); else VectorsError."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise VectorsError(f"{where}: expected a plain name of the form {pattern.pattern}, got {value!r}")
    return value


def number(value: object, where: str) -> float:
    """``value`` as a tolerance: a number >= 0; else VectorsError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise VectorsError(f"{where}: expected a number >= 0, got {value!r}")
    return float(value)


def read_index(vectors: Path) -> list[str]:
    """The case ids of a vectors directory's index, each checked to be a plain name."""
    index = read_json(vectors / INDEX_NAME, "vectors index")
    if index.get("format") != FORMAT or index.get("version") != VERSION:
        raise VectorsError(
            f"{vectors / INDEX_NAME}: expected format {FORMAT!r} version {VERSION}, got {index.get('format')!r} version {index.get('version')!r}"
        )
    cases = index.get("cases")
    if not isinstance(cases, list):
        raise VectorsError(f"{vectors / INDEX_NAME}: expected a list of case ids under 'cases', got {cases!r}")
    return [checked(CASE_ID, case, f"{vectors / INDEX_NAME}: cases[{position}]") for position, case in enumerate(cases)]


def compare(result: np.ndarray, values: np.ndarray, tolerance: float, mask: np.ndarray | None, padded_tolerance: float | None) -> tuple[float | None, str]:
    """The largest error of ``result`` at valid positions and what is wrong with it ('' if nothing)."""
    if result.shape != values.shape:
        return None, f"shape {result.shape}, expected {values.shape}"
    if not np.issubdtype(result.dtype, np.floating):
        return None, f"dtype {result.dtype}, expected floating point values"
    result = result.astype(np.float64)
    finite = np.isfinite(values)
    if not np.all(np.isfinite(result[finite])):
        return None, "not finite where the expected values are"
    if not np.array_equal(result[~finite], values[~finite], equal_nan=True):
        return None, "finite where the expected values are not (inf or nan)"
    difference = np.where(finite, np.abs(result - np.where(finite, values, 0.0)), 0.0)
    padded = np.zeros(values.shape[:2], dtype=bool) if mask is None else mask.astype(bool)
    error = float(np.max(difference[~padded], initial=0.0))
    if error > tolerance:
        return error, f"max abs error {error:.3e} > tolerance {tolerance:.3e}"
    padded_error = float(np.max(difference[padded], initial=0.0))
    if padded_tolerance is not None and padded_error > padded_tolerance:
        return error, f"at padded positions: max abs error {padded_error:.3e} > tolerance {padded_tolerance:.3e}"
    return error, ""


def judge_case(vectors: Path, results: Path, case_id: str) -> list[Verdict]:
    """Every array the case returns, judged (see the module docstring)."""
    folder = vectors / case_id
    manifest = read_json(folder / MANIFEST_NAME, f"manifest of case {case_id}")
    where = f"{folder / MANIFEST_NAME}"
    entries = manifest.get("expected")
    if not isinstance(entries, dict) or not isinstance(manifest.get("returns"), list):
        raise VectorsError(f"{where}: expected 'returns' (a list) and 'expected' (an object)")
    verdicts = []
    for name in manifest["returns"]:
        checked(FILE_NAME, f"{name}.npy" if isinstance(name, str) else name, f"{where}: returns")
        entry = entries.get(name)
        if not isinstance(entry, dict):
            raise VectorsError(f"{where}: expected[{name!r}]: expected an object with a file and a tolerance, got {entry!r}")
        tolerance = number(entry.get("tolerance"), f"{where}: expected[{name!r}].tolerance")
        values, problem = load_array(folder / checked(FILE_NAME, entry.get("file"), f"{where}: expected[{name!r}].file"))
        if values is None:
            raise VectorsError(f"{where}: expected[{name!r}]: {problem}")
        mask, padded_tolerance = None, None
        if "padded" in entry:
            padded = entry["padded"] if isinstance(entry["padded"], dict) else {}
            mask, problem = load_array(folder / checked(FILE_NAME, padded.get("mask"), f"{where}: expected[{name!r}].padded.mask"))
            if mask is None:
                raise VectorsError(f"{where}: expected[{name!r}].padded: {problem}")
            padded_tolerance = number(padded.get("tolerance"), f"{where}: expected[{name!r}].padded.tolerance")
        result, problem = load_array(results / case_id / f"{name}.npy")
        error = None
        if result is not None:
            error, problem = compare(result, values, tolerance, mask, padded_tolerance)
        verdicts.append(Verdict(case_id, name, error, tolerance, problem))
    return verdicts


def check_vectors(vectors: Path, results: Path) -> list[Verdict]:
    """Every returned array of every case of the vectors directory, judged against what the
    results directory holds for it; VectorsError when either cannot be read as the format."""
    if not results.is_dir():
        raise VectorsError(f"RESULTS: expected a directory of results, got {str(results)!r}, which is not one")
    return [verdict for case_id in read_index(vectors) for verdict in judge_case(vectors, results, case_id)]
