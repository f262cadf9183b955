"""The registry finds adapters by built-in name, by installed entry point and by module:attribute."""

from __future__ import annotations

import re
import textwrap

import pytest

from adapters import ENTRY_POINT_GROUP, Adapter, known_adapters, load_adapter
from adapters.example import ExampleAdapter
from conformance.run.isolation import IsolatedAdapter


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A distribution on sys.path declaring the example adapter in the entry-point group."""
    info = tmp_path / "lstm_example_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lstm-example-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            f"""
            [{ENTRY_POINT_GROUP}]
            example-plugin = adapters.example:ExampleAdapter
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "example-plugin"


@pytest.mark.parametrize("name", ["torch", "paddle", "paddle-legacy"])
def test_builtin_names(name):
    adapter = load_adapter(name)
    assert isinstance(adapter, Adapter)
    assert adapter.name == name


def test_entry_point(installed_plugin):
    assert known_adapters()[installed_plugin] == "adapters.example:ExampleAdapter"
    assert isinstance(load_adapter(installed_plugin), ExampleAdapter)


def test_entry_point_in_an_isolated_process(installed_plugin):
    adapter = IsolatedAdapter(installed_plugin)
    try:
        assert adapter.name == "example-keras-style"
        assert adapter.availability().available
    finally:
        adapter.close()


@pytest.mark.parametrize(
    "reference",
    ["adapters.example:ExampleAdapter", "tests.support.adapters:example_instance", "tests.support.adapters:make_example"],
    ids=["class", "instance", "factory"],
)
def test_module_attribute(reference):
    assert isinstance(load_adapter(reference), ExampleAdapter)


@pytest.mark.parametrize(
    ("reference", "error", "message"),
    [
        ("tensorflow", ValueError, "adapter: expected one of flax, flax-lstmcell, keras-jax, keras-tensorflow, keras-torch, litert, mindspore, onnx2tf, onnxruntime, openvino, openvino-opset, paddle, paddle-legacy, paddle-onnx, tensorflow-block, tf2onnx, tfjs, tfjs-basic-cell, tfjs-webgl, torch, torch-onnx, torch-onnx-torchscript, tract, a 'module:attribute' reference or exec:COMMAND, got 'tensorflow'"),
        ("no_such_module:Adapter", ValueError, "adapter: cannot load 'no_such_module:Adapter' (No module named 'no_such_module')"),
        ("adapters.example:Missing", ValueError, "adapter: cannot load 'adapters.example:Missing'"),
        (
            "tests.support.adapters:not_an_adapter",
            TypeError,
            "adapter: 'tests.support.adapters:not_an_adapter' is not an adapter: it lacks name, parameter_layout, availability, "
            "unsupported, parameter_count, canonical_to_backend, backend_to_canonical, run (see adapters.base.Adapter)",
        ),
        (42, TypeError, "adapter: expected a name or 'module:attribute' string, got int"),
    ],
    ids=["unknown-name", "missing-module", "missing-attribute", "not-an-adapter", "not-a-string"],
)
def test_bad_references(reference, error, message):
    with pytest.raises(error, match=re.escape(message)):
        load_adapter(reference)
