"""ECN negotiation (RFC 3168 section 6.1.1) as Linux's tcp_ecn knob, and the receiver's CE echo.

tcp_ecn=1 asks for ECN on our SYNs (ECE|CWR) and accepts it; 2, Linux's default,
accepts a peer's request (SYN-ACK with ECE) but does not ask; 0 does neither.
"""

from __future__ import annotations

from minitcp.wire.segment import ACK, CWR, ECE, PSH, SYN

from .peer import LOCAL, REMOTE, RPORT, Peer, knobs

ECN_SYN = SYN | ECE | CWR


def _connect(p: Peer) -> object:
    conn = p.eng.connect(LOCAL, 80, REMOTE, RPORT, 0.0)
    (syn,) = p.out()
    p.iss = syn.seq
    return conn, syn


def test_tcp_ecn_1_requests_ecn_on_the_first_syn_only() -> None:
    p = Peer(knobs(tcp_ecn=1))
    conn, syn = _connect(p)
    assert syn.flags == ECN_SYN
    _, again = p.run_until_sent(2.0)
    assert again.flags == SYN  # tcp_ecn_fallback: a retransmitted SYN goes without ECE|CWR
    (ack,) = p.feed(p.seg(SYN | ACK | ECE, seq=0, ack=1, **p.syn_options()), at=1.5)
    assert conn.ecn_ok and ack.flags == ACK


def test_an_ecn_syn_ack_must_carry_ece_without_cwr() -> None:
    for synack_flags, ok in ((SYN | ACK | ECE, True), (SYN | ACK | ECE | CWR, False), (SYN | ACK, False)):
        p = Peer(knobs(tcp_ecn=1))
        conn, _ = _connect(p)
        p.feed(p.seg(synack_flags, seq=0, ack=1, **p.syn_options()), at=0.01)
        assert conn.ecn_ok is ok


def test_default_tcp_ecn_2_does_not_ask() -> None:
    p = Peer()
    conn, syn = _connect(p)
    assert syn.flags == SYN
    p.feed(p.seg(SYN | ACK | ECE, seq=0, ack=1, **p.syn_options()), at=0.01)
    assert not conn.ecn_ok


def test_default_tcp_ecn_2_accepts_an_ecn_syn() -> None:
    p = Peer()
    p.eng.listen(LOCAL, p.lport, 5)
    (synack,) = p.feed(p.seg(ECN_SYN, seq=0, **p.syn_options()), at=0.0)
    assert synack.flags == SYN | ACK | ECE
    _, again = p.run_until_sent(2.0)
    assert again.flags == SYN | ACK | ECE  # a retransmitted SYN-ACK keeps it (tcp_make_synack)


def test_ecn_syn_refused_when_off_or_when_the_syn_itself_is_ect() -> None:
    for peer, tos in ((Peer(knobs(tcp_ecn=0)), 0), (Peer(), 0x02)):
        peer.eng.listen(LOCAL, peer.lport, 5)
        (synack,) = peer.feed(peer.seg(ECN_SYN, seq=0, tos=tos, **peer.syn_options()), at=0.0)
        assert synack.flags == SYN | ACK
    p = Peer()
    p.eng.listen(LOCAL, p.lport, 5)
    (synack,) = p.feed(p.seg(SYN | ECE, seq=0, **p.syn_options()), at=0.0)  # ECE alone: no request
    assert synack.flags == SYN | ACK


def test_ce_is_echoed_with_ece_until_the_peers_cwr() -> None:
    """RFC 3168 section 6.1.3 (Linux tcp_data_ecn_check, tcp_ecn_accept_cwr, tcp_ecn_send)."""
    p = Peer()
    p.eng.listen(LOCAL, p.lport, 5)
    (synack,) = p.feed(p.seg(ECN_SYN, seq=0, **p.syn_options()), at=0.0)
    p.iss = synack.seq
    p.feed(p.seg(ACK), at=0.01)
    conn = p.eng.listeners[(LOCAL, p.lport)].accept()
    assert conn.ecn_ok
    (ack,) = p.feed(p.seg(ACK | PSH, seq=1, payload=b"a" * 100, tos=0x03), at=0.1)  # CE
    assert ack.flags == ACK | ECE
    conn.send(b"reply", p.now)
    (data,) = p.out()
    assert data.flags & ECE and data.tos & 0x03 == 0x02  # our new data is ECT(0) (tcp_ecn_send)
    assert ack.tos & 0x03 == 0  # our pure ACKs are not ECN-capable
    (ack,) = p.feed(p.seg(ACK | PSH | CWR, seq=101, ack=6, payload=b"b" * 100, tos=0x02), at=0.2)
    assert ack.flags == ACK  # the CWR ends the echo, and is ACKed at once
