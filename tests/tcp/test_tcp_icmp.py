"""ICMP errors about our segments (Linux tcp_v4_err): abort while opening, remember once open,
ignore what does not quote data in flight (RFC 5927 section 4.1)."""

from __future__ import annotations

import errno

import pytest

from minitcp.tcp.icmp_errors import icmp_errno
from minitcp.tcp.states import State
from minitcp.tcp.timers import TimerKind
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
        assert (len(p.eng.requests) == 0) == dropped and not p.eng.conns
        assert p.eng.counters["ListenDrops"] == (1 if dropped else 0)
        assert lst.accept() is None


# ---------------------------------------------------------------------------- path MTU discovery


def frag_needed(p: Peer, rel_seq: int, mtu: int, at: float) -> list:
    """ICMP "fragmentation needed" (type 3 code 4) with next-hop MTU `mtu`, quoting our segment
    at ISN + rel_seq; what the engine sent at once."""
    p.now = at
    p.eng.icmp_error(LOCAL, p.lport, REMOTE, p.rport, (p.iss + rel_seq) & 0xFFFFFFFF,
                     ICMP_DEST_UNREACH, UNREACH_FRAG_NEEDED, p.now, mtu)
    return p.out()


def test_fragmentation_needed_resends_at_once_at_the_smaller_size() -> None:
    """Linux tcp_v4_mtu_reduced: the MSS follows the next-hop MTU (tcp_sync_mss: 1400 - 40) and
    tcp_simple_retransmit sends what no longer fits again at once, not after the RTO, with the
    same number of segments in cwnd (10 at 1460 bytes, then at 1360), the RTO restarted. The
    kernel (6.18) resends a 2920-byte write sent as 1460 + 1460 as 1360 + 1360 + 200."""
    p, conn = established()
    assert conn.send(b"d" * 2920, 0.1) == 2920
    assert p.rels(p.out()) == [(".", 1, 1, 1460), ("P.", 1461, 1, 1460)]
    out = frag_needed(p, 1, 1400, at=0.15)
    assert (conn.pmtu, conn.mss) == (1400, 1360)
    assert p.rels(out) == [(".", 1, 1, 1360), (".", 1361, 1, 1360), ("P.", 2721, 1, 200)]
    assert p.eng.counters["RetransSegs"] == 3
    assert conn.recovery.cc.cwnd == 10
    assert conn.timers() == [(TimerKind.RTO, pytest.approx(conn.recovery.rto), 0)]
    # New data goes at the new size.
    p.feed(p.seg(ACK, ack=2921), at=0.2)
    conn.send(b"n" * 2000, p.now)
    assert p.rels(p.out()) == [(".", 2921, 1, 1360), ("P.", 4281, 1, 640)]


def test_the_mss_leaves_room_for_the_timestamp_option() -> None:
    p, conn = established(ts=True)
    conn.send(b"d" * 1448, 0.1)
    p.out()
    frag_needed(p, 1, 1400, at=0.15)
    assert conn.mss == 1400 - 40 - 12  # tcp_mtu_to_mss less the options


def test_a_path_mtu_below_min_pmtu_is_taken_as_min_pmtu() -> None:
    """__ip_rt_update_pmtu: an MTU below net.ipv4.route.min_pmtu (552) locks the path at 552."""
    p, conn = established()
    conn.send(b"d" * 1460, 0.1)
    p.out()
    out = frag_needed(p, 1, 300, at=0.15)
    assert (conn.pmtu, conn.mss) == (552, 512)
    assert p.rels(out) == [(".", 1, 1, 512), (".", 513, 1, 512), ("P.", 1025, 1, 436)]


def test_what_fragmentation_needed_does_not_change() -> None:
    # A segment that still fits is not resent (tcp_simple_retransmit marks only longer ones).
    p, conn = established()
    conn.send(b"s" * 500, 0.1)
    p.out()
    assert frag_needed(p, 1, 1000, at=0.15) == [] and conn.mss == 960
    assert p.eng.counters["RetransSegs"] == 0
    # A larger MTU than the path's is never taken (__ip_rt_update_pmtu), nor one about data
    # already acknowledged (tcp_v4_err: OutOfWindowIcmps).
    assert frag_needed(p, 1, 1200, at=0.16) == [] and conn.pmtu == 1000
    p.feed(p.seg(ACK, ack=501), at=0.2)
    assert frag_needed(p, 1, 800, at=0.3) == [] and conn.pmtu == 1000
    assert p.eng.counters["OutOfWindowIcmps"] == 1


def test_ip_no_pmtu_disc_ignores_fragmentation_needed() -> None:
    """With net.ipv4.ip_no_pmtu_disc=1 Linux sockets send without DF (IP_PMTUDISC_DONT) and
    icmp_unreach does not pass the MTU on: the connection keeps its MSS and waits for its RTO."""
    p, conn = established(ip_no_pmtu_disc=1)
    conn.send(b"d" * 1460, 0.1)
    p.out()
    assert frag_needed(p, 1, 1400, at=0.15) == []
    assert (conn.pmtu, conn.mss) == (1500, 1460)
