"""What an adapter declares it runs, and the interface version it was written against.

An adapter is only ever sent what it declared. It declares with two optional attributes:

- ``interface_version``: the version of this interface it was written against (an int,
  1 when absent, since the attribute came with version 4);
- ``supports``: a :class:`Support`, every aspect of a run it accepts: request features
  by name (:data:`ASPECTS`), activations by name, dtypes, directions and devices.

Without ``supports``, an adapter accepts what its interface version could send
(:meth:`Support.of_interface`, its ``dtypes`` included) and refuses the rest through its
own ``unsupported``: an adapter written before a feature existed is never sent it, so it
keeps exactly the cases it ran when it was written. With ``supports``, everything outside
the declaration is refused, whatever the version. Either way the refusal comes from
:func:`undeclared`, before the adapter is asked (the suite's backends and
:class:`adapters.base.BaseAdapter` both call it first).

Interface versions (what each one added to what a run can ask):

1. the first: layers, bidirectional, projection, no bias, peepholes, the cell clip,
   lengths (empty sequences included), initial states, batch-major input, dropout, the
   sigmoid, tanh, relu and identity activations, float32 and float64, the CPU and CUDA;
2. the reverse-only direction, the activation clip, the coupled input-forget gate, the
   projection clip and every other activation of :mod:`reference.activations`;
3. bfloat16 and float16 (asked only of adapters listing them in ``dtypes``), thread counts;
4. ``supports`` and ``interface_version`` themselves, and parameter offsets
   (:mod:`adapters.offsets`);
5. the last-output-only mode (``last_output_only``: Keras's ``return_sequences=False``,
   an ONNX LSTM without its Y output) and the batch-invariance claim (``batch_invariant``);
6. the run at the backend's own default settings (``backend_defaults``: what a model deployed
   without settings computes, such as a runtime's default inference precision, where a run
   otherwise computes in the precision its dtype names) and the ``default_precision``
   convention it is checked against (:mod:`adapters.conventions`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from reference.activations import ACTIVATIONS
from reference.spec import ACTIVATION_ROLES, DEFAULT_ACTIVATIONS

INTERFACE_VERSION = 6
DTYPES = ("float32", "float64", "bfloat16", "float16")
PLAIN_DTYPES = ("float32", "float64")
DEVICES = ("cpu", "cuda")
DIRECTIONS = ("forward", "bidirectional", "reverse")


@dataclass(frozen=True)
class Aspect:
    """One feature a run can ask for: its name in ``Support.features``, how a refusal
    describes it, the interface version that first sent it, and whether a config asks it."""

    name: str
    described: str
    since: int
    asked: Callable[[object], bool]


ASPECTS: tuple[Aspect, ...] = (
    Aspect("layers", "more than one layer", 1, lambda config: config.spec.num_layers > 1),
    Aspect("projection", "projection (proj_size > 0)", 1, lambda config: config.spec.proj_size > 0),
    Aspect("no_bias", "an LSTM without bias", 1, lambda config: not config.spec.bias),
    Aspect("peepholes", "peephole connections", 1, lambda config: config.spec.peepholes),
    Aspect("cell_clip", "cell clipping", 1, lambda config: config.spec.cell_clip is not None),
    Aspect("lengths", "per-sequence lengths", 1, lambda config: config.lengths),
    Aspect("zero_length", "sequences of length 0", 1, lambda config: config.zero_length),
    Aspect("initial_states", "given initial states", 1, lambda config: config.initial_states),
    Aspect("batch_first", "batch-major input", 1, lambda config: config.batch_first),
    Aspect("dropout", "dropout between layers (in inference)", 1, lambda config: config.dropout > 0),
    Aspect("activation_clip", "activation clipping", 2, lambda config: config.spec.activation_clip is not None),
    Aspect("input_forget", "coupled input-forget gate", 2, lambda config: config.spec.input_forget),
    Aspect("proj_clip", "projection clipping", 2, lambda config: config.spec.proj_clip is not None),
    Aspect("last_output_only", "a mode returning only each sequence's last output", 5, lambda config: config.last_output_only),
    Aspect("backend_defaults", "a run at the backend's own default settings", 6, lambda config: config.backend_defaults),
)
FEATURES = tuple(aspect.name for aspect in ASPECTS)
# The structural features of interface 1, which every framework layer either runs or
# refuses with its own reason (its ``unsupported``): the built-ins declare them all.
STRUCTURAL = frozenset({"layers", "projection", "no_bias", "lengths", "zero_length", "initial_states", "batch_first", "dropout"})
# The version that first sent each direction, activation and dtype (the others: 1).
DIRECTION_SINCE = MappingProxyType({"forward": 1, "bidirectional": 1, "reverse": 2})
ACTIVATION_SINCE = MappingProxyType({name: 1 if name in ("sigmoid", "tanh", "relu", "identity") else 2 for name in ACTIVATIONS})
DTYPE_SINCE = MappingProxyType({"float32": 1, "float64": 1, "bfloat16": 3, "float16": 3})


def _names(field_name: str, values: object, allowed: tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    """``values`` as a frozenset of names, or TypeError/ValueError naming the field."""
    if isinstance(values, str) or not all(isinstance(value, str) for value in values):
        raise TypeError(f"supports.{field_name}: expected a collection of names, got {values!r}")
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"supports.{field_name}: expected names among {', '.join(sorted(allowed))}, got {', '.join(map(repr, unknown))}")
    return frozenset(values)


@dataclass(frozen=True)
class Support:
    """Every aspect of a run an adapter accepts (see the module docstring). The classic LSTM
    (one forward layer with bias, sigmoid and tanh, float32 and float64 on the CPU) is
    described by the defaults; each field lists names:

    - ``features``: :data:`FEATURES` it runs (``lengths``, ``peepholes``, ``cell_clip``...);
    - ``activations``: activation names of :mod:`reference.activations` it runs in any
      role (its ``unsupported`` may still refuse a parameter value or a pairing); without
      them, only the classic sigmoid gates, tanh candidate and tanh cell activation;
    - ``dtypes``, ``directions``, ``devices``: among :data:`DTYPES`, :data:`DIRECTIONS`, :data:`DEVICES`;
    - ``shared_activations``: activation roles (:data:`reference.spec.ACTIVATION_ROLES`) that
      take one activation between them, as Keras's ``activation`` is both the candidate's
      and the cell output's: a spec whose activations in those roles differ is not sent.
    """

    features: frozenset[str] = frozenset()
    activations: frozenset[str] = frozenset()
    dtypes: frozenset[str] = frozenset(PLAIN_DTYPES)
    directions: frozenset[str] = frozenset({"forward"})
    devices: frozenset[str] = frozenset({"cpu"})
    shared_activations: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name, allowed in (
            ("features", FEATURES), ("activations", tuple(ACTIVATIONS)), ("dtypes", DTYPES), ("directions", DIRECTIONS), ("devices", DEVICES),
            ("shared_activations", ACTIVATION_ROLES),
        ):
            object.__setattr__(self, name, _names(name, getattr(self, name), allowed))
        if len(self.shared_activations) == 1:
            raise ValueError(f"supports.shared_activations: expected no roles or at least two, got {sorted(self.shared_activations)}")

    @classmethod
    def of_interface(cls, version: int, dtypes: tuple[str, ...] = PLAIN_DTYPES) -> Support:
        """Everything interface ``version`` could send, in ``dtypes`` (those the adapter lists:
        listing a dtype is itself a declaration)."""
        return cls(
            features=frozenset(aspect.name for aspect in ASPECTS if aspect.since <= version),
            activations=frozenset(name for name, since in ACTIVATION_SINCE.items() if since <= version),
            dtypes=frozenset(dtypes),
            directions=frozenset(name for name, since in DIRECTION_SINCE.items() if since <= version),
            devices=frozenset(DEVICES),
        )


@dataclass(frozen=True)
class Declaration:
    """What an adapter declared: its interface version, its support, and whether the support
    was listed (``supports``) or follows from the version."""

    interface_version: int
    support: Support
    listed: bool = True


def interface_version_of(adapter: object) -> int:
    """The interface version ``adapter`` was written against (1 when it does not say);
    TypeError/ValueError when it says something this suite cannot read."""
    version = getattr(adapter, "interface_version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise TypeError(f"interface_version: expected an int from 1 to {INTERFACE_VERSION}, got {type(version).__name__} {version!r}")
    if not 1 <= version <= INTERFACE_VERSION:
        raise ValueError(
            f"interface_version: expected 1 to {INTERFACE_VERSION} (this suite's interface), got {version} "
            "(the adapter was written for a later suite: upgrade lstm-conformance)"
        )
    return version


def declaration_of(adapter: object) -> Declaration:
    """What ``adapter`` declares (see the module docstring); TypeError/ValueError for a
    declaration this suite cannot read."""
    version = interface_version_of(adapter)
    support = getattr(adapter, "supports", None)
    if support is None:
        return Declaration(version, Support.of_interface(version, tuple(getattr(adapter, "dtypes", PLAIN_DTYPES))), listed=False)
    if not isinstance(support, Support):
        raise TypeError(f"supports: expected an adapters.support.Support, got {type(support).__name__}")
    return Declaration(version, support)


def undeclared(name: str, declaration: Declaration, config) -> list[str]:
    """One reason per aspect of ``config`` (an :class:`adapters.base.RunConfig`) outside what
    the adapter ``name`` declared: "NAME has no X"; for an adapter that lists no support,
    when X came after its interface version, that version and X's."""

    def refused(described: str, since: int) -> str:
        if declaration.listed or since <= declaration.interface_version:
            return f"{name} has no {described}"
        return f"{name} has no {described} (its adapter was written against interface {declaration.interface_version}, before interface {since} added it)"

    support = declaration.support
    reasons = [refused(aspect.described, aspect.since) for aspect in ASPECTS if aspect.asked(config) and aspect.name not in support.features]
    direction = config.spec.direction
    if direction not in support.directions:
        reasons.append(refused(f"{direction} direction", DIRECTION_SINCE[direction]))
    for role, classic in zip(ACTIVATION_ROLES, DEFAULT_ACTIVATIONS):
        activation = config.spec.activation(role).name
        if getattr(config.spec, role) != classic and activation not in support.activations:
            reasons.append(refused(f"activation {activation} (as {role})", ACTIVATION_SINCE[activation]))
    shared = [role for role in ACTIVATION_ROLES if role in support.shared_activations]
    if len({getattr(config.spec, role) for role in shared}) > 1:
        reasons.append(f"{name} has one activation for its {' and '.join(shared)}")
    if config.dtype not in support.dtypes:
        reasons.append(refused(f"dtype {config.dtype}", DTYPE_SINCE[config.dtype]))
    if config.device not in support.devices:
        reasons.append(refused(f"device {config.device}", 1))
    return list(dict.fromkeys(reasons))
