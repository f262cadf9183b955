"""Every activation of the table against closed forms computed by hand, its derivative
against central differences, and the stated derivative at each kink.

Framework-free: expected values come from the standard library's ``math`` or are exact
by construction (chosen points where the function is a rational number).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from reference.activations import ACTIVATIONS, SELU_ALPHA, SELU_SCALE, activation_text, bind_activation

# float64 closed forms against the vectorised table: a few units in the last place.
CLOSE = dict(rtol=1e-14, atol=1e-15)
# Central differences with step 1e-6 on functions with |f'''| <~ 10: truncation ~1e-12,
# rounding ~1e-10; 1e-8 leaves a margin and still catches a wrong derivative (off by O(0.1)).
STEP = 1e-6
DERIVATIVE_TOLERANCE = 1e-8


def gelu_tanh(x: float) -> float:
    return 0.5 * x * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


# (spec string, input, expected output): points chosen away from defaults where a function has parameters.
CLOSED_FORMS = [
    ("sigmoid", math.log(3.0), 0.75),
    ("tanh", math.atanh(0.25), 0.25),
    ("relu", -2.0, 0.0),
    ("identity", -1.5, -1.5),
    ("affine(alpha=2.0, beta=1.0)", 0.5, 2.0),
    ("affine", 0.5, 0.5),  # ONNX's defaults: alpha 1, beta 0
    ("leaky_relu(alpha=0.1)", -2.0, -0.2),
    ("leaky_relu", -2.0, -0.02),  # ONNX's and jax's default slope 0.01
    ("thresholded_relu(alpha=0.5)", 0.75, 0.75),
    ("thresholded_relu", 0.75, 0.0),  # ONNX's default threshold 1
    ("scaled_tanh(alpha=2.0, beta=0.5)", math.log(3.0), 1.0),  # tanh(ln(3) / 2) = 1/2
    ("hard_sigmoid", 1.0, 0.7),  # ONNX: 0.2 x + 0.5
    ("hard_sigmoid(alpha=0.25, beta=0.25)", 5.0, 1.0),
    ("hard_sigmoid_relu6", 1.5, 0.75),  # Keras 3 / jax: relu6(x + 3) / 6
    ("hard_sigmoid_relu6", -4.0, 0.0),
    ("elu(alpha=0.5)", -math.log(2.0), -0.25),
    ("elu", 2.0, 2.0),
    ("softsign", 3.0, 0.75),
    ("softplus", 0.0, math.log(2.0)),
    ("softplus", 800.0, 800.0),  # no overflow
    ("hard_silu", 1.5, 1.125),
    ("hard_silu", 4.0, 4.0),
    ("relu6", 7.0, 6.0),
    ("relu6", 2.5, 2.5),
    ("silu", math.log(3.0), 0.75 * math.log(3.0)),
    ("gelu", 1.0, 0.5 * (1.0 + math.erf(1.0 / math.sqrt(2.0)))),
    ("gelu", -2.0, -2.0 * 0.5 * (1.0 + math.erf(-2.0 / math.sqrt(2.0)))),
    ("gelu_tanh", 1.0, gelu_tanh(1.0)),
    ("selu", -1.0, SELU_SCALE * SELU_ALPHA * (math.exp(-1.0) - 1.0)),
    ("selu", 2.0, SELU_SCALE * 2.0),
    ("exponential", math.log(2.0), 2.0),
]


@pytest.mark.parametrize(("text", "x", "expected"), CLOSED_FORMS, ids=[f"{t}@{x:g}" for t, x, _ in CLOSED_FORMS])
def test_closed_forms(text: str, x: float, expected: float) -> None:
    np.testing.assert_allclose(bind_activation(text)(np.array([x])), [expected], **CLOSE)


def test_every_activation_has_a_closed_form_check() -> None:
    checked = {bind_activation(text).name for text, _, _ in CLOSED_FORMS}
    assert checked == set(ACTIVATIONS)


def test_selu_constants_are_keras_and_jax_values() -> None:
    assert (SELU_ALPHA, SELU_SCALE) == (1.6732632423543772, 1.0507009873554805)


def nondefault(name: str) -> str:
    """The activation with every parameter moved off its default, so a derivative that ignores one fails."""
    params = {key: value * 0.7 + 0.1 for key, value in ACTIVATIONS[name].defaults.items()}
    return activation_text(name, **params)


@pytest.mark.parametrize("text", [nondefault(name) for name in ACTIVATIONS])
def test_derivative_matches_central_differences_away_from_kinks(text: str) -> None:
    activation = bind_activation(text)
    x = np.linspace(-4.0, 4.0, 161) + 0.0123
    x = x[np.all([np.abs(x - kink) > 1e-3 for kink in activation.kinks()] or [True], axis=0)]
    numerical = (activation(x + STEP) - activation(x - STEP)) / (2 * STEP)
    y = activation(x)
    analytic = activation.derivative(x if activation.needs_input else None, y)
    np.testing.assert_allclose(analytic, numerical, rtol=0, atol=DERIVATIVE_TOLERANCE * max(1.0, np.abs(numerical).max()))


# The derivative at each kink: the one-sided value the frameworks' autodiff returns.
KINK_DERIVATIVES = [
    ("relu", 0.0, 0.0),
    ("leaky_relu(alpha=0.1)", 0.0, 0.1),
    ("thresholded_relu(alpha=0.5)", 0.5, 0.0),
    ("hard_sigmoid", -2.5, 0.0),
    ("hard_sigmoid", 2.5, 0.0),
    ("hard_sigmoid_relu6", -3.0, 0.0),
    ("hard_sigmoid_relu6", 3.0, 0.0),
    ("hard_silu", -3.0, 0.0),
    ("hard_silu", 3.0, 1.0),
    ("relu6", 0.0, 0.0),
    ("relu6", 6.0, 0.0),
    ("elu(alpha=0.5)", 0.0, 0.5),
    ("selu", 0.0, SELU_SCALE * SELU_ALPHA),
]


@pytest.mark.parametrize(("text", "x", "expected"), KINK_DERIVATIVES, ids=[f"{t}@{x:g}" for t, x, _ in KINK_DERIVATIVES])
def test_derivative_at_kinks(text: str, x: float, expected: float) -> None:
    activation = bind_activation(text)
    assert x in activation.kinks()
    point = np.array([x])
    assert activation.derivative(point, activation(point))[0] == pytest.approx(expected, rel=1e-15)


def test_activations_write_in_place_without_reading_what_they_wrote() -> None:
    x = np.linspace(-3.0, 3.0, 13)
    for name in ACTIVATIONS:
        activation = bind_activation(nondefault(name))
        expected = activation(x)
        inplace = x.copy()
        activation.apply_(inplace, inplace)
        np.testing.assert_array_equal(inplace, expected, err_msg=name)


def test_parameters_parse_back_exactly() -> None:
    text = activation_text("hard_sigmoid", alpha=0.1 + 0.2, beta=1 / 3)
    assert dict(bind_activation(text).params) == {"alpha": 0.1 + 0.2, "beta": 1 / 3}
    assert bind_activation("hard_sigmoid").is_default() and not bind_activation(text).is_default()
