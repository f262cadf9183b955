"""TensorFlow.js served in headless Chromium (adapters/exec/tfjs/run_in_browser.js): the
page computes what Node computes, arrays (NaN included) cross into it and back unchanged,
a browser that dies fails one request, and closing the backend leaves no browser behind.

The page runs TensorFlow.js's CPU backend here, the same JavaScript kernels Node runs, so
that any difference is the transport's; the suite itself holds the WebGL backend
(``tfjs-webgl``) to the oracle."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

from adapters.base import RunRequest
from adapters.errors import BackendFailure
from adapters.registry import load_adapter
from reference import LSTMResult, LSTMSpec, init_params

from ..support.browser import find_browser
from ..support.processes import children, left_in_group

TFJS = Path(__file__).resolve().parents[2] / "adapters" / "exec" / "tfjs"
TFJS_DECLARATION = json.loads((TFJS / "tfjs.json").read_text(encoding="utf-8"))
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None or find_browser() is None or not (TFJS / "node_modules" / "@tensorflow" / "tfjs").is_dir(),
    reason="needs node, TensorFlow.js's packages (python3 quickstart.py installs them with npm) and Chromium",
)
SPEC = LSTMSpec(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)


def in_browser(tmp_path: Path, backend: str = "cpu", name: str = "tfjs-page") -> str:
    """A declaration of tf.layers.lstm served in the page on ``backend``, as an exec reference."""
    declaration = {**TFJS_DECLARATION, "name": name, "command": ["node", str(TFJS / "run_in_browser.js"), "lstm.js", backend]}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(declaration), encoding="utf-8")
    return f"exec:{path}"


def request() -> RunRequest:
    """A float32 run with lengths, NaN at every padded input position."""
    x = np.random.default_rng(0).standard_normal((5, 3, 3))
    lengths = np.array([5, 2, 0])
    x[2:, 1] = np.nan
    x[:, 2] = np.nan
    return RunRequest(SPEC, init_params(SPEC, 1), x, lengths=lengths, dtype="float32")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, parents first."""
    return [found for child in children(pid) for found in (child, *descendants(child))]


def kill_with_descendants(pid: int) -> None:
    """SIGKILL ``pid``, then every process that was below it."""
    below = descendants(pid)
    for target in (pid, *below):
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGKILL)


def test_the_page_computes_what_node_computes_bit_for_bit(tmp_path):
    page, node = load_adapter(in_browser(tmp_path)), load_adapter("tfjs")
    run = request()
    from_page, from_node = page.run(run), node.run(run)
    assert np.isnan(from_node.outputs).any(), "the NaN padding should reach tfjs's results (its known deviation)"
    for name in ("outputs", "h_n", "c_n"):
        np.testing.assert_array_equal(getattr(from_page, name), getattr(from_node, name))
    clean = RunRequest(SPEC, run.params, np.nan_to_num(run.x), lengths=run.lengths, dtype="float32")
    upstream = LSTMResult(*(np.random.default_rng(1).standard_normal(getattr(from_node, name).shape) for name in ("outputs", "h_n", "c_n")))
    grads_page, grads_node = page.gradients(clean, upstream), node.gradients(clean, upstream)
    np.testing.assert_array_equal(grads_page.x, grads_node.x)
    for got, want in zip(grads_page.params, grads_node.params):
        for name, array in want.arrays().items():
            np.testing.assert_array_equal(got.arrays()[name], array)
    assert page.parameter_count(SPEC) == node.parameter_count(SPEC)
    page.close()
    node.close()


def test_a_browser_that_dies_fails_its_request_and_the_next_starts_another(tmp_path):
    adapter = load_adapter(in_browser(tmp_path))
    run = request()
    first = adapter.run(run)
    (browser,) = children(adapter.program.process.pid)
    # A run of seconds on the page's CPU backend (about 0.8 GMAC at 0.4 GMAC/s), the browser
    # and its processes (the page's renderer among them) killed one second into it: the
    # request is in the page by then (its arrays take milliseconds to read and send).
    spec = LSTMSpec(input_size=64, hidden_size=256, num_layers=2, bidirectional=True)
    long_run = RunRequest(spec, init_params(spec, 2), np.random.default_rng(2).standard_normal((200, 4, 64)), dtype="float32")
    killer = threading.Timer(1.0, kill_with_descendants, (browser,))
    killer.start()
    with pytest.raises(BackendFailure, match=r"reported an error while running: .*the browser exited \(killed by SIGKILL\)"):
        adapter.run(long_run)
    killer.join()
    np.testing.assert_array_equal(adapter.run(run).outputs, first.outputs)
    adapter.close()


def test_closing_the_backend_stops_its_browser(tmp_path):
    adapter = load_adapter(in_browser(tmp_path))
    adapter.run(request())
    group = adapter.program.process.pid
    assert children(group), "the program should have started a browser"
    adapter.close()
    assert left_in_group(group) == []


def test_without_a_browser_the_backend_is_unavailable_and_says_why(tmp_path, monkeypatch):
    only_node = tmp_path / "bin"
    only_node.mkdir()
    (only_node / "node").symlink_to(NODE)
    monkeypatch.setenv("PATH", str(only_node))
    availability = load_adapter(in_browser(tmp_path)).availability()
    assert not availability.available
    assert "no browser on PATH (looked for chromium, chromium-browser, google-chrome)" in availability.reason


def test_a_browser_that_cannot_start_is_unavailable_with_its_last_words(tmp_path, monkeypatch):
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "node").symlink_to(NODE)
    browser = folder / "chromium"
    browser.write_text("#!/bin/sh\necho 'starting' >&2\necho 'FATAL: no display for this browser' >&2\nexit 5\n")
    browser.chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))
    availability = load_adapter(in_browser(tmp_path)).availability()
    assert not availability.available
    assert "the browser exited (exit status 5); its last words: FATAL: no display for this browser" in availability.reason


def test_an_unknown_tfjs_backend_is_refused_with_the_ones_there_are(tmp_path):
    availability = load_adapter(in_browser(tmp_path, backend="webgpu")).availability()
    assert not availability.available
    assert 'expected a TensorFlow.js backend (webgl, cpu) as the second argument, got "webgpu"' in availability.reason
