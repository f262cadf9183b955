"""The capability table: probing, the refusal check and its rendering."""

from __future__ import annotations

from dataclasses import replace

from conformance.backends import Backend
from conformance.capabilities import FEATURE_PROBES, capabilities, capability_lines, capability_rows
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


def test_each_reason_is_numbered_once_and_shown_in_terminal_and_report():
    tables = {"a": {"peepholes": "a has no peepholes", "gradients": ""}, "b": {"peepholes": "", "gradients": "b computes no gradients"}}
    rows, reasons = capability_rows(tables)
    assert rows == [("feature", "a", "b"), ("peepholes", "no (1)", "yes"), ("gradients", "yes", "no (2)")]
    assert reasons == ["(1) a has no peepholes", "(2) b computes no gradients"]
    assert capability_lines(tables)[-2:] == reasons
    records = [{"kind": "capabilities", "backend": name, "capabilities": table} for name, table in tables.items()]
    section = capability_section({"records": records})
    assert section.tables[0].rows == tuple(rows[1:]) and ("(2) b computes no gradients",) in section.notes
