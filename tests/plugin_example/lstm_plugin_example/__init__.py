"""An out-of-tree plug-in, as another package would ship it: an adapter and its own known
deviation, both found through entry points (see ``../lstm_plugin_example-0.1.dist-info``).

Its backend is the example NumPy LSTM with one deliberate difference: it returns tanh of
the final cell state instead of the cell state, which the plug-in registers as a deviation.
To stand for several releases of a framework (the scoreboard's tests), the environment
variable ``LSTM_PLUGIN_EXAMPLE_RELEASE`` picks one: ``0.1`` (the default) has the
deviation, ``0.2`` fixed it, and any other value is a release that cannot be imported.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from adapters.base import RunRequest
from adapters.example import ExampleAdapter
from conformance.deviations import DeviationModel, KnownDeviation
from reference import LSTMInputs, LSTMParams, LSTMResult


RELEASE_VARIABLE = "LSTM_PLUGIN_EXAMPLE_RELEASE"
FIRST_RELEASE, FIXED_RELEASE = "0.1", "0.2"


class PluginExampleAdapter(ExampleAdapter):
    """The example backend, its c_n squashed by tanh."""

    name = "plugin-example"
    # Its standalone reproducers run its own backend (not the example's it inherits).
    standalone_source = Path(__file__).with_name("standalone.py")

    def _import_version(self) -> str:
        release = os.environ.get(RELEASE_VARIABLE, FIRST_RELEASE)
        if release not in (FIRST_RELEASE, FIXED_RELEASE):
            raise ImportError(f"lstm_plugin_example has no release {release!r}")
        return release

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        outputs, h_n, c_n = super()._run(request, inputs, params)
        return LSTMResult(outputs, h_n, c_n if self._import_version() == FIXED_RELEASE else np.tanh(c_n))


DEVIATIONS = (
    KnownDeviation(
        name="plugin-example-cell-state-squashed",
        backend="plugin-example",
        checks=("forward", "streaming"),
        summary="c_n is tanh of the final cell state (so a stream carried across calls continues from it)",
        quantities=frozenset({"outputs", "h_n", "c_n"}),
        applies=lambda request: True,
        reproducer="L1-fwd-bm-none-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        versions_seen=(FIRST_RELEASE,),
        model=DeviationModel("the oracle's results with c_n squashed by tanh", result=lambda request, result: result._replace(c_n=np.tanh(result.c_n))),
    ),
)
