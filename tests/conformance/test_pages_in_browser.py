"""The HTML report and the scoreboard as a person sees them: opened in headless Chromium,
they render without console errors, show their figures and tables, and show hostile text
from a plug-in (markup and script in an adapter name or a deviation summary) as text
that runs nothing. Skips where no Chromium is installed (.ci/run installs Debian's)."""

from __future__ import annotations

import json
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


def test_the_committed_report_renders_its_sections_figures_and_tables(browser, tmp_path):
    browser.open(ROOT / "reports" / "parity.html")
    assert console_errors(browser) == []
    assert browser.evaluate("document.querySelector('h1').innerText") == "LSTM parity report"
    # Every navigation link leads to a section of the page.
    targets = browser.evaluate("[...document.querySelectorAll('nav a')].map(a => a.getAttribute('href'))")
    assert len(targets) >= 10
    assert browser.evaluate(f"{json.dumps(targets)}.every(href => document.querySelector(href) !== null)")
    # The feature grid and the error plot are drawn, at a size a person can read.
    sizes = browser.evaluate("[...document.querySelectorAll('figure svg')].map(svg => svg.getBoundingClientRect().width)")
    assert len(sizes) == 2 and min(sizes) > 300
    grid_cells = browser.evaluate("document.querySelector('#features ~ figure svg').querySelectorAll('rect').length")
    backends = browser.evaluate("document.querySelectorAll('#summary ~ table')[0].querySelectorAll('tbody tr').length")
    assert backends >= 10 and grid_cells >= backends * 10
    # Table cells are coloured by outcome as the legend says.
    assert browser.evaluate("getComputedStyle(document.querySelector('td.pass')).backgroundColor") == rgb(TONE_FILLS["pass"])
    browser.screenshot(tmp_path / "parity.png")
    assert (tmp_path / "parity.png").stat().st_size > 50_000


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
    if page == "scoreboard.html":
        assert HOSTILE_SUMMARY in text and DEVIATION in text
