"""The ONNX LSTM operator, run by ONNX Runtime's CPU execution provider: the model (one LSTM
node per layer, weights as initializers) is stored in the data as ``weights.model``;
``open("lstm.onnx", "wb").write(weights["model"].tobytes())`` saves it for Netron or onnx.checker."""

import numpy as np
import onnxruntime


def forward(case, weights, inputs):
    dtype = case["dtype"]
    session = onnxruntime.InferenceSession(weights["model"].tobytes(), providers=["CPUExecutionProvider"])
    feeds = {"X": np.ascontiguousarray(inputs["x"], dtype=dtype)}
    if "lengths" in inputs:
        feeds["sequence_lens"] = inputs["lengths"].astype(np.int32)
    if "h0" in inputs:
        feeds["initial_h"], feeds["initial_c"] = inputs["h0"].astype(dtype), inputs["c0"].astype(dtype)
    outputs, h_n, c_n = session.run(None, feeds)
    return {"outputs": outputs, "h_n": h_n, "c_n": c_n}
