"""Adapters for the plug-in contract's tests: one written against interface 1, as an
out-of-tree ONNX-style adapter written two releases ago would be, and the same adapter
claiming today's interface without saying what it runs.

The backend is a correct NumPy LSTM of interface 1's features (ONNX's layout: gate
blocks i, o, f, c; one forward layer; lengths, initial states, peepholes; sigmoid, tanh,
relu and identity). Like the adapter it stands for, it knows nothing of what came later:
it looks activations up in its own table (a KeyError on any other name) and passes on
only the spec fields it knows, so a reverse direction, an activation clip or a coupled
input-forget gate would be ignored silently if it were ever sent one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from adapters.base import BaseAdapter, RunConfig, RunRequest
from adapters.layouts import to_backend, to_canonical
from adapters.onnxruntime_lstm import ONNX_LAYOUT
from reference import LSTMInputs, LSTMParams, LSTMResult, LSTMSpec, lstm_forward, parameter_count

# The activations this adapter's release knew, by the names it used then.
KNOWN_ACTIVATIONS = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu", "identity": "identity"}


class InterfaceOneAdapter(BaseAdapter):
    """Written against interface 1: no ``interface_version``, no ``supports``."""

    name = "interface-one"
    parameter_layout = "onnx"

    def _import_version(self) -> str:
        return np.__version__

    def _unsupported(self, config: RunConfig) -> list[str]:
        spec = config.spec
        wanted = {
            "more than one layer": spec.num_layers > 1,
            "bidirectional": spec.bidirectional,
            "projection": spec.proj_size > 0,
            "no bias": not spec.bias,
            "cell clip": spec.cell_clip is not None,
            "batch-major input": config.batch_first,
            "dropout": config.dropout > 0,
            "a device other than the CPU": config.device != "cpu",
        }
        return [f"interface-one has no {feature}" for feature, asked in wanted.items() if asked]

    def parameter_count(self, spec: LSTMSpec) -> int:
        return parameter_count(spec, self.parameter_layout).total

    def canonical_to_backend(self, spec: LSTMSpec, params: LSTMParams) -> dict[str, np.ndarray]:
        return to_backend(ONNX_LAYOUT, spec, params)

    def backend_to_canonical(self, spec: LSTMSpec, backend_params: Mapping[str, np.ndarray]) -> LSTMParams:
        return to_canonical(ONNX_LAYOUT, spec, backend_params)

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        spec = request.spec
        known = LSTMSpec(
            spec.input_size,
            spec.hidden_size,
            peepholes=spec.peepholes,
            gate_activation=KNOWN_ACTIVATIONS[spec.gate_activation],
            candidate_activation=KNOWN_ACTIVATIONS[spec.candidate_activation],
            cell_activation=KNOWN_ACTIVATIONS[spec.cell_activation],
        )
        dtype = np.dtype(request.dtype)
        weights = to_canonical(ONNX_LAYOUT, known, {name: array.astype(dtype).astype(np.float64) for name, array in to_backend(ONNX_LAYOUT, known, params).items()})
        return lstm_forward(known, weights, inputs.x, lengths=request.lengths, initial_states=(inputs.h0, inputs.c0))


class ClaimsTodaysInterface(InterfaceOneAdapter):
    """The same adapter, upgraded by a version number alone: it says interface 4 but lists
    no ``supports``, so it is sent everything interface 4 can send."""

    name = "claims-interface-four"
    interface_version = 4
