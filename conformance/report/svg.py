"""The parity page's figure as inline SVG: error against sequence length.

Both are plain strings of SVG markup; every piece of text from the document (backend
names, test ids) is escaped with ``html.escape(..., quote=True)``, ``<title>`` tooltips included.
"""

from __future__ import annotations

import math
from html import escape

from conformance.report.content import format_error
from conformance.report.summary import ErrorPoint

# Light tints of the Okabe-Ito colours (blue, vermillion, yellow) and a grey: told apart with
# any common colour-vision deficiency, and every compact cell carries a symbol as well.
TONE_FILLS = {"pass": "#cfe6f7", "fail": "#f7c2a6", "deviation": "#f8eca0", "unsupported": "#e6e6e6"}
# Paul Tol's muted and bright schemes: distinct for colour-blind readers up to their length.
BACKEND_COLOURS = (
    "#332288", "#88ccee", "#44aa99", "#117733", "#999933", "#ddcc77", "#cc6677", "#882255", "#aa4499",
    "#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#bbbbbb",
)
GRID_LINE = "#e4e4e4"
OUTCOME_MARKERS = {"pass": "pass", "known_deviation": "known deviation", "fail": "fail"}
# Runs of one backend, sequence length and outcome whose errors land within this many pixels
# of each other are drawn as one marker (its tooltip counts them and gives the largest).
MERGED_PIXELS = 4.0

PANEL_WIDTH = 520
PANEL_HEIGHT = 380
PANEL_GAP = 30
PANELS_PER_ROW = 2
LEGEND_ROW = 22
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


def svg(css_class: str, width: float, height: float, label: str, parts: list[str], style: str = "") -> str:
    """An <svg> element of this size holding ``parts`` (and ``style``, CSS for its classes);
    ``label`` names it for screen readers."""
    opening = f'<svg class="{css_class}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
    styled = f"<style>{style}</style>" if style else ""
    return f'{opening} aria-label="{escape(label, quote=True)}">{styled}' + "".join(parts) + "</svg>"


def colour_style(count: int) -> str:
    """CSS classes ``c0`` ... for ``count`` backend colours (stroke and fill), and ``k`` for
    the legend's neutral markers."""
    rules = [f".c{index}{{stroke:{BACKEND_COLOURS[index % len(BACKEND_COLOURS)]};fill:{BACKEND_COLOURS[index % len(BACKEND_COLOURS)]}}}" for index in range(count)]
    return "".join(rules) + ".k{stroke:#444;fill:#444}.o{fill-opacity:.55}.h{fill:none}"


def decade_range(values: list[float]) -> tuple[int, int]:
    """The powers of ten that enclose the positive ``values`` (at least two decades)."""
    if not values:
        return -16, -1
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    return (low, high) if high - low >= 2 else (low - 1, low + 1)


def marker(x: float, y: float, colour: str, outcome: str) -> str:
    """A filled circle (pass), hollow circle (known deviation) or cross (fail), of the colour
    class ``colour`` (:func:`colour_style`)."""
    if outcome == "fail":
        cross = f"M{x - 4:.1f},{y - 4:.1f}L{x + 4:.1f},{y + 4:.1f}M{x - 4:.1f},{y + 4:.1f}L{x + 4:.1f},{y - 4:.1f}"
        return f'<path class="{colour} h" d="{cross}" stroke-width="2"/>'
    fill = "h" if outcome == "known_deviation" else "o"
    return f'<circle class="{colour} {fill}" cx="{x:.1f}" cy="{y:.1f}" r="3.2"/>'


def error_panel(
    points: list[ErrorPoint], dtype: str, colours: dict[str, int], left: float, decades: tuple[int, int], largest_steps: int
) -> list[str]:
    """One dtype's scatter, ``left`` pixels from the figure's edge: log2 steps across, log10
    max relative error up, with bands for errors of exactly 0 (below) and non-finite (above);
    ``colours``: each backend's colour class number (:func:`colour_style`)."""
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
    merged: dict[tuple[str, int, str, int], list[ErrorPoint]] = {}
    for point in points:
        if point.dtype == dtype:
            key = (point.backend, point.steps, point.outcome, round(y_of(point.rel_error) / MERGED_PIXELS))
            merged.setdefault(key, []).append(point)
    for (backend, steps, outcome, _), group in merged.items():
        worst = max(group, key=lambda point: math.inf if point.rel_error is None else point.rel_error)
        x = x_of(steps) + offsets[backend]
        parts.append(with_tooltip(merged_tooltip(group, worst), marker(x, y_of(worst.rel_error), f"c{colours[backend]}", outcome)))
    return parts


def span_of(values: list[int], unit: str) -> str:
    """``H 6`` or ``H 6 to 64`` for the values' range."""
    low, high = min(values), max(values)
    return f"{unit} {low}" if low == high else f"{unit} {low} to {high}"


def merged_tooltip(group: list[ErrorPoint], worst: ErrorPoint) -> str:
    """What a marker stands for: backend, dtype, steps, how many runs, their hidden sizes
    and thread counts, the largest error and the case (its id as ``--case`` takes it, or the
    thread run) that reached it."""
    sizes = [point.hidden_size for point in group if point.hidden_size is not None]
    threads = [point.threads for point in group]
    ranges = ", ".join([*([span_of(sizes, "H")] if sizes else []), span_of(threads, "threads")])
    case = (worst.test.partition("[")[2].removesuffix("]") or worst.test).removeprefix(f"{worst.backend}-")
    runs = f"{len(group)} runs" if len(group) > 1 else "1 run"
    return (
        f"{worst.backend} {worst.dtype}, {worst.steps} steps: {runs} ({ranges}), max rel error "
        f"{'up to ' if len(group) > 1 else ''}{format_error(worst.rel_error)} ({worst.outcome})\n{case}"
    )


def legend_entries(labels: list[str], width: float, top: float) -> tuple[list[tuple[float, float, str]], float]:
    """Places for legend entries, left to right in rows no wider than ``width`` from ``top``:
    (x, y, label) each, and the y below the last row."""
    placed, x, y = [], float(PLOT_LEFT), top
    for label in labels:
        needed = 30 + CHARACTER_WIDTH * len(label)
        if x + needed > width and x > PLOT_LEFT:
            x, y = float(PLOT_LEFT), y + LEGEND_ROW
        placed.append((x, y, label))
        x += needed
    return placed, y + LEGEND_ROW


def error_scatter(points: list[ErrorPoint]) -> str:
    """Max relative error of outputs against sequence length, one panel per dtype (at most
    :data:`PANELS_PER_ROW` side by side), one colour per backend; markers tell pass, fail
    and known deviation apart; the legend below, in rows."""
    label = "max relative error of outputs against steps"
    if not points:
        return svg("scatter", 400, 30, label, [text(0, 20, "No forward case compared outputs.")])
    backends = sorted({point.backend for point in points})
    colours = {backend: index for index, backend in enumerate(backends)}
    dtypes = sorted({point.dtype for point in points})
    decades = decade_range([point.rel_error for point in points if point.rel_error])
    largest_steps = max(point.steps for point in points)
    columns = min(len(dtypes), PANELS_PER_ROW)
    rows = math.ceil(len(dtypes) / columns)
    width = columns * (PANEL_WIDTH + PANEL_GAP)
    parts = []
    for index, dtype in enumerate(dtypes):
        top = (index // columns) * PANEL_HEIGHT
        parts.append(f'<g transform="translate(0 {top})">')
        parts.append(text(0, 0, "max rel error of outputs", "tick", "middle", transform=f"translate(12 {PANEL_HEIGHT / 2}) rotate(-90)") if index % columns == 0 else "")
        parts += error_panel(points, dtype, colours, (index % columns) * (PANEL_WIDTH + PANEL_GAP), decades, largest_steps)
        parts.append("</g>")
    placed, bottom = legend_entries([*backends, *OUTCOME_MARKERS.values()], width, rows * PANEL_HEIGHT + 18)
    markers = {name: outcome for outcome, name in OUTCOME_MARKERS.items()}
    for x, y, name in placed:
        if name in colours:
            parts.append(legend_swatch(x, y, BACKEND_COLOURS[colours[name] % len(BACKEND_COLOURS)], name))
        else:
            parts += [marker(x + 6, y - 3, "k", markers[name]), text(x + 16, y + 2, name)]
    return svg("scatter", width, bottom, label, parts, colour_style(len(backends)))
