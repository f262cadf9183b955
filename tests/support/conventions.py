"""The NumPy stack backend with a padded-outputs convention of its own: at padded steps it
writes values computed from the padding (as a cell that runs on over padding does), once
declaring them unspecified and once declaring nothing (the oracle's zeros)."""

from __future__ import annotations

import numpy as np

from adapters.base import RunConfig, RunRequest
from reference import LSTMInputs, LSTMParams, LSTMResult

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
