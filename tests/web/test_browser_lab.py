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


def test_the_pieces_of_a_tso_packet_are_marked(tmp_path: Path, browser: Browser) -> None:
    path = tmp_path / "delayed-ack-two-segments.html"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["lab", "delayed-ack-two-segments", "--sim", "--export", str(path)]) == 0
    browser.open(f"{path.as_uri()}?step=all")
    cut = browser.eval("[...document.querySelectorAll('g.seg.tso')].map((g) => [g.dataset.label, "
                       "g.dataset.tso, g.dataset.tsoFirst, g.querySelector('text').textContent])")
    brackets = browser.eval("[...document.querySelectorAll('path.tsocut')].map((p) => p.dataset.first)")
    others = browser.eval("document.querySelectorAll('g.seg:not(.tso)').length")
    # The client's two full segments went as one TSO packet, cut by its host: both marked, one bracket.
    assert [c[:2] for c in cut] == [["ACK seq=13 ack=13 len=1448", "0/2"],
                                    ["PSH seq=1461 ack=13 len=1448", "1/2"]]
    assert cut[0][2] == cut[1][2] and brackets == [cut[0][2]]
    assert cut[0][3].endswith("[TSO cut 1/2]") and cut[1][3].endswith("[TSO cut 2/2]")
    assert others > 10  # the handshake, the small writes, their ACKs and the close: unmarked


CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # the Makefile's SYSTEM_FILES


def test_chinese_words_are_drawn_with_cjk_glyphs(page: Path, tmp_path: Path, browser: Browser) -> None:
    if not CJK_FONT.exists():
        pytest.skip("no CJK font: `make system-tools` installs fonts-wqy-microhei (as root)")
    browser.open(f"{page.as_uri()}?step=all&lang=zh")
    assert browser.eval("document.querySelector('#verdict-word').textContent") == "结论: 通过"
    # Each character drawn in the page's own font: with a CJK font two characters differ; without
    # one, both are the same missing-glyph box.
    ink = ("((ch, sel) => { const c = document.createElement('canvas'); c.width = c.height = 40; "
           "const x = c.getContext('2d'); x.font = getComputedStyle(document.querySelector(sel)).font; "
           "x.fillText(ch, 4, 30); return Array.from(x.getImageData(0, 0, 40, 40).data).join(','); })")
    for sel in ("#verdict-word", "#ladder text"):
        assert browser.eval(f"{ink}('结', '{sel}') !== {ink}('论', '{sel}')"), sel
        assert browser.eval(f"{ink}('结', '{sel}') !== {ink}('\\u{{10ffff}}', '{sel}')"), sel
    browser.screenshot(tmp_path / "lab-zh.png")
    assert (tmp_path / "lab-zh.png").stat().st_size > 10_000


SEGS_JS = ("[...document.querySelectorAll('g.seg')].map((g) => [g.dataset.label, Number(g.dataset.t), "
           "Number(g.dataset.y)])")
SCALE_JS = "['scale', 'top', 'from'].map((k) => Number(document.querySelector('#ladder').dataset[k]))"


def _drag_on_the_time_axis(browser: Browser, y0: float, y1: float) -> None:
    """Press on the time axis at drawing y `y0`, move to `y1`, let go (as a mouse does)."""
    browser.eval(f"""(() => {{
        const svg = document.querySelector('#ladder'), axis = svg.querySelector('rect.axis');
        const box = svg.getBoundingClientRect(), x = box.left + 20;
        const at = (type, y, target) => target.dispatchEvent(new MouseEvent(type,
            {{bubbles: true, clientX: x, clientY: box.top + y}}));
        at('mousedown', {y0}, axis);
        at('mousemove', {(y0 + y1) / 2}, window);
        at('mousemove', {y1}, window);
        at('mouseup', {y1}, window);
    }})()""")


def test_zoom_on_a_dragged_time_span_and_back(page: Path, tmp_path: Path, browser: Browser) -> None:
    browser.open(f"{page.as_uri()}?step=all")
    whole = browser.eval(SEGS_JS)
    scale, top, start = browser.eval(SCALE_JS)
    assert [s[0] for s in whole] == SEGMENTS and start == 0.0
    # From just above the lost FIN to just below its retransmission.
    lost, again = whole[3], whole[4]
    _drag_on_the_time_axis(browser, lost[2] - 3, again[2] + 3)
    zoomed = browser.eval(SEGS_JS)
    zscale, ztop, zfrom = browser.eval(SCALE_JS)
    span = [float(v) for v in browser.eval("document.querySelector('#ladder').dataset.span").split(",")]
    browser.screenshot(tmp_path / "zoomed.png")
    assert not browser.eval("document.querySelector('#unzoom').hidden")
    # The span is the dragged one, in time: 3 px either side of the two FINs at the old scale
    # (within the pixel a mouse event rounds its position to).
    assert span[0] == pytest.approx(lost[1] - 3 / scale, abs=1 / scale)
    assert span[1] == pytest.approx(again[1] + 3 / scale, abs=1 / scale)
    # Only the segments sent inside it are drawn, the span now fills the drawing (a larger scale),
    # and y is still proportional to time from the span's start.
    assert [s[0] for s in zoomed] == [s[0] for s in whole if span[0] <= s[1] <= span[1]]
    assert [s[0] for s in zoomed][:2] == ["FIN seq=1 ack=1", "FIN seq=1 ack=1"]
    assert len(zoomed) < len(whole) and zscale > 2 * scale and zfrom == pytest.approx(span[0])
    for _, t, y in zoomed:
        assert y == pytest.approx(ztop + zscale * (t - zfrom), abs=0.01)
    assert zoomed[1][2] - zoomed[0][2] > 2 * (again[2] - lost[2])  # the two FINs further apart
    # The lifeline keeps its colour from before the span: minitcp is ESTABLISHED at its top (from
    # the handshake, before the span), then FIN_WAIT_1 from the lost FIN on.
    states = browser.eval("[...document.querySelectorAll('g.state[data-host=\"minitcp\"]')]"
                          ".map((g) => [g.dataset.state, "
                          "Number(g.querySelector('rect').getAttribute('y'))])")
    assert [s[0] for s in states[:2]] == ["ESTABLISHED", "FIN_WAIT_1"]
    assert states[0][1] == ztop and states[1][1] == pytest.approx(zoomed[0][2], abs=0.01)
    browser.eval("document.querySelector('#unzoom').click()")
    assert browser.eval(SEGS_JS) == whole and browser.eval(SCALE_JS) == [scale, top, start]
    assert browser.eval("document.querySelector('#unzoom').hidden")
    # The same span as a parameter, for a link to it.
    html = browser.dom(f"{page.as_uri()}?step=all&span={span[0]},{span[1]}")
    assert [s["data-label"] for s in elements(html, "g", "seg")] == [s[0] for s in zoomed]
