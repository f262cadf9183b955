"""The pytest plugin of the conformance suite (registered through the ``pytest11`` entry point).

Options:
  --backend NAME            test this registered backend (repeatable)
  --adapter MODULE:ATTR     test an out-of-tree adapter (repeatable); exec:COMMAND or
                            exec:FILE.json: a program speaking the process protocol
  --no-isolation            run adapters in the test process (faster to debug; a crash ends the run)
  --interpreter NAME=PYTHON run backend NAME's isolated process under that Python (a virtual
                            environment of its own, for a framework whose pins clash with others')
  --parity-json PATH        write every comparison's record to PATH when the run ends
  --depth quick|full        how much of the case space to cover (default full; see conformance.cases.depth)
  --sweep-examples N        hypothesis examples per backend in the randomized sweep (default: the depth's, 40 at full)
  --sweep-random            draw new sweep examples each run (default: the same, derandomized)
  --case ID                 run only the case-taking tests, on this case id, on the selected
                            backends (repeatable; any valid id, in the case table or not)
  --shard K/N               run the K-th of N deterministic parts of the run (one per machine;
                            ``lstm-parity merge`` combines their records)

A failing case's report ends with the command that reruns it alone, in a checkout or from an
installed wheel: ``pytest --pyargs conformance --backend NAME --case ID``.

Without --backend or --adapter every registered backend is tested; backends that cannot
be imported skip with the reason. Tests take the fixtures ``backend_case`` (one per
backend and case of the forward table, or of the case ids a ``cases`` marker lists),
``backend_gradient_case`` (the same over the gradient table), ``backend`` (one per
backend) and ``record``.

The tests of one backend are collected side by side, and within them the checks of one
case, and pytest-xdist's default distribution becomes ``worksteal`` (contiguous runs of
tests per worker): a backend's framework warms up in few workers, and a backend that
compiles or converts per shape does so once for all of a case's checks. Under
pytest-xdist, each backend's case tables are made by one worker and read by the others
(see :mod:`conformance.run.table_sharing`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.base import has_costly_runs
from adapters.registry import load_adapter

from conformance.run.backends import Backend, BackendPool, default_references
from conformance.probes.capabilities import capability_lines, capability_tables
from conformance.cases.table import Case, make_data, request_for
from conformance.deviations import find_deviations
from conformance.cases.depth import DEFAULT_DEPTH, DEPTHS, FULL_DEPTH_DESCRIPTION, FULL_DEPTH_MARKER, Depth
from conformance.run.isolation import parse_interpreters
from conformance.run.table_sharing import NOT_SHARED, SharedTablesFolder, TableSharing
from conformance.outputs import check_output_file
from conformance.report.recording import RECORD_KEY, ParityRecorder
from conformance.cases.sharding import parse_shard, shard_of

MARKERS = {
    "f32": "float32 cases",
    "f64": "float64 cases",
    "reduced_precision": "bfloat16 and float16 cases",
    "large": "cases of the size factor (H 128 to 256, T up to 100)",
    "long": "cases with the long shape (T = 500)",
    "multilayer": "cases with more than one layer",
    "deep": "cases with more than three layers",
    "bidirectional": "bidirectional cases",
    "reverse": "cases with the reverse-only direction",
    "lengths": "cases with per-sequence lengths",
    "short_lengths": "cases in which every sequence is shorter than T",
    "projection": "cases with proj_size > 0",
    "peepholes": "cases with peephole connections",
    "input_forget": "cases with the coupled input-forget gate",
    "clips": "cases with an activation, cell or projection clip",
    "activations": "cases with non-default activations",
    "nobias": "cases without bias",
    "initial_states": "cases with given initial states",
    "saturation": "cases in the saturation regime",
    "edge": "cases in the edge regime (unbounded activations past float32's exp overflow)",
    "gpu": "cases that need a CUDA device",
}

_POOL = pytest.StashKey[BackendPool]()


class CapabilitySummary:
    """Collects each backend's capability table in the controlling process and prints them
    as one table at the end of the run."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.records += [value for key, value in report.user_properties if key == RECORD_KEY and value.get("kind") == "capabilities"]

    def pytest_terminal_summary(self, terminalreporter) -> None:
        tables = capability_tables(self.records)
        if tables:
            terminalreporter.write_sep("=", "what each backend runs here (a feature it lacks makes no test)")
            for line in capability_lines(tables):
                terminalreporter.write_line(line)


class AdapterErrorSummary:
    """Counts the failures an adapter's own code raised (:mod:`adapters.errors`) and prints
    them apart from the backends' differences at the end of the run, grouped by where."""

    def __init__(self) -> None:
        self.errors: dict[str, tuple[str, str, str]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, value in report.user_properties:
            if key == RECORD_KEY and "adapter_error" in value:
                error = value["adapter_error"]
                message = (error["message"].splitlines() or [""])[0][:200]
                self.errors[report.nodeid] = (value.get("backend", "?"), error["location"], f"{error['type']}: {message}")

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.errors:
            return
        total = len(self.errors)
        terminalreporter.write_sep("=", f"adapter errors: {total} failed test{'s' if total != 1 else ''} raised in an adapter's own code, not findings about a backend")
        for (backend, location, error), count in sorted(Counter(self.errors.values()).items()):
            terminalreporter.write_line(f"{backend}: {location}: {error} ({count} test{'s' if count != 1 else ''})")


class DepthSummary:
    """Says at the end of a run below full depth which depth it ran at and what that left out."""

    def __init__(self, depth: Depth) -> None:
        self.depth = depth

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.depth.runs_full_depth_tests:
            return
        terminalreporter.write_sep("=", f"depth {self.depth.name}")
        terminalreporter.write_line(
            f"smaller covering designs; the tests marked {FULL_DEPTH_MARKER} left out; "
            "--depth full runs the whole suite (see conformance.cases.depth)"
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lstm-conformance")
    group.addoption("--backend", action="append", default=[], metavar="NAME", help="test this registered backend (repeatable)")
    group.addoption("--adapter", action="append", default=[], metavar="MODULE:ATTR|exec:COMMAND", help="test an out-of-tree adapter, or a program speaking the process protocol (repeatable)")
    group.addoption("--no-isolation", action="store_true", help="run adapters in the test process, not in child processes")
    group.addoption(
        "--interpreter",
        action="append",
        default=[],
        metavar="NAME=PYTHON",
        help="run backend NAME (a --backend name or --adapter reference) in a process of this Python interpreter (repeatable)",
    )
    group.addoption("--parity-json", metavar="PATH", help="write the parity records of this run to PATH")
    group.addoption(
        "--depth",
        choices=tuple(DEPTHS),
        default=DEFAULT_DEPTH,
        help=f"how much of the case space to cover: {' or '.join(DEPTHS)} (default {DEFAULT_DEPTH}; see conformance.cases.depth)",
    )
    group.addoption(
        "--sweep-examples", type=int, default=None, metavar="N", help="hypothesis examples per backend in the sweep (default: the depth's)"
    )
    group.addoption("--sweep-random", action="store_true", help="draw new sweep examples each run instead of the fixed ones")
    group.addoption("--case", action="append", default=[], metavar="ID", help="run the case-taking tests on this case id only (repeatable)")
    group.addoption("--shard", metavar="K/N", help="run the K-th of N deterministic parts of the run (K from 1)")


def chosen_cases(config: pytest.Config) -> list[Case]:
    """The cases of ``--case``, or a usage error naming the bad or repeated id."""
    cases = []
    for case_id in config.getoption("--case"):
        if config.getoption("--case").count(case_id) > 1:
            raise pytest.UsageError(f"--case: expected each case id once, got {case_id!r} twice")
        try:
            cases.append(Case.from_id(case_id))
        except ValueError as error:
            raise pytest.UsageError(f"--case: {error}") from None
    return cases


def chosen_shard(config: pytest.Config) -> tuple[int, int] | None:
    """``--shard K/N`` as (K, N), None without it, or a usage error naming what is wrong."""
    text = config.getoption("--shard")
    if text is None:
        return None
    try:
        return parse_shard(text)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def chosen_interpreters(config: pytest.Config) -> dict[str, str]:
    """``--interpreter NAME=PYTHON`` as {NAME: PYTHON}, or a usage error naming what is wrong."""
    try:
        interpreters = parse_interpreters(config.getoption("--interpreter"), known=selected_references(config))
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    if interpreters and config.getoption("--no-isolation"):
        raise pytest.UsageError(f"--interpreter: backends run in their own interpreters only when isolated; got --no-isolation with {sorted(interpreters)}")
    return interpreters


def check_chosen_backends(config: pytest.Config) -> None:
    """A usage error, before anything is collected, for a ``--backend`` name that is not
    registered or an ``--adapter`` reference that does not load or lacks members of the
    adapter interface."""
    for reference in dict.fromkeys(config.getoption("--backend") + config.getoption("--adapter")):
        try:
            load_adapter(reference)
        except (ValueError, TypeError) as error:
            raise pytest.UsageError(str(error)) from None


def check_parity_json(config: pytest.Config) -> None:
    """A usage error, before anything runs, for a ``--parity-json`` path that cannot be written."""
    path = config.getoption("--parity-json")
    if path:
        try:
            check_output_file("--parity-json", Path(path))
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None


def check_sweep_examples(config: pytest.Config) -> None:
    """A usage error for a ``--sweep-examples`` below 1."""
    examples = config.getoption("--sweep-examples")
    if examples is not None and examples < 1:
        raise pytest.UsageError(f"--sweep-examples: expected a positive number of examples, got {examples}")


def pytest_configure(config: pytest.Config) -> None:
    check_sweep_examples(config)
    check_parity_json(config)
    chosen_cases(config)
    chosen_shard(config)
    chosen_interpreters(config)
    check_chosen_backends(config)
    for marker, description in {**MARKERS, FULL_DEPTH_MARKER: FULL_DEPTH_DESCRIPTION}.items():
        config.addinivalue_line("markers", f"{marker}: {description}")
    config.addinivalue_line(
        "markers",
        "cases(*case_ids, gradients=False, applies=None, first_in_table=None): run backend_case over these cases (each "
        "backend's nearest supported, with gradients if asked, where applies(backend, case)), or over the first case of "
        "the backend's table that first_in_table(case) accepts, instead of the case table",
    )
    if not hasattr(config, "workerinput"):
        distribute_by_work_stealing(config)
        config.pluginmanager.register(CapabilitySummary(), "lstm-capability-summary")
        config.pluginmanager.register(DepthSummary(chosen_depth(config)), "lstm-depth-summary")
        config.pluginmanager.register(AdapterErrorSummary(), "lstm-adapter-error-summary")
        config.pluginmanager.register(SharedTablesFolder(), "lstm-shared-tables-folder")
        path = config.getoption("--parity-json")
        if path:
            config.pluginmanager.register(ParityRecorder(config, path), "lstm-parity-recorder")


def chosen_depth(config: pytest.Config) -> Depth:
    """The run's ``--depth``."""
    return DEPTHS[config.getoption("--depth")]


def distribute_by_work_stealing(config: pytest.Config) -> None:
    """Under pytest-xdist's default distribution (``-n`` alone, or ``--dist load``), hand
    out tests in contiguous runs (``--dist worksteal``): the tests of one backend, and the
    checks of one case, sit side by side (see :func:`keep_case_checks_together`), so a
    backend that compiles per shape (JAX, Keras on JAX) compiles a case's gradients once
    for both gradient checks, where ``load`` would deal neighbours to different workers. Any other
    ``--dist`` is left as chosen."""
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "worksteal"


def selected_references(config: pytest.Config) -> list[str]:
    """The backends of this run: those named by --backend/--adapter, else every registered one."""
    chosen = list(config.getoption("--backend")) + list(config.getoption("--adapter"))
    return list(dict.fromkeys(chosen)) if chosen else default_references()


def backend_pool(config: pytest.Config) -> BackendPool:
    """The run's backends, started on first use (only processes that collect tests use it)."""
    if _POOL not in config.stash:
        config.stash[_POOL] = BackendPool(
            selected_references(config),
            isolate=not config.getoption("--no-isolation"),
            interpreters=chosen_interpreters(config),
            depth=chosen_depth(config),
            sharing=TableSharing.of_worker(config.workerinput) if hasattr(config, "workerinput") else NOT_SHARED,
        )
    return config.stash[_POOL]


def pytest_unconfigure(config: pytest.Config) -> None:
    if _POOL in config.stash:
        config.stash[_POOL].close()


def case_marks(case: Case) -> list[pytest.MarkDecorator]:
    """Markers for selecting cases by feature (``-m "f64 and not peepholes"``)."""
    spec = case.spec
    flags = {
        "f32": case.dtype == "f32",
        "f64": case.dtype == "f64",
        "reduced_precision": case.reduced_precision,
        "large": case.large,
        "long": case.long,
        "deep": spec.num_layers > 3,
        "multilayer": spec.num_layers > 1,
        "bidirectional": spec.bidirectional,
        "reverse": spec.reverse,
        "lengths": case.lengths != "none",
        "short_lengths": case.lengths == "short",
        "projection": spec.proj_size > 0,
        "peepholes": spec.peepholes,
        "input_forget": spec.input_forget,
        "clips": case.clip != "noclip",
        "activations": case.acts != "std",
        "nobias": not spec.bias,
        "initial_states": case.init == "h0",
        "saturation": case.regime == "sat",
        "edge": case.regime == "edge",
        "gpu": case.device == "cuda",
    }
    return [getattr(pytest.mark, name) for name, on in flags.items() if on]


def listed_cases(
    backend: Backend,
    case_ids: tuple[str, ...],
    gradients: bool = False,
    applies: Callable[[Backend, Case], bool] | None = None,
    limit: int | None = None,
) -> list[Case]:
    """The cases a ``cases`` marker lists, each replaced by the nearest one the backend
    supports (with gradients if asked; dropped when it supports none), kept where the check
    ``applies``, the first ``limit`` distinct ones of those. An unavailable backend gets the
    first case as listed: it skips once, with the reason."""
    cases = [Case.from_id(case_id) for case_id in case_ids]
    if not backend.availability.available:
        return cases[:1]
    nearest = [backend.nearest_supported(case, gradients) for case in cases]
    return list({case.id: case for case in nearest if case is not None and (applies is None or applies(backend, case))}.values())[:limit]


def cases_for(
    metafunc: pytest.Metafunc, backend: Backend, table: list[Case], gradients: bool
) -> list[Case]:
    """The cases a case-taking test runs on ``backend``: those of ``--case`` (where the check
    applies), else those its ``cases`` marker lists (or, with ``first_in_table``, the first
    case of the backend's table it accepts; at a depth with the cheapest large copies, the
    one with the least per-step work), else the backend's table. A table case
    the backend cannot run makes no test: the capability table says what it lacks once per
    feature. An unavailable backend gets one case, which skips with the reason."""
    marker = metafunc.definition.get_closest_marker("cases")
    applies = marker.kwargs.get("applies") if marker else None
    chosen = chosen_cases(metafunc.config)
    if chosen:
        available = backend.availability.available
        return [case for case in chosen if applies is None or not available or applies(backend, case)]
    if marker and "first_in_table" in marker.kwargs:
        if not backend.availability.available:
            return table[:1]
        accepted = [case for case in table if backend.supports(case, gradients) and marker.kwargs["first_in_table"](case)]
        if chosen_depth(metafunc.config).cheapest_large_copies:
            accepted.sort(key=step_work)
        return next(([case] for case in accepted if judged_everywhere(backend, case)), accepted[:1])
    if marker:
        depth = chosen_depth(metafunc.config)
        limit = depth.costly_listed_cases if has_costly_runs(backend.adapter) else depth.listed_cases
        return listed_cases(backend, marker.args, marker.kwargs.get("gradients", gradients), applies, limit)
    if not backend.availability.available:
        return table[:1]
    return [case for case in table if backend.supports(case, gradients)]


def step_work(case: Case) -> tuple[bool, int]:
    """How much a run of ``case`` costs a backend that loops over steps: lengths first (they
    send some backends to a per-step loop of their own), then the cells times the steps."""
    return case.lengths != "none", case.spec.num_cells * case.steps


def judged_everywhere(backend: Backend, case: Case) -> bool:
    """Whether no known deviation without a model applies to the case's forward run: a check
    that runs one case per backend takes such a case first, so that every quantity it
    compares is judged (against the oracle, or a deviation's model)."""
    request = request_for(case, make_data(case))
    return all(deviation.model is not None for deviation in find_deviations(backend.name, "forward", request, version=backend.availability.version))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    tables = {"backend_case": "case_tables", "backend_gradient_case": "gradient_case_tables"}
    fixture = next((name for name in tables if name in metafunc.fixturenames), None)
    if fixture is not None:
        pool = backend_pool(metafunc.config)
        tables_by_backend = getattr(pool, tables[fixture])
        gradients = fixture == "backend_gradient_case"
        pairs = [
            (backend, case)
            for backend in pool.backends
            for case in cases_for(metafunc, backend, tables_by_backend[backend.name], gradients)
        ]
        metafunc.parametrize(
            fixture,
            [pytest.param((backend, case), id=f"{backend.name}-{case.id}", marks=case_marks(case)) for backend, case in pairs],
        )
    elif "backend" in metafunc.fixturenames:
        pool = backend_pool(metafunc.config)
        metafunc.parametrize("backend", pool.backends, ids=[backend.name for backend in pool.backends])


def keep_case_checks_together(items: list[pytest.Item]) -> None:
    """Reorder ``items`` so that the tests of one backend follow each other, where its first
    test stood, and within them the tests of one case, where its first test stood, in every
    file; tests of no backend keep their places. A backend's framework then warms up, and a
    case compiles or converts, in one worker rather than in each."""
    first_place: dict[object, int] = {}

    def place(indexed: tuple[int, pytest.Item]) -> tuple[int, int, int]:
        index, item = indexed
        backend, pair = backend_of(item), case_of(item)
        if backend is None:
            return first_place.setdefault(index, index), index, index
        case_group = (backend.name, pair[1].id) if pair else index
        return first_place.setdefault(backend.name, index), first_place.setdefault(case_group, index), index

    items[:] = [item for _, item in sorted(enumerate(items), key=place)]


def shard_group(item: pytest.Item) -> str:
    """What ``--shard`` keeps together: a case-taking test's (backend, case), else the test."""
    pair = case_of(item)
    return f"{pair[0].name}-{pair[1].id}" if pair else item.nodeid


def keep_only(config: pytest.Config, items: list[pytest.Item], keep: Callable[[pytest.Item], bool]) -> None:
    """Deselect (as pytest reports it) the items that ``keep`` rejects."""
    config.hook.pytest_deselected(items=[item for item in items if not keep(item)])
    items[:] = [item for item in items if keep(item)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``--case``, only the tests that take a case run; with ``--shard K/N``, only the
    K-th part; below full depth, no test marked ``full_depth``; the checks of one case sit
    together."""
    if not chosen_depth(config).runs_full_depth_tests:
        keep_only(config, items, lambda item: item.get_closest_marker(FULL_DEPTH_MARKER) is None)
    if config.getoption("--case"):
        keep_only(config, items, lambda item: case_of(item) is not None)
    shard = chosen_shard(config)
    if shard is not None:
        index, count = shard
        keep_only(config, items, lambda item: shard_of(shard_group(item), count) == index)
    keep_case_checks_together(items)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failing case's report gets the command that reruns it alone."""
    outcome = yield
    report = outcome.get_result()
    pair = case_of(item)
    if report.failed and pair is not None:
        backend, case = pair
        report.sections.append(("rerun this case alone", backend.rerun_command(case)))


def case_of(item: pytest.Item) -> tuple[Backend, Case] | None:
    """The (backend, case) a case-taking test runs, if it is one."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    # An empty parametrization (a backend with no case to run) holds pytest's NOTSET.
    return next((params[name] for name in ("backend_case", "backend_gradient_case") if isinstance(params.get(name), tuple)), None)


def require_available(backend: Backend) -> None:
    """Skip the calling test when ``backend`` cannot run here, with its reason."""
    if not backend.availability.available:
        pytest.skip(f"{backend.name} unavailable: {backend.availability.reason}")


def backend_of(item: pytest.Item) -> Backend | None:
    """The backend a parametrized test runs on, if any (none for an empty parametrization)."""
    pair = case_of(item)
    if pair is not None:
        return pair[0]
    backend = getattr(getattr(item, "callspec", None), "params", {}).get("backend")
    # An empty parametrization (no backend selected) holds pytest's NOTSET.
    return backend if hasattr(backend, "name") else None


@pytest.fixture
def record(request: pytest.FixtureRequest):
    """``record(**fields)`` attaches a parity record to this test's report (merged per call).
    The record starts with the test's name as its kind and its backend, so a test whose
    process dies still has a complete record."""
    backend = backend_of(request.node)
    fields: dict = {"kind": request.node.originalname, "backend": backend.name if backend else "oracle"}
    request.node.user_properties.append((RECORD_KEY, fields))

    def add(**values) -> None:
        fields.update(values)

    return add
