"""TensorFlow's fused LSTM kernel, tf.raw_ops.BlockLSTMV2 (what tf.compat.v1's
LSTMBlockFusedCell runs): one call per layer and direction over the time-major batch (a
reversed direction over the time-flipped sequences), gradients through tf.GradientTape."""

import numpy as np
import tensorflow as tf

PEEPHOLES = ("wci", "wcf", "wco")


def time_major(array, case):
    return array.transpose(1, 0, 2) if case["batch_first"] else array


def stack(case, x, h0, c0, weights):
    """(outputs [T, B, D*H], h_n list, c_n list) from x [T, B, I] and per-cell initial states."""
    spec, hidden = case["spec"], case["spec"]["hidden_size"]
    directions = 2 if spec["bidirectional"] else 1
    zeros = tf.zeros([hidden], dtype=x.dtype)
    h_n, c_n = [], []
    for layer in range(spec["num_layers"]):
        outputs = []
        for direction in range(directions):
            index, reversed_ = layer * directions + direction, direction == 1 or spec["reverse"]
            prefix = f"layer{layer}.{'backward' if reversed_ else 'forward'}"
            result = tf.raw_ops.BlockLSTMV2(
                seq_len_max=tf.constant(int(x.shape[0]), dtype=tf.int64),
                x=tf.reverse(x, axis=[0]) if reversed_ else x,
                cs_prev=c0[index],
                h_prev=h0[index],
                w=weights[f"{prefix}.kernel"],
                b=weights.get(f"{prefix}.bias", tf.zeros([4 * hidden], dtype=x.dtype)),
                **{key: weights.get(f"{prefix}.{key}", zeros) for key in PEEPHOLES},
                cell_clip=spec["cell_clip"] or 0.0,
                use_peephole=spec["peepholes"],
            )
            h_n.append(result.h[-1])
            c_n.append(result.cs[-1])
            outputs.append(tf.reverse(result.h, axis=[0]) if reversed_ else result.h)
        x = tf.concat(outputs, axis=2)
    return x, h_n, c_n


def tensors(case, weights, inputs):
    def tensor(array):
        return tf.constant(np.asarray(array, dtype=case["dtype"]))

    h0, c0 = (inputs.get(name, np.zeros(case[f"{name}_shape"])) for name in ("h0", "c0"))
    named = {name: tensor(value) for name, value in weights.items()}
    return tensor(time_major(inputs["x"], case)), [tensor(h) for h in h0], [tensor(c) for c in c0], named


def forward(case, weights, inputs):
    outputs, h_n, c_n = stack(case, *tensors(case, weights, inputs))
    return {"outputs": time_major(np.asarray(outputs), case), "h_n": np.stack(h_n), "c_n": np.stack(c_n)}


def gradients(case, weights, inputs):
    x, h0, c0, named = tensors(case, weights, inputs)
    dtype = case["dtype"]
    with tf.GradientTape() as tape:
        tape.watch([x, h0, c0, named])
        outputs, h_n, c_n = stack(case, x, h0, c0, named)
        pairs = [(outputs, time_major(inputs["d_outputs"], case)), *zip(h_n, inputs["d_h_n"]), *zip(c_n, inputs["d_c_n"])]
        loss = tf.add_n([tf.reduce_sum(result * grad.astype(dtype)) for result, grad in pairs])
    grad_x, grad_h0, grad_c0, grad_named = tape.gradient(loss, [x, h0, c0, named])
    result = {"grad_x": time_major(np.asarray(grad_x), case), "grad_h0": np.stack(grad_h0), "grad_c0": np.stack(grad_c0)}
    return {**result, **{name: np.asarray(grad) for name, grad in grad_named.items()}}
