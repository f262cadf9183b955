"""The capability table: probing, the refusal check and its rendering."""

from __future__ import annotations

from dataclasses import replace

from conformance.run.backends import Backend
from conformance.probes.capabilities import FEATURE_PROBES, capabilities, capability_lines, capability_rows
from conformance.report.sections import capability_section
from conformance.test_capabilities import refusal_problem
from tests.support.numpy_stack import NumpyStackAdapter

FEATURES = {feature.feature: feature for feature in FEATURE_PROBES}


class RunsWhatItRefuses(NumpyStackAdapter):
    """Declares the cell clip, says it cannot run it, then runs it anyway (without the
    clip): a silent wrong answer."""

    name = "runs-what-it-refuses"
    supports = replace(NumpyStackAdapter.supports, features=NumpyStackAdapter.supports.features | {"cell_clip"})

    def _unsupported(self, config):
        return ["runs-what-it-refuses has no cell clip"] if config.spec.cell_clip is not None else []

    def run(self, request):
        unclipped = replace(request, spec=replace(request.spec, cell_clip=None))
        return self._run(unclipped, *self.check(unclipped))


def test_the_numpy_stack_backend_says_what_it_lacks_and_nothing_else():
    table = capabilities(Backend("numpy-stack", NumpyStackAdapter()))
    lacking = {feature for feature, reason in table.items() if reason}
    assert {"cell clip", "activation clip", "projection clip", "coupled input-forget gate", "CUDA device"} <= lacking
    assert not lacking & {"float32", "float64", "several layers", "bidirectional", "sequence lengths", "projection", "peepholes"}
    assert table["cell clip"] == "numpy-stack has no cell clipping"
    assert table["gradients"] == "numpy-stack computes no gradients"


def test_a_declared_gap_must_be_refused_not_run():
    honest = Backend("numpy-stack", NumpyStackAdapter())
    assert refusal_problem(honest, FEATURES["cell clip"]) == ""
    lying = Backend("runs-what-it-refuses", RunsWhatItRefuses())
    assert refusal_problem(lying, FEATURES["cell clip"]) == "cell clip: declared unsupported, but the run went through"


def test_each_reason_is_numbered_once_in_the_terminal_and_shown_beside_its_cell_in_the_report():
    tables = {"b": {"peepholes": "", "gradients": "b computes no gradients"}, "a": {"peepholes": "a has no peepholes", "gradients": ""}}
    rows, reasons = capability_rows(tables)
    assert rows == [("feature", "b", "a"), ("peepholes", "yes", "no (1)"), ("gradients", "no (2)", "yes")]
    assert reasons == ["(1) a has no peepholes", "(2) b computes no gradients"]
    assert capability_lines(tables)[-2:] == reasons
    records = [{"kind": "capabilities", "backend": name, "capabilities": table} for name, table in tables.items()]
    grid, refusals = capability_section({"records": records}).tables
    # The report's grid: backends by name, each refusal's reason on its cell (hover), no numbers.
    assert grid.headers == ("feature", "a", "b")
    marks = [tuple(cell if isinstance(cell, str) else (cell.text, cell.tone, cell.detail) for cell in row) for row in grid.rows]
    assert marks == [
        ("peepholes", ("✗", "unsupported", "a has no peepholes"), ("✓", "pass", "")),
        ("gradients", ("✓", "pass", ""), ("✗", "unsupported", "b computes no gradients")),
    ]
    # And per backend, what it refuses next to why, for the Markdown page (which has no hover).
    assert [(cell.text, features, reason) for cell, features, reason in refusals.rows] == [
        ("a", "peepholes", "a has no peepholes"),
        ("b", "gradients", "b computes no gradients"),
    ]


def test_the_sweep_draws_what_the_capability_table_says_a_backend_runs():
    from adapters.example import ExampleAdapter
    from conformance.probes.capabilities import SWEEP_FEATURES, sweep_capabilities

    able, activations, dtypes = sweep_capabilities(Backend("example", ExampleAdapter()))
    assert {feature for feature, runs in able.items() if runs} == {"initial_states", "batch_first"}
    assert activations == {"gate_activation": ("sigmoid",), "candidate_activation": ("tanh",), "cell_activation": ("tanh",)}
    assert dtypes == ("float32", "float64")
    table = capabilities(Backend("numpy-stack", NumpyStackAdapter()))
    able, _, _ = sweep_capabilities(Backend("numpy-stack", NumpyStackAdapter()))
    assert able == {feature: not table[row] for feature, row in SWEEP_FEATURES.items()}
    assert able["layers"] and not able["cell_clip"]
