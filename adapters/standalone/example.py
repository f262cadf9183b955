"""A small NumPy LSTM laid out like Keras (the example adapter's backend, adapters/example.py)."""

import numpy as np


def keras_style_lstm(x, kernel, recurrent_kernel, bias, h0, c0, product=np.matmul):
    """x [B, T, I]; kernel [I, 4H]; recurrent_kernel [H, 4H]; bias [4H] (gates i, f, c, o);
    h0, c0 [B, H]; ``product(a, b)`` the matrix product it multiplies with. Returns outputs
    [B, T, H], h [B, H], c [B, H] in x's dtype."""
    hidden = recurrent_kernel.shape[0]
    h, c, outputs = h0, c0, []
    for t in range(x.shape[1]):
        z = product(x[:, t], kernel) + product(h, recurrent_kernel) + bias
        i, f, g, o = (z[:, k * hidden : (k + 1) * hidden] for k in range(4))
        i, f, o = (1 / (1 + np.exp(-gate)) for gate in (i, f, o))
        c = f * c + i * np.tanh(g)
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1), h, c


def forward(case, weights, inputs):
    """One forward layer: x in the case's layout, h0 and c0 [1, B, H] (zeros when not given)."""
    dtype = np.dtype(case["dtype"])
    x = inputs["x"] if case["batch_first"] else inputs["x"].transpose(1, 0, 2)
    h0, c0 = (inputs.get(name, np.zeros(case[f"{name}_shape"]))[0].astype(dtype) for name in ("h0", "c0"))
    outputs, h, c = keras_style_lstm(x.astype(dtype), **{name: value.astype(dtype) for name, value in weights.items()}, h0=h0, c0=c0)
    return {"outputs": outputs if case["batch_first"] else outputs.transpose(1, 0, 2), "h_n": h[None], "c_n": c[None]}
