"""Keepalive (RFC 1122 section 4.2.3.6; Linux tcp_keepalive_timer): off by default, then
7200 s idle, probes every 75 s, 9 of them, then RST and ETIMEDOUT. Virtual time makes hours instant."""

from __future__ import annotations

import errno

import pytest

from minitcp.tcp.states import State
from minitcp.tcp.timers import TimerKind
from minitcp.wire.segment import ACK, PSH, RST

from .builders import established
from .peer import Peer, knobs


def test_keepalive_is_off_by_default() -> None:
    p, conn = established()
    assert p.run_until(100_000.0) == []
    assert conn.state == State.ESTABLISHED and conn.timers() == []


def test_linux_defaults_7200_s_then_9_probes_75_s_apart_then_rst() -> None:
    p, conn = established()
    conn.apply_option("keepalive", True, p.now)
    assert conn.timers() == [(TimerKind.KEEPALIVE, pytest.approx(7200.0 - p.now + 0.01), 0)]
    sent = p.run_until(10_000.0)
    probes = [(t, s) for t, s in sent if not s.flags & RST]
    assert [t for t, _ in probes] == pytest.approx([7200.01 + 75 * k for k in range(9)])
    assert all(p.rel(s) == (".", 0, 1, 0) for _, s in probes)  # seq = snd_una - 1, no data
    (t_rst, rst), = [(t, s) for t, s in sent if s.flags & RST]
    assert t_rst == pytest.approx(7200.01 + 75 * 9)
    assert p.rel(rst) == ("R.", 1, 1, 0)
    assert conn.state == State.CLOSED
    with pytest.raises(OSError) as e:
        conn.recv(1, p.now)
    assert e.value.errno == errno.ETIMEDOUT
    c = p.eng.counters
    assert (c["TCPKeepAlive"], c["TCPAbortOnTimeout"], c["EstabResets"]) == (9, 1, 1)


def test_answered_probe_keeps_the_connection_and_restarts_the_idle_time() -> None:
    p, conn = established(tcp_keepalive_time=10, tcp_keepalive_intvl=2, tcp_keepalive_probes=3)
    conn.apply_option("keepalive", True, p.now)
    (t, _probe), = p.run_until(10.015)
    assert t == pytest.approx(10.01)
    out = p.feed(p.seg(ACK, seq=1, ack=1), at=10.02)  # "yes, I am here"
    assert out == []
    sent = p.run_until(20.5)
    assert [round(t, 6) for t, _ in sent] == [20.02]  # 10 s after the answer, not 2 s after the probe
    assert conn.state == State.ESTABLISHED and conn.probes_out == 1


def test_shortened_knobs_give_up_after_probes() -> None:
    p, conn = established(tcp_keepalive_time=10, tcp_keepalive_intvl=2, tcp_keepalive_probes=3)
    conn.apply_option("keepalive", True, p.now)
    sent = p.run_until(100)
    assert [(round(t, 6), p.rel(s)[0]) for t, s in sent] == [
        (10.01, "."), (12.01, "."), (14.01, "."), (16.01, "R."),
    ]
    assert conn.state == State.CLOSED


def test_traffic_postpones_the_first_probe() -> None:
    p, conn = established(tcp_keepalive_time=10, tcp_keepalive_intvl=2, tcp_keepalive_probes=3)
    conn.apply_option("keepalive", True, p.now)
    p.feed(p.seg(ACK | PSH, seq=1, payload=b"hi"), at=6.0)
    p.out()
    sent = p.run_until(16.5)
    assert [round(t, 6) for t, _ in sent] == [16.0]


def test_keepalive_set_on_the_listener_applies_to_accepted_connections() -> None:
    p = Peer(knobs(tcp_keepalive_time=10))
    lst = p.eng.listen(0, 80, 5)  # wildcard address
    lst.options["keepalive"] = True
    p.iss = p.feed(p.seg(0x02, seq=0, mss=1460), at=0.0)[0].seq
    p.feed(p.seg(ACK, seq=1, ack=1), at=0.01)
    conn = lst.accept()
    assert conn.opts is not None and conn.opts.keepalive
    assert [k for k, _, _ in conn.timers()] == [TimerKind.KEEPALIVE]


def test_keepalive_off_again_cancels_the_timer() -> None:
    p, conn = established()
    conn.apply_option("keepalive", True, p.now)
    conn.apply_option("keepalive", False, p.now)
    assert conn.timers() == []
    assert p.run_until(10_000.0) == []
