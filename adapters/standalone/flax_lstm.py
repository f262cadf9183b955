"""Flax's nnx.OptimizedLSTMCell (backend flax) or nnx.LSTMCell (flax-lstmcell) under nnx.RNN
(seq_lengths for lengths; reverse=True, keep_order=True for a reverse layer) and
nnx.Bidirectional, one per layer, run inside jax.jit with the weights as arguments;
gradients through jax.grad. Flax's carry is (c, h)."""

import functools

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

# The suite's activation -> (the jax.nn function, its keyword for each parameter, fixed keywords).
ACTIVATIONS = {
    "identity": ("identity", {}, {}), "hard_sigmoid_relu6": ("hard_sigmoid", {}, {}), "gelu": ("gelu", {}, {"approximate": False}),
    "gelu_tanh": ("gelu", {}, {"approximate": True}), "softsign": ("soft_sign", {}, {}), "elu": ("elu", {"alpha": "alpha"}, {}),
    "leaky_relu": ("leaky_relu", {"alpha": "negative_slope"}, {}),
}
CELLS = {"flax": "OptimizedLSTMCell", "flax-lstmcell": "LSTMCell"}


def activation(bound):
    """The jax.nn function of an activation (``{"name", "params"}``), its parameters bound."""
    function, keywords, fixed = ACTIVATIONS.get(bound["name"], (bound["name"], {}, {}))
    return functools.partial(getattr(jax.nn, function), **fixed, **{keywords[key]: value for key, value in bound["params"].items()})


def build(case, weights):
    """The layers, holding ``weights``."""
    spec, dtype = case["spec"], getattr(jnp, case["dtype"])
    cell_type = getattr(nnx, CELLS[case["backend"]])
    roles = case["activations"]
    activations = {"gate_fn": activation(roles["gate_activation"]), "activation_fn": activation(roles["candidate_activation"])}
    layers = []
    for index in range(spec["num_layers"]):
        width = spec["input_size"] if index == 0 else spec["hidden_size"] * (2 if spec["bidirectional"] else 1)

        def rnn(reverse):
            cell = cell_type(width, spec["hidden_size"], **activations, kernel_init=nnx.initializers.zeros,
                             recurrent_kernel_init=nnx.initializers.zeros, dtype=dtype, param_dtype=dtype, rngs=nnx.Rngs(0))
            return nnx.RNN(cell, return_carry=True, reverse=reverse, keep_order=True)

        layers.append(nnx.Bidirectional(rnn(False), rnn(True), return_carry=True) if spec["bidirectional"] else rnn(spec["reverse"]))
    for name, variable in variables(case, layers, weights).items():
        variable.value = jnp.asarray(weights[name], dtype=dtype)
    return layers


def variables(case, layers, names):
    """The variable of each weight name (``layer{k}.{forward|backward}.{path in the cell}``)."""
    spec, found = case["spec"], {}
    for name in names:
        layer, direction, path = name.split(".", 2)
        module = layers[int(layer.removeprefix("layer"))]
        if spec["bidirectional"]:
            cell = (module.backward_rnn if direction == "backward" else module.forward_rnn).cell
        else:
            cell = module.cell
        found[name] = functools.reduce(getattr, path.split("."), cell)
    return found


def forward_function(case, layers):
    """The stack as a function (params, x, lengths, h0, c0) -> (outputs [B, T, D*H], h_n list, c_n list), with
    the params, graphs and other state it was split into."""
    directions = 2 if case["spec"]["bidirectional"] else 1
    graphs, params, rest = zip(*(nnx.split(layer, nnx.Param, ...) for layer in layers))

    def run(params, x, lengths, h0, c0):
        h_n, c_n = [], []
        for index, parts in enumerate(zip(graphs, params, rest)):
            carries = [(c0[cell], h0[cell]) for cell in range(index * directions, (index + 1) * directions)]
            carry, x = nnx.merge(*parts)(x, initial_carry=tuple(carries) if directions == 2 else carries[0], seq_lengths=lengths)
            for c, h in carry if directions == 2 else [carry]:
                h_n.append(h)
                c_n.append(c)
        return x, h_n, c_n

    return run, list(params), graphs, rest


def arguments(case, inputs):
    x = inputs["x"] if case["batch_first"] else inputs["x"].transpose(1, 0, 2)
    states = [list(inputs.get(name, np.zeros(case[f"{name}_shape"])).astype(case["dtype"])) for name in ("h0", "c0")]
    return np.ascontiguousarray(x, dtype=case["dtype"]), inputs.get("lengths"), *states


def in_case_layout(case, values):
    values = np.asarray(values, dtype=np.float64)
    return values if case["batch_first"] else values.transpose(1, 0, 2)


def forward(case, weights, inputs):
    run, params, _, _ = forward_function(case, build(case, weights))
    outputs, h_n, c_n = jax.jit(run)(params, *arguments(case, inputs))
    return {"outputs": in_case_layout(case, outputs), "h_n": np.stack(h_n), "c_n": np.stack(c_n)}


def gradients(case, weights, inputs):
    run, params, graphs, rest = forward_function(case, build(case, weights))
    dtype = case["dtype"]
    d_outputs = np.ascontiguousarray(inputs["d_outputs"] if case["batch_first"] else inputs["d_outputs"].transpose(1, 0, 2), dtype=dtype)
    upstream = (d_outputs, list(inputs["d_h_n"].astype(dtype)), list(inputs["d_c_n"].astype(dtype)))

    def loss(x, h0, c0, params, lengths):
        outputs, h_n, c_n = run(params, x, lengths, h0, c0)
        pairs = [(outputs, upstream[0]), *zip(h_n, upstream[1]), *zip(c_n, upstream[2])]
        return sum(jnp.sum(result * grad) for result, grad in pairs)

    x, lengths, h0, c0 = arguments(case, inputs)
    grad_x, grad_h0, grad_c0, grad_params = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))(x, h0, c0, params, lengths)
    # The gradients merged into copies of the layers, read back by each weight's name.
    merged = [nnx.merge(graph, state, other) for graph, state, other in zip(graphs, grad_params, rest)]
    result = {"grad_x": in_case_layout(case, grad_x), "grad_h0": np.stack(grad_h0), "grad_c0": np.stack(grad_c0)}
    return {**result, **{name: np.asarray(variable.value) for name, variable in variables(case, merged, weights).items()}}
