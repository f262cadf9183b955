"""Adapter for Keras 3's ``keras.layers.LSTM`` on the torch backend (see :mod:`adapters.keras_lstm`);
gradients through torch's autograd."""

from __future__ import annotations

from reference import LSTMGradients, LSTMInputs, LSTMParams, LSTMResult

from .base import RunRequest
from .keras_lstm import KerasLSTMAdapter


class KerasTorchLSTMAdapter(KerasLSTMAdapter):
    name = "keras-torch"
    keras_backend = "torch"
    # Before its first valid step, a masked LSTM on torch outputs zeros.
    masked_output_convention = "carried"

    def _backend_version(self) -> str:
        import torch

        return torch.__version__

    def set_threads(self, count: int) -> None:
        """torch's intra-op thread count, which Keras's torch backend computes with."""
        import torch

        torch.set_num_threads(count)

    def with_derivative(self, function, x, dtype: str) -> tuple:
        import torch

        tensor = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
        values = function(tensor)
        values.sum().backward()
        return values.detach(), tensor.grad

    def _gradients(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, upstream: LSTMResult) -> LSTMGradients:
        import torch

        spec, dtype = request.spec, request.dtype
        layers = self.build(spec, dtype, params)

        def leaf(array):
            return torch.tensor(array, dtype=getattr(torch, dtype), requires_grad=True)

        x = leaf(self.batch_major(inputs, dtype))
        h0, c0 = ([leaf(state) for state in initial] for initial in (inputs.h0, inputs.c0))
        mask = self.mask(inputs)
        outputs, h_n, c_n = self.stack(spec, layers, x, None if mask is None else torch.from_numpy(mask), h0, c0)
        grad_outputs, grad_h_n, grad_c_n = self.upstream_terms(request, upstream)
        pairs = [(outputs, grad_outputs), *zip(h_n, grad_h_n), *zip(c_n, grad_c_n)]
        sum((result * torch.from_numpy(grad)).sum() for result, grad in pairs).backward()
        named = {name: weight.value.grad.numpy() for name, weight in self.named_weights(spec, layers)}
        return self.collect_gradients(request, x.grad.numpy(), [h.grad.numpy() for h in h0], [c.grad.numpy() for c in c0], named)
