"""What TensorFlow's TFLite converter makes of Keras 2 (``tf_keras``) LSTMs, measured in a
process of its own (TensorFlow beside torch in a test process can crash it), printed as JSON:

- ``ops``: per model name, the op names of the converted model, or the converter's error;
- ``fused_options``: per structure of the litert adapter's own models, each fused op's
  ``(cell_clip, proj_clip)`` as the flatbuffer holds them;
- ``final_states``: for a two-layer model of the adapter's, whether the top layer's h_n
  read from the fused op's state tensor equals its output at the last step, and whether
  the two layers' h_n differ;
- ``routes``: per structure (initial states given), whether the adapter's conversion (the
  model's inference function) and ``TFLiteConverter.from_keras_model`` give the same ops,
  the same fused-op options and bit for bit the same results.
- ``float16_weights``: for a two-layer bidirectional model of the adapter's at float16,
  whether its fused ops read weights dequantized from float16 (and the float32 model's
  do not), and whether its results equal bit for bit those of the float32 model of the
  same weights rounded to float16, and differ from those of the weights unrounded.

Run: ``python -m tests.support.litert_conversions``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

STEPS, BATCH, INPUT, HIDDEN = 4, 2, 3, 5
# The adapter's structures whose fused ops are read: keyword arguments of LSTMSpec.
STRUCTURES = {"fwd": {}, "bidir": {"bidirectional": True}, "rev-L2": {"reverse": True, "num_layers": 2}}


def keras_models() -> dict:
    """One-layer tf_keras models: the plain one and one per configuration the adapter refuses."""
    import tensorflow as tf
    import tf_keras

    def one_layer(mask: bool = False, dtype: str = "float32", **options):
        x = tf_keras.Input((STEPS, INPUT), batch_size=BATCH, dtype=dtype)
        inputs = [x, tf_keras.Input((STEPS,), batch_size=BATCH, dtype=tf.bool)] if mask else [x]
        y = tf_keras.layers.LSTM(HIDDEN, return_sequences=True, dtype=dtype, **options)(x, mask=inputs[1] if mask else None)
        return tf_keras.Model(inputs, y)

    def returning_state():
        x = tf_keras.Input((STEPS, INPUT), batch_size=BATCH)
        y, h, c = tf_keras.layers.LSTM(HIDDEN, return_sequences=True, return_state=True)(x)
        return tf_keras.Model(x, [y, h, c])

    return {
        "plain": one_layer(),
        "return-state": returning_state(),
        "keras-3": keras_3_layer(),
        "no-bias": one_layer(use_bias=False),
        "mask": one_layer(mask=True),
        "relu-candidate": one_layer(activation="relu"),
        "hard-sigmoid-gates": one_layer(recurrent_activation="hard_sigmoid"),
        "float64": one_layer(dtype="float64"),
    }


def keras_3_layer():
    """The plain layer in Keras 3, on TensorFlow."""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras

    x = keras.Input((STEPS, INPUT), batch_size=BATCH)
    return keras.Model(x, keras.layers.LSTM(HIDDEN, return_sequences=True)(x))


def converted_ops(model) -> list[str] | str:
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    try:
        flatbuffer = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    except Exception as error:  # the converter's own words are the measurement
        return f"{type(error).__name__}: {error}"
    interpreter = Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    return sorted({op["op_name"] for op in interpreter._get_ops_details()})


def adapter_case(spec, batch_first: bool = False) -> dict:
    return {"spec": asdict(spec), "batch_first": batch_first, "initial_states": False, "h0_shape": [spec.num_cells, BATCH, HIDDEN]}


def adapter_model(structure: dict, seed: int):
    """(spec, weights) of an adapter's model of ``structure`` (LSTMSpec keyword arguments)."""
    from adapters.keras_lstm import KERAS_LAYOUT
    from adapters.layouts import to_backend
    from reference import LSTMSpec, init_params

    spec = LSTMSpec(input_size=INPUT, hidden_size=HIDDEN, **structure)
    return spec, to_backend(KERAS_LAYOUT, spec, init_params(spec, seed=seed))


def options_of(flatbuffer: bytes) -> list[list[float]]:
    """Each fused op's (cell_clip, proj_clip), in the model's order."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    fused_code = flatbuffer_utils.schema_fb.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    codes = [code.builtinCode for code in model.operatorCodes]
    return [
        [float(op.builtinOptions.cellClip), float(op.builtinOptions.projClip)]
        for op in model.subgraphs[0].operators
        if codes[op.opcodeIndex] == fused_code
    ]


def fused_options(structure: dict) -> list[list[float]]:
    from adapters.litert_lstm import runner

    spec, weights = adapter_model(structure, seed=1)
    return options_of(runner().convert(adapter_case(spec), weights, STEPS))


def same_routes(structure: dict) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    from adapters.litert_lstm import runner

    spec, weights = adapter_model(structure, seed=4)
    case = {**adapter_case(spec), "initial_states": True}
    rng = np.random.default_rng(5)
    inputs = {"x": rng.normal(size=(STEPS, BATCH, INPUT)), "h0": rng.normal(size=(spec.num_cells, BATCH, HIDDEN)), "c0": rng.normal(size=(spec.num_cells, BATCH, HIDDEN))}
    found = {}
    for route, flatbuffer in (("function", runner().convert(case, weights, STEPS)), ("keras_model", runner().convert_as_keras_model(case, weights, STEPS))):
        interpreter = Interpreter(model_content=flatbuffer)
        ops = sorted({op["op_name"] for op in interpreter._get_ops_details()})
        found[route] = (ops, options_of(flatbuffer), runner().results(case, weights, flatbuffer, inputs))
    (ops, options, results), (keras_ops, keras_options, keras_results) = found["function"], found["keras_model"]
    return {
        "same_ops": ops == keras_ops,
        "same_options": options == keras_options,
        "same_results": all(np.array_equal(results[name], keras_results[name]) for name in ("outputs", "h_n", "c_n")),
    }


def final_states() -> dict:
    from adapters.keras_lstm import KERAS_LAYOUT
    from adapters.layouts import to_backend
    from adapters.litert_lstm import runner
    from reference import LSTMSpec, init_params

    spec = LSTMSpec(input_size=INPUT, hidden_size=HIDDEN, num_layers=2)
    case = adapter_case(spec, batch_first=True)
    weights = to_backend(KERAS_LAYOUT, spec, init_params(spec, seed=2))
    x = np.random.default_rng(3).normal(size=(BATCH, STEPS, INPUT))
    results = runner().results(case, weights, runner().convert(case, weights, STEPS), {"x": x})
    return {
        "top_h_n_is_last_output": bool(np.array_equal(results["h_n"][-1], results["outputs"][:, -1])),
        "layers_differ": bool(np.abs(results["h_n"][0] - results["h_n"][1]).max() > 0),
    }


def float16_weights() -> dict:
    from ai_edge_litert.interpreter import Interpreter

    from adapters.litert_lstm import runner

    spec, weights = adapter_model({"bidirectional": True, "num_layers": 2}, seed=6)
    rounded = {name: np.asarray(values, dtype=np.float16).astype(np.float32) for name, values in weights.items()}
    case = adapter_case(spec)
    inputs = {"x": np.random.default_rng(7).normal(size=(STEPS, BATCH, INPUT))}
    float16 = runner().convert({**case, "dtype": "float16"}, weights, STEPS)

    def reads_float16(flatbuffer: bytes) -> bool:
        interpreter = Interpreter(model_content=flatbuffer)
        interpreter.allocate_tensors()
        try:
            runner().check_float16_weights(interpreter, runner().fused_ops(interpreter))
        except ValueError:
            return False
        return True

    results = runner().results({**case, "dtype": "float16"}, weights, float16, inputs)
    as_rounded = runner().results(case, rounded, runner().convert(case, rounded, STEPS), inputs)
    as_given = runner().results(case, weights, runner().convert(case, weights, STEPS), inputs)
    return {
        "float16_model_reads_float16": reads_float16(float16),
        "float32_model_reads_float16": reads_float16(runner().convert(case, weights, STEPS)),
        "same_as_rounded_weights": all(np.array_equal(results[name], as_rounded[name]) for name in ("outputs", "h_n", "c_n")),
        "differs_from_given_weights": not np.array_equal(results["outputs"], as_given["outputs"]),
    }


def main() -> None:
    measured = {
        "ops": {name: converted_ops(model) for name, model in keras_models().items()},
        "fused_options": {name: fused_options(structure) for name, structure in STRUCTURES.items()},
        "final_states": final_states(),
        "routes": {name: same_routes(structure) for name, structure in STRUCTURES.items()},
        "float16_weights": float16_weights(),
    }
    print(json.dumps(measured))


if __name__ == "__main__":
    main()
