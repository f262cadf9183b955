"""The project's floors, read from its import statements (any import, at the top of a module
or inside a function): reference/ imports neither adapters/ nor conformance/, adapters/ does
not import conformance/, and the report (conformance/report/) sits above the probes and
checks it draws on: none of the modules it imports imports it back. Inside conformance/, the
rooms stand in one order (:data:`ROOMS`) and no import runs back up it."""

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


# conformance/'s rooms, lowest first: a room imports from its own modules and the rooms below
# it. Below them all, the two modules every room shares (SHARED); above them all, the pytest
# plug-in and the public test modules, which users' node ids name (TOP).
ROOMS = ("cases", "judge", "deviations", "run", "probes", "porting", "report", "repro", "commands")
SHARED = ("conformance", "conformance.outputs", "conformance.record_columns")
TOP = ("conformance.plugin",)


def room_rank(module: str) -> int:
    """The module's place in conformance/: -1 for SHARED, a room's index, len(ROOMS) for TOP
    and the test modules; ValueError for a module in none of them."""
    if module in SHARED:
        return -1
    if module in TOP or module.startswith("conformance.test_"):
        return len(ROOMS)
    room = module.split(".")[1]
    if room not in ROOMS:
        raise ValueError(f"{module} lies in no room of conformance/ (expected one of {ROOMS}, the shared {SHARED} or the top {TOP})")
    return ROOMS.index(room)


def test_every_module_of_conformance_lies_in_a_room():
    homeless = []
    for module in MODULES:
        if within(module, "conformance"):
            try:
                room_rank(module)
            except ValueError as error:
                homeless.append(str(error))
    assert homeless == []


def test_no_import_runs_back_up_a_room_of_conformance():
    conformance = {module for module in MODULES if within(module, "conformance")}
    upward = {}
    for module in conformance:
        rank = room_rank(module)
        imported = {name if name in MODULES else name.rpartition(".")[0] for name in MODULES[module] if within(name, "conformance")}
        above = sorted(name for name in imported if name in conformance and room_rank(name) > rank)
        if above:
            upward[module] = above
    assert upward == {}


def test_the_room_check_sees_an_upward_import():
    assert room_rank("conformance.cases.table") < room_rank("conformance.judge.expectations") < room_rank("conformance.commands.cli") < room_rank("conformance.test_sweep")
    assert room_rank("conformance.outputs") < room_rank("conformance.cases.table")
    with pytest.raises(ValueError, match="no room"):
        room_rank("conformance.somewhere.new")
