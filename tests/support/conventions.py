"""The NumPy stack backend with conventions of its own.

- A padded-outputs convention: at padded steps it writes values computed from the padding
  (as a cell that runs on over padding does), once declaring them unspecified and once
  declaring nothing (the oracle's zeros).
- A default precision: at its own defaults (a ``backend_defaults`` run) it computes from
  inputs, states and weights rounded to bfloat16, declaring so and declaring nothing; one
  that declares bfloat16 but computes in the request's dtype; and one that declares no run
  at its defaults and fails if it is asked about one.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from adapters.base import RunConfig, RunRequest
from reference import CellParams, LSTMInputs, LSTMParams, LSTMResult
from reference.formats import round_to_format

from .numpy_stack import NumpyStackAdapter


class PaddingRunOn(NumpyStackAdapter):
    """Declares ``padded_outputs: unspecified`` and writes tanh of the padded inputs' sum there."""

    name = "padding-run-on"

    def conventions(self, config: RunConfig) -> dict[str, str]:
        return {"padded_outputs": "unspecified"}

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        result = super()._run(request, inputs, params)
        padded = (np.arange(inputs.steps)[:, None] >= inputs.lengths_or_full()[None, :])[:, :, None]
        outputs = result.outputs.transpose(1, 0, 2) if request.batch_first else result.outputs
        outputs = np.where(padded, np.tanh(inputs.x.sum(axis=2, keepdims=True)), outputs)
        return result._replace(outputs=outputs.transpose(1, 0, 2) if request.batch_first else outputs)


class PaddingRunOnUndeclared(PaddingRunOn):
    """The same values, with no convention declared."""

    name = "padding-run-on-undeclared"

    def conventions(self, config: RunConfig) -> dict[str, str]:
        return {}


class LoweredByDefault(NumpyStackAdapter):
    """Declares ``default_precision: bfloat16``; at its own defaults its inputs, states and
    weights are rounded to bfloat16 before it computes."""

    name = "lowered-by-default"
    supports = replace(NumpyStackAdapter.supports, features=NumpyStackAdapter.supports.features | {"backend_defaults"})
    declared = {"default_precision": "bfloat16"}
    lowers = True

    def conventions(self, config: RunConfig) -> dict[str, str]:
        return dict(self.declared)

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        if not (request.backend_defaults and self.lowers):
            return super()._run(request, inputs, params)

        def lowered(array: np.ndarray) -> np.ndarray:
            return round_to_format(array, "bfloat16")

        inputs = replace(inputs, x=lowered(inputs.x), h0=lowered(inputs.h0), c0=lowered(inputs.c0))
        params = tuple(CellParams(**{name: lowered(array) for name, array in cell.arrays().items()}) for cell in params)
        return super()._run(request, inputs, params)


class LoweredByDefaultUndeclared(LoweredByDefault):
    """The same values, with no convention declared (the oracle's float32)."""

    name = "lowered-by-default-undeclared"
    declared: dict[str, str] = {}


class ExactDeclaredLowered(LoweredByDefault):
    """Declares ``default_precision: bfloat16`` but computes at its defaults as at any other time."""

    name = "exact-declared-lowered"
    lowers = False


class NeverAskedAtDefaults(NumpyStackAdapter):
    """Declares no run at its defaults, and raises if any of its methods is sent a config asking for one."""

    name = "never-asked-at-defaults"

    def conventions(self, config: RunConfig) -> dict[str, str]:
        if config.backend_defaults:
            raise AssertionError("conventions was sent backend_defaults, which this adapter never declared")
        return {}
