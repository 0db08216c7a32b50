"""The ladder diagram in the terminal: arrows, states and lost segments, in order."""

from __future__ import annotations

from minitcp.tcp.pair import EnginePair
from minitcp.trace.diagram import Arrow, Note, build_diagram
from minitcp.trace.events import SegmentEvent, StateEvent
from minitcp.trace.ladder import render_ladder
from minitcp.trace.recorder import Recorder
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, FIN, Segment

from ..helpers.pairs import full_life, pair_connect


def positions(text: str, needles: list[str]) -> list[int]:
    """Where each needle first occurs after the previous one (fails if one is missing or out of order)."""
    at, out = 0, []
    for needle in needles:
        found = text.find(needle, at)
        assert found >= 0, f"{needle!r} missing after position {at} in:\n{text}"
        out.append(found)
        at = found + len(needle)
    return out


def test_four_way_close_reads_in_order() -> None:
    p = EnginePair()
    rec = Recorder().watch(p)
    full_life(p)
    text = render_ladder(rec)
    lines = text.splitlines()
    assert "client 198.18.0.1:40000" in lines[0] and "server 198.18.0.2:80" in lines[0]
    assert lines[0].index("client") < lines[0].index("server")
    positions(text, [
        "CLOSED → SYN_SENT", "SYN seq=0 ─", "LISTEN → SYN_RECEIVED", "◀", "SYN-ACK seq=0 ack=1",
        "SYN_SENT → ESTABLISHED", "ACK ack=1 ─", "SYN_RECEIVED → ESTABLISHED",
        "PSH seq=1 ack=1 len=100", "ACK ack=101", "PSH seq=1 ack=101 len=300", "ACK ack=301",
        "ESTABLISHED → FIN_WAIT_1", "FIN seq=101 ack=301", "ESTABLISHED → CLOSE_WAIT", "ACK ack=102",
        "FIN_WAIT_1 → FIN_WAIT_2", "CLOSE_WAIT → LAST_ACK", "FIN seq=301 ack=102", "ACK ack=302",
        "FIN_WAIT_2 → TIME_WAIT", "LAST_ACK → CLOSED", "TIME_WAIT → CLOSED",
    ])
    fin = next(line for line in lines if "FIN seq=101" in line)
    assert fin.rstrip().endswith("▶│") and fin.split()[0] == "210.000"  # client -> server, at 210 ms
    fin2 = next(line for line in lines if "FIN seq=301" in line)
    assert "│◀" in fin2  # server -> client
    # Each host's states are in its own column: the client's left of its line, the server's right.
    cw = next(line for line in lines if "CLOSE_WAIT →" in line)
    assert cw.index("CLOSE_WAIT") > fin.index("▶")
    fw = next(line for line in lines if "→ FIN_WAIT_1" in line)
    assert fw.index("FIN_WAIT_1") < fin.index("FIN seq")
    assert "60310.500" in text  # TIME_WAIT ends 60 s after it began, in ms from the first event


def test_a_lost_segment_is_cut_off_and_marked() -> None:
    p = EnginePair()
    rec = Recorder().watch(p)
    client, _ = pair_connect(p)
    dropped = []

    def lose_first_fin(sender: str, seg: Segment, now: float) -> list[float]:
        if sender == "a" and seg.flags & FIN and not dropped:
            dropped.append(seg)
            return []
        return [0.0]

    p.fault = lose_first_fin
    client.close(p.now)
    p.run_for(1.0)
    text = render_ladder(rec)
    lost = next(line for line in text.splitlines() if "[lost]" in line)
    assert "FIN seq=1 ack=1" in lost and "✕" in lost and "▶" not in lost
    assert lost.rstrip().endswith("│") and "✕ " in lost  # the arrow stops short of the server's line
    again = next(line for line in text.splitlines() if "(retransmit)" in line)
    assert "FIN seq=1 ack=1" in again and again.rstrip().endswith("▶│")
    ascii_text = render_ladder(rec, ascii=True)
    assert "x" in next(line for line in ascii_text.splitlines() if "[lost]" in line)
    assert "-> FIN_WAIT_1" in ascii_text and all(ord(ch) < 128 for ch in ascii_text)


def test_one_host_alone_draws_its_peer_as_the_other_column() -> None:
    p = EnginePair()
    rec = Recorder("server")
    p.b.observer = rec
    full_life(p)
    d = build_diagram(rec)
    assert d.left == "server 198.18.0.2:80" and d.right == "peer 198.18.0.1:40000"
    arrows = [r for r in d.rows if isinstance(r, Arrow)]
    assert [(a.src, a.label) for a in arrows[:3]] == [
        (1, "SYN seq=0"), (0, "SYN-ACK seq=0 ack=1"), (1, "ACK ack=1"),
    ]
    assert not any(a.lost for a in arrows)


def test_timers_and_windows_on_request() -> None:
    p = EnginePair()
    rec = Recorder().watch(p)
    pair_connect(p)
    assert "timer RTO set +1000ms" in render_ladder(rec, timers=True)
    assert "timer" not in render_ladder(rec)
    assert "SYN seq=0 win=64240" in render_ladder(rec, window=True)


def test_hand_built_events_and_an_incoming_drop() -> None:
    """A trace made by hand (no engine): one host, a FIN from the peer dropped on its way in."""
    a, b = "10.0.0.1:1000", "10.0.0.2:2000"
    fin = Segment(ip_int("10.0.0.2"), ip_int("10.0.0.1"), 2000, 1000, 501, 101, FIN | ACK, 1000)
    rec = Recorder("me")
    rec.events.append(StateEvent(1.0, "me", a, b, "ESTABLISHED", "CLOSE_WAIT"))
    rec.events.append(SegmentEvent(1.0, "me", a, b, "out", ".", 1, 1, 0, 1000, {}, 101, 501,
                                   _seg=Segment(ip_int("10.0.0.1"), ip_int("10.0.0.2"), 1000, 2000,
                                                101, 501, ACK, 1000)))
    rec.on_fault("in", fin, "drop", 1.002)
    d = build_diagram(rec)
    assert d.t0 == 1.0
    kinds = [type(r).__name__ for r in d.rows]
    assert kinds == ["Note", "Arrow", "Arrow"]
    dropped = d.rows[2]
    assert isinstance(dropped, Arrow) and dropped.src == 1 and dropped.lost and dropped.tags == ["dropped"]
    text = render_ladder(d)
    line = text.splitlines()[-1]
    assert line.split()[0] == "2.000" and "[dropped]" in line and "✕" in line and "◀" not in line
    assert isinstance(d.rows[0], Note) and d.rows[0].kind == "state"
