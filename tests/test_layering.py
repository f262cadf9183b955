"""The project's floors, read from its import statements (any import, at the top of a module
or inside a function): reference/ imports neither adapters/ nor conformance/, adapters/ does
not import conformance/, and the report (conformance/report/) sits above the probes and
checks it draws on: none of the modules it imports imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLOORS = ("reference", "adapters", "conformance")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved to absolute names."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            stem = ".".join([*base, *([node.module] if node.module else [])])
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(path): imports_of(path) for floor in FLOORS for path in (ROOT / floor).rglob("*.py")}


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


@pytest.mark.parametrize(("floor", "above"), [("reference", ("adapters", "conformance")), ("adapters", ("conformance",))])
def test_no_import_runs_back_up_a_floor(floor, above):
    upward = {module: sorted(name for name in names if any(within(name, package) for package in above)) for module, names in MODULES.items() if within(module, floor)}
    assert {module: names for module, names in upward.items() if names} == {}


def test_the_probes_the_report_draws_on_do_not_import_the_report():
    report = "conformance.report"
    below = {name for module, names in MODULES.items() if within(module, report) for name in names if within(name, "conformance") and not within(name, report)}
    drawn_on = {module for module in MODULES if not within(module, report) and any(within(name, module) or name == module for name in below)}
    assert drawn_on, "the report should draw on the probes"
    back = {module: sorted(name for name in MODULES[module] if within(name, report)) for module in drawn_on}
    assert {module: names for module, names in back.items() if names} == {}
