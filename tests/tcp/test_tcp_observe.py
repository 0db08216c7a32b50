"""What the engine lets a learner see: observer hooks (states, timers, retransmissions, drops,
segments), counters with Linux MIB names, and Connection.timers() / info() like `ss -o`."""

from __future__ import annotations

import errno

import pytest

from minitcp.tcp.pair import EnginePair
from minitcp.tcp.states import State
from minitcp.tcp.timers import TimerKind
from minitcp.trace.events import DropEvent, RetransmitEvent, TimerEvent, endpoint
from minitcp.trace.recorder import Recorder, conn_endpoints
from minitcp.wire.segment import ACK, RST, SYN

from ..helpers.pairs import pair_connect
from ..helpers.recorded import events_of, state_changes
from .builders import established, syn_sent
from .peer import LOCAL, REMOTE, RPORT, Peer


def test_observer_sees_every_state_of_an_active_close() -> None:
    p = EnginePair()
    rec = Recorder()
    p.a.observer = rec
    client, server = pair_connect(p)
    p.run(until=1.0)
    client.close(p.now)
    p.run(until=1.5)
    server.close(p.now)
    p.run(until=100.0)
    # The trace names a connection by its endpoints: the TIME_WAIT entry that follows the client
    # has the same ones, and its only change starts from TIME_WAIT.
    changes = state_changes(rec, client)
    assert [(old, new) for old, new, _ in changes if old != State.TIME_WAIT] == [
        (State.CLOSED, State.SYN_SENT),
        (State.SYN_SENT, State.ESTABLISHED),
        (State.ESTABLISHED, State.FIN_WAIT_1),
        (State.FIN_WAIT_1, State.FIN_WAIT_2),
        (State.FIN_WAIT_2, State.TIME_WAIT),
    ]
    # The TIME_WAIT entry reports its own end, 60 s after it began.
    (tw_end,) = [(old, new, t) for old, new, t in state_changes(rec) if old == State.TIME_WAIT]
    assert tw_end[:2] == (State.TIME_WAIT, State.CLOSED) and len(changes) == 6
    tw_start = next(t for old, new, t in state_changes(rec) if new == State.TIME_WAIT)
    assert tw_end[2] == pytest.approx(tw_start + 60.0)


def test_observer_sees_timers_set_fire_and_cancel() -> None:
    p, conn = syn_sent()
    p.run_until(1.0)  # the SYN timer fires once
    p.feed(p.seg(SYN | ACK, seq=0, ack=1, mss=1460), at=1.5)
    events = [(TimerKind[e.timer], e.action, e.deadline, e.time) for e in events_of(p.rec, TimerEvent, conn)]
    assert events == [
        (TimerKind.RTO, "set", 1.0, 0.0),
        (TimerKind.RTO, "fire", None, 1.0),
        (TimerKind.RTO, "set", 3.0, 1.0),
        (TimerKind.RTO, "cancel", None, 1.5),
    ]
    assert [round(e.time, 6) for e in events_of(p.rec, RetransmitEvent)] == [1.0]


def test_observer_sees_drops_with_reasons() -> None:
    p, conn = established()
    p.feed(p.seg(ACK, seq=10_000_000, payload=b"far away"), at=1.0)
    p.feed(p.seg(RST, seq=100), at=2.0)
    p.feed(p.seg(0, seq=1, payload=b"no ack flag"), at=3.0)
    reasons = [((e.local, e.remote) == conn_endpoints(conn), e.reason) for e in events_of(p.rec, DropEvent)]
    assert reasons == [
        (True, "outside the receive window"),
        (True, "RST not at rcv_nxt (RFC 5961)"),
        (True, "no ACK"),
    ]
    p.lport = 81  # nothing there
    p.feed(p.seg(ACK, seq=1), at=4.0)
    last = events_of(p.rec, DropEvent)[-1]  # about no connection: named by the segment's endpoints
    assert (last.local, last.reason) == (endpoint(LOCAL, 81), "no socket on this port")


def test_observer_segments_match_the_segment_counters() -> None:
    p = EnginePair()
    rec = Recorder()
    p.b.observer = rec
    client, server = pair_connect(p)
    client.send(b"x" * 5000, p.now)
    p.run(until=1.0)
    server.recv(10_000, p.now)
    ins = [e.segment for e in rec.segments(direction="in")]
    outs = [e.segment for e in rec.segments(direction="out")]
    assert len(ins) == p.b.counters["InSegs"] == len([e for e in p.wire if e.sender == "a"])
    assert len(outs) == p.b.counters["OutSegs"] == len([e for e in p.wire if e.sender == "b"])


def test_counters_of_a_whole_life() -> None:
    """nstat-style deltas on both sides of a connection that opens, moves data and closes."""
    p = EnginePair()
    before_a, before_b = dict(p.a.counters), dict(p.b.counters)
    client, server = pair_connect(p)
    assert p.a.counters["CurrEstab"] == p.b.counters["CurrEstab"] == 1
    client.send(b"hello", p.now)
    p.run(until=1.0)
    assert server.recv(10, p.now) == b"hello"
    client.close(p.now)
    p.run(until=2.0)
    server.close(p.now)
    p.run(until=100.0)
    a, b = p.a.counters.moved(before_a), p.b.counters.moved(before_b)
    assert a["ActiveOpens"] == 1 and "PassiveOpens" not in a
    assert b["PassiveOpens"] == 1 and "ActiveOpens" not in b
    assert "CurrEstab" not in a and "CurrEstab" not in b  # back to 0
    assert a["TW"] == 1 and "TW" not in b  # only the active closer waits
    assert "EstabResets" not in a and "OutRsts" not in a and "RetransSegs" not in a
    assert a["InSegs"] == b["OutSegs"] and b["InSegs"] == a["OutSegs"]
    assert b["DelayedACKs"] == 1  # the ACK of the client's FIN waited 40 ms for a FIN that came later


def test_timers_report_time_left_and_retries_like_ss() -> None:
    p = Peer()
    conn = p.eng.connect(LOCAL, 80, REMOTE, RPORT, 0.0)
    p.out()
    p.run_until(1.0)
    assert conn.timers(1.5) == [(TimerKind.RTO, 1.5, 1)]  # ss: timer:(on,1.5sec,1)
    assert conn.info(1.5)["timers"] == [("on", 1.5, 1)]
    assert conn.info(1.5)["state"] == "SYN-SENT"


def test_info_reports_what_ss_shows() -> None:
    p = EnginePair()
    client, _ = pair_connect(p)
    info = client.info()
    assert info["state"] == "ESTAB"
    assert info["local"] == "198.18.0.1:40000" and info["peer"] == "198.18.0.2:80"
    assert info["mss"] == 1448 and info["cwnd"] == 10
    assert info["wscale"] == (7, 7) and info["sack"] and info["ts"]
    assert info["rto"] == pytest.approx(0.201, abs=0.001)
    client.send(b"abc", p.now)
    assert client.info()["send_q"] == 3


def test_a_bug_in_one_connections_timer_resets_only_that_connection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """handle_timeout() isolates connections: the one whose timer raised is reset (RST,
    ECONNABORTED for its application, TCPConnectionErrors), the others' timers still run."""
    from minitcp.tcp.connection import Connection

    p = EnginePair()
    victim_c, victim_s = pair_connect(p, lport=40001)
    other_c, other_s = pair_connect(p, lport=40002)
    victim_s.user = object()  # an application holds it
    real = Connection.on_timers

    def faulty(self: Connection, now: float) -> None:
        if self is victim_s:
            raise RuntimeError("simulated bug in a timer")
        real(self, now)

    monkeypatch.setattr(Connection, "on_timers", faulty)
    victim_c.close(p.now)
    other_c.close(p.now)  # both servers now hold a delayed ACK, due at the same moment
    p.run(until=p.now + 1.0)
    assert p.b.counters["TCPConnectionErrors"] == 1
    assert victim_s.state == State.CLOSED and victim_c.state == State.CLOSED
    assert victim_s.take_error() == errno.ECONNABORTED
    assert other_s.state == State.CLOSE_WAIT and other_c.state == State.FIN_WAIT_2  # its ACK went
