"""A headless Chromium driven over the DevTools protocol, for tests of the viewer page.

Chromium comes from Debian's ``chromium`` package (:func:`ensure_chromium` installs it when
missing and the machine allows it). The protocol runs over ``--remote-debugging-pipe``: JSON
messages separated by NUL bytes on two file descriptors, so no driver, websocket library or
port is needed; the browser only ever loads the loopback page the test points it at.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Browser", "BrowserError", "chromium_path", "ensure_chromium"]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


class BrowserError(RuntimeError):
    """The browser failed, answered with a protocol error, or a wait timed out."""


def chromium_path() -> str | None:
    """The Chromium executable on PATH, if any."""
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def ensure_chromium(timeout_s: float = 900.0) -> str | None:
    """Chromium's path, installing Debian's package first when it is missing (as root only)."""
    found = chromium_path()
    if found or shutil.which("apt-get") is None or os.geteuid() != 0:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        [
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "chromium",
            "fonts-dejavu-core",
        ],
    ):
        subprocess.run(command, env=env, capture_output=True, timeout=timeout_s, check=False)
    return chromium_path()


class Browser:
    """One headless Chromium with one page; use as a context manager.

    Args:
        executable: The Chromium binary.
        width, height: The window size, in CSS pixels.
    """

    def __init__(self, executable: str, *, width: int = 1400, height: int = 1000) -> None:
        self._profile = tempfile.mkdtemp(prefix="azfunc-viewer-browser-")
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4.
        self._process = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-pipe",
                f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=_dup_pipes(to_browser_read, from_browser_write),
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._replies: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._arrived = threading.Condition(self._lock)
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="cdp-reader", daemon=True)
        self._reader.start()
        self.console: list[str] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            self.call(domain, session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._arrived:
                    self._closed = True
                    self._arrived.notify_all()
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                with self._arrived:
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self._events.append(message)
                        self._note(message)
                    self._arrived.notify_all()

    def _note(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        params = message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            self.console.append(
                params.get("type", "")
                + ": "
                + " ".join(
                    str(arg.get("value", arg.get("description", ""))) for arg in params["args"]
                )
            )
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.console.append("exception: " + json.dumps(details)[:2000])
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            self.console.append(f"{entry.get('level')}: {entry.get('text')}")

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: bool = False,
        timeout_s: float = 60.0,
    ) -> dict[str, Any]:
        """Send one protocol command and return its result."""
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while message_id not in self._replies:
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    raise BrowserError(f"no answer to {method} (closed={self._closed})")
                self._arrived.wait(remaining)
            reply = self._replies.pop(message_id)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def navigate(self, url: str) -> None:
        """Load ``url`` in the page."""
        self.call("Page.navigate", {"url": url}, session=True)

    def evaluate(self, expression: str) -> Any:
        """Run JavaScript in the page (promises awaited) and return its JSON value."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"page script failed: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout_s: float = 60.0) -> Any:
        """Evaluate ``expression`` until it is truthy; return that value."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression!r}; console: {self.console}")
            with self._arrived:
                self._arrived.wait(0.1)

    def click(self, selector: str) -> None:
        """Click the centre of the first element matching ``selector`` with real mouse events."""
        box = self.evaluate(
            "(() => { const e = document.querySelector(" + json.dumps(selector) + ");"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()"
        )
        if box is None:
            raise BrowserError(f"nothing matches {selector!r}")
        for kind in ("mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
                session=True,
            )

    def screenshot(self, path: str) -> None:
        """Save the page, as far as it is laid out, as a PNG."""
        data = self.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": False},
            session=True,
        )["data"]
        with open(path, "wb") as file:
            file.write(base64.b64decode(data))

    def events(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """The protocol events received so far that match ``predicate``."""
        with self._lock:
            return [event for event in self._events if predicate(event)]

    def close(self) -> None:
        """Close the browser and remove its profile."""
        try:
            self.call("Browser.close", timeout_s=10.0)
        except (BrowserError, OSError):
            pass
        try:
            self._process.wait(10.0)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10.0)
        os.close(self._to_browser)
        self._reader.join(5.0)
        os.close(self._from_browser)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _dup_pipes(read_end: int, write_end: int) -> Callable[[], None]:
    def place() -> None:
        # Move both ends clear of 3 and 4 first, so placing one cannot overwrite the other.
        high_read = os.dup(read_end)
        high_write = os.dup(write_end)
        os.dup2(high_read, 3)
        os.dup2(high_write, 4)

    return place
