"""`minitcp shell --sim --step --web`: the shell serves the live view of `up --web`, and a learner
typing connect/send/close at a pty sees the ladder grow in a real browser (Debian's headless
Chromium): the connection's segments in order, both sides' states, TIME_WAIT counting."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ..tools.test_shell_pty import Pty
from .browser import CHROMIUM, Browser, elements

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="no chromium: `make system-tools` installs it (as root)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_shell_page_grows_as_the_learner_types(tmp_path: Path) -> None:
    port = _free_port()
    sh = Pty("--sim", "--step", "--web", f"127.0.0.1:{port}")
    try:
        assert f"watch it at http://127.0.0.1:{port}/" in sh.until_prompt()
        sh.run("peer listen 80")
        with Browser() as browser:
            browser.open(f"http://127.0.0.1:{port}/")
            assert browser.eval("document.querySelectorAll('g.seg').length") == 0  # nothing yet
            sh.run("connect 80")
            browser.wait_for("document.querySelectorAll('g.seg').length === 3")  # the handshake
            html = browser.html()
            assert [s["data-label"] for s in elements(html, "g", "seg")] == [
                "SYN seq=0", "SYN-ACK seq=0 ack=1", "ACK ack=1"]
            assert [s["data-from"] for s in elements(html, "g", "seg")] == ["left", "right", "left"]
            assert ("minitcp", "ESTABLISHED") in {(s["data-host"], s["data-state"])
                                                  for s in elements(html, "g", "state")}
            for line in ("peer accept p1", "send s1 hello", "peer recv p2", "close s1", "peer close p2"):
                sh.run(line)
            browser.wait_for("document.querySelector('li.timer[data-timer=\"TIME_WAIT\"]')")
            html = browser.html()
            browser.screenshot(tmp_path / "shell-web.png")
        labels = [s["data-label"] for s in elements(html, "g", "seg")]
        assert labels[3:] == ["PSH seq=1 ack=1 len=5", "ACK ack=6", "FIN seq=6 ack=1", "FIN seq=1 ack=7",
                              "ACK ack=2"]
        states = {(s["data-host"], s["data-state"]) for s in elements(html, "g", "state")}
        assert {("minitcp", "FIN_WAIT_2"), ("minitcp", "TIME_WAIT"), ("peer", "LAST_ACK"),
                ("peer", "CLOSED")} <= states
        calls = html.count('class="call"')
        assert calls >= 6  # connect, send, close on minitcp; accept, recv, close on the peer
        (timer,) = elements(html, "li", "timer")
        assert float(timer["data-left"]) == pytest.approx(60.0)  # --step: time stands still
        assert (tmp_path / "shell-web.png").stat().st_size > 10_000
        assert sh.close() == 0
    finally:
        if sh.proc.poll() is None:
            sh.proc.kill()
            sh.proc.wait()
