"""Converted models kept for later runs, for adapters whose every run converts a model
(seconds each): the determinism, threads and invariance checks run one model several times."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import asdict

import numpy as np

from reference import LSTMSpec
from reference.spec import ACTIVATION_ROLES

from .base import BaseAdapter, RunRequest, ThreadedRuns


def case_activations(spec: LSTMSpec) -> dict[str, dict]:
    """A standalone reproducer's ``case["activations"]``: each role's activation ``name`` and every ``params`` value."""
    return {role: {"name": spec.activation(role).name, "params": dict(spec.activation(role).params)} for role in ACTIVATION_ROLES}


def reproducer_case(backend: str, request: RunRequest, **flags: bool) -> dict:
    """The standalone reproducer's ``case`` for ``request`` (see :mod:`adapters.standalone`),
    with ``flags`` (what the model is built with: ``initial_states``, ``lengths``) added."""
    spec, batch = request.spec, request.x.shape[0 if request.batch_first else 1]
    return {
        "backend": backend,
        "spec": asdict(spec),
        "activations": case_activations(spec),
        "dtype": request.dtype,
        "batch_first": request.batch_first,
        "h0_shape": [spec.num_cells, batch, spec.output_size],
        "c0_shape": [spec.num_cells, batch, spec.hidden_size],
        **flags,
    }


class ConvertingAdapter(ThreadedRuns, BaseAdapter):
    """An adapter whose runs convert a model (kept in ``converted``) and run it on the
    runtime's own threads: ``threads``, set by ``set_threads`` or for one run by
    ``run_threaded`` (:class:`adapters.base.ThreadedRuns`), None for the runtime's default."""

    def __init__(self) -> None:
        self.converted = ConvertedModels()


class ConvertedModels:
    """The last ``kept`` converted models, by a digest of what made them: the standalone
    reproducer's ``case``, the number of steps and every weight array (as float32, the
    dtype the converted models hold)."""

    def __init__(self, kept: int = 16) -> None:
        self.kept = kept
        self.models: OrderedDict[str, bytes] = OrderedDict()

    def get(self, case: dict, weights: Mapping[str, np.ndarray], steps: int, convert: Callable[[dict, Mapping, int], bytes]) -> bytes:
        """The model ``convert(case, weights, steps)`` makes: kept from an earlier call with the same, else converted now."""
        digest = hashlib.sha256(repr((sorted(case.items()), steps, sorted(weights))).encode())
        for name in sorted(weights):
            digest.update(np.ascontiguousarray(weights[name], dtype=np.float32).tobytes())
        key = digest.hexdigest()
        if key not in self.models:
            self.models[key] = convert(case, weights, steps)
            while len(self.models) > self.kept:
                self.models.popitem(last=False)
        self.models.move_to_end(key)
        return self.models[key]
