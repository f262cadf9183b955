"""A backend laid out like DeepMind Haiku's ``hk.LSTM``, its adapter, and the same adapter
broken in one mistake at a time (``--adapter tests.support.haiku_style:NAME``).

The backend: one forward layer with a fused kernel ``w`` [I + H, 4H] applied to the
concatenation [x, h], one bias ``b`` [4H], gate blocks in the order i, g, f, o, and a
forget-gate offset of 1.0 added at every step: f = sigmoid(z_f + 1). Its forward pass and
its gradients are those of that definition (computed here through the oracle on the
parameters the backend's arrays stand for, which is what the definition means). The
correct adapter declares the offset and stores the canonical forget bias minus 1; each
broken one makes one mistake in ``canonical_to_backend`` and maps gradients back with the
inverse it believes in, as a real adapter would.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from adapters.base import BaseAdapter, RunConfig, RunRequest
from adapters.support import INTERFACE_VERSION, Support
from reference import CellParams, LSTMGradients, LSTMInputs, LSTMParams, LSTMResult, LSTMSpec, lstm_backward, lstm_forward

# Haiku's block k holds canonical gate HAIKU_ORDER[k] (canonical: i, f, g, o).
HAIKU_ORDER = (0, 2, 1, 3)
FORGET_OFFSET = 1.0


def blocks(array: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """``array`` [..., 4H] with its gate blocks k taken from block ``order[k]``."""
    parts = np.split(np.asarray(array), 4, axis=-1)
    return np.concatenate([parts[k] for k in order], axis=-1)


def forget_block(hidden: int) -> np.ndarray:
    """[4H] in canonical order: 1 on the forget gate's block."""
    block = np.zeros(4 * hidden)
    block[hidden : 2 * hidden] = 1.0
    return block


def meaning(spec: LSTMSpec, arrays: Mapping[str, np.ndarray]) -> CellParams:
    """The canonical cell the backend computes with, given its arrays (its definition)."""
    inputs = spec.input_size
    w = blocks(arrays["w"], HAIKU_ORDER)
    bias = blocks(arrays["b"], HAIKU_ORDER) + FORGET_OFFSET * forget_block(spec.hidden_size)
    return CellParams(w_ih=w[:inputs].T, w_hh=w[inputs:].T, b_ih=bias, b_hh=np.zeros_like(bias))


class HaikuStyleAdapter(BaseAdapter):
    """The correct adapter: the offset declared and undone."""

    name = "haiku-style"
    parameter_layout = "single_bias"
    interface_version = INTERFACE_VERSION
    supports = Support(features={"initial_states"})
    parameter_offsets = {"forget_gate_bias": FORGET_OFFSET}
    packages = ("numpy",)

    def _import_version(self) -> str:
        return np.__version__

    def _unsupported(self, config: RunConfig) -> list[str]:
        return []  # everything it declared, it runs

    def parameter_count(self, spec: LSTMSpec) -> int:
        hidden = spec.hidden_size
        return (spec.input_size + hidden) * 4 * hidden + 4 * hidden

    def stored_forget_offset(self) -> float:
        """What the mapping subtracts from the canonical forget bias."""
        return FORGET_OFFSET

    def mistake(self, spec: LSTMSpec, cell: CellParams) -> CellParams:
        """The canonical cell as this adapter hands it on (the correct one: unchanged)."""
        return cell

    def canonical_to_backend(self, spec: LSTMSpec, params: LSTMParams) -> dict[str, np.ndarray]:
        cell = self.mistake(spec, params[0])
        bias = cell.b_ih + cell.b_hh - self.stored_forget_offset() * forget_block(spec.hidden_size)
        order = tuple(int(k) for k in np.argsort(HAIKU_ORDER))
        return {"w": blocks(np.concatenate([cell.w_ih.T, cell.w_hh.T]), order), "b": blocks(bias, order)}

    def backend_to_canonical(self, spec: LSTMSpec, backend_params: Mapping[str, np.ndarray]) -> LSTMParams:
        inputs = spec.input_size
        w = blocks(backend_params["w"], HAIKU_ORDER)
        bias = blocks(backend_params["b"], HAIKU_ORDER) + self.stored_forget_offset() * forget_block(spec.hidden_size)
        return (CellParams(w_ih=w[:inputs].T, w_hh=w[inputs:].T, b_ih=bias, b_hh=np.zeros_like(bias)),)

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        cell = meaning(request.spec, self.canonical_to_backend(request.spec, params))
        result = lstm_forward(request.spec, (cell,), inputs.x, initial_states=(inputs.h0, inputs.c0))
        return result._replace(outputs=result.outputs.transpose(1, 0, 2)) if request.batch_first else result

    def _gradients(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, upstream: LSTMResult) -> LSTMGradients:
        spec = request.spec
        cell = meaning(spec, self.canonical_to_backend(spec, params))
        gradients = lstm_backward(spec, (cell,), inputs.x, *upstream, initial_states=(inputs.h0, inputs.c0))
        grad = gradients.params[0]
        # The backend's gradients of the cell it computes with, mapped back through the
        # adjoint of what the adapter did to the parameters (its single bias's gradient
        # is each canonical bias's).
        back = self.unmistake(spec, CellParams(w_ih=grad.w_ih, w_hh=grad.w_hh, b_ih=grad.b_ih, b_hh=grad.b_ih))
        x = gradients.x.transpose(1, 0, 2) if request.batch_first else gradients.x
        return LSTMGradients(x=x, h0=gradients.h0, c0=gradients.c0, params=(back,))

    def unmistake(self, spec: LSTMSpec, cell: CellParams) -> CellParams:
        """Gradients mapped back through the inverse of :meth:`mistake` (its adjoint)."""
        return cell


class ForgetsTheOffset(HaikuStyleAdapter):
    """Declares the offset but stores the canonical forget bias as it is."""

    name = "haiku-forgets-offset"

    def stored_forget_offset(self) -> float:
        return 0.0


class GatesInCanonicalOrder(HaikuStyleAdapter):
    """Writes the gate blocks in the canonical order i, f, g, o where Haiku reads i, g, f, o."""

    name = "haiku-canonical-order"

    def mistake(self, spec, cell):
        swap = (0, 2, 1, 3)
        return CellParams(w_ih=blocks(cell.w_ih.T, swap).T, w_hh=blocks(cell.w_hh.T, swap).T, b_ih=blocks(cell.b_ih, swap), b_hh=blocks(cell.b_hh, swap))

    unmistake = mistake


class HalvesSwapped(HaikuStyleAdapter):
    """Stacks the fused kernel as [W_hh.T; W_ih.T] where Haiku reads [W_ih.T; W_hh.T]."""

    name = "haiku-halves-swapped"

    def mistake(self, spec, cell):
        inputs = spec.input_size
        fused = np.concatenate([cell.w_hh.T, cell.w_ih.T])
        return CellParams(w_ih=fused[:inputs].T, w_hh=fused[inputs:].T, b_ih=cell.b_ih, b_hh=cell.b_hh)

    def unmistake(self, spec, cell):
        hidden = spec.hidden_size
        fused = np.concatenate([cell.w_ih.T, cell.w_hh.T])
        return CellParams(w_ih=fused[hidden:].T, w_hh=fused[:hidden].T, b_ih=cell.b_ih, b_hh=cell.b_hh)


class RecurrentBlocksTransposed(HaikuStyleAdapter):
    """Transposes each gate's [H, H] block of the recurrent weights."""

    name = "haiku-recurrent-blocks-transposed"

    def mistake(self, spec, cell):
        hidden = spec.hidden_size
        w_hh = cell.w_hh.reshape(4, hidden, hidden).transpose(0, 2, 1).reshape(4 * hidden, hidden)
        return CellParams(w_ih=cell.w_ih, w_hh=w_hh, b_ih=cell.b_ih, b_hh=cell.b_hh)

    unmistake = mistake


class KernelReshaped(HaikuStyleAdapter):
    """Reshapes the input weights [4H, I] to [I, 4H] where they needed a transpose."""

    name = "haiku-kernel-reshaped"

    def mistake(self, spec, cell):
        return CellParams(w_ih=cell.w_ih.reshape(cell.w_ih.shape[::-1]).T, w_hh=cell.w_hh, b_ih=cell.b_ih, b_hh=cell.b_hh)

    def unmistake(self, spec, cell):
        return CellParams(w_ih=cell.w_ih.T.reshape(cell.w_ih.shape), w_hh=cell.w_hh, b_ih=cell.b_ih, b_hh=cell.b_hh)


class BiasTwice(HaikuStyleAdapter):
    """Folds the bias as 2 b_ih (b_ih counted in place of b_hh)."""

    name = "haiku-bias-twice"

    def mistake(self, spec, cell):
        return CellParams(w_ih=cell.w_ih, w_hh=cell.w_hh, b_ih=cell.b_ih, b_hh=cell.b_ih)


class OnnxOrder(HaikuStyleAdapter):
    """Hands the gate blocks on in ONNX's order i, o, f, g (as if copied from an ONNX adapter)."""

    name = "haiku-onnx-order"

    def mistake(self, spec, cell):
        order = (0, 3, 1, 2)
        return CellParams(w_ih=blocks(cell.w_ih.T, order).T, w_hh=blocks(cell.w_hh.T, order).T, b_ih=blocks(cell.b_ih, order), b_hh=blocks(cell.b_hh, order))

    def unmistake(self, spec, cell):
        undo = tuple(int(k) for k in np.argsort((0, 3, 1, 2)))
        return CellParams(w_ih=blocks(cell.w_ih.T, undo).T, w_hh=blocks(cell.w_hh.T, undo).T, b_ih=blocks(cell.b_ih, undo), b_hh=blocks(cell.b_hh, undo))


class BiasFromOneSide(HaikuStyleAdapter):
    """Folds the single bias from b_ih alone (b_hh dropped)."""

    name = "haiku-bias-one-side"

    def mistake(self, spec, cell):
        return CellParams(w_ih=cell.w_ih, w_hh=cell.w_hh, b_ih=cell.b_ih, b_hh=np.zeros_like(cell.b_hh))


class WithItsFrameworkPackages(HaikuStyleAdapter):
    """The correct adapter, listing a distribution the built-in backends do not (jsonschema
    stands for a plug-in's framework here), for the environment table's test."""

    name = "haiku-with-packages"
    packages = ("numpy", "jsonschema")
