"""Adapter for Keras 3's ``keras.layers.LSTM`` on the JAX backend (see :mod:`adapters.keras_lstm`);
float64 through JAX's x64 mode, gradients through ``jax.grad`` of the layers' stateless calls."""

from __future__ import annotations

from reference import LSTMGradients, LSTMInputs, LSTMParams, LSTMResult

from .base import RunRequest
from .keras_lstm import KerasLSTMAdapter


class KerasJaxLSTMAdapter(KerasLSTMAdapter):
    name = "keras-jax"
    keras_backend = "jax"
    # Before its first valid step, a masked LSTM on JAX outputs its initial hidden state.
    # Each run builds the layers and runs Keras's step loop op by op, slowly enough that the
    # full designs would take minutes: the smaller design keeps the default run within budget.
    costly_runs = True
    masked_output_convention = "carried-initial"

    def _prepare_backend(self) -> None:
        import jax

        jax.config.update("jax_enable_x64", True)

    def _backend_version(self) -> str:
        import jax

        return jax.__version__

    def _gradients(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, upstream: LSTMResult) -> LSTMGradients:
        import jax
        import jax.numpy as jnp

        spec, dtype = request.spec, request.dtype
        layers = self.build(spec, dtype, params)
        trainable = [[variable.value for variable in layer.trainable_variables] for layer in layers]
        frozen = [[variable.value for variable in layer.non_trainable_variables] for layer in layers]
        mask = self.mask(inputs)
        grad_outputs, grad_h_n, grad_c_n = self.upstream_terms(request, upstream)

        def loss(x, h0, c0, trainable):
            def call(layer, index, *args, **kwargs):
                results, _ = layer.stateless_call(trainable[index], frozen[index], *args, **kwargs)
                return results

            outputs, h_n, c_n = self.stack(spec, layers, x, mask, h0, c0, call=call)
            pairs = [(outputs, grad_outputs), *zip(h_n, grad_h_n), *zip(c_n, grad_c_n)]
            return sum(jnp.sum(result * grad) for result, grad in pairs)

        states = [[jnp.asarray(state.astype(dtype)) for state in initial] for initial in (inputs.h0, inputs.c0)]
        grad_x, grad_h0, grad_c0, grad_trainable = jax.grad(loss, argnums=(0, 1, 2, 3))(
            jnp.asarray(self.batch_major(inputs, dtype)), *states, trainable
        )
        where = {
            id(variable): (index, position)
            for index, layer in enumerate(layers)
            for position, variable in enumerate(layer.trainable_variables)
        }
        named = {}
        for name, weight in self.named_weights(spec, layers):
            index, position = where[id(weight)]
            named[name] = grad_trainable[index][position]
        return self.collect_gradients(request, grad_x, grad_h0, grad_c0, named)
