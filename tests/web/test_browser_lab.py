# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""A known --sim lab in a real browser (Debian's headless Chromium): the exported page draws the
segments in order at y proportional to time, both lifelines' states, TIME_WAIT counting down;
stepped, it stops before the retransmission and reveals it after the answer. Screenshots go to
the test's tmp dir."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from minitcp.cli import main

from .browser import CHROMIUM, Browser, elements

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="no chromium: `make system-tools` installs it (as root)")

SEGMENTS = ["SYN seq=0", "SYN-ACK seq=0 ack=1", "ACK ack=1", "FIN seq=1 ack=1", "FIN seq=1 ack=1",
            "ACK ack=2", "FIN seq=1 ack=2", "ACK ack=2"]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("web") / "first-fin-lost.html"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["lab", "first-fin-lost", "--sim", "--export", str(path)]) == 0
    return path


def test_the_whole_lab_is_drawn_to_time_scale_with_states_and_a_time_wait_timer(
        page: Path, browser: Browser) -> None:
    html = browser.dom(f"{page.as_uri()}?step=all")
    segs = elements(html, "g", "seg")
    assert [s["data-label"] for s in segs] == SEGMENTS
    assert ["lost" in s["class"] for s in segs] == [False, False, False, True, False, False, False, False]
    assert ["retransmit" in s["class"] for s in segs] == [False] * 4 + [True] + [False] * 3
    assert [s["data-from"][0] for s in segs] == ["l", "r", "l", "l", "l", "r", "r", "l"]
    # y = top + scale x t for every segment: no break in a lab of one second.
    scale = float(html.split('data-scale="')[1].split('"')[0])
    top = float(html.split('data-top="')[1].split('"')[0])
    for s in segs:
        assert float(s["data-y"]) == pytest.approx(top + scale * float(s["data-t"]), abs=0.01)
    assert float(segs[4]["data-t"]) - float(segs[3]["data-t"]) == pytest.approx(0.204)
    states = {(s["data-host"], s["data-state"]) for s in elements(html, "g", "state")}
    client = ("SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT")
    server = ("SYN_RECEIVED", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED")
    assert {("minitcp", st) for st in client} | {("peer", st) for st in server} <= states
    (timer,) = elements(html, "li", "timer")
    assert timer["data-timer"] == "TIME_WAIT" and timer["data-host"] == "minitcp"
    assert float(timer["data-left"]) == pytest.approx(60 - 0.002)  # entered at 1.008 s, shown at 1.010 s
    later = elements(browser.dom(f"{page.as_uri()}?step=all&t=31.008"), "li", "timer")
    assert float(later[0]["data-left"]) == pytest.approx(30.0)  # scrubbed 30 s on: 30 s left


def test_stepped_mode_stops_before_the_retransmission_and_reveals_it_after_the_answer(
        page: Path, browser: Browser, tmp_path: Path) -> None:
    browser.open(page.as_uri())
    question = "document.querySelector('#question').dataset.before"
    # Next until a question holds the way: the first FIN (lost), then its retransmission.
    asked = []
    for _ in range(200):
        if browser.eval(f"{question} !== undefined && document.querySelector('#next').disabled"):
            before = int(browser.eval(question))
            drawn = browser.eval(f"document.querySelector('g.seg[data-id=\"{before}\"]') !== null")
            assert not drawn  # not shown before the answer
            asked.append(before)
            if browser.eval("document.querySelectorAll('g.seg.lost').length") == 1:
                break  # the lost FIN is drawn: this question is about the retransmission
            browser.eval("document.querySelector('#question .choice').click()")  # any answer
            browser.eval("document.querySelector('#next').click()")
            continue
        browser.eval("document.querySelector('#next').click()")
    before = asked[-1]
    text = browser.eval("document.querySelector('#question').innerText")
    assert "What happens next?" in text and "(retransmission)" in text
    assert browser.eval("document.querySelectorAll('g.seg.retransmit').length") == 0
    browser.screenshot(tmp_path / "stepped-question.png")
    right = browser.eval("[...document.querySelectorAll('#question .choice')]"
                         ".findIndex((b) => b.textContent.startsWith('minitcp sends FIN') && "
                         "b.textContent.includes('204 ms later, in FIN_WAIT_1'))")
    browser.eval(f"document.querySelectorAll('#question .choice')[{right}].click()")
    assert browser.eval("document.querySelector('#question .answer').textContent").startswith("Right.")
    browser.eval("document.querySelector('#next').click()")
    revealed = f"document.querySelector('g.seg.retransmit[data-id=\"{before}\"]') !== null"
    assert browser.eval(revealed)
    # A click on it shows its fields as tcpdump prints them.
    browser.eval(f"document.querySelector('g.seg[data-id=\"{before}\"] text')"
                 ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    details = browser.eval("document.querySelector('#details').textContent")
    assert details.startswith("IP 198.18.0.2.")
    assert "> 198.18.0.1.80: Flags [F.], seq 1, ack 1, win " in details
    browser.screenshot(tmp_path / "stepped-revealed.png")
    # On to the end (the last FIN asks too): the verdict, as `minitcp lab` prints it.
    for _ in range(200):
        if browser.eval("!document.querySelector('#verdict').hidden"):
            break
        browser.eval("(document.querySelector('#question .choice') || {click() {}}).click()")
        browser.eval("document.querySelector('#next').click()")
    assert browser.eval("document.querySelector('#verdict-word').textContent") == "verdict: PASS"
    browser.screenshot(tmp_path / "stepped-verdict.png")
    assert (tmp_path / "stepped-question.png").stat().st_size > 10_000


def test_step_parameter_stops_before_the_retransmission_and_chinese_words(
        page: Path, browser: Browser) -> None:
    full = browser.dom(f"{page.as_uri()}?step=all")
    retransmission = next(s for s in elements(full, "g", "seg") if "retransmit" in s["class"])
    index = int(retransmission["data-id"])  # ids count the events from 0: step N shows ids 0 .. N-1
    stopped = browser.dom(f"{page.as_uri()}?step={index}&lang=zh")
    assert [s["data-label"] for s in elements(stopped, "g", "seg")] == SEGMENTS[:4]
    assert f'data-before="{retransmission["data-id"]}"' in stopped
    assert "接下来会发生什么？" in stopped and "（重传）" in stopped
    after = browser.dom(f"{page.as_uri()}?step={index + 1}")
    assert [s["data-label"] for s in elements(after, "g", "seg")] == SEGMENTS[:5]
