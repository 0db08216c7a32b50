# ruff: noqa: RUF001, RUF002  (the Chinese text uses full-width punctuation)
"""什么是路径 MTU 发现？ minitcp sends; a smaller MTU appears on the path, and ICMP says so."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Awaitable, Callable

from minitcp.wire.icmp import ICMP_DEST_UNREACH, UNREACH_FRAG_NEEDED, icmp_error
from minitcp.wire.icmpv6 import ICMPV6_PACKET_TOO_BIG, icmpv6_error
from minitcp.wire.ipv4 import PROTO_ICMP, PROTO_TCP, build_ipv4, ipv4_header
from minitcp.wire.ipv6 import PROTO_ICMPV6, build_ipv6, ipv6_header

from .base import Ctx, Lab, Side, hang_up, ms
from .sides import MinitcpSide

PATH_MTU = 1280  # the smaller hop: IPv6's minimum MTU (RFC 8200 section 5), and a common tunnel's
TS_OPTION = 12  # every segment carries the timestamp option (RFC 7323 section 3)
BLOCK = 64 * 1024  # bytes sent each time: dozens of full-sized segments


def _ip(text: str) -> int:
    return int(ipaddress.ip_address(text))


def too_big(ctx: Ctx, seq: int, sport: int, dport: int, size: int) -> bytes:
    """What a router sends when a segment of minitcp's (sequence number `seq`, `size` bytes of
    IP packet) does not fit its next hop of PATH_MTU bytes: ICMP "fragmentation needed" with the
    next-hop MTU (RFC 1191 section 4), or ICMPv6 "packet too big" (RFC 4443 section 3.2), quoting
    the packet's IP header and the start of its TCP header. It comes from the peer's address,
    the one host on the link (a router's own address would do as well: TCP reads the quote)."""
    m, p = _ip(ctx.m_addr), _ip(ctx.p_addr)
    ports_seq = struct.pack("!HHI", sport, dport, seq)
    if ctx.ipv6:
        quote = ipv6_header(m, p, PROTO_TCP, size - 40) + ports_seq
        return build_ipv6(p, m, PROTO_ICMPV6, icmpv6_error(p, m, ICMPV6_PACKET_TOO_BIG, 0, PATH_MTU, quote))
    quote = ipv4_header(m, p, PROTO_TCP, size - 20) + ports_seq
    return build_ipv4(p, m, PROTO_ICMP, icmp_error(ICMP_DEST_UNREACH, UNREACH_FRAG_NEEDED, quote, PATH_MTU))


async def _transfer(client: Side, server: Side, data: bytes,
                    after_first_send: Callable[[], Awaitable[None]] | None = None) -> bytes:
    """`data` from client to server, as much as the send buffer takes at a time, the server
    reading meanwhile; `after_first_send` runs once, right after the first send. What arrived."""
    got, sent = b"", 0
    for _ in range(400):
        if sent < len(data):
            n = await client.send(data[sent:])
            sent += n if isinstance(n, int) else 0
        if after_first_send is not None:
            await after_first_send()
            after_first_send = None
        piece = await server.recv(timeout=0.5)
        if isinstance(piece, bytes) and piece:
            got += piece
        if len(got) >= len(data):
            break
    return got


async def pmtu_shrink(ctx: Ctx) -> None:
    ctx.faults([])
    client, server = await ctx.open("m")  # minitcp is the sender
    assert isinstance(client, MinitcpSide)
    headers = 60 if ctx.ipv6 else 40  # IP and TCP headers (RFC 8200, RFC 791, RFC 9293)
    full = 1500 - headers - TS_OPTION  # the link's MTU is 1500
    room = PATH_MTU - headers - TS_OPTION
    ctx.mark()
    first = bytes(range(256)) * (BLOCK // 256)
    got = await _transfer(client, server, first)
    before = [s.length for s in ctx.segs("m") if s.length]
    ctx.check(got == first and max(before, default=0) == full,
              f"on a path of 1500-byte links {len(got)} bytes went in segments of {full} bytes "
              f"(the MSS less {TS_OPTION} of timestamps): largest {max(before, default=0)}",
              f"在全是 1500 字节链路的路径上，{len(got)} 字节以 {full} 字节的报文段发送"
              f"（MSS 减去 {TS_OPTION} 字节时间戳）：最大 {max(before, default=0)}")
    # A hop of PATH_MTU bytes appears: bigger packets are dropped there, and the router says so.
    ctx.faults([f"drop:dir=out,over={room}"])
    t_send = ctx.now() - ctx.t0
    conn = client.conn
    una = conn.snd_nxt  # the first segment of the next send: dropped, quoted by the router
    second = bytes(reversed(first))
    t_icmp = 0.0

    async def router_answers() -> None:
        nonlocal t_icmp
        await ctx.wait(0.005)
        t_icmp = ctx.now() - ctx.t0
        ctx.inject(too_big(ctx, una, client.port, conn.rport, full + headers + TS_OPTION))

    got = await _transfer(client, server, second, router_answers)
    await ctx.wait(0.05)
    lost = [s for s in ctx.segs("m", since=t_send) if s.lost]
    after = [s for s in ctx.segs("m", since=t_icmp) if s.length and not s.lost]
    ctx.check(bool(lost) and all(s.length > room for s in lost),
              f"the {PATH_MTU}-byte hop dropped the {len(lost)} segments larger than it takes",
              f"{PATH_MTU} 字节的那一跳丢弃了 {len(lost)} 个超过它能承载的报文段")
    ctx.check(conn.pmtu == PATH_MTU and bool(after) and max(s.length for s in after) == room,
              f"after the ICMP{'v6 packet too big' if ctx.ipv6 else ' fragmentation needed'} "
              f"(MTU {PATH_MTU}) the path MTU is {conn.pmtu} and segments carry at most "
              f"{max((s.length for s in after), default=0)} bytes ({PATH_MTU} less headers and timestamps)",
              f"收到 ICMP{'v6 packet too big' if ctx.ipv6 else ' fragmentation needed'}（MTU {PATH_MTU}）后，"
              f"路径 MTU 变为 {conn.pmtu}，报文段最多携带 {max((s.length for s in after), default=0)} 字节"
              f"（{PATH_MTU} 减去首部和时间戳）")
    delay = after[0].t - t_icmp if after else None
    ctx.check(delay is not None and delay < 0.05,
              "what was lost went again at once, re-cut to the smaller size, without waiting for the "
              "retransmission timer"
              + (f" ({ms(delay)} after the ICMP)" if delay is not None else " (nothing)"),
              "丢失的数据立即按更小的尺寸重新切分并重传，没有等待重传定时器"
              + (f"（ICMP 之后 {ms(delay)}）" if delay is not None else "（没有重传）"))
    timeouts = ctx.counter("m", "TCPTimeouts") or 0
    ctx.check(got == second and not timeouts,
              f"all {len(got)} of {len(second)} bytes arrived intact, and no retransmission timeout fired "
              f"(TCPTimeouts +{timeouts})",
              f"{len(second)} 字节中的 {len(got)} 字节完整到达，"
              f"重传定时器没有超时（TCPTimeouts +{timeouts}）")
    await hang_up(client, server)
    await ctx.wait(0.1)


LABS = [
    Lab("pmtu-shrink",
        "什么是 MTU 和 MSS？路径 MTU 变小了，TCP 怎么办？",
        "A smaller MTU appears on the path: ICMP says so, and the segments shrink at once",
        "路径上出现更小的 MTU：ICMP 告知后，报文段立即变小",
        pmtu_shrink,
        "TCP segments are sent with Don't Fragment (IPv6 has no fragmenting routers at all), sized "
        "for the first link: 1500 bytes less headers. When a hop with a smaller MTU appears, its "
        "router drops the packets too big for it and answers each with ICMP 'fragmentation needed' "
        "(RFC 1191) or ICMPv6 'packet too big' (RFC 8201), giving the next hop's MTU and quoting the "
        "start of the dropped packet. Linux (tcp_v4_err -> tcp_v4_mtu_reduced, tcp_v6_err) checks "
        "the quoted sequence number is in flight, lowers the path MTU for the connection, recomputes "
        "the MSS (tcp_sync_mss) and retransmits what no longer fits at once (tcp_simple_retransmit), "
        "so the connection goes on at the smaller size without waiting for a retransmission timeout. "
        "Without the ICMP (a firewall that drops it) the connection would black-hole: every "
        "retransmission is as big as the original.",
        "TCP 报文段带着 DF（不分片）标志发送（IPv6 的路由器根本不分片），大小按第一段链路算："
        "1500 字节减去首部。路径上出现 MTU 更小的一跳时，那里的路由器丢弃放不下的分组，并对每个"
        "回以 ICMP 'fragmentation needed'（RFC 1191）或 ICMPv6 'packet too big'（RFC 8201），"
        "告知下一跳的 MTU，并引用被丢分组的开头。Linux（tcp_v4_err -> tcp_v4_mtu_reduced、tcp_v6_err）"
        "确认引用的序列号还在途中，就为这个连接降低路径 MTU，重新计算 MSS（tcp_sync_mss），并立即重传"
        "放不下的数据（tcp_simple_retransmit），连接以更小的尺寸继续，不必等重传超时。"
        "如果 ICMP 被防火墙丢掉，连接就会成为黑洞：每次重传都和原来一样大。",
        "pmtu", kernel_seconds=5),
]
