"""The ONNX LSTM operator run by tract, the Rust inference engine (its ``tract`` Python binding):
the model (one LSTM node per layer, weights as initializers; the onnxruntime backend's) is
stored in the data as ``weights.model``, written to a file, read by tract's ONNX frontend with
every input's shape and type set from the feeds, then typed, optimized and run.
``open("lstm.onnx", "wb").write(weights["model"].tobytes())`` saves it for Netron or
onnx.checker.

The shapes are set because tract panics and aborts the process on the model's dynamic T and B
("Undetermined symbol in expression: B", onnx/src/ops/rec/common.rs). The binding's entry
points changed in 0.23: ``onnx().load`` and ``into_model`` (typed, optimized by
``into_runnable``) where 0.21 and 0.22 have ``onnx().model_for_path`` and ``into_optimized``.
"""

import os
import tempfile

import numpy as np
import tract

# tract's datum type names for the feeds' dtypes.
DATUM_TYPES = {"float32": "f32", "float16": "f16", "float64": "f64", "int32": "i32"}


def runnable(model: bytes, feeds: list):
    """The model read by tract with each input's shape and type those of ``feeds`` (in the
    model's input order), optimized and ready to run."""
    onnx = tract.onnx()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "lstm.onnx")
        with open(path, "wb") as file:
            file.write(model)
        inference = onnx.load(path) if hasattr(onnx, "load") else onnx.model_for_path(path)
    for index, feed in enumerate(feeds):
        inference.set_input_fact(index, ",".join([*map(str, feed.shape), DATUM_TYPES[feed.dtype.name]]))
    typed = inference.into_model() if hasattr(inference, "into_model") else inference.into_optimized()
    return typed.into_runnable()


def run(model: bytes, feeds: list) -> list:
    """The model's outputs for ``feeds``, as NumPy arrays."""
    return [np.asarray(value.to_numpy()) for value in runnable(model, feeds).run(feeds)]


def forward(case, weights, inputs):
    dtype = case["dtype"]
    feeds = [np.ascontiguousarray(inputs["x"], dtype=dtype)]
    if "lengths" in inputs:
        feeds.append(inputs["lengths"].astype(np.int32))
    if "h0" in inputs:
        feeds += [inputs["h0"].astype(dtype), inputs["c0"].astype(dtype)]
    outputs, h_n, c_n = run(weights["model"].tobytes(), feeds)
    return {"outputs": outputs, "h_n": h_n, "c_n": c_n}
