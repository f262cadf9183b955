"""keras.layers.LSTM, one per layer (return_sequences and return_state), wrapped in
Bidirectional for two directions and go_backwards for the reverse one; lengths as a mask;
on the Keras backend the case names (KERAS_BACKEND), with that backend's autodiff."""

import os

import numpy as np

KERAS_BACKENDS = {"keras-torch": "torch", "keras-jax": "jax", "keras-tensorflow": "tensorflow"}
# The suite's activation names Keras knows by another name.
KERAS_NAMES = {"identity": "linear", "hard_sigmoid_relu6": "hard_sigmoid"}


def import_keras(case):
    """Keras on the case's backend (set before Keras is first imported; float64 for JAX)."""
    os.environ["KERAS_BACKEND"] = KERAS_BACKENDS[case["backend"]]
    if case["backend"] == "keras-jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    import keras

    return keras


def activation(keras, name):
    if name == "gelu_tanh":  # gelu's tanh approximation, registered so that Bidirectional can clone it
        return keras.saving.register_keras_serializable(package="lstm_conformance", name="gelu_tanh")(
            lambda x: keras.activations.gelu(x, approximate=True)
        )
    return keras.activations.get(KERAS_NAMES.get(name, name))


def build(case, weights):
    """The built layers with ``weights`` assigned, and every weight by its name."""
    keras, spec, dtype = import_keras(case), case["spec"], case["dtype"]
    layers, named = [], {}
    for index in range(spec["num_layers"]):
        def lstm(**options):
            return keras.layers.LSTM(
                spec["hidden_size"],
                activation=activation(keras, spec["candidate_activation"]),
                recurrent_activation=activation(keras, spec["gate_activation"]),
                use_bias=spec["bias"],
                return_sequences=True,
                return_state=True,
                dtype=dtype,
                kernel_initializer="zeros",
                recurrent_initializer="zeros",
                **options,
            )

        layer = keras.layers.Bidirectional(lstm(), dtype=dtype) if spec["bidirectional"] else lstm(go_backwards=spec["reverse"])
        width = spec["input_size"] if index == 0 else spec["hidden_size"] * (2 if spec["bidirectional"] else 1)
        layer.build((None, None, width))
        cells = [layer.forward_layer.cell, layer.backward_layer.cell] if spec["bidirectional"] else [layer.cell]
        for direction, cell in enumerate(cells):
            prefix = f"layer{index}.{'backward' if direction == 1 or spec['reverse'] else 'forward'}"
            for weight in cell.weights:
                name = f"{prefix}.{weight.path.rsplit('/', 1)[-1]}"
                weight.assign(np.asarray(weights[name], dtype=dtype))
                named[name] = weight
        layers.append(layer)
    return keras, layers, named


def stack(case, keras, layers, x, mask, h0, c0, call=None):
    """Run the layers; (outputs [B, T, D*H], h_n list, c_n list) per cell in canonical order."""
    spec, directions = case["spec"], 2 if case["spec"]["bidirectional"] else 1
    call = call or (lambda layer, index, *args, **kwargs: layer(*args, **kwargs))
    h_n, c_n = [], []
    for index, layer in enumerate(layers):
        cells = range(index * directions, (index + 1) * directions)
        x, *final = call(layer, index, x, mask=mask, initial_state=[state for cell in cells for state in (h0[cell], c0[cell])])
        if spec["reverse"]:
            x = keras.ops.flip(x, axis=1)
        h_n += final[0::2]
        c_n += final[1::2]
    return x, h_n, c_n


def arguments(case, inputs):
    """x [B, T, I], the mask [B, T] (None without lengths), h0 and c0 as per-cell lists."""
    x = inputs["x"] if case["batch_first"] else inputs["x"].transpose(1, 0, 2)
    mask = None if "lengths" not in inputs else np.arange(x.shape[1])[None, :] < inputs["lengths"][:, None]
    states = [list(inputs.get(name, np.zeros(case[f"{name}_shape"])).astype(case["dtype"])) for name in ("h0", "c0")]
    return np.ascontiguousarray(x, dtype=case["dtype"]), mask, *states


def in_case_layout(case, values):
    values = np.asarray(values, dtype=np.float64)
    return values if case["batch_first"] else values.transpose(1, 0, 2)


def forward(case, weights, inputs):
    keras, layers, _ = build(case, weights)
    outputs, h_n, c_n = stack(case, keras, layers, *arguments(case, inputs))
    numpy = keras.ops.convert_to_numpy
    return {"outputs": in_case_layout(case, numpy(outputs)), "h_n": np.stack([numpy(h) for h in h_n]), "c_n": np.stack([numpy(c) for c in c_n])}


def upstream(case, inputs):
    d_outputs = inputs["d_outputs"] if case["batch_first"] else inputs["d_outputs"].transpose(1, 0, 2)
    dtype = case["dtype"]
    return np.ascontiguousarray(d_outputs, dtype=dtype), list(inputs["d_h_n"].astype(dtype)), list(inputs["d_c_n"].astype(dtype))


def gradients(case, weights, inputs):
    keras, layers, named = build(case, weights)
    x, mask, h0, c0 = arguments(case, inputs)
    d_outputs, d_h_n, d_c_n = upstream(case, inputs)
    grads = {"torch": torch_gradients, "jax": jax_gradients, "tensorflow": tensorflow_gradients}[keras.backend.backend()](
        case, keras, layers, named, x, mask, h0, c0, (d_outputs, d_h_n, d_c_n)
    )
    grad_x, grad_h0, grad_c0, grad_weights = grads
    result = {"grad_x": in_case_layout(case, grad_x), "grad_h0": np.stack(grad_h0), "grad_c0": np.stack(grad_c0)}
    return {**result, **grad_weights}


def weighted_sum(results, upstream, sum_of):
    """sum(outputs * d_outputs) + sum(h_n * d_h_n) + sum(c_n * d_c_n), ``sum_of`` summing one array."""
    (outputs, h_n, c_n), (d_outputs, d_h_n, d_c_n) = results, upstream
    pairs = [(outputs, d_outputs), *zip(h_n, d_h_n), *zip(c_n, d_c_n)]
    return sum(sum_of(result * grad) for result, grad in pairs)


def torch_gradients(case, keras, layers, named, x, mask, h0, c0, upstream):
    import torch

    def leaf(array):
        return torch.tensor(array, dtype=getattr(torch, case["dtype"]), requires_grad=True)

    x, h0, c0 = leaf(x), [leaf(h) for h in h0], [leaf(c) for c in c0]
    results = stack(case, keras, layers, x, None if mask is None else torch.from_numpy(mask), h0, c0)
    upstream = (torch.from_numpy(upstream[0]), [torch.from_numpy(g) for g in upstream[1]], [torch.from_numpy(g) for g in upstream[2]])
    weighted_sum(results, upstream, torch.sum).backward()
    weights = {name: weight.value.grad.numpy() for name, weight in named.items()}
    return x.grad.numpy(), [h.grad.numpy() for h in h0], [c.grad.numpy() for c in c0], weights


def jax_gradients(case, keras, layers, named, x, mask, h0, c0, upstream):
    import jax

    where = {id(variable): (index, position) for index, layer in enumerate(layers) for position, variable in enumerate(layer.trainable_variables)}
    frozen = [[variable.value for variable in layer.non_trainable_variables] for layer in layers]

    def loss(x, h0, c0, trainable):
        def call(layer, index, *args, **kwargs):
            results, _ = layer.stateless_call(trainable[index], frozen[index], *args, **kwargs)
            return results

        return weighted_sum(stack(case, keras, layers, x, mask, h0, c0, call=call), upstream, jax.numpy.sum)

    trainable = [[variable.value for variable in layer.trainable_variables] for layer in layers]
    grad_x, grad_h0, grad_c0, grad_trainable = jax.grad(loss, argnums=(0, 1, 2, 3))(x, h0, c0, trainable)
    weights = {name: np.asarray(grad_trainable[where[id(weight)][0]][where[id(weight)][1]]) for name, weight in named.items()}
    return np.asarray(grad_x), [np.asarray(g) for g in grad_h0], [np.asarray(g) for g in grad_c0], weights


def tensorflow_gradients(case, keras, layers, named, x, mask, h0, c0, upstream):
    import tensorflow as tf

    x, h0, c0 = tf.constant(x), [tf.constant(h) for h in h0], [tf.constant(c) for c in c0]
    variables = [weight.value for weight in named.values()]
    with tf.GradientTape() as tape:
        tape.watch([x, *h0, *c0])
        loss = weighted_sum(stack(case, keras, layers, x, mask, h0, c0), upstream, tf.reduce_sum)
    grad_x, grad_h0, grad_c0, grad_weights = tape.gradient(loss, [x, h0, c0, variables])
    weights = {name: grad.numpy() for name, grad in zip(named, grad_weights)}
    return grad_x.numpy(), [g.numpy() for g in grad_h0], [g.numpy() for g in grad_c0], weights
