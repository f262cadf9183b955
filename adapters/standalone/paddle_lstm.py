"""paddle.nn.LSTM, its parameters set by structural name; lengths as sequence_length."""

import numpy as np
import paddle


def run(case, weights, inputs, track_gradients):
    spec, dtype = case["spec"], case["dtype"]
    paddle.set_device("gpu" if case["device"] == "cuda" else "cpu")
    paddle.set_default_dtype(dtype)
    no_bias = None if spec["bias"] else False
    layer = paddle.nn.LSTM(
        spec["input_size"],
        spec["hidden_size"],
        num_layers=spec["num_layers"],
        direction="bidirect" if spec["bidirectional"] else "forward",
        time_major=not case["batch_first"],
        bias_ih_attr=no_bias,
        bias_hh_attr=no_bias,
        **({"proj_size": spec["proj_size"]} if spec["proj_size"] else {}),
    )
    state = layer.state_dict()
    for name, value in weights.items():
        state[name].set_value(np.asarray(value, dtype=dtype))
    layer.train() if track_gradients else layer.eval()

    def tensor(array):
        return paddle.to_tensor(np.ascontiguousarray(array, dtype=dtype), stop_gradient=not track_gradients)

    x = tensor(inputs["x"])
    states = tuple(tensor(inputs.get(name, np.zeros(case[f"{name}_shape"]))) for name in ("h0", "c0"))
    lengths = paddle.to_tensor(inputs["lengths"]) if "lengths" in inputs else None
    with paddle.set_grad_enabled(track_gradients):
        outputs, (h_n, c_n) = layer(x, states, lengths)
    return layer, x, states, {"outputs": outputs, "h_n": h_n, "c_n": c_n}


def forward(case, weights, inputs):
    *_, results = run(case, weights, inputs, track_gradients=False)
    return {name: tensor.numpy() for name, tensor in results.items()}


def gradients(case, weights, inputs):
    layer, x, states, results = run(case, weights, inputs, track_gradients=True)
    loss = sum((results[name] * paddle.to_tensor(np.ascontiguousarray(inputs["d_" + name], dtype=case["dtype"]))).sum() for name in results)
    loss.backward()
    state = layer.state_dict()
    grads = {"grad_x": x.grad.numpy(), "grad_h0": states[0].grad.numpy(), "grad_c0": states[1].grad.numpy()}
    return {**grads, **{name: state[name].grad.numpy() for name in weights}}
