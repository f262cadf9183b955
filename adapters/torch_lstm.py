"""Adapter for ``torch.nn.LSTM``.

Layout (:mod:`adapters.shared_layouts`, which MindSpore and the exports share): per
layer k, with suffix ``_reverse`` for the backward direction,
``weight_ih_lk`` [4H, I_k], ``weight_hh_lk`` [4H, R], ``bias_ih_lk`` [4H],
``bias_hh_lk`` [4H] and, with ``proj_size`` P > 0, ``weight_hr_lk`` [P, H]: the
canonical layout under other names, gate order i, f, g, o. Variable lengths go
through ``pack_padded_sequence(..., enforce_sorted=False)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from reference import LSTMGradients, LSTMInputs, LSTMParams, LSTMResult, LSTMSpec

from .base import DEVICES, DTYPES, BaseAdapter, RunConfig, RunRequest
from .primitives import Primitive
from .layouts import to_backend, to_canonical
from .shared_layouts import TORCH_LAYOUT
from .standalone import STANDALONE
from .support import INTERFACE_VERSION, STRUCTURAL, Support

def to_numpy(tensor) -> np.ndarray:
    """A torch tensor as a float64 NumPy array on the CPU."""
    return tensor.detach().cpu().double().numpy()


def torch_module(spec: LSTMSpec, dropout: float = 0.0, dtype: str = "float64", device: str = "cpu", batch_first: bool = False):
    """A torch.nn.LSTM of ``spec`` in ``dtype`` on ``device``."""
    import torch

    return torch.nn.LSTM(
        spec.input_size,
        spec.hidden_size,
        num_layers=spec.num_layers,
        bias=spec.bias,
        batch_first=batch_first,
        bidirectional=spec.bidirectional,
        proj_size=spec.proj_size,
        dropout=dropout,
        dtype=getattr(torch, dtype),
        device=device,
    )


def load_torch_params(module, spec: LSTMSpec, params: LSTMParams) -> None:
    """Load canonical parameters into a torch.nn.LSTM (cast to its dtype and device)."""
    import torch

    module.load_state_dict({name: torch.from_numpy(array) for name, array in to_backend(TORCH_LAYOUT, spec, params).items()})


Result = TypeVar("Result")


def on_torch_threads(count: int, call: Callable[[], Result]) -> Result:
    """``call()`` with torch's intra-op thread count (OpenMP's and MKL's pools, which
    torch resizes at run time) set to ``count``, then back to what it was."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        return call()
    finally:
        torch.set_num_threads(previous)


class TorchLSTMAdapter(BaseAdapter):
    """torch.nn.LSTM: every structural feature torch has, float32/float64/bfloat16/float16, CPU and CUDA."""

    name = "torch"
    layout = TORCH_LAYOUT
    interface_version = INTERFACE_VERSION
    supports = Support(features=STRUCTURAL, dtypes=DTYPES, directions={"forward", "bidirectional"}, devices=DEVICES)
    standalone_source = STANDALONE / "torch_lstm.py"

    def _import_version(self) -> str:
        import torch

        return torch.__version__

    def _unsupported(self, config: RunConfig) -> list[str]:
        reasons = []
        if config.zero_length:
            reasons.append("pack_padded_sequence rejects sequences of length 0")
        if config.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                reasons.append("no CUDA device is available to torch")
        return reasons

    def parameter_count(self, spec: LSTMSpec) -> int:
        return sum(parameter.numel() for parameter in torch_module(spec, device="meta").parameters())

    def activation_primitive(self, name: str, x: np.ndarray, dtype: str) -> Primitive:
        """torch.sigmoid and torch.tanh, the ops of aten's LSTM cell (see :mod:`adapters.primitives`);
        the derivative by autograd."""
        import torch

        tensor = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
        values = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}[name](tensor)
        values.sum().backward()
        return Primitive(to_numpy(values), to_numpy(tensor.grad), str(values.dtype).removeprefix("torch."))

    def matmul_primitive(self, a: np.ndarray, b: np.ndarray, dtype: str) -> Primitive:
        """torch.matmul."""
        import torch

        product = torch.matmul(*(torch.tensor(matrix, dtype=getattr(torch, dtype)) for matrix in (a, b)))
        return Primitive(to_numpy(product), None, str(product.dtype).removeprefix("torch."))

    def set_threads(self, count: int) -> None:
        """torch's intra-op thread count (beyond the physical cores only when set here)."""
        import torch

        torch.set_num_threads(count)

    def run_threaded(self, request: RunRequest, count: int) -> LSTMResult:
        """``run(request)`` on ``count`` of torch's intra-op threads (see :func:`on_torch_threads`)."""
        return on_torch_threads(count, lambda: self.run(request))

    def _forward(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, track_gradients: bool):
        """Build the module with ``params`` and run it; returns (module, x, (h0, c0), (outputs, h_n, c_n))
        as tensors, x and outputs in the request's layout, inputs and states leaves requiring
        gradients when ``track_gradients``."""
        import torch

        spec, dtype, device, batch_first = request.spec, getattr(torch, request.dtype), request.device, request.batch_first
        module = torch_module(spec, request.dropout, request.dtype, device, batch_first)
        load_torch_params(module, spec, params)
        module.eval()
        x = torch.from_numpy(inputs.x.transpose(1, 0, 2) if batch_first else inputs.x).to(device, dtype)
        states = tuple(torch.from_numpy(state).to(device, dtype) for state in (inputs.h0, inputs.c0))
        for tensor in (x, *states):
            tensor.requires_grad_(track_gradients)
        with torch.set_grad_enabled(track_gradients):
            if inputs.lengths is None:
                outputs, (h_n, c_n) = module(x, states)
            else:
                packed = torch.nn.utils.rnn.pack_padded_sequence(
                    x, torch.from_numpy(inputs.lengths), batch_first=batch_first, enforce_sorted=False
                )
                packed_outputs, (h_n, c_n) = module(packed, states)
                outputs, _ = torch.nn.utils.rnn.pad_packed_sequence(
                    packed_outputs, batch_first=batch_first, total_length=inputs.steps
                )
        return module, x, states, (outputs, h_n, c_n)

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        *_, results = self._forward(request, inputs, params, track_gradients=False)
        return LSTMResult(*(to_numpy(tensor) for tensor in results))

    def _gradients(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, upstream: LSTMResult) -> LSTMGradients:
        import torch

        module, x, states, results = self._forward(request, inputs, params, track_gradients=True)
        grad_outputs = upstream.outputs.transpose(1, 0, 2) if request.batch_first else upstream.outputs
        loss = sum(
            (result * torch.from_numpy(np.ascontiguousarray(grad)).to(result)).sum()
            for result, grad in zip(results, (grad_outputs, upstream.h_n, upstream.c_n))
        )
        loss.backward()
        grads = {name: to_numpy(parameter.grad) for name, parameter in module.named_parameters()}
        return LSTMGradients(to_numpy(x.grad), to_numpy(states[0].grad), to_numpy(states[1].grad), to_canonical(TORCH_LAYOUT, request.spec, grads))
