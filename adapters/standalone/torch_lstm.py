"""torch.nn.LSTM, loaded from its state dict; lengths through pack_padded_sequence."""

import numpy as np
import torch


def run(case, weights, inputs, track_gradients):
    spec, dtype = case["spec"], getattr(torch, case["dtype"])
    module = torch.nn.LSTM(
        spec["input_size"],
        spec["hidden_size"],
        num_layers=spec["num_layers"],
        bias=spec["bias"],
        batch_first=case["batch_first"],
        bidirectional=spec["bidirectional"],
        proj_size=spec["proj_size"],
        dtype=dtype,
        device=case["device"],
    )
    module.load_state_dict({name: torch.from_numpy(np.asarray(value)).to(dtype) for name, value in weights.items()})
    module.eval()
    x = torch.from_numpy(inputs["x"]).to(case["device"], dtype)
    states = tuple(
        torch.from_numpy(inputs.get(name, np.zeros(case[f"{name}_shape"]))).to(case["device"], dtype) for name in ("h0", "c0")
    )
    for tensor in (x, *states):
        tensor.requires_grad_(track_gradients)
    with torch.set_grad_enabled(track_gradients):
        if "lengths" not in inputs:
            outputs, (h_n, c_n) = module(x, states)
        else:
            lengths = torch.from_numpy(inputs["lengths"])
            packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=case["batch_first"], enforce_sorted=False)
            packed_outputs, (h_n, c_n) = module(packed, states)
            steps = x.shape[1 if case["batch_first"] else 0]
            outputs, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_outputs, batch_first=case["batch_first"], total_length=steps)
    return module, x, states, {"outputs": outputs, "h_n": h_n, "c_n": c_n}


def as_numpy(tensor):
    return tensor.detach().cpu().double().numpy()


def forward(case, weights, inputs):
    *_, results = run(case, weights, inputs, track_gradients=False)
    return {name: as_numpy(tensor) for name, tensor in results.items()}


def gradients(case, weights, inputs):
    module, x, states, results = run(case, weights, inputs, track_gradients=True)
    loss = sum((results[name] * torch.from_numpy(inputs["d_" + name]).to(results[name])).sum() for name in results)
    loss.backward()
    grads = {"grad_x": as_numpy(x.grad), "grad_h0": as_numpy(states[0].grad), "grad_c0": as_numpy(states[1].grad)}
    return {**grads, **{name: as_numpy(parameter.grad) for name, parameter in module.named_parameters()}}
