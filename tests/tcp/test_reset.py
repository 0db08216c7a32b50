"""The closed-port rule (RFC 9293 section 3.10.7.1, Linux tcp_v4_send_reset)."""

from __future__ import annotations

from minitcp.tcp.reset import reset_for
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, FIN, PSH, RST, SYN, Segment

CLIENT = ip_int("198.18.0.1")
STACK = ip_int("198.18.0.2")


def incoming(flags: int, seq: int = 1000, ack: int = 0, payload: bytes = b"", **kw: object) -> Segment:
    return Segment(CLIENT, STACK, 43210, 80, seq, ack, flags, 64240, payload, **kw)  # type: ignore[arg-type]


def test_syn_gets_rst_ack_acknowledging_the_syn() -> None:
    syn = incoming(SYN, seq=123, mss=1460, sack_permitted=True, ts_val=1, ts_ecr=0, wscale=7)
    assert reset_for(syn) == Segment(STACK, CLIENT, 80, 43210, 0, 124, RST | ACK, 0, ttl=64, ip_id=0, df=True)


def test_segment_with_ack_gets_bare_rst_with_seq_from_its_ack() -> None:
    rst = reset_for(incoming(ACK | PSH, seq=5000, ack=777, payload=b"hello"))
    assert rst is not None
    assert (rst.seq, rst.ack, rst.flags) == (777, 0, RST)


def test_syn_ack_is_answered_by_its_ack_number() -> None:
    rst = reset_for(incoming(SYN | ACK, seq=1, ack=99))
    assert rst is not None
    assert (rst.seq, rst.ack, rst.flags) == (99, 0, RST)


def test_reset_acknowledges_payload_and_fin() -> None:
    rst = reset_for(incoming(FIN, seq=10, payload=b"abc"))
    assert rst is not None
    assert (rst.seq, rst.ack, rst.flags) == (0, 14, RST | ACK)


def test_acknowledgment_wraps_modulo_2_32() -> None:
    rst = reset_for(incoming(SYN | FIN, seq=0xFFFFFFFF, payload=b"xy"))
    assert rst is not None
    assert rst.ack == 3  # 2**32 - 1 + SYN + FIN + 2 bytes


def test_rst_is_never_answered() -> None:
    assert reset_for(incoming(RST, seq=1)) is None
    assert reset_for(incoming(RST | ACK, seq=1, ack=2)) is None


def test_reply_swaps_endpoints_has_no_options_and_zero_window() -> None:
    rst = reset_for(incoming(ACK, ack=5, ts_val=9, ts_ecr=8, sack=((1, 2),), tos=0x10 | 0x03, ttl=3))
    assert rst is not None
    assert (rst.src, rst.dst, rst.sport, rst.dport) == (STACK, CLIENT, 80, 43210)
    assert rst.window == 0 and bytes(rst.payload) == b""
    assert (rst.mss, rst.wscale, rst.sack_permitted, rst.sack, rst.ts_val) == (None, None, False, (), None)
    # TOS is copied without its ECN bits (RFC 3168: a reset is not ECN-capable); TTL is our own.
    assert (rst.tos, rst.ttl, rst.df, rst.ip_id) == (0x10, 64, True, 0)
