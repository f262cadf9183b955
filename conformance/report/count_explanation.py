"""Why a parameter count is what it is: its terms added up, layer by layer."""

from __future__ import annotations

from reference import ParameterCount, ParameterTerm


def term_text(term: ParameterTerm) -> str:
    """``w_ih 192 [32 x 6]``; a vector's shape is its count, so ``b_ih 32``."""
    if len(term.shape) < 2:
        return f"{term.name} {term.count}"
    return f"{term.name} {term.count} [{' x '.join(str(size) for size in term.shape)}]"


def explain_count(count: ParameterCount) -> str:
    """The total as the sum of its layers, then each layer as the sum of one cell's terms
    (times the directions when it has two). For two_biases, input 6, hidden 8, 2 layers::

        why: total = layer 0 + layer 1 = 512 + 576 = 1088
          layer 0 = w_ih 192 [32 x 6] + w_hh 256 [32 x 8] + b_ih 32 + b_hh 32 = 512
          layer 1 = w_ih 256 [32 x 8] + w_hh 256 [32 x 8] + b_ih 32 + b_hh 32 = 576
    """
    layers = sorted({term.layer for term in count.terms})
    layer_totals = [sum(term.count for term in count.terms if term.layer == layer) for layer in layers]
    names = " + ".join(f"layer {layer}" for layer in layers)
    lines = [f"why: total = {names} = {' + '.join(str(total) for total in layer_totals)} = {count.total}"]
    for layer, layer_total in zip(layers, layer_totals):
        cell = [term for term in count.terms if term.layer == layer and term.direction == 0]
        directions = len({term.direction for term in count.terms if term.layer == layer})
        added = f"{' + '.join(term_text(term) for term in cell)} = {sum(term.count for term in cell)}"
        if directions > 1:
            added = f"{directions} directions x ({added}) = {layer_total}"
        lines.append(f"  layer {layer} = {added}")
    return "\n".join(lines)
