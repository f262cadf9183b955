"""Naming the mapping mistake behind a mismatch.

Each hypothesis is a mistake adapters and backends commonly make, written as what the
results would be under it: the oracle recomputed with the mistake made (gate blocks
permuted, a bias dropped or counted twice, the projection transposed, peepholes
permuted, initial states in another order, lengths ignored by a direction), or the
backend's results with the mistake undone (final states or gradients in another order).
A hypothesis explains a mismatch when every compared quantity except the padded ones
agrees with it within the comparison's own tolerance. Hypotheses are only tried after a
comparison failed, so passing runs pay nothing for them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from adapters.base import RunRequest
from reference import GATE_ORDER, LSTMGradients, LSTMResult, lstm_forward

from conformance.judge.expectations import PADDED_SUFFIX, Expectation, forward_quantities, gradient_quantities, oracle_forward, oracle_gradients, padded_mask
from conformance.judge.location import GATE_PARAMETERS, PEEPHOLE_GATES

Quantities = dict[str, np.ndarray]


@dataclass(frozen=True)
class Hypothesis:
    """A mistake in words, and the quantities the compared results would hold under it (a
    hypothesis may predict only some: then only those are compared, at least one)."""

    mistake: str
    quantities: Callable[[], Quantities]
    # What the quantities are compared with, when not the diagnosis's ``actual``.
    observed: Quantities | None = None


@dataclass(frozen=True)
class Diagnosis:
    """The mistakes that explain a mismatch, out of how many hypotheses were tried."""

    explanations: tuple[str, ...]
    tried: int

    def describe(self) -> str:
        if not self.explanations:
            return f"diagnosis: none of {self.tried} common mapping mistakes explains the difference"
        return "diagnosis: explained by " + "; or by ".join(self.explanations)


def diagnose(actual: Quantities, expectation: Expectation, hypotheses: list[Hypothesis], excused: frozenset[str] = frozenset()) -> Diagnosis:
    """The hypotheses whose quantities ``actual`` matches within ``expectation``'s tolerances,
    padded ones and ``excused`` ones (a known deviation's) left out. For hypotheses that
    undo a mistake in the backend's results, ``actual`` is the oracle's values."""
    compared = [name for name in expectation.values if not name.endswith(PADDED_SUFFIX) and name not in excused]
    explanations = []
    for hypothesis in hypotheses:
        expected = hypothesis.quantities()
        observed = actual if hypothesis.observed is None else hypothesis.observed
        predicted = [name for name in compared if name in expected]
        if predicted and all(matches(observed.get(name), expected[name], expectation.tolerances[name]) for name in predicted):
            explanations.append(hypothesis.mistake)
    return Diagnosis(tuple(explanations), len(hypotheses))


def matches(actual: np.ndarray | None, expected: np.ndarray, tolerance: float) -> bool:
    if actual is None or np.shape(actual) != np.shape(expected):
        return False
    difference = np.abs(np.asarray(actual, dtype=np.float64) - expected)
    return bool(np.all(np.isfinite(difference)) and (difference.size == 0 or difference.max() <= tolerance))


def permute_blocks(array: np.ndarray, order: tuple[int, ...], hidden: int) -> np.ndarray:
    """Gate block k of the result is block ``order[k]`` of ``array`` [4H, ...]."""
    return array.reshape(4, hidden, *array.shape[1:])[list(order)].reshape(array.shape)


def describe_order(order: tuple[int, ...], names: tuple[str, ...], kind: str, parameters: tuple[str, ...] = ()) -> str:
    """'gate blocks i and g swapped in w_ih' for a swap, else the whole order."""
    moved = [k for k in range(len(order)) if order[k] != k]
    if len(moved) == 2:
        where = f" in {', '.join(parameters)}" if parameters else ""
        return f"{kind} {names[moved[0]]} and {names[moved[1]]} swapped{where}"
    where = f" of {', '.join(parameters)}" if parameters else ""
    return f"{kind}{where} in the order {', '.join(names[k] for k in order)} instead of {', '.join(names)}"


# Gate orders other frameworks store their blocks in, as orders of the canonical blocks
# (i, f, g, o): block k of theirs is canonical block order[k].
FRAMEWORK_GATE_ORDERS = {
    (0, 2, 1, 3): "i, g, f, o: the order of TensorFlow's BasicLSTMCell, LSTMBlockCell and BlockLSTM, TF.js and Haiku",
    (0, 3, 1, 2): "i, o, f, g: ONNX's order (iofc)",
}


def describe_gate_order(order: tuple[int, ...], parameters: tuple[str, ...]) -> str:
    """:func:`describe_order` for gate blocks, naming the frameworks that use that order."""
    words = describe_order(order, GATE_ORDER, "gate blocks", parameters)
    return f"{words} ({FRAMEWORK_GATE_ORDERS[order]})" if order in FRAMEWORK_GATE_ORDERS else words


def gate_orders() -> Iterator[tuple[int, ...]]:
    """Every order of the four gate blocks but the canonical one."""
    return (order for order in itertools.permutations(range(4)) if order != (0, 1, 2, 3))


def gate_targets(present: set[str]) -> list[tuple[str, ...]]:
    """The parameter groups a gate order can be wrong in: all four together, each weight
    alone, the biases together (those the spec has)."""
    groups = [GATE_PARAMETERS, ("w_ih",), ("w_hh",), ("b_ih", "b_hh")]
    kept = [tuple(name for name in group if name in present) for group in groups]
    return list(dict.fromkeys(group for group in kept if group))


def cell_orders(num_layers: int, num_directions: int) -> list[tuple[str, tuple[int, ...]]]:
    """Wrong orders of the L * D cells of states: directions swapped, direction-major."""
    if num_directions != 2:
        return []
    cells = num_layers * 2
    orders = [("with the forward and backward directions swapped", tuple(k ^ 1 for k in range(cells)))]
    if num_layers > 1:
        major = tuple((k % num_layers) * 2 + k // num_layers for k in range(cells))
        inverse = tuple(int(i) for i in np.argsort(major))
        for order in dict.fromkeys((major, inverse)):
            orders.append(("in direction-major order (direction * L + layer) instead of layer-major (layer * D + direction)", order))
    return orders


def with_cells(request: RunRequest, change: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]) -> RunRequest:
    """The request with every cell's parameters replaced by ``change(cell arrays)``."""
    return replace(request, params=tuple(replace(cell, **change(cell.arrays())) for cell in request.params))


def transposed_blocks(array: np.ndarray, gates: tuple[int, ...], hidden: int) -> np.ndarray:
    """``array`` [4H, in] with the blocks of ``gates`` transposed where they are square (in = H)."""
    if array.shape[1] != hidden:
        return array
    blocks = array.reshape(4, hidden, -1).copy()
    for gate in gates:
        blocks[gate] = blocks[gate].T
    return blocks.reshape(array.shape)


def offset_words(delta: float) -> str:
    if delta > 0:
        return f"a forget-gate bias offset of {delta:+g} the mapping does not undo (the framework adds it at every step, as Haiku, Sonnet and TensorFlow's forget_bias do)"
    return f"a forget-gate bias offset of {delta:+g}: the mapping subtracts an offset the framework does not add, or subtracts it twice"


def layout_hypotheses(request: RunRequest, offsets: tuple[float, ...] = ()) -> Iterator[tuple[str, RunRequest]]:
    """Mistakes of layouts with arithmetic or fused arrays: a forget-gate bias offset left
    in (+-1 and +- each declared offset), each gate's square block transposed (of w_hh
    without projection, of w_ih where a layer's input size is H), a whole weight reshaped where it needed a transpose, the input and
    hidden halves of a fused [x, h] kernel swapped."""
    spec, hidden = request.spec, request.spec.hidden_size
    if spec.bias:
        for delta in dict.fromkeys((1.0, -1.0, *offsets, *(-offset for offset in offsets))):
            if delta:
                yield offset_words(delta), with_cells(request, lambda a, delta=delta: {"b_ih": a["b_ih"] + delta * forget_block(hidden)})
    square = ["w_hh"] * (spec.output_size == hidden) + ["w_ih"] * any(spec.layer_input_size(layer) == hidden for layer in range(spec.num_layers))
    for name in square:
        yield f"each gate's block of {name} transposed", with_cells(request, lambda a, name=name: {name: transposed_blocks(a[name], (0, 1, 2, 3), hidden)})
        for gate, gate_name in enumerate(GATE_ORDER):
            yield f"gate {gate_name}'s block of {name} transposed", with_cells(
                request, lambda a, name=name, gate=gate: {name: transposed_blocks(a[name], (gate,), hidden)}
            )
    for name in ("w_ih", "w_hh"):
        yield f"the whole {name}.T [in, 4H] reshaped to [4H, in] where it needed a transpose", with_cells(
            request, lambda a, name=name: {name: a[name].T.reshape(a[name].shape)}
        )
        yield f"the whole {name} [4H, in] reshaped to [in, 4H] where it needed a transpose", with_cells(
            request, lambda a, name=name: {name: a[name].reshape(a[name].shape[::-1]).T}
        )
    yield "the input and hidden halves of a fused [x, h] kernel swapped", with_cells(request, swapped_halves)


def forget_block(hidden: int) -> np.ndarray:
    """[4H]: 1 on the forget gate's block, 0 elsewhere."""
    block = np.zeros(4 * hidden)
    block[hidden : 2 * hidden] = 1.0
    return block


def swapped_halves(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A cell's weights read from the fused kernel [W_ih.T; W_hh.T] ([I + R, 4H]) stored
    with its halves the other way round, [W_hh.T; W_ih.T]."""
    inputs = arrays["w_ih"].shape[1]
    fused = np.concatenate([arrays["w_hh"].T, arrays["w_ih"].T])
    return {"w_ih": fused[:inputs].T, "w_hh": fused[inputs:].T}


def parameter_hypotheses(request: RunRequest, offsets: tuple[float, ...] = ()) -> Iterator[tuple[str, RunRequest]]:
    """Mistakes in the parameters an adapter hands over, as (mistake, request made with it);
    ``offsets``: the parameter offsets the adapter declares (:mod:`adapters.offsets`)."""
    spec, hidden = request.spec, request.spec.hidden_size
    present = set(request.params[0].arrays())
    for group in gate_targets(present):
        for order in gate_orders():
            yield describe_gate_order(order, group), with_cells(
                request, lambda arrays, group=group, order=order: {name: permute_blocks(arrays[name], order, hidden) for name in group}
            )
    yield from layout_hypotheses(request, offsets)
    if spec.bias:
        yield "b_hh dropped (only b_ih reaches the backend)", with_cells(request, lambda a: {"b_hh": 0 * a["b_hh"]})
        yield "b_ih dropped (only b_hh reaches the backend)", with_cells(request, lambda a: {"b_ih": 0 * a["b_ih"]})
        yield "b_ih counted twice (in place of b_hh)", with_cells(request, lambda a: {"b_hh": a["b_ih"]})
        yield "b_hh counted twice (in place of b_ih)", with_cells(request, lambda a: {"b_ih": a["b_hh"]})
        yield "the summed bias b_ih + b_hh counted twice", with_cells(
            request, lambda a: {"b_ih": a["b_ih"] + a["b_hh"], "b_hh": a["b_ih"] + a["b_hh"]}
        )
    if spec.proj_size:
        shape = (spec.proj_size, hidden)
        yield "the projection transposed: w_hr [P, H] reshaped to [H, P] where it needed a transpose", with_cells(
            request, lambda a: {"w_hr": a["w_hr"].reshape(shape[::-1]).T}
        )
        yield "the projection transposed: w_hr.T [H, P] reshaped to [P, H] where it needed a transpose", with_cells(
            request, lambda a: {"w_hr": a["w_hr"].T.reshape(shape)}
        )
    if spec.peepholes:
        names = tuple(PEEPHOLE_GATES)
        for order in itertools.permutations(range(3)):
            if order != (0, 1, 2):
                yield describe_order(order, names, "peephole vectors"), with_cells(
                    request, lambda a, order=order: {name: a[names[k]] for name, k in zip(names, order)}
                )
    if request.initial_states is not None:
        for words, order in cell_orders(spec.num_layers, spec.num_directions):
            h0, c0 = request.initial_states
            yield f"initial states {words}", replace(request, initial_states=(h0[list(order)], c0[list(order)]))


def forward_ignoring_lengths(request: RunRequest, ignoring: tuple[int, ...]) -> LSTMResult:
    """The oracle with the directions in ``ignoring`` run over every step, padding included
    (a reversed one from step T-1, a forward one keeping the state after step T-1);
    outputs at padded steps stay 0."""
    spec = request.spec
    x = request.x.transpose(1, 0, 2) if request.batch_first else request.x
    steps, batch, _ = x.shape
    lengths = np.asarray(request.lengths)
    valid = (np.arange(steps)[:, None] < lengths[None, :])[:, :, None]
    if request.initial_states is None:
        h0, c0 = np.zeros((spec.num_cells, batch, spec.output_size)), np.zeros((spec.num_cells, batch, spec.hidden_size))
    else:
        h0, c0 = request.initial_states
    h_n, c_n = np.empty_like(h0), np.empty_like(c0)
    layer_input = x
    for layer in range(spec.num_layers):
        outputs = []
        for direction in range(spec.num_directions):
            index = spec.cell_index(layer, direction)
            single = replace(
                spec, input_size=spec.layer_input_size(layer), num_layers=1, bidirectional=False, reverse=spec.runs_reversed(direction)
            )
            result = lstm_forward(
                single,
                (request.params[index],),
                layer_input,
                lengths=None if direction in ignoring else lengths,
                initial_states=(h0[index : index + 1], c0[index : index + 1]),
            )
            outputs.append(np.where(valid, result.outputs, 0.0))
            h_n[index], c_n[index] = result.h_n[0], result.c_n[0]
        layer_input = np.concatenate(outputs, axis=2)
    return LSTMResult(layer_input.transpose(1, 0, 2) if request.batch_first else layer_input, h_n, c_n)


def length_hypotheses(request: RunRequest, steps: int) -> Iterator[tuple[str, Callable[[], LSTMResult]]]:
    """Lengths ignored by one direction or by all, when some sequence is shorter than T."""
    if request.lengths is None or np.min(request.lengths) == steps:
        return
    spec = request.spec
    for ignoring in itertools.chain.from_iterable(
        itertools.combinations(range(spec.num_directions), count) for count in range(1, spec.num_directions + 1)
    ):
        if len(ignoring) > 1:
            mistake = "lengths ignored by both directions (each runs over the padding)"
        elif spec.runs_reversed(ignoring[0]):
            mistake = "the reverse direction starting at step T-1, over the padding, instead of at each sequence's last valid step"
        else:
            mistake = "final states taken after step T-1 (the recurrence runs on through the padding) instead of at each sequence's last valid step"
        yield mistake, lambda ignoring=ignoring: forward_ignoring_lengths(request, ignoring)


def forward_hypotheses(request: RunRequest, offsets: tuple[float, ...] = ()) -> list[Hypothesis]:
    """Every forward mistake that can apply to ``request`` (``offsets``: the adapter's declared parameter offsets)."""
    steps = request.x.shape[1 if request.batch_first else 0]
    padded = padded_mask(request.lengths, steps, request.batch_first)
    hypotheses = [
        Hypothesis(mistake, lambda changed=changed: forward_quantities(oracle_forward(changed), padded))
        for mistake, changed in parameter_hypotheses(request, offsets)
    ]
    hypotheses += [
        Hypothesis(mistake, lambda results=results: forward_quantities(results(), padded))
        for mistake, results in length_hypotheses(request, steps)
    ]
    oracle = oracle_forward(request)
    for words, order in cell_orders(request.spec.num_layers, request.spec.num_directions):
        reordered = oracle._replace(h_n=oracle.h_n[list(order)], c_n=oracle.c_n[list(order)])
        hypotheses.append(Hypothesis(f"final states {words}", lambda reordered=reordered: forward_quantities(reordered, padded)))
    return hypotheses


def diagnose_forward(
    request: RunRequest, actual: LSTMResult, expectation: Expectation, excused: frozenset[str] = frozenset(), offsets: tuple[float, ...] = ()
) -> Diagnosis:
    """Which common mistake makes the oracle compute what the backend returned (``excused``:
    quantities a known deviation already makes differ; ``offsets``: the adapter's declared
    parameter offsets, tried as offsets left in)."""
    steps = request.x.shape[1 if request.batch_first else 0]
    padded = padded_mask(request.lengths, steps, request.batch_first)
    return diagnose(forward_quantities(actual, padded), expectation, forward_hypotheses(request, offsets), excused)


# What a forward-mapping mistake predicts of gradients without knowing how the adapter maps
# parameter gradients back: the gradients of x and of the initial states, which depend on
# every parameter the backend saw.
INPUT_GRADIENTS = ("grad_x", "grad_h0", "grad_c0")


def gradient_hypotheses(
    request: RunRequest, actual: LSTMGradients, padded: np.ndarray | None, upstream: LSTMResult | None = None, offsets: tuple[float, ...] = ()
) -> list[Hypothesis]:
    """The backend's gradients with a mistake of their mapping back undone (gate blocks of
    parameter gradients in another order, initial-state gradients in another cell order),
    and, given ``upstream``, every forward-mapping mistake: the oracle's gradients of the
    parameters the mistake hands over, compared on x and the initial states."""
    hidden = request.spec.hidden_size
    present = set(actual.params[0].arrays())
    hypotheses = []
    for group in gate_targets(present):
        for order in gate_orders():
            undo = tuple(int(k) for k in np.argsort(order))
            params = tuple(replace(cell, **{name: permute_blocks(getattr(cell, name), undo, hidden) for name in group}) for cell in actual.params)
            mistake = describe_gate_order(order, tuple(f"grad_{name}" for name in group))
            hypotheses.append(Hypothesis(mistake, lambda params=params: gradient_quantities(actual._replace(params=params), padded)))
    for words, order in cell_orders(request.spec.num_layers, request.spec.num_directions):
        undo = list(np.argsort(order))
        undone = actual._replace(h0=actual.h0[undo], c0=actual.c0[undo])
        hypotheses.append(Hypothesis(f"initial-state gradients {words}", lambda undone=undone: gradient_quantities(undone, padded)))
    if upstream is not None:
        observed = gradient_quantities(actual, padded)
        for mistake, changed in parameter_hypotheses(request, offsets):
            hypotheses.append(
                Hypothesis(
                    f"{mistake} (in the parameters handed to the backend; seen in the gradients of x and the initial states)",
                    lambda changed=changed: input_gradients(changed, upstream, padded),
                    observed,
                )
            )
    return hypotheses


def input_gradients(request: RunRequest, upstream: LSTMResult, padded: np.ndarray | None) -> Quantities:
    """The oracle's gradients of x and the initial states for ``request``."""
    quantities = gradient_quantities(oracle_gradients(request, upstream), padded)
    return {name: value for name, value in quantities.items() if name.partition("[")[0].removesuffix(PADDED_SUFFIX) in INPUT_GRADIENTS}


def diagnose_gradients(
    request: RunRequest,
    actual: LSTMGradients,
    expectation: Expectation,
    excused: frozenset[str] = frozenset(),
    upstream: LSTMResult | None = None,
    offsets: tuple[float, ...] = (),
) -> Diagnosis:
    """Which common mistake explains the backend's gradients: in mapping gradients back,
    or (given ``upstream``) in mapping parameters forward."""
    steps = request.x.shape[1 if request.batch_first else 0]
    padded = padded_mask(request.lengths, steps, request.batch_first)
    return diagnose(expectation.values, expectation, gradient_hypotheses(request, actual, padded, upstream, offsets), excused)
