"""What the ONNX adapters share: running a model in ONNX Runtime's CPU execution provider,
counting the weights its LSTM nodes hold, and keeping the last few exported models.

An export (torch.onnx, paddle2onnx) takes a second or more, while one case runs its
parameters on several inputs (the invariant checks); :class:`ModelCache` keeps a model per
structure and parameters, so each distinct model is exported once.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping

import numpy as np

from reference import LSTMInputs, LSTMParams

from .base import RunRequest

RUNTIME_REJECTS_FLOAT64 = "onnxruntime: LSTM operator does not support double yet"
# Inputs of the ONNX LSTM node that hold weights: W, R, B and P.
LSTM_WEIGHT_INPUTS = (1, 2, 3, 7)


def import_onnxruntime():
    """Import onnx and onnxruntime (ImportError when absent) and return onnxruntime."""
    import onnx  # noqa: F401
    import onnxruntime

    return onnxruntime


def session(model: bytes, threads: int | None = None):
    """An ONNX Runtime CPU session for a serialized model on ``threads`` intra-op threads
    (None: as many as OpenMP's variable says), its log silenced (failures still raise)."""
    onnxruntime = import_onnxruntime()
    onnxruntime.set_default_logger_severity(4)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4
    # ONNX Runtime's own pool ignores OpenMP's variable; it defaults to every core.
    options.intra_op_num_threads = threads if threads is not None else int(os.environ.get("OMP_NUM_THREADS", "0") or "0")
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def lstm_weight_count(model: bytes) -> int:
    """Entries of the floating-point initializers and constants the W, R, B and P inputs of the
    model's LSTM nodes are computed from (directly, or through the nodes that slice, reorder and
    concatenate them): the weights the deployed model holds, whatever the exporter named them."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(model).graph
    tensors = [(tensor.name, tensor) for tensor in graph.initializer]
    tensors += [(node.output[0], attribute.t) for node in graph.node if node.op_type == "Constant" for attribute in node.attribute if attribute.name == "value"]
    sizes = {name: numpy_helper.to_array(tensor).size for name, tensor in tensors if onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).kind == "f"}
    producers = {output: node for node in graph.node for output in node.output}
    pending = [
        node.input[index]
        for node in graph.node
        if node.op_type == "LSTM"
        for index in LSTM_WEIGHT_INPUTS
        if index < len(node.input) and node.input[index]
    ]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in producers:
            pending.extend(producers[name].input)
    return sum(sizes[name] for name in seen if name in sizes)


def params_digest(params: LSTMParams) -> str:
    """A digest of canonical parameters (every array's shape and bytes, in order)."""
    digest = hashlib.sha256()
    for cell in params:
        for name, array in cell.arrays().items():
            digest.update(f"{name}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()


class ModelCache:
    """The last ``size`` models built, by key, each with its sessions by thread count:
    ``get(key, build, threads)`` exports only on a miss."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._models: OrderedDict[Hashable, tuple[bytes, dict[int | None, object]]] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], bytes], threads: int | None = None) -> tuple[bytes, object]:
        """(serialized model, its ONNX Runtime session on ``threads`` threads: see
        :func:`session`) for ``key``, built by ``build`` if new."""
        if key in self._models:
            self._models.move_to_end(key)
        else:
            self._models[key] = (build(), {})
            while len(self._models) > self.size:
                self._models.popitem(last=False)
        model, sessions = self._models[key]
        if threads not in sessions:
            sessions[threads] = session(model, threads)
        return model, sessions[threads]

    def latest(self, match: Callable[[Hashable], bool]) -> bytes | None:
        """The most recently used model whose key satisfies ``match``, or None."""
        for key in reversed(self._models):
            if match(key):
                return self._models[key][0]
        return None


def run_session(ort_session, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The session's outputs for ``feeds``, as float64 arrays in the model's output order."""
    return [np.asarray(value, dtype=np.float64) for value in ort_session.run(None, dict(feeds))]


def model_key(request: RunRequest, params: LSTMParams) -> tuple:
    """What an exported model depends on: the spec first (see :meth:`ModelCache.latest`), the
    request's data-free settings, and the parameters."""
    config = request.config()
    return (config.spec, config.dtype, config.batch_first, config.lengths, config.initial_states, config.dropout, params_digest(params))


def exported_feeds(request: RunRequest, inputs: LSTMInputs) -> dict[str, np.ndarray]:
    """The inputs of an exported model: ``x`` in the request's layout and dtype, then
    ``lengths`` [B] int64 and ``h0``/``c0`` when the request has them."""
    dtype = request.dtype
    feeds = {"x": np.ascontiguousarray(inputs.x.transpose(1, 0, 2) if request.batch_first else inputs.x, dtype=dtype)}
    if inputs.lengths is not None:
        feeds["lengths"] = inputs.lengths.astype(np.int64)
    if inputs.initial_states_given:
        feeds["h0"], feeds["c0"] = inputs.h0.astype(dtype), inputs.c0.astype(dtype)
    return feeds
