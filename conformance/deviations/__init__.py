"""Known deviations: where a backend really differs from the oracle, named and reproducible.

Each entry names the backend, the checks it shows in (the first one runs its
reproducer), the compared quantities that deviate (``run`` when the run itself fails), which requests show it, the smallest
reproducing case (a case id: ``pytest "<reproducer_test>"`` runs it alone). The backend
versions a built-in deviation was seen on are measured, not written here: the committed
scoreboard (``lstm-parity matrix`` and ``lstm-parity scoreboard``) lists the versions it
reproduced on, and :func:`registered_deviations` reads them from ``versions_seen.json``.
Tests that hit deviations become strict xfails that only accept
:class:`DeviationReproduced`: a mismatch outside the deviations' quantities still
fails, and a deviation that stops reproducing fails the run, so this registry stays true.
A case on which the armed deviations cannot show, because their models and the oracle
agree within its tolerances and the run matches both (a peephole term below bfloat16's
resolution), passes on the oracle's judgement, the deviations recorded as unseen
(:func:`conformance.run.running.pass_where_unseen`).
A deviation that comes from reading uninitialised memory shows or not by chance: it is
registered with ``strict=False`` (its matching cases may pass), and its reproducer, a
case where it always shows, is still required to reproduce (see the project's tests).

Deviations are registered through the entry-point group ``lstm_conformance.deviations``
(see :func:`registered_deviations`): plug-ins register their own backends' deviations
there, and this project registers its built-in table, :mod:`conformance.deviations.known`
(their models in :mod:`conformance.deviations.models`), there too, as entry
:data:`BUILTIN_ENTRY`. This module is the mechanism: it imports neither the table nor
any adapter.
"""

from __future__ import annotations

from collections.abc import Callable
import json
import re
from dataclasses import dataclass, replace
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

from adapters.base import RunRequest
from reference import PARAM_NAMES, LSTMGradients, LSTMResult
from reference.textbook import Variant


DEVIATION_ENTRY_POINT_GROUP = "lstm_conformance.deviations"
# The entry this project's own distribution declares for its built-in table (pyproject.toml).
BUILTIN_ENTRY = "lstm-conformance"
# The versions each built-in deviation was measured to reproduce on: the committed
# scoreboard's (reports/scoreboard.json), over the default run and the version matrix.
MEASURED_VERSIONS = Path(__file__).with_name("versions_seen.json")


class DeviationReproduced(AssertionError):
    """A known deviation showed up exactly where the registry says it does."""


def release_numbers(version: str) -> tuple[int, ...]:
    """The numbers of a version string's first word: ``3.13.2 on torch 2.13.0`` -> (3, 13, 2)."""
    words = version.split()
    return tuple(int(number) for number in re.findall(r"\d+", words[0])) if words else ()


@dataclass(frozen=True)
class Releases:
    """The releases of a backend a deviation exists in, ``first`` to ``last`` inclusive (''
    for ``last``: every release since ``first``), each as precise as wanted (``3.12`` holds
    3.12.0 to 3.12.x), compared by the numbers of the version's first word
    (``3.13.2 on torch 2.13.0+cpu`` is 3.13.2)."""

    first: str
    last: str = ""

    def __contains__(self, version: str) -> bool:
        numbers, first, last = release_numbers(version), release_numbers(self.first), release_numbers(self.last)
        return first <= numbers[: len(first)] and (not last or numbers[: len(last)] <= last)

    def describe(self) -> str:
        if not self.last:
            return f"{self.first} on"
        return self.first if self.first == self.last else f"{self.first} to {self.last}"


@dataclass(frozen=True)
class DeviationModel:
    """What a backend computes instead of the oracle where its deviation applies, as code.

    The model's values come from the oracle, or from the textbook LSTM
    (:mod:`reference.textbook`) where a ``variant`` is given, in four steps, each optional:
    ``request(request)`` changes what is computed (lengths the backend drops, the activation
    parameters it uses); ``variant(request)`` is the :class:`reference.textbook.Variant` the
    backend's LSTM is (another activation, gate gradients used in another order...);
    ``result(request, result)`` changes the forward's results afterwards (states it
    returns in another shape or zeroes, or a forward computed another way altogether);
    ``upstream(upstream)`` changes the upstream gradient the backend backpropagates (a
    term it drops); ``backward(request, upstream)`` computes the gradients another way
    altogether (the backward of such a forward). ``undefined(request, result)``: for the
    model's forward ``result``, boolean masks (an :class:`LSTMResult` of them) of the
    values the model leaves undefined: computed from a non-finite value by arithmetic it
    does not reproduce; they are not compared. ``arithmetic``: the dtype the
    backend really computes in (a float64 run carried out in float32): values are held to
    that dtype's tolerances instead of the request's. ``padded_outputs``: the model's
    ``result`` gives the outputs at padded steps as the backend computes them, so the
    backend's declared padded-outputs convention is not laid over them. Models of several
    deviations armed together compose (:func:`conformance.deviations.modelling.composed`).
    ``summary``: one line."""

    summary: str
    request: Callable[[RunRequest], RunRequest] | None = None
    variant: Callable[[RunRequest], Variant] | None = None
    result: Callable[[RunRequest, LSTMResult], LSTMResult] | None = None
    upstream: Callable[[LSTMResult], LSTMResult] | None = None
    backward: Callable[[RunRequest, LSTMResult], LSTMGradients] | None = None
    undefined: Callable[[RunRequest, LSTMResult], LSTMResult] | None = None
    arithmetic: str | None = None
    padded_outputs: bool = False


@dataclass(frozen=True)
class KnownDeviation:
    """One registered deviation (see the module docstring).

    ``model``: what the backend computes instead (:class:`DeviationModel`); a case it applies
    to ends as this deviation only where the backend matches the model on every quantity,
    and fails otherwise. ``unmodelled``: why no model can be written (a crash, a refusal,
    uninitialised memory), for a deviation without one; its ``applies`` must then be as
    narrow as the configuration it was measured on, and its cases are counted as not
    judged. A deviation has one or the other. ``formerly``: names it was registered under
    before (a cause corrected): records armed under them count as armed under this one.
    ``upstream``: where the framework's tracker reports it (an address), or what a search of
    the tracker found ('not reported upstream: ...'); '' when nobody looked. ``primitive``:
    (probe, dtype), the primitive the deviation blames (``tanh``, ``hard_sigmoid_relu6'``
    for a derivative, ``matmul``: see :mod:`conformance.probes.primitives`), which the backend's
    probes must flag; () for a deviation that blames none."""

    name: str
    backend: str
    checks: tuple[str, ...]
    summary: str
    quantities: frozenset[str]
    applies: Callable[[RunRequest], bool]
    reproducer: str
    versions_seen: tuple[str, ...] = ()
    strict: bool = True
    releases: Releases | None = None
    model: DeviationModel | None = None
    unmodelled: str = ""
    formerly: tuple[str, ...] = ()
    upstream: str = ""
    primitive: tuple[str, ...] = ()

    @property
    def reproducer_test(self) -> str:
        """The pytest node id that runs the reproducer alone (under the first of its checks)."""
        return f"{CHECK_TESTS[self.checks[0]]}[{self.backend}-{self.reproducer}]"

    def describe(self) -> str:
        releases = f"; exists in releases {self.releases.describe()}" if self.releases else ""
        return f"known deviation {self.name}: {self.summary} (seen on {self.backend} {', '.join(self.versions_seen)}{releases})"

    def exists_in(self, version: str) -> bool:
        """Whether the backend at ``version`` has it: every version unless ``releases`` says
        otherwise ('' , an unknown version, has every deviation)."""
        return self.releases is None or not version or version in self.releases

    def as_record(self) -> dict:
        return {
            "name": self.name,
            "backend": self.backend,
            "checks": list(self.checks),
            "summary": self.summary,
            "quantities": sorted(self.quantities),
            "reproducer": self.reproducer,
            "reproducer_test": self.reproducer_test,
            "versions_seen": list(self.versions_seen),
            "strict": self.strict,
            **({"releases": self.releases.describe(), "releases_range": [self.releases.first, self.releases.last]} if self.releases else {}),
            **({"model": self.model.summary} if self.model else {}),
            **({"unmodelled": self.unmodelled} if self.unmodelled else {}),
            **({"formerly": list(self.formerly)} if self.formerly else {}),
            **({"upstream": self.upstream} if self.upstream else {}),
            **({"primitive": list(self.primitive)} if self.primitive else {}),
        }


# The test function each check's cases run under (a reproducer is one of its parameters).
CHECK_TESTS = {
    "forward": "conformance/test_forward_parity.py::test_forward_matches_oracle",
    "gradients": "conformance/test_gradient_parity.py::test_gradients_match_oracle",
    "gradients_c_n": "conformance/test_gradient_parity.py::test_gradients_through_final_cell_state_match_oracle",
    "padded_upstream": "conformance/test_gradient_parity.py::test_upstream_at_padded_steps_changes_no_gradient",
    "padding": "conformance/test_invariants.py::test_padding_content_changes_nothing",
    "nan_padding": "conformance/test_invariants.py::test_nan_padding_changes_nothing",
    "final_state_is_last_output": "conformance/test_invariants.py::test_last_valid_output_is_the_final_state",
    "sample_alone": "conformance/test_invariants.py::test_each_sample_alone_equals_its_row_in_the_batch",
    "streaming": "conformance/test_invariants.py::test_a_sequence_run_in_two_calls_equals_one_call",
    "last_output_only": "conformance/test_invariants.py::test_the_last_output_only_mode_equals_the_full_run",
    "dropout_inference": "conformance/test_invariants.py::test_dropout_in_inference_mode_changes_nothing",
    "stacking": "conformance/test_invariants.py::test_two_layers_equal_two_stacked_single_layers",
}


FORWARD_QUANTITIES = frozenset({"outputs", "outputs_padded", "h_n", "c_n"})
GRADIENT_QUANTITIES = frozenset(
    {"grad_x", "grad_x_padded", "grad_h0", "grad_c0"} | {f"grad_{name}" for name in PARAM_NAMES}
)
GRADIENT_CHECKS = ("gradients", "gradients_c_n")
# The backend-against-itself checks of conformance/test_invariants.py.
INVARIANT_CHECKS = (
    "padding", "nan_padding", "final_state_is_last_output", "sample_alone", "streaming", "last_output_only", "dropout_inference", "stacking"
)


@cache
def measured_versions() -> dict[str, tuple[str, ...]]:
    """Built-in deviation name -> the backend versions the committed scoreboard measured it to
    reproduce on (:data:`MEASURED_VERSIONS`, written by ``lstm-parity scoreboard --versions-seen``)."""
    return {name: tuple(versions) for name, versions in json.loads(MEASURED_VERSIONS.read_text(encoding="utf-8")).items()}


@cache
def registered_deviations() -> tuple[KnownDeviation, ...]:
    """Every deviation the installed packages declare in the entry-point group
    ``lstm_conformance.deviations`` (``name = "package.module:ATTRIBUTE"``, the attribute an
    iterable of :class:`KnownDeviation`): the built-in table (entry :data:`BUILTIN_ENTRY`)
    first, each with the versions the committed scoreboard measured it on, then the others'
    by entry name. A RuntimeError says when the built-in entry is missing (the project is
    not installed); a TypeError names an entry whose items are not deviations; a
    ValueError names a deviation name used twice or an unknown check."""
    entries = sorted(entry_points(group=DEVIATION_ENTRY_POINT_GROUP), key=lambda entry: (entry.name != BUILTIN_ENTRY, entry.name, entry.value))
    if not entries or entries[0].name != BUILTIN_ENTRY:
        raise RuntimeError(
            f"deviations: expected the entry point {BUILTIN_ENTRY!r} of group {DEVIATION_ENTRY_POINT_GROUP!r}, which lstm-conformance "
            f"declares for its built-in deviations, got {[entry.name for entry in entries]}: install the project (pip install -e .)"
        )
    measured = measured_versions()
    deviations = []
    for entry in entries:
        declared = tuple(entry.load())
        wrong = [type(item).__name__ for item in declared if not isinstance(item, KnownDeviation)]
        if wrong:
            raise TypeError(f"deviations: entry point {entry.name!r} ({entry.value}) must give KnownDeviation items, got {', '.join(wrong)}")
        if entry.name == BUILTIN_ENTRY:
            declared = tuple(replace(deviation, versions_seen=measured.get(deviation.name, ())) for deviation in declared)
        deviations.extend(declared)
    names = [deviation.name for deviation in deviations]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"deviations: each name must be registered once, got {', '.join(repeated)} more than once")
    for deviation in deviations:
        unknown = [check for check in deviation.checks if check not in CHECK_TESTS]
        if not deviation.checks or unknown:
            raise ValueError(f"deviations: {deviation.name}.checks: expected a non-empty tuple of {', '.join(CHECK_TESTS)}, got {deviation.checks!r}")
    return tuple(deviations)


def find_deviations(
    backend: str, check: str, request: RunRequest, registry: tuple[KnownDeviation, ...] | None = None, *, version: str = ""
) -> tuple[KnownDeviation, ...]:
    """The registered deviations (default: :func:`registered_deviations`) of ``backend`` at
    ``version`` (its version string; '': any) that ``request`` shows under ``check``."""
    return tuple(
        deviation
        for deviation in (registered_deviations() if registry is None else registry)
        if deviation.backend == backend and check in deviation.checks and deviation.exists_in(version) and deviation.applies(request)
    )


def reproducer_cases(backend: str, check: str, registry: tuple[KnownDeviation, ...] | None = None) -> list[str]:
    """Case ids of the reproducers registered (default: :func:`registered_deviations`) for
    ``backend`` whose first check is ``check``."""
    registry = registered_deviations() if registry is None else registry
    return [deviation.reproducer for deviation in registry if deviation.backend == backend and deviation.checks[0] == check]
