"""Each built-in backend's LSTM as a standalone reproducer runs it: NumPy and the framework only.

``lstm-parity repro`` copies a file's text into a script (see :mod:`conformance.repro`),
which a framework's maintainers run without this project. An adapter may import its own
file to run the same code (the example adapter's backend, the exported layers of
paddle-onnx and torch-onnx). An adapter names its file in the attribute ``standalone_source`` (a path); a
plug-in's adapter does the same to have standalone reproducers. A file defines:

- ``forward(case, weights, inputs) -> dict``: ``outputs`` (in x's layout), ``h_n``
  [L*D, B, R] and ``c_n`` [L*D, B, H], in the canonical cell order (layer by layer,
  forward direction first);
- ``gradients(case, weights, inputs) -> dict`` (backends with autodiff): the gradients of
  ``sum(outputs * d_outputs) + sum(h_n * d_h_n) + sum(c_n * d_c_n)``: ``grad_x`` (x's
  layout), ``grad_h0``, ``grad_c0`` and each weight's gradient under its name in ``weights``.

``case``: ``backend`` (its name), ``spec`` (the fields of :class:`reference.LSTMSpec`),
``activations`` (each role's ``name`` and every ``params`` value, defaults included), ``dtype``, ``batch_first``,
``device``, and the run's ``h0_shape`` and ``c0_shape`` (for zero states); ``weights``: the adapter's
``canonical_to_backend`` arrays (float64; the file casts them), plus what its
``standalone_arrays(request)`` adds (a built model, say); ``inputs``: ``x`` [T, B, I] or
[B, T, I], and where the case has them ``lengths`` [B], ``h0`` and ``c0``, and for
gradients ``d_outputs``, ``d_h_n``, ``d_c_n``. Every returned array may be a NumPy array
of any float dtype.
"""

from __future__ import annotations

from pathlib import Path

STANDALONE = Path(__file__).parent


def standalone_path(adapter: object) -> str | None:
    """The adapter's ``standalone_source`` as a path string (None when it has none); TypeError
    naming anything else."""
    source = getattr(adapter, "standalone_source", None)
    if source is not None and not isinstance(source, (str, Path)):
        raise TypeError(f"standalone_source: expected a path to a Python file, got {source!r}")
    return None if source is None else str(source)


def standalone_arrays(adapter: object, request) -> dict:
    """What the adapter adds to a standalone reproducer's weights for ``request`` (its optional
    ``standalone_arrays``; none without it)."""
    extra = getattr(adapter, "standalone_arrays", None)
    return {} if extra is None else dict(extra(request))
