"""The backends a run tests, and the case table built from what they support.

A :class:`BackendPool` holds one adapter per selected backend, each in its own child
process (under another Python interpreter where one is named for it) unless isolation is
off. Each backend runs its own forward table: a covering design (at full depth, strength
3; see :mod:`conformance.cases.depth`) drawn only from the cases that backend supports (so a
backend without peepholes still gets every 3-way combination of the features it has),
plus its known-deviation reproducers, a CUDA copy of a few cases, one case at each large
shape (the size factor) and one more in float64 at H = 128, a few float32 cases in the
edge regime, one case four layers deep and one 500 steps long and, where the backend
offers bfloat16 and float16, copies of a few of its float32 cases in each; its gradient
table is built the same way (at full depth, strength 2) from the cases it can compute
gradients for, with a case at H = 128 in float32 and (at full depth) float64, one four
layers deep and its reduced-precision copies. A backend whose runs take
seconds (an export per run) says so with ``costly_runs`` and gets the depth's smaller
designs, so that a run stays within its time budget as such backends multiply. A case id
always spells the whole case, so any case reruns alone on any backend.
"""

from __future__ import annotations

import functools
import importlib.util
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

from adapters.base import Adapter, Availability, RunConfig, RunRequest, has_costly_runs, not_declared, offers_gradients, offers_threaded_runs
from adapters.conventions import declared_conventions
from adapters.registry import BUILTIN_ADAPTERS, known_adapters, load_adapter, resolve_reference
from reference import LSTMResult, LSTMSpec

from conformance.cases.table import DEEP_LAYERS, FACTORS, LARGE_SHAPES, LONG_SHAPE, PLAIN_DTYPES, REDUCED_DTYPES, RELAXATIONS, Case, make_data, request_for
from conformance.cases.covering import covering_rows
from conformance.cases.depth import DEFAULT_DEPTH, DEPTHS, Depth
from conformance.deviations import GRADIENT_CHECKS, find_deviations, registered_deviations, reproducer_cases
from conformance.run.isolation import IsolatedAdapter
from conformance.run.table_sharing import NOT_SHARED, TableSharing
from conformance.cases.seeding import seed_for

# The large shape of the float64 forward copy and of the gradient copies (the cheapest of
# them: B = 8, T = 50, H = 128).
FLOAT64_LARGE_SHAPE = GRADIENT_LARGE_SHAPE = "H128"
# The covering designs vary every factor but the device, over the small shapes, the plain
# dtypes and the typical and saturation regimes; the other values are copies of covered
# cases (see BackendPool._table).
COVERED_FACTORS = {
    **{name: values for name, values in FACTORS.items() if name != "device"},
    "layers": tuple(layers for layers in FACTORS["layers"] if layers != DEEP_LAYERS),
    "shape": tuple(shape for shape in FACTORS["shape"] if shape not in (*LARGE_SHAPES, LONG_SHAPE)),
    "dtype": PLAIN_DTYPES,
    "regime": ("typ", "sat"),
}


# A backend's answers so far, as another process takes them (Backend.answers): its availability,
# its support reasons by config and its conventions by config.
Answers = tuple[Availability, dict[RunConfig, tuple[str, ...]], dict[RunConfig, dict[str, str]]]


def plugin_folder(reference: str) -> str:
    """For a plug-in that is not installed (found through the module search path, not in an
    installed packages folder), the folder its top-level module was found in; else ''."""
    if reference in BUILTIN_ADAPTERS:
        return ""
    module = resolve_reference(reference).partition(":")[0].partition(".")[0]
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return ""
    if found is None or not found.origin:
        return ""
    origin = Path(found.origin).resolve()
    folder = origin.parent.parent if found.submodule_search_locations else origin.parent
    return "" if any(part in ("site-packages", "dist-packages") for part in folder.parts) else str(folder)


def case_or_none(row: dict) -> Case | None:
    """The case a covering row describes, or None when the combination is not meaningful."""
    return case_of_values(tuple(sorted(row.items())))


@functools.cache
def case_of_values(values: tuple[tuple[str, object], ...]) -> Case | None:
    """:func:`case_or_none` of a row as sorted (factor, value) pairs, made once: every backend's
    covering designs try the same rows, and a case keeps its spec once made."""
    try:
        return Case(**dict(values))
    except ValueError:
        return None


@dataclass(frozen=True)
class InProcessThreads:
    """An adapter's runs on ``count`` intra-op threads, through its ``run_threaded`` in the
    process it always runs in (which keeps its own count for its other runs)."""

    adapter: Adapter
    count: int

    def run(self, request: RunRequest) -> LSTMResult:
        return self.adapter.run_threaded(request, self.count)


@dataclass
class Backend:
    """One selected backend: its reference (registry name or module:attribute) and adapter."""

    reference: str
    adapter: Adapter
    # The Python interpreter its isolated process runs under, when not this one's.
    interpreter: str | None = None
    _support: dict[RunConfig, tuple[str, ...]] = field(default_factory=dict)
    _counts: dict[LSTMSpec, int] = field(default_factory=dict)
    _conventions: dict[RunConfig, dict[str, str]] = field(default_factory=dict)
    _threaded: dict[int, IsolatedAdapter] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.adapter.name

    @cached_property
    def availability(self) -> Availability:
        return self.adapter.availability()

    def unsupported(self, config: RunConfig) -> tuple[str, ...]:
        """What the adapter did not declare (:mod:`adapters.support`), refused before the
        adapter is asked; else the adapter's reasons, asked once per distinct config
        (adapters outside BaseAdapter may not know that they have no gradients)."""
        if config not in self._support:
            self.ask_support([config])
        return self._support[config]

    def ask_support(self, configs: list[RunConfig]) -> None:
        """Find :meth:`unsupported`'s answer for each of ``configs`` not asked yet, asking an
        isolated adapter about all the declared ones in one call to its process."""
        asked = [config for config in dict.fromkeys(configs) if config not in self._support]
        declared = []
        for config in asked:
            refused = not_declared(self.adapter, config)
            if refused:
                self._support[config] = refused
            else:
                declared.append(config)
        if isinstance(self.adapter, IsolatedAdapter):
            answers = self.adapter.unsupported_many(declared) if declared else []
        else:
            answers = [tuple(self.adapter.unsupported(config)) for config in declared]
        for config, reasons in zip(declared, answers):
            if config.gradients and not reasons and not offers_gradients(self.adapter):
                reasons = (f"{self.name} computes no gradients",)
            self._support[config] = tuple(reasons)

    def answers(self) -> Answers:
        """What the backend answered so far: its availability, support and conventions."""
        return self.availability, dict(self._support), dict(self._conventions)

    def adopt(self, answers: Answers) -> None:
        """Take ``answers`` (:meth:`answers` of this backend in another process) as its own."""
        availability, support, conventions = answers
        self.__dict__["availability"] = availability
        self._support.update(support)
        self._conventions.update(conventions)

    def parameter_count(self, spec: LSTMSpec) -> int:
        """The adapter's count, asked once per spec."""
        if spec not in self._counts:
            self._counts[spec] = self.adapter.parameter_count(spec)
        return self._counts[spec]

    def conventions(self, config: RunConfig) -> dict[str, str]:
        """Every convention the backend follows for ``config`` (see :mod:`adapters.conventions`),
        asked once per distinct config."""
        if config not in self._conventions:
            self._conventions[config] = declared_conventions(self.adapter, config)
        return self._conventions[config]

    def with_threads(self, count: int) -> Adapter | InProcessThreads | None:
        """The backend running ``count`` intra-op threads: its own process, one run at a
        time, where the adapter offers threaded runs (:func:`adapters.base.offers_threaded_runs`);
        else a process of its own started at that count (see
        :class:`conformance.run.isolation.IsolatedAdapter`), started once; None when neither
        is possible: the run is not isolated, and thread counts are set before a framework loads."""
        if offers_threaded_runs(self.adapter):
            return InProcessThreads(self.adapter, count)
        if not isinstance(self.adapter, IsolatedAdapter):
            return None
        if count not in self._threaded:
            self._threaded[count] = IsolatedAdapter(self.reference, python=self.interpreter, threads=count)
        return self._threaded[count]

    def stop_threads(self) -> None:
        """Stop the processes :meth:`with_threads` started."""
        for adapter in self._threaded.values():
            adapter.close()
        self._threaded.clear()

    def close(self) -> None:
        """Stop the backend's processes."""
        self.stop_threads()
        if isinstance(self.adapter, IsolatedAdapter):
            self.adapter.close()

    def rerun_command(self, case: Case) -> str:
        """The command that reruns ``case`` alone on this backend, in a checkout or from a
        wheel, in this run's environment: the interpreter it ran under and, for a plug-in
        not installed, the folder its module was found in (as PYTHONPATH)."""
        option = "--backend" if self.reference in known_adapters() else "--adapter"
        interpreter = f" --interpreter {self.reference}={self.interpreter}" if self.interpreter else ""
        folder = plugin_folder(self.reference)
        path = f"PYTHONPATH={shlex.quote(folder)} " if folder else ""
        return f"{path}pytest --pyargs conformance {option} {self.reference}{interpreter} --case {case.id}"

    def supports(self, case: Case | None, gradients: bool = False) -> bool:
        return case is not None and self.supports_config(case.config(gradients))

    def supports_config(self, config: RunConfig) -> bool:
        return not self.unsupported(config)

    def nearest_supported(self, case: Case, gradients: bool = False) -> Case | None:
        """``case`` if the backend supports it, else the first supported case on the way of
        making it simpler (:data:`conformance.cases.table.RELAXATIONS`), in any dtype; None if
        even the plainest is not supported."""
        steps, current = [case], case
        for factor, value in RELAXATIONS:
            relaxed = case_or_none({**asdict(current), factor: value})
            if relaxed is not None:
                current = relaxed
                steps.append(current)
        for step in steps:
            for dtype in dict.fromkeys((step.dtype, *PLAIN_DTYPES)):
                candidate = replace(step, dtype=dtype)
                if self.supports(candidate, gradients):
                    return candidate
        return None

    def covering_cases(self, gradients: bool = False, depth: Depth = DEPTHS[DEFAULT_DEPTH]) -> list[Case]:
        """A covering design over the cases this backend supports (with gradients, if asked),
        of the strength and multiplicity ``depth`` gives (see :mod:`conformance.cases.depth`): at
        full depth, forward every 3-way combination twice, gradients every 2-way combination
        three times, either, for a backend with costly runs, every 2-way combination once."""
        designs = (depth.costly_gradients, depth.costly) if has_costly_runs(self.adapter) else (depth.gradients, depth.forward)
        strength, multiplicity = designs[0] if gradients else designs[1]

        def allowed_rows(rows: list[dict]) -> list[bool]:
            cases = [case_or_none(row) for row in rows]
            self.ask_support([case.config(gradients) for case in cases if case is not None])
            return [self.supports(case, gradients) and (not gradients or case.gradients_well_posed) for case in cases]

        rows = covering_rows(
            COVERED_FACTORS,
            allowed_rows=allowed_rows,
            strength=strength,
            multiplicity=multiplicity,
            seed=seed_for(f"covering:{self.name}:{'gradients' if gradients else 'forward'}"),
        )
        return [Case(**row) for row in rows]


def copies(backend: Backend, covering: list[Case], limit: int, gradients: bool = False, **values) -> list[Case]:
    """The first ``limit`` cases of ``covering`` that the backend still runs (with gradients,
    well posed, if asked) with ``values`` in place of theirs, so changed."""
    changed = (case_or_none({**asdict(case), **values}) for case in covering)
    return [case for case in changed if backend.supports(case, gradients) and (not gradients or case.gradients_well_posed)][:limit]


def size_copies(backend: Backend, covering: list[Case], depth: Depth = DEPTHS[DEFAULT_DEPTH]) -> list[Case]:
    """The size factor: the k-th of ``depth``'s large shapes on the first float32 covering
    case after the k-th (float32 first, then the rest) that the backend runs at that shape, so changed:
    three different mixes of features (the first covering case is the plainest). In the
    typical regime: saturated, these shapes amplify float32 rounding to whole units (an
    error of 5 in values of 80 at H = 256), which no tolerance can tell from a bug. A
    backend with costly runs (an export or a per-step dispatch per run) runs the first
    large shape only, the one with the fewest steps (with ``depth.cheapest_large_copies``,
    the cheapest: see :func:`large_values`). Then the float64 copy
    (:func:`float64_size_copies`)."""
    float32_first = sorted(covering, key=lambda case: case.dtype != "f32")
    costly = has_costly_runs(backend.adapter)
    shapes = LARGE_SHAPES[: 1 if costly else depth.large_shapes]
    float32 = [
        copy
        for index, shape in enumerate(shapes)
        for copy in copies(backend, float32_first[index + 1 :], 1, **(large_values(shape, depth) if costly else {"shape": shape, "regime": "typ"}))
    ]
    return float32 + float64_size_copies(backend, covering, depth)


def fully_judged(backend: Backend, case: Case, checks: tuple[str, ...]) -> bool:
    """Whether no known deviation without a model is armed on ``case`` under ``checks`` (a
    crash, uninitialised memory): every comparison of it is judged, by the oracle or a model."""
    version = backend.availability.version
    # Only those without a model matter: the others' conditions (some run the oracle) are not asked.
    unmodelled = tuple(
        deviation
        for deviation in registered_deviations()
        if deviation.model is None and deviation.backend == backend.name and deviation.exists_in(version) and set(checks) & set(deviation.checks)
    )
    if not unmodelled:
        return True
    request = request_for(case, make_data(case))
    return not any(find_deviations(backend.name, check, request, unmodelled, version=version) for check in checks)


def large_values(shape: str, depth: Depth) -> dict[str, object]:
    """The factor values a copy at ``shape`` takes: the typical regime, and with
    ``depth.cheapest_large_copies`` one forward layer over full-length sequences (a backend
    with a per-step loop, MindSpore with lengths or Keras on TensorFlow, pays per cell and step)."""
    values: dict[str, object] = {"shape": shape, "regime": "typ"}
    if depth.cheapest_large_copies:
        values.update(layers=1, direction="fwd", lengths="none")
    return values


def float64_size_copies(backend: Backend, covering: list[Case], depth: Depth = DEPTHS[DEFAULT_DEPTH]) -> list[Case]:
    """One case at :data:`FLOAT64_LARGE_SHAPE` in float64 (see :func:`large_values`), where
    the backend runs float64 there: the first covering case (after the plainest) it runs so
    changed and that no model-less deviation leaves unjudged. A float64 kernel is held to
    float64's rounding at the large shapes too, where its blocked paths run."""
    changed = (case_or_none({**asdict(case), **large_values(FLOAT64_LARGE_SHAPE, depth), "dtype": "f64"}) for case in covering[1:])
    return [case for case in changed if case is not None and backend.supports(case) and fully_judged(backend, case, ("forward",))][:1]


def gradient_size_copies(backend: Backend, covering: list[Case], depth: Depth = DEPTHS[DEFAULT_DEPTH]) -> list[Case]:
    """The gradient table's size factor: per dtype of ``depth.large_gradient_dtypes`` the
    backend computes gradients in, the first covering case after the plainest that it runs
    at :data:`GRADIENT_LARGE_SHAPE` (see :func:`large_values`), held to measured tolerances
    (see conformance.judge.tolerances): gradients at hidden sizes where BPTT's kernels take their
    blocked paths. Candidates on which a model-less deviation would leave comparisons
    unjudged are passed over."""
    large = large_values(GRADIENT_LARGE_SHAPE, depth)
    found = []
    for dtype in depth.large_gradient_dtypes:
        changed = (case_or_none({**asdict(case), **large, "dtype": dtype}) for case in covering[1:])
        found += [
            case for case in changed if case is not None and case.gradients_well_posed and backend.supports(case, True) and fully_judged(backend, case, GRADIENT_CHECKS)
        ][:1]
    return found


def structure_copies(backend: Backend, covering: list[Case], depth: Depth = DEPTHS[DEFAULT_DEPTH], gradients: bool = False) -> list[Case]:
    """The deep stack and the long sequence, outside the covering designs (real bugs switch
    on past three layers and past hundreds of steps): the first covering case after the
    plainest that the backend runs with :data:`conformance.cases.table.DEEP_LAYERS` layers, and
    (forward only) the first it runs at :data:`conformance.cases.table.LONG_SHAPE`, each in the
    typical regime and so changed (for a backend with costly runs, the long one a single forward
    layer over whole sequences, and with ``depth.cheapest_large_copies`` the deep one over
    whole sequences too); candidates on which a model-less deviation would leave
    comparisons unjudged are passed over."""
    checks = GRADIENT_CHECKS if gradients else ("forward",)
    costly = has_costly_runs(backend.adapter)
    # In the typical regime, as the large and long copies: saturated, four layers of float32
    # rounding make tolerances a thousandth of the values (lstm-parity power measured it).
    deep_values: dict[str, object] = {"layers": DEEP_LAYERS, "regime": "typ"}
    long_values: dict[str, object] = {"shape": LONG_SHAPE, "regime": "typ"}
    if costly:
        # A per-step dispatch (MindSpore with lengths) pays per cell and step: 500 steps of
        # one forward layer over whole sequences.
        long_values.update(layers=1, direction="fwd", lengths="none")
    if costly and depth.cheapest_large_copies:
        deep_values["lengths"] = "none"
    wanted = [deep_values] + ([] if gradients else [long_values])
    found = []
    for values in wanted:
        changed = (case_or_none({**asdict(case), **values}) for case in covering[1:])
        found += [
            case
            for case in changed
            if case is not None and (not gradients or case.gradients_well_posed) and backend.supports(case, gradients) and fully_judged(backend, case, checks)
        ][:1]
    return found


def edge_copies(backend: Backend, covering: list[Case], depth: Depth = DEPTHS[DEFAULT_DEPTH]) -> list[Case]:
    """The edge regime (:data:`conformance.cases.table.EDGE_INPUT_STD`): float32 covering cases,
    each with another activation set that drives an unbounded candidate or cell activation
    past float32's exp overflow, run so changed (``depth.edge_cases`` of them). In float32:
    it is float32's exp that overflows there, and float64's tolerances at such values hide
    float32-accurate arithmetic. Candidates on which a known deviation is armed are passed
    over: tolerances scaled to values in the hundreds can hide a deviation of ordinary
    size, which its own cases judge (a deviation found at the edge has its reproducer there)."""
    found: dict[str, Case] = {}
    version = backend.availability.version
    for case in covering:
        if len(found) == depth.edge_cases:
            break
        copy = case_or_none({**asdict(case), "regime": "edge", "dtype": "f32", "device": "cpu"})
        if copy is None or copy.acts in found or not backend.supports(copy):
            continue
        if not find_deviations(backend.name, "forward", request_for(copy, make_data(copy)), version=version):
            found[copy.acts] = copy
    return list(found.values())


def reduced_precision_copies(backend: Backend, covering: list[Case], depth: Depth = DEPTHS[DEFAULT_DEPTH], gradients: bool = False) -> list[Case]:
    """Per reduced-precision dtype the backend offers (with gradients, if asked), its first
    float32 covering cases of the typical regime run in that dtype instead
    (``depth.reduced_cases``, or ``depth.reduced_gradient_cases`` with gradients; half as
    many, at least one, for a backend with costly runs);
    saturated, bfloat16's rounding moves the values by a third of their size."""
    float32 = [case for case in covering if case.dtype == "f32" and case.device == "cpu" and case.regime == "typ"]
    wanted = depth.reduced_gradient_cases if gradients else depth.reduced_cases
    limit = max(1, wanted // 2) if has_costly_runs(backend.adapter) else wanted
    return [copy for dtype in REDUCED_DTYPES for copy in copies(backend, float32, limit, gradients, dtype=dtype)]


class BackendPool:
    """The backends of a run, loaded once (see the module docstring)."""

    def __init__(
        self,
        references: list[str],
        isolate: bool = True,
        interpreters: Mapping[str, str] | None = None,
        depth: Depth = DEPTHS[DEFAULT_DEPTH],
        sharing: TableSharing = NOT_SHARED,
    ) -> None:
        self.isolate = isolate
        self.depth = depth
        self.sharing = sharing
        self.interpreters = dict(interpreters or {})
        self.backends = [Backend(reference, self._load(reference), self.interpreters.get(reference)) for reference in references]

    def _load(self, reference: str) -> Adapter:
        if not self.isolate:
            return load_adapter(reference)
        return IsolatedAdapter(reference, python=self.interpreters.get(reference))

    @cached_property
    def case_tables(self) -> dict[str, list[Case]]:
        """Per backend, its forward table: its covering design, forward reproducers and CUDA copies."""
        return self._tables(gradients=False, checks=("forward",))

    @cached_property
    def gradient_case_tables(self) -> dict[str, list[Case]]:
        """Per backend, its gradient table: its covering design with gradients and gradient reproducers."""
        return self._tables(gradients=True, checks=GRADIENT_CHECKS)

    def _tables(self, gradients: bool, checks: tuple[str, ...]) -> dict[str, list[Case]]:
        """Per backend, :meth:`_table`, made here or by another worker of the run (see
        :mod:`conformance.run.table_sharing`) with the answers that made it."""
        kind = "gradients" if gradients else "forward"
        tables = {}
        for index in self.sharing.order(len(self.backends)):
            backend = self.backends[index]

            def make(backend: Backend = backend) -> tuple[list[str], Answers]:
                table = self._table(backend, gradients, checks)
                if backend.availability.available:
                    backend.ask_support([case.config(gradients) for case in table])
                return [case.id for case in table], backend.answers()

            case_ids, answers = self.sharing.shared(f"{kind}-{index}", make)
            backend.adopt(answers)
            tables[backend.name] = [Case.from_id(case_id) for case_id in case_ids]
        return {backend.name: tables[backend.name] for backend in self.backends}

    def _table(self, backend: Backend, gradients: bool, checks: tuple[str, ...]) -> list[Case]:
        """The backend's covering design, CUDA copies of a few of its cases, (forward only)
        its size and reduced-precision copies, and its reproducers under ``checks``, by id.
        An unavailable backend gets its reproducers and the first case of the oracle's
        covering: each skips once with the reason."""
        cases: dict[str, Case] = {}
        if backend.availability.available:
            covering = backend.covering_cases(gradients, self.depth)
            cases.update((case.id, case) for case in covering)
            for case in covering[: self.depth.cuda_cases]:
                cuda_case = replace(case, device="cuda")
                cases[cuda_case.id] = cuda_case
            if gradients:
                extra = gradient_size_copies(backend, covering, self.depth) + structure_copies(backend, covering, self.depth, gradients=True)
                extra += reduced_precision_copies(backend, covering, self.depth, gradients=True)
            else:
                extra = size_copies(backend, covering, self.depth) + reduced_precision_copies(backend, covering, self.depth) + edge_copies(backend, covering, self.depth)
                extra += structure_copies(backend, covering, self.depth)
            cases.update((case.id, case) for case in extra)
        else:
            first = self._oracle_covering()[0]
            cases[first.id] = first
        for check in checks:
            cases.update((case_id, Case.from_id(case_id)) for case_id in reproducer_cases(backend.name, check))
        return list(cases.values())

    @staticmethod
    def _oracle_covering() -> list[Case]:
        rows = covering_rows(COVERED_FACTORS, lambda row: case_or_none(row) is not None, seed=seed_for("covering:oracle"))
        return [Case(**row) for row in rows]

    def close(self) -> None:
        for backend in self.backends:
            backend.close()


def default_references() -> list[str]:
    """Every adapter reachable by name: the built-ins and installed plug-ins."""
    return sorted(known_adapters())
