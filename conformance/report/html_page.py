"""The parity page as one self-contained HTML file: inline CSS and SVG, no script, nothing fetched.

It says what the Markdown page says (both render :func:`conformance.report.sections.build_page`)
and adds two figures: the feature matrix as a coloured grid and the error of each forward
case against its sequence length. Every piece of text from the document is escaped with
``html.escape(..., quote=True)``, inside the SVG too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape

from .content import Inline, Page, Section, Span, Table
from .sections import build_page
from .summary import backend_names, error_points, feature_matrix
from .svg import TONE_FILLS, error_scatter, feature_grid

BASE_STYLE = """
body { margin: 0; background: #fff; color: #1d1d1f;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1160px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 1.8em; margin: 0.2em 0 0.4em; }
h2 { font-size: 1.35em; margin-top: 2em; padding-bottom: 0.2em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.1em; margin-top: 1.5em; }
nav a { margin-right: 1em; }
a { color: #0b5cad; }
code { font: 0.86em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f3f3f3;
  padding: 0 0.25em; border-radius: 3px; overflow-wrap: break-word; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #d6d6d6; padding: 0.3em 0.6em; text-align: left; vertical-align: top; white-space: pre-wrap; }
th { background: #f0f0f0; }
tbody tr:nth-child(even) td { background: #fafafa; }
details { margin: 0.8em 0; }
summary { cursor: pointer; color: #0b5cad; }
figure { margin: 1em 0; overflow-x: auto; }
svg { max-width: 100%; height: auto; font: 12px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
svg text { fill: #1d1d1f; }
svg .tick { font-size: 11px; fill: #555; }
svg .head { font-weight: 600; }
"""
TONE_STYLE = "".join(f"td.{tone} {{ background: {fill} !important; }}\n" for tone, fill in TONE_FILLS.items())
STYLE = BASE_STYLE + TONE_STYLE

FIGURES: dict[str, Callable[[dict], str]] = {
    "feature_grid": lambda document: feature_grid(feature_matrix(document), backend_names(document)),
    "error_scatter": lambda document: error_scatter(error_points(document)),
}


def anchor(title: str) -> str:
    """An id for a section title of the page's own (``Worst errors`` -> ``worst-errors``)."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def inline(piece: Inline) -> str:
    """A piece of text as escaped HTML, in <code> for code."""
    if isinstance(piece, str):
        return escape(piece, quote=True)
    text = escape(piece.text, quote=True)
    return f"<code>{text}</code>" if piece.code else text


def cell(piece: Inline) -> str:
    """A <td> holding ``piece``, classed by its tone when it has one."""
    tone = piece.tone if isinstance(piece, Span) else ""
    return f'<td class="{tone}">{inline(piece)}</td>' if tone else f"<td>{inline(piece)}</td>"


def table(content: Table) -> str:
    """A <table>, inside a closed <details> when the table is folded."""
    head = "".join(f"<th>{escape(header, quote=True)}</th>" for header in content.headers)
    body = "\n".join("<tr>" + "".join(cell(piece) for piece in row) + "</tr>" for row in content.rows)
    markup = f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
    if content.folded:
        return f"<details><summary>Show all {len(content.rows)} rows</summary>\n{markup}\n</details>"
    return markup


def section(content: Section, level: int, figure: Callable[[str], str]) -> str:
    """A section; one with a figure shows it, and folds its tables away as the figure's data."""
    title = escape(content.title, quote=True)
    heading = f'<h2 id="{anchor(content.title)}">{title}</h2>' if level == 2 else f"<h{level}>{title}</h{level}>"
    parts = [heading]
    parts += ["<p>" + "".join(inline(piece) for piece in note) + "</p>" for note in content.notes]
    tables = [table(part) for part in content.tables]
    if content.figure:
        parts.append(f"<figure>{figure(content.figure)}</figure>")
        tables = [f"<details><summary>As a table</summary>\n{markup}\n</details>" for markup in tables]
    parts += tables
    parts += [section(subsection, level + 1, figure) for subsection in content.subsections]
    return "<section>\n" + "\n".join(parts) + "\n</section>"


def render_html(document: dict) -> str:
    """The HTML page of a parity document (a dict as loaded from the JSON)."""
    return page_html(build_page(document), lambda name: FIGURES[name](document))


def no_figure(name: str) -> str:
    raise ValueError(f"figure: this page draws no figures, got a section asking for {name!r}")


def page_html(page: Page, figure: Callable[[str], str] = no_figure) -> str:
    """Any page as one HTML file; ``figure`` draws a section's named figure as SVG."""
    navigation = " ".join(f'<a href="#{anchor(part.title)}">{escape(part.title, quote=True)}</a>' for part in page.sections)
    lead = "\n".join("<p>" + "".join(inline(piece) for piece in note) + "</p>" for note in page.lead)
    body = "\n".join(section(part, 2, figure) for part in page.sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(page.title, quote=True)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{escape(page.title, quote=True)}</h1>\n{lead}\n<nav>{navigation}</nav>\n{body}\n</main>\n</body>\n</html>\n"
    )
