"""Layouts declared as data (adapters.layouts): both mapping directions and the parameter
count follow from each built-in declaration, checked against the reference's own count
formulas, hand-written expectations and the adapters' refusals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from adapters import load_adapter
from adapters.base import BaseAdapter, RunConfig
from adapters.flax_lstm import FLAX_LAYOUT, FLAX_PER_GATE_LAYOUT
from adapters.keras_lstm import KERAS_LAYOUT
from adapters.layout_json import read_layout
from adapters.layouts import Layout, Part, Stored, array_names, layout_refusals, single, stored_count, to_backend, to_canonical
from adapters.onnxruntime_lstm import ONNX_LAYOUT
from adapters.openvino_opset import OPENVINO_LAYOUT
from adapters.paddle_legacy import LEGACY_LAYOUT
from adapters.paddle_lstm import PADDLE_LAYOUT
from adapters.shared_layouts import TORCH_LAYOUT
from adapters.tensorflow_block import TF_BLOCK_LAYOUT
from reference import LSTMSpec, init_params, parameter_count

LAYOUTS = (TORCH_LAYOUT, PADDLE_LAYOUT, KERAS_LAYOUT, ONNX_LAYOUT, OPENVINO_LAYOUT, LEGACY_LAYOUT, TF_BLOCK_LAYOUT, FLAX_LAYOUT, FLAX_PER_GATE_LAYOUT)
# The built-in adapters declaring each layout.
ADAPTERS = {
    "torch": ("torch", "torch-onnx", "torch-onnx-torchscript", "mindspore"),
    "paddle": ("paddle", "paddle-onnx"),
    "keras": ("keras-torch", "keras-jax", "keras-tensorflow", "litert", "tf2onnx"),
    "onnx": ("onnxruntime", "openvino", "tract"),
    "openvino": ("openvino-opset",),
    "paddle-legacy": ("paddle-legacy",),
    "tf-block": ("tensorflow-block",),
    "flax": ("flax",),
    "flax-per-gate": ("flax-lstmcell",),
}


def structural_specs() -> list[LSTMSpec]:
    """Every combination of the structural features that change which parameters a cell has."""
    specs = []
    for layers, direction, bias, proj, peepholes in itertools.product((1, 3), ("forward", "bidirectional", "reverse"), (True, False), (0, 2), (False, True)):
        specs.append(LSTMSpec(3, 5, num_layers=layers, bidirectional=direction == "bidirectional", reverse=direction == "reverse", bias=bias, proj_size=proj, peepholes=peepholes))
    return specs


HELD = [
    pytest.param(layout, spec, id=f"{layout.name}-L{spec.num_layers}-{spec.direction}-b{int(spec.bias)}-P{spec.proj_size}-p{int(spec.peepholes)}")
    for layout in LAYOUTS
    for spec in structural_specs()
    if not layout_refusals(layout, spec)
]


def folded(arrays: dict[str, np.ndarray], layout: Layout) -> dict[str, np.ndarray]:
    """A cell's parameters as ``layout`` can keep them: each folded sum in its first name,
    zeros in the others (computed here from the declaration's folds, not by the mapping)."""
    result = dict(arrays)
    for stored in layout.arrays:
        for part in stored.parts:
            if len(part.names) > 1 and all(name in arrays for name in part.names):
                result[part.names[0]] = sum(arrays[name] for name in part.names)
                result.update({name: np.zeros_like(arrays[name]) for name in part.names[1:]})
    return result


def test_every_layout_holds_some_spec_of_each_structure():
    held = {layout.name for layout, _ in (case.values for case in HELD)}
    assert held == {layout.name for layout in LAYOUTS}
    assert len(HELD) > 100


@pytest.mark.parametrize(("layout", "spec"), HELD)
def test_canonical_to_layout_and_back_keeps_every_parameter_the_layout_keeps(layout, spec):
    params = init_params(spec, seed=5)
    back = to_canonical(layout, spec, to_backend(layout, spec, params))
    assert len(back) == len(params)
    for index, (original, returned) in enumerate(zip(params, back)):
        expected = folded(original.arrays(), layout)
        assert returned.arrays().keys() == expected.keys(), index
        for name, array in expected.items():
            np.testing.assert_array_equal(returned.arrays()[name], array, err_msg=f"{layout.name} cell {index} {name}")


@pytest.mark.parametrize(("layout", "spec"), HELD)
def test_layout_to_canonical_and_back_is_the_identity(layout, spec):
    arrays = to_backend(layout, spec, init_params(spec, seed=6))
    again = to_backend(layout, spec, to_canonical(layout, spec, arrays))
    assert list(again) == list(arrays) == array_names(layout, spec)
    for name, array in arrays.items():
        np.testing.assert_array_equal(again[name], array, err_msg=name)


@pytest.mark.parametrize(("layout", "spec"), HELD)
def test_the_count_a_layout_stores_is_the_reference_formula_s(layout, spec):
    arrays = to_backend(layout, spec, init_params(spec, seed=7))
    assert stored_count(layout, spec) == sum(array.size for array in arrays.values()) == parameter_count(spec, layout.counted_as).total


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_an_adapter_refuses_every_spec_its_layout_cannot_hold(layout):
    refused = [spec for spec in structural_specs() if layout_refusals(layout, spec)]
    assert refused, f"{layout.name} holds every structure: the check would be empty"
    for reference in ADAPTERS[layout.name]:
        adapter = load_adapter(reference)
        assert adapter.layout is layout and adapter.parameter_layout == layout.counted_as
        for spec in refused:
            assert adapter.unsupported(RunConfig(spec=spec, dtype="float32")), (reference, spec, layout_refusals(layout, spec))


def test_the_refusals_name_the_feature_and_its_parameters():
    assert layout_refusals(KERAS_LAYOUT, LSTMSpec(3, 5, proj_size=2, peepholes=True)) == (
        "the keras layout has no projection (w_hr)",
        "the keras layout has no peepholes (w_ic, w_fc, w_oc)",
    )
    assert layout_refusals(FLAX_LAYOUT, LSTMSpec(3, 5, bias=False)) == ("the flax layout always has a bias (b_ih, b_hh)",)
    assert layout_refusals(TORCH_LAYOUT, LSTMSpec(3, 5, proj_size=2)) == ()


def test_tf_block_kernel_stacks_the_input_kernel_over_the_recurrent_one():
    spec = LSTMSpec(3, 4, peepholes=True)
    (cell,) = init_params(spec, seed=8)
    arrays = to_backend(TF_BLOCK_LAYOUT, spec, (cell,))
    np.testing.assert_array_equal(arrays["layer0.forward.kernel"], np.concatenate([cell.w_ih.T, cell.w_hh.T]))
    np.testing.assert_array_equal(arrays["layer0.forward.bias"], cell.b_ih + cell.b_hh)
    np.testing.assert_array_equal(arrays["layer0.forward.wcf"], cell.w_fc)


def test_flax_lstmcell_keeps_each_gate_s_rows_apart():
    spec = LSTMSpec(3, 4)
    (cell,) = init_params(spec, seed=9)
    arrays = to_backend(FLAX_PER_GATE_LAYOUT, spec, (cell,))
    forget = slice(4, 8)
    np.testing.assert_array_equal(arrays["layer0.forward.if_.kernel"], cell.w_ih[forget].T)
    np.testing.assert_array_equal(arrays["layer0.forward.hf.kernel"], cell.w_hh[forget].T)
    np.testing.assert_array_equal(arrays["layer0.forward.hf.bias"], (cell.b_ih + cell.b_hh)[forget])
    assert "layer0.forward.if_.bias" not in arrays


def test_a_reverse_only_lstm_s_one_cell_is_named_backward_and_a_torch_cell_is_not_reverse():
    spec = LSTMSpec(3, 4, reverse=True)
    assert array_names(KERAS_LAYOUT, spec) == ["layer0.backward.kernel", "layer0.backward.recurrent_kernel", "layer0.backward.bias"]
    assert array_names(TORCH_LAYOUT, spec) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"gate_order": ("i", "f", "f", "o")}, r"bad: gate_order: expected a permutation of \('i', 'f', 'g', 'o'\), got \('i', 'f', 'f', 'o'\)"),
        ({"cells": "caffe"}, r"bad: cells: expected one of \['layer', 'layer_direction', 'paddle', 'torch'\], got 'caffe'"),
    ],
)
def test_a_malformed_layout_is_refused_when_declared(fields, message):
    with pytest.raises(ValueError, match=message):
        Layout("bad", counted_as="keras", arrays=(single("w", "w_ih"),), **{"cells": "layer", **fields})


def test_an_adapter_without_a_layout_or_a_mapping_says_so():
    class Unmapped(BaseAdapter):
        name = "unmapped"
        parameter_layout = "keras"

        def _import_version(self) -> str:
            return "0"

        def _unsupported(self, config):
            return []

        def parameter_count(self, spec):
            return 0

        def _run(self, request, inputs, params):
            raise AssertionError("not run")

    spec = LSTMSpec(3, 4)
    with pytest.raises(TypeError, match="Unmapped: layout: expected an adapters.layouts.Layout, or canonical_to_backend and backend_to_canonical written out, got neither"):
        Unmapped().canonical_to_backend(spec, init_params(spec, seed=0))


def test_a_declared_layout_gives_the_adapter_its_mapping_and_its_count_formula():
    declared = Layout("two-gates-swapped", counted_as="keras", cells="layer_direction", gate_order=("f", "i", "g", "o"),
                      arrays=(single("{cell}.k", "w_ih"), single("{cell}.r", "w_hh"), Stored("{cell}.b", (Part(("b_hh", "b_ih")),))))

    class Declared(BaseAdapter):
        name = "declared"
        layout = declared

        def _import_version(self) -> str:
            return "0"

        def _unsupported(self, config):
            return []

        def parameter_count(self, spec):
            return stored_count(self.layout, spec)

        def _run(self, request, inputs, params):
            raise AssertionError("not run")

    spec = LSTMSpec(3, 2)
    (cell,) = init_params(spec, seed=1)
    adapter = Declared()
    arrays = adapter.canonical_to_backend(spec, (cell,))
    assert adapter.parameter_layout == "keras"
    np.testing.assert_array_equal(arrays["layer0.forward.k"], np.concatenate([cell.w_ih[2:4], cell.w_ih[0:2], cell.w_ih[4:]]))
    np.testing.assert_array_equal(arrays["layer0.forward.b"][2:4], (cell.b_ih + cell.b_hh)[0:2])
    (back,) = adapter.backend_to_canonical(spec, arrays)
    np.testing.assert_array_equal(back.b_hh, cell.b_ih + cell.b_hh)
    np.testing.assert_array_equal(back.b_ih, np.zeros(8))


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_every_built_in_layout_reads_back_from_its_json_declaration(layout):
    import dataclasses
    import json

    assert read_layout(json.loads(json.dumps(dataclasses.asdict(layout))), "declared") == layout


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"counted_as": "caffe"}, ValueError, "declared: mine: counted_as: expected one of canonical, two_biases, "),
        ({"always": ["bias"]}, ValueError, "declared: mine: always: expected canonical parameter names among w_ih, w_hh, b_ih, b_hh, w_hr, w_ic, w_fc, w_oc, got ['bias']"),
        ({"arrays": []}, ValueError, "declared: mine: arrays: expected at least one stored array, got none"),
        ({"arrays": [{"name": "{cel}.k", "parts": [["w_ih"]]}]}, ValueError, "declared: mine: arrays[0]: name: expected a template with {cell} and {layer} only, got '{cel}.k' (KeyError: 'cel')"),
        ({"arrays": [{"name": "{cell}.k", "parts": [{"names": ["w_ih"], "gate": 4}]}]}, ValueError, "declared: mine: arrays[0]: parts[0]: gate: expected 0 to 3"),
        ({"arrays": [{"name": "{cell}.k", "parts": [["w_ih"]], "axis": 2}]}, ValueError, "declared: mine: arrays[0]: axis: expected 0 or 1, got 2"),
        ({"arrays": [{"name": "{cell}.k", "parts": [["w_ih"]], "transposed": "yes"}]}, TypeError, "declared: arrays[0].transposed: expected true or false, got 'yes'"),
        ({"arrays": [{"name": "{cell}.k", "parts": "w_ih"}]}, TypeError, "declared: arrays[0]: expected an object with a name and a list of parts, got "),
        ({"colour": "blue"}, ValueError, "declared: expected fields among name, counted_as, cells, gate_order, stacks_directions, always, arrays, got 'colour'"),
    ],
)
def test_a_json_declared_layout_the_suite_cannot_read_names_the_field(change, error, message):
    import re

    declared = {"name": "mine", "counted_as": "keras", "cells": "layer_direction", "arrays": [{"name": "{cell}.kernel", "parts": [["w_ih"]]}], **change}
    with pytest.raises(error, match=re.escape(message)):
        read_layout(declared, "declared")
