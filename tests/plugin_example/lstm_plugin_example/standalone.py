"""The plug-in example's backend as a standalone reproducer runs it: a NumPy LSTM laid out like
Keras (gates i, f, c, o), its c_n returned as tanh of the final cell state (release 0.1)."""

import numpy as np


def forward(case, weights, inputs):
    dtype = np.dtype(case["dtype"])
    x = inputs["x"] if case["batch_first"] else inputs["x"].transpose(1, 0, 2)
    kernel, recurrent_kernel, bias = (weights[name].astype(dtype) for name in ("kernel", "recurrent_kernel", "bias"))
    h, c = (inputs.get(name, np.zeros(case[f"{name}_shape"]))[0].astype(dtype) for name in ("h0", "c0"))
    steps = []
    for x_t in x.astype(dtype).transpose(1, 0, 2):
        i, f, g, o = np.split(x_t @ kernel + h @ recurrent_kernel + bias, 4, axis=1)
        c = c / (1 + np.exp(-f)) + np.tanh(g) / (1 + np.exp(-i))
        h = np.tanh(c) / (1 + np.exp(-o))
        steps.append(h)
    outputs = np.stack(steps, axis=1)
    return {"outputs": outputs if case["batch_first"] else outputs.transpose(1, 0, 2), "h_n": h[None], "c_n": np.tanh(c)[None]}
