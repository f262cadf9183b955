"""A tiny example adapter, written the way an out-of-tree backend would be.

The backend is :func:`adapters.standalone.example.keras_style_lstm`, a small NumPy LSTM laid out like Keras:
``kernel`` [I, 4H], ``recurrent_kernel`` [H, 4H], one ``bias`` [4H], gate blocks in the
order i, f, c, o, batch-major input. It runs in whatever float dtype it is given, float16
included (NumPy rounds every operation's result to it; NumPy has no bfloat16). The
adapter maps the oracle's canonical parameters onto that layout and declares what the
backend runs (:class:`adapters.support.Support`: initial states, batch-major input,
float16 besides float32 and float64), so the suite never sends it layers, directions,
lengths, projection or anything else, and those cases skip with the reason. ``adapters/README.md`` walks through it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reference import CellParams, LSTMInputs, LSTMParams, LSTMResult, LSTMSpec

from .base import BaseAdapter, RunConfig, RunRequest
from .standalone import STANDALONE
from .standalone.example import keras_style_lstm
from .support import INTERFACE_VERSION, Support


# Keras's gate blocks (i, f, c, o) are the canonical blocks (i, f, g, o) in the same order.
KERAS_NAMES = ("kernel", "recurrent_kernel", "bias")


class ExampleAdapter(BaseAdapter):
    """One forward layer with bias, default activations, full-length sequences."""

    name = "example-keras-style"
    parameter_layout = "single_bias"
    # Written against this interface; it is sent nothing but what ``supports`` lists.
    interface_version = INTERFACE_VERSION
    supports = Support(features={"initial_states", "batch_first"}, dtypes={"float32", "float64", "float16"})
    # The file a standalone reproducer runs the backend from (``lstm-parity repro``).
    standalone_source = STANDALONE / "example.py"
    # The backend's matrix product (NumPy's, through its BLAS).
    product = staticmethod(np.matmul)

    def _import_version(self) -> str:
        return np.__version__

    def _unsupported(self, config: RunConfig) -> list[str]:
        return []  # everything it declared, it runs

    def parameter_count(self, spec: LSTMSpec) -> int:
        hidden = spec.hidden_size
        return spec.input_size * 4 * hidden + hidden * 4 * hidden + 4 * hidden

    def canonical_to_backend(self, spec: LSTMSpec, params: LSTMParams) -> dict[str, np.ndarray]:
        cell = params[0]
        return {"kernel": cell.w_ih.T, "recurrent_kernel": cell.w_hh.T, "bias": cell.b_ih + cell.b_hh}

    def backend_to_canonical(self, spec: LSTMSpec, backend_params: Mapping[str, np.ndarray]) -> LSTMParams:
        bias = np.asarray(backend_params["bias"])
        return (
            CellParams(
                w_ih=np.asarray(backend_params["kernel"]).T,
                w_hh=np.asarray(backend_params["recurrent_kernel"]).T,
                b_ih=bias,
                b_hh=np.zeros_like(bias),
            ),
        )

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        dtype = np.dtype(request.dtype)
        weights = {name: array.astype(dtype) for name, array in self.canonical_to_backend(request.spec, params).items()}
        outputs, h, c = keras_style_lstm(
            inputs.x.transpose(1, 0, 2).astype(dtype), **weights, h0=inputs.h0[0].astype(dtype), c0=inputs.c0[0].astype(dtype),
            product=self.product,
        )
        if not request.batch_first:
            outputs = outputs.transpose(1, 0, 2)
        return LSTMResult(outputs.astype(np.float64), h[None].astype(np.float64), c[None].astype(np.float64))
