"""An hour of traffic on a live page stays bounded (Debian's headless Chromium): the events of
3600 connections, one a second, fed through the page's own intake (what each Server-Sent Event
calls; the copies made in the page) in virtual time, leave the page holding the newest closed
connections whole and the rest as one summary line each, so its events, its DOM and its
connection list stop growing; one long connection's 60 000 segments leave at most the page's
KEEP events and DRAW arrows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from minitcp.web.page import render_page

from .browser import CHROMIUM, Browser

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="no chromium: `make system-tools` installs it (as root)")

SERVER = "198.18.0.2:80"


class Feed:
    """Web events (docs/web-events.md) of a server's connections, as `up --web` sends them."""

    def __init__(self) -> None:
        self.next_id = 0

    def event(self, t: float, client: str, kind: str, **fields: Any) -> dict[str, Any]:
        e = {"id": self.next_id, "t": t, "kind": kind, "host": "minitcp", "conn": f"{client} {SERVER}",
             "local": SERVER, "remote": client, **fields}
        self.next_id += 1
        return e

    def segment(self, t: float, client: str, direction: str, flags: str, label: str, length: int = 0,
                sent: int | None = None) -> dict[str, Any]:
        src, dst = (SERVER, client) if direction == "out" else (client, SERVER)
        return self.event(t, client, "segment", dir=direction, src=src, dst=dst, flags=flags, seq=1, ack=1,
                          len=length, win=512, options={}, label=label, retransmit=False, tcpdump=label,
                          **({"sent": sent} if direction == "in" else {}))

    def state(self, t: float, client: str, old: str, new: str) -> dict[str, Any]:
        return self.event(t, client, "state", old=old, new=new)

    def connection(self, t: float, port: int | str) -> list[dict[str, Any]]:
        """A kernel client's request and the server's answer; the client closes first."""
        c = f"198.18.0.1:{port}"
        ms = 0.001
        return [
            self.segment(t, c, "in", "S", "SYN seq=0"), self.state(t, c, "LISTEN", "SYN_RECEIVED"),
            self.segment(t, c, "out", "S.", "SYN-ACK seq=0 ack=1"),
            self.segment(t + ms, c, "in", ".", "ACK ack=1"),
            self.state(t + ms, c, "SYN_RECEIVED", "ESTABLISHED"),
            self.segment(t + ms, c, "in", "P.", "PSH seq=1 ack=1 len=80", 80),
            self.segment(t + ms, c, "out", "P.", "PSH seq=1 ack=81 len=600", 600),
            self.segment(t + 2 * ms, c, "in", "F.", "FIN seq=81 ack=601"),
            self.state(t + 2 * ms, c, "ESTABLISHED", "CLOSE_WAIT"),
            self.segment(t + 2 * ms, c, "out", "F.", "FIN seq=601 ack=82"),
            self.state(t + 2 * ms, c, "CLOSE_WAIT", "LAST_ACK"),
            self.segment(t + 3 * ms, c, "in", ".", "ACK ack=602"),
            self.state(t + 3 * ms, c, "LAST_ACK", "CLOSED"),
        ]


def _live_page(tmp_path: Path) -> Path:
    path = tmp_path / "live.html"
    path.write_text(render_page({"mode": "live", "lang": "en", "left": "minitcp", "events": []}), "utf-8")
    return path


# Copies of a template's events, each copy `n` with its own ids (after `first`), its time moved on
# by `n * every` s and PORT in its addresses replaced by `port + n`: made in the page, as fast as
# events come, instead of sent over the DevTools pipe one by one.
COPIES = """((template, first, n0, n1, every, port) => {
    const text = JSON.stringify(template);
    for (let n = n0; n < n1; n++) {
        const copy = JSON.parse(text.replaceAll("PORT", String(port + n)));
        copy.forEach((e, i) => { e.id = first + n * template.length + i; e.t += n * every;
                                 if (e.sent != null) e.sent += first + n * template.length; });
        for (const e of copy) add(e);
    }
})"""


def _feed(browser: Browser, template: list[dict[str, Any]], first: int, n0: int, n1: int, every: float,
          port: int = 0, draw: bool = True) -> dict[str, int]:
    """Add copies n0 .. n1-1 of the template as the live page adds each event it receives, draw (as
    its timer does), and measure the page."""
    browser.eval(f"{COPIES}({json.dumps(template)}, {first}, {n0}, {n1}, {every}, {port}); "
                 f"{'draw();' if draw else ''} 0")
    return browser.eval("""({events: events.length, dom: document.getElementsByTagName('*').length,
        segs: document.querySelectorAll('g.seg').length,
        options: document.querySelectorAll('#conn option').length,
        summaries: summaries.length, listed: document.querySelectorAll('#summaries li').length,
        last: events[events.length - 1].id})""")


def test_an_hour_of_connections_leaves_a_bounded_page(tmp_path: Path, browser: Browser) -> None:
    template = Feed().connection(0.0, "PORT")
    per_conn = len(template)
    sizes = []
    browser.open(_live_page(tmp_path).as_uri())
    for minute in range(60):  # a connection a second, drawn every 10 minutes
        sizes.append(_feed(browser, template, 0, minute * 60, minute * 60 + 60, 1.0, 10000,
                           draw=minute % 10 == 9))
    summary = browser.eval("summaries[summaries.length - 1]")
    newest_kept = browser.eval("events[events.length - 1].conn")
    assert sizes[-1]["last"] == 3600 * per_conn - 1  # every event of the hour went in
    # The newest 50 closed connections (and up to 10 more, summed up in batches) kept whole.
    assert all(s["events"] <= 60 * per_conn for s in sizes)
    assert sizes[-1]["options"] <= 61 and sizes[-1]["listed"] == 50
    assert sizes[-1]["summaries"] == 1000 and sizes[-1]["summaries"] >= sizes[-1]["listed"]
    # Bounded: the page does not grow however long it stays open.
    drawn = sizes[9::10]
    assert max(s["dom"] for s in drawn) <= 1.25 * min(s["dom"] for s in drawn)
    # 8 arrows a connection (the kernel records none of its own)
    assert 50 * 8 <= max(s["segs"] for s in drawn) <= 60 * 8
    # What a summary says of a closed connection: its segments sent and the states it went through.
    assert summary["segments"] == 3 and summary["events"] == per_conn and summary["retransmits"] == 0
    assert summary["states"] == {"minitcp": ["LISTEN", "SYN_RECEIVED", "ESTABLISHED", "CLOSE_WAIT",
                                             "LAST_ACK", "CLOSED"]}
    assert newest_kept == f"198.18.0.1:{10000 + 3599} {SERVER}"


def test_one_long_connection_keeps_the_newest_events_and_draws_a_bounded_ladder(
        tmp_path: Path, browser: Browser) -> None:
    feed = Feed()
    opening = feed.connection(0.0, 40000)[:5]  # the handshake: ESTABLISHED
    c = "198.18.0.1:40000"
    pair = [feed.segment(1.0, c, "out", ".", "ACK seq=1 ack=1 len=1448", 1448),
            feed.segment(1.05, c, "in", ".", "ACK ack=1449")]
    browser.open(_live_page(tmp_path).as_uri())
    _feed(browser, opening, 0, 0, 1, 0.0, draw=False)
    size = _feed(browser, pair, 100, 0, 30000, 0.1)  # 60 000 segments, one pair every 100 ms
    state = browser.eval("[...document.querySelectorAll('g.state')].map((g) => g.dataset.state)")
    assert size["last"] == 100 + 60000 - 1
    assert size["events"] <= 20000 and size["segs"] <= 2000
    assert size["segs"] >= 1000  # the newest ones are drawn
    assert state == ["ESTABLISHED"]  # the lifeline keeps its state from long before what is drawn
