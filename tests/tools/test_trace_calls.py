"""Socket calls on the ladder: recorded from the socket layer at their (virtual) time on the caller's
side, with results and errors, in the text ladder, the SVG and the JSON."""

from __future__ import annotations

import errno
import socket
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import trio
import trio.testing

from minitcp.link.memory import memory_link_pair
from minitcp.sockets import Socket
from minitcp.sockets.calls import TracedSocket
from minitcp.stack import Stack
from minitcp.trace.events import CallEvent
from minitcp.trace.ladder import render_ladder
from minitcp.trace.recorder import Recorder
from minitcp.trace.svg import render_svg

from ..helpers.stacks import connected

NS = "{http://www.w3.org/2000/svg}"
ONE_WAY = 0.002  # the wire's latency: a 4 ms round trip


def scenario() -> Recorder:
    """Client and server stacks on a 4 ms wire: connect, dup, close one handle, send, shutdown,
    the server reads the data and then end of stream, and a connect() to a closed port fails."""
    rec = Recorder(timers=False)

    async def main() -> None:
        la, lb = memory_link_pair(latency=ONE_WAY)
        c = Stack(la, "198.18.0.1", observer=rec.host("client"))
        s = Stack(lb, "198.18.0.2", observer=rec.host("server"))
        c.on_call, s.on_call = rec.host("client").on_call, rec.host("server").on_call
        async with connected(c, s, "198.18.0.2", 80) as (cli, srv):
            other = cli.dup()
            cli.close()  # one of two handles: nothing is sent
            await trio.sleep(0.1)
            await other.send(b"hello")
            other.shutdown(socket.SHUT_WR)
            assert await srv.recv(100) == b"hello"
            assert await srv.recv(100) == b""
            await trio.sleep(0.1)
            bad = Socket(c)
            with pytest.raises(OSError) as refused:
                await bad.connect(("198.18.0.2", 81))
            assert refused.value.errno == errno.ECONNREFUSED

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return rec


def test_a_traced_stack_makes_traced_sockets_and_a_plain_one_plain_sockets() -> None:
    async def main() -> None:
        la, _ = memory_link_pair()
        stack = Stack(la, "198.18.0.1")
        assert type(Socket(stack)) is Socket
        told: list[str] = []
        stack.on_call = lambda call, now: told.append(call.call)
        sock = Socket(stack)
        assert isinstance(sock, TracedSocket) and isinstance(sock.dup(), TracedSocket)
        assert told == ["dup"]

    trio.run(main)


def test_calls_are_recorded_on_the_callers_side_at_their_times() -> None:
    rec = scenario()
    calls = [(e.host, e.call, e.fd, e.arg, e.ret, e.error, e.note, round(e.time, 6)) for e in rec.calls()]
    t0 = rec.events[0].time
    assert calls[0] == ("client", "connect", 3, "198.18.0.2:80", 0, None, "", round(t0 + 2 * ONE_WAY, 6))
    # accept() returns once the handshake's last ACK has arrived: one way later than connect().
    assert calls[1][:5] == ("server", "accept", 3, "", 4) and calls[1][-1] == round(t0 + 3 * ONE_WAY, 6)
    assert calls[2][:5] == ("client", "dup", 3, "", 4)
    assert calls[3][:7] == ("client", "close", 3, "", 0, None, "others_open")
    assert calls[4][:5] == ("client", "send", 4, "5", 5)
    assert calls[5][:5] == ("client", "shutdown", 4, "SHUT_WR", 0)
    assert [c[1:5] for c in calls[6:8]] == [("recv", 4, "", 5), ("recv", 4, "", 0)] and calls[7][6] == "eof"
    # The closed descriptor 3 is free again: the next socket gets it, as a process's next fd would.
    assert calls[8][:6] == ("client", "connect", 3, "198.18.0.2:81", -1, "ECONNREFUSED")
    # send() is written down as it starts, before the segment it sends; its result filled in after.
    kinds = [(e.kind, getattr(e, "call", ""), getattr(e, "direction", "")) for e in rec.events
             if e.host == "client"]
    send_at = kinds.index(("call", "send", ""))
    assert kinds[send_at + 1] == ("segment", "", "out")


def test_closing_one_of_two_handles_sends_nothing_and_says_so() -> None:
    rec = scenario()
    close = next(e for e in rec.calls("client") if e.call == "close")
    sent_after = [e for e in rec.segments("client", "out") if close.time <= e.time < close.time + 0.1]
    assert sent_after == []
    text = render_ladder(rec)
    line = next(ln for ln in text.splitlines() if "close(fd 3)" in ln)
    assert "close(fd 3) = 0 — other handle open, nothing sent" in line
    assert line.index("close(fd 3)") < line.index("│")  # on the client's (left) side


def test_calls_appear_in_text_svg_and_json_at_their_times() -> None:
    rec = scenario()
    t0 = rec.events[0].time
    text = render_ladder(rec).splitlines()
    connect = next(ln for ln in text if "connect(fd 3, 198.18.0.2:80) = 0" in ln)
    assert connect.split()[0] == f"{2 * ONE_WAY * 1000:.3f}"
    refused = next(ln for ln in text if "= -1 ECONNREFUSED" in ln)
    assert "connect(fd 3, 198.18.0.2:81) = -1 ECONNREFUSED" in refused
    eof = next(ln for ln in text if "recv(fd 4) = 0" in ln)
    assert "end of stream (the peer's FIN)" in eof and eof.index("│") < eof.index("recv")  # server: right

    root = ET.fromstring(render_svg(rec))
    notes = {t.text: t for t in root.iter(NS + "text") if "call" in (t.get("class") or "").split()}
    svg_connect = notes["connect(fd 3, 198.18.0.2:80) = 0"]
    assert float(svg_connect.get("data-t") or "nan") == pytest.approx(2 * ONE_WAY)
    assert "shutdown(fd 4, SHUT_WR) = 0" in notes and "accept(fd 3) = 4" in notes

    dicts = [d for d in rec.to_dicts() if d["kind"] == "call"]
    first: dict[str, Any] = dicts[0]
    assert {k: first[k] for k in ("host", "call", "fd", "arg", "ret", "error")} == {
        "host": "client", "call": "connect", "fd": 3, "arg": "198.18.0.2:80", "ret": 0, "error": None}
    assert first["time"] - t0 == pytest.approx(2 * ONE_WAY)
    assert any(d["error"] == "ECONNREFUSED" and d["ret"] == -1 for d in dicts)


def test_a_call_event_is_plain_data() -> None:
    e = CallEvent(1.0, "client", "198.18.0.1:40000", "198.18.0.2:80", "close", 4, "", 0, None, "others_open")
    assert e.to_dict() == {"kind": "call", "time": 1.0, "host": "client", "local": "198.18.0.1:40000",
                           "remote": "198.18.0.2:80", "call": "close", "fd": 4, "arg": "", "ret": 0,
                           "error": None, "note": "others_open"}
