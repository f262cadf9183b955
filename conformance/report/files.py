"""Reading a parity JSON file and writing the Markdown and HTML pages built from it."""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import asdict
from pathlib import Path

from conformance.outputs import write_text_atomically
from conformance.report.html_page import page_html, render_html
from conformance.report.markdown_page import page_markdown, render_markdown
from conformance.report.scoreboard import deviation_rows, scoreboard_page
from conformance.report.schema import SCHEMA_VERSION, parity_schema

MARKDOWN_NAME = "parity.md"
HTML_NAME = "parity.html"
# The records a run or a merge writes beside its pages: gzip-compressed JSON, about a tenth
# of the JSON's size (the matrix's records are kept the same way).
RECORDS_NAME = "parity.json.gz"
SCOREBOARD_NAME = "scoreboard"
SCOREBOARD_FILES = tuple(f"{SCOREBOARD_NAME}.{suffix}" for suffix in ("md", "html", "json"))


class ReportError(Exception):
    """A parity file that cannot be read, or is not a document this version understands."""


# JSON Schema's type names and the Python types json.loads gives for each.
JSON_TYPES = {
    "object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool, "null": type(None),
}


def schema_problem(value: object, schema: dict, root: dict, where: str) -> str | None:
    """Where ``value`` breaks ``schema`` (``$ref``, ``const``, ``enum``, ``type``, ``required``,
    ``properties``, ``additionalProperties`` as a schema, ``items``: the keywords the parity
    schema uses for structure), or None. Full validation (patterns, bounds) is the test
    suite's job: it needs jsonschema, which running does not."""
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return schema_problem(value, target, root, where)
    if "const" in schema and value != schema["const"]:
        return f"{where}: expected {schema['const']!r}, got {value!r}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where}: expected one of {schema['enum']}, got {value!r}"
    names = schema.get("type")
    if names is not None:
        names = [names] if isinstance(names, str) else names
        matches = any(isinstance(value, JSON_TYPES[name]) and not (isinstance(value, bool) and name in ("integer", "number")) for name in names)
        if not matches:
            return f"{where}: expected {' or '.join(names)}, got {type(value).__name__}"
    if isinstance(value, dict):
        missing = [field for field in schema.get("required", ()) if field not in value]
        if missing:
            return f"{where} lacks {', '.join(missing)} (written by another version of the format?)"
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            inner = schema.get("properties", {}).get(key, extra if isinstance(extra, dict) else None)
            problem = schema_problem(item, inner, root, f"{where}.{key}") if inner is not None else None
            if problem:
                return problem
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problem = schema_problem(item, schema["items"], root, f"{where}[{index}]")
            if problem:
                return problem
    return None


def check_document(document: object, source: str) -> dict:
    """``document`` when it is a parity document of :data:`SCHEMA_VERSION` whose every part has
    its required fields of the schema's types (:func:`schema_problem`); ReportError naming
    ``source`` and the first field that is wrong otherwise."""
    if not isinstance(document, dict) or "schema_version" not in document:
        raise ReportError(f"{source}: not a parity document (no schema_version)")
    version = document["schema_version"]
    if version != SCHEMA_VERSION:
        raise ReportError(
            f"{source}: schema_version {version!r}, but this version of lstm-parity reads schema_version "
            f"{SCHEMA_VERSION} only; rerun the suite with this version (lstm-parity run) to get one"
        )
    schema = parity_schema()
    missing = [field for field in schema["required"] if field not in document]
    if missing:
        raise ReportError(f"{source}: not a parity document (missing {', '.join(missing)})")
    problem = schema_problem(document, schema, schema, "document")
    if problem:
        raise ReportError(f"{source}: {problem.removeprefix('document.')}")
    return document


def load_document(path: Path) -> dict:
    """The parity document in the JSON file at ``path`` (gzip-compressed when its name ends in
    ``.gz``, as the version matrix's committed records are), checked by :func:`check_document`."""
    try:
        text = gzip.decompress(path.read_bytes()).decode("utf-8") if path.suffix == ".gz" else path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError; a truncated stream, EOFError
        raise ReportError(f"{path}: cannot read it ({getattr(error, 'strerror', None) or error or type(error).__name__})") from None
    except UnicodeDecodeError as error:
        raise ReportError(f"{path}: expected UTF-8 JSON, got a byte that is not UTF-8 ({error.reason} at byte {error.start})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportError(f"{path}: not JSON ({error})") from None
    except RecursionError:
        raise ReportError(f"{path}: not a parity document (JSON nested deeper than Python parses)") from None
    return check_document(document, str(path))


def records_href(records: Path | None, directory: Path) -> str:
    """The address of the records file ``records`` from a page in ``directory`` (relative,
    with forward slashes), or '' for none."""
    if records is None:
        return ""
    return Path(os.path.relpath(Path(records).resolve(), Path(directory).resolve())).as_posix()


def write_pages(document: dict, directory: Path, records: Path | None = None) -> list[Path]:
    """Write parity.md and parity.html for ``document`` into ``directory`` (created if need be),
    each linking to the records file ``records`` when given; return their paths."""
    href = records_href(records, directory)
    pages = {directory / MARKDOWN_NAME: render_markdown(document, href), directory / HTML_NAME: render_html(document, href)}
    return [write_text_atomically(path, text) for path, text in pages.items()]


def scoreboard_data(document: dict, skipped: list[dict]) -> dict:
    """The scoreboard as data: per deviation, its backend, each version's verdict (in version
    order) and the versions it reproduces on; the runs it was built from."""
    return {
        "runs": [{"label": run["label"], "source": run["source"]} for run in document.get("runs", [])],
        "not_run": skipped,
        "deviations": [
            {
                "name": row.name,
                "backend": row.backend,
                "versions": [{"version": version, **asdict(found)} for version, found in row.verdicts.items()],
                "versions_seen": row.seen,
            }
            for row in deviation_rows(document)
        ],
    }


def write_scoreboard(document: dict, directory: Path, skipped: list[dict] | None = None) -> list[Path]:
    """Write scoreboard.md, scoreboard.html and scoreboard.json for a (merged) parity document
    and the versions a matrix could not run (``matrix.json`` entries)."""
    skipped = skipped or []
    page = scoreboard_page(document, skipped)
    files = {
        directory / f"{SCOREBOARD_NAME}.md": page_markdown(page),
        directory / f"{SCOREBOARD_NAME}.html": page_html(page),
        directory / f"{SCOREBOARD_NAME}.json": json.dumps(scoreboard_data(document, skipped), indent=1, sort_keys=True) + "\n",
    }
    return [write_text_atomically(path, text) for path, text in files.items()]
