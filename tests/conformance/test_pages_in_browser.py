"""The HTML report and the scoreboard as a person sees them: opened in headless Chromium,
they render without console errors, show their figures and tables, and show hostile text
from a plug-in (markup and script in an adapter name or a deviation summary) as text
that runs nothing. Skips where no Chromium is installed (.ci/run installs Debian's)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.report.files import write_pages, write_scoreboard
from conformance.report.merging import merge_documents
from conformance.report.svg import TONE_FILLS

from ..support.browser import Browser, find_browser
from .test_scoreboard import DEVIATION, run_release

ROOT = Path(__file__).resolve().parents[2]
BROWSER = find_browser()
# Each test starts Chromium (seconds): at full depth only, as the depth's rule says.
pytestmark = [pytest.mark.skipif(BROWSER is None, reason="no Chromium on PATH (Debian: apt-get install chromium)"), pytest.mark.full_depth]

HOSTILE_NAME = '<img src=x onerror="window.pwned=1"><b>plugin</b>'
HOSTILE_SUMMARY = '</td><script>window.pwned=2</script><svg onload="window.pwned=3"></svg>& "quoted"'
# What a person must not see: a console message of these levels.
ERROR_LEVELS = {"error", "exception", "assert"}


@pytest.fixture(scope="module")
def browser():
    opened = Browser(BROWSER)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def hostile_pages(tmp_path_factory) -> Path:
    """The parity page and the scoreboard of a real plug-in run whose adapter name and
    deviation summary carry markup and script."""
    directory = tmp_path_factory.mktemp("hostile")
    document = json.loads(run_release(directory, "0.1").read_text())
    for record in document["records"]:
        record["backend"] = HOSTILE_NAME
    for deviation in document["deviations"]:
        deviation["backend"], deviation["summary"] = HOSTILE_NAME, HOSTILE_SUMMARY
    write_pages(document, directory)
    write_scoreboard(merge_documents([(directory / "parity.json", document)]), directory)
    return directory


def console_errors(browser: Browser) -> list[tuple[str, str]]:
    return [message for message in browser.messages if message[0] in ERROR_LEVELS]


def rgb(hex_colour: str) -> str:
    """``#b7dfb9`` as the browser's computed style writes it."""
    red, green, blue = (int(hex_colour[index : index + 2], 16) for index in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def test_the_committed_report_renders_its_sections_figure_and_tables(browser, tmp_path):
    browser.open(ROOT / "reports" / "parity.html")
    assert console_errors(browser) == []
    assert browser.evaluate("document.querySelector('h1').innerText") == "LSTM parity report"
    # Every navigation link leads to a section of the page, and every link to a section too.
    targets = browser.evaluate("[...document.querySelectorAll('nav a')].map(a => a.getAttribute('href'))")
    assert len(targets) >= 10
    internal = browser.evaluate("[...document.querySelectorAll('main a[href^=\"#\"]')].map(a => a.getAttribute('href'))")
    assert browser.evaluate(f"{json.dumps(targets + internal)}.every(href => document.getElementById(href.slice(1)) !== null)")
    # The records the page was built from are linked, beside it.
    assert browser.evaluate("document.querySelector('a[href=\"parity.json.gz\"]') !== null")
    assert (ROOT / "reports" / "parity.json.gz").exists()
    # The error plot is drawn at a size a person can read.
    sizes = browser.evaluate("[...document.querySelectorAll('figure svg')].map(svg => svg.getBoundingClientRect().width)")
    assert len(sizes) == 1 and min(sizes) > 800
    backends = browser.evaluate("document.querySelectorAll('#summary ~ .box table')[0].querySelectorAll('tbody tr').length")
    grid_cells = browser.evaluate("document.querySelector('#features ~ .box table').querySelectorAll('tbody td[title]').length")
    assert backends >= 10 and grid_cells >= backends * 10
    # Table cells are coloured by outcome as the legend says.
    assert browser.evaluate("getComputedStyle(document.querySelector('td.pass')).backgroundColor") == rgb(TONE_FILLS["pass"])
    browser.screenshot(tmp_path / "parity.png")
    assert (tmp_path / "parity.png").stat().st_size > 50_000


# The screen the page is read on: a laptop's, in CSS pixels.
SCREEN = (1280, 800)
# A verdict: conforms, nothing ran, or what is wrong, counted.
VERDICT = r"✓ conforms|· nothing ran|[✗◆] \d+ (failures?|adapter errors?|findings?)(, \d+ (adapter errors?|findings?))*"


def test_at_1280_by_800_every_verdict_shows_above_the_fold_and_nothing_scrolls_sideways(browser, tmp_path):
    browser.set_viewport(*SCREEN)
    try:
        browser.open(ROOT / "reports" / "parity.html")
        width, height = SCREEN
        # The page itself never scrolls sideways: what is wider scrolls inside its own box.
        assert browser.evaluate("document.documentElement.scrollWidth") <= width
        outside = browser.evaluate(
            f"[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > {width} "
            "&& !e.closest('.box')).map(e => e.tagName).slice(0, 5)"
        )
        assert outside == []
        boxes = browser.evaluate(
            f"[...document.querySelectorAll('.box')].filter(b => b.getBoundingClientRect().right > {width}).length"
        )
        assert boxes == 0
        # One verdict line per backend, every one of them visible without scrolling.
        rows = browser.evaluate(
            "[...document.querySelectorAll('#verdicts ~ .box tbody tr')].map(r => [r.cells[0].innerText, r.cells[1].innerText, r.getBoundingClientRect().bottom])"
        )
        backends = browser.evaluate("document.querySelectorAll('#summary ~ .box table')[0].querySelectorAll('tbody tr').length")
        assert len(rows) == backends >= 10
        assert all(bottom <= height for _, _, bottom in rows), rows
        assert all(re.fullmatch(VERDICT, verdict) for _, verdict, _ in rows), rows
        # Hover details: each compact cell carries its full counts, and they agree with its symbols.
        cells = browser.evaluate("[...document.querySelectorAll('#features ~ .box td[title]')].map(td => [td.innerText, td.title])")
        assert len(cells) >= backends * 10
        for text, title in cells:
            counts = dict(zip(("pass", "fail", "unsup", "dev"), (int(part.split()[0]) for part in title.split(": ", 1)[1].split(" / "))))
            shown = {symbol: int(number) for symbol, number in (re.match(r"(\D)(\d+)", part).groups() for part in text.split() if part != "·")}
            assert shown == {symbol: count for symbol, count in zip("✓✗–◆", counts.values()) if count}, (text, title)
        refusals = browser.evaluate("[...document.querySelectorAll('#capabilities ~ .box td.unsupported')].map(td => td.title)")
        assert refusals and all(refusals), "every refusal in the capability grid says why on hover"
        # A long table scrolls inside its box with its header row in sight.
        moved = browser.evaluate(
            "(() => { const box = document.querySelector('#capabilities ~ .box.tall'); box.scrollIntoView(); box.scrollTop = 400;"
            " const head = box.querySelector('th').getBoundingClientRect().top; return [box.scrollTop, head - box.getBoundingClientRect().top]; })()"
        )
        assert moved[0] > 0 and abs(moved[1]) <= 2, moved
        browser.evaluate("window.scrollTo(0, 0)")
        browser.screenshot(tmp_path / "fold.png", whole_page=False)
        assert (tmp_path / "fold.png").stat().st_size > 20_000
    finally:
        browser.set_viewport(1280, 900)


def test_the_committed_scoreboard_renders_its_verdicts(browser):
    browser.open(ROOT / "reports" / "scoreboard.html")
    assert console_errors(browser) == []
    assert browser.evaluate("document.querySelector('h1').innerText") == "LSTM conformance scoreboard"
    assert browser.evaluate("document.querySelectorAll('td.deviation').length") >= 20
    assert browser.evaluate("getComputedStyle(document.querySelector('td.deviation')).backgroundColor") == rgb(TONE_FILLS["deviation"])
    assert "Outcomes by version" in browser.evaluate("document.body.innerText")


@pytest.mark.parametrize("page", ["parity.html", "scoreboard.html"])
def test_hostile_text_from_a_plugin_shows_as_text_and_runs_nothing(browser, hostile_pages, page):
    browser.open(hostile_pages / page)
    assert console_errors(browser) == []
    assert browser.evaluate("window.pwned === undefined")
    assert browser.evaluate("document.querySelectorAll('main img, main script, main b, td svg').length") == 0
    text = browser.evaluate("document.body.innerText")
    assert HOSTILE_NAME in text
    assert browser.evaluate("document.documentElement.scrollWidth <= innerWidth")
    if page == "scoreboard.html":
        assert HOSTILE_SUMMARY in text and DEVIATION in text
