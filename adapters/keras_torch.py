"""Adapter for Keras 3's ``keras.layers.LSTM`` on the torch backend (see :mod:`adapters.keras_lstm`);
gradients through torch's autograd."""

from __future__ import annotations

import numpy as np

from reference import LSTMGradients, LSTMInputs, LSTMParams, LSTMResult

from .base import RunRequest
from .keras_lstm import KerasLSTMAdapter
from .torch_lstm import on_torch_threads


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

    def run_threaded(self, request: RunRequest, count: int) -> LSTMResult:
        """``run(request)`` on ``count`` of torch's intra-op threads (see :func:`adapters.torch_lstm.on_torch_threads`)."""
        return on_torch_threads(count, lambda: self.run(request))

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

        def tensor(array):
            # NumPy's bfloat16 (ml_dtypes) does not convert to torch: float64 does, and holds
            # every value of the run's dtype exactly.
            return torch.from_numpy(np.asarray(array, dtype=np.float64)).to(getattr(torch, dtype))

        def leaf(array):
            return tensor(array).requires_grad_()

        def numpy(gradient):
            return gradient.double().numpy()

        x = leaf(self.batch_major(inputs, "float64"))
        h0, c0 = ([leaf(state) for state in initial] for initial in (inputs.h0, inputs.c0))
        mask = self.mask(inputs)
        outputs, h_n, c_n = self.stack(spec, layers, x, None if mask is None else torch.from_numpy(mask), h0, c0)
        grad_outputs, grad_h_n, grad_c_n = self.upstream_terms(request, upstream)
        pairs = [(outputs, grad_outputs), *zip(h_n, grad_h_n), *zip(c_n, grad_c_n)]
        sum((result * tensor(grad)).sum() for result, grad in pairs).backward()
        named = {name: numpy(weight.value.grad) for name, weight in self.named_weights(spec, layers)}
        return self.collect_gradients(request, numpy(x.grad), [numpy(h.grad) for h in h0], [numpy(c.grad) for c in c0], named)
