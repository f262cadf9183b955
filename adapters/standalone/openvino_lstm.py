"""The ONNX LSTM operator run by OpenVINO's CPU plugin: the model (one LSTM node per layer,
weights as initializers; the onnxruntime backend's) is stored in the data as
``weights.model``, read by OpenVINO's ONNX frontend and compiled for the CPU at the
inference precision the case's dtype names (float32: f32, bfloat16: bf16, float16: f16; a
float64 model: f32), or at the plugin's own default where the case says ``backend_defaults``. ``open("lstm.onnx", "wb").write(weights["model"].tobytes())``
saves it for Netron or onnx.checker."""

import os

import numpy as np
import openvino

# The CPU plugin's INFERENCE_PRECISION_HINT for each dtype. A float64 model gets f32, the most
# the plugin computes in: without a hint, a CPU with bfloat16 instructions computes in bf16.
PRECISION_HINTS = {"float64": "f32", "float32": "f32", "bfloat16": "bf16", "float16": "f16"}


def compiled(model: bytes, dtype: str, at_defaults: bool = False):
    """The model compiled for the CPU at ``dtype``'s precision hint (``at_defaults``: at the
    plugin's own default precision, as a model deployed without settings is), with as many
    threads as OMP_NUM_THREADS says, passed as the plugin's INFERENCE_NUM_THREADS (0, unset: its default)."""
    core = openvino.Core()
    properties = {"INFERENCE_NUM_THREADS": int(os.environ.get("OMP_NUM_THREADS", "0") or "0")}
    if not at_defaults:
        properties["INFERENCE_PRECISION_HINT"] = PRECISION_HINTS[dtype]
    return core.compile_model(core.read_model(model), "CPU", properties)


def element_type(dtype: str) -> str:
    """The dtype of the model's inputs: float64 for a float64 model, else float32."""
    return "float64" if dtype == "float64" else "float32"


def forward(case, weights, inputs):
    dtype = case["dtype"]
    model = compiled(weights["model"].tobytes(), dtype, case.get("backend_defaults", False))
    element = element_type(dtype)
    feeds = {"X": np.ascontiguousarray(inputs["x"], dtype=element)}
    if "lengths" in inputs:
        feeds["sequence_lens"] = inputs["lengths"].astype(np.int32)
    if "h0" in inputs:
        feeds["initial_h"], feeds["initial_c"] = inputs["h0"].astype(element), inputs["c0"].astype(element)
    results = model(feeds)
    outputs, h_n, c_n = (results[output] for output in model.outputs)
    return {"outputs": outputs, "h_n": h_n, "c_n": c_n}
