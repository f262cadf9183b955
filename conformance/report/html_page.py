"""The parity page as one self-contained HTML file: inline CSS and SVG, no script, nothing fetched.

It says what the Markdown page says (both render :func:`conformance.report.sections.build_page`)
and adds a figure, the error of each forward case against its sequence length, and hover
details (a compact cell's full counts, a refusal's reason). Every table scrolls inside its own
box, with its header row in sight, so the page itself never scrolls sideways. Every piece of
text from the document is escaped with ``html.escape(..., quote=True)``, inside the SVG too.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from html import escape

from conformance.report.content import Cell, Inline, Line, Page, Section, Span, Table
from conformance.report.sections import build_page
from conformance.report.summary import error_points
from conformance.report.svg import TONE_FILLS, error_scatter

BASE_STYLE = """
body { margin: 0; background: #fff; color: #1d1d1f;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 12px 24px 60px; }
h1 { font-size: 1.6em; margin: 0.2em 0 0.2em; }
h2 { font-size: 1.3em; margin-top: 1.8em; padding-bottom: 0.2em; border-bottom: 1px solid #ddd; }
main > section:first-of-type > h2 { margin-top: 0.6em; }
h3 { font-size: 1.1em; margin-top: 1.5em; }
p { margin: 0.4em 0; }
nav { margin: 1.2em 0; font-size: 0.9em; }
nav a { margin-right: 1em; white-space: nowrap; }
a { color: #0b5cad; }
code { font: 0.86em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f3f3f3;
  padding: 0 0.25em; border-radius: 3px; overflow-wrap: anywhere; }
.box { overflow: auto; width: fit-content; max-width: 100%; margin: 0.8em 0; border: 1px solid #e4e4e4; }
.box.tall { max-height: 78vh; }
table { border-collapse: separate; border-spacing: 0; font-size: 0.88em; }
th, td { border-right: 1px solid #d6d6d6; border-bottom: 1px solid #d6d6d6; padding: 0.25em 0.55em; text-align: left;
  vertical-align: top; white-space: pre-wrap; overflow-wrap: break-word; }
th { background: #f0f0f0; position: sticky; top: 0; z-index: 1; overflow-wrap: normal; }
td[title] { white-space: nowrap; cursor: help; }
table.lines, table.grid { font-size: 0.82em; }
table.lines td, table.grid td { white-space: nowrap; padding: 0.2em 0.4em; }
table.grid td:first-child { white-space: normal; }
table.grid td:first-child { min-width: 10em; }
table.grid th:not(:first-child) { writing-mode: vertical-rl; transform: rotate(180deg); vertical-align: bottom;
  white-space: nowrap; padding: 0.4em 0.2em; }
tbody tr:nth-child(even) td { background: #fafafa; }
details { margin: 0.8em 0; }
summary { cursor: pointer; color: #0b5cad; }
figure { margin: 1em 0; overflow-x: auto; }
svg { max-width: 100%; height: auto; font: 12px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
svg text { fill: #1d1d1f; }
svg .tick { font-size: 11px; fill: #555; }
svg .head { font-weight: 600; }
span.pass, span.fail, span.deviation, span.unsupported { padding: 0 0.3em; border-radius: 3px; white-space: nowrap; }
"""
TONE_STYLE = "".join(f"td.{tone}, span.{tone} {{ background: {fill} !important; }}\n" for tone, fill in TONE_FILLS.items())
# A table column whose cells are all code is set in code's font by a class of the table
# (``k3``: its third column), not by a <code> in each of its cells: the worst-error tables
# alone hold thousands of such cells. Columns past this many keep their <code>s.
CODE_COLUMNS_STYLED = 16
CODE_COLUMN_STYLE = (
    ", ".join(f"table.k{number} td:nth-child({number})" for number in range(1, CODE_COLUMNS_STYLED + 1))
    + " { font: 0.86em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }\n"
)
STYLE = BASE_STYLE + TONE_STYLE + CODE_COLUMN_STYLE

# A table with more rows than this scrolls within the screen's height, its header row in sight.
TALL_ROWS = 20

FIGURES: dict[str, Callable[[dict], str]] = {
    "error_scatter": lambda document: error_scatter(error_points(document)),
}


def anchor(title: str) -> str:
    """An id for a section title of the page's own (``Worst errors`` -> ``worst-errors``)."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class Anchors:
    """The ids of a page's headings, in page order: a title's first heading gets
    :func:`anchor` of it (so a link to a title reaches its first heading), later ones a
    numbered suffix, so that no two ids are the same."""

    def __init__(self) -> None:
        self.used: Counter[str] = Counter()

    def next(self, title: str) -> str:
        base = anchor(title)
        self.used[base] += 1
        return base if self.used[base] == 1 else f"{base}-{self.used[base] - 1}"


def attribute(name: str, value: str) -> str:
    """`` name="value"`` with the value escaped, or '' for an empty value."""
    return f' {name}="{escape(value, quote=True)}"' if value else ""


def inline(piece: Inline) -> str:
    """A piece of text as escaped HTML: in <code> for code, in a toned <span>, a link to a
    section or a file, with its detail as a hover title."""
    if isinstance(piece, str):
        return escape(piece, quote=True)
    text = escape(piece.text, quote=True)
    markup = f"<code>{text}</code>" if piece.code else text
    if piece.tone:
        markup = f'<span class="{piece.tone}">{markup}</span>'
    target = f"#{anchor(piece.section)}" if piece.section else piece.href
    if target:
        return f"<a{attribute('href', target)}{attribute('title', piece.detail)}>{markup}</a>"
    return f"<span{attribute('title', piece.detail)}>{markup}</span>" if piece.detail else markup


def plain_code(piece: Cell) -> bool:
    """Whether ``piece`` is code and nothing else: no tone, link or hover text."""
    return isinstance(piece, Span) and piece.code and not (piece.tone or piece.section or piece.href or piece.detail)


def code_columns(content: Table) -> frozenset[int]:
    """The columns (from 0, among the first :data:`CODE_COLUMNS_STYLED`) whose cells are plain
    code but for plain text ('-', 'same'): their table's class sets them in code's font."""
    return frozenset(
        index
        for index in range(min(len(content.headers), CODE_COLUMNS_STYLED))
        if any(plain_code(row[index]) for row in content.rows)
        and all(plain_code(row[index]) or isinstance(row[index], str) for row in content.rows)
    )


def cell(piece: Cell, in_code_column: bool = False) -> str:
    """A <td> holding ``piece`` (several pieces side by side for a tuple); a Span's tone
    classes the cell, and its detail is the cell's hover title (a link's own, for a link);
    in a code column (:func:`code_columns`), code as plain text. Without its end tag, which
    HTML makes optional before the next cell or the row's end: a report's tables hold tens
    of thousands of cells."""
    if in_code_column and plain_code(piece):
        return f"<td>{escape(piece.text, quote=True)}"
    if isinstance(piece, tuple):
        return '<td class="list">' + "".join(inline(part) for part in piece)
    if not isinstance(piece, Span):
        return f"<td>{inline(piece)}"
    link = bool(piece.section or piece.href)
    title = "" if link else piece.detail
    content = inline(replace(piece, tone="", detail=piece.detail if link else ""))
    return f"<td{attribute('class', piece.tone)}{attribute('title', title)}>{content}"


def paragraph(note: Line) -> str:
    """A note as a <p>."""
    return "<p>" + "".join(inline(piece) for piece in note) + "</p>"


def table(content: Table) -> str:
    """A <table> in a box that scrolls sideways when the table is wider than the page, and
    within the screen's height when it has more than :data:`TALL_ROWS` rows (its header row
    staying in sight); inside a closed <details> when the table is folded."""
    head = "".join(f"<th>{escape(header, quote=True)}</th>" for header in content.headers)
    coded = code_columns(content)
    # A row's end tag is optional before the next row, as its cells' are (see cell).
    body = "\n".join("<tr>" + "".join(cell(piece, index in coded) for index, piece in enumerate(row)) for row in content.rows)
    box = "box tall" if len(content.rows) > TALL_ROWS else "box"
    classes = attribute("class", " ".join([content.layout, *(f"k{index + 1}" for index in sorted(coded))]).strip())
    markup = f'<div class="{box}"><table{classes}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>'
    if content.folded:
        return f"<details><summary>Show all {len(content.rows)} rows</summary>\n{markup}\n</details>"
    return markup


def section(content: Section, level: int, figure: Callable[[str], str], anchors: Anchors) -> str:
    """A section; one with a figure shows it, and folds its tables away as the figure's data."""
    title = escape(content.title, quote=True)
    parts = [f'<h{level} id="{anchors.next(content.title)}">{title}</h{level}>']
    parts += [paragraph(note) for note in content.notes]
    tables = [table(part) for part in content.tables]
    if content.figure:
        parts.append(f"<figure>{figure(content.figure)}</figure>")
        tables = [f"<details><summary>As a table</summary>\n{markup}\n</details>" for markup in tables]
    parts += tables
    parts += [paragraph(note) for note in content.afterword]
    parts += [section(subsection, level + 1, figure, anchors) for subsection in content.subsections]
    return "<section>\n" + "\n".join(parts) + "\n</section>"


def render_html(document: dict, records_href: str = "") -> str:
    """The HTML page of a parity document (a dict as loaded from the JSON); ``records_href``:
    where the page links to the records it was built from ('' for no link)."""
    return page_html(build_page(document, records_href), lambda name: FIGURES[name](document))


def no_figure(name: str) -> str:
    raise ValueError(f"figure: this page draws no figures, got a section asking for {name!r}")


def page_html(page: Page, figure: Callable[[str], str] = no_figure) -> str:
    """Any page as one HTML file; ``figure`` draws a section's named figure as SVG. The first
    section (the verdicts) comes straight after the lead, above the list of sections."""
    navigation = " ".join(f'<a href="#{anchor(part.title)}">{escape(part.title, quote=True)}</a>' for part in page.sections)
    lead = "\n".join(paragraph(note) for note in page.lead)
    anchors = Anchors()
    sections = [section(part, 2, figure, anchors) for part in page.sections]
    body = "\n".join([*sections[:1], f"<nav>{navigation}</nav>", *sections[1:]])
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(page.title, quote=True)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{escape(page.title, quote=True)}</h1>\n{lead}\n{body}\n</main>\n</body>\n</html>\n"
    )
