"""What the litert adapter says of TensorFlow's TFLite converter is what the converter does:
each refusal names a Keras LSTM the converter does not fuse into UNIDIRECTIONAL_SEQUENCE_LSTM
(it makes a WHILE loop of it) or does not convert at all, the models the adapter builds are
fused, one op per layer and direction, with the cell clip of the registered deviation
``litert-converter-clips-cell-state-at-10``, converting them as the adapter does gives
what ``from_keras_model`` gives, the final states it reads are the fused ops', and its
float16 models hold their weights in float16. The conversions run in a process of their own (:mod:`tests.support.litert_conversions`)
and take about a minute: full depth only. Skipped where LiteRT, TensorFlow or tf_keras is not
installed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import adapters.litert_lstm as litert
from conformance.deviations.models import LITERT_CELL_CLIP
from tests.support.litert_conversions import STRUCTURES

pytestmark = [
    pytest.mark.full_depth,
    pytest.mark.skipif(
        not all(importlib.util.find_spec(name) for name in ("ai_edge_litert", "tensorflow", "tf_keras")),
        reason="LiteRT (ai-edge-litert), TensorFlow or tf_keras is not installed",
    ),
]
ROOT = Path(__file__).resolve().parents[2]
FUSED = "UNIDIRECTIONAL_SEQUENCE_LSTM"


@pytest.fixture(scope="module")
def measured() -> dict:
    finished = subprocess.run(
        [sys.executable, "-m", "tests.support.litert_conversions"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "model, refusal",
    [
        ("no-bias", litert.NOT_FUSED_WITHOUT_BIAS),
        ("mask", litert.NOT_FUSED_WITH_MASK),
        ("relu-candidate", litert.NOT_FUSED_ACTIVATIONS),
        ("hard-sigmoid-gates", litert.NOT_FUSED_ACTIVATIONS),
    ],
)
def test_what_the_adapter_refuses_the_converter_does_not_fuse(measured, model, refusal):
    assert "WHILE loop" in refusal
    ops = measured["ops"][model]
    assert FUSED not in ops and "WHILE" in ops, ops


@pytest.mark.parametrize("model", ["return-state", "keras-3"])
def test_keras_3_and_returned_states_are_not_fused_either(measured, model):
    """Why the adapter builds tf_keras layers without return_state (the module docstring)."""
    ops = measured["ops"][model]
    assert FUSED not in ops and "WHILE" in ops, ops


def test_the_plain_layer_is_fused(measured):
    """The counterpart of the refusals: the same layer with bias, no mask and sigmoid/tanh."""
    assert FUSED in measured["ops"]["plain"]


def test_float64_is_refused_because_the_converter_rejects_it(measured):
    assert litert.CONVERTER_REJECTS_FLOAT64.startswith("the TFLite converter rejects a float64")
    error = measured["ops"]["float64"]
    assert isinstance(error, str) and "doesn't match function result type" in error and "standard_lstm" in error, error


@pytest.mark.parametrize("structure", sorted(STRUCTURES))
def test_the_adapter_s_models_are_fused_with_a_cell_clip_of_10(measured, structure):
    """One fused op per layer and direction, each with cell_clip 10.0 in its options (the
    Keras layer has no clip) and no projection clip."""
    cells = STRUCTURES[structure].get("num_layers", 1) * (2 if STRUCTURES[structure].get("bidirectional") else 1)
    assert measured["fused_options"][structure] == [[LITERT_CELL_CLIP, 0.0]] * cells


@pytest.mark.parametrize("structure", sorted(STRUCTURES))
def test_the_adapter_s_conversion_is_from_keras_model_s(measured, structure):
    """The adapter converts the model's inference function (ten times faster); a user calls
    TFLiteConverter.from_keras_model: the same ops and options, bit for bit the same values."""
    assert measured["routes"][structure] == {"same_ops": True, "same_options": True, "same_results": True}


def test_the_final_states_are_the_fused_ops_state_tensors(measured):
    """A forward layer's h_n is its output at the last step, and each layer has its own."""
    assert measured["final_states"] == {"top_h_n_is_last_output": True, "layers_differ": True}


def test_float16_models_store_their_weights_in_float16_and_compute_in_float32(measured):
    """The converter's float16 weights: the fused ops read weights dequantized from float16
    (which the float32 model's do not), and the model computes what the float32 model of
    the weights rounded to float16 computes, bit for bit, not what the unrounded weights give."""
    assert measured["float16_weights"] == {
        "float16_model_reads_float16": True,
        "float32_model_reads_float16": False,
        "same_as_rounded_weights": True,
        "differs_from_given_weights": True,
    }
