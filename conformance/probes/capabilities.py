"""What each backend can run here, feature by feature: the capability table.

A backend runs its own covering design over the cases it supports, so a feature it lacks
makes no test at all rather than a skip per case. What it lacks is asked once per feature
here, on the plainest case that has that feature (:data:`FEATURE_PROBES`), and shown in
the terminal summary and the report as one table: a row per feature, a column per
backend, the backend's own reason in each cell it cannot run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from adapters.base import RunConfig
from reference import ACTIVATION_NAMES
from reference.spec import ACTIVATION_ROLES

from conformance.run.backends import Backend
from conformance.cases.table import ACTIVATION_SETS, DEEP_LAYERS, DTYPE_NAMES, LONG_SHAPE, PLAIN_DTYPES, Case
from conformance.record_columns import column


@dataclass(frozen=True)
class FeatureProbe:
    """One row of the table: the plainest case with the feature, the config asked (the
    case's, with gradients or dropout where the feature is those), and which cases of a
    backend's tables exercise it (None: a check of its own does, not a case factor).
    ``any_dtype``: the feature holds if the backend runs it in float32 or float64 (all rows
    but the dtypes' own)."""

    feature: str
    case: Case
    gradients: bool = False
    dropout: float = 0.0
    exercised_by: Callable[[Case], bool] | None = None
    any_dtype: bool = True

    def config(self, case: Case) -> RunConfig:
        return replace(case.config(self.gradients), dropout=self.dropout)

    def cases(self) -> list[Case]:
        """The probe's case, then (``any_dtype``) the same in the other plain dtype."""
        others = [replace(self.case, dtype=dtype) for dtype in PLAIN_DTYPES if dtype != self.case.dtype] if self.any_dtype else []
        return [self.case, *others]


def _factor(feature: str, **values) -> FeatureProbe:
    """A feature that is a case factor's value: the plain case with ``values``, exercised by
    every case with them."""
    return FeatureProbe(feature, Case(**values), exercised_by=lambda case: all(getattr(case, key) == value for key, value in values.items()))


FEATURE_PROBES: tuple[FeatureProbe, ...] = (
    replace(_factor("float64", dtype="f64"), any_dtype=False),
    replace(_factor("float32", dtype="f32"), any_dtype=False),
    replace(_factor("bfloat16", dtype="bf16"), any_dtype=False),
    replace(_factor("float16", dtype="f16"), any_dtype=False),
    FeatureProbe("large shapes (H 128 to 256, T up to 100)", Case(shape="H256"), exercised_by=lambda case: case.large),
    _factor("batch-first layout", layout="bm"),
    FeatureProbe("several layers", Case(layers=2), exercised_by=lambda case: case.layers > 1),
    FeatureProbe("more than three layers", Case(layers=DEEP_LAYERS), exercised_by=lambda case: case.layers > 3),
    FeatureProbe("a long sequence (T = 500)", Case(shape=LONG_SHAPE), exercised_by=lambda case: case.long),
    _factor("bidirectional", direction="bidir"),
    _factor("reverse direction only", direction="rev"),
    _factor("sequence lengths", lengths="mixed"),
    _factor("an empty sequence (length 0)", lengths="mixed0"),
    _factor("every sequence shorter than T", lengths="short"),
    _factor("initial states", init="h0"),
    _factor("projection", proj="P"),
    _factor("no bias", bias="nobias"),
    _factor("peepholes", cell="peep"),
    _factor("coupled input-forget gate", cell="cifg"),
    _factor("activation clip", clip="aclip"),
    _factor("cell clip", clip="cclip"),
    FeatureProbe("projection clip", Case(clip="pclip", proj="P"), exercised_by=lambda case: case.clip == "pclip"),
    *(_factor(f"activations {name}: {', '.join(ACTIVATION_SETS[name])}", acts=name) for name in ACTIVATION_SETS if name != "std"),
    FeatureProbe("dropout between layers (inference)", Case(layers=2), dropout=0.5),
    FeatureProbe("gradients", Case(), gradients=True, exercised_by=lambda case: True),
    _factor("CUDA device", device="cuda"),
)


PROBES_BY_FEATURE = {probe.feature: probe for probe in FEATURE_PROBES}
# The request features the randomized sweep draws, each with the row that asks it.
SWEEP_FEATURES = {
    "layers": "several layers",
    "bidirectional": "bidirectional",
    "reverse": "reverse direction only",
    "projection": "projection",
    "no_bias": "no bias",
    "peepholes": "peepholes",
    "input_forget": "coupled input-forget gate",
    "activation_clip": "activation clip",
    "cell_clip": "cell clip",
    "proj_clip": "projection clip",
    "lengths": "sequence lengths",
    "zero_length": "an empty sequence (length 0)",
    "initial_states": "initial states",
    "batch_first": "batch-first layout",
}


def sweep_capabilities(backend: Backend) -> tuple[dict[str, bool], dict[str, tuple[str, ...]], tuple[str, ...]]:
    """What the sweep may draw for ``backend``: each of :data:`SWEEP_FEATURES`, asked as the
    capability table asks it; the activations it takes in each role on an otherwise plain
    LSTM; and its float32 and float64 dtypes (the sweep's random sizes and values are held
    to their a-priori tolerances, which reduced precision has none of: see
    conformance.judge.tolerances). A backend taking neither plain dtype supports nothing here."""
    plain = [dtype for dtype in PLAIN_DTYPES if not probe(backend, PROBES_BY_FEATURE[DTYPE_NAMES[dtype]])[1]]
    if not plain:
        return {feature: False for feature in SWEEP_FEATURES}, {role: () for role in ACTIVATION_ROLES}, ()
    able = {feature: not probe(backend, PROBES_BY_FEATURE[row])[1] for feature, row in SWEEP_FEATURES.items()}
    base = Case(dtype=plain[0]).config()
    activations = {
        role: tuple(name for name in ACTIVATION_NAMES if not backend.unsupported(replace(base, spec=replace(base.spec, **{role: name}))))
        for role in ACTIVATION_ROLES
    }
    return able, activations, tuple(DTYPE_NAMES[dtype] for dtype in plain)


def probe(backend: Backend, feature: FeatureProbe) -> tuple[Case, tuple[str, ...]]:
    """The case the backend is asked for the feature and its reasons (none: it runs it):
    the first of the probe's cases it runs, else the one with the fewest reasons."""
    asked = [(case, backend.unsupported(feature.config(case))) for case in feature.cases()]
    return next(((case, reasons) for case, reasons in asked if not reasons), min(asked, key=lambda pair: len(pair[1])))


def capabilities(backend: Backend) -> dict[str, str]:
    """Per feature, '' when ``backend`` runs it, else its reasons (joined with '; ')."""
    return {feature.feature: "; ".join(probe(backend, feature)[1]) for feature in FEATURE_PROBES}


def capability_tables(records: list[dict]) -> dict[str, dict[str, str]]:
    """Per backend, its recorded capability table (from the ``capabilities`` records)."""
    return {column(record): record["capabilities"] for record in records if record.get("kind") == "capabilities" and "capabilities" in record}


def capability_rows(tables: dict[str, dict[str, str]]) -> tuple[list[tuple[str, ...]], list[str]]:
    """The table as text rows (a header, then a row per feature: 'yes', or 'no (n)' with n
    the number of its reason) and the numbered reasons, each stated once."""
    backends = list(tables)
    features = list(dict.fromkeys(feature for table in tables.values() for feature in table))
    reasons: dict[str, int] = {}
    rows = [("feature", *backends)]
    for feature in features:
        cells = []
        for backend in backends:
            reason = tables[backend].get(feature)
            if reason is None:
                cells.append("?")
            elif reason:
                cells.append(f"no ({reasons.setdefault(reason, len(reasons) + 1)})")
            else:
                cells.append("yes")
        rows.append((feature, *cells))
    return rows, [f"({number}) {reason}" for reason, number in reasons.items()]


def capability_lines(tables: dict[str, dict[str, str]]) -> list[str]:
    """The terminal summary's capability table: aligned columns, then the reasons."""
    rows, reasons = capability_rows(tables)
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return lines + reasons
