"""Parity reports: the JSON's schema, the aggregation, and the Markdown and HTML pages built from it."""

from __future__ import annotations

import copy
import gzip
import json
import re
import subprocess
import sys
from dataclasses import asdict
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from conformance.cases.table import DTYPE_NAMES, Case
from conformance.report.content import Page, Section, Span, Table, compact_text
from conformance.report.files import RECORDS_NAME, load_document, write_pages
from conformance.report.html_page import page_html, render_html
from conformance.report.markdown_page import render_markdown
from conformance.report.schema import SCHEMA_VERSION, parity_schema
from conformance.report.summary import (
    ErrorPoint,
    error_points,
    feature_matrix,
    findings,
    ordered_kinds,
    parameter_counts,
    tolerance_ratios,
    worst_errors,
)
from conformance.report.svg import error_scatter
from conformance.report.verdicts import backend_verdicts

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
HOSTILE = '<script>alert(1)</script> " onmouseover="x & | `tick` ``` \nsecond line'
FORWARD_TEST = "conformance/test_forward_parity.py::test_forward_matches_oracle"
PLAIN_CASE = "L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu"
BIDIR_CASE = "L2-bidir-bm-mixed-h0-P3-bias-nopeep-noclip-std-f32-base-sat-cpu"
PEEPHOLE_CASE = "L1-fwd-tm-none-zero-P0-bias-peep-noclip-std-f64-base-typ-cpu"
LONG_CASE = "L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f32-long-typ-cpu"


def comparison(quantity: str, max_abs: float | None, max_rel: float | None, passed: bool = True, detail: str = "") -> dict:
    return {
        "quantity": quantity, "max_abs_error": max_abs, "max_rel_error": max_rel, "tolerance": 1e-12, "passed": passed, "detail": detail
    }


def case_record(backend: str, case_id: str, outcome: str = "pass", kind: str = "forward", **fields) -> dict:
    """A record as the suite writes one for ``case_id`` on ``backend``; ``fields`` replace any field."""
    case = Case.from_id(case_id)
    record = {
        "test": f"{FORWARD_TEST}[{backend}-{case_id}]",
        "kind": kind,
        "outcome": outcome,
        "reason": "",
        "duration_s": 0.01,
        "backend": backend,
        "backend_version": "1.0",
        "case_id": case_id,
        "case": asdict(case),
        "spec": asdict(case.spec),
        "dtype": DTYPE_NAMES[case.dtype],
        "device": case.device,
        "steps": case.steps,
        "batch": case.batch,
        "deviations": [],
    }
    return {**record, **fields}


def synthetic_document(name: str = "torch", text: str = "plain text") -> dict:
    """A small valid document: backend ``name`` (also its version) and ``paddle``; ``text`` in
    every free-text field (reasons, details, summaries, environment, arguments)."""
    deviation = {
        "name": "dev-padded",
        "backend": "paddle",
        "checks": ["forward"],
        "summary": text,
        "quantities": ["outputs_padded"],
        "reproducer": BIDIR_CASE,
        "reproducer_test": f"{FORWARD_TEST}[paddle-{BIDIR_CASE}]",
        "versions_seen": ["3.3.1", text],
        "strict": True,
    }
    records = [
        case_record(
            name,
            PLAIN_CASE,
            backend_version=name,
            comparisons=[comparison("outputs", 1e-15, 2e-15), comparison("parameter_count", 0.0, 0.0)],
            parameter_count={"layout": "two_biases", "backend": 264, "oracle": 264},
        ),
        case_record(name, LONG_CASE, comparisons=[comparison("outputs", 1e-6, 2e-6)]),
        case_record(
            name,
            BIDIR_CASE,
            outcome="fail",
            reason=text,
            comparisons=[comparison("outputs", None, None, passed=False, detail=text), comparison("h_n", 3e-3, 4e-3, passed=False)],
        ),
        case_record(
            "paddle",
            BIDIR_CASE,
            outcome="known_deviation",
            reason=text,
            deviations=["dev-padded"],
            comparisons=[comparison("outputs", 5e-7, 6e-7), comparison("outputs_padded", 3.0, 1.5, passed=False)],
            parameter_count={"layout": "two_biases", "backend": 1300, "oracle": 1296},
        ),
        case_record("paddle", PEEPHOLE_CASE, outcome="unsupported", reason=text),
        case_record(
            name,
            PLAIN_CASE,
            kind="gradients",
            test=f"conformance/test_gradients.py::test_gradients[{name}-{PLAIN_CASE}]",
            comparisons=[comparison("grad_x", 1e-14, 1e-13), comparison("grad_w_ih", 2e-14, 3e-13)],
        ),
        case_record(
            name,
            PLAIN_CASE,
            kind="sample_alone",
            test=f"conformance/test_invariants.py::test_sample_alone[{name}-{PLAIN_CASE}]",
            comparisons=[comparison("outputs[0]", 1e-16, 1e-16), comparison("outputs[1]", 4e-16, 5e-16)],
        ),
        {
            "test": f"conformance/test_sweep.py::test_random_specs_match_the_oracle[{name}]",
            "kind": "sweep",
            "outcome": "pass",
            "reason": "",
            "duration_s": 0.5,
            "backend": name,
            "backend_version": name,
            "examples": 10,
            "examples_compared": 9,
            "comparisons": [comparison("outputs", 1e-16, 2e-16)],
        },
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {"started": "2026-01-01T00:00:00+00:00", "duration_s": 1.5, "arguments": ["conformance/", text], "exit_status": 1},
        "environment": {
            "python": "3.11.7",
            "platform": text,
            "packages": {"numpy": "2.0", "torch": text},
            "cpu": text,
            "cpu_count": 2,
            "gpus": [text],
        },
        "deviations": [deviation],
        "records": sorted(records, key=lambda record: record["test"]),
    }


def run_forward_parity(directory: Path, adapter: str) -> tuple[subprocess.CompletedProcess, Path]:
    """Run the forward parity tests on ``adapter`` from the repository root; the process and its JSON."""
    report = directory / "parity.json"
    command = [sys.executable, "-m", "pytest", "conformance/test_forward_parity.py", "-q", "-p", "no:cacheprovider"]
    process = subprocess.run(
        [*command, "--adapter", adapter, "--parity-json", str(report)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    return process, report


@pytest.fixture(scope="module")
def example_run(tmp_path_factory) -> dict:
    process, report = run_forward_parity(tmp_path_factory.mktemp("example"), "adapters.example:ExampleAdapter")
    assert process.returncode == 0, process.stdout[-2000:]
    return json.loads(report.read_text())


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(parity_schema())
    return Draft202012Validator(parity_schema())


class TagChecker(HTMLParser):
    """Collects what makes HTML ill-formed or unsafe: end tags that close nothing open, tags
    left open, event-handler attributes, and the values of href and src. The end tags HTML
    makes optional for table cells and rows (the pages leave them out) are implied where
    HTML's parser implies them: by the next cell or row, or the end of the row or table part."""

    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})
    # Open elements a start tag (or end tag) ends implicitly, innermost first.
    ENDED_BY_START = {"td": ("td", "th"), "th": ("td", "th"), "tr": ("td", "th", "tr")}
    ENDED_BY_END = {"tr": ("td", "th"), "thead": ("td", "th", "tr"), "tbody": ("td", "th", "tr"), "tfoot": ("td", "th", "tr"), "table": ("td", "th", "tr")}

    def end_implied(self, tags: tuple[str, ...]) -> None:
        while self.open and self.open[-1] in tags:
            self.open.pop()

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.references: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.check_attributes(tag, attrs)
        self.end_implied(self.ENDED_BY_START.get(tag, ()))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.check_attributes(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self.end_implied(self.ENDED_BY_END.get(tag, ()))
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()

    def check_attributes(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag}> has event handler {name}")
            if name in ("href", "src", "xlink:href"):
                self.references.append(value or "")


def check_html(page: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.problems == []
    assert checker.open == []
    return checker


def markdown_tables(page: str) -> list[list[str]]:
    """The page's tables, each as its lines (consecutive lines starting with '|')."""
    tables, current = [], []
    for line in page.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


def outside_code_spans(markdown: str) -> str:
    """``markdown`` without its code spans (whose content a renderer shows verbatim, never as
    markup); a backtick escaped by a backslash opens none."""
    return re.sub(r"(?<![`\\])(`+)(?!`).*?(?<!`)\1(?!`)", "", markdown)


def cell_count(row: str) -> int:
    """Cells of a Markdown table row: separators are pipes not escaped by a backslash."""
    return len(re.split(r"(?<!\\)\|", row)) - 2


def test_a_real_run_writes_a_document_the_schema_accepts(example_run, validator):
    assert example_run["records"], "the run recorded nothing"
    assert sorted(error.message for error in validator.iter_errors(example_run)) == []


def test_the_schema_rejects_broken_documents(example_run, validator):
    wrong_outcome = copy.deepcopy(example_run)
    wrong_outcome["records"][0]["outcome"] = "maybe"
    no_run = {key: value for key, value in example_run.items() if key != "run"}
    unknown_field = {**copy.deepcopy(example_run), "surprise": 1}
    text_error = copy.deepcopy(example_run)
    text_error["records"][0].setdefault("comparisons", [comparison("outputs", 0.0, 0.0)])[0]["max_abs_error"] = "small"
    for broken in (wrong_outcome, no_run, unknown_field, text_error):
        assert not validator.is_valid(broken)


def test_the_synthetic_documents_are_valid(validator):
    for document in (synthetic_document(), synthetic_document(HOSTILE, HOSTILE)):
        assert sorted(error.message for error in validator.iter_errors(document)) == []


def threads_record(outcome: str = "pass", deviations: tuple[str, ...] = ()) -> dict:
    """A threads check's record on torch's H203 case: outputs at 1 and 4 threads, and against each other."""
    case_id = LONG_CASE.replace("-long-", "-H203-")
    return case_record(
        "torch",
        case_id,
        outcome=outcome,
        kind="threads",
        test=f"conformance/test_threads.py::test_thread_count_changes_nothing_but_rounding[torch-{case_id}]",
        deviations=list(deviations),
        threads=[1, 4],
        bitwise_across_threads=False,
        promises_thread_determinism=False,
        threads_set_in="its own process",
        comparisons=[
            comparison("outputs[1 thread]", 1e-7, 2e-7),
            comparison("h_n[1 thread]", 1e-7, 1e-7),
            comparison("outputs[4 threads]", 3e-7, 4e-7),
            comparison("outputs[4 threads against 1]", 1e-7, 1e-7),
        ],
    )


def test_the_error_plot_and_thread_table_show_each_run_of_the_threads_check(validator):
    document = synthetic_document()
    document["records"].append(threads_record())
    assert sorted(error.message for error in validator.iter_errors(document)) == []
    points = [point for point in error_points(document) if point.hidden_size == 203]
    assert [(point.threads, point.steps, point.rel_error, point.deviating) for point in points] == [(1, 20, 2e-7, False), (4, 20, 4e-7, False)]
    page = render_html(document)
    assert "20 steps: 1 run (H 203, threads 4), max rel error 4.00e-07" in page
    assert "20 steps: 1 run (H 203, threads 1), max rel error 2.00e-07" in page
    section = render_markdown(document).split("## Thread counts", 1)[1]
    row = next(line for line in section.splitlines() if "H203" in line)
    assert [cell.strip() for cell in row.strip("|").split("|")][2:] == ["pass", "2.00e-07", "4.00e-07", "1.00e-07", "within tolerance", "no", "its own process"]


def test_runs_whose_errors_share_a_pixel_share_a_marker_that_counts_them():
    def point(error: float, hidden_size: int, outcome: str = "pass") -> ErrorPoint:
        return ErrorPoint("torch", "float32", 8, hidden_size, 1, error, outcome, False, f"t[torch-case-H{hidden_size}]")

    # 1.000e-6 and 1.001e-6 are a small fraction of a pixel apart; 1e-3 is decades away; a
    # failure is never merged with passes.
    figure = error_scatter([point(1.000e-6, 4), point(1.001e-6, 64), point(1e-3, 8), point(1.0005e-6, 16, "fail")])
    assert figure.count("<title>") == 3
    assert "8 steps: 2 runs (H 4 to 64, threads 1), max rel error up to 1.00e-06 (pass)\ncase-H64" in figure
    assert "8 steps: 1 run (H 8, threads 1), max rel error 1.00e-03 (pass)" in figure
    assert "8 steps: 1 run (H 16, threads 1), max rel error 1.00e-06 (fail)" in figure


def test_a_deviation_of_the_outputs_covers_their_runs_at_each_thread_count():
    document = synthetic_document()
    document["deviations"].append({**document["deviations"][0], "name": "dev-outputs", "backend": "torch", "quantities": ["outputs"]})
    document["records"].append(threads_record("known_deviation", ("dev-outputs",)))
    assert {point.deviating for point in error_points(document) if point.hidden_size == 203} == {True}


@pytest.mark.full_depth
def test_a_wrong_adapter_shows_its_failures_in_the_report(tmp_path):
    process, report = run_forward_parity(tmp_path, "tests.support.wrong_adapter:WrongGateOrderAdapter")
    assert process.returncode == 1, process.stdout[-2000:]
    document = load_document(report)
    failed = sorted(record["test"] for record in document["records"] if record["outcome"] == "fail")
    ran = [record for record in document["records"] if record["outcome"] != "unsupported"]
    assert failed and len(failed) == len(ran), "every case the backend runs must fail"
    markdown_path, html_path = write_pages(document, tmp_path / "pages")
    markdown, page = markdown_path.read_text(), html_path.read_text()
    unsupported = len(document["records"]) - len(failed)
    assert f"| `wrong-gate-order` | {document['records'][0]['backend_version']} | 0 | {len(failed)} | {unsupported} | 0 |" in markdown
    assert "pytest exit status 1 (some tests failed)" in markdown
    assert f"{len(failed)} tests failed" in markdown and f"{len(failed)} tests failed" in page
    for test in failed:
        assert f"| `{test}` | AssertionError: values differ beyond their tolerance:<br>outputs: max abs error" in markdown
        assert f'<td class="fail"><code>{test}</code><td>' in page
        case_id = test.split("[wrong-gate-order-")[1].rstrip("]")
        # The adapter is found through the checkout (not installed): its folder is the rerun's PYTHONPATH.
        rerun = f"PYTHONPATH={Path(__file__).resolve().parents[2]} pytest --pyargs conformance --adapter tests.support.wrong_adapter:WrongGateOrderAdapter --case {case_id}"
        assert f"| `{rerun}` |" in markdown and f"<td>{rerun}" in page
    # The adapter swaps the input and forget blocks of every weight and bias it maps: named.
    diagnosis = "gate blocks i and f swapped in w_ih, w_hh, b_ih, b_hh"
    assert all(record["diagnosis"] == [diagnosis] for record in document["records"] if record["outcome"] == "fail")
    assert markdown.count(f"| {diagnosis} |") == len(failed)
    assert "worst at time step" in markdown
    assert "No test failed" not in markdown
    check_html(page)


def test_closeness_to_tolerance_is_a_distribution_per_backend_and_dtype():
    """Ratios error / tolerance, binned and summarised; zero tolerances, non-finite errors,
    invariant checks and a reproduced deviation's quantities are left out."""
    document = synthetic_document()

    def ratio_comparison(quantity: str, ratio: float | None, tolerance: float = 1e-6) -> dict:
        error = None if ratio is None else ratio * tolerance
        return {**comparison(quantity, error, error), "tolerance": tolerance, "passed": ratio is not None and ratio <= 1}

    ratios = [0.0, 0.0005, 0.002, 0.02, 0.3, 0.3, 0.7, 1.0, 4.0]
    document["records"] = [
        case_record("torch", PLAIN_CASE, comparisons=[ratio_comparison("outputs", ratio) for ratio in ratios]),
        case_record("torch", PLAIN_CASE, kind="gradients", comparisons=[ratio_comparison("grad_x", 0.01), ratio_comparison("grad_x_padded", 0.0, 0.0)]),
        case_record("torch", PLAIN_CASE, kind="sample_alone", comparisons=[ratio_comparison("outputs[0]", 0.9)]),
        case_record("torch", BIDIR_CASE, comparisons=[ratio_comparison("h_n", None), ratio_comparison("c_n", 0.1)]),
        case_record("paddle", BIDIR_CASE, outcome="known_deviation", deviations=["dev-padded"],
                    comparisons=[ratio_comparison("outputs_padded", 50.0), ratio_comparison("outputs", 0.5)]),
    ]
    distributions = {(d.backend, d.dtype): d for d in tolerance_ratios(document)}
    assert set(distributions) == {("torch", "float64"), ("torch", "float32"), ("paddle", "float32")}
    float64 = distributions["torch", "float64"]
    assert float64.comparisons == 10 and float64.largest == 4.0
    assert float64.bins == (2, 2, 1, 2, 2, 1)
    assert float64.quantiles[0] == pytest.approx(0.16)
    assert distributions["torch", "float32"].bins == (0, 0, 1, 0, 0, 0)
    assert distributions["paddle", "float32"].comparisons == 1 and distributions["paddle", "float32"].largest == 0.5
    markdown = render_markdown(document)
    assert "| backend | dtype | compared | p50 | p90 | p99 | max | ≤ 0.001 | ≤ 0.01 | ≤ 0.1 | ≤ 0.5 | ≤ 1 | \\> 1 |" in markdown
    assert "| `torch` | float64 | 10 | 0.16 | 1.3 | 3.7 | 4 | 2 | 2 | 1 | 2 | 2 | 1 |" in markdown


HALF_CASE = "L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f16-base-typ-cpu"


def test_each_backend_gets_a_verdict_line_first_saying_what_is_wrong_with_it():
    document = synthetic_document()
    thresholds = {"outputs": 3e-6, "h_n": 1e-5, "grad_x": 2e-6}
    document["records"] += [
        case_record("onnxruntime", LONG_CASE, comparisons=[comparison("outputs", 1e-13, 1e-13)], drift_thresholds=thresholds),
        # float16's own rounding explains a coarse threshold: not the weakest level, not blind.
        case_record("onnxruntime", HALF_CASE, comparisons=[comparison("outputs", 1e-13, 1e-13)], drift_thresholds={"outputs": 2e-2}),
        case_record("keras", PLAIN_CASE, outcome="fail", adapter_error="KeyError: 'kernel'", reason="KeyError"),
    ]
    document["records"].append({"kind": "capabilities", "backend": "onnxruntime", "test": "conformance/test_capabilities.py::t[onnxruntime]",
                                "outcome": "pass", "reason": "", "duration_s": 0.1, "capabilities": {"peepholes": "", "projection": "no proj"}})
    verdicts = {verdict.backend: verdict for verdict in backend_verdicts(document)}
    assert sorted(verdicts) == ["keras", "onnxruntime", "paddle", "torch"]
    torch, paddle, onnx, keras = (verdicts[name] for name in ("torch", "paddle", "onnxruntime", "keras"))
    assert (torch.failures, torch.findings, torch.conforms) == (1, (), False)
    assert (paddle.failures, paddle.findings, paddle.conforms) == (0, ("dev-padded",), False)
    assert (keras.failures, keras.adapter_errors) == (0, 1)
    assert onnx.conforms and onnx.cannot_run == (("projection", "no proj"),)
    assert (onnx.weakest_threshold, onnx.weakest_level, onnx.blind_spots) == (1e-5, "float32", 0)
    # The failing h_n of torch: 3e-3 against a tolerance of 1e-12.
    assert torch.worst_ratio == pytest.approx(3e9) and torch.worst_dtype == "float32"

    page = render_markdown(document)
    assert page.split("\n## ")[1].startswith("Verdicts\n")
    lines = {line.split(" | ")[0].strip("| `"): line for line in page.split("## Verdicts", 1)[1].split("\n## ", 1)[0].splitlines() if line.startswith("| `")}
    # Columns: verdict, worst error / tolerance, drift noticed, cannot run, findings (last).
    assert "| ✗ 1 failure | 3e+09 (float32) | not recorded | nothing | none |" in lines["torch"]
    assert "| ◆ 1 finding |" in lines["paddle"] and lines["paddle"].endswith("| [dev-padded](#dev-padded) |")
    assert "| ✗ 1 adapter error |" in lines["keras"]
    assert "| ✓ conforms |" in lines["onnxruntime"] and "[1e-05 (float32)](#detection-thresholds) | [1 feature](#capabilities) | none |" in lines["onnxruntime"]
    assert "### dev-padded" in page
    html = render_html(document)
    assert '<a href="#dev-padded" title="dev-padded">dev-padded</a>' in html and '<h3 id="dev-padded">' in html
    assert 'title="projection: no proj"' in html


def test_compact_cells_show_each_outcome_that_occurred_as_a_symbol_and_count():
    assert compact_text({"pass": 64, "fail": 0, "unsupported": 0, "known_deviation": 15}) == "✓64 ◆15"
    assert compact_text({"pass": 0, "fail": 2, "unsupported": 1, "known_deviation": 0}) == "✗2 –1"
    assert compact_text(dict.fromkeys(("pass", "fail", "unsupported", "known_deviation"), 0)) == "·"


def test_a_run_that_collected_nothing_says_so_instead_of_no_failure():
    document = {**synthetic_document(), "records": []}
    markdown = render_markdown(document)
    assert "Nothing ran: no test was collected" in markdown
    assert "No test failed" not in markdown


def test_aggregation_counts_features_per_backend():
    matrix = feature_matrix(synthetic_document())
    assert matrix["all cases"]["torch"] == {"pass": 4, "fail": 1, "unsupported": 0, "known_deviation": 0}
    assert matrix["all cases"]["paddle"] == {"pass": 0, "fail": 0, "unsupported": 1, "known_deviation": 1}
    assert matrix["bidirectional"]["torch"] == {"pass": 0, "fail": 1, "unsupported": 0, "known_deviation": 0}
    assert matrix["peepholes"]["paddle"]["unsupported"] == 1
    assert matrix["float32"]["paddle"]["known_deviation"] == 1
    assert matrix["float64"]["torch"]["pass"] == 3
    assert matrix["float32"]["torch"] == {"pass": 1, "fail": 1, "unsupported": 0, "known_deviation": 0}
    assert matrix["saturation regime"]["torch"]["fail"] == 1
    assert matrix["no bias"]["torch"] == {"pass": 0, "fail": 0, "unsupported": 0, "known_deviation": 0}


def test_worst_errors_rank_non_finite_first_leave_out_deviations_and_list_any_quantity():
    errors = {(error.kind, error.backend, error.dtype, error.quantity): error for error in worst_errors(synthetic_document())}
    failed_outputs = errors[("forward", "torch", "float32", "outputs")]
    assert failed_outputs.max_abs.value is None and failed_outputs.max_abs.case == BIDIR_CASE
    assert ("forward", "paddle", "float32", "outputs_padded") not in errors
    assert errors[("forward", "paddle", "float32", "outputs")].max_rel.value == 6e-7
    assert errors[("gradients", "torch", "float64", "grad_w_ih")].max_rel.value == 3e-13
    assert errors[("gradients", "torch", "float64", "grad_x")].max_abs.value == 1e-14
    family = errors[("sample_alone", "torch", "float64", "outputs")]
    assert (family.max_abs.value, family.comparisons) == (4e-16, 2)
    assert errors[("sweep", "torch", "any", "outputs")].max_abs.case.endswith("test_random_specs_match_the_oracle[torch]")
    assert [kind for kind in dict.fromkeys(key[0] for key in errors)] == ["forward", "gradients", "sweep", "sample_alone"]


def test_checks_that_compare_with_the_oracle_come_first_with_their_variants():
    kinds = ["stacking", "sweep", "gradients_c_n", "forward", "padding", "gradients", "forward"]
    assert ordered_kinds(kinds) == ["forward", "gradients", "gradients_c_n", "sweep", "padding", "stacking"]


def test_parameter_counts_and_findings():
    document = synthetic_document()
    rows = {(row.spec, row.backend): row for row in parameter_counts(document)}
    assert rows[("I=4 H=6 L=1", "torch")].match
    mismatch = rows[("I=4 H=6 L=2 bidir P=3", "paddle")]
    assert (mismatch.backend_count, mismatch.oracle_count, mismatch.match) == (1300, 1296, False)
    [finding] = findings(document)
    assert finding.records_hit == 1
    assert finding.reproducer_command == f'pytest "{FORWARD_TEST}[paddle-{BIDIR_CASE}]"'
    markdown = render_markdown(document)
    assert "| `I=4 H=6 L=2 bidir P=3` | 1300 ≠ 1296 | - |" in markdown
    assert f'Reproducer: `pytest "{FORWARD_TEST}[paddle-{BIDIR_CASE}]"`' in markdown
    assert "Reproduced by 1 record of this run." in markdown
    assert finding.diagnosis is None and "Diagnosis of the reproducer" not in markdown


def test_findings_show_the_diagnosis_of_each_reproducer():
    document = synthetic_document()
    reproducers = {
        "test": "conformance/test_deviation_reproducers.py::test_every_known_deviation_has_a_reproducer_that_runs_armed[paddle]",
        "kind": "deviation_reproducers", "outcome": "pass", "reason": "", "duration_s": 0.1, "backend": "paddle",
    }
    for diagnosis, line in (
        (["lengths ignored by both directions (each runs over the padding)"],
         "Diagnosis of the reproducer: explained by lengths ignored by both directions (each runs over the padding)."),
        ([], "Diagnosis of the reproducer: no common mapping mistake explains it."),
    ):
        document["records"] = [*synthetic_document()["records"], {**reproducers, "reproducer_diagnoses": {"dev-padded": diagnosis}}]
        [finding] = findings(document)
        assert finding.diagnosis == tuple(diagnosis)
        assert line in render_markdown(document)


def test_markdown_shows_gradient_quantities_as_rows_of_their_own_check():
    markdown = render_markdown(synthetic_document())
    gradients = markdown.split("### gradients")[1].split("###")[0]
    assert "| `torch` | float64 | `grad_w_ih` | 1 | 2.00e-14 |" in gradients
    assert "| `torch` | float64 | `grad_x` | 1 | 1.00e-14 |" in gradients


def test_markdown_is_deterministic_and_independent_of_record_order():
    document = synthetic_document()
    shuffled = {**document, "records": list(reversed(document["records"]))}
    assert render_markdown(document) == render_markdown(copy.deepcopy(document)) == render_markdown(shuffled)
    assert render_html(document) == render_html(shuffled)


def test_markdown_escapes_hostile_text_and_keeps_tables_whole():
    markdown = render_markdown(synthetic_document(HOSTILE, HOSTILE))
    assert not re.search(r"(?<!\\)<script", outside_code_spans(markdown)), "a '<' outside code spans must be escaped"
    assert "\\<script\\>alert(1)\\</script\\> \" onmouseover=\"x \\& \\| \\`tick\\` \\`\\`\\` <br>second line" in markdown
    assert "````" in markdown, "a code span holding ``` needs a longer fence"
    assert "second line" in markdown and "\nsecond line" not in markdown
    tables = markdown_tables(markdown)
    assert len(tables) >= 8
    for table in tables:
        assert all(line.endswith("|") for line in table)
        assert {cell_count(line) for line in table} == {cell_count(table[0])}, table


def test_html_escapes_hostile_text_everywhere_and_stays_well_formed():
    page = render_html(synthetic_document(HOSTILE, HOSTILE))
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot; onmouseover=&quot;x &amp; | `tick`" in page
    assert 'onmouseover="x' not in page
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;" in page, "SVG tooltips must be escaped too"
    checker = check_html(page)
    assert checker.tags.count("table") == page.count("</table>") > 0
    assert checker.tags.count("svg") == 1


def test_a_column_of_code_is_set_in_code_by_its_tables_class_and_any_other_cell_keeps_its_own():
    rows = (
        (Span("torch", code=True), Span("L1-fwd", code=True), "-"),
        (Span("paddle", code=True), "same", Span("x", code=True, tone="fail")),
        (Span("<b>", code=True), Span("L2-rev", code=True), Span("y", code=True)),
    )
    page = page_html(Page("t", (), (Section("s", tables=(Table(("backend", "case", "mixed"), rows),)),)))
    assert '<table class="k1 k2">' in page
    assert "<tr><td>torch<td>L1-fwd<td>-" in page
    assert "<tr><td>&lt;b&gt;<td>L2-rev<td><code>y</code>" in page
    assert '<td class="fail"><code>x</code>' in page
    assert "table.k1 td:nth-child(1), table.k2 td:nth-child(2)" in page


@pytest.mark.parametrize("hostile", [False, True])
def test_html_is_self_contained(example_run, hostile):
    page = render_html(synthetic_document(HOSTILE, HOSTILE) if hostile else example_run)
    checker = check_html(page)
    assert all(reference.startswith("#") for reference in checker.references), checker.references
    assert "link" not in checker.tags and "script" not in checker.tags and "img" not in checker.tags
    assert not re.search(r"url\s*\(", page)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.IGNORECASE)


def test_committed_pages_are_regenerated_from_the_committed_records():
    if not (REPORTS / RECORDS_NAME).exists():
        pytest.skip(f"reports/{RECORDS_NAME} is not committed yet: `lstm-parity run` at the repository root writes it")
    document = load_document(REPORTS / RECORDS_NAME)
    assert render_markdown(document, RECORDS_NAME) == (REPORTS / "parity.md").read_text(encoding="utf-8")
    assert render_html(document, RECORDS_NAME) == (REPORTS / "parity.html").read_text(encoding="utf-8")


def test_committed_report_files_are_light():
    # The records are committed compressed and the page stays light enough to load at once:
    # together at least five times smaller than the uncompressed records and the pages of the
    # same run (the first compressed report: 16.7 MB against 3.2 MB; grown by a backend, 22.0
    # MB against 3.4 MB).
    if not (REPORTS / RECORDS_NAME).exists():
        pytest.skip(f"reports/{RECORDS_NAME} is not committed yet")
    sizes = {name: (REPORTS / name).stat().st_size for name in (RECORDS_NAME, "parity.md", "parity.html")}
    assert not (REPORTS / "parity.json").exists()
    uncompressed = len(gzip.decompress((REPORTS / RECORDS_NAME).read_bytes())) + sizes["parity.md"] + sizes["parity.html"]
    assert sum(sizes.values()) * 5 < uncompressed, (sizes, uncompressed)
    assert sizes["parity.html"] < 1_000_000, sizes
