"""The ONNX LSTM operator converted by onnx2tf into a float32 TFLite model, run by LiteRT's
interpreter (``ai_edge_litert``): the path an ONNX model takes to a phone without its source
framework. The model (one LSTM node per layer, weights as initializers; the onnxruntime
backend's) is stored in the data as ``weights.model``; its inputs get the feeds' static
shapes, and onnx2tf converts it keeping every input's shape as it is (without
``keep_shape_absolutely_input_names`` it takes X [T, B, I] for an image and transposes it).
``open("lstm.onnx", "wb").write(weights["model"].tobytes())`` saves the ONNX model;
``open("lstm.tflite", "wb").write(convert(model, feeds))`` the converted one.
"""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import onnx


def static_model(model: bytes, feeds: dict) -> bytes:
    """``model`` with each graph input's dimensions those of its feed in ``feeds`` (onnx2tf
    converts static shapes only)."""
    proto = onnx.load_from_string(model)
    for graph_input in proto.graph.input:
        dimensions = graph_input.type.tensor_type.shape.dim
        for dimension, size in zip(dimensions, feeds[graph_input.name].shape):
            dimension.Clear()
            dimension.dim_value = int(size)
    return proto.SerializeToString()


def convert(model: bytes, feeds: dict) -> bytes:
    """The float32 TFLite model onnx2tf makes of ``model`` at the shapes of ``feeds``: its Keras
    model (``disable_model_save``), converted as its own float32 step converts it
    (``onnx2tf.py``: ``TFLiteConverter.from_keras_model`` with TFLite's builtin ops and
    TensorFlow's select ops), without the float16 conversion it runs after that one."""
    import onnx2tf
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "lstm.onnx")
        with open(path, "wb") as file:
            file.write(static_model(model, feeds))
        keras_model = onnx2tf.convert(
            input_onnx_file_path=path,
            output_folder_path=folder,
            non_verbose=True,
            not_use_onnxsim=True,
            output_signaturedefs=True,
            keep_shape_absolutely_input_names=list(feeds),
            disable_model_save=True,
        )
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    return converter.convert()


def run(converted: bytes, feeds: dict, threads=None) -> dict:
    """The converted model's outputs for ``feeds`` by name (its signature's), on ``threads``
    interpreter threads (None: LiteRT's default). Each feed is given in the dtype the model
    takes: onnx2tf makes a float32 model of a float16 one."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=converted, num_threads=threads).get_signature_runner()
    expected = runner.get_input_details()
    results = runner(**{name: feed.astype(expected[name]["dtype"]) for name, feed in feeds.items()})
    return {name: np.asarray(value) for name, value in results.items()}


def model_feeds(case, inputs) -> dict:
    """The ONNX model's inputs: X [T, B, I] in the case's dtype, ``sequence_lens`` [B] int32
    and ``initial_h``/``initial_c`` where the case has them."""
    dtype = case["dtype"]
    feeds = {"X": np.ascontiguousarray(inputs["x"], dtype=dtype)}
    if "lengths" in inputs:
        feeds["sequence_lens"] = inputs["lengths"].astype(np.int32)
    if "h0" in inputs:
        feeds["initial_h"], feeds["initial_c"] = inputs["h0"].astype(dtype), inputs["c0"].astype(dtype)
    return feeds


def forward(case, weights, inputs):
    feeds = model_feeds(case, inputs)
    values = run(convert(weights["model"].tobytes(), feeds), feeds)
    return {"outputs": values["Y"], "h_n": values["Y_h"], "c_n": values["Y_c"]}
