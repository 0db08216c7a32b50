"""Debian's headless Chromium, driven over the DevTools protocol on a pipe (no new dependency).

`--remote-debugging-pipe`: Chromium reads commands from its fd 3 and writes answers to fd 4,
each a JSON text ended by a NUL byte. `Browser.open(url)` makes a tab (closing the one before)
and waits for it to load; `eval(js)` runs JavaScript in it (clicks are `element.click()`),
`html()` is the DOM as --dump-dom would print it, `dom(url)` both, `screenshot(path)` writes a
PNG. Every wait is bounded. A launch takes seconds: the tests share one browser (the `browser`
fixture of tests/conftest.py).
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-pipe"]


class Browser:
    def __init__(self, width: int = 1400, height: int = 1000, timeout: float = 30.0) -> None:
        assert CHROMIUM is not None
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="minitcp-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The child's fd 3 must be the read end of our commands, fd 4 the write end of its answers
        # (dup2 leaves them open across exec; every other descriptor of ours is close-on-exec).
        def child_fds() -> None:
            commands, answers = os.dup(to_browser_r), os.dup(from_browser_w)  # off 3 and 4 first
            os.dup2(commands, 3)
            os.dup2(answers, 4)

        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={self._profile}",
                                      f"--window-size={width},{height}", "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=child_fds, close_fds=False)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next = 0
        self.session: str | None = None
        self._target: str | None = None
        self.width, self.height = width, height

    # ------------------------------------------------------------------ the protocol
    def send(self, method: str, params: dict[str, Any] | None = None, *,
             session: bool = True) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session and self.session is not None:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._receive()
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium went away")
            self._buffer += chunk
        text, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(text)

    # ------------------------------------------------------------------ what tests use
    def open(self, url: str) -> None:
        if self._target is not None:  # a live page left open would go on running its timers
            self.send("Target.closeTarget", {"targetId": self._target}, session=False)
        target = self._target = self.send("Target.createTarget", {"url": "about:blank"},
                                          session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                         "deviceScaleFactor": 1, "mobile": False})
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'")

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.eval(f"!!({condition})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"never true: {condition}")
            time.sleep(0.05)

    def html(self) -> str:
        return str(self.eval("document.documentElement.outerHTML"))

    def dom(self, url: str) -> str:
        """The DOM of the page at `url` once loaded (an exported lab draws while it loads)."""
        self.open(url)
        return self.html()

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False)
            self.proc.wait(timeout=10)
        except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._to_browser)
            os.close(self._from_browser)
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Elements(HTMLParser):
    def __init__(self, tag: str, cls: str) -> None:
        super().__init__()
        self.tag, self.cls, self.found = tag, cls, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == self.tag and self.cls in values.get("class", "").split():
            self.found.append(values)


def elements(html: str, tag: str, cls: str) -> list[dict[str, str]]:
    """The attributes of every `<tag class="... cls ...">` in `html`, in document order."""
    parser = _Elements(tag, cls)
    parser.feed(html)
    return parser.found
