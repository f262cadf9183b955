"""Trainable parameter counts per framework layout."""

from __future__ import annotations

import re

import pytest

from reference import LSTMSpec, parameter_count


def test_seed_000_configuration_has_1088_parameters_and_the_right_breakdown():
    """paddle.nn.LSTM(6, 8, 2): per layer 4H x I_k + 4H x H + 2 x 4H. The seed notebook's
    '2*4*(14*8+3*8)' lands on 1088 by accident: there is no batch or sequence term."""
    count = parameter_count(LSTMSpec(input_size=6, hidden_size=8, num_layers=2), "two_biases")
    assert count.total == 1088
    terms = {(term.layer, term.name): (term.shape, term.count) for term in count.terms}
    assert terms == {
        (0, "w_ih"): ((32, 6), 192),
        (0, "w_hh"): ((32, 8), 256),
        (0, "b_ih"): ((32,), 32),
        (0, "b_hh"): ((32,), 32),
        (1, "w_ih"): ((32, 8), 256),
        (1, "w_hh"): ((32, 8), 256),
        (1, "b_ih"): ((32,), 32),
        (1, "b_hh"): ((32,), 32),
    }
    assert "total = 1088" in count.describe()


def test_projection_and_direction_terms():
    spec = LSTMSpec(input_size=5, hidden_size=7, num_layers=2, bidirectional=True, proj_size=3)
    layer_0 = 28 * 5 + 28 * 3 + 2 * 28 + 3 * 7
    layer_1 = 28 * 6 + 28 * 3 + 2 * 28 + 3 * 7
    assert parameter_count(spec, "two_biases").total == 2 * (layer_0 + layer_1)


def test_without_bias():
    assert parameter_count(LSTMSpec(input_size=5, hidden_size=7, bias=False), "two_biases").total == 28 * 5 + 28 * 7


@pytest.mark.parametrize(("peepholes", "bias_row"), [(False, 4 * 7), (True, 7 * 7)], ids=["4H", "7H"])
def test_single_bias_layout_of_the_legacy_op(peepholes, bias_row):
    spec = LSTMSpec(input_size=5, hidden_size=7, num_layers=2, bidirectional=True, peepholes=peepholes)
    count = parameter_count(spec, "single_bias")
    per_direction = [5 * 28 + 7 * 28 + bias_row, 14 * 28 + 7 * 28 + bias_row]
    assert count.total == 2 * sum(per_direction)
    assert {term.shape for term in count.terms if term.name == "bias"} == {(1, bias_row)}


@pytest.mark.parametrize(("bias", "peepholes"), [(True, False), (False, True)], ids=["bias", "peepholes-no-bias"])
def test_onnx_layout_of_the_lstm_operator(bias, peepholes):
    spec = LSTMSpec(input_size=5, hidden_size=7, num_layers=2, reverse=True, bias=bias, peepholes=peepholes, input_forget=True)
    count = parameter_count(spec, "onnx")
    per_layer = [28 * 5 + 28 * 7, 28 * 7 + 28 * 7]
    assert count.total == sum(per_layer) + 2 * (56 * bias + 21 * peepholes)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_keras_layout_has_one_optional_bias(bias):
    spec = LSTMSpec(input_size=5, hidden_size=7, num_layers=2, bidirectional=True, bias=bias)
    per_direction = [5 * 28 + 7 * 28 + 28 * bias, 14 * 28 + 7 * 28 + 28 * bias]
    assert parameter_count(spec, "keras").total == 2 * sum(per_direction)


@pytest.mark.parametrize(("bias", "peepholes"), [(True, False), (False, True)], ids=["bias", "peepholes-no-bias"])
def test_tf_block_layout_stacks_input_and_recurrent_weights(bias, peepholes):
    spec = LSTMSpec(input_size=5, hidden_size=7, num_layers=2, reverse=True, bias=bias, peepholes=peepholes)
    count = parameter_count(spec, "tf_block")
    assert {term.shape for term in count.terms if term.name == "kernel"} == {(12, 28), (14, 28)}
    assert count.total == (12 + 14) * 28 + 2 * (28 * bias + 21 * peepholes)


def test_flax_layouts_split_the_same_parameters_two_ways():
    """OptimizedLSTMCell's fused kernels and LSTMCell's per-gate ones hold the same numbers."""
    spec = LSTMSpec(input_size=5, hidden_size=7, num_layers=2, bidirectional=True)
    fused, per_gate = parameter_count(spec, "flax"), parameter_count(spec, "flax_per_gate")
    assert fused.total == per_gate.total == 2 * ((5 * 28 + 7 * 28 + 28) + (14 * 28 + 7 * 28 + 28))
    assert {term.name for term in per_gate.terms if term.layer == 0 and term.direction == 0} == {
        f"{module}.kernel" for module in ("ii", "if_", "ig", "io", "hi", "hf", "hg", "ho")
    } | {f"{module}.bias" for module in ("hi", "hf", "hg", "ho")}


def test_canonical_layout_counts_peepholes():
    spec = LSTMSpec(input_size=5, hidden_size=7, peepholes=True)
    assert parameter_count(spec, "canonical").total == 28 * 5 + 28 * 7 + 2 * 28 + 3 * 7


@pytest.mark.parametrize(
    ("spec", "layout", "message"),
    [
        (LSTMSpec(5, 7, peepholes=True), "two_biases", "spec.peepholes: the two_biases layout (torch/paddle nn.LSTM) has no peephole weights"),
        (LSTMSpec(5, 7, proj_size=3), "single_bias", "spec.proj_size: the single_bias layout (legacy lstm op) has no projection, got 3"),
        (LSTMSpec(5, 7, bias=False), "single_bias", "spec.bias: the single_bias layout (legacy lstm op) always has a bias row, got False"),
        (LSTMSpec(5, 7, proj_size=3), "onnx", "spec.proj_size: the onnx layout (ONNX LSTM operator) has no projection, got 3"),
        (LSTMSpec(5, 7, peepholes=True), "keras", "spec.peepholes: the keras layout (keras.layers.LSTM) has neither projection nor peepholes, got True"),
        (LSTMSpec(5, 7, proj_size=3), "tf_block", "spec.proj_size: the tf_block layout (BlockLSTMV2) has no projection, got 3"),
        (LSTMSpec(5, 7, bias=False), "flax", "spec.bias: the flax layouts (nnx LSTM cells) have no projection, no peepholes and always a bias, got False"),
        (LSTMSpec(5, 7), "mxnet", "layout: expected one of canonical, two_biases, single_bias, keras, tf_block, flax, flax_per_gate, onnx, got 'mxnet'"),
    ],
    ids=["peepholes-two-biases", "projection-single-bias", "no-bias-single-bias", "projection-onnx", "peepholes-keras", "projection-tf-block", "no-bias-flax", "unknown-layout"],
)
def test_layouts_reject_what_they_cannot_express(spec, layout, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parameter_count(spec, layout)


def test_describe_names_a_reverse_only_cell_backward():
    text = parameter_count(LSTMSpec(2, 3, reverse=True), "two_biases").describe()
    assert "layer 0 backward w_ih" in text and "forward" not in text
