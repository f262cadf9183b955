"""Adapter for ``mindspore.nn.LSTM`` (PyNative mode, CPU).

Layout: torch's (``weight_ih_l{k}[_reverse]`` [4H, I_k], ``weight_hh_l{k}`` [4H, H],
``bias_ih_l{k}``, ``bias_hh_l{k}`` [4H], gate order i, f, g, o: established by running
the module on torch-layout weights against the oracle). Per-sequence lengths go in as
``seq_length`` (int32 [B]); the module zeroes outputs at padded steps, takes each
sequence's state at its own last step and runs a reversed direction from each
sequence's own end, as the oracle does. MindSpore's CPU LSTM kernel takes float32 and
float16 only (float64 raises a TypeError); it has no projection and no variant features.

MindSpore 2.10's wheel is built against NumPy 1 and fails at run time under NumPy 2
(its extension reaches for ``numpy.core``), while JAX needs NumPy 2: install it in an
environment of its own (``pip install "lstm-conformance[mindspore]"``) and point the
suite at that interpreter (``--interpreter mindspore=PYTHON``).
"""

from __future__ import annotations

import os

import numpy as np

from reference import LSTMGradients, LSTMInputs, LSTMParams, LSTMResult, LSTMSpec

from .base import PLAIN_DTYPES, BaseAdapter, RunConfig, RunRequest
from .primitives import Primitive
from .standalone import STANDALONE
from .support import INTERFACE_VERSION, STRUCTURAL, Support
from .shared_layouts import TORCH_LAYOUT


def mindspore_module(spec: LSTMSpec, dropout: float = 0.0, batch_first: bool = False, dtype: str = "float32"):
    """A ``mindspore.nn.LSTM`` of ``spec`` in ``dtype`` (float32 or float16), in inference mode."""
    import mindspore as ms

    module = ms.nn.LSTM(
        spec.input_size,
        spec.hidden_size,
        num_layers=spec.num_layers,
        has_bias=spec.bias,
        batch_first=batch_first,
        dropout=dropout,
        bidirectional=spec.bidirectional,
        dtype=getattr(ms, dtype),
    )
    module.set_train(False)
    return module


class MindSporeLSTMAdapter(BaseAdapter):
    """mindspore.nn.LSTM: layers, directions, no bias, lengths, initial states, float32, float16."""

    name = "mindspore"
    layout = TORCH_LAYOUT
    interface_version = INTERFACE_VERSION
    supports = Support(features=STRUCTURAL, dtypes={*PLAIN_DTYPES, "float16"}, directions={"forward", "bidirectional"})
    standalone_source = STANDALONE / "mindspore_lstm.py"
    # In PyNative mode every op of the per-step loop it runs with seq_length dispatches on
    # its own: 1.1 to 1.6 s for a run of 3 layers over 40 steps with lengths, on one thread.
    costly_runs = True
    # The thread count set in this process (None: MindSpore's own choice).
    threads: int | None = None

    def _import_version(self) -> str:
        import mindspore as ms

        ms.set_context(mode=ms.PYNATIVE_MODE, device_target="CPU")
        # MindSpore's CPU runtime sizes its own thread pool and does not read OMP_NUM_THREADS,
        # the variable the suite sets a backend's process to (one thread unless a thread
        # check asks for more): it gets that count here.
        threads = os.environ.get("OMP_NUM_THREADS", "")
        if self.threads is None and threads.isdigit() and int(threads) > 0:
            self.set_threads(int(threads))
        return f"{ms.__version__} (NumPy {np.__version__})"

    def set_threads(self, count: int) -> None:
        """The CPU runtime's thread count (``mindspore.device_context.cpu.op_tuning.threads_num``,
        which can be set once per process)."""
        import mindspore as ms

        if self.threads != count:
            ms.device_context.cpu.op_tuning.threads_num(count)
            self.threads = count

    def _unsupported(self, config: RunConfig) -> list[str]:
        spec = config.spec
        reasons = []
        if spec.proj_size:
            reasons.append("mindspore.nn.LSTM has no projection")
        if config.dtype not in ("float32", "float16"):
            reasons.append(f"MindSpore's CPU LSTM kernel takes float32 and float16, not {config.dtype}")
        return reasons

    def parameter_count(self, spec: LSTMSpec) -> int:
        return sum(int(np.prod(parameter.shape)) for parameter in mindspore_module(spec).trainable_params())

    def activation_primitive(self, name: str, x: np.ndarray, dtype: str) -> Primitive:
        """ops.sigmoid and ops.tanh, what the cell loop run with seq_length computes with (see
        :mod:`adapters.primitives`); the derivative by mindspore.grad."""
        import mindspore as ms

        function = {"sigmoid": ms.ops.sigmoid, "tanh": ms.ops.tanh}[name]
        tensor = ms.Tensor(x.astype(dtype))
        values = function(tensor)
        derivative = ms.grad(lambda inputs: function(inputs).sum())(tensor)
        return Primitive(values.asnumpy().astype(np.float64), derivative.asnumpy().astype(np.float64), str(values.dtype).lower())

    def matmul_primitive(self, a: np.ndarray, b: np.ndarray, dtype: str) -> Primitive:
        """ops.matmul."""
        import mindspore as ms

        product = ms.ops.matmul(ms.Tensor(a.astype(dtype)), ms.Tensor(b.astype(dtype)))
        return Primitive(product.asnumpy().astype(np.float64), None, str(product.dtype).lower())

    def _module_and_arguments(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> tuple:
        """The module holding ``params`` and its arguments: (module, x in the request's layout, h0, c0, seq_length or None)."""
        from mindspore import Tensor

        module = mindspore_module(request.spec, request.dropout, request.batch_first, request.dtype)
        weights = self.canonical_to_backend(request.spec, params)
        for name, parameter in module.parameters_and_names():
            parameter.set_data(Tensor(weights[name].astype(request.dtype)))
        x = inputs.x.transpose(1, 0, 2) if request.batch_first else inputs.x
        tensors = [Tensor(np.ascontiguousarray(array).astype(request.dtype)) for array in (x, inputs.h0, inputs.c0)]
        lengths = None if inputs.lengths is None else Tensor(np.asarray(inputs.lengths, dtype=np.int32))
        return module, *tensors, lengths

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        module, x, h0, c0, lengths = self._module_and_arguments(request, inputs, params)
        outputs, (h_n, c_n) = module(x, (h0, c0), lengths)
        return LSTMResult(*(tensor.asnumpy().astype(np.float64) for tensor in (outputs, h_n, c_n)))

    def _gradients(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, upstream: LSTMResult) -> LSTMGradients:
        import mindspore as ms

        module, x, h0, c0, lengths = self._module_and_arguments(request, inputs, params)
        grad_outputs = upstream.outputs.transpose(1, 0, 2) if request.batch_first else upstream.outputs
        terms = [ms.Tensor(np.ascontiguousarray(grad).astype(request.dtype)) for grad in (grad_outputs, upstream.h_n, upstream.c_n)]

        def loss(x, h0, c0):
            outputs, (h_n, c_n) = module(x, (h0, c0), lengths)
            return sum((result * term).sum() for result, term in zip((outputs, h_n, c_n), terms))

        names, weights = zip(*module.parameters_and_names())
        (grad_x, grad_h0, grad_c0), grad_weights = ms.grad(loss, grad_position=(0, 1, 2), weights=list(weights))(x, h0, c0)
        named = {name: grad.asnumpy().astype(np.float64) for name, grad in zip(names, grad_weights)}
        as_float64 = [grad.asnumpy().astype(np.float64) for grad in (grad_x, grad_h0, grad_c0)]
        return LSTMGradients(*as_float64, self.backend_to_canonical(request.spec, named))
