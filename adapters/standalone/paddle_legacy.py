"""Paddle's legacy lstm op (paddle._C_ops.lstm, what fluid.layers.dynamic_lstm called): one
call per layer and direction over sequences packed one after another (a LoD), the input
projected first with paddle.matmul, as dynamic_lstm users did."""

import numpy as np
import paddle


def pack(padded, lengths):
    """Time-major [T, B, F] to packed [sum(lengths), F]."""
    return np.concatenate([padded[:length, b] for b, length in enumerate(lengths)], axis=0)


def unpack(packed, lengths, steps):
    """Packed [sum(lengths), F] to time-major [T, B, F], zeros at padded steps."""
    padded = np.zeros((steps, len(lengths), packed.shape[1]))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    for b, length in enumerate(lengths):
        padded[:length, b] = packed[offsets[b] : offsets[b] + length]
    return padded


def time_major(array, case):
    return array.transpose(1, 0, 2) if case["batch_first"] else array


def run(case, weights, inputs, track_gradients):
    spec, dtype = case["spec"], case["dtype"]
    paddle.set_device("gpu" if case["device"] == "cuda" else "cpu")
    x_tm = time_major(inputs["x"], case)
    steps, batch = x_tm.shape[:2]
    lengths = inputs.get("lengths", np.full(batch, steps))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    empty = paddle.to_tensor((lengths == 0)[:, None])

    def tensor(array):
        return paddle.to_tensor(np.ascontiguousarray(array, dtype=dtype), stop_gradient=not track_gradients)

    parameters = {}
    for name, value in weights.items():
        parameters[name] = paddle.create_parameter(list(value.shape), dtype)
        parameters[name].set_value(np.ascontiguousarray(value, dtype=dtype))
    x = tensor(pack(x_tm, lengths))
    # Gradients with respect to the initial states need them as inputs (zeros when not given).
    pass_states = "h0" in inputs or track_gradients
    h0, c0 = (inputs.get(name, np.zeros(case[f"{name}_shape"])) for name in ("h0", "c0"))
    directions = 2 if spec["bidirectional"] else 1
    states = [(tensor(h0[index]), tensor(c0[index])) if pass_states else None for index in range(spec["num_layers"] * directions)]
    final_h, final_c, layer_input = [], [], x
    with paddle.set_grad_enabled(track_gradients):
        for layer in range(spec["num_layers"]):
            outputs = []
            for direction in range(directions):
                index, reversed_ = layer * directions + direction, direction == 1 or spec["reverse"]
                prefix = f"layer{layer}.{'backward' if reversed_ else 'forward'}"
                projected = paddle.matmul(layer_input, parameters[f"{prefix}.input_projection"])
                projected.get_tensor().set_lod([offsets.tolist()])
                h, c = states[index] or (None, None)
                hidden, cell = paddle._C_ops.lstm(
                    projected, h, c, parameters[f"{prefix}.weight"], parameters[f"{prefix}.bias"], spec["peepholes"],
                    reversed_, not track_gradients, spec["gate_activation"], spec["cell_activation"], spec["candidate_activation"],
                )
                # h_n and c_n: the rows of each sequence's last processed step (its first row when
                # reversed), the initial state for an empty sequence.
                rows = np.minimum(offsets[:-1] if reversed_ else offsets[1:] - 1, offsets[-1] - 1)
                initial = states[index] or (tensor(h0[index]), tensor(c0[index]))
                final_h.append(paddle.where(empty, initial[0], paddle.gather(hidden, paddle.to_tensor(rows))))
                final_c.append(paddle.where(empty, initial[1], paddle.gather(cell, paddle.to_tensor(rows))))
                outputs.append(hidden)
            layer_input = paddle.concat(outputs, axis=1) if directions == 2 else outputs[0]
    results = {"outputs": layer_input, "h_n": paddle.stack(final_h), "c_n": paddle.stack(final_c)}
    return parameters, x, states, lengths, results


def forward(case, weights, inputs):
    _, _, _, lengths, results = run(case, weights, inputs, track_gradients=False)
    steps = inputs["x"].shape[1 if case["batch_first"] else 0]
    outputs = time_major(unpack(results["outputs"].numpy(), lengths, steps), case)
    return {"outputs": outputs, "h_n": results["h_n"].numpy(), "c_n": results["c_n"].numpy()}


def gradients(case, weights, inputs):
    parameters, x, states, lengths, results = run(case, weights, inputs, track_gradients=True)
    upstream = {"outputs": pack(time_major(inputs["d_outputs"], case), lengths), "h_n": inputs["d_h_n"], "c_n": inputs["d_c_n"]}
    loss = sum((results[name] * paddle.to_tensor(np.ascontiguousarray(upstream[name], dtype=case["dtype"]))).sum() for name in results)
    loss.backward()
    steps = inputs["x"].shape[1 if case["batch_first"] else 0]
    grads = {
        "grad_x": time_major(unpack(x.grad.numpy(), lengths, steps), case),
        "grad_h0": np.stack([h.grad.numpy() for h, _ in states]),
        "grad_c0": np.stack([c.grad.numpy() for _, c in states]),
    }
    return {**grads, **{name: parameter.grad.numpy() for name, parameter in parameters.items()}}
