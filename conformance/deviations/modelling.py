"""Judging a deviating backend against what its known deviations say it computes.

A check arms the known deviations that apply to its case (:mod:`conformance.run.running`). Where
the backend then differs from the oracle only in the quantities they name, each run the
check made (:class:`Run`: a forward or a gradient call, with its request) is compared,
every quantity of it, with the armed deviations' models composed (:class:`ComposedModel`
of :class:`conformance.deviations.DeviationModel`): the model's values, held to the same
tolerances as the oracle's for that request (or, for a model whose ``arithmetic`` is
another dtype, to that dtype's). The case is a known deviation only when every run matches;
a backend that matches neither the oracle nor the model fails with both comparisons.
Quantities named by an armed deviation without a model are left out of the comparison
(they are not judged, and the report counts them so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from adapters.base import RunRequest
from adapters.conventions import PADDED_OUTPUTS
from reference import LSTMGradients, LSTMResult
from reference.textbook import Variant, textbook_backward, textbook_forward

from conformance.judge.compare import Comparison, compare_arrays
from conformance.deviations import DeviationModel, KnownDeviation
from conformance.judge.expectations import (
    PADDED_SUFFIX,
    conventional,
    conventional_upstream,
    expected_forward,
    expected_gradients,
    forward_quantities,
    gradient_quantities,
    last_outputs,
    oracle_forward,
    oracle_gradients,
    padded_mask,
    with_conventions,
)
from conformance.judge.tolerances import UNIT_ROUNDOFF, accumulation, measured_tolerance

# Dtypes from the most precise to the least: composed models compute in the least precise.
PRECISION_ORDER = ("float64", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class Run:
    """One call a check made: a forward run (``upstream`` None) or a gradient run, and what the
    backend returned."""

    request: RunRequest
    result: LSTMResult | LSTMGradients
    upstream: LSTMResult | None = None


@dataclass(frozen=True)
class Judging:
    """How a check's runs are held to the oracle: the backend's conventions (see
    :mod:`adapters.conventions`), the regime's scale S and whether tolerances are the
    measured ones alone (large shapes, reduced precision)."""

    conventions: Mapping[str, str]
    scale: float
    measured_only: bool

    @property
    def padded_outputs(self) -> str:
        return with_conventions(self.conventions)[PADDED_OUTPUTS]


def merged_variants(variants: list[Variant]) -> Variant:
    """One textbook variant with every departure of ``variants`` (later activations win,
    gate-gradient transforms apply in turn, a gradient term any of them drops is dropped)."""
    transforms = [variant.gate_gradients for variant in variants if variant.gate_gradients is not None]
    rows = [variant.recurrent_rows for variant in variants if variant.recurrent_rows is not None]

    def gate_gradients(dz: np.ndarray, cell: int, step: int) -> np.ndarray:
        for transform in transforms:
            dz = transform(dz, cell, step)
        return dz

    def recurrent_rows(cell: int, step: int) -> np.ndarray | None:
        chosen = [mask for mask in (choose(cell, step) for choose in rows) if mask is not None]
        return np.prod(chosen, axis=0) if chosen else None

    return Variant(
        activations={role: activation for variant in variants for role, activation in variant.activations.items()},
        gate_gradients=gate_gradients if transforms else None,
        cell_clip_gradient=all(variant.cell_clip_gradient for variant in variants),
        cell_output_gradient=all(variant.cell_output_gradient for variant in variants),
        recurrent_rows=recurrent_rows if rows else None,
    )


@dataclass(frozen=True)
class ComposedModel:
    """The models of the deviations armed on one case, applied together: each step of each
    model (:class:`conformance.deviations.DeviationModel`) in registry order."""

    models: tuple[DeviationModel, ...]

    @property
    def summary(self) -> str:
        return "; then ".join(model.summary for model in self.models)

    @property
    def arithmetic(self) -> str | None:
        """The least precise arithmetic of the models (None: the request's dtype)."""
        arithmetics = [model.arithmetic for model in self.models if model.arithmetic]
        return max(arithmetics, key=PRECISION_ORDER.index) if arithmetics else None

    @property
    def padded_outputs(self) -> bool:
        """Whether a model gives the outputs at padded steps itself (no convention laid over them)."""
        return any(model.padded_outputs for model in self.models)

    def changed(self, request: RunRequest) -> RunRequest:
        for model in self.models:
            if model.request is not None:
                request = model.request(request)
        return request

    def variant(self, request: RunRequest) -> Variant | None:
        variants = [model.variant(request) for model in self.models if model.variant is not None]
        return merged_variants(variants) if variants else None

    def forward(self, request: RunRequest) -> LSTMResult:
        """The backend's forward results for ``request``, by the models."""
        changed = self.changed(request)
        variant = self.variant(changed)
        result = oracle_forward(changed) if variant is None else textbook_forward(
            changed.spec, changed.params, changed.x, lengths=changed.lengths, initial_states=changed.initial_states, batch_first=changed.batch_first, variant=variant
        )
        for model in self.models:
            if model.result is not None:
                result = model.result(request, result)
        if request.last_output_only:
            # The mode returns each sequence's last output: the model's, at the last step its own request runs.
            result = result._replace(outputs=last_outputs(result.outputs, changed))
        return result

    def undefined(self, request: RunRequest, result: LSTMResult) -> LSTMResult | None:
        """The forward values any of the models leaves undefined (masks), None when none does."""
        masks = [model.undefined(request, result) for model in self.models if model.undefined is not None]
        if not masks:
            return None
        return LSTMResult(*(np.logical_or.reduce(field) for field in zip(*masks)))

    def gradients(self, request: RunRequest, upstream: LSTMResult) -> LSTMGradients:
        """The backend's gradients for ``request`` and ``upstream``, by the models."""
        for model in self.models:
            if model.upstream is not None:
                upstream = model.upstream(upstream)
        changed = self.changed(request)
        replaced = [model.backward for model in self.models if model.backward is not None]
        if replaced:
            return replaced[-1](changed, upstream)
        variant = self.variant(changed)
        if variant is None:
            return oracle_gradients(changed, upstream)
        return textbook_backward(
            changed.spec, changed.params, changed.x, *upstream,
            lengths=changed.lengths, initial_states=changed.initial_states, batch_first=changed.batch_first, variant=variant,
        )


def held_to(request: RunRequest, arithmetic: str | None) -> RunRequest:
    """``request`` as the tolerances see it: in the model's arithmetic where it has one that is
    less precise than the request's dtype."""
    if arithmetic is None or PRECISION_ORDER.index(arithmetic) <= PRECISION_ORDER.index(request.dtype):
        return request
    return replace(request, dtype=arithmetic)


def largest(values: np.ndarray) -> float:
    """max |value| over the finite values (0 for none)."""
    return float(np.max(np.abs(values[np.isfinite(values)]), initial=0.0))


def padded_tolerances(values: dict[str, np.ndarray], tolerances: dict[str, float]) -> dict[str, float]:
    """Tolerances for a model's values: padded positions the oracle defines as exactly 0 are
    held to 0 where the model keeps them 0, else (a model that computes them) to the
    tolerance of the values they sit beside."""
    return {
        name: tolerances[name.removesuffix(PADDED_SUFFIX)]
        if name.endswith(PADDED_SUFFIX) and name in values and tolerance == 0.0 and np.any(values[name] != 0) and name.removesuffix(PADDED_SUFFIX) in tolerances
        else tolerance
        for name, tolerance in tolerances.items()
    }


def defined_only(request: RunRequest, model: ComposedModel, predicted: LSTMResult, result: LSTMResult) -> tuple[LSTMResult, LSTMResult]:
    """The model's forward values and the backend's with the values the model leaves
    undefined set to 0 in both (so they are not compared; a backend result of another
    shape is left as it is, for the comparison to report)."""
    undefined = model.undefined(request, predicted)
    if undefined is None:
        return predicted, result

    def blank(values: LSTMResult) -> LSTMResult:
        return LSTMResult(*(np.where(mask, 0.0, value) if np.shape(value) == mask.shape else value for mask, value in zip(undefined, values)))

    return blank(predicted), blank(result)


def model_comparisons(runs: list[Run], models_of: Callable[[Run], tuple[KnownDeviation, ...]], judging: Judging) -> list[Comparison]:
    """Every quantity of every run against the composed models of the deviations
    ``models_of(run)`` gives for it (the quantities of those without a model left out); NaN
    or an infinity where the model has the same is a match. Quantities are suffixed with
    the run's number when the check made several runs."""
    comparisons = []
    for number, run in enumerate(runs):
        request = run.request
        deviations = models_of(run)
        model = ComposedModel(tuple(dict.fromkeys(deviation.model for deviation in deviations if deviation.model is not None)))
        left_out = frozenset().union(*(deviation.quantities for deviation in deviations if deviation.model is None))
        steps = request.x.shape[1 if request.batch_first else 0]
        padded = None if request.last_output_only else padded_mask(request.lengths, steps, request.batch_first)
        judged_as = held_to(request, model.arithmetic)
        if run.upstream is None:
            predicted, result = defined_only(request, model, model.forward(request), run.result)
            conventions = {**with_conventions(judging.conventions), PADDED_OUTPUTS: "zeros"} if model.padded_outputs else judging.conventions
            values = forward_quantities(conventional(request, predicted, conventions), padded, judging.padded_outputs)
            tolerances = expected_forward(judged_as, judging.scale, judging.conventions, judging.measured_only).tolerances
            if judging.measured_only:
                # Measured tolerances come from the oracle's values; the model's own can be
                # larger (nonzero where the oracle's are all 0), and the backend stores them
                # rounded to its dtype at least.
                unit = UNIT_ROUNDOFF[judged_as.dtype]
                tolerances = {
                    name: tolerance
                    if name.endswith(PADDED_SUFFIX) or name not in values
                    else max(tolerance, measured_tolerance(0.0, unit * largest(values[name])))
                    for name, tolerance in tolerances.items()
                }
            actual = forward_quantities(result, padded, judging.padded_outputs)
        else:
            values = gradient_quantities(model.gradients(request, conventional_upstream(request, run.upstream, judging.conventions)), padded)
            tolerances = expected_gradients(judged_as, run.upstream, judging.scale, judging.measured_only, judging.conventions).tolerances
            if judging.measured_only:
                # The rounding of the batch and step sums scales with the model's own values,
                # which a wrong gradient can make far larger than the oracle's, and the backend
                # stores them rounded to its dtype at least.
                batch, unit = request.x.shape[0 if request.batch_first else 1], UNIT_ROUNDOFF[judged_as.dtype]
                tolerances = {
                    name: max(tolerance, measured_tolerance(0.0, max(accumulation(request.dtype, batch, steps, values[name]), unit * largest(values[name]))))
                    if name in values and not name.endswith(PADDED_SUFFIX)
                    else tolerance
                    for name, tolerance in tolerances.items()
                }
            actual = gradient_quantities(run.result, padded)
        tolerances = padded_tolerances(values, tolerances)
        label = f"[run {number + 1}]" if len(runs) > 1 else ""
        comparisons += [
            compare_arrays(f"{name}{label}", actual.get(name, np.full(np.shape(expected), np.nan)), expected, tolerances[name], nan_equal=True)
            for name, expected in values.items()
            if name not in left_out
        ]
    return comparisons


def judged_against_models(
    runs: list[Run], armed: tuple[KnownDeviation, ...], judging: Judging, applying: Callable[[Run], tuple[KnownDeviation, ...]]
) -> tuple[ComposedModel | None, list[Comparison]]:
    """The armed deviations' models composed, and every run compared with the models of the
    armed deviations and of those ``applying(run)`` gives (the backend's deviations that
    apply to that run's request: a model says what the backend computes, whichever check
    asks); (None, []) when no armed deviation has a model."""
    models = tuple(dict.fromkeys(deviation.model for deviation in armed if deviation.model is not None))
    if not models or not runs:
        return None, []
    return ComposedModel(models), model_comparisons(runs, lambda run: tuple(dict.fromkeys((*armed, *applying(run)))), judging)
