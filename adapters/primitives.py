"""Probes of the primitives a backend's LSTM is built from: an optional part of an adapter.

An adapter whose LSTM is composed of its framework's public functions (torch's ops,
``keras.ops``, ``jax.nn``, MindSpore's ops) can let the suite call those functions alone
(:mod:`conformance.probes.primitives` compares them with :mod:`reference.activations`):

- ``activation_primitive(name, x, dtype) -> Primitive``: the framework's function for the
  oracle's activation ``name`` (at the parameters the LSTM layer gives it, said in
  ``activation`` where they are not the oracle's defaults) on ``x`` (float64 values exactly
  representable in ``dtype``), computed in ``dtype``, and its derivative by the framework's
  autodiff (None without one);
- ``matmul_primitive(a, b, dtype) -> Primitive``: the framework's matrix product of a [M, K]
  and b [K, N], computed in ``dtype``.

Either may be left out: an LSTM kernel whose activations are internal to it (ONNX
Runtime's, TensorFlow's block LSTM, Paddle's fused ``rnn``) has no public function of its
own to probe, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Primitive:
    """What a primitive returned: its values and (activations, where the framework has
    autodiff) its derivative, both converted to float64, the name of the dtype the
    framework returned the values in (float64 asked and float32 returned is itself a
    finding) and, for an activation at other parameters than the oracle's defaults, what
    it computed as the oracle writes it (``leaky_relu(alpha=0.2)``)."""

    values: np.ndarray
    derivative: np.ndarray | None
    dtype: str
    activation: str = ""



PROBES = ("activation_primitive", "matmul_primitive")


def offered_probes(adapter: object) -> tuple[str, ...]:
    """Which of :data:`PROBES` the adapter offers (an isolated one says in ``offered_probes``)."""
    offered = getattr(adapter, "offered_probes", None)
    return tuple(offered) if offered is not None else tuple(probe for probe in PROBES if callable(getattr(adapter, probe, None)))
