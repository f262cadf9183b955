"""The tests of one backend, and within them the checks of one case, reach one pytest-xdist
worker together."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance.cases.table import Case
from conformance.plugin import distribute_by_work_stealing, keep_case_checks_together

CASE_IDS = (
    "L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
    "L2-bidir-tm-mixed-h0-P0-bias-nopeep-noclip-std-f32-B1-sat-cpu",
)


def item(name: str, path: str, backend: str | None = None, case_id: str | None = None) -> SimpleNamespace:
    """A stand-in for a collected test: a backend's when given one, a case-taking one when
    given a case too."""
    if backend is None:
        params = {}
    elif case_id is None:
        params = {"backend": SimpleNamespace(name=backend)}
    else:
        params = {"backend_gradient_case": (SimpleNamespace(name=backend), Case.from_id(case_id))}
    return SimpleNamespace(name=name, path=Path(path), callspec=SimpleNamespace(params=params))


def test_tests_of_one_backend_follow_each_other_and_within_them_those_of_one_case():
    first, second = CASE_IDS
    items = [
        item("plain", "tests/test_a.py"),
        item("gradients-torch-1", "conformance/test_gradient_parity.py", "torch", first),
        item("gradients-torch-2", "conformance/test_gradient_parity.py", "torch", second),
        item("gradients-flax-1", "conformance/test_gradient_parity.py", "flax", first),
        item("gradients_c_n-torch-1", "conformance/test_gradient_parity.py", "torch", first),
        item("gradients_c_n-torch-2", "conformance/test_gradient_parity.py", "torch", second),
        item("gradients_c_n-flax-1", "conformance/test_gradient_parity.py", "flax", first),
        item("forward-flax-2", "conformance/test_forward_parity.py", "flax", second),
        item("forward-torch-1", "conformance/test_forward_parity.py", "torch", first),
        item("sweep-torch", "conformance/test_sweep.py", "torch"),
        # An empty parametrization (no backend has a case for the test) holds pytest's NOTSET.
        SimpleNamespace(name="empty", path=Path("conformance/test_sweep.py"), callspec=SimpleNamespace(params={"backend": object()})),
        item("last", "tests/test_b.py"),
    ]
    keep_case_checks_together(items)
    assert [test.name for test in items] == [
        "plain",
        "gradients-torch-1",
        "gradients_c_n-torch-1",
        "forward-torch-1",
        "gradients-torch-2",
        "gradients_c_n-torch-2",
        "sweep-torch",
        "gradients-flax-1",
        "gradients_c_n-flax-1",
        "forward-flax-2",
        "empty",
        "last",
    ]


@pytest.mark.parametrize(("chosen", "used"), [("load", "worksteal"), ("loadscope", "loadscope"), ("no", "no"), ("each", "each")])
def test_only_the_default_distribution_becomes_work_stealing(chosen, used):
    config = SimpleNamespace(option=SimpleNamespace(dist=chosen))
    distribute_by_work_stealing(config)
    assert config.option.dist == used
