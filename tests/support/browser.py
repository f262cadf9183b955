"""A page opened in headless Chromium, driven over the DevTools protocol on a pipe (no
package beyond the standard library): load a file, collect what its console and its log
report, evaluate expressions in it, take a screenshot."""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

# Debian's package installs the browser as ``chromium``; other systems name it otherwise.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
# Seconds any one protocol reply or page load may take before the test fails.
TIMEOUT_S = 60.0


def find_browser() -> str | None:
    """The path of a Chromium on PATH, or None."""
    return next((path for path in map(shutil.which, BROWSER_NAMES) if path), None)


class BrowserError(RuntimeError):
    """The browser answered with an error, or did not answer in time."""


class Browser:
    """One headless Chromium with one page. ``messages`` collects what the page reported:
    console calls, uncaught exceptions and log entries (level and text)."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900) -> None:
        self.profile = tempfile.TemporaryDirectory(prefix="lstm-browser-")
        commands_read, self.commands = os.pipe()
        self.replies, replies_write = os.pipe()

        def as_fds_3_and_4() -> None:
            # The protocol pipe: the browser reads commands on fd 3 and writes replies on fd 4.
            commands, replies = os.dup(commands_read), os.dup(replies_write)
            os.dup2(commands, 3)
            os.dup2(replies, 4)

        self.process = subprocess.Popen(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-pipe",
             f"--user-data-dir={self.profile.name}", f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=as_fds_3_and_4,
        )
        os.close(commands_read)
        os.close(replies_write)
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)

    def read_message(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.replies], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise BrowserError("the browser did not answer in time")
            chunk = os.read(self.replies, 1 << 20)
            if not chunk:
                raise BrowserError("the browser closed its protocol pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: bool = False, **params) -> dict:
        """Send one protocol command (to the page's session when ``session``); its result."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self.read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str) -> dict:
        """The first ``event`` that arrives (or arrived already)."""
        deadline = time.monotonic() + TIMEOUT_S
        for index, seen in enumerate(self.events):
            if seen.get("method") == event:
                return self.events.pop(index)
        while True:
            message = self.read_message(deadline)
            if message.get("method") == event:
                return message
            self.events.append(message)

    def open(self, path: Path) -> None:
        """Load the file at ``path`` and wait until it has loaded."""
        self.call("Page.navigate", session=True, url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (JSON-serialisable values)."""
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    @property
    def messages(self) -> list[tuple[str, str]]:
        """(level, text) of every console call, uncaught exception and log entry so far."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event.get("method") == "Runtime.consoleAPICalled":
                found.append((params["type"], " ".join(str(argument.get("value", "")) for argument in params["args"])))
            elif event.get("method") == "Runtime.exceptionThrown":
                found.append(("exception", params["exceptionDetails"].get("text", "")))
            elif event.get("method") == "Log.entryAdded":
                found.append((params["entry"]["level"], params["entry"]["text"]))
        return found

    def set_viewport(self, width: int, height: int) -> None:
        """Show the page in a viewport of ``width`` x ``height`` CSS pixels, as a desktop
        screen at scale 1 would."""
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height, deviceScaleFactor=1, mobile=False)

    def screenshot(self, path: Path, whole_page: bool = True) -> None:
        """The whole page (or only what the viewport shows) as a PNG at ``path``."""
        data = self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=whole_page)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except BrowserError:
            pass
        try:
            self.process.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.commands)
        os.close(self.replies)
        self.profile.cleanup()
