"""A Keras 2 (``tf_keras``) LSTM stack converted by TensorFlow's TFLite converter and run by
LiteRT's interpreter (``ai_edge_litert``): the path a Keras LSTM takes to a phone.

The model is built as Keras users build it: one ``LSTM`` per layer (``return_sequences=True``),
wrapped in ``Bidirectional`` for two directions and ``go_backwards=True`` for the reverse one
(whose outputs Keras returns in reversed time order; ``tf.reverse`` puts them back in time
order before the next layer), with a fixed batch and length, and the initial states as
model inputs where the case gives them. The converter fuses each layer (each direction of a
``Bidirectional``) into one ``UNIDIRECTIONAL_SEQUENCE_LSTM``; a model it did not fuse is
refused here, with its ops named.

The fused op has no state outputs: it writes its final h and c into its state inputs (op
inputs 18 and 19, variable tensors, or the model's state inputs), which are read after the
run. Each fused op is matched to its (layer, direction) cell by its eight weight matrices.
A float16 case is converted with the converter's float16 weights (``optimizations =
[Optimize.DEFAULT]``, ``target_spec.supported_types = [tf.float16]``): every weight is
stored in float16 and made float32 again by a ``DEQUANTIZE`` op, and the fused op
computes in float32; a model whose fused ops do not read dequantized float16 weights is
refused here.
``open("lstm.tflite", "wb").write(convert(case, weights, steps))`` saves a model for a viewer.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

FUSED_OP = "UNIDIRECTIONAL_SEQUENCE_LSTM"
# The fused op's inputs (tensorflow/lite/kernels/lstm_shared.h): the input and recurrent
# weights [H, I] and [H, H] of the gates i, f, c, o, and the output (h) and cell (c) states
# it reads first and overwrites at the end.
WEIGHT_MATRICES, OUTPUT_STATE, CELL_STATE = range(1, 9), 18, 19


def cell_names(spec):
    """Each cell's weight prefix in canonical order (layer by layer, forward first)."""
    directions = ("forward", "backward") if spec["bidirectional"] else ("backward",) if spec["reverse"] else ("forward",)
    return [f"layer{layer}.{direction}" for layer in range(spec["num_layers"]) for direction in directions]


def keras_model(case, weights, steps):
    """The tf_keras model for ``steps`` time steps with ``weights`` assigned (None: as
    built): inputs ``x`` [B, T, I], then with initial states ``h0_k`` and ``c0_k`` [B, H] per
    cell; output [B, T, D*H]."""
    import tensorflow as tf
    import tf_keras

    spec = case["spec"]
    batch, hidden, cells = case["h0_shape"][1], spec["hidden_size"], cell_names(spec)
    x = tf_keras.Input((steps, spec["input_size"]), batch_size=batch, name="x")
    states = [tf_keras.Input((hidden,), batch_size=batch, name=f"{name}{index}") for index in range(len(cells)) for name in ("h0_", "c0_")]
    given = states if case.get("initial_states") else []
    directions = len(cells) // spec["num_layers"]
    y, layers = x, []
    for layer in range(spec["num_layers"]):
        lstm = tf_keras.layers.LSTM(hidden, return_sequences=True, use_bias=spec["bias"], go_backwards=spec["reverse"])
        built = tf_keras.layers.Bidirectional(lstm) if spec["bidirectional"] else lstm
        initial = given[2 * directions * layer : 2 * directions * (layer + 1)] or None
        y = built(y, initial_state=initial)
        if spec["reverse"]:
            y = tf.reverse(y, axis=[1])
        layers += [built.forward_layer.cell, built.backward_layer.cell] if spec["bidirectional"] else [built.cell]
    model = tf_keras.Model([x, *given], y)
    for name, cell in zip(cells, layers if weights is not None else ()):
        cell.kernel.assign(np.asarray(weights[f"{name}.kernel"], dtype=np.float32))
        cell.recurrent_kernel.assign(np.asarray(weights[f"{name}.recurrent_kernel"], dtype=np.float32))
        if spec["bias"]:
            cell.bias.assign(np.asarray(weights[f"{name}.bias"], dtype=np.float32))
    return model


def convert(case, weights, steps) -> bytes:
    """The TFLite flatbuffer TensorFlow's converter makes of the Keras model's inference
    function. ``TFLiteConverter.from_keras_model(model)`` converts the same function, after
    saving the whole Keras model, which traces every layer's call several times over (22.9 s
    against 2.2 s for two bidirectional layers); the two give the same ops and the same
    values (tests/adapters/test_litert_fusion.py)."""
    import tensorflow as tf

    model = keras_model(case, weights, steps)
    signature = [tf.TensorSpec(tensor.shape, tensor.dtype, name=name) for tensor, name in zip(model.inputs, model.input_names)]
    inference = tf.function(lambda *tensors: model(list(tensors) if len(tensors) > 1 else tensors[0], training=False), input_signature=signature)
    holder = tf.Module()
    holder.weights = list(model.weights)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([inference.get_concrete_function()], holder)
    if case.get("dtype") == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def convert_as_keras_model(case, weights, steps) -> bytes:
    """What ``TFLiteConverter.from_keras_model`` makes of the same model (the slow way)."""
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(keras_model(case, weights, steps)).convert()


def fused_ops(interpreter):
    """The model's fused LSTM ops, in execution order; ValueError naming its ops when there is none."""
    ops = interpreter._get_ops_details()
    fused = [op for op in ops if op["op_name"] == FUSED_OP]
    if not fused:
        raise ValueError(f"the converter did not fuse the LSTM: the model's ops are {', '.join(sorted({op['op_name'] for op in ops}))}")
    return fused


def check_float16_weights(interpreter, fused):
    """ValueError unless every weight matrix of every fused op is a float16 tensor made
    float32 by a DEQUANTIZE op."""
    tensors = {tensor["index"]: tensor for tensor in interpreter.get_tensor_details()}
    dequantized = {op["outputs"][0]: op["inputs"][0] for op in interpreter._get_ops_details() if op["op_name"] == "DEQUANTIZE"}
    for op in fused:
        for index in WEIGHT_MATRICES:
            source = dequantized.get(op["inputs"][index])
            if source is None or tensors[source]["dtype"] != np.float16:
                raise ValueError(f"the converter did not store the fused LSTM's weight input {index} in float16")


def run(case, weights, flatbuffer: bytes, feeds: dict, threads=None):
    """Run the model on ``feeds`` (by input name) on ``threads`` threads (None: the
    interpreter's default); (output [B, T, D*H], h_n [L*D, B, H], c_n) with the final states
    read from each fused op's state inputs, in canonical cell order."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
    interpreter.allocate_tensors()
    fused = fused_ops(interpreter)
    if case.get("dtype") == "float16":
        check_float16_weights(interpreter, fused)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], feeds[detail["name"].removeprefix("serving_default_").split(":")[0]])
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    by_weights = {}
    for op in fused:
        key = b"".join(interpreter.get_tensor(op["inputs"][index]).tobytes() for index in WEIGHT_MATRICES)
        by_weights.setdefault(key, []).append([interpreter.get_tensor(op["inputs"][index]) for index in (OUTPUT_STATE, CELL_STATE)])
    states = []
    for name in cell_names(case["spec"]):
        matched = by_weights.get(cell_weight_matrices(weights, name, case.get("dtype") == "float16"), [])
        if len(matched) != 1:
            raise ValueError(f"expected one fused LSTM op holding {name}'s weights, found {len(matched)}")
        states += matched
    return output, np.stack([h for h, _ in states]), np.stack([c for _, c in states])


def cell_weight_matrices(weights, name, float16=False) -> bytes:
    """A cell's eight gate matrices as the fused op holds them (each Keras kernel's gate block
    i, f, c, o transposed, input then recurrent), float32 (rounded to float16 first, with
    ``float16``), joined as bytes."""
    stored = np.float16 if float16 else np.float32
    kernels = [np.asarray(weights[f"{name}.{kind}"], dtype=np.float32).astype(stored).astype(np.float32) for kind in ("kernel", "recurrent_kernel")]
    return b"".join(np.ascontiguousarray(block.T).tobytes() for kernel in kernels for block in np.split(kernel, 4, axis=1))


def model_feeds(case, inputs):
    """The model's inputs by name: ``x`` [B, T, I], and ``h0_k``, ``c0_k`` per cell where given."""
    x = inputs["x"] if case["batch_first"] else inputs["x"].transpose(1, 0, 2)
    feeds = {"x": np.ascontiguousarray(x, dtype=np.float32)}
    if "h0" in inputs:
        for index, (h, c) in enumerate(zip(inputs["h0"], inputs["c0"])):
            feeds[f"h0_{index}"], feeds[f"c0_{index}"] = h.astype(np.float32), c.astype(np.float32)
    return feeds


def results(case, weights, flatbuffer: bytes, inputs, threads=None):
    """The converted model's results for ``inputs``: outputs in x's layout, h_n and c_n."""
    output, h_n, c_n = run(case, weights, flatbuffer, model_feeds(case, inputs), threads)
    return {"outputs": output if case["batch_first"] else output.transpose(1, 0, 2), "h_n": h_n, "c_n": c_n}


def steps_of(case, inputs) -> int:
    return inputs["x"].shape[1 if case["batch_first"] else 0]


def forward(case, weights, inputs):
    case = {**case, "initial_states": "h0" in inputs}
    return results(case, weights, convert(case, weights, steps_of(case, inputs)), inputs)
