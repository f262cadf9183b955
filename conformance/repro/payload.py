"""A check of a case as a standalone script's data: the runs it makes and what it compares.

Everything is computed here, in the suite: the case's data (:func:`conformance.cases.table.make_data`),
the expected values and tolerances (:mod:`conformance.judge.expectations`) and the parameters
in the backend's own layout (its adapter's ``canonical_to_backend``). The script only runs
the backend and compares. Parameter gradients are compared in the backend's layout: where
the layout maps the canonical parameters linearly, ``backend = M canonical + offset`` (each
canonical element going to one backend element), the backend's gradient is
``(M M^T)^-1 M g`` for the oracle's canonical gradient ``g``, that is ``M g`` divided by
how many canonical elements each backend element sums (2 for a bias that is b_ih + b_hh).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from adapters.base import RunRequest
from adapters.conventions import declared_conventions
from reference import PARAM_NAMES, CellParams, LSTMParams, LSTMResult

from conformance.cases.table import Case
from conformance.deviations import find_deviations
from conformance.judge.expectations import (
    PADDED_SUFFIX,
    PADDING_GARBAGE,
    Expectation,
    conventional_upstream,
    expected_forward,
    expected_gradients,
    noisy_padded_upstream,
    oracle_gradients,
    padded_mask,
    seeded_upstream,
    with_padding,
)
from conformance.judge.tolerances import regime_scale

# The checks a standalone script reproduces: the first check of every registered deviation.
SCRIPT_CHECKS = ("forward", "gradients", "gradients_c_n", "padding", "nan_padding", "padded_upstream", "sample_alone")
# The upstream gradient of each gradient check.
THROUGH = {"gradients": "outputs_and_h_n", "gradients_c_n": "c_n", "padded_upstream": "outputs_and_h_n"}
# The gradients a run returns besides the parameters'.
INPUT_GRADIENTS = ("grad_x", "grad_h0", "grad_c0")


@dataclass
class Payload:
    """A script's ``CASE`` (JSON-ready: see :mod:`conformance.repro.driver`) and its arrays."""

    runs: list[dict] = field(default_factory=list)
    comparisons: list[dict] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def add_run(self, request: RunRequest, upstream: LSTMResult | None = None) -> int:
        """A run of ``request`` (gradients for ``upstream`` when given); its index."""
        index = len(self.runs)
        prefix = f"run{index}."
        spec, batch = request.spec, request.x.shape[0 if request.batch_first else 1]
        self.runs.append({
            "kind": "forward" if upstream is None else "gradients",
            "inputs": prefix,
            "h0_shape": [spec.num_cells, batch, spec.output_size],
            "c0_shape": [spec.num_cells, batch, spec.hidden_size],
        })
        self.arrays[prefix + "x"] = request.x
        if request.lengths is not None:
            self.arrays[prefix + "lengths"] = np.asarray(request.lengths, dtype=np.int64)
        if request.initial_states is not None:
            self.arrays[prefix + "h0"], self.arrays[prefix + "c0"] = request.initial_states
        if upstream is not None:
            for name, values in zip(("d_outputs", "d_h_n", "d_c_n"), upstream):
                self.arrays[prefix + name] = values
        return index

    def compare(self, label: str, quantities: list[str], actual: dict, expected: dict, tolerance: float) -> None:
        self.comparisons.append({"label": label, "quantities": quantities, "actual": actual, "expected": expected, "tolerance": tolerance})

    def store(self, key: str, values: np.ndarray) -> dict:
        self.arrays[key] = np.asarray(values)
        return {"stored": key}


def filled(params: LSTMParams, value: float, only: str | None = None) -> LSTMParams:
    """``params`` with every array (or only the arrays named ``only``) full of ``value``, the others 0."""
    return tuple(
        CellParams(**{name: np.full_like(array, value if only in (None, name) else 0.0) for name, array in cell.arrays().items()})
        for cell in params
    )


@dataclass(frozen=True)
class BackendLayout:
    """How an adapter lays the canonical parameters out, as far as gradients need: the linear
    part of its mapping, how many canonical elements each of its elements sums, and which
    canonical parameters each of its arrays carries."""

    adapter: object
    request: RunRequest

    def linear(self, params: LSTMParams) -> dict[str, np.ndarray]:
        spec = self.request.spec
        offset = self.adapter.canonical_to_backend(spec, filled(self.request.params, 0.0))
        return {name: values - offset[name] for name, values in self.adapter.canonical_to_backend(spec, params).items()}

    def gradients(self, canonical: LSTMParams) -> dict[str, np.ndarray]:
        """The backend's gradient of each of its arrays, from canonical gradients."""
        counts = self.linear(filled(self.request.params, 1.0))
        return {
            name: np.divide(values, counts[name], out=np.zeros_like(values), where=counts[name] != 0)
            for name, values in self.linear(canonical).items()
        }

    def carried(self) -> dict[str, list[str]]:
        """Each backend array -> the canonical gradient quantities (``grad_<name>``) it carries."""
        carried: dict[str, list[str]] = {}
        for name in PARAM_NAMES:
            if any(name in cell.arrays() for cell in self.request.params):
                for array, values in self.linear(filled(self.request.params, 1.0, only=name)).items():
                    if np.any(values != 0):
                        carried.setdefault(array, []).append(f"grad_{name}")
        return carried


def output_masks(payload: Payload, request: RunRequest, steps: int) -> dict[str, str | None]:
    """The data keys of the valid and padded output positions (None without lengths)."""
    padded = padded_mask(request.lengths, steps, request.batch_first)
    if padded is None:
        return {"": None, PADDED_SUFFIX: None}
    payload.store("mask.valid", ~padded)
    payload.store("mask.padded", padded)
    return {"": "mask.valid", PADDED_SUFFIX: "mask.padded"}


def against_oracle(payload: Payload, run: int, expectation: Expectation, masks: dict, layout: BackendLayout | None = None, canonical=None) -> None:
    """Compare a run's results with the oracle's, quantity by quantity; parameter gradients
    (``layout`` and the oracle's ``canonical`` gradients given) array by array in the
    backend's layout, each held to the largest tolerance of the canonical quantities it carries."""
    for quantity, expected in expectation.values.items():
        if quantity.startswith("grad_") and quantity.removeprefix("grad_") in PARAM_NAMES:
            continue
        name, suffix = (quantity[: -len(PADDED_SUFFIX)], PADDED_SUFFIX) if quantity.endswith(PADDED_SUFFIX) else (quantity, "")
        mask = masks[suffix] if name in ("outputs", "grad_x") else None
        actual = {"run": run, "name": name, "mask": mask}
        payload.compare(quantity, [quantity], actual, payload.store(f"expected.{quantity}", expected), expectation.tolerances[quantity])
    if layout is None:
        return
    carried = layout.carried()
    for array, expected in layout.gradients(canonical).items():
        tolerance = max(expectation.tolerances[quantity] for quantity in carried[array])
        stored = payload.store(f"expected.{array}", expected)
        payload.compare(f"{array} ({', '.join(carried[array])})", carried[array], {"run": run, "name": array}, stored, tolerance)


def same_results(payload: Payload, first: int, second: int, names: list[str], carried: dict[str, list[str]], masks: dict) -> None:
    """The second run's results equal the first's to the last bit (outputs compared where
    the backend's conventions specify them: ``masks``)."""
    for name in names:
        mask = masks.get(name)
        quantities = carried.get(name, [name])
        payload.compare(name, quantities, {"run": second, "name": name, "mask": mask}, {"run": first, "name": name, "mask": mask}, 0.0)


def build_payload(adapter: object, case: Case, check: str, request: RunRequest, version: str = "") -> Payload:
    """The runs and comparisons of ``check`` on ``case`` (its ``request``) for the backend
    of ``adapter``, as the suite's check makes them."""
    if check not in SCRIPT_CHECKS:
        raise ValueError(f"check: expected one of {', '.join(SCRIPT_CHECKS)}, got {check!r}")
    payload = Payload()
    conventions = declared_conventions(adapter, request.config())
    masks = output_masks(payload, request, case.steps)
    scale = regime_scale(case.regime)
    layout = BackendLayout(adapter, request)
    if check == "forward":
        expectation = expected_forward(request, scale, conventions, case.measured_tolerances)
        against_oracle(payload, payload.add_run(request), expectation, masks)
    elif check in ("gradients", "gradients_c_n"):
        upstream = seeded_upstream(case, request, THROUGH[check])
        expectation = expected_gradients(request, upstream, scale, measured_only=case.measured_tolerances, conventions=conventions)
        canonical = oracle_gradients(request, conventional_upstream(request, upstream, conventions)).params
        against_oracle(payload, payload.add_run(request, upstream), expectation, masks, layout, canonical)
    elif check in ("padding", "nan_padding"):
        garbage = PADDING_GARBAGE if check == "padding" else np.nan
        first, second = payload.add_run(request), payload.add_run(with_padding(request, garbage))
        outputs_mask = masks[""] if conventions["padded_outputs"] == "unspecified" else None
        same_results(payload, first, second, list(LSTMResult._fields), {}, {"outputs": outputs_mask})
    elif check == "padded_upstream":
        upstream = seeded_upstream(case, request, THROUGH[check])
        first, second = payload.add_run(request, upstream), payload.add_run(request, noisy_padded_upstream(case, request, upstream))
        # Gradients a known deviation already makes wrong are not compared with themselves (as in the suite).
        known_wrong = set().union(*(deviation.quantities for deviation in find_deviations(adapter.name, "gradients", request, version=version)))
        carried = layout.carried()
        names = [name for name in INPUT_GRADIENTS if name not in known_wrong]
        names += [array for array, quantities in carried.items() if not known_wrong & set(quantities)]
        same_results(payload, first, second, names, carried, {})
    else:
        sample_alone(payload, case, request, scale)
    return payload


def sample_alone(payload: Payload, case: Case, request: RunRequest, scale: float) -> None:
    """Each sample run alone against its row of the batch run, within the oracle's
    tolerances for the sample (a batch of one may take other kernel paths)."""
    batch_axis = 0 if request.batch_first else 1
    batched = payload.add_run(request)
    for row in range(case.batch):
        sample = replace(
            request,
            x=np.take(request.x, [row], axis=batch_axis),
            lengths=None if request.lengths is None else request.lengths[row : row + 1],
            initial_states=None if request.initial_states is None else tuple(state[:, row : row + 1] for state in request.initial_states),
        )
        tolerances = expected_forward(sample, scale).tolerances
        alone = payload.add_run(sample)
        for name in LSTMResult._fields:
            axis = batch_axis if name == "outputs" else 1
            in_batch = {"run": batched, "name": name, "batch": [axis, row]}
            payload.compare(f"{name}[{row}]", [name], {"run": alone, "name": name}, in_batch, tolerances[name])
