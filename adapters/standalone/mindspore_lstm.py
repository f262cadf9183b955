"""mindspore.nn.LSTM in PyNative mode on the CPU, its parameters set by name (torch's names);
lengths as seq_length, gradients through mindspore.grad."""

import mindspore as ms
import numpy as np

ms.set_context(mode=ms.PYNATIVE_MODE, device_target="CPU")


def module_and_arguments(case, weights, inputs):
    spec, dtype = case["spec"], case["dtype"]
    module = ms.nn.LSTM(
        spec["input_size"], spec["hidden_size"], num_layers=spec["num_layers"], has_bias=spec["bias"],
        batch_first=case["batch_first"], bidirectional=spec["bidirectional"], dtype=getattr(ms, dtype),
    )
    module.set_train(False)
    for name, parameter in module.parameters_and_names():
        parameter.set_data(ms.Tensor(np.asarray(weights[name]).astype(dtype)))
    h0, c0 = (inputs.get(name, np.zeros(case[f"{name}_shape"])) for name in ("h0", "c0"))
    tensors = [ms.Tensor(np.ascontiguousarray(array).astype(dtype)) for array in (inputs["x"], h0, c0)]
    lengths = ms.Tensor(inputs["lengths"].astype(np.int32)) if "lengths" in inputs else None
    return module, *tensors, lengths


def forward(case, weights, inputs):
    module, x, h0, c0, lengths = module_and_arguments(case, weights, inputs)
    outputs, (h_n, c_n) = module(x, (h0, c0), lengths)
    return {"outputs": outputs.asnumpy(), "h_n": h_n.asnumpy(), "c_n": c_n.asnumpy()}


def gradients(case, weights, inputs):
    module, x, h0, c0, lengths = module_and_arguments(case, weights, inputs)
    terms = [ms.Tensor(np.ascontiguousarray(inputs[name]).astype(case["dtype"])) for name in ("d_outputs", "d_h_n", "d_c_n")]

    def loss(x, h0, c0):
        outputs, (h_n, c_n) = module(x, (h0, c0), lengths)
        return sum((result * term).sum() for result, term in zip((outputs, h_n, c_n), terms))

    names, parameters = zip(*module.parameters_and_names())
    (grad_x, grad_h0, grad_c0), grad_weights = ms.grad(loss, grad_position=(0, 1, 2), weights=list(parameters))(x, h0, c0)
    result = {"grad_x": grad_x.asnumpy(), "grad_h0": grad_h0.asnumpy(), "grad_c0": grad_c0.asnumpy()}
    return {**result, **{name: grad.asnumpy() for name, grad in zip(names, grad_weights)}}
