"""The parity page as GitHub-flavoured Markdown, built from the parity document alone.

The same document always gives the same text. Text that comes from the document
(backend names, versions, reasons, test ids) is escaped so that it can neither break a
table nor turn into markup: punctuation Markdown gives meaning to is backslash-escaped,
newlines become ``<br>``, and identifiers go in code spans fenced longer than any run of
backticks they contain.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from conformance.report.content import Cell, Inline, Line, Page, Section, Table
from conformance.report.sections import build_page

# Punctuation Markdown gives meaning to; an underscore only where it could open or close
# emphasis (not inside a word like proj_size).
SIGNIFICANT = re.compile(r"([\\`*\[\]<>|&#]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z]))")
BACKTICK_RUN = re.compile(r"`+")


def escape_text(text: str) -> str:
    """``text`` as literal Markdown: significant punctuation escaped, each line break as ``<br>``."""
    return "<br>".join(SIGNIFICANT.sub(r"\\\1", line) for line in text.splitlines())


def code_span(text: str) -> str:
    """``text`` as a code span that is safe in a table cell: on one line, ``|`` escaped (GFM
    removes the backslash in cells), fenced by more backticks than ``text`` has in a row."""
    flat = " ".join(text.splitlines()).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in BACKTICK_RUN.findall(flat)), default=0) + 1)
    padding = " " if flat[:1] in ("`", " ") or flat[-1:] in ("`", " ") else ""
    return f"{fence}{padding}{flat}{padding}{fence}"


def github_anchor(title: str) -> str:
    """The id GitHub gives the first heading of ``title``: lower case, punctuation but
    hyphens and underscores dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def inline(piece: Inline) -> str:
    """A piece of text as Markdown: a code span for code, escaped text otherwise, as a link
    when it links to a section or a file (a detail is for hovering, which Markdown lacks)."""
    if isinstance(piece, str):
        return escape_text(piece)
    text = code_span(piece.text) if piece.code else escape_text(piece.text)
    target = f"#{github_anchor(piece.section)}" if piece.section else piece.href
    return f"[{text}]({quote(target, safe='/#.-_~')})" if target else text


def cell(piece: Cell) -> str:
    """A table cell: one piece, or several side by side."""
    return "".join(inline(part) for part in piece) if isinstance(piece, tuple) else inline(piece)


def line(pieces: Line) -> str:
    """A note's pieces as one Markdown paragraph."""
    return "".join(inline(piece) for piece in pieces)


def table(content: Table) -> list[str]:
    """A GFM table, one line per row, header and separator first."""
    rows = [
        "| " + " | ".join(escape_text(header) for header in content.headers) + " |",
        "|" + "|".join(" --- " for _ in content.headers) + "|",
    ]
    rows += ["| " + " | ".join(cell(piece) for piece in row) + " |" for row in content.rows]
    return rows


def section(content: Section, level: int) -> list[str]:
    """A section's lines under a heading of ``level``, its subsections one level down."""
    lines = [f"{'#' * level} {escape_text(content.title)}", ""]
    for note in content.notes:
        lines += [line(note), ""]
    for part in content.tables:
        lines += [*table(part), ""]
    for note in content.afterword:
        lines += [line(note), ""]
    for subsection in content.subsections:
        lines += section(subsection, level + 1)
    return lines


def render_markdown(document: dict, records_href: str = "") -> str:
    """The Markdown page of a parity document (a dict as loaded from the JSON); ``records_href``:
    where the page links to the records it was built from ('' for no link)."""
    return page_markdown(build_page(document, records_href))


def page_markdown(page: Page) -> str:
    """Any page (the parity page, the scoreboard) as Markdown."""
    lines = [f"# {escape_text(page.title)}", ""]
    for note in page.lead:
        lines += [line(note), ""]
    for part in page.sections:
        lines += section(part, 2)
    return "\n".join(lines).rstrip("\n") + "\n"
