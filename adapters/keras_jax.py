"""Adapter for Keras 3's ``keras.layers.LSTM`` on the JAX backend (see :mod:`adapters.keras_lstm`);
float64 through JAX's x64 mode, gradients through ``jax.grad`` of the layers' stateless calls.

Layers run as Keras's own JAX trainer runs them: through ``stateless_call`` inside
``jax.jit``, with the weights as arguments. The layers and the compiled functions are kept
per (spec, dtype), so a case run again (or another case of the same shapes) reuses its
compilation instead of tracing and compiling Keras's ``lax.scan`` anew on every call.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from reference import LSTMGradients, LSTMInputs, LSTMParams, LSTMResult, LSTMSpec

from .base import RunRequest
from .jax_calls import jitted_forward_and_gradients
from .keras_lstm import KERAS_LAYOUT, KerasLSTMAdapter
from .layouts import to_backend


@dataclass(frozen=True)
class JittedStack:
    """Built layers of one (spec, dtype) and their jitted stateless forward and gradients.

    ``slots`` names each trainable variable: (layout name, layer index, position in that
    layer's ``trainable_variables``). ``forward(trainable, x, mask, h0, c0)`` returns
    (outputs [B, T, D*R], h_n list, c_n list); ``gradients(trainable, x, mask, h0, c0,
    upstream)`` returns the gradients of the weighted sum of those results with respect to
    (x, h0, c0, trainable)."""

    layers: list
    slots: tuple[tuple[str, int, int], ...]
    forward: object
    gradients: object

    def trainable(self, spec: LSTMSpec, params: LSTMParams, dtype: str) -> list[list]:
        """Canonical parameters as the per-layer lists of trainable values ``stateless_call`` takes."""
        arrays = to_backend(KERAS_LAYOUT, spec, params)
        values = [list(layer.trainable_variables) for layer in self.layers]
        for name, index, position in self.slots:
            values[index][position] = arrays[name].astype(dtype)
        return values


class KerasJaxLSTMAdapter(KerasLSTMAdapter):
    name = "keras-jax"
    keras_backend = "jax"
    # Before its first valid step, a masked LSTM on JAX outputs its initial hidden state.
    # Every new shape compiles Keras's scan (about 0.3 s per layer and direction, more for
    # gradients): the smaller design keeps the default run within budget.
    costly_runs = True
    masked_output_convention = "carried-initial"

    def _prepare_backend(self) -> None:
        import jax

        jax.config.update("jax_enable_x64", True)

    def _backend_version(self) -> str:
        import jax

        return jax.__version__

    def with_derivative(self, function, x, dtype: str) -> tuple:
        import jax
        import jax.numpy as jnp

        values, pullback = jax.vjp(function, jnp.asarray(x, dtype=dtype))
        return values, pullback(jnp.ones_like(values))[0]

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        spec, dtype = request.spec, request.dtype
        stack = jitted_stack(self, spec, dtype, request.last_output_only)
        outputs, h_n, c_n = stack.forward(stack.trainable(spec, params, dtype), *self.arguments(inputs, dtype))
        return LSTMResult(
            self.to_request_layout(request, np.asarray(outputs)),
            np.stack([np.asarray(h) for h in h_n]).astype(np.float64),
            np.stack([np.asarray(c) for c in c_n]).astype(np.float64),
        )

    def _gradients(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, upstream: LSTMResult) -> LSTMGradients:
        spec, dtype = request.spec, request.dtype
        stack = jitted_stack(self, spec, dtype)
        grad_x, grad_h0, grad_c0, grad_trainable = stack.gradients(
            stack.trainable(spec, params, dtype), *self.arguments(inputs, dtype), self.upstream_terms(request, upstream)
        )
        named = {name: grad_trainable[index][position] for name, index, position in stack.slots}
        return self.collect_gradients(request, grad_x, grad_h0, grad_c0, named)

    def arguments(self, inputs: LSTMInputs, dtype: str) -> tuple:
        """(x [B, T, I], mask [B, T] or None, h0 list, c0 list) in ``dtype``, per cell in canonical order."""
        states = [[state.astype(dtype) for state in initial] for initial in (inputs.h0, inputs.c0)]
        return (self.batch_major(inputs, dtype), self.mask(inputs), *states)


@functools.cache
def jitted_stack(adapter: KerasJaxLSTMAdapter, spec: LSTMSpec, dtype: str, last_output_only: bool = False) -> JittedStack:
    """The layers of ``spec`` in ``dtype`` (the top one returning its last output only, if
    asked), built once, and their jitted calls."""
    layers = adapter.build(spec, dtype, last_output_only=last_output_only)
    frozen = [[variable.value for variable in layer.non_trainable_variables] for layer in layers]
    where = {id(variable): (index, position) for index, layer in enumerate(layers) for position, variable in enumerate(layer.trainable_variables)}
    slots = tuple((name, *where[id(weight)]) for name, weight in adapter.named_weights(spec, layers))

    def forward(trainable, x, mask, h0, c0):
        def call(layer, index, *args, **kwargs):
            results, _ = layer.stateless_call(trainable[index], frozen[index], *args, **kwargs)
            return results

        return adapter.stack(spec, layers, x, mask, h0, c0, call=call)

    return JittedStack(layers, slots, *jitted_forward_and_gradients(forward))
