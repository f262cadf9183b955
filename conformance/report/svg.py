"""The parity page's two figures as inline SVG: the feature grid and error against sequence length.

Both are plain strings of SVG markup; every piece of text from the document (backend
names, test ids) is escaped with ``html.escape(..., quote=True)``, ``<title>`` tooltips included.
"""

from __future__ import annotations

import math
from html import escape

from .content import counts_text, counts_tone, format_error
from .summary import ErrorPoint

TONE_FILLS = {"pass": "#b7dfb9", "fail": "#f4a6a6", "deviation": "#ffd59a", "unsupported": "#e2e2e2"}
TONE_LABELS = {"pass": "all that ran passed", "fail": "some failed", "deviation": "known deviation", "unsupported": "nothing ran"}
BACKEND_COLOURS = ("#1f77b4", "#d95f02", "#7570b3", "#1b9e77", "#e7298a", "#66a61e", "#a6761d", "#666666")
GRID_LINE = "#e4e4e4"
OUTCOME_MARKERS = {"pass": "pass", "known_deviation": "known deviation", "fail": "fail"}

GRID_LABEL_WIDTH = 190
GRID_CELL_WIDTH = 270
GRID_CELL_HEIGHT = 26

PANEL_WIDTH = 520
PANEL_HEIGHT = 380
PANEL_GAP = 30
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 84, 12, 44, 48
# Points with an error of exactly 0, or not finite, sit in bands below and above the log axis.
BAND = 26
MOST_DECADE_LABELS = 9
# A rough width of one character of legend text, to place the next legend entry.
CHARACTER_WIDTH = 8


def text(x: float, y: float, content: str, css_class: str = "", anchor: str = "start", transform: str = "") -> str:
    """A <text> element at (x, y) holding ``content``, escaped."""
    attributes = f' class="{css_class}"' if css_class else ""
    attributes += f' text-anchor="{anchor}"' if anchor != "start" else ""
    position = f'transform="{transform}"' if transform else f'x="{x:.1f}" y="{y:.1f}"'
    return f"<text {position}{attributes}>{escape(content, quote=True)}</text>"


def with_tooltip(tooltip: str, markup: str) -> str:
    """``markup`` grouped with a <title> (shown on hover) holding ``tooltip``, escaped."""
    return f"<g><title>{escape(tooltip, quote=True)}</title>{markup}</g>"


def line(x1: float, y1: float, x2: float, y2: float) -> str:
    """A light grid line."""
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{GRID_LINE}"/>'


def legend_swatch(x: float, y: float, fill: str, label: str) -> str:
    """A coloured square with ``label`` beside it."""
    return f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="14" height="14" fill="{fill}" stroke="#888"/>' + text(x + 20, y + 2, label)


def svg(css_class: str, width: float, height: float, label: str, parts: list[str]) -> str:
    """An <svg> element of this size holding ``parts``; ``label`` names it for screen readers."""
    opening = f'<svg class="{css_class}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
    return f'{opening} aria-label="{escape(label, quote=True)}">' + "".join(parts) + "</svg>"


def feature_grid(matrix: dict[str, dict[str, dict[str, int]]], backends: list[str]) -> str:
    """Features (rows) x backends (columns), each cell coloured by its outcome counts
    (:func:`conformance.report.content.counts_tone`) and showing them; a legend below."""
    width = GRID_LABEL_WIDTH + GRID_CELL_WIDTH * len(backends)
    height = GRID_CELL_HEIGHT * (len(matrix) + 1) + 40
    baseline = GRID_CELL_HEIGHT - 8
    parts = [
        text(GRID_LABEL_WIDTH + GRID_CELL_WIDTH * (column + 0.5), baseline, backend, "head", "middle")
        for column, backend in enumerate(backends)
    ]
    for row, (feature, cells) in enumerate(matrix.items(), start=1):
        y = GRID_CELL_HEIGHT * row
        parts.append(text(6, y + baseline, feature))
        for column, backend in enumerate(backends):
            counts = cells[backend]
            x = GRID_LABEL_WIDTH + GRID_CELL_WIDTH * column
            fill = TONE_FILLS[counts_tone(counts)]
            cell = (
                f'<rect x="{x + 1}" y="{y + 1}" width="{GRID_CELL_WIDTH - 2}" height="{GRID_CELL_HEIGHT - 2}" fill="{fill}"/>'
                + text(x + GRID_CELL_WIDTH / 2, y + baseline, counts_text(counts), anchor="middle")
            )
            parts.append(with_tooltip(f"{backend}, {feature}: {counts_text(counts)}", cell))
    legend_y = GRID_CELL_HEIGHT * (len(matrix) + 1) + 22
    for index, (tone, label) in enumerate(TONE_LABELS.items()):
        parts.append(legend_swatch(6 + 190 * index, legend_y, TONE_FILLS[tone], label))
    return svg("grid", width, height, "feature matrix", parts)


def decade_range(values: list[float]) -> tuple[int, int]:
    """The powers of ten that enclose the positive ``values`` (at least two decades)."""
    if not values:
        return -16, -1
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    return (low, high) if high - low >= 2 else (low - 1, low + 1)


def marker(x: float, y: float, colour: str, outcome: str) -> str:
    """A filled circle (pass), hollow circle (known deviation) or cross (fail)."""
    if outcome == "fail":
        cross = f"M{x - 4:.1f},{y - 4:.1f}L{x + 4:.1f},{y + 4:.1f}M{x - 4:.1f},{y + 4:.1f}L{x + 4:.1f},{y - 4:.1f}"
        return f'<path d="{cross}" stroke="{colour}" stroke-width="2"/>'
    fill = 'fill="none"' if outcome == "known_deviation" else f'fill="{colour}" fill-opacity="0.55"'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.2" {fill} stroke="{colour}"/>'


def error_panel(
    points: list[ErrorPoint], dtype: str, colours: dict[str, str], left: float, decades: tuple[int, int], largest_steps: int
) -> list[str]:
    """One dtype's scatter, ``left`` pixels from the figure's edge: log2 steps across, log10
    max relative error up, with bands for errors of exactly 0 (below) and non-finite (above)."""
    plot_width = PANEL_WIDTH - PLOT_LEFT - PLOT_RIGHT
    axis_height = PANEL_HEIGHT - PLOT_TOP - PLOT_BOTTOM - 2 * BAND
    x0, y0 = left + PLOT_LEFT, PLOT_TOP + BAND
    bottom = y0 + axis_height + BAND
    octaves = max(1, math.ceil(math.log2(largest_steps)))
    low, high = decades

    def x_of(steps: float) -> float:
        return x0 + plot_width * math.log2(steps) / octaves

    def y_of(error: float | None) -> float:
        if error is None:
            return y0 - BAND / 2
        if error == 0:
            return bottom - BAND / 2
        return y0 + axis_height * (high - math.log10(error)) / (high - low)

    parts = [
        text(x0 + plot_width / 2, PLOT_TOP - 22, dtype, "head", "middle"),
        f'<rect x="{x0:.1f}" y="{PLOT_TOP}" width="{plot_width}" height="{bottom - PLOT_TOP}" fill="none" stroke="#999"/>',
        f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{plot_width}" height="{axis_height}" fill="#fafafa" stroke="#999"/>',
        text(x0 - 6, y_of(None) + 4, "non-finite", "tick", "end"),
        text(x0 - 6, y_of(0) + 4, "0", "tick", "end"),
        text(x0 + plot_width / 2, bottom + 36, "steps (log scale)", "tick", "middle"),
    ]
    labelled_every = math.ceil((high - low) / MOST_DECADE_LABELS)
    for decade in range(low, high + 1):
        y = y_of(10.0**decade)
        parts.append(line(x0, y, x0 + plot_width, y))
        if (high - decade) % labelled_every == 0:
            parts.append(text(x0 - 6, y + 4, f"1e{decade}", "tick", "end"))
    for octave in range(octaves + 1):
        x = x_of(2**octave)
        parts += [line(x, y0, x, y0 + axis_height), text(x, bottom + 16, str(2**octave), "tick", "middle")]
    offsets = {backend: 5.0 * (index - (len(colours) - 1) / 2) for index, backend in enumerate(colours)}
    for index, point in enumerate(point for point in points if point.dtype == dtype):
        x = x_of(point.steps) + offsets[point.backend] + (index % 5 - 2) * 0.8
        size = "" if point.hidden_size is None else f", H {point.hidden_size}"
        tooltip = (
            f"{point.backend} {point.dtype}, {point.steps} steps{size}, "
            f"{point.threads} thread{'s' if point.threads > 1 else ''}: max rel error {format_error(point.rel_error)} "
            f"({point.outcome})\n{point.test}"
        )
        parts.append(with_tooltip(tooltip, marker(x, y_of(point.rel_error), colours[point.backend], point.outcome)))
    return parts


def error_scatter(points: list[ErrorPoint]) -> str:
    """Max relative error of outputs against sequence length, one panel per dtype, one colour
    per backend; markers tell pass, fail and known deviation apart."""
    label = "max relative error of outputs against steps"
    if not points:
        return svg("scatter", 400, 30, label, [text(0, 20, "No forward case compared outputs.")])
    backends = sorted({point.backend for point in points})
    colours = {backend: BACKEND_COLOURS[index % len(BACKEND_COLOURS)] for index, backend in enumerate(backends)}
    dtypes = sorted({point.dtype for point in points})
    decades = decade_range([point.rel_error for point in points if point.rel_error])
    largest_steps = max(point.steps for point in points)
    parts = [text(0, 0, "max rel error of outputs", "tick", "middle", transform=f"translate(12 {PANEL_HEIGHT / 2}) rotate(-90)")]
    for index, dtype in enumerate(dtypes):
        parts += error_panel(points, dtype, colours, index * (PANEL_WIDTH + PANEL_GAP), decades, largest_steps)
    legend_y = PANEL_HEIGHT + 18
    x = PLOT_LEFT
    for backend, colour in colours.items():
        parts.append(legend_swatch(x, legend_y, colour, backend))
        x += 30 + CHARACTER_WIDTH * len(backend)
    for outcome, name in OUTCOME_MARKERS.items():
        parts += [marker(x + 6, legend_y - 3, "#444", outcome), text(x + 16, legend_y + 2, name)]
        x += 30 + CHARACTER_WIDTH * len(name)
    return svg("scatter", len(dtypes) * (PANEL_WIDTH + PANEL_GAP), PANEL_HEIGHT + 30, label, parts)
