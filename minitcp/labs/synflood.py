# ruff: noqa: RUF001, RUF002  (the Chinese text uses full-width punctuation)
"""什么是 SYN 攻击？如何避免 SYN 攻击？ minitcp is the server; spoofed SYNs fill its SYN queue."""

from __future__ import annotations

import ipaddress

from minitcp.tcp.seq import MASK
from minitcp.tcp.syncookies import decode_timestamp_options, mss_index, mss_table
from minitcp.trace.events import SegmentEvent
from minitcp.wire.segment import SYN, Segment, Segment6
from minitcp.wire.tcp import build_tcp6_packet, build_tcp_packet

from .base import HOST, Ctx, Lab, endpoint, hang_up, shown

QUEUE = 4  # tcp_max_syn_backlog for the lab: a SYN queue of four, full after four spoofed SYNs
FLOOD = 8  # spoofed SYNs: four fill the queue, four more get cookies
SPOOFED = "198.18.0.100"  # the flood's first source address; nobody holds these addresses
SPOOFED6 = "2001:2::100"  # with --ipv6


def ip_int(text: str) -> int:
    return int(ipaddress.ip_address(text))


def spoofed_syn(k: int, dst: str) -> bytes:
    """The k-th SYN of the flood to minitcp's `dst`, as an IPv4 or IPv6 packet: its own source
    address and port, and the options a Linux client sends (MSS, SACK, timestamps, window scale)."""
    v6 = ":" in dst
    kind, src, mss = (Segment6, SPOOFED6, 1440) if v6 else (Segment, SPOOFED, 1460)
    seg = kind(ip_int(src) + k, ip_int(dst), 20000 + k, 80, (k * 2654435761) & MASK, 0, SYN,
               64240, mss=mss, wscale=7, sack_permitted=True, ts_val=1000 + k, ts_ecr=0)
    return build_tcp6_packet(seg) if v6 else build_tcp_packet(seg)


async def syn_flood(ctx: Ctx) -> None:
    ctx.faults([])
    ctx.set_knob("m", "tcp_max_syn_backlog", QUEUE)
    client, server = await ctx.open("p")  # before the flood: the listener is up, a client got in
    await hang_up(client, server)
    await ctx.wait(0.2)
    ctx.mark()
    for k in range(FLOOD):
        ctx.inject(spoofed_syn(k, ctx.m_addr))
    await ctx.wait(0.05)
    half_open = [row for row in ctx.minitcp_ss(80) if row.state == "SYN-RECV"]
    ctx.check(len(half_open) == QUEUE,
              f"{FLOOD} spoofed SYNs: {len(half_open)} half-open connections fill the SYN queue of {QUEUE}, "
              "their SYN-ACKs going to addresses that never answer",
              f"{FLOOD} 个伪造源地址的 SYN：{len(half_open)} 个半连接占满了长度为 {QUEUE} 的 SYN 队列，"
              "它们的 SYN-ACK 发往不会回应的地址")
    sent = ctx.counter("m", "SyncookiesSent")
    ctx.check(sent == FLOOD - QUEUE,
              f"the other {sent} SYNs found the queue full: answered with a SYN cookie, nothing kept "
              "(SyncookiesSent)",
              f"其余 {sent} 个 SYN 遇到队列已满：回以 SYN cookie，服务端什么都不保存（SyncookiesSent）")
    client, server = await ctx.open("p")  # a legitimate client, during the flood
    cookie = _cookie_synack(ctx, client.port)
    eng = ctx.engine()
    if cookie is None:
        ctx.check(False, "the client's SYN was answered with a cookie SYN-ACK (none seen)",
                  "客户端的 SYN 收到了 cookie SYN-ACK（没有看到）")
    else:
        isn, ts_val = cookie
        syn = next(e for e in _segments(ctx, client.port) if e.direction == "in" and e.flags == "S")
        mss = eng.cookies.check(ip_int(ctx.p_addr), ip_int(ctx.m_addr), client.port, 80, syn.abs_seq + 1,
                                isn + 1, ctx.now())
        # The TSval is our timestamp clock plus the per-host-pair offset; the bits are below the offset.
        tsval_bits = ts_val - eng.isn.ts_offset(ip_int(ctx.m_addr), ip_int(ctx.p_addr))
        wscale, sack, ecn = decode_timestamp_options(tsval_bits)
        asked = syn.options.get("mss", 536)
        low = tsval_bits & 0x3F
        ctx.note(f"the cookie SYN-ACK to the client: ISN {isn:#010x} "
                 f"(MSS index {mss_index(mss, mss_table(ip_int(ctx.p_addr)))}: {mss}), "
                 f"TSval {ts_val} whose low 6 bits less the TS offset are {low:06b} "
                 "(ECN, SACK, window scale: 4 bits)",
                 f"发给客户端的 cookie SYN-ACK：初始序列号 {isn:#010x}"
                 f"（MSS 序号 {mss_index(mss, mss_table(ip_int(ctx.p_addr)))}：{mss}），"
                 f"TSval {ts_val}，减去时间戳偏移后低 6 位为 {low:06b}（ECN、SACK、窗口扩大因子占 4 位）")
        table = mss_table(ip_int(ctx.p_addr))
        ctx.check(mss == table[mss_index(asked, table)],
                  f"the client's SYN also got a cookie: its ISN holds the MSS index {mss_index(mss, table)} "
                  f"(MSS {mss} of the client's {asked}, from Linux's table {shown(list(table))})",
                  f"客户端的 SYN 也收到了 cookie：SYN-ACK 的初始序列号里藏着 MSS 序号 {mss_index(mss, table)}"
                  f"（客户端要的 {asked}，按 Linux 的表 {shown(list(table), 'zh')} 取 {mss}）")
        ctx.check(wscale == syn.options.get("wscale") and sack == syn.options.get("sack_permitted", False),
                  f"and the low 6 bits of its TSval hold the client's other options: window scale {wscale}, "
                  f"SACK {'yes' if sack else 'no'}, ECN {'yes' if ecn else 'no'}",
                  f"它的 TSval 的低 6 位存着客户端的其他选项：窗口扩大因子 {wscale}，"
                  f"SACK {'有' if sack else '无'}，ECN {'有' if ecn else '无'}")
    ctx.check(ctx.counter("m", "SyncookiesRecv") == 1 and await server.state() == "ESTABLISHED",
              "the client's ACK brought the cookie back: checked, and the connection made from it "
              "(SyncookiesRecv +1), though the SYN queue is still full",
              "客户端的 ACK 带回了 cookie：校验通过，据此建立了连接（SyncookiesRecv +1），"
              "尽管 SYN 队列仍是满的")
    await client.send(b"hello")
    got = await server.recv(timeout=1.0)
    ctx.check(got == b"hello", f"and it carries data: the server read {shown(got)}",
              f"这个连接能正常传数据：服务端读到了 {shown(got, 'zh')}")
    ctx.check(not ctx.counter("m", "ListenDrops") and not ctx.counter("m", "SyncookiesFailed"),
              "no SYN was dropped and no cookie failed (ListenDrops, SyncookiesFailed unchanged)",
              "没有丢弃任何 SYN，也没有校验失败的 cookie（ListenDrops、SyncookiesFailed 不变）")
    await hang_up(client, server)
    await ctx.wait(0.1)


def _segments(ctx: Ctx, cport: int) -> list[SegmentEvent]:
    """minitcp's segments with the client on `cport`, since mark()."""
    return [e for e in ctx.rec.events[ctx.first:]
            if isinstance(e, SegmentEvent) and e.host == HOST and e.remote == endpoint(ctx.p_addr, cport)]


def _cookie_synack(ctx: Ctx, cport: int) -> tuple[int, int] | None:
    """(ISN, TSval) of minitcp's SYN-ACK to the client on `cport`."""
    for e in _segments(ctx, cport):
        if e.direction == "out" and e.flags == "S.":
            return e.abs_seq, int(e.options.get("ts_val", 0))
    return None


LABS = [
    Lab("syn-flood",
        "什么是 SYN 攻击？如何避免 SYN 攻击？ — 开启 tcp_syncookies",
        "A SYN flood fills the SYN queue; SYN cookies let clients in",
        "SYN 洪泛占满 SYN 队列，SYN cookie 让客户端照样连上",
        syn_flood,
        "Spoofed SYNs come from addresses that will never answer: each takes a place in the SYN queue "
        "(SYN-RECV) and keeps it while its SYN-ACK is resent, for about a minute. With the queue full "
        "(tcp_max_syn_backlog = 4 for the lab) a SYN is answered with a SYN cookie "
        "(net.ipv4.tcp_syncookies = 1, the default): the SYN-ACK's sequence number is a keyed hash of "
        "the four-tuple, the minute and the client's MSS, and with timestamps the low bits of the TSval "
        "hold the window scale, SACK and ECN. The server keeps nothing. A real client's ACK returns "
        "cookie + 1 and its TSecr; the server checks the hash and the age and makes the connection "
        "from them. With tcp_syncookies = 0 the same client would wait until the queue had room.",
        "伪造源地址的 SYN 来自永远不会回应的地址：每个都占住 SYN 队列里的一个位置（SYN-RECV），"
        "在 SYN-ACK 重传的约一分钟里一直占着。队列满了以后（本实验把 tcp_max_syn_backlog 设为 4），"
        "新的 SYN 由 SYN cookie 应答（net.ipv4.tcp_syncookies = 1，默认值）：SYN-ACK 的序列号是四元组、"
        "分钟数和客户端 MSS 的带密钥哈希；开启时间戳时，TSval 的低位存着窗口扩大因子、SACK 和 ECN。"
        "服务端什么都不保存。真正的客户端回的 ACK 带回 cookie + 1 和 TSecr，服务端校验哈希和时效，"
        "据此建立连接。如果 tcp_syncookies = 0，同一个客户端只能等到队列有空位。",
        "synflood", kernel_seconds=5, ladder="all"),
]
