"""The activation functions an LSTM spec may name, in float64, in place.

Each activation writes into a given array (``apply_(x, out)``, in place when ``out``
is ``x``) so the step loop allocates nothing, and each has its derivative expressed
through the activation's *output* ``y``, which is what the forward pass retains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# exp(-x) overflows float64 for x < -709.78. Clamping the argument at -708 keeps exp
# finite and changes sigmoid(x) only where it is below sigmoid(-708) ~ 3.3e-308.
_SIGMOID_CLAMP = -708.0


def sigmoid_(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Write 1 / (1 + exp(-x)) into ``out`` (which may be ``x``); no overflow for any x."""
    np.maximum(x, _SIGMOID_CLAMP, out=out)
    np.negative(out, out=out)
    np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def tanh_(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Write tanh(x) into ``out``."""
    return np.tanh(x, out=out)


def relu_(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Write max(x, 0) into ``out``."""
    return np.maximum(x, 0.0, out=out)


def identity_(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Write x into ``out``."""
    if out is not x:
        np.copyto(out, x)
    return out


def _sigmoid_grad(y: np.ndarray) -> np.ndarray:
    return y * (1.0 - y)


def _tanh_grad(y: np.ndarray) -> np.ndarray:
    return 1.0 - y * y


def _relu_grad(y: np.ndarray) -> np.ndarray:
    return (y > 0.0).astype(np.float64)


def _identity_grad(y: np.ndarray) -> np.ndarray:
    return np.ones_like(y)


@dataclass(frozen=True)
class Activation:
    """An activation: ``apply_(x, out)`` writes act(x) to out; ``grad_from_output(y)`` is act'(x) for y = act(x)."""

    name: str
    apply_: Callable[[np.ndarray, np.ndarray], np.ndarray]
    grad_from_output: Callable[[np.ndarray], np.ndarray]


ACTIVATIONS: dict[str, Activation] = {
    activation.name: activation
    for activation in (
        Activation("sigmoid", sigmoid_, _sigmoid_grad),
        Activation("tanh", tanh_, _tanh_grad),
        Activation("relu", relu_, _relu_grad),
        Activation("identity", identity_, _identity_grad),
    )
}
ACTIVATION_NAMES: tuple[str, ...] = tuple(ACTIVATIONS)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """sigmoid(x) as a new float64 array, computed stably."""
    array = np.array(x, dtype=np.float64)
    return sigmoid_(array, out=array)
