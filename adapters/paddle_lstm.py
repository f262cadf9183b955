"""Adapter for ``paddle.nn.LSTM``.

Layout: each layer k holds one cell per direction, reached by the structural names
``{k}.cell`` (forward-only layers) or ``{k}.cell_fw`` / ``{k}.cell_bw``; each cell has
``weight_ih`` [4H, I_k], ``weight_hh`` [4H, R], ``bias_ih`` [4H], ``bias_hh`` [4H]
(gate order i, f, g, o, as in torch) and, with projection, ``weight_ho`` [H, P]:
torch's ``weight_hr`` transposed. The layer's state dict also holds every parameter a
second time under a flat name (``weight_ih_l0``, ``bias_hh_l1_reverse``...);
:func:`flat_aliases` says which, and the adapter does not use them: with ``proj_size`` > 0
they are shifted onto the wrong tensors.
"""

from __future__ import annotations

import inspect

import numpy as np

from reference import LSTMGradients, LSTMInputs, LSTMParams, LSTMResult, LSTMSpec

from .base import DEVICES, BaseAdapter, RunConfig, RunRequest
from .layouts import Layout, array_names, single, to_backend, to_canonical
from .paddle_runtime import default_dtype, device_reasons, import_paddle, use_device
from .standalone import STANDALONE
from .support import INTERFACE_VERSION, STRUCTURAL, Support

PADDLE_LAYOUT = Layout(
    "paddle",
    counted_as="two_biases",
    cells="paddle",
    arrays=(
        single("{cell}.weight_ih", "w_ih"),
        single("{cell}.weight_hh", "w_hh"),
        single("{cell}.bias_ih", "b_ih"),
        single("{cell}.bias_hh", "b_hh"),
        single("{cell}.weight_ho", "w_hr", transposed=True),
    ),
)


def flat_aliases(spec: LSTMSpec) -> dict[str, str]:
    """The flat names paddle.nn.LSTM's state dict gives its parameters a second time, each
    mapped to the structural name of the tensor it holds.

    Paddle names the flat parameter list four names per cell (``weight_ih``, ``weight_hh``,
    ``bias_ih``, ``bias_hh`` with ``_l{k}`` and ``_reverse``), in cell order, whatever each
    cell holds: with a projection (five tensors per cell) the names shift onto the wrong
    tensors and the last cells' tensors get none. Only layers with biases are named so.
    """
    if not spec.bias:
        return {}
    flat = [
        f"{name}_l{layer}{'_reverse' if direction else ''}"
        for layer, direction in spec.cells()
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]
    return dict(zip(flat, array_names(PADDLE_LAYOUT, spec)))


def paddle_layer(spec: LSTMSpec, dtype: str = "float64", dropout: float = 0.0, time_major: bool = True):
    """A paddle.nn.LSTM of ``spec`` in ``dtype`` (no bias: both bias attributes False)."""
    paddle = import_paddle()
    bias = None if spec.bias else False
    # Only Paddle 3 knows proj_size (see has_projection): a layer without one does not name it.
    projection = {"proj_size": spec.proj_size} if spec.proj_size else {}
    with default_dtype(dtype):
        return paddle.nn.LSTM(
            spec.input_size,
            spec.hidden_size,
            num_layers=spec.num_layers,
            direction="bidirect" if spec.bidirectional else "forward",
            time_major=time_major,
            dropout=dropout,
            bias_ih_attr=bias,
            bias_hh_attr=bias,
            **projection,
        )


def has_projection() -> bool:
    """Whether this Paddle's LSTM takes ``proj_size`` (Paddle 3.0 on; 2.6 has no projection)."""
    return "proj_size" in inspect.signature(import_paddle().nn.LSTM.__init__).parameters


def load_params(layer, spec: LSTMSpec, params: LSTMParams, dtype: str) -> None:
    """Set the canonical parameters into a paddle.nn.LSTM, cast to ``dtype``."""
    state = layer.state_dict()
    for name, array in to_backend(PADDLE_LAYOUT, spec, params).items():
        state[name].set_value(array.astype(dtype))


class PaddleStateDict:
    """The second names paddle.nn.LSTM's state dict holds, for every adapter whose backend is
    built from that layer (see :func:`flat_aliases`)."""

    def state_dict_aliases(self, spec: LSTMSpec) -> dict[str, str]:
        """Second names of the layer's arrays in its state dict (see :func:`flat_aliases`)."""
        return flat_aliases(spec)


class PaddleLSTMAdapter(PaddleStateDict, BaseAdapter):
    """paddle.nn.LSTM: layers, forward/bidirect, time_major both ways, sequence_length,
    projection, initial states, float32 and float64, CPU (GPU when present)."""

    name = "paddle"
    layout = PADDLE_LAYOUT
    interface_version = INTERFACE_VERSION
    supports = Support(features=STRUCTURAL, directions={"forward", "bidirectional"}, devices=DEVICES)
    standalone_source = STANDALONE / "paddle_lstm.py"

    def _import_version(self) -> str:
        return import_paddle().__version__

    def _unsupported(self, config: RunConfig) -> list[str]:
        spec = config.spec
        reasons = device_reasons(config)
        if spec.proj_size and not has_projection():
            reasons.append(f"paddle.nn.LSTM of paddle {import_paddle().__version__} has no proj_size (added in Paddle 3.0)")
        return reasons

    def parameter_count(self, spec: LSTMSpec) -> int:
        """Trainable parameters: unique tensors (the layer also exposes aliases) that take
        gradients (without bias Paddle still creates zero bias tensors, frozen)."""
        unique = {id(parameter): parameter for parameter in paddle_layer(spec).parameters() if not parameter.stop_gradient}
        return sum(int(np.prod(parameter.shape)) for parameter in unique.values())

    def _forward(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, track_gradients: bool):
        """Build the layer with ``params`` and run it; returns (layer, x, (h0, c0), (outputs, h_n, c_n))
        as tensors, x and outputs in the request's layout, inputs and states requiring
        gradients when ``track_gradients``."""
        paddle = import_paddle()
        use_device(request.device)
        spec, dtype, time_major = request.spec, request.dtype, not request.batch_first
        layer = paddle_layer(spec, dtype, request.dropout, time_major)
        load_params(layer, spec, params, dtype)
        # Inference mode for plain runs; training mode (same results: dropout only ever acts
        # between layers, and the suite asks gradients without it) when gradients are wanted.
        layer.train() if track_gradients else layer.eval()
        x = inputs.x if time_major else inputs.x.transpose(1, 0, 2)
        x = paddle.to_tensor(np.ascontiguousarray(x, dtype=dtype), stop_gradient=not track_gradients)
        states = tuple(paddle.to_tensor(state.astype(dtype), stop_gradient=not track_gradients) for state in (inputs.h0, inputs.c0))
        lengths = None if inputs.lengths is None else paddle.to_tensor(inputs.lengths)
        with paddle.set_grad_enabled(track_gradients):
            outputs, (h_n, c_n) = layer(x, states, lengths)
        return layer, x, states, (outputs, h_n, c_n)

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        *_, results = self._forward(request, inputs, params, track_gradients=False)
        return LSTMResult(*(tensor.numpy().astype(np.float64) for tensor in results))

    def _gradients(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, upstream: LSTMResult) -> LSTMGradients:
        paddle = import_paddle()
        layer, x, states, results = self._forward(request, inputs, params, track_gradients=True)
        grad_outputs = upstream.outputs.transpose(1, 0, 2) if request.batch_first else upstream.outputs
        loss = sum(
            (result * paddle.to_tensor(np.ascontiguousarray(grad, dtype=request.dtype))).sum()
            for result, grad in zip(results, (grad_outputs, upstream.h_n, upstream.c_n))
        )
        loss.backward()
        state = layer.state_dict()
        grads = {name: state[name].grad.numpy().astype(np.float64) for name in array_names(PADDLE_LAYOUT, request.spec)}
        x_grad, h0_grad, c0_grad = (tensor.grad.numpy().astype(np.float64) for tensor in (x, *states))
        return LSTMGradients(x_grad, h0_grad, c0_grad, to_canonical(PADDLE_LAYOUT, request.spec, grads))
