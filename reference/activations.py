"""The activation functions an LSTM spec may name: one table, float64, in place.

An activation is named in a spec as ``"name"`` or, with parameters,
``"name(alpha=0.1, beta=0.5)"``; parameters not given take the defaults of the framework
that defines the function (:data:`ACTIVATIONS` says which). Each entry has:

- ``apply_(x, out, p)``: writes act(x) into ``out`` (which may be ``x``) so the step loop
  allocates nothing; ``p`` maps parameter names to values;
- ``derivative(x, y, p)``: act'(x) for ``y = act(x)``. Entries with ``needs_input=False``
  read only ``y`` (``x`` may be None): what the forward pass keeps anyway. The others
  need the pre-activation, which the forward pass then keeps too.

Kinks: the derivative at a kink is the one-sided value the frameworks' autodiff uses:
0 for relu and relu6 at 0 (and relu6 at 6), ``alpha`` for leaky_relu at 0, 0 for
thresholded_relu at ``alpha``, the inner slope for the hard sigmoids only strictly inside
(0, 1), 1 for elu and selu's linear side only for x > 0.

Where two frameworks give one name to different functions, both are here under distinct
names: ONNX's ``HardSigmoid`` is ``hard_sigmoid`` (max(0, min(1, alpha*x + beta)), alpha
0.2, beta 0.5), while Keras 3's and JAX's ``hard_sigmoid`` is ``hard_sigmoid_relu6``
(relu6(x + 3) / 6). The same function with different defaults keeps one name and the
adapter passes the parameter: Keras's ``leaky_relu`` slope 0.2 is
``leaky_relu(alpha=0.2)``, and Keras's ``linear`` is ``identity``.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

Params = Mapping[str, float]

# SELU's fixed constants (Klambauer et al. 2017), as Keras 3 and jax.nn.selu define them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
# gelu_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), Keras gelu(approximate=True)
# and jax.nn.gelu(approximate=True).
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715
_erf = np.frompyfunc(math.erf, 1, 1)


def sigmoid_(x: np.ndarray, out: np.ndarray, p: Params | None = None) -> np.ndarray:
    """Write 1 / (1 + exp(-x)) into ``out`` (which may be ``x``) in four passes.

    Below x = -709.78, exp(-x) rounds to +inf and 1 / (1 + inf) = 0, which is sigmoid(x)
    to within 3.3e-308: never inf or NaN, so that overflow of the intermediate is expected
    and not reported.
    """
    with np.errstate(over="ignore"):
        np.negative(x, out=out)
        np.exp(out, out=out)
    out += 1.0
    return np.divide(1.0, out, out=out)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """sigmoid(x) as a new float64 array, computed stably."""
    array = np.array(x, dtype=np.float64)
    return sigmoid_(array, out=array)


def _write(out: np.ndarray, values: np.ndarray) -> np.ndarray:
    np.copyto(out, values)
    return out


def _tanh_(x, out, p):
    return np.tanh(x, out=out)


def _relu_(x, out, p):
    return np.maximum(x, 0.0, out=out)


def _identity_(x, out, p):
    return out if out is x else _write(out, x)


def _erf_of(x: np.ndarray) -> np.ndarray:
    return _erf(x).astype(np.float64)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _erf_of(x / math.sqrt(2.0)))


def _gelu_tanh_inner(x: np.ndarray) -> np.ndarray:
    return np.tanh(_GELU_C * (x + _GELU_K * x**3))


def _gelu_tanh_grad(x: np.ndarray) -> np.ndarray:
    t = _gelu_tanh_inner(x)
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GELU_C * (1.0 + 3.0 * _GELU_K * x * x)


def _hard_sigmoid_relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


@dataclass(frozen=True)
class Activation:
    """One entry of the table (see the module docstring). ``formula`` and ``source`` say
    what it computes and whose definition it is; ``bounded``: its outputs stay in a
    bounded interval whatever the input, so saturating inputs cannot make values grow."""

    name: str
    formula: str
    source: str
    apply_: Callable[[np.ndarray, np.ndarray, Params], np.ndarray]
    derivative: Callable[[np.ndarray | None, np.ndarray, Params], np.ndarray]
    defaults: Mapping[str, float]
    needs_input: bool
    bounded: bool
    kinks: Callable[[Params], tuple[float, ...]]


def _entry(name, formula, source, apply_, derivative, defaults=None, needs_input=True, bounded=False, kinks=()) -> Activation:
    kink_points = kinks if callable(kinks) else (lambda p, points=tuple(kinks): points)
    return Activation(name, formula, source, apply_, derivative, MappingProxyType(dict(defaults or {})), needs_input, bounded, kink_points)


ACTIVATIONS: dict[str, Activation] = {
    entry.name: entry
    for entry in (
        _entry("sigmoid", "1 / (1 + e^-x)", "every framework", sigmoid_, lambda x, y, p: y * (1.0 - y), needs_input=False, bounded=True),
        _entry("tanh", "tanh(x)", "every framework", _tanh_, lambda x, y, p: 1.0 - y * y, needs_input=False, bounded=True),
        _entry("relu", "max(x, 0)", "every framework", _relu_, lambda x, y, p: (y > 0.0).astype(np.float64), needs_input=False, kinks=(0.0,)),
        _entry("identity", "x (Keras: linear)", "every framework", _identity_, lambda x, y, p: np.ones_like(y), needs_input=False),
        _entry(
            "affine", "alpha * x + beta", "ONNX Affine", lambda x, out, p: _write(out, p["alpha"] * x + p["beta"]),
            lambda x, y, p: np.full_like(x, p["alpha"]), {"alpha": 1.0, "beta": 0.0},
        ),
        _entry(
            "leaky_relu", "x if x >= 0 else alpha * x", "ONNX LeakyRelu, jax.nn.leaky_relu (Keras: negative_slope 0.2)",
            lambda x, out, p: _write(out, np.where(x >= 0.0, x, p["alpha"] * x)),
            lambda x, y, p: np.where(x > 0.0, 1.0, p["alpha"]), {"alpha": 0.01}, kinks=(0.0,),
        ),
        _entry(
            "thresholded_relu", "x if x > alpha else 0", "ONNX ThresholdedRelu",
            lambda x, out, p: _write(out, np.where(x > p["alpha"], x, 0.0)),
            lambda x, y, p: (x > p["alpha"]).astype(np.float64), {"alpha": 1.0}, kinks=lambda p: (p["alpha"],),
        ),
        _entry(
            "scaled_tanh", "alpha * tanh(beta * x)", "ONNX ScaledTanh",
            lambda x, out, p: _write(out, p["alpha"] * np.tanh(p["beta"] * x)),
            lambda x, y, p: p["alpha"] * p["beta"] * (1.0 - np.tanh(p["beta"] * x) ** 2), {"alpha": 1.0, "beta": 1.0}, bounded=True,
        ),
        _entry(
            "hard_sigmoid", "max(0, min(1, alpha * x + beta))", "ONNX HardSigmoid",
            lambda x, out, p: _write(out, np.clip(p["alpha"] * x + p["beta"], 0.0, 1.0)),
            lambda x, y, p: np.where((y > 0.0) & (y < 1.0), p["alpha"], 0.0), {"alpha": 0.2, "beta": 0.5}, bounded=True,
            kinks=lambda p: (-p["beta"] / p["alpha"], (1.0 - p["beta"]) / p["alpha"]) if p["alpha"] else (),
        ),
        _entry(
            "elu", "x if x > 0 else alpha * (e^x - 1)", "ONNX Elu, Keras elu",
            lambda x, out, p: _write(out, np.where(x > 0.0, x, p["alpha"] * np.expm1(np.minimum(x, 0.0)))),
            lambda x, y, p: np.where(x > 0.0, 1.0, p["alpha"] * np.exp(np.minimum(x, 0.0))), {"alpha": 1.0}, kinks=(0.0,),
        ),
        _entry(
            "softsign", "x / (1 + |x|)", "ONNX Softsign, Keras softsign",
            lambda x, out, p: _write(out, x / (1.0 + np.abs(x))), lambda x, y, p: 1.0 / (1.0 + np.abs(x)) ** 2, bounded=True,
        ),
        _entry(
            "softplus", "log(1 + e^x)", "ONNX Softplus, Keras softplus",
            lambda x, out, p: np.logaddexp(0.0, x, out=out), lambda x, y, p: sigmoid(x),
        ),
        _entry(
            "hard_sigmoid_relu6", "relu6(x + 3) / 6", "Keras 3 hard_sigmoid, jax.nn.hard_sigmoid",
            lambda x, out, p: _write(out, _hard_sigmoid_relu6(x)),
            lambda x, y, p: np.where((x > -3.0) & (x < 3.0), 1.0 / 6.0, 0.0), bounded=True, kinks=(-3.0, 3.0),
        ),
        _entry(
            "hard_silu", "x * relu6(x + 3) / 6", "Keras 3 hard_silu, jax.nn.hard_silu",
            lambda x, out, p: _write(out, x * _hard_sigmoid_relu6(x)),
            lambda x, y, p: np.where(x >= 3.0, 1.0, np.where(x > -3.0, (2.0 * x + 3.0) / 6.0, 0.0)), kinks=(-3.0, 3.0),
        ),
        _entry(
            "relu6", "min(max(x, 0), 6)", "Keras 3 relu6, jax.nn.relu6",
            lambda x, out, p: np.clip(x, 0.0, 6.0, out=out), lambda x, y, p: ((y > 0.0) & (y < 6.0)).astype(np.float64),
            needs_input=False, bounded=True, kinks=(0.0, 6.0),
        ),
        _entry(
            "silu", "x * sigmoid(x)", "Keras 3 silu, jax.nn.silu",
            lambda x, out, p: _write(out, x * sigmoid(x)), lambda x, y, p: sigmoid(x) * (1.0 + x * (1.0 - sigmoid(x))),
        ),
        _entry(
            "gelu", "x * Phi(x), Phi the standard normal CDF", "Keras 3 gelu (approximate=False), jax.nn.gelu(approximate=False)",
            lambda x, out, p: _write(out, x * _normal_cdf(x)),
            lambda x, y, p: _normal_cdf(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi),
        ),
        _entry(
            "gelu_tanh", "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
            "Keras 3 gelu(approximate=True), jax.nn.gelu (default approximate=True)",
            lambda x, out, p: _write(out, 0.5 * x * (1.0 + _gelu_tanh_inner(x))), lambda x, y, p: _gelu_tanh_grad(x),
        ),
        _entry(
            "selu", "scale * (x if x > 0 else alpha * (e^x - 1)), fixed alpha and scale", "Keras 3 selu, jax.nn.selu",
            lambda x, out, p: _write(out, SELU_SCALE * np.where(x > 0.0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))),
            lambda x, y, p: SELU_SCALE * np.where(x > 0.0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0.0))), kinks=(0.0,),
        ),
        _entry("exponential", "e^x", "Keras 3 exponential", lambda x, out, p: np.exp(x, out=out), lambda x, y, p: y, needs_input=False),
    )
}
ACTIVATION_NAMES: tuple[str, ...] = tuple(ACTIVATIONS)

_CALL = re.compile(r"^\s*([a-z0-9_]+)\s*(?:\((.*)\))?\s*$")


@dataclass(frozen=True)
class BoundActivation:
    """An activation with its parameters fixed: what one role of a spec computes."""

    activation: Activation
    params: Mapping[str, float]

    @property
    def name(self) -> str:
        return self.activation.name

    @property
    def needs_input(self) -> bool:
        return self.activation.needs_input

    def apply_(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write act(x) into ``out`` (which may be ``x``)."""
        return self.activation.apply_(x, out, self.params)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """act(x) as a new float64 array."""
        array = np.array(x, dtype=np.float64)
        return self.apply_(array, array)

    def derivative(self, x: np.ndarray | None, y: np.ndarray) -> np.ndarray:
        """act'(x) for y = act(x) (``x`` may be None when not ``needs_input``)."""
        return self.activation.derivative(x, y, self.params)

    def kinks(self) -> tuple[float, ...]:
        """The inputs where the derivative jumps, for these parameters."""
        return self.activation.kinks(self.params)

    def is_default(self) -> bool:
        """Whether every parameter has the defining framework's default."""
        return all(self.params[key] == value for key, value in self.activation.defaults.items())


def _parse_value(role: str, text: str, key: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{role}: expected a number for parameter {key!r}, got {value.strip()!r} in {text!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{role}: expected a finite number for parameter {key!r}, got {number!r} in {text!r}")
    return number


def bind_activation(text: object, role: str = "activation") -> BoundActivation:
    """The activation a spec names: ``"name"`` or ``"name(key=value, ...)"``.

    Raises TypeError for a non-string, ValueError naming ``role`` for an unknown name, a
    parameter the activation does not take, or a value that is not a finite number.
    """
    if not isinstance(text, str):
        raise TypeError(f"{role}: expected an activation name string, got {type(text).__name__} {text!r}")
    return _bound_activation(text, role)


@functools.lru_cache(maxsize=1024)
def _bound_activation(text: str, role: str) -> BoundActivation:
    """:func:`bind_activation` of a string, parsed once per (text, role): case tables ask
    for the same few hundred thousands of times (a refusal is raised, not remembered)."""
    match = _CALL.match(text)
    if match is None or match.group(1) not in ACTIVATIONS:
        raise ValueError(f"{role}: expected one of {', '.join(ACTIVATION_NAMES)} (optionally with (key=value) parameters), got {text!r}")
    activation = ACTIVATIONS[match.group(1)]
    params = dict(activation.defaults)
    arguments = (match.group(2) or "").strip()
    for argument in filter(None, (part.strip() for part in arguments.split(","))):
        key, equals, value = argument.partition("=")
        key = key.strip()
        if not equals:
            raise ValueError(f"{role}: expected key=value parameters, got {argument!r} in {text!r}")
        if key not in activation.defaults:
            takes = ", ".join(activation.defaults) or "no parameters"
            raise ValueError(f"{role}: {activation.name} takes {takes}, got parameter {key!r} in {text!r}")
        params[key] = _parse_value(role, text, key, value)
    return BoundActivation(activation, MappingProxyType(params))


def activation_text(name: str, **params: float) -> str:
    """The spec string of an activation with these parameters (``repr`` keeps floats exact)."""
    if not params:
        return name
    return f"{name}(" + ", ".join(f"{key}={value!r}" for key, value in params.items()) + ")"
