"""torch.nn.LSTM exported with torch.onnx.export (dynamo=True for torch-onnx, dynamo=False for
torch-onnx-torchscript; batch and time axes dynamic, exported from inputs of other sizes),
then run by ONNX Runtime's CPU execution provider."""

import io

import numpy as np
import onnxruntime
import torch


class DeployedLSTM(torch.nn.Module):
    """What is exported: (x, [lengths], [h0, c0]) -> (y, h_n, c_n), y in x's layout."""

    def __init__(self, lstm, batch_first, lengths, states):
        super().__init__()
        self.lstm, self.batch_first, self.lengths, self.states = lstm, batch_first, lengths, states

    def forward(self, x, *rest):
        states = tuple(rest[-2:]) if self.states else None
        if not self.lengths:
            y, (h_n, c_n) = self.lstm(x, states)
            return y, h_n, c_n
        steps = x.shape[1] if self.batch_first else x.shape[0]
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, rest[0], batch_first=self.batch_first, enforce_sorted=False)
        packed_y, (h_n, c_n) = self.lstm(packed, states)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_y, batch_first=self.batch_first, total_length=steps)
        return y, h_n, c_n


def export(case, weights, inputs):
    spec, dtype, batch_first = case["spec"], getattr(torch, case["dtype"]), case["batch_first"]
    lstm = torch.nn.LSTM(
        spec["input_size"], spec["hidden_size"], num_layers=spec["num_layers"], bias=spec["bias"], batch_first=batch_first,
        bidirectional=spec["bidirectional"], proj_size=spec["proj_size"], dtype=dtype,
    )
    lstm.load_state_dict({name: torch.from_numpy(np.asarray(value)).to(dtype) for name, value in weights.items()})
    lengths, states = "lengths" in inputs, "h0" in inputs
    module = DeployedLSTM(lstm.eval(), batch_first, lengths, states)
    # Example inputs of other sizes than the run's (torch.export takes sizes 0 and 1 for constants).
    steps, batch = (3 if size == 2 else 2 for size in inputs["x"].shape[:2][:: -1 if batch_first else 1])
    args = [torch.zeros((batch, steps, spec["input_size"]) if batch_first else (steps, batch, spec["input_size"]), dtype=dtype)]
    if lengths:
        args.append(torch.tensor([max(1, steps - row) for row in range(batch)], dtype=torch.int64))
    if states:
        args += [torch.zeros(case["h0_shape"][0], batch, case["h0_shape"][2], dtype=dtype), torch.zeros(case["c0_shape"][0], batch, case["c0_shape"][2], dtype=dtype)]
    names = ["x"] + (["lengths"] if lengths else []) + (["h0", "c0"] if states else [])
    time_axis, batch_axis = (1, 0) if batch_first else (0, 1)
    if case["backend"] == "torch-onnx-torchscript":
        axes = {"x": {time_axis: "T", batch_axis: "B"}, "lengths": {0: "B"}, "h0": {1: "B"}, "c0": {1: "B"}}
        axes.update({"y": {time_axis: "T", batch_axis: "B"}, "h_n": {1: "B"}, "c_n": {1: "B"}})
        buffer = io.BytesIO()
        torch.onnx.export(module, tuple(args), buffer, dynamo=False, input_names=names, output_names=["y", "h_n", "c_n"],
                          dynamic_axes={name: axes[name] for name in [*names, "y", "h_n", "c_n"]})
        return buffer.getvalue()
    # The dynamo exporter leaves its loop decomposition of aten.lstm in the operator's dispatch
    # cache: a second export in a process would keep the example's length (torch 2.13).
    torch.ops.aten.lstm.input._dispatch_cache.clear()
    steps_dim, batch_dim = torch.export.Dim("T"), torch.export.Dim("B")
    rest = ([{0: batch_dim}] if lengths else []) + ([{1: batch_dim}, {1: batch_dim}] if states else [])
    shapes = ({time_axis: steps_dim, batch_axis: batch_dim}, tuple(rest)) if rest else ({time_axis: steps_dim, batch_axis: batch_dim},)
    program = torch.onnx.export(module, tuple(args), dynamo=True, input_names=names, output_names=["y", "h_n", "c_n"], dynamic_shapes=shapes)
    return program.model_proto.SerializeToString()


def forward(case, weights, inputs):
    dtype = case["dtype"]
    session = onnxruntime.InferenceSession(export(case, weights, inputs), providers=["CPUExecutionProvider"])
    feeds = {"x": np.ascontiguousarray(inputs["x"], dtype=dtype)}
    if "lengths" in inputs:
        feeds["lengths"] = inputs["lengths"].astype(np.int64)
    if "h0" in inputs:
        feeds["h0"], feeds["c0"] = inputs["h0"].astype(dtype), inputs["c0"].astype(dtype)
    outputs, h_n, c_n = session.run(None, feeds)
    return {"outputs": outputs, "h_n": h_n, "c_n": c_n}
