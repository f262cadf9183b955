"""Adapter for Keras 3's ``keras.layers.LSTM`` on the TensorFlow backend (see
:mod:`adapters.keras_lstm`); gradients through ``tf.GradientTape``."""

from __future__ import annotations

from reference import LSTMGradients, LSTMInputs, LSTMParams, LSTMResult

from .base import RunRequest
from .keras_lstm import KerasLSTMAdapter


class KerasTensorFlowLSTMAdapter(KerasLSTMAdapter):
    name = "keras-tensorflow"
    keras_backend = "tensorflow"
    # Each run builds the layers and runs Keras's step loop op by op, slowly enough that the
    # full designs would take minutes: the smaller design keeps the default run within budget.
    costly_runs = True
    masked_output_convention = "carried"

    def _backend_version(self) -> str:
        import tensorflow as tf

        return tf.__version__

    def with_derivative(self, function, x, dtype: str) -> tuple:
        import tensorflow as tf

        tensor = tf.constant(x, dtype=dtype)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            values = function(tensor)
        return values, tape.gradient(values, tensor)

    def _gradients(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, upstream: LSTMResult) -> LSTMGradients:
        import tensorflow as tf

        spec, dtype = request.spec, request.dtype
        layers = self.build(spec, dtype, params)
        x = tf.constant(self.batch_major(inputs, dtype))
        h0, c0 = ([tf.constant(state.astype(dtype)) for state in initial] for initial in (inputs.h0, inputs.c0))
        named = self.named_weights(spec, layers)
        weights = [weight.value for _, weight in named]
        with tf.GradientTape() as tape:
            tape.watch([x, *h0, *c0])
            outputs, h_n, c_n = self.stack(spec, layers, x, self.mask(inputs), h0, c0)
            grad_outputs, grad_h_n, grad_c_n = self.upstream_terms(request, upstream)
            pairs = [(outputs, grad_outputs), *zip(h_n, grad_h_n), *zip(c_n, grad_c_n)]
            loss = tf.add_n([tf.reduce_sum(result * grad) for result, grad in pairs])
        grads = tape.gradient(loss, [x, h0, c0, weights])
        grad_x, grad_h0, grad_c0, grad_weights = (tf.nest.map_structure(lambda g: g.numpy(), grad) for grad in grads)
        return self.collect_gradients(request, grad_x, grad_h0, grad_c0, {name: grad for (name, _), grad in zip(named, grad_weights)})
