"""paddle.nn.LSTM exported with paddle.onnx.export (paddle2onnx) at its default opset, batch
and time axes dynamic, then run by ONNX Runtime's CPU execution provider."""

import os
import tempfile

import numpy as np
import onnxruntime
import paddle


class DeployedLSTM(paddle.nn.Layer):
    """What is exported: (x, [lengths], [h0, c0]) -> (outputs, h_n, c_n)."""

    def __init__(self, lstm):
        super().__init__()
        self.lstm = lstm

    def outputs(self, x, lengths=None, states=None):
        y, (h_n, c_n) = self.lstm(x, states, lengths)
        return y, h_n, c_n


# Paddle's tracing reads forward's signature and source: one plain function per set of inputs.
def forward_x(self, x):
    return self.outputs(x)


def forward_x_lengths(self, x, lengths):
    return self.outputs(x, lengths)


def forward_x_states(self, x, h0, c0):
    return self.outputs(x, states=(h0, c0))


def forward_x_lengths_states(self, x, lengths, h0, c0):
    return self.outputs(x, lengths, (h0, c0))


FORWARDS = {(False, False): forward_x, (True, False): forward_x_lengths, (False, True): forward_x_states, (True, True): forward_x_lengths_states}


def export(case, weights, lengths, states):
    spec, dtype = case["spec"], case["dtype"]
    paddle.set_device("cpu")
    paddle.set_default_dtype(dtype)
    no_bias = None if spec["bias"] else False
    lstm = paddle.nn.LSTM(
        spec["input_size"],
        spec["hidden_size"],
        num_layers=spec["num_layers"],
        direction="bidirect" if spec["bidirectional"] else "forward",
        time_major=not case["batch_first"],
        bias_ih_attr=no_bias,
        bias_hh_attr=no_bias,
    )
    state = lstm.state_dict()
    for name, value in weights.items():
        state[name].set_value(np.asarray(value, dtype=dtype))
    DeployedLSTM.forward = FORWARDS[lengths, states]
    layer = DeployedLSTM(lstm)
    layer.eval()
    InputSpec = paddle.static.InputSpec
    specs = [InputSpec([None, None, spec["input_size"]], dtype, "x")]
    if lengths:
        specs.append(InputSpec([None], "int64", "lengths"))
    if states:
        specs.append(InputSpec([case["h0_shape"][0], None, case["h0_shape"][2]], dtype, "h0"))
        specs.append(InputSpec([case["c0_shape"][0], None, case["c0_shape"][2]], dtype, "c0"))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "lstm")
        paddle.onnx.export(layer, path, input_spec=specs)
        with open(path + ".onnx", "rb") as model:
            return model.read()


def forward(case, weights, inputs):
    dtype = case["dtype"]
    model = export(case, weights, "lengths" in inputs, "h0" in inputs)
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    feeds = {"x": np.ascontiguousarray(inputs["x"], dtype=dtype)}
    if "lengths" in inputs:
        feeds["lengths"] = inputs["lengths"].astype(np.int64)
    if "h0" in inputs:
        feeds["h0"], feeds["c0"] = inputs["h0"].astype(dtype), inputs["c0"].astype(dtype)
    outputs, h_n, c_n = session.run(None, feeds)
    return {"outputs": outputs, "h_n": h_n, "c_n": c_n}
