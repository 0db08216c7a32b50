"""ICMP errors about our segments (Linux tcp_v4_err): abort while opening, remember once open,
ignore what does not quote data in flight (RFC 5927 section 4.1)."""

from __future__ import annotations

import errno

import pytest

from minitcp.tcp.icmp_errors import icmp_errno
from minitcp.tcp.states import State
from minitcp.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_PARAMETERPROB,
    ICMP_SOURCE_QUENCH,
    ICMP_TIME_EXCEEDED,
    UNREACH_FRAG_NEEDED,
    UNREACH_HOST,
    UNREACH_PORT,
)
from minitcp.wire.segment import ACK, SYN

from .builders import established, syn_sent
from .peer import LOCAL, REMOTE, Peer

HOST_PROHIBITED = 10  # RFC 1812: host administratively prohibited


def icmp(p: Peer, rel_seq: int, icmp_type: int = ICMP_DEST_UNREACH, code: int = UNREACH_PORT,
         at: float | None = None) -> None:
    """An ICMP error quoting our segment with sequence number ISN + rel_seq."""
    if at is not None:
        p.now = at
    p.eng.icmp_error(LOCAL, p.lport, REMOTE, p.rport, (p.iss + rel_seq) & 0xFFFFFFFF, icmp_type, code, p.now)


def test_the_errno_of_each_message() -> None:
    assert icmp_errno(ICMP_DEST_UNREACH, UNREACH_PORT) == errno.ECONNREFUSED
    assert icmp_errno(ICMP_DEST_UNREACH, UNREACH_HOST) == errno.EHOSTUNREACH
    assert icmp_errno(ICMP_DEST_UNREACH, HOST_PROHIBITED) == errno.EHOSTUNREACH
    assert icmp_errno(ICMP_TIME_EXCEEDED, 0) == errno.EHOSTUNREACH
    assert icmp_errno(ICMP_PARAMETERPROB, 0) == errno.EPROTO
    # Path MTU discovery's signal, source quench and unknown codes are not errors.
    assert icmp_errno(ICMP_DEST_UNREACH, UNREACH_FRAG_NEEDED) is None
    assert icmp_errno(ICMP_SOURCE_QUENCH, 0) is None
    assert icmp_errno(ICMP_DEST_UNREACH, 16) is None


def test_an_error_about_our_syn_aborts_the_connect() -> None:
    p, conn = syn_sent()
    icmp(p, -1, at=0.1)  # before snd_una: not about anything in flight
    assert conn.state == State.SYN_SENT and p.eng.counters["OutOfWindowIcmps"] == 1
    icmp(p, 0, at=0.2)
    assert conn.state == State.CLOSED
    assert conn.error == errno.ECONNREFUSED
    assert p.out() == []  # no RST: the peer is unreachable anyway
    assert p.eng.poll_at() is None  # the SYN retransmission timer is gone


def test_snd_nxt_itself_counts_as_in_flight_as_in_linux() -> None:
    # Linux's between(seq, snd_una, snd_nxt) includes both ends (FreeBSD stops before snd_nxt).
    p, conn = syn_sent()
    icmp(p, 1, code=UNREACH_HOST, at=0.1)
    assert (conn.state, conn.error) == (State.CLOSED, errno.EHOSTUNREACH)


def test_once_established_an_error_is_only_remembered_and_reported_on_timeout() -> None:
    p, conn = established(tcp_retries2=2)
    conn.send(b"x" * 100, p.now)
    p.out()
    icmp(p, 1, code=UNREACH_HOST, at=0.5)
    assert conn.state == State.ESTABLISHED and conn.error == 0
    p.run_until(60.0)  # the data is never acknowledged: retransmissions run out
    assert conn.state == State.CLOSED
    with pytest.raises(OSError) as e:
        conn.send(b"y", p.now)
    assert e.value.errno == errno.EHOSTUNREACH  # not ETIMEDOUT: Linux tcp_write_err


def test_an_error_quoting_acknowledged_data_is_ignored() -> None:
    p, conn = established(tcp_retries2=2)
    conn.send(b"x" * 100, p.now)
    p.out()
    p.feed(p.seg(ACK, seq=1, ack=101), at=0.1)
    icmp(p, 1, code=UNREACH_HOST, at=0.2)  # about bytes 1..100, already acknowledged
    assert conn.soft_error == 0 and p.eng.counters["OutOfWindowIcmps"] == 1


def test_a_half_open_connection_is_dropped_only_for_net_host_ttl_and_parameter_errors() -> None:
    for icmp_type, code, dropped in ((ICMP_DEST_UNREACH, UNREACH_HOST, True),
                                     (ICMP_TIME_EXCEEDED, 0, True),
                                     (ICMP_DEST_UNREACH, UNREACH_PORT, False)):
        p = Peer()
        lst = p.eng.listen(LOCAL, p.lport, 5)
        (synack,) = p.feed(p.seg(SYN, seq=0, mss=1460), at=0.0)
        p.iss = synack.seq
        icmp(p, 1, icmp_type, code, at=0.1)  # not our SYN-ACK's sequence number: ignored
        assert p.eng.counters["OutOfWindowIcmps"] == 1
        icmp(p, 0, icmp_type, code, at=0.2)
        assert (len(p.eng.conns) == 0) == dropped
        assert p.eng.counters["ListenDrops"] == (1 if dropped else 0)
        assert lst.accept() is None
