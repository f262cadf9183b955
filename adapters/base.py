"""The interface every backend adapter implements, and a base class that does the checking.

An adapter translates between the oracle's canonical world (``reference``) and one
LSTM implementation:

- ``name``: short and unique (``torch``, ``paddle``, ``paddle-legacy``...);
- ``parameter_layout``: which :data:`reference.LAYOUTS` entry its parameter count follows;
- ``availability()``: whether the backend imports here, its version, and why not;
- ``unsupported(config)``: one reason per feature of a run it cannot do (empty: supported);
- ``parameter_count(spec)``: trainable parameters as the backend itself reports them;
- ``canonical_to_backend`` / ``backend_to_canonical``: the parameter mapping both ways;
- ``run(request)``: the forward pass, returned in the oracle's layout as float64 NumPy;
- optionally ``gradients(request, upstream)``: the backend's autograd gradients of
  ``sum(outputs * upstream.outputs) + sum(h_n * upstream.h_n) + sum(c_n * upstream.c_n)``
  in the canonical layout (:class:`GradientAdapter`);
- optionally ``interface_version`` and ``supports``: the interface it was written against
  and every aspect of a run it accepts (:mod:`adapters.support`); it is sent nothing else;
- optionally ``dtypes``: the dtypes it runs, float32 and float64 unless it says more
  (bfloat16 and float16 are offered only by adapters that list them; see :func:`offered_dtypes`),
  read only when it lists no ``supports``;
- optionally ``parameter_offsets``: constants its backend adds to parameters at every call
  (the forget-gate bias of 1.0 of Haiku and Sonnet; :mod:`adapters.offsets`);
- optionally ``packages``: the distributions its framework is made of, which the report's
  environment table lists with their versions;
- optionally ``set_threads(count)``: set the framework's own intra-op thread count (the
  suite calls it in a backend's process before any run, beside setting the usual
  environment variables, when it checks a backend at several thread counts);
- optionally ``run_threaded(request, count)``: ``run`` on ``count`` intra-op threads in
  the adapter's own process, leaving the count its other runs use as it was, for a
  framework whose count changes between runs (see :func:`offers_threaded_runs` and
  :class:`ThreadedRuns`): the threads check then needs no second process;
- optionally ``deterministic_across_threads = True``: its results do not depend on the
  thread count, so runs at different counts must agree bit for bit;
- optionally ``fixed_thread_count``: why no thread setting reaches its backend (it computes
  on one thread, or on threads of its own that nothing sets); the threads check then skips
  with that reason (see :func:`fixed_thread_count`);
- optionally ``batch_invariant = True``: a sample's results do not depend on the other
  samples of its batch or on its row in it, so a sample run alone must agree bit for bit
  with its row;
- optionally ``costly_runs = True``: each run takes seconds (it exports or compiles a
  model), so the suite draws a smaller covering design and sweep for it (see
  :func:`has_costly_runs`).

A subclass of :class:`BaseAdapter` may declare its weight layout as data instead of writing
the mapping: ``layout``, a :class:`adapters.layouts.Layout`, gives both mapping directions
and ``parameter_layout`` (its ``counted_as``).

Subclass :class:`BaseAdapter` and implement the ``_``-prefixed hooks: it validates every
request (shapes, lengths, dtype, device, support) before any framework code runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

import numpy as np

from reference import (
    LSTMGradients,
    LSTMInputs,
    LSTMParams,
    LSTMResult,
    LSTMSpec,
    validate_inputs,
    validate_params,
    validate_upstream,
)

from .layouts import Layout, to_backend, to_canonical
from .support import DEVICES, DTYPES, PLAIN_DTYPES, declaration_of, undeclared

# What each of reference.spec.VARIANT_FEATURES is called in an unsupported reason.
FEATURE_NAMES = {
    "reverse": "reverse-only direction",
    "peepholes": "peephole connections",
    "activations": "activations other than sigmoid/tanh/tanh",
    "cell_clip": "cell clipping",
    "activation_clip": "activation clipping",
    "input_forget": "coupled input-forget gate",
    "proj_clip": "projection clipping",
}


def missing_features(spec: LSTMSpec, backend: str, supported: tuple[str, ...] = ()) -> list[str]:
    """One reason per variant feature ``spec`` uses that is not in ``supported``
    (see :meth:`reference.LSTMSpec.variant_features`): "<backend> has no <feature>". The
    helper of adapters written against interfaces 1 to 3; one written against interface 4
    declares what it runs instead (:mod:`adapters.support`)."""
    return [f"{backend} has no {FEATURE_NAMES[feature]}" for feature in spec.variant_features() if feature not in supported]


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here: its version when it can, the reason when it cannot."""

    available: bool
    version: str = ""
    reason: str = ""


@dataclass(frozen=True)
class RunConfig:
    """Everything about a run except its data: what support is decided on.

    lengths: per-sequence lengths are given; zero_length: at least one of them is 0;
    initial_states: h0 and c0 are given; dropout: the module's inter-layer dropout
    probability, run in inference mode; gradients: the run is asked for gradients too;
    last_output_only: the backend's mode that returns only each sequence's last output;
    backend_defaults: the run is made at the backend's own default settings (see
    :class:`RunRequest`).
    """

    spec: LSTMSpec
    dtype: str = "float64"
    device: str = "cpu"
    batch_first: bool = False
    lengths: bool = False
    zero_length: bool = False
    initial_states: bool = False
    dropout: float = 0.0
    gradients: bool = False
    last_output_only: bool = False
    backend_defaults: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype: expected one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device: expected one of {', '.join(DEVICES)}, got {self.device!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {self.dropout!r}")
        if self.last_output_only and (self.zero_length or self.gradients):
            raise ValueError(
                f"last_output_only: expected a forward run without empty sequences, got zero_length={self.zero_length}, gradients={self.gradients}"
            )


@dataclass(frozen=True)
class RunRequest:
    """One forward run: spec, canonical float64 parameters and the data.

    x: [T, B, I] ([B, T, I] when ``batch_first``); lengths: [B] ints in [0, T] or None;
    initial_states: (h0 [L*D, B, R], c0 [L*D, B, H]) or None for zeros.
    ``last_output_only``: run the backend's mode that returns only each sequence's last
    output (Keras's ``return_sequences=False``, an ONNX LSTM without Y); the result's
    ``outputs`` are then [B, D*R]: per direction, the top layer's output at the last step
    it computes for the sequence (a forward direction's at the sequence's last valid step,
    a reversed one's at step 0), directions concatenated. Never with an empty sequence.
    ``backend_defaults``: run as a model deployed without settings runs, at the backend's
    own defaults (a runtime's default inference precision), not at the settings that make it
    compute in ``dtype``; the values are then held to the declared ``default_precision``
    convention (:mod:`adapters.conventions`).
    """

    spec: LSTMSpec
    params: LSTMParams
    x: np.ndarray
    lengths: np.ndarray | None = None
    initial_states: tuple[np.ndarray, np.ndarray] | None = None
    batch_first: bool = False
    dtype: str = "float64"
    device: str = "cpu"
    dropout: float = 0.0
    last_output_only: bool = False
    backend_defaults: bool = False

    def config(self, gradients: bool = False) -> RunConfig:
        """The data-free description of this request (asking for gradients too if ``gradients``)."""
        lengths = None if self.lengths is None else np.asarray(self.lengths)
        return RunConfig(
            spec=self.spec,
            dtype=self.dtype,
            device=self.device,
            batch_first=self.batch_first,
            lengths=lengths is not None,
            zero_length=bool(lengths is not None and lengths.size and (lengths == 0).any()),
            initial_states=self.initial_states is not None,
            dropout=self.dropout,
            gradients=gradients,
            last_output_only=self.last_output_only,
            backend_defaults=self.backend_defaults,
        )


@runtime_checkable
class Adapter(Protocol):
    """What the conformance suite needs from a backend (see the module docstring)."""

    name: str
    parameter_layout: str

    def availability(self) -> Availability: ...

    def unsupported(self, config: RunConfig) -> tuple[str, ...]: ...

    def parameter_count(self, spec: LSTMSpec) -> int: ...

    def canonical_to_backend(self, spec: LSTMSpec, params: LSTMParams) -> dict[str, np.ndarray]: ...

    def backend_to_canonical(self, spec: LSTMSpec, backend_params: Mapping[str, np.ndarray]) -> LSTMParams: ...

    def run(self, request: RunRequest) -> LSTMResult: ...


@runtime_checkable
class GradientAdapter(Adapter, Protocol):
    """An adapter that also computes gradients with the backend's own autograd."""

    def gradients(self, request: RunRequest, upstream: LSTMResult) -> LSTMGradients: ...


def offers_gradients(adapter: object) -> bool:
    """Whether ``adapter`` has the optional gradient capability (``has_gradients`` where it
    says, else whether it has a ``gradients`` method)."""
    return bool(getattr(adapter, "has_gradients", callable(getattr(adapter, "gradients", None))))


def offered_dtypes(adapter: object) -> tuple[str, ...]:
    """The dtypes ``adapter`` declares it runs (see :mod:`adapters.support`: its
    ``supports.dtypes``, else its ``dtypes``, default float32 and float64), in
    :data:`DTYPES` order: the reduced-precision ones are opt-in, since an adapter written
    before them may not refuse them."""
    declared = declaration_of(adapter).support.dtypes
    return tuple(dtype for dtype in DTYPES if dtype in declared)


def not_declared(adapter: object, config: RunConfig) -> tuple[str, ...]:
    """What ``config`` asks that ``adapter`` did not declare (see :func:`adapters.support.undeclared`)."""
    return tuple(undeclared(adapter.name, declaration_of(adapter), config))


def promises_thread_determinism(adapter: object) -> bool:
    """Whether ``adapter`` says its backend's results do not depend on the intra-op thread
    count (``deterministic_across_threads``, default False): the suite then compares its
    runs at different thread counts bit for bit."""
    return bool(getattr(adapter, "deterministic_across_threads", False))


def offers_threaded_runs(adapter: object) -> bool:
    """Whether ``adapter`` can run a request on a given intra-op thread count in its own
    process (``has_threaded_runs`` where it says, else whether it has the optional
    ``run_threaded(request, count)``, which leaves the process's own count as it was): the
    threads check then runs there, with no second process importing the framework and
    converting the model again."""
    return bool(getattr(adapter, "has_threaded_runs", callable(getattr(adapter, "run_threaded", None))))


class ThreadedRuns:
    """For an adapter whose runs read ``self.threads`` (the runtime's intra-op thread count,
    None for its default) when they make a session or interpreter: ``set_threads`` sets it
    for the runs that follow, ``run_threaded`` for one run."""

    threads: int | None = None

    def set_threads(self, count: int) -> None:
        """The runtime's intra-op thread count for the runs that follow."""
        self.threads = count

    def run_threaded(self, request: RunRequest, count: int) -> LSTMResult:
        """``run(request)`` on ``count`` threads; the count set before is kept for later runs."""
        previous, self.threads = self.threads, count
        try:
            return self.run(request)
        finally:
            self.threads = previous


def fixed_thread_count(adapter: object) -> str:
    """Why no thread setting of the suite reaches ``adapter``'s backend (``fixed_thread_count``,
    a sentence), or '' when the environment variables and ``set_threads`` do (the default):
    running it at another thread count would run the same code twice."""
    reason = getattr(adapter, "fixed_thread_count", "")
    if not isinstance(reason, str):
        raise TypeError(f"{getattr(adapter, 'name', adapter)}: fixed_thread_count: expected a sentence (str), got {reason!r}")
    return reason


def promises_batch_invariance(adapter: object) -> bool:
    """Whether ``adapter`` says its backend's result for a sample does not depend on the
    other samples of its batch or on its row in it (``batch_invariant``, default False):
    the suite then compares a sample run alone with its row in the batch bit for bit."""
    return bool(getattr(adapter, "batch_invariant", False))


def has_costly_runs(adapter: object) -> bool:
    """Whether ``adapter`` says each of its runs takes seconds (``costly_runs``, default False):
    the suite then gives it its depth's smaller designs (see ``conformance.cases.depth``: at full
    depth every 2-way combination of features once instead of every 3-way combination
    twice) and sweeps a quarter of the examples."""
    return bool(getattr(adapter, "costly_runs", False))


def one_bias_gradients(params: LSTMParams) -> LSTMParams:
    """Gradients mapped back from a layout with one bias per cell (which maps back into b_ih,
    with b_hh zero): that bias is b_ih + b_hh, so each canonical bias gets its whole gradient."""
    return tuple(replace(cell, b_hh=cell.b_ih.copy()) if cell.b_ih is not None else cell for cell in params)


def backend_gradients(request: RunRequest, grad_x, grad_h0, grad_c0, params: LSTMParams, x_batch_major: bool) -> LSTMGradients:
    """A backend's gradients as the suite compares them, float64: ``grad_x`` [B, T, I] when
    ``x_batch_major`` else [T, B, I], put in the request's layout; per-cell initial-state
    gradients (canonical cell order) stacked into [L*D, B, R] and [L*D, B, H]; ``params``
    already canonical."""
    grad_x = np.asarray(grad_x, dtype=np.float64)
    return LSTMGradients(
        x=np.ascontiguousarray(grad_x if x_batch_major == request.batch_first else grad_x.transpose(1, 0, 2)),
        h0=np.stack([np.asarray(grad, dtype=np.float64) for grad in grad_h0]),
        c0=np.stack([np.asarray(grad, dtype=np.float64) for grad in grad_c0]),
        params=params,
    )


class UnsupportedCase(ValueError):
    """A request asks for something the backend cannot do; ``reasons`` says what."""

    def __init__(self, backend: str, reasons: tuple[str, ...]) -> None:
        super().__init__(f"{backend} cannot run this case: " + "; ".join(reasons))
        self.backend = backend
        self.reasons = tuple(reasons)

    def __reduce__(self):
        return (type(self), (self.backend, self.reasons))


class BaseAdapter(ABC):
    """Checks requests, then calls the backend through the ``_`` hooks.

    Subclasses set ``name``, and either ``layout`` (the mapping and ``parameter_layout``
    follow from it) or ``parameter_layout`` with ``canonical_to_backend`` and
    ``backend_to_canonical``; and implement ``_import_version`` (import the framework,
    return its version), ``_unsupported``, ``parameter_count`` and ``_run``.
    """

    name: str
    parameter_layout: str
    layout: Layout | None = None
    costly_runs: bool = False
    dtypes: tuple[str, ...] = PLAIN_DTYPES
    _framework_prepared = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.layout is not None and "parameter_layout" not in cls.__dict__:
            cls.parameter_layout = cls.layout.counted_as

    def availability(self) -> Availability:
        try:
            version = self._import_version()
        except ImportError as error:
            return Availability(False, reason=f"{self.name}: cannot import ({error})")
        self._framework_prepared = True
        return Availability(True, version=str(version))

    def prepare_framework(self) -> None:
        """Import and set up the framework (:meth:`_import_version`) once, before its first use
        whichever call comes first: process-wide settings made there (Keras's backend, bound
        at Keras's first import; JAX's float64) must precede it. ImportError when it cannot."""
        if not self._framework_prepared:
            self._import_version()
            self._framework_prepared = True

    @property
    def has_gradients(self) -> bool:
        """Whether the subclass implements ``_gradients``."""
        return type(self)._gradients is not BaseAdapter._gradients

    def unsupported(self, config: RunConfig) -> tuple[str, ...]:
        """What the adapter did not declare (:mod:`adapters.support`), refused before its own
        ``_unsupported`` is asked; else the reasons that gives."""
        undeclared_reasons = not_declared(self, config)
        if undeclared_reasons:
            return undeclared_reasons
        reasons = list(self._unsupported(config))
        if config.gradients and not self.has_gradients:
            reasons.append(f"{self.name} computes no gradients")
        return tuple(reasons)

    def run(self, request: RunRequest) -> LSTMResult:
        inputs, params = self.check(request)
        return self._run(request, inputs, params)

    def gradients(self, request: RunRequest, upstream: LSTMResult) -> LSTMGradients:
        """Gradients of sum(outputs * upstream.outputs) + sum(h_n * upstream.h_n) + sum(c_n * upstream.c_n)
        from the backend's autograd, in the canonical layout (see :class:`reference.LSTMGradients`).
        ``upstream`` has the shapes of the run's results (outputs in the request's layout)."""
        inputs, params = self.check(request, gradients=True)
        grad_outputs, grad_h_n, grad_c_n = validate_upstream(
            request.spec, inputs, upstream.outputs, upstream.h_n, upstream.c_n, request.batch_first
        )
        return self._gradients(request, inputs, params, LSTMResult(grad_outputs, grad_h_n, grad_c_n))

    def check(self, request: RunRequest, gradients: bool = False) -> tuple[LSTMInputs, LSTMParams]:
        """Validate ``request`` fully; raise ValueError/TypeError or :class:`UnsupportedCase`."""
        if not isinstance(request.spec, LSTMSpec):
            raise TypeError(f"spec: expected LSTMSpec, got {type(request.spec).__name__}")
        request.spec.validate()
        inputs = validate_inputs(
            request.spec,
            request.x,
            lengths=request.lengths,
            initial_states=request.initial_states,
            batch_first=request.batch_first,
        )
        params = validate_params(request.spec, request.params)
        reasons = self.unsupported(request.config(gradients))
        if reasons:
            raise UnsupportedCase(self.name, reasons)
        self.prepare_framework()
        return inputs, params

    @abstractmethod
    def _import_version(self) -> str:
        """Import the framework (ImportError when absent) and return its version string."""

    @abstractmethod
    def _unsupported(self, config: RunConfig) -> list[str]:
        """One human-readable reason per unsupported feature of ``config``."""

    @abstractmethod
    def parameter_count(self, spec: LSTMSpec) -> int:
        """Trainable parameters as the backend counts them (unique tensors)."""

    def canonical_to_backend(self, spec: LSTMSpec, params: LSTMParams) -> dict[str, np.ndarray]:
        """Canonical parameters as the backend's named float64 arrays: the declared layout's."""
        return to_backend(self.declared_layout(), spec, params)

    def backend_to_canonical(self, spec: LSTMSpec, backend_params: Mapping[str, np.ndarray]) -> LSTMParams:
        """The inverse of :meth:`canonical_to_backend`: through the declared layout."""
        return to_canonical(self.declared_layout(), spec, backend_params)

    def declared_layout(self) -> Layout:
        """The adapter's ``layout``; TypeError for one that declares none and maps nothing itself."""
        if self.layout is None:
            raise TypeError(
                f"{type(self).__name__}: layout: expected an adapters.layouts.Layout, or canonical_to_backend and backend_to_canonical "
                "written out, got neither"
            )
        return self.layout

    @abstractmethod
    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        """Run the backend; ``inputs`` (time-major float64) and ``params`` are validated.
        Return outputs in the request's layout (batch-first if requested), float64."""

    def _gradients(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, upstream: LSTMResult) -> LSTMGradients:
        """Optional: forward and backward in the backend. ``upstream`` is validated, float64,
        its outputs time-major. Return float64 gradients; x in the request's layout, h0 and c0
        always (the backend runs from zero initial states when none were given)."""
        raise UnsupportedCase(self.name, (f"{self.name} computes no gradients",))
