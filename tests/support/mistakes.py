"""The NumPy stack backend broken in one common mapping mistake at a time; the diagnosis
tests and the README's diagnosed failure use them (``--adapter tests.support.mistakes:NAME``)."""

from __future__ import annotations

import numpy as np

from .numpy_stack import NumpyStackAdapter


def swap_blocks(array: np.ndarray, first: int, second: int) -> np.ndarray:
    """Swap gate blocks ``first`` and ``second`` along the last axis of [..., 4H]."""
    blocks = np.split(array, 4, axis=-1)
    blocks[first], blocks[second] = blocks[second], blocks[first]
    return np.concatenate(blocks, axis=-1)


class Mapped(NumpyStackAdapter):
    """A mistake in canonical_to_backend: ``mistake(name, array)`` changes each array."""

    def canonical_to_backend(self, spec, params):
        return {name: self.mistake(name.split(".")[-1], array, spec) for name, array in super().canonical_to_backend(spec, params).items()}


class InputAndCandidateSwapped(Mapped):
    def mistake(self, name, array, spec):
        return swap_blocks(array, 0, 2) if name in ("kernel", "recurrent_kernel", "bias") else array


class RecurrentForgetAndOutputSwapped(Mapped):
    def mistake(self, name, array, spec):
        return swap_blocks(array, 1, 3) if name == "recurrent_kernel" else array


class InputBlocksTransposed(Mapped):
    """Transposes each gate's block of a square kernel (a layer whose input size is H)."""

    def mistake(self, name, array, spec):
        hidden = spec.hidden_size
        if name != "kernel" or array.shape[0] != hidden:
            return array
        return np.concatenate([block.T for block in np.split(array, 4, axis=-1)], axis=-1)


class RecurrentBiasDropped(Mapped):
    """Puts b_ih alone in the backend's one bias."""

    def canonical_to_backend(self, spec, params):
        arrays = NumpyStackAdapter.canonical_to_backend(self, spec, params)
        for index, cell in enumerate(params):
            arrays["{}.{}.bias".format(*divmod(index, spec.num_directions))] = cell.b_ih
        return arrays


class InputBiasTwice(Mapped):
    def canonical_to_backend(self, spec, params):
        arrays = NumpyStackAdapter.canonical_to_backend(self, spec, params)
        for index, cell in enumerate(params):
            arrays["{}.{}.bias".format(*divmod(index, spec.num_directions))] = cell.b_ih + cell.b_ih
        return arrays


class ProjectionReshaped(Mapped):
    """Reshapes w_hr [P, H] to the backend's [H, P] instead of transposing it."""

    def mistake(self, name, array, spec):
        return array.T.reshape(array.shape) if name == "projection" else array


class PeepholesPermuted(Mapped):
    """Stacks the forget and output peepholes in the wrong rows."""

    def mistake(self, name, array, spec):
        return array[[0, 2, 1]] if name == "peepholes" else array


class FinalStatesDirectionsSwapped(NumpyStackAdapter):
    def final_state_order(self, spec):
        return [index ^ 1 for index in range(spec.num_cells)]


class FinalStatesDirectionMajor(NumpyStackAdapter):
    def final_state_order(self, spec):
        layers = spec.num_layers
        return [(slot % layers) * 2 + slot // layers for slot in range(spec.num_cells)]


class InitialStatesDirectionsSwapped(NumpyStackAdapter):
    def initial_state_order(self, spec):
        return [index ^ 1 for index in range(spec.num_cells)]


class ReverseFromLastStep(NumpyStackAdapter):
    """Its reversed direction ignores the lengths: it starts at step T-1, over the padding."""

    def direction_lengths(self, spec, direction, lengths, steps):
        return np.full_like(lengths, steps) if spec.runs_reversed(direction) else lengths


class FinalStateAtLastStep(NumpyStackAdapter):
    """Its forward direction runs on through the padding and keeps the state after step T-1."""

    def direction_lengths(self, spec, direction, lengths, steps):
        return lengths if spec.runs_reversed(direction) else np.full_like(lengths, steps)
