"""Time to scale: vertical distance proportional to time in the SVG and the text ladder, long idle
spans drawn as marked breaks, and segments in flight drawn slanted, so that they cross."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest
import trio
import trio.testing

from minitcp.faults import FaultInjector
from minitcp.labs import get, run_lab
from minitcp.labs.base import HOST
from minitcp.link.memory import memory_link_pair
from minitcp.tcp.knobs import Knobs
from minitcp.tcp.pair import EnginePair
from minitcp.trace.ladder import render_ladder
from minitcp.trace.recorder import Recorder
from minitcp.trace.svg import render_svg
from minitcp.trace.timescale import lay_out

from ..helpers.pairs import full_life, pair_connect

NS = "{http://www.w3.org/2000/svg}"


def segment_lines(svg: str) -> list[ET.Element]:
    return [e for e in ET.fromstring(svg).iter(NS + "line") if "segment" in (e.get("class") or "").split()]


def num(e: ET.Element, attr: str) -> float:
    return float(e.get(attr) or "nan")


def backoff_trace() -> Recorder:
    """The client's FIN lost four times: sent at 0, 0.2, 0.6, 1.4 and 3.0 s (RTO 200 ms, doubling).
    No loss probe (tcp_early_retrans=0), which would resend a lone FIN once at the first RTO's time."""
    p = EnginePair(Knobs(tcp_early_retrans=0))
    rec = Recorder(timers=False).watch(p)
    FaultInjector(["drop:dir=out,flags=F,count=4"], observer=rec.host("client")).attach(p)
    client, _ = pair_connect(p)
    client.close(p.now)
    p.run_for(4.0)
    return rec


def test_svg_y_is_proportional_to_time_through_an_rto_backoff() -> None:
    svg = render_svg(backoff_trace())
    # The client's segments after the handshake (drawn left to right): its FIN, five times.
    fins = [e for e in segment_lines(svg) if num(e, "data-t") > 0.005 and num(e, "x2") > num(e, "x1")]
    times = [num(e, "data-t") for e in fins]
    assert len(fins) == 5
    # Each moment's time label (left margin) sits on its first row; rows at one instant stack below.
    labels = {t.get("data-t"): num(t, "y") for t in ET.fromstring(svg).iter(NS + "text")
              if t.get("x") == "8.0" and t.get("data-t")}
    ys = [labels[e.get("data-t")] for e in fins]
    assert all(num(e, "y1") >= y - 4 for e, y in zip(fins, ys, strict=True))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == pytest.approx([0.2, 0.4, 0.8, 1.6], abs=0.01)
    px_per_s = [(yb - ya) / (tb - ta) for ya, yb, ta, tb in zip(ys, ys[1:], times, times[1:], strict=False)]
    # One scale for every gap: 200, 400, 800 and 1600 ms are drawn 1 : 2 : 4 : 8.
    assert max(px_per_s) - min(px_per_s) < 0.02 * max(px_per_s)


def test_a_long_idle_span_is_a_marked_break_in_svg_and_text() -> None:
    p = EnginePair()
    rec = Recorder(timers=False).watch(p)
    full_life(p)  # TIME_WAIT's 60 s at the end
    root = ET.fromstring(render_svg(rec))
    marks = [t.text for t in root.iter(NS + "text") if "break" in (t.get("class") or "").split()]
    assert marks == ["≈ 60.0 s later ≈"]
    assert float(root.get("height") or 0) < 2500  # 60 s of nothing is not drawn to scale
    text = render_ladder(rec)
    assert "≈ 60.0 s later ≈" in text
    zh = render_ladder(rec, lang="zh")
    assert "≈ 60.0 秒之后 ≈" in zh


def test_text_ladder_spaces_rows_by_time() -> None:
    text = render_ladder(backoff_trace()).splitlines()
    rows = [i for i, line in enumerate(text) if "FIN seq=1 ack=1" in line]
    assert len(rows) == 5
    gaps = [b - a for a, b in itertools.pairwise(rows)]
    # Blank lines for time passing, growing with it; the first RTO's instant also holds the
    # congestion-state note (Open -> Loss), a row of its own, so its gap may equal the next.
    assert gaps[0] <= gaps[1] < gaps[2] < gaps[3]
    assert gaps[3] >= 6 * gaps[0]


def test_lay_out_stacks_rows_at_one_instant_and_keeps_the_scale() -> None:
    scale = lay_out([0.0, 0.0, 0.0, 1.0, 3.0], line=10, target=1000, break_len=20)
    assert scale.times == [0.0, 1.0, 3.0]
    # The shortest gap (1 s) is one line; the three rows at 0 need three lines, so 1 s gets 30.
    assert scale.scale == 10 and scale.ys == [0.0, 30.0, 50.0]
    # 1 ms would be one line (10,000 a second), but the whole must fit in 100: the scale shrinks.
    fitted = lay_out([0.0, 0.001, 1.001], line=10, target=100, break_len=20)
    assert fitted.scale == pytest.approx(100 / 1.001)
    assert fitted.ys[1] == 10  # never closer than the row there needs
    assert fitted.ys[2] - fitted.ys[1] == pytest.approx(fitted.scale * 1.0)
    assert fitted.y(0.501) == pytest.approx(10 + fitted.scale * 0.5)  # between two moments: linear


def crossing(a: ET.Element, b: ET.Element) -> bool:
    """Whether two drawn segments intersect (strictly, between their ends)."""
    (x1, y1, x2, y2), (x3, y3, x4, y4) = ([num(e, k) for k in ("x1", "y1", "x2", "y2")] for e in (a, b))
    d = (x2 - x1) * (y4 - y3) - (y2 - y1) * (x4 - x3)
    if d == 0:
        return False
    t = ((x3 - x1) * (y4 - y3) - (y3 - y1) * (x4 - x3)) / d
    u = ((x3 - x1) * (y2 - y1) - (y3 - y1) * (x2 - x1)) / d
    return 0 < t < 1 and 0 < u < 1


def test_segments_in_flight_cross_with_rtt() -> None:
    """Simultaneous close on a 20 ms wire: each FIN leaves before the other arrives."""
    p = EnginePair(latency=0.01)
    rec = Recorder(timers=False).watch(p)
    lst = p.b.listen(p.addr_b, 80, 5)
    client = p.a.connect(p.addr_a, 40000, p.addr_b, 80, p.now)
    p.run_for(0.1)
    server = lst.accept()
    assert server is not None
    client.close(p.now)
    server.close(p.now)
    p.run_for(0.5)
    fins = [e for e in segment_lines(render_svg(rec)) if float(e.get("data-arrive") or "nan") > 0
            and num(e, "y2") > num(e, "y1")]
    pairs = [(a, b) for i, a in enumerate(fins) for b in fins[i + 1:] if num(a, "x1") != num(b, "x1")]
    assert any(crossing(a, b) for a, b in pairs)
    for e in fins:  # each from when it left to when it arrived
        assert num(e, "data-arrive") - num(e, "data-t") == pytest.approx(0.01, abs=1e-6)


def test_sim_lab_with_rtt_draws_slanted_arrows_of_that_length() -> None:
    result = run_lab(get("close-client-first"), sim=True, rtt=0.02)
    lines = [e for e in segment_lines(render_svg(result.trace, left=HOST)) if e.get("data-arrive")]
    assert lines and all(num(e, "data-arrive") - num(e, "data-t") == pytest.approx(0.01, abs=1e-6)
                         for e in lines)
    assert all(num(e, "y2") > num(e, "y1") for e in lines)
    flat = run_lab(get("close-client-first"), sim=True, rtt=0.0)
    assert all(num(e, "y2") == num(e, "y1") for e in segment_lines(render_svg(flat.trace, left=HOST)))


def test_memory_link_latency_delays_each_packet() -> None:
    arrivals: list[tuple[float, bytes]] = []

    async def main() -> None:
        a, b = memory_link_pair(latency=0.002)
        a.send(b"one")
        await trio.sleep(0.001)
        a.send(b"two")
        for _ in range(2):
            for packet, _partial in await b.recv_batch():
                arrivals.append((trio.current_time(), bytes(packet)))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    t0 = arrivals[0][0] - 0.002
    assert [(round(t - t0, 6), p) for t, p in arrivals] == [(0.002, b"one"), (0.003, b"two")]
