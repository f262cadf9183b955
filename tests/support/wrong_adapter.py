"""An adapter that is wrong on purpose, for tests that check a broken backend is reported as one."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from adapters.example import ExampleAdapter
from reference import LSTMParams, LSTMSpec


def swap_input_and_forget(blocks: np.ndarray) -> np.ndarray:
    """``blocks`` [..., 4H] in the order i, f, c, o, returned in the order f, i, c, o."""
    i, f, c, o = np.split(np.asarray(blocks), 4, axis=-1)
    return np.concatenate([f, i, c, o], axis=-1)


class WrongGateOrderAdapter(ExampleAdapter):
    """The example backend with its input and forget gate blocks swapped when parameters are
    mapped, as an adapter that misreads a framework's gate order would: every output is wrong."""

    name = "wrong-gate-order"

    def canonical_to_backend(self, spec: LSTMSpec, params: LSTMParams) -> dict[str, np.ndarray]:
        return {name: swap_input_and_forget(array) for name, array in super().canonical_to_backend(spec, params).items()}

    def backend_to_canonical(self, spec: LSTMSpec, backend_params: Mapping[str, np.ndarray]) -> LSTMParams:
        return super().backend_to_canonical(spec, {name: swap_input_and_forget(array) for name, array in backend_params.items()})


class LossyMappingAdapter(ExampleAdapter):
    """The example backend whose mapping back to the canonical layout loses the recurrent
    kernel's sign, as an inverse written separately from its forward mapping might."""

    name = "lossy-mapping"

    def backend_to_canonical(self, spec: LSTMSpec, backend_params: Mapping[str, np.ndarray]) -> LSTMParams:
        return super().backend_to_canonical(spec, {name: np.abs(array) if "recurrent" in name else array for name, array in backend_params.items()})
