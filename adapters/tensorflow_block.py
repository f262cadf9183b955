"""Adapter for TensorFlow's fused LSTM kernel, ``tf.raw_ops.BlockLSTMV2`` (what
``tf.compat.v1`` ``LSTMBlockFusedCell`` runs).

The op runs one layer in one direction over a time-major batch ``x`` [T, B, I] from
``h_prev``/``cs_prev`` [B, H], in float16 or float32, with optional peepholes and a cell
clip (``cell_clip`` > 0 clips the cell state to [-cell_clip, cell_clip]; 0 turns it off).
It returns every step's gates, cell states ``cs`` and outputs ``h`` [T, B, H]. It has one
``seq_len_max`` for the whole batch and no per-sequence lengths. As the op's users do,
this adapter composes layers and directions from single calls: a reversed direction runs
the op over the time-flipped sequences and flips its outputs back, and h_n / c_n are the
last step's ``h`` / ``cs``.

Layout of one (layer, direction) cell, under ``layer{k}.{forward|backward}.``:

- ``kernel`` [I_k + H, 4H]: canonical w_ih and w_hh side by side, transposed (the op
  multiplies ``[x, h_prev] @ kernel``);
- ``bias`` [4H] (with a bias): b_ih + b_hh; without one the op's ``b`` is a constant zero;
- ``w_ci``, ``w_cf``, ``w_co`` [H] (with peepholes): the input and forget gates' peepholes
  on the previous cell state, the output gate's on the new one.

Gate blocks inside 4H are ordered i, f, c, o: the canonical order (found by running all
24 orders against the oracle; ``BlockLSTM``, the first version, orders them i, c, f, o
and adds a ``forget_bias``). Mapping back puts the one bias in b_ih and zeros in b_hh.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reference import LSTMGradients, LSTMInputs, LSTMParams, LSTMResult, LSTMSpec

from .base import PLAIN_DTYPES, BaseAdapter, RunConfig, RunRequest, backend_gradients, one_bias_gradients
from .layouts import Layout, Part, Stored, layer_direction_cell, single, stored_count, to_backend
from .standalone import STANDALONE
from .support import INTERFACE_VERSION, STRUCTURAL, Support

# The op's arrays per cell (see the module docstring).
TF_BLOCK_LAYOUT = Layout(
    "tf-block",
    counted_as="tf_block",
    cells="layer_direction",
    arrays=(
        Stored("{cell}.kernel", (Part(("w_ih",)), Part(("w_hh",))), axis=1, transposed=True),
        Stored("{cell}.bias", (Part(("b_ih", "b_hh")),)),
        single("{cell}.wci", "w_ic"),
        single("{cell}.wcf", "w_fc"),
        single("{cell}.wco", "w_oc"),
    ),
)
# The op's peephole inputs.
PEEPHOLE_INPUTS = ("wci", "wcf", "wco")


class TensorFlowBlockLSTMAdapter(BaseAdapter):
    """``tf.raw_ops.BlockLSTMV2``: peepholes, cell clip, reverse and bidirectional by
    flipping, stacked layers, initial states, float32 and float16; gradients through ``tf.GradientTape``
    (the op's registered ``BlockLSTMGradV2``)."""

    name = "tensorflow-block"
    layout = TF_BLOCK_LAYOUT
    interface_version = INTERFACE_VERSION
    supports = Support(
        features=(STRUCTURAL - {"dropout"}) | {"peepholes", "cell_clip"}, dtypes={*PLAIN_DTYPES, "float16"}, directions={"forward", "bidirectional", "reverse"}
    )
    standalone_source = STANDALONE / "tensorflow_block.py"

    def _import_version(self) -> str:
        import tensorflow as tf

        return tf.__version__

    def _unsupported(self, config: RunConfig) -> list[str]:
        spec = config.spec
        reasons = []
        if spec.proj_size:
            reasons.append("BlockLSTMV2 has no projection")
        if config.lengths:
            reasons.append("BlockLSTMV2 has one seq_len_max for the whole batch, no per-sequence lengths")
        if config.dtype not in ("float32", "float16"):
            reasons.append(f"BlockLSTMV2 takes float16 and float32 only, not {config.dtype}")
        return reasons

    def parameter_count(self, spec: LSTMSpec) -> int:
        """The entries of the op's inputs: the op has no count of its own, so its layout's."""
        return stored_count(self.layout, spec)

    def _forward(self, spec: LSTMSpec, x, h0: list, c0: list, weights: Mapping[str, object]):
        """Run the stacked op calls on ``x`` [T, B, I] (tensors) from per-cell initial
        states; returns (outputs [T, B, D*H], h_n list, c_n list) as tensors."""
        import tensorflow as tf

        hidden = spec.hidden_size
        zeros = tf.zeros([hidden], dtype=x.dtype)
        h_n, c_n = [], []
        for layer in range(spec.num_layers):
            outputs = []
            for direction in range(spec.num_directions):
                index, prefix = spec.cell_index(layer, direction), layer_direction_cell(spec, layer, direction)
                reversed_ = spec.runs_reversed(direction)
                steps = tf.reverse(x, axis=[0]) if reversed_ else x
                result = tf.raw_ops.BlockLSTMV2(
                    seq_len_max=tf.constant(int(x.shape[0]), dtype=tf.int64),
                    x=steps,
                    cs_prev=c0[index],
                    h_prev=h0[index],
                    w=weights[f"{prefix}.kernel"],
                    b=weights.get(f"{prefix}.bias", tf.zeros([4 * hidden], dtype=x.dtype)),
                    **{key: weights.get(f"{prefix}.{key}", zeros) for key in PEEPHOLE_INPUTS},
                    cell_clip=spec.cell_clip or 0.0,
                    use_peephole=spec.peepholes,
                )
                h_n.append(result.h[-1])
                c_n.append(result.cs[-1])
                outputs.append(tf.reverse(result.h, axis=[0]) if reversed_ else result.h)
            x = tf.concat(outputs, axis=2)
        return x, h_n, c_n

    @staticmethod
    def _tensors(request: RunRequest, inputs: LSTMInputs, params: LSTMParams):
        """(x [T, B, I], h0 list, c0 list, weights by layout name) as tensors in the request's dtype."""
        import tensorflow as tf

        def tensor(array: np.ndarray):
            return tf.constant(np.asarray(array, dtype=request.dtype))

        weights = {name: tensor(array) for name, array in to_backend(TF_BLOCK_LAYOUT, request.spec, params).items()}
        return tensor(inputs.x), [tensor(h) for h in inputs.h0], [tensor(c) for c in inputs.c0], weights

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        outputs, h_n, c_n = self._forward(request.spec, *self._tensors(request, inputs, params))
        outputs = np.asarray(outputs, dtype=np.float64)
        return LSTMResult(
            outputs.transpose(1, 0, 2).copy() if request.batch_first else outputs,
            np.stack([np.asarray(h, dtype=np.float64) for h in h_n]),
            np.stack([np.asarray(c, dtype=np.float64) for c in c_n]),
        )

    def _gradients(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, upstream: LSTMResult) -> LSTMGradients:
        import tensorflow as tf

        spec = request.spec
        x, h0, c0, weights = self._tensors(request, inputs, params)
        with tf.GradientTape() as tape:
            tape.watch([x, h0, c0, weights])
            outputs, h_n, c_n = self._forward(spec, x, h0, c0, weights)
            pairs = [(outputs, upstream.outputs), *zip(h_n, upstream.h_n), *zip(c_n, upstream.c_n)]
            loss = tf.add_n([tf.reduce_sum(result * grad.astype(request.dtype)) for result, grad in pairs])
        grad_x, grad_h0, grad_c0, grad_weights = tape.gradient(loss, [x, h0, c0, weights])
        gradients = self.backend_to_canonical(spec, {name: np.asarray(grad, dtype=np.float64) for name, grad in grad_weights.items()})
        return backend_gradients(request, grad_x, grad_h0, grad_c0, one_bias_gradients(gradients), x_batch_major=False)
