"""Adapter for Paddle's legacy ``lstm`` op (what ``fluid.layers.dynamic_lstm`` called).

The op runs one layer in one direction over sequences packed one after another
(``x`` [sum of lengths, 4H], boundaries given as a LoD on the tensor) and takes the
input already projected. As ``dynamic_lstm`` users did, this adapter projects the
input in Paddle (``x @ input_projection``, in the run's dtype) and stacks layers and
directions from single op calls, keeping the sequences packed between layers.

Layout of one (layer, direction) cell, under ``layer{k}.{forward|backward}.``:

- ``input_projection`` [I_k, 4H]: canonical w_ih, transposed;
- ``weight`` [H, 4H]: canonical w_hh, transposed (used as ``h_prev @ weight``);
- ``bias`` [1, 4H], or [1, 7H] with peepholes: b_ih + b_hh, then w_ic, w_fc, w_oc.

Gate blocks inside 4H are ordered candidate, input, forget, output (g, i, f, o). The
op has one bias where the canonical layout has two: mapping back puts it all in b_ih
and zeros in b_hh, so a round trip preserves b_ih + b_hh, which is all the op sees.
The op returns no final states: h_n and c_n are read from the rows of each
sequence's last processed step (the initial state for an empty sequence).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reference import LSTMGradients, LSTMInputs, LSTMParams, LSTMResult, LSTMSpec

from .base import DEVICES, BaseAdapter, RunConfig, RunRequest, UnsupportedCase, one_bias_gradients
from .layouts import Layout, Part, Stored, layer_direction_cell, single, to_backend
from .paddle_runtime import default_dtype, device_reasons, import_paddle, use_device
from .primitives import Primitive
from .standalone import STANDALONE
from .support import INTERFACE_VERSION, STRUCTURAL, Support

# The op's arrays per cell (see the module docstring): gate blocks g, i, f, o; one bias
# row, the peepholes after it.
LEGACY_LAYOUT = Layout(
    "paddle-legacy",
    counted_as="single_bias",
    cells="layer_direction",
    gate_order=("g", "i", "f", "o"),
    always=("b_ih", "b_hh"),
    arrays=(
        single("{cell}.input_projection", "w_ih", transposed=True),
        single("{cell}.weight", "w_hh", transposed=True),
        Stored("{cell}.bias", (Part(("b_ih", "b_hh")), Part(("w_ic",)), Part(("w_fc",)), Part(("w_oc",))), row=True),
    ),
)
# The op's activation arguments; any other string aborts the process inside Paddle.
LEGACY_ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")


def pack(padded: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Time-major [T, B, F] to packed [sum(lengths), F]: sequence 0's valid steps, then sequence 1's..."""
    return np.concatenate([padded[:length, b] for b, length in enumerate(lengths)], axis=0)


def unpack(packed: np.ndarray, lengths: np.ndarray, steps: int) -> np.ndarray:
    """Packed [sum(lengths), F] back to time-major [T, B, F], zeros at padded steps."""
    padded = np.zeros((steps, len(lengths), packed.shape[1]), dtype=packed.dtype)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    for b, length in enumerate(lengths):
        padded[:length, b] = packed[offsets[b] : offsets[b] + length]
    return padded


class PaddleLegacyLSTMAdapter(BaseAdapter):
    """``paddle._C_ops.lstm``: peepholes on/off, is_reverse, the activation options,
    variable lengths (including 0) through LoD offsets, initial states, float32/float64;
    layers and directions composed from single calls."""

    name = "paddle-legacy"
    layout = LEGACY_LAYOUT
    interface_version = INTERFACE_VERSION
    supports = Support(
        features=(STRUCTURAL - {"dropout"}) | {"peepholes"}, activations=LEGACY_ACTIVATIONS, directions={"forward", "bidirectional", "reverse"}, devices=DEVICES
    )
    standalone_source = STANDALONE / "paddle_legacy.py"

    def _import_version(self) -> str:
        paddle = import_paddle()
        if not hasattr(paddle._C_ops, "lstm"):
            # Paddle 2.6 has the op only as _legacy_C_ops.lstm(Input, Weight, Bias, *attributes),
            # which cannot take the initial states (H0, C0) this adapter passes for gradients.
            raise ImportError(
                f"paddle {paddle.__version__} has no paddle._C_ops.lstm, which this adapter calls (Paddle 3.0 on); its "
                "_legacy_C_ops.lstm takes no initial states"
            )
        return paddle.__version__

    def _unsupported(self, config: RunConfig) -> list[str]:
        spec = config.spec
        reasons = []
        if spec.proj_size:
            reasons.append("the legacy lstm op has no projection")
        if not spec.bias:
            reasons.append("the legacy lstm op always takes a bias row (its Bias input is required)")
        for role in ("gate_activation", "cell_activation", "candidate_activation"):
            if getattr(spec, role) not in LEGACY_ACTIVATIONS:
                reasons.append(f"the legacy lstm op has no {getattr(spec, role)!r} {role}")
        return reasons + device_reasons(config)

    def _parameters(self, spec: LSTMSpec, arrays: Mapping[str, np.ndarray], dtype: str) -> dict:
        """Paddle parameters (trainable tensors) holding ``arrays``, by name."""
        paddle = import_paddle()
        parameters = {}
        with default_dtype(dtype):
            for name, array in arrays.items():
                parameter = paddle.create_parameter(list(array.shape), dtype)
                parameter.set_value(np.ascontiguousarray(array, dtype=dtype))
                parameters[name] = parameter
        return parameters

    def matmul_primitive(self, a: np.ndarray, b: np.ndarray, dtype: str) -> Primitive:
        """paddle.matmul, which projects each layer's input before the op (see :mod:`adapters.primitives`;
        the op's activations are internal to it)."""
        paddle = import_paddle()
        product = paddle.matmul(*(paddle.to_tensor(matrix.astype(dtype)) for matrix in (a, b)))
        return Primitive(product.numpy().astype(np.float64), None, str(product.dtype).rpartition(".")[2])

    def parameter_count(self, spec: LSTMSpec) -> int:
        from reference import init_params

        parameters = self._parameters(spec, to_backend(LEGACY_LAYOUT, spec, init_params(spec, seed=0)), "float64")
        unique = {id(parameter): parameter for parameter in parameters.values()}
        return sum(int(np.prod(parameter.shape)) for parameter in unique.values())

    def _forward(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, track_gradients: bool):
        """Run the stacked op calls on packed sequences. Returns (parameters, x, states, top,
        (h_n, c_n)) as Paddle tensors: x packed [sum(lengths), I], states one (h0, c0) pair per
        cell (None when the op ran without initial states), top the last layer's packed
        outputs, h_n and c_n [L*D, B, R] / [L*D, B, H]."""
        paddle = import_paddle()
        use_device(request.device)
        spec, dtype = request.spec, request.dtype
        lengths = inputs.lengths_or_full()
        if lengths.sum() == 0:
            raise UnsupportedCase(self.name, ("every sequence is empty: the op divides by zero (SIGFPE) on 0 rows",))
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        empty = paddle.to_tensor((lengths == 0)[:, None])
        parameters = self._parameters(spec, to_backend(LEGACY_LAYOUT, spec, params), dtype)

        def tensor(array: np.ndarray):
            return paddle.to_tensor(np.ascontiguousarray(array, dtype=dtype), stop_gradient=not track_gradients)

        x = tensor(pack(inputs.x, lengths))
        # Gradients with respect to the initial states need them as inputs (zeros when not given).
        pass_states = inputs.initial_states_given or track_gradients
        states = [(tensor(inputs.h0[index]), tensor(inputs.c0[index])) if pass_states else None for index in range(spec.num_cells)]
        final_h, final_c = [], []
        layer_input = x
        with paddle.set_grad_enabled(track_gradients):
            for layer in range(spec.num_layers):
                direction_outputs = []
                for direction in range(spec.num_directions):
                    index, prefix = spec.cell_index(layer, direction), layer_direction_cell(spec, layer, direction)
                    projected = paddle.matmul(layer_input, parameters[f"{prefix}.input_projection"])
                    projected.get_tensor().set_lod([offsets.tolist()])
                    h0, c0 = states[index] or (None, None)
                    hidden, cell = paddle._C_ops.lstm(
                        projected,
                        h0,
                        c0,
                        parameters[f"{prefix}.weight"],
                        parameters[f"{prefix}.bias"],
                        spec.peepholes,
                        spec.runs_reversed(direction),
                        not track_gradients,
                        spec.gate_activation,
                        spec.cell_activation,
                        spec.candidate_activation,
                    )
                    # The forward direction ends at a sequence's last row, the reverse one at its first;
                    # empty sequences have no row (clamped to stay in range, replaced by the initial state).
                    first_rows, last_rows = offsets[:-1], offsets[1:] - 1
                    final_row = paddle.to_tensor(np.minimum(first_rows if spec.runs_reversed(direction) else last_rows, offsets[-1] - 1))
                    initial = states[index] or (tensor(inputs.h0[index]), tensor(inputs.c0[index]))
                    final_h.append(paddle.where(empty, initial[0], paddle.gather(hidden, final_row)))
                    final_c.append(paddle.where(empty, initial[1], paddle.gather(cell, final_row)))
                    direction_outputs.append(hidden)
                layer_input = paddle.concat(direction_outputs, axis=1) if spec.bidirectional else direction_outputs[0]
        return parameters, x, states, layer_input, (paddle.stack(final_h), paddle.stack(final_c))

    def _padded(self, request: RunRequest, inputs: LSTMInputs, packed: np.ndarray) -> np.ndarray:
        """Packed rows [sum(lengths), F] as float64 in the request's layout, zeros at padded steps."""
        padded = unpack(packed.astype(np.float64), inputs.lengths_or_full(), inputs.steps)
        return padded.transpose(1, 0, 2).copy() if request.batch_first else padded

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        *_, top, (h_n, c_n) = self._forward(request, inputs, params, track_gradients=False)
        return LSTMResult(self._padded(request, inputs, top.numpy()), h_n.numpy().astype(np.float64), c_n.numpy().astype(np.float64))

    def _gradients(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, upstream: LSTMResult) -> LSTMGradients:
        paddle = import_paddle()
        parameters, x, states, top, finals = self._forward(request, inputs, params, track_gradients=True)
        grad_top = pack(upstream.outputs, inputs.lengths_or_full())
        pairs = zip((top, *finals), (grad_top, upstream.h_n, upstream.c_n))
        loss = sum((result * paddle.to_tensor(np.ascontiguousarray(grad, dtype=request.dtype))).sum() for result, grad in pairs)
        loss.backward()
        grads = {name: parameter.grad.numpy().astype(np.float64) for name, parameter in parameters.items()}
        gradients = self.backend_to_canonical(request.spec, grads)
        return LSTMGradients(
            x=self._padded(request, inputs, x.grad.numpy()),
            h0=np.stack([h0.grad.numpy() for h0, _ in states]).astype(np.float64),
            c0=np.stack([c0.grad.numpy() for _, c0 in states]).astype(np.float64),
            params=one_bias_gradients(gradients),
        )
