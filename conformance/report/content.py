"""What a parity page is made of, whatever its format: sections of notes, tables and figures.

The Markdown and the HTML page render the same :class:`Page`, so they say the same
things. All text here is plain and unescaped: each renderer escapes it for its format.
"""

from __future__ import annotations

from dataclasses import dataclass

OUTCOME_ABBREVIATIONS = {"pass": "pass", "fail": "fail", "unsupported": "unsup", "known_deviation": "dev"}
# The tone (see Span) of a cell that shows one outcome.
OUTCOME_TONES = {"pass": "pass", "fail": "fail", "unsupported": "unsupported", "known_deviation": "deviation"}


@dataclass(frozen=True)
class Span:
    """A piece of text. ``code``: an identifier or command, shown verbatim in monospace;
    ``tone``: a colour hint, as :func:`counts_tone` gives (pass, fail, deviation,
    unsupported), or '' for none."""

    text: str
    code: bool = False
    tone: str = ""


Inline = str | Span
Line = tuple[Inline, ...]


@dataclass(frozen=True)
class Table:
    """A table of plain cells; ``folded`` ones (long, or of secondary interest) are folded away
    on the HTML page."""

    headers: tuple[str, ...]
    rows: tuple[tuple[Inline, ...], ...]
    folded: bool = False


@dataclass(frozen=True)
class Section:
    """A titled part of the page: notes (paragraphs), tables, subsections, and optionally a
    figure (``feature_grid`` or ``error_scatter``) that only the HTML page draws."""

    title: str
    notes: tuple[Line, ...] = ()
    tables: tuple[Table, ...] = ()
    subsections: tuple[Section, ...] = ()
    figure: str = ""


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
