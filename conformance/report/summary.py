"""What a parity document says, aggregated: pure functions from the JSON document to tables.

Every function takes the document as loaded from JSON (see ``parity.schema.json``) and
returns plain values or small frozen dataclasses, sorted so that the same document
always gives the same result. Nothing here formats text for a page.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from conformance.record_columns import column
from conformance.report.features import FEATURES, features_of, is_case_record

OUTCOMES = ("pass", "fail", "unsupported", "known_deviation")
ALL_CASES = "all cases"
# Kinds that compare with the oracle come first, in this order, each followed by kinds named
# after it; other kinds (invariants) follow by name.
LEADING_KINDS = ("forward", "gradients", "sweep")
# A record without a dtype (the sweep draws both) is listed under this one.
ANY_DTYPE = "any"
# Indexed quantities (``outputs[2]``: the third sample alone) count as their family (``outputs``).
INDEX_SUFFIX = re.compile(r"\[\d+\]$")


def count_outcomes(records: Iterable[dict]) -> dict[str, int]:
    """How many of ``records`` ended in each outcome, keyed in :data:`OUTCOMES` order."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for record in records:
        counts[record["outcome"]] += 1
    return counts


def backend_names(document: dict) -> list[str]:
    """The backends of the document's records, sorted."""
    return sorted({column(record) for record in document["records"]})


def backend_versions(document: dict) -> dict[str, str]:
    """Backend -> the versions its records report, comma-separated ('' when none does)."""
    versions: dict[str, set[str]] = {name: set() for name in backend_names(document)}
    for record in document["records"]:
        if record.get("backend_version"):
            versions[column(record)].add(record["backend_version"])
    return {name: ", ".join(sorted(found)) for name, found in versions.items()}


def outcomes_by_backend(document: dict) -> dict[str, dict[str, int]]:
    """Backend -> outcome counts over all of its records, then its adapter errors: failures
    its adapter's own code raised (:mod:`adapters.errors`), counted apart from the failures
    that say the backend differs (``fail``)."""
    counts = {}
    for name in backend_names(document):
        records = [record for record in document["records"] if column(record) == name]
        outcomes = count_outcomes(records)
        errors = sum(1 for record in records if record["outcome"] == "fail" and "adapter_error" in record)
        counts[name] = {**outcomes, "fail": outcomes["fail"] - errors, "adapter_error": errors}
    return counts


def kind_order(kind: str) -> tuple[int, str]:
    """Sort key of a kind: a leading kind, or one named after it (``gradients_c_n``), by the
    leading kind's place in :data:`LEADING_KINDS`; any other kind after them; then by name."""
    for rank, leading in enumerate(LEADING_KINDS):
        if kind == leading or kind.startswith(f"{leading}_"):
            return rank, kind
    return len(LEADING_KINDS), kind


def ordered_kinds(kinds: Iterable[str]) -> list[str]:
    """``kinds`` without repeats, sorted by :func:`kind_order`."""
    return sorted(set(kinds), key=kind_order)


def outcomes_by_kind(document: dict) -> dict[str, dict[str, dict[str, int]]]:
    """Kind -> backend -> outcome counts (every backend of the document under every kind)."""
    records = document["records"]
    return {
        kind: {
            name: count_outcomes(record for record in records if record["kind"] == kind and column(record) == name)
            for name in backend_names(document)
        }
        for kind in ordered_kinds(record["kind"] for record in records)
    }


def feature_matrix(document: dict) -> dict[str, dict[str, dict[str, int]]]:
    """Feature -> backend -> outcome counts over the case records whose case has the feature.

    The first row, :data:`ALL_CASES`, counts every case record; rows follow
    :data:`conformance.report.features.FEATURES`. Every check of a case counts (forward,
    gradients, invariants): a row says how a backend fared wherever the feature was used.
    """
    names = backend_names(document)
    rows = {row: {name: dict.fromkeys(OUTCOMES, 0) for name in names} for row in (ALL_CASES, *FEATURES)}
    for record in filter(is_case_record, document["records"]):
        for row in (ALL_CASES, *features_of(record)):
            rows[row][column(record)][record["outcome"]] += 1
    return rows


def quantity_family(quantity: str) -> str:
    """``outputs[2]`` -> ``outputs``; other names unchanged."""
    return INDEX_SUFFIX.sub("", quantity)


@dataclass(frozen=True)
class Extreme:
    """The largest error of one measure (absolute or relative) and where it was seen.

    ``value`` is None when the error was not finite (NaN or inf in the backend's result,
    or a shape mismatch), which ranks above every number. ``case`` is the record's case
    id, or its test id when it has none."""

    value: float | None
    case: str

    def exceeds(self, other: Extreme) -> bool:
        """Whether this error is larger than ``other`` (non-finite beats any number; ties do not)."""
        if other.value is None:
            return False
        return self.value is None or self.value > other.value


@dataclass(frozen=True)
class WorstError:
    """The worst errors of one quantity family for one kind, backend and dtype, over
    ``comparisons`` compared values."""

    kind: str
    backend: str
    dtype: str
    quantity: str
    max_abs: Extreme
    max_rel: Extreme
    comparisons: int


def deviating_quantities(document: dict) -> dict[str, frozenset[str]]:
    """Known deviation name -> the quantities it registers as deviating."""
    return {deviation["name"]: frozenset(deviation["quantities"]) for deviation in document["deviations"]}


def judged_comparisons(record: dict, deviating: dict[str, frozenset[str]]) -> list[dict]:
    """The record's comparisons, less those of quantities a reproduced known deviation covers
    (their errors are the deviation's, reported with it, not the backend's precision)."""
    comparisons = record.get("comparisons", [])
    if record["outcome"] != "known_deviation":
        return comparisons
    covered = set().union(*(deviating.get(name, frozenset()) for name in record.get("deviations", [])))
    return [comparison for comparison in comparisons if comparison["quantity"].partition("[")[0] not in covered]


def worst_errors(document: dict) -> list[WorstError]:
    """The largest max_abs_error and max_rel_error per (kind, backend, dtype, quantity family),
    over every record's comparisons except a reproduced deviation's own quantities.

    Sorted by kind (:func:`kind_order`), backend, dtype and quantity; ties keep the first
    record in test order. Quantities are whatever the records compared (``grad_*`` included).
    """
    deviating = deviating_quantities(document)
    found: dict[tuple[str, str, str, str], WorstError] = {}
    for record in sorted(document["records"], key=lambda record: record["test"]):
        case = record.get("case_id") or record["test"]
        for comparison in judged_comparisons(record, deviating):
            key = (record["kind"], column(record), record.get("dtype", ANY_DTYPE), quantity_family(comparison["quantity"]))
            max_abs = Extreme(comparison["max_abs_error"], case)
            max_rel = Extreme(comparison["max_rel_error"], case)
            previous = found.get(key)
            if previous is not None:
                max_abs = max_abs if max_abs.exceeds(previous.max_abs) else previous.max_abs
                max_rel = max_rel if max_rel.exceeds(previous.max_rel) else previous.max_rel
            found[key] = WorstError(*key, max_abs, max_rel, 1 if previous is None else previous.comparisons + 1)
    return [found[key] for key in sorted(found, key=lambda key: (kind_order(key[0]), *key[1:]))]


def spec_order(spec: dict) -> tuple:
    """The fields of a spec that decide its parameter count, as a sort key (with bias before without)."""
    return (
        spec["input_size"], spec["hidden_size"], spec["num_layers"], spec["bidirectional"], spec["proj_size"],
        not spec["bias"], spec["peepholes"],
    )


def spec_label(spec: dict) -> str:
    """The fields of a spec that decide its parameter count, briefly: ``I=6 H=8 L=2 bidir P=3 no-bias peep``."""
    parts = [f"I={spec['input_size']}", f"H={spec['hidden_size']}", f"L={spec['num_layers']}"]
    parts += ["bidir"] if spec["bidirectional"] else []
    parts += [f"P={spec['proj_size']}"] if spec["proj_size"] else []
    parts += [] if spec["bias"] else ["no-bias"]
    parts += ["peep"] if spec["peepholes"] else []
    return " ".join(parts)


@dataclass(frozen=True)
class CountRow:
    """One distinct spec on one backend: its layout, the count the backend reported and the oracle's."""

    spec: str
    backend: str
    layout: str
    backend_count: int
    oracle_count: int

    @property
    def match(self) -> bool:
        return self.backend_count == self.oracle_count


def parameter_counts(document: dict) -> list[CountRow]:
    """Distinct (spec, backend, layout, counts) over the records with a ``parameter_count``,
    sorted by :func:`spec_order`, then backend. Specs that differ only in what does
    not change a count (activations, cell clip) share a row unless their counts differ."""
    rows: dict[tuple, CountRow] = {}
    for record in document["records"]:
        counts = record.get("parameter_count")
        if counts is None:
            continue
        spec = record["spec"]
        row = CountRow(spec_label(spec), column(record), counts["layout"], counts["backend"], counts["oracle"])
        rows[(spec_order(spec), row.backend, row.layout, row.backend_count)] = row
    return [rows[key] for key in sorted(rows)]


@dataclass(frozen=True)
class Finding:
    """A registered known deviation and what this run saw of it. ``strict``: it shows in every
    case it applies to (False: by chance, so such cases may pass)."""

    name: str
    backend: str
    checks: tuple[str, ...]
    summary: str
    quantities: tuple[str, ...]
    versions_seen: tuple[str, ...]
    strict: bool
    records_hit: int
    reproducer_command: str
    diagnosis: tuple[str, ...] | None = None
    model: str = ""
    unmodelled: str = ""
    upstream: str = ""
    model_matches: int = 0
    model_judged: int = 0
    worst_model_ratio: float = 0.0
    primitive: tuple[str, ...] = ()
    probes: tuple[dict, ...] | None = None


def findings(document: dict) -> list[Finding]:
    """Every deviation of the document, by backend and name, with how many records reproduced it
    (outcome known_deviation with the deviation armed), the command that runs its reproducer
    and, for a forward deviation, the mapping mistakes that explain its reproducer (None: not
    diagnosed in this run)."""
    diagnoses = {
        name: tuple(explanations)
        for record in document["records"]
        if record["kind"] == "deviation_reproducers"
        for name, explanations in record.get("reproducer_diagnoses", {}).items()
    }
    hits = Counter(
        name
        for record in document["records"]
        if record["outcome"] == "known_deviation"
        for name in record.get("deviations", [])
    )
    judged = {deviation["name"]: model_judgements(document, deviation["name"]) for deviation in document["deviations"]}
    probes = primitive_probes(document)
    return [
        Finding(
            name=deviation["name"],
            backend=deviation["backend"],
            checks=tuple(deviation["checks"]),
            summary=deviation["summary"],
            quantities=tuple(deviation["quantities"]),
            versions_seen=tuple(deviation["versions_seen"]),
            strict=deviation["strict"],
            records_hit=hits[deviation["name"]],
            reproducer_command=f'pytest "{deviation["reproducer_test"]}"',
            diagnosis=diagnoses.get(deviation["name"]),
            model=deviation.get("model", ""),
            unmodelled=deviation.get("unmodelled", ""),
            upstream=deviation.get("upstream", ""),
            primitive=tuple(deviation.get("primitive", ())),
            probes=probes.get(deviation["backend"]),
            **judged[deviation["name"]],
        )
        for deviation in sorted(document["deviations"], key=lambda deviation: (deviation["backend"], deviation["name"]))
    ]


def primitive_probes(document: dict) -> dict[str, tuple[dict, ...]]:
    """Per backend, the primitive probes its ``primitives`` record holds (see
    :mod:`conformance.probes.primitives`); a backend without probes has none listed."""
    return {
        record["backend"]: tuple(record["primitives"])
        for record in document["records"]
        if record.get("kind") == "primitives" and record.get("primitives")
    }


def ratio(comparison: dict) -> float:
    """A comparison's error as a share of its tolerance (inf for a non-finite error)."""
    error, tolerance = comparison["max_abs_error"], comparison["tolerance"]
    if error is None:
        return float("inf")
    return error / tolerance if tolerance > 0 else (0.0 if error == 0 else float("inf"))


def model_judgements(document: dict, name: str) -> dict:
    """For deviation ``name``: of the records that armed it and were held to its model, how
    many matched the model, and the largest error against the model as a share of its
    tolerance."""
    held = [record for record in document["records"] if name in record.get("deviations", ()) and record.get("model_comparisons")]
    matched = [record for record in held if all(comparison["passed"] for comparison in record["model_comparisons"])]
    worst = max((ratio(comparison) for record in held for comparison in record["model_comparisons"]), default=0.0)
    return {"model_matches": len(matched), "model_judged": len(held), "worst_model_ratio": worst}


JUDGEMENTS = ("oracle", "model", "not_judged")


def judged_shares(document: dict) -> dict[str, dict[str, int]]:
    """Per backend, how many comparisons were judged against the oracle, against a known
    deviation's model, and not at all (quantities of an armed deviation without a model)."""
    shares: dict[str, dict[str, int]] = {}
    for record in document["records"]:
        if "judged" in record:
            counts = shares.setdefault(column(record), dict.fromkeys(JUDGEMENTS, 0))
            for key in JUDGEMENTS:
                counts[key] += record["judged"][key]
    return dict(sorted(shares.items()))


@dataclass(frozen=True)
class Failure:
    """A failed record: its test id, the failure's exception line, the command that reruns
    its case alone (empty for a test that takes no case) and its diagnosis: the mapping
    mistakes that explain it, out of ``hypotheses_tried`` (0: not diagnosed)."""

    test: str
    reason: str
    rerun: str = ""
    diagnosis: tuple[str, ...] = ()
    hypotheses_tried: int = 0

    adapter_error: bool = False

    def describe_diagnosis(self) -> str:
        if self.adapter_error:
            return "an adapter error: its own code raised, so not a finding about the backend (not diagnosed)"
        if self.diagnosis:
            return "; or ".join(self.diagnosis)
        if self.hypotheses_tried:
            return f"none of {self.hypotheses_tried} common mapping mistakes explains it"
        return "-"


def failures(document: dict) -> list[Failure]:
    """The records whose outcome is fail, by test id."""
    failed = [
        Failure(
            record["test"], record["reason"], record.get("rerun", ""), tuple(record.get("diagnosis", ())), record.get("hypotheses_tried", 0),
            "adapter_error" in record,
        )
        for record in document["records"]
        if record["outcome"] == "fail"
    ]
    return sorted(failed, key=lambda failure: failure.test)


# Checks whose comparisons hold a backend to the oracle's tolerances.
ORACLE_CHECKS = ("forward", "gradients", "gradients_c_n")
# Bins of error / tolerance: upper bounds, the last one open (beyond tolerance: a failure).
RATIO_BINS = (1e-3, 1e-2, 1e-1, 0.5, 1.0)
RATIO_QUANTILES = (0.5, 0.9, 0.99)


@dataclass(frozen=True)
class RatioDistribution:
    """How close one backend's comparisons in one dtype came to their tolerances: the
    quantiles and maximum of max_abs_error / tolerance, and counts per bin of
    :data:`RATIO_BINS` (one more count for ratios above 1)."""

    backend: str
    dtype: str
    comparisons: int
    quantiles: tuple[float, ...]
    largest: float
    bins: tuple[int, ...]


def tolerance_ratios(document: dict) -> list[RatioDistribution]:
    """Per backend and dtype, the distribution of error / tolerance over every comparison of
    :data:`ORACLE_CHECKS` with a tolerance above 0 and a finite error (a reproduced
    deviation's own quantities left out): a drift still inside tolerance shows as a shift."""
    deviating = deviating_quantities(document)
    ratios: dict[tuple[str, str], list[float]] = {}
    for record in document["records"]:
        if record["kind"] not in ORACLE_CHECKS:
            continue
        for comparison in judged_comparisons(record, deviating):
            error, tolerance = comparison["max_abs_error"], comparison["tolerance"]
            if error is not None and tolerance > 0:
                ratios.setdefault((column(record), record.get("dtype", ANY_DTYPE)), []).append(error / tolerance)
    distributions = []
    for (backend, dtype), values in sorted(ratios.items()):
        array = np.asarray(values)
        edges = np.searchsorted(RATIO_BINS, array, side="left")
        distributions.append(
            RatioDistribution(
                backend,
                dtype,
                array.size,
                tuple(float(q) for q in np.quantile(array, RATIO_QUANTILES)),
                float(array.max()),
                tuple(int(count) for count in np.bincount(edges, minlength=len(RATIO_BINS) + 1)),
            )
        )
    return distributions


@dataclass(frozen=True)
class ErrorPoint:
    """One run of a forward or threads record for the error plot: its sequence length,
    hidden size (None when the record has no spec) and intra-op thread count, and the max
    relative error of its outputs (None when not finite); ``deviating`` when that error is
    a reproduced known deviation's."""

    backend: str
    dtype: str
    steps: int
    hidden_size: int | None
    threads: int
    rel_error: float | None
    outcome: str
    deviating: bool
    test: str


def plotted_outputs(record: dict) -> dict[str, int]:
    """The record's compared quantities that are a run's outputs, with that run's thread
    count: ``outputs`` of a forward record (the process's one thread), ``outputs[N thread(s)]``
    of a threads record."""
    if record["kind"] == "forward":
        return {"outputs": 1}
    if record["kind"] == "threads":
        return {f"outputs[{count} thread{'s' if count > 1 else ''}]": count for count in record.get("threads", [])}
    return {}


def error_points(document: dict) -> list[ErrorPoint]:
    """One point per run whose outputs a forward or threads record compared, in test order."""
    deviating = deviating_quantities(document)
    points = []
    for record in document["records"]:
        if "steps" not in record:
            continue
        plotted = plotted_outputs(record)
        judged = {comparison["quantity"] for comparison in judged_comparisons(record, deviating)}
        for comparison in record.get("comparisons", []):
            if comparison["quantity"] in plotted:
                points.append(
                    ErrorPoint(
                        backend=column(record),
                        dtype=record["dtype"],
                        steps=record["steps"],
                        hidden_size=record["spec"]["hidden_size"] if "spec" in record else None,
                        threads=plotted[comparison["quantity"]],
                        rel_error=comparison["max_rel_error"],
                        outcome=record["outcome"],
                        deviating=comparison["quantity"] not in judged,
                        test=record["test"],
                    )
                )
    return sorted(points, key=lambda point: point.test)


def worst_output_error_by_steps(document: dict) -> dict[tuple[int, str, str], float | None]:
    """(steps, backend, dtype) -> the largest max relative error of outputs over the forward
    records of that sequence length (None when one was not finite), deviating errors left out."""
    worst: dict[tuple[int, str, str], Extreme] = {}
    for point in error_points(document):
        if point.deviating:
            continue
        key = (point.steps, point.backend, point.dtype)
        candidate = Extreme(point.rel_error, point.test)
        if key not in worst or candidate.exceeds(worst[key]):
            worst[key] = candidate
    return {key: worst[key].value for key in sorted(worst)}
