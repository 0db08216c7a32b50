"""`ss -tan` (with -o timers and -i internals) for an engine, and live tcpdump lines with relative numbers."""

from __future__ import annotations

import io

import pytest

from minitcp.tcp.pair import EnginePair
from minitcp.trace.ss import ms_timer, ss, ss_rows
from minitcp.trace.tcpdump import printer
from minitcp.wire.tcp import build_tcp_packet

from ..helpers.pairs import pair_connect


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "200ms"), (0.0004, "0ms"), (1.5, "1.500sec"), (9.501, "9.501sec"), (12.3, "12sec"),
     (59, "59sec"), (90, "1min30sec"), (700, "11min"), (60, "1min")],
)
def test_timer_notation_is_ss(seconds: float, text: str) -> None:
    assert ms_timer(seconds) == text


def test_listener_connection_and_time_wait() -> None:
    p = EnginePair()
    client, server = pair_connect(p)
    client.send(b"x" * 100, p.now)
    p.pump()  # on the wire, not yet acknowledged: the retransmission timer runs
    rows = ss_rows(p.a)
    assert rows == [("ESTAB", "0", "100", "198.18.0.1:40000", "198.18.0.2:80", "timer:(on,201ms,0)")]
    assert [r[:5] for r in ss_rows(p.b)] == [
        ("LISTEN", "0", "5", "198.18.0.2:80", "0.0.0.0:*"),
        ("ESTAB", "0", "0", "198.18.0.2:80", "198.18.0.1:40000"),
    ]
    text = ss(p.a, info=True)
    header, line, info = text.splitlines()  # TCP_INFO on a line of its own, as ss -i prints it
    assert header.split() == ["State", "Recv-Q", "Send-Q", "Local", "Address:Port", "Peer", "Address:Port"]
    assert line.startswith("ESTAB  0      100") and info.startswith("\t ts sack cubic wscale:7,7 rto:201")
    for part in ("timer:(on,201ms,0)", "ts", "sack", "wscale:7,7", "rto:201", "mss:1448", "cwnd:10"):
        assert part in (line + info).split()
    assert not any(part.startswith("ssthresh:") for part in info.split())  # Linux shows it only once set
    p.run_for(0.1)
    assert server.recv(1000, p.now) == b"x" * 100
    client.close(p.now)
    p.run_for(0.1)
    server.close(p.now)
    p.run_for(1.0)
    assert ss_rows(p.a, now=p.now) == [
        ("TIME-WAIT", "0", "0", "198.18.0.1:40000", "198.18.0.2:80", "timer:(timewait,59sec,0)"),
    ]
    assert ss_rows(p.a, timers=False)[0][5] == ""
    assert ss_rows(p.b, listening=False) == []


def test_printer_numbers_relative_when_asked() -> None:
    p = EnginePair()
    pair_connect(p)
    out = io.StringIO()
    hook = printer(out, prefix="> ", relative=True)
    for e in p.wire:
        hook("out", build_tcp_packet(e.seg), e.time)
    syn, synack, ack = out.getvalue().splitlines()
    assert syn.startswith("> ") and "Flags [S], seq " in syn and "seq 0," not in syn
    assert "Flags [S.], seq " in synack and "ack 1," not in synack  # tcpdump: absolute until here
    assert "Flags [.], ack 1, win" in ack
    plain = io.StringIO()
    printer(plain)("out", build_tcp_packet(p.wire[2].seg), 0.0)
    assert "ack 1," not in plain.getvalue()  # absolute unless asked, as before
