"""A Keras 2 (``tf_keras``) LSTM stack converted to ONNX by tf2onnx and run by ONNX Runtime
(its CPU provider): the path a Keras LSTM takes to an ONNX deployment.

The model is built as Keras users build it: one ``LSTM`` per layer (``return_sequences`` and
``return_state``), wrapped in ``Bidirectional`` for two directions and ``go_backwards=True``
for the reverse one (whose outputs Keras returns in reversed time order; ``tf.reverse``
puts them back in time order before the next layer), with a fixed batch and length. Its
inputs: ``x`` [B, T, I]; ``mask`` [B, T] (True at valid steps) where the case has lengths;
``h0_k`` and ``c0_k`` [B, H] per cell where it gives initial states. Its outputs: the
top layer's [B, T, D*H], then each cell's final h and c, in canonical cell order.
``tf2onnx.convert.from_keras`` converts the model's inference function at opset
:data:`OPSET`; ``open("lstm.onnx", "wb").write(convert(case, weights, steps))`` saves it.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

OPSET = 17
# The suite's activation names tf_keras knows by another name.
KERAS_NAMES = {"identity": "linear", "silu": "swish"}


def cell_names(spec):
    """Each cell's weight prefix in canonical order (layer by layer, forward first)."""
    directions = ("forward", "backward") if spec["bidirectional"] else ("backward",) if spec["reverse"] else ("forward",)
    return [f"layer{layer}.{direction}" for layer in range(spec["num_layers"]) for direction in directions]


def keras_model(case, weights, steps):
    """The tf_keras model for ``steps`` time steps with ``weights`` assigned (None: as built;
    see the module docstring)."""
    import tensorflow as tf
    import tf_keras

    spec = case["spec"]
    batch, hidden, cells = case["h0_shape"][1], spec["hidden_size"], cell_names(spec)
    x = tf_keras.Input((steps, spec["input_size"]), batch_size=batch, name="x")
    mask = tf_keras.Input((steps,), batch_size=batch, dtype=tf.bool, name="mask") if case["lengths"] else None
    states = [tf_keras.Input((hidden,), batch_size=batch, name=f"{name}{index}") for index in range(len(cells)) for name in ("h0_", "c0_")]
    given = states if case["initial_states"] else []
    directions = len(cells) // spec["num_layers"]
    y, finals, layers = x, [], []
    for layer in range(spec["num_layers"]):
        lstm = tf_keras.layers.LSTM(
            hidden,
            activation=KERAS_NAMES.get(spec["candidate_activation"], spec["candidate_activation"]),
            recurrent_activation=KERAS_NAMES.get(spec["gate_activation"], spec["gate_activation"]),
            use_bias=spec["bias"],
            return_sequences=True,
            return_state=True,
            go_backwards=spec["reverse"],
        )
        built = tf_keras.layers.Bidirectional(lstm) if spec["bidirectional"] else lstm
        initial = given[2 * directions * layer : 2 * directions * (layer + 1)] or None
        y, *final = built(y, mask=mask, initial_state=initial)
        if spec["reverse"]:
            y = tf.reverse(y, axis=[1])
        finals += final
        layers += [built.forward_layer.cell, built.backward_layer.cell] if spec["bidirectional"] else [built.cell]
    model = tf_keras.Model([x, *([mask] if mask is not None else []), *given], [y, *finals])
    for name, cell in zip(cells, layers if weights is not None else ()):
        cell.kernel.assign(np.asarray(weights[f"{name}.kernel"], dtype=np.float32))
        cell.recurrent_kernel.assign(np.asarray(weights[f"{name}.recurrent_kernel"], dtype=np.float32))
        if spec["bias"]:
            cell.bias.assign(np.asarray(weights[f"{name}.bias"], dtype=np.float32))
    return model


def convert(case, weights, steps) -> bytes:
    """The ONNX model tf2onnx makes of the Keras model."""
    import tensorflow as tf
    import tf2onnx

    model = keras_model(case, weights, steps)
    signature = [tf.TensorSpec(tensor.shape, tensor.dtype, name=name) for tensor, name in zip(model.inputs, model.input_names)]
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=OPSET)
    return proto.SerializeToString()


def model_feeds(case, inputs):
    """The model's inputs by name (see the module docstring)."""
    x = inputs["x"] if case["batch_first"] else inputs["x"].transpose(1, 0, 2)
    feeds = {"x": np.ascontiguousarray(x, dtype=np.float32)}
    if "lengths" in inputs:
        feeds["mask"] = np.arange(x.shape[1])[None, :] < inputs["lengths"][:, None]
    if "h0" in inputs:
        for index, (h, c) in enumerate(zip(inputs["h0"], inputs["c0"])):
            feeds[f"h0_{index}"], feeds[f"c0_{index}"] = h.astype(np.float32), c.astype(np.float32)
    return feeds


def results(case, model: bytes, inputs, threads=None):
    """The ONNX model's results for ``inputs`` on ``threads`` intra-op threads (None: ONNX
    Runtime's default): outputs in x's layout, h_n and c_n."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    feeds = model_feeds(case, inputs)
    output, *finals = session.run(None, {given.name: feeds[given.name] for given in session.get_inputs()})
    return {
        "outputs": output if case["batch_first"] else output.transpose(1, 0, 2),
        "h_n": np.stack(finals[0::2]),
        "c_n": np.stack(finals[1::2]),
    }


def forward(case, weights, inputs):
    case = {**case, "lengths": "lengths" in inputs, "initial_states": "h0" in inputs}
    steps = inputs["x"].shape[1 if case["batch_first"] else 0]
    return results(case, convert(case, weights, steps), inputs)
