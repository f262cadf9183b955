"""The parity page's content, built from a parity document (see :mod:`.content` for its parts)."""

from __future__ import annotations

import shlex

from conformance.probes.capabilities import capability_tables
from adapters.conventions import CONVENTIONS, PADDED_OUTPUTS

from conformance.judge.power import BELOW_RESOLUTION, BLIND_SPOT_EPSILON, LEVELS, below_resolution, blind_spots, format_threshold, power_table
from conformance.probes.semantics import SEMANTICS_PROBES, semantics_tables
from conformance.record_columns import column
from conformance.report.content import (
    OUTCOME_ABBREVIATIONS,
    OUTCOME_TONES,
    Inline,
    Line,
    Page,
    Section,
    Span,
    Table,
    compact_legend,
    compact_span,
    counted,
    format_error,
)
from conformance.report.environment import PACKAGES
from conformance.report.verdicts import verdict_section
from conformance.report.summary import (
    ALL_CASES,
    Extreme,
    backend_names,
    backend_versions,
    count_outcomes,
    failures,
    feature_matrix,
    findings,
    judged_shares,
    outcomes_by_backend,
    outcomes_by_kind,
    RATIO_BINS,
    RATIO_QUANTILES,
    parameter_counts,
    primitive_probes,
    tolerance_ratios,
    worst_errors,
    worst_output_error_by_steps,
)

TITLE = "LSTM parity report"
# The convention each semantics row governs.
SITUATION_CONVENTIONS = {probe.situation: probe.convention for probe in SEMANTICS_PROBES}
# What pytest's exit statuses mean (pytest.ExitCode).
EXIT_MEANINGS = {
    0: "every test passed",
    1: "some tests failed",
    2: "interrupted",
    3: "internal error",
    4: "usage error",
    5: "no tests collected",
}
# The capability grid's marks: runs here, refused.
YES_MARK, NO_MARK = "✓", "✗"
# A parameter-count table with more rows than this is folded on the HTML page.
LONG_TABLE_ROWS = 24


def depth_words(run: dict) -> str:
    """', at depth NAME' for a run that says its depth (conformance.cases.depth), else ''."""
    return f", at depth {run['depth']}" if "depth" in run else ""


def run_lines(document: dict, records_href: str = "") -> tuple[Line, ...]:
    """When the run started, how long it took and its exit status (for a merged document: how
    many runs, their earliest start, summed time, worst status); outcome totals and, when
    ``records_href`` is given, a link to the records."""
    run = document["run"]
    status = run["exit_status"]
    totals = count_outcomes(document["records"])
    meaning = EXIT_MEANINGS.get(status, "unknown status")
    if "runs" in document:
        labels = ", ".join(merged["label"] for merged in document["runs"])
        first = (f"Merged from {counted(len(document['runs']), 'run')} ({labels}): the earliest started {run['started']}, "
                 f"together they took {run['duration_s']:.1f} s{depth_words(run)}; worst pytest exit status {status} ({meaning}).",)
    else:
        first = (f"Run started {run['started']}, took {run['duration_s']:.1f} s{depth_words(run)}; pytest exit status {status} ({meaning}).",)
    link: Line = (" Every record: ", Span(records_href, code=True, href=records_href), " (gzip-compressed JSON).") if records_href else ()
    return (
        first,
        (f"{counted(len(document['records']), 'record')}: {totals['pass']} pass, {totals['fail']} fail, "
         f"{totals['unsupported']} unsupported, {totals['known_deviation']} known deviation.", *link),
    )


def command_line(document: dict) -> Line:
    """The command the run (or the merge) was started with."""
    arguments = document["run"]["arguments"]
    return ("Command: ", Span(shlex.join(arguments if "runs" in document else ["pytest", *arguments]), code=True))


def package_order(name: str) -> tuple[int, str]:
    """The environment module's package order first (numpy, torch, paddle...), then by name."""
    return (PACKAGES.index(name) if name in PACKAGES else len(PACKAGES), name)


def machine_rows(environments: list[dict]) -> list[tuple[str, ...]]:
    """Python, platform, CPU, GPUs and package versions, one column per environment."""
    def cpu(environment: dict) -> str:
        cores = environment["cpu_count"]
        return environment["cpu"] + (f" ({cores} cores)" if cores else "")

    rows = [
        ("Python", *(environment["python"] for environment in environments)),
        ("Platform", *(environment["platform"] for environment in environments)),
        ("CPU", *(cpu(environment) for environment in environments)),
        ("GPU", *(", ".join(environment["gpus"]) or "none" for environment in environments)),
    ]
    names = sorted({name for environment in environments for name in environment["packages"]}, key=package_order)
    return rows + [(name, *(environment["packages"].get(name, "-") for environment in environments)) for name in names]


def run_rows(document: dict) -> list[tuple[str, ...]]:
    """For a merged document: each run's source, shard, start, duration, exit status and the
    version of each backend it ran, one column per run."""
    runs = document["runs"]
    versions: dict[tuple[str, str], set[str]] = {}
    for record in document["records"]:
        if record.get("backend_version"):
            versions.setdefault((record["backend"], record["run"]), set()).add(record["backend_version"])
    backends = sorted({backend for backend, _ in versions})
    return [
        ("source", *(merged["source"] for merged in runs)),
        ("shard", *(merged["run"].get("shard", "whole run") for merged in runs)),
        ("started", *(merged["run"]["started"] for merged in runs)),
        ("duration", *(f"{merged['run']['duration_s']:.1f} s" for merged in runs)),
        ("pytest exit status", *(str(merged["run"]["exit_status"]) for merged in runs)),
    ] + [(f"{backend} version", *(", ".join(sorted(versions.get((backend, merged["label"]), ()))) or "-" for merged in runs)) for backend in backends]


def environment_section(document: dict) -> Section:
    """Python, platform, CPU, GPUs and package versions of the run; of each run, side by side,
    in a merged document (with each run's source, shard, time and backend versions)."""
    if "runs" not in document:
        return Section("Environment", notes=(command_line(document),), tables=(Table(("", "version or value"), tuple(machine_rows([document["environment"]]))),))
    labels = tuple(merged["label"] for merged in document["runs"])
    rows = run_rows(document) + machine_rows([merged["environment"] for merged in document["runs"]])
    return Section(
        "Environment",
        notes=(command_line(document), ("One column per merged run: where it ran, on what, and the version of each backend it ran.",)),
        tables=(Table(("", *labels), tuple(rows)),),
    )


def worst_relative_error(record: dict) -> str:
    """The largest max relative error over the record's comparisons, for a table cell."""
    errors = [comparison["max_rel_error"] for comparison in record.get("comparisons", [])]
    if not errors:
        return ""
    return format_error(None if None in errors else max(errors))


def side_by_side_row(test: str, runs: dict[str, dict], labels: list[str]) -> tuple[Inline, ...]:
    """A test and, per run label, its outcome and worst relative error there ('-': not run)."""
    cells = [
        Span(f"{OUTCOME_ABBREVIATIONS[runs[label]['outcome']]} {worst_relative_error(runs[label])}".strip(), tone=OUTCOME_TONES[runs[label]["outcome"]])
        if label in runs
        else "-"
        for label in labels
    ]
    return (Span(test, code=True), *cells)


def side_by_side_section(document: dict) -> Section | None:
    """For a merged document: the tests several runs ran, per backend, one column per run
    (outcome and worst relative error); the tests whose outcome differs first. None when no
    test ran in more than one run."""
    if "runs" not in document:
        return None
    by_test: dict[tuple[str, str], dict[str, dict]] = {}
    for record in document["records"]:
        by_test.setdefault((record["backend"], record["test"]), {})[record["run"]] = record
    shared = {key: runs for key, runs in by_test.items() if len(runs) > 1}
    if not shared:
        return None
    order = [merged["label"] for merged in document["runs"]]
    subsections = []
    for backend in sorted({backend for backend, _ in shared}):
        tests = {test: runs for (name, test), runs in shared.items() if name == backend}
        labels = [label for label in order if any(label in runs for runs in tests.values())]
        differing = {test: runs for test, runs in tests.items() if len({record["outcome"] for record in runs.values()}) > 1}
        tables = [Table(("test", *labels), tuple(side_by_side_row(test, runs, labels) for test, runs in sorted(differing.items())))] if differing else []
        tables.append(Table(("test", *labels), tuple(side_by_side_row(test, runs, labels) for test, runs in sorted(tests.items())), folded=True))
        subsections.append(
            Section(
                backend,
                notes=((f"{counted(len(tests), 'test')} ran in more than one run; the outcome differs in {len(differing)}"
                        f"{' (first table)' if differing else ''}. Cells: outcome and worst relative error.",),),
                tables=tuple(tables),
            )
        )
    return Section(
        "Runs side by side",
        notes=(("Tests that several merged runs ran, with each run's result next to the others' (nothing is overwritten).",),),
        subsections=tuple(subsections),
    )


# The per-check matrix is shown transposed (a row per backend), this many checks per table,
# so that each table fits the page.
CHECKS_PER_TABLE = 7


def check_tables(document: dict) -> tuple[Table, ...]:
    """Backends (rows) x checks (columns) of compact outcome counts, in tables of at most
    :data:`CHECKS_PER_TABLE` checks."""
    by_kind = outcomes_by_kind(document)
    kinds = list(by_kind)
    tables = []
    for start in range(0, len(kinds), CHECKS_PER_TABLE):
        chosen = kinds[start : start + CHECKS_PER_TABLE]
        rows = tuple(
            (Span(name, code=True), *(compact_span(by_kind[kind][name], f"{name}, {kind}") for kind in chosen))
            for name in backend_names(document)
        )
        tables.append(Table(("backend", *chosen), rows, layout="grid"))
    return tuple(tables)


def summary_section(document: dict) -> Section:
    """Outcome counts per backend (with its version), how its comparisons were judged, then
    outcomes per backend and check."""
    versions = backend_versions(document)
    by_backend = Table(
        ("backend", "version", "pass", "fail (the backend differs)", "unsupported", "known deviation", "adapter error"),
        tuple(
            (Span(name, code=True), versions[name], *(str(value) for value in counts.values()))
            for name, counts in outcomes_by_backend(document).items()
        ),
    )
    return Section(
        "Summary",
        notes=(
            ("Outcomes per backend, then how its comparisons were judged, then outcomes per backend and check. "
             "An adapter error is a failure the adapter's own code raised (a KeyError on a name it does not know, say): it says "
             "nothing about the backend and is counted apart from its differences.",),
            ("A known deviation excuses only what its model predicts: where one is armed, the backend's values are held to the model "
             "(see Findings); a deviation without a model (a crash, uninitialised memory) leaves its quantities not judged.",),
            compact_legend(),
        ),
        tables=(by_backend, judged_table(document), *check_tables(document)),
    )


def share(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.1f}%)" if whole else "0"


def judged_table(document: dict) -> Table:
    """Per backend: its comparisons, and how many were judged against the oracle, against a
    known deviation's model, and not at all."""
    rows = []
    for name, counts in judged_shares(document).items():
        total = sum(counts.values())
        rows.append((Span(name, code=True), str(total), share(counts["oracle"], total), share(counts["model"], total), share(counts["not_judged"], total)))
    return Table(("backend", "comparisons", "judged against the oracle", "against a deviation's model", "not judged"), tuple(rows))


def failure_section(document: dict) -> Section:
    """Every failed test with its reason and rerun command, or a line saying none failed (or
    that nothing ran, which says nothing about failures)."""
    if not document["records"]:
        return Section("Failures", notes=(("Nothing ran: no test was collected, so this run says nothing about failures.",),))
    failed = failures(document)
    if not failed:
        return Section("Failures", notes=(("No test failed.",),))
    return Section(
        "Failures",
        notes=(
            (f"{counted(len(failed), 'test')} failed; each case reruns alone with its command, in a checkout or from an installed wheel. "
             "A comparison with the oracle that fails is diagnosed: the oracle is recomputed under each common mapping mistake "
             "(gate blocks permuted, a bias dropped or counted twice, the projection transposed, peepholes permuted, states in "
             "another order, lengths ignored by a direction), and the mistakes that explain the backend's results are named.",),
        ),
        tables=(
            Table(
                ("test", "reason", "diagnosis", "rerun"),
                tuple(
                    (Span(failure.test, code=True, tone="fail"), failure.reason, failure.describe_diagnosis(), Span(failure.rerun, code=True))
                    for failure in failed
                ),
            ),
        ),
    )


def feature_section(document: dict) -> Section:
    """The feature x backend matrix of compact outcome counts."""
    names = backend_names(document)
    matrix = feature_matrix(document)
    table = Table(
        ("feature", *names),
        tuple((feature, *(compact_span(matrix[feature][name], f"{name}, {feature}") for name in names)) for feature in matrix),
        layout="grid",
    )
    return Section(
        "Features",
        notes=(
            (f"Outcomes of every check of the case table (forward, gradients, invariants) on cases that use each "
             f"feature; '{ALL_CASES}' counts them all, the sweep is not included.",),
            compact_legend(),
        ),
        tables=(table,),
    )


def error_by_steps_table(document: dict) -> Table:
    """Sequence length x (backend, dtype): the largest max relative error of outputs."""
    worst = worst_output_error_by_steps(document)
    columns = sorted({key[1:] for key in worst})
    rows = tuple(
        (str(steps), *(format_error(worst[(steps, *column)]) if (steps, *column) in worst else "-" for column in columns))
        for steps in sorted({key[0] for key in worst})
    )
    return Table(("steps", *(f"{backend} {dtype}" for backend, dtype in columns)), rows)


def error_plot_section(document: dict) -> Section:
    """Error against sequence length: a table here, a scatter plot on the HTML page."""
    return Section(
        "Error against sequence length",
        notes=(
            ("Max relative error of the outputs (max |actual - expected| / max |expected|) of each forward case, "
             "and of each run of the threads check, against its number of steps; one panel per dtype. Runs of one backend, length and outcome whose errors "
             "land within four pixels of each other (markers 6.4 pixels wide) share a marker, whose tooltip counts them and gives their hidden sizes, "
             "thread counts, the largest error and its case. The table gives the largest per sequence "
             "length, leaving out errors that belong to a known deviation (the plot marks those).",),
        ),
        tables=(error_by_steps_table(document),),
        figure="error_scatter",
    )


def where(extreme: Extreme) -> Inline:
    """The case of a worst error, or '-' when the error is 0 (every case reached it)."""
    return "-" if extreme.value == 0 else Span(extreme.case, code=True)


def worst_error_section(document: dict) -> Section:
    """One table of worst errors per check, each row a backend, dtype and quantity."""
    errors = worst_errors(document)
    subsections = []
    for kind in dict.fromkeys(error.kind for error in errors):
        rows = tuple(
            (
                Span(error.backend, code=True),
                error.dtype,
                Span(error.quantity, code=True),
                str(error.comparisons),
                format_error(error.max_abs.value),
                where(error.max_abs),
                format_error(error.max_rel.value),
                "same" if error.max_rel.value != 0 and error.max_rel.case == error.max_abs.case else where(error.max_rel),
            )
            for error in errors
            if error.kind == kind
        )
        headers = ("backend", "dtype", "quantity", "compared", "max abs error", "case", "max rel error", "case")
        exact = all(error.max_abs.value == 0 for error in errors if error.kind == kind)
        notes = (("Every error is exactly 0.",),) if exact else ()
        subsections.append(Section(kind, notes=notes, tables=(Table(headers, rows, folded=exact),)))
    return Section(
        "Worst errors",
        notes=(
            ("Per check, backend, dtype and compared quantity: the largest max abs error and max rel error over all "
             "comparisons, and the case that reached each. Indexed quantities (outputs[2]) count as their family; "
             "the quantities of a reproduced known deviation are left out (see Findings). The checks after the sweep "
             "compare a backend with itself; the sweep draws both dtypes ('any').",),
        ),
        subsections=tuple(subsections),
    )


def tolerance_ratio_section(document: dict) -> Section:
    """Per backend and dtype, how close the comparisons with the oracle came to their tolerances."""
    distributions = tolerance_ratios(document)
    bounds = [f"≤ {bound:g}" for bound in RATIO_BINS] + [f"> {RATIO_BINS[-1]:g}"]
    headers = ("backend", "dtype", "compared", *(f"p{round(q * 100)}" for q in RATIO_QUANTILES), "max", *bounds)
    rows = tuple(
        (
            Span(distribution.backend, code=True),
            distribution.dtype,
            str(distribution.comparisons),
            *(f"{value:.2g}" for value in distribution.quantiles),
            Span(f"{distribution.largest:.2g}", tone="fail" if distribution.largest > 1 else ""),
            *(str(count) for count in distribution.bins),
        )
        for distribution in distributions
    )
    return Section(
        "Closeness to tolerance",
        notes=(
            ("Per backend and dtype, max abs error / tolerance over every forward and gradient comparison with the oracle "
             "(tolerances above 0; a reproduced known deviation's own quantities left out): quantiles, the largest, and how "
             "many comparisons fall in each bin. Above 1 is a failure; a drift that is still inside its tolerance shows "
             "here as a shift towards 1.",),
        ),
        tables=(Table(headers, rows),) if rows else (),
    )


def describe_reproducer_diagnosis(explanations: tuple[str, ...]) -> str:
    if not explanations:
        return "no common mapping mistake explains it."
    return "explained by " + "; or by ".join(explanations) + "."


def model_line(finding) -> str:
    """What the finding's model says and how the run's cases matched it, or why it has none."""
    if finding.unmodelled:
        return f"No model: {finding.unmodelled}."
    if not finding.model:
        return "No model declared (a deviation registered before models existed): its cases' deviating quantities are not judged."
    matched = (
        f"matched by {finding.model_matches} of {counted(finding.model_judged, 'record')} held to it; "
        f"worst error {finding.worst_model_ratio:.2g} of the tolerance" if finding.model_judged else "no record of this run was held to it"
    )
    return f"Model: {finding.model}; {matched}."


def describe_probe(probe: dict) -> str:
    units = "non-finite" if probe["error_units"] is None else f"{probe['error_units']:.3g} units of rounding"
    where = f" at {probe['worst_at']}" if probe["worst_at"] else ""
    returned = f", returned as {probe['returned']}" if probe["returned"] != probe["dtype"] else ""
    return f"{probe['primitive']} in {probe['dtype']}: {units}{where} (a correct one: at most {probe['limit']:g}){returned}"


def primitive_line(finding) -> str:
    """The primitive a finding blames with its probe's numbers, or what the backend's probes flag."""
    if finding.probes is None:
        return f"Primitive: {' in '.join(finding.primitive) if finding.primitive else 'none named'}; no primitive probe of {finding.backend} in this run."
    flagged = [probe for probe in finding.probes if probe["flagged"]]
    if finding.primitive:
        named = [probe for probe in finding.probes if (probe["primitive"], probe["dtype"]) == finding.primitive]
        measured = describe_probe(named[0]) if named else "not probed in this run"
        return f"Primitive: explained by {' in '.join(finding.primitive)}, probed alone: {measured}."
    others = "; ".join(describe_probe(probe) for probe in flagged) if flagged else "none"
    return f"Primitive: none explains it; of {finding.backend}'s {len(finding.probes)} probes, flagged: {others}."


def primitives_section(document: dict) -> Section:
    """Per backend and dtype: how many primitives were probed and which are flagged."""
    probes = primitive_probes(document)
    rows = []
    for backend, recorded in sorted(probes.items()):
        for dtype in dict.fromkeys(probe["dtype"] for probe in recorded):
            of_dtype = [probe for probe in recorded if probe["dtype"] == dtype]
            flagged = [describe_probe(probe) for probe in of_dtype if probe["flagged"]]
            unflagged = [probe["error_units"] / probe["limit"] for probe in of_dtype if not probe["flagged"]]
            rows.append((
                Span(backend, code=True), dtype, str(len(of_dtype)),
                Span("; ".join(flagged), tone="fail") if flagged else "none",
                f"{max(unflagged):.2g}" if unflagged else "-",
            ))
    return Section(
        "Primitives",
        notes=(
            ("The functions each backend's LSTM is built from, probed alone in every dtype it offers "
             "(conformance.probes.primitives): each activation it takes and its autodiff derivative on points exactly "
             "representable in the dtype, against reference/activations.py, and the matrix product of seeded "
             "matrices. Errors are in units of the dtype's rounding (u * max(|exact|, 1); for the product, "
             "u * (|a| |b|)); a probe is flagged beyond what a correct implementation in that dtype reaches, or "
             "when it returns another dtype. Backends whose LSTM kernel keeps its activations internal (ONNX "
             "Runtime and the exports it runs, TensorFlow's block LSTM, Paddle's fused rnn) offer no probe.",),
        ),
        tables=(Table(("backend", "dtype", "probed", "flagged", "largest unflagged / limit"), tuple(rows)),) if rows else (),
    )


def findings_section(document: dict) -> Section:
    """Every registered known deviation: what it is, how often it showed, its reproducer."""
    found = findings(document)
    subsections = tuple(
        Section(
            finding.name,
            notes=(
                (f"Backend {finding.backend}; checks: {', '.join(finding.checks)}; "
                 f"deviating quantities: {', '.join(finding.quantities)}.",),
                (f"Summary: {finding.summary}",),
                (f"Versions seen: {', '.join(finding.versions_seen)}. "
                 f"Reproduced by {counted(finding.records_hit, 'record')} of this run"
                 + ("." if finding.strict else "; it shows by chance, so cases it applies to may also pass."),),
                (model_line(finding),),
                (primitive_line(finding),),
                (f"Upstream: {finding.upstream or 'not searched'}.",),
                ("Reproducer: ", Span(finding.reproducer_command, code=True)),
                *((("Diagnosis of the reproducer: " + describe_reproducer_diagnosis(finding.diagnosis),),) if finding.diagnosis is not None else ()),
            ),
        )
        for finding in found
    )
    lead = f"{counted(len(found), 'known deviation')} registered." if found else "No known deviation is registered."
    return Section("Findings", notes=((lead,),), subsections=subsections)


def parameter_count_section(document: dict) -> Section:
    """The distinct specs x backends table of parameter counts against the oracle's."""
    rows = parameter_counts(document)
    names = sorted({row.backend for row in rows})
    layouts = {name: "/".join(sorted({row.layout for row in rows if row.backend == name})) for name in names}
    cells: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        sign = "=" if row.match else "≠"
        cells.setdefault((row.spec, row.backend), []).append(f"{row.backend_count} {sign} {row.oracle_count}")
    mismatched = {(row.spec, row.backend) for row in rows if not row.match}
    table_rows = tuple(
        (
            Span(spec, code=True),
            *(Span("; ".join(cells.get((spec, name), ["-"])), tone="fail" if (spec, name) in mismatched else "") for name in names),
        )
        for spec in dict.fromkeys(row.spec for row in rows)
    )
    specs = len(table_rows)
    return Section(
        "Parameter counts",
        notes=(
            (f"{counted(specs, 'distinct spec')} (the fields that decide a count), "
             f"{counted(len(mismatched), 'mismatch', 'mismatches')}. Cells: the backend's "
             "count = the oracle's count under the backend's layout (≠ when they differ); '-' where the backend "
             "did not run the spec; ",
             Span("lstm-parity params", code=True),
             " explains any count term by term.",),
        ),
        tables=(Table(("spec", *(f"{name} ({layouts[name]})" for name in names)), table_rows, folded=specs > LONG_TABLE_ROWS),),
    )


def capability_section(document: dict) -> Section:
    """Per feature and backend: whether the backend runs it here (the reason on hover where
    not); then per backend, what it refuses and why."""
    tables = capability_tables(document["records"])
    if not tables:
        return Section("Capabilities", notes=(("No capability table was recorded in this run.",),))
    backends = sorted(tables)
    features = list(dict.fromkeys(feature for table in tables.values() for feature in table))

    def mark(backend: str, feature: str) -> Inline:
        reason = tables[backend].get(feature)
        if reason is None:
            return "?"
        return Span(NO_MARK, tone="unsupported", detail=reason) if reason else Span(YES_MARK, tone="pass")

    grid = Table(("feature", *backends), tuple((feature, *(mark(backend, feature) for backend in backends)) for feature in features), layout="grid")
    refused: dict[tuple[str, str], list[str]] = {}
    for backend in backends:
        for feature, reason in tables[backend].items():
            if reason:
                refused.setdefault((backend, reason), []).append(feature)
    reasons = Table(
        ("backend", "cannot run", "why"),
        tuple((Span(backend, code=True), ", ".join(names), reason) for (backend, reason), names in refused.items()),
        folded=True,
    )
    return Section(
        "Capabilities",
        notes=(
            ("What each backend runs here, asked once per feature on the plainest case with it. A feature a "
             "backend lacks makes no test (it is not a skip per case); each refusal is checked to be refused with "
             "its reason, each feature it runs to be exercised by its cases. ",
             Span(f"{YES_MARK} runs here", tone="pass"), " ", Span(f"{NO_MARK} refused", tone="unsupported"),
             "; the HTML page shows each refusal's reason on hover, and the table after the grid gives them all.",),
        ),
        tables=(grid, reasons),
    )


def semantics_section(document: dict) -> Section:
    """Per situation a convention governs and per backend: the convention measured."""
    records = [record for record in document["records"] if record.get("kind") == "semantics" and "semantics" in record]
    tables = semantics_tables(records)
    if not tables:
        return Section("Semantics", notes=(("No semantics table was recorded in this run.",),))
    declared = {column(record): record.get("declared", {}) for record in records}
    situations = list(dict.fromkeys(situation for table in tables.values() for situation in table))
    rows = tuple(
        (situation, *(mark_declared(tables[backend].get(situation, "?"), declared[backend].get(situation), situation) for backend in tables))
        for situation in situations
    )
    return Section(
        "Semantics",
        notes=(
            ("Where frameworks define a value differently on purpose, or a specification leaves it open. Every cell is "
             "measured: the backend runs the situation's case and the values at its padded steps are matched against what "
             "each convention predicts from its own valid outputs and the initial states (zeros: exactly 0; carried: the "
             "direction's output at the step processed just before, 0 before any valid step; carried-initial: the same, "
             "but the initial hidden state before any valid step); the final states of an empty sequence against the "
             "initial states (initial) and zeros (zeros), which the ONNX specification leaves open (it says nothing of "
             "length 0). "
             "'declared' marks a convention the adapter declares, which the parity checks then hold it to; "
             "the oracle's are zeros and initial. The forget-gate bias offset is the constant the adapter declares its framework adds "
             "(Haiku and Sonnet add 1.0); a probe whose gates see their biases alone confirms the mapping undoes it.",),
        ),
        tables=(Table(("situation", *tables), rows),),
    )


def power_section(document: dict) -> Section:
    """Per factor level and backend, the smallest drift of the backend's values the run's
    checks notice there (:mod:`conformance.judge.power`), its weakest target's; blind spots marked."""
    table = power_table(document["records"])
    if not table:
        return Section("Detection thresholds", notes=(("No check of this run recorded detection thresholds.",),))
    backends = sorted(table)
    spots = blind_spots(table)
    rows = []
    for level in LEVELS:
        if not any(level in table[backend] for backend in backends):
            continue
        cells = []
        for backend in backends:
            targets = table[backend].get(level)
            if not targets:
                cells.append("")
                continue
            weakest = None if None in targets.values() else max(targets.values())
            blind = any(spot[:2] == (backend, level) for spot in spots)
            cells.append(Span(format_threshold(weakest), tone="fail" if blind else ""))
        rows.append((level, *cells))
    listed = "; ".join(f"{backend}: {target} at {level}" for backend, level, target in spots) or "none"
    explained = below_resolution(table)
    reasons = tuple(
        (f"Below the resolution of {level}, not blind spots ({BELOW_RESOLUTION[level]}): "
         + ", ".join(dict.fromkeys(backend for backend, spot_level, _ in explained if spot_level == level)) + ".",)
        for level in dict.fromkeys(level for _, level, _ in explained)
    )
    return Section(
        "Detection thresholds",
        notes=(
            ("The suite's power in physical units: per factor level and backend, the smallest relative drift of the "
             "backend's values (times 1 + eps or 1 - eps, confined to that level's runs) that some check against the "
             "oracle, or against a deviation's model, fails; the largest over outputs, final states and gradients, each "
             "computed exactly from the run's comparisons (see conformance.judge.power; lstm-parity power prints each target). "
             "Empty: the backend ran no case of the level. The tolerances these come from are in the sections above.",),
            (f"Blind spots (a level run where no drift up to {BLIND_SPOT_EPSILON:g} is noticed): {listed}.",),
            *reasons,
        ),
        tables=(Table(("level", *backends), tuple(rows)),),
    )


def largest_error(record: dict, label: str) -> str:
    """The largest relative error of the record's comparisons labelled ``[label]``."""
    errors = [comparison["max_rel_error"] for comparison in record.get("comparisons", []) if comparison["quantity"].endswith(f"[{label}]")]
    return format_error(None if None in errors else max(errors)) if errors else "-"


def threads_section(document: dict) -> Section:
    """Per backend: its large case at one thread and at several, against the oracle and
    against each other."""
    records = [record for record in document["records"] if record.get("kind") == "threads"]
    if not records:
        return Section("Thread counts", notes=(("No backend ran the threads check in this run.",),))
    rows = []
    for record in sorted(records, key=column):
        counts = record.get("threads", [1, 1])
        many = f"{counts[-1]} threads"
        agreement = "-" if "bitwise_across_threads" not in record else "bitwise" if record["bitwise_across_threads"] else "within tolerance"
        promised = "yes" if record.get("promises_thread_determinism") else "no"
        rows.append(
            (column(record), Span(record.get("case_id", "-"), code=True), Span(OUTCOME_ABBREVIATIONS[record["outcome"]], tone=OUTCOME_TONES[record["outcome"]]),
             largest_error(record, "1 thread"), largest_error(record, many), largest_error(record, f"{many} against 1"), agreement, promised,
             record.get("threads_set_in", "-"))
        )
    return Section(
        "Thread counts",
        notes=(
            ("Each backend's first large-shape case, run in its usual single-threaded process and at several "
             "intra-op threads: in that same process for one run where its adapter offers threaded runs (the "
             "framework's own setting, changed at run time), else in a second process set to them (environment "
             "variables and the framework's own setting). Both are held to the oracle's tolerance, and to each other: bit for bit where the adapter says the "
             "backend promises it, else within the same tolerance. Errors are the largest relative ones over the "
             "outputs and final states.",),
        ),
        tables=(Table(("backend", "case", "outcome", "1 thread", "several", "several against 1", "agreement", "promised", "threads set in"), tuple(rows)),),
    )


def batch_position_section(document: dict) -> Section:
    """Per backend: how many of its cases gave each sample run alone its row in the batch
    bit for bit, and whether its adapter promises that."""
    records = [record for record in document["records"] if record.get("kind") == "sample_alone" and "bitwise_alone" in record]
    if not records:
        return Section("Batch position", notes=(("No backend ran the sample-alone check in this run.",),))
    rows = []
    for backend in sorted({column(record) for record in records}):
        own = [record for record in records if column(record) == backend]
        bitwise = sum(record["bitwise_alone"] for record in own)
        promised = "yes" if any(record.get("promises_batch_invariance") for record in own) else "no"
        rows.append((backend, str(len(own)), str(bitwise), promised))
    return Section(
        "Batch position",
        notes=(
            ("Each sample of an invariant case run alone, against its row in the batch: held to the oracle's tolerance, "
             "or bit for bit where the adapter says its backend is batch-invariant. Per backend, the cases checked and "
             "those where every sample was its row bit for bit: a measurement, not a verdict, unless promised.",),
        ),
        tables=(Table(("backend", "cases", "bitwise", "promised"), tuple(rows)),),
    )


def mark_declared(cell: str, declared: str | None, situation: str) -> str:
    """``cell``, marked when the backend declares a convention other than the oracle's for
    the convention that governs ``situation``."""
    convention = SITUATION_CONVENTIONS.get(situation, PADDED_OUTPUTS)
    return f"{cell} (declared {declared})" if declared and declared != CONVENTIONS[convention][0] else cell


def build_page(document: dict, records_href: str = "") -> Page:
    """The page for a parity document: a verdict per backend first, then the run summary,
    environment, failures, capabilities, features, errors, findings and parameter counts;
    ``records_href``: where the page links to the records ('' for no link)."""
    side_by_side = side_by_side_section(document)
    return Page(
        TITLE,
        run_lines(document, records_href),
        (
            verdict_section(document),
            summary_section(document),
            environment_section(document),
            *((side_by_side,) if side_by_side else ()),
            failure_section(document),
            capability_section(document),
            semantics_section(document),
            primitives_section(document),
            threads_section(document),
            batch_position_section(document),
            feature_section(document),
            error_plot_section(document),
            worst_error_section(document),
            tolerance_ratio_section(document),
            power_section(document),
            findings_section(document),
            parameter_count_section(document),
        ),
    )
