"""What a parity page is made of, whatever its format: sections of notes, tables and figures.

The Markdown and the HTML page render the same :class:`Page`, so they say the same
things. All text here is plain and unescaped: each renderer escapes it for its format.
"""

from __future__ import annotations

from dataclasses import dataclass

OUTCOME_ABBREVIATIONS = {"pass": "pass", "fail": "fail", "unsupported": "unsup", "known_deviation": "dev"}
# The tone (see Span) of a cell that shows one outcome.
OUTCOME_TONES = {"pass": "pass", "fail": "fail", "unsupported": "unsupported", "known_deviation": "deviation"}
# A compact cell shows each outcome that occurred as its symbol and count (``✓64 ◆15``): the
# symbols tell the outcomes apart without colour.
OUTCOME_SYMBOLS = {"pass": "✓", "fail": "✗", "unsupported": "–", "known_deviation": "◆"}
# A compact cell where nothing ran.
NOTHING_RAN = "·"


@dataclass(frozen=True)
class Span:
    """A piece of text. ``code``: an identifier or command, shown verbatim in monospace;
    ``tone``: a colour hint, as :func:`counts_tone` gives (pass, fail, deviation,
    unsupported), or '' for none; ``section``: the title of a section of the same page the
    text links to; ``href``: a relative address it links to (a file beside the page);
    ``detail``: more about it, shown on hover on the HTML page (the Markdown page leaves it
    out, so nothing may be said only there)."""

    text: str
    code: bool = False
    tone: str = ""
    section: str = ""
    href: str = ""
    detail: str = ""


Inline = str | Span
Line = tuple[Inline, ...]
# A table cell: one piece, or several side by side (links in a row, say).
Cell = Inline | Line


@dataclass(frozen=True)
class Table:
    """A table of plain cells; ``folded`` ones (long, or of secondary interest) are folded away
    on the HTML page. ``layout`` (HTML only): '' for plain text; ``lines`` for a dashboard's
    table, each cell on one line but lists of links; ``grid`` for a matrix of compact cells,
    each on one line but the row labels (the first column), its column headers turned upright
    to stay narrow."""

    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    folded: bool = False
    layout: str = ""


@dataclass(frozen=True)
class Section:
    """A titled part of the page: notes (paragraphs), tables, notes after the tables
    (``afterword``: what a reader needs only once the table has been read), subsections, and
    optionally a figure (``error_scatter``) that only the HTML page draws."""

    title: str
    notes: tuple[Line, ...] = ()
    tables: tuple[Table, ...] = ()
    subsections: tuple[Section, ...] = ()
    figure: str = ""
    afterword: tuple[Line, ...] = ()


@dataclass(frozen=True)
class Page:
    title: str
    lead: tuple[Line, ...]
    sections: tuple[Section, ...]


def format_error(value: float | None) -> str:
    """An error for a table: 3 significant digits, '0' when exact, 'non-finite' for None."""
    if value is None:
        return "non-finite"
    return "0" if value == 0 else f"{value:.2e}"


def counted(number: int, singular: str, plural: str = "") -> str:
    """``1 record``, ``2 records``; ``plural`` where adding an s is wrong."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def counts_text(counts: dict[str, int]) -> str:
    """Outcome counts as ``12 pass / 0 fail / 3 unsup / 2 dev``."""
    return " / ".join(f"{counts[outcome]} {label}" for outcome, label in OUTCOME_ABBREVIATIONS.items())


def counts_tone(counts: dict[str, int]) -> str:
    """fail when any failed, else deviation when any known deviation reproduced, else pass when
    any passed, else unsupported (nothing ran)."""
    if counts["fail"]:
        return "fail"
    if counts["known_deviation"]:
        return "deviation"
    return "pass" if counts["pass"] else "unsupported"


def counts_span(counts: dict[str, int]) -> Span:
    """A table cell of outcome counts, toned by :func:`counts_tone`."""
    return Span(counts_text(counts), tone=counts_tone(counts))


def compact_text(counts: dict[str, int]) -> str:
    """Outcome counts as symbols, each outcome that occurred once: ``✓64 ◆15``; ``·`` when none."""
    return " ".join(f"{OUTCOME_SYMBOLS[outcome]}{counts[outcome]}" for outcome in OUTCOME_SYMBOLS if counts[outcome]) or NOTHING_RAN


def compact_span(counts: dict[str, int], about: str = "") -> Span:
    """A narrow table cell of outcome counts (:func:`compact_text`), toned by
    :func:`counts_tone`; the full counts (``about`` first, when given) on hover."""
    return Span(compact_text(counts), tone=counts_tone(counts), detail=f"{about}: {counts_text(counts)}" if about else counts_text(counts))


def compact_legend() -> Line:
    """What the symbols and tones of compact cells mean, each shown in its tone."""
    return (
        "Cells: ",
        Span(f"{OUTCOME_SYMBOLS['pass']} passed", tone="pass"), " ",
        Span(f"{OUTCOME_SYMBOLS['fail']} failed (the backend differs)", tone="fail"), " ",
        Span(f"{OUTCOME_SYMBOLS['known_deviation']} a known deviation reproduced", tone="deviation"), " ",
        Span(f"{OUTCOME_SYMBOLS['unsupported']} unsupported", tone="unsupported"), " ",
        Span(f"{NOTHING_RAN} nothing ran", tone="unsupported"),
        "; each symbol is followed by its count, and the HTML page shows all counts on hover. The colour is the "
        "worst outcome in the cell.",
    )
