"""What the JAX-based adapters (``keras-jax``, ``flax``, ``flax-lstmcell``) share: a
stack's forward and its gradients, each compiled once with ``jax.jit``."""

from __future__ import annotations

from collections.abc import Callable


def jitted_forward_and_gradients(forward: Callable) -> tuple[Callable, Callable]:
    """``forward(weights, x, lengths_or_mask, h0, c0) -> (outputs, h_n list, c_n list)``
    jitted, and jitted ``gradients(weights, x, lengths_or_mask, h0, c0, upstream)``: the
    gradients of sum(outputs * upstream outputs) + sum over cells of h_n and c_n times
    theirs, with respect to (x, h0, c0, weights); ``upstream`` is (outputs, h_n list, c_n
    list) shaped as ``forward``'s results."""
    import jax
    import jax.numpy as jnp

    def loss(x, h0, c0, weights, lengths, upstream):
        outputs, h_n, c_n = forward(weights, x, lengths, h0, c0)
        grad_outputs, grad_h_n, grad_c_n = upstream
        pairs = [(outputs, grad_outputs), *zip(h_n, grad_h_n), *zip(c_n, grad_c_n)]
        return sum(jnp.sum(result * grad) for result, grad in pairs)

    def gradients(weights, x, lengths, h0, c0, upstream):
        return jax.grad(loss, argnums=(0, 1, 2, 3))(x, h0, c0, weights, lengths, upstream)

    return jax.jit(forward), jax.jit(gradients)
