# ruff: noqa: RUF001, RUF002  (the Chinese text uses full-width punctuation)
"""为什么需要 TIME_WAIT 状态？ — 防止历史连接中的数据，被后面相同四元组的连接错误的接收.

One scenario run twice: with TIME_WAIT, and without it (tcp_max_tw_buckets = 0 on
the server, so its close forgets the pair at once). Timestamps are off on both
ends, so PAWS (RFC 7323 section 5) cannot reject the stale copy: sequence numbers
are all that is left. The lab pins minitcp's next ISN on the four-tuple so that
the old data falls exactly where the new stream has got to; with TIME_WAIT the
takeover picks its own ISN instead (Linux tcp_timewait_state_process:
tw_snd_nxt + 65535 + 2), and the pin has no effect.
"""

from __future__ import annotations

import functools

from minitcp.tcp.family import parse_addr
from minitcp.trace.events import FaultEvent, SegmentEvent

from .base import HOST, Ctx, Lab, hang_up

OLD, NEW, MORE = b"OLD-DATA", b"NEW-DATA", b"NEW-MORE"  # the same length: MORE's place is OLD's
LATE = 2.0  # seconds the network keeps the copy of OLD-DATA
TAKEOVER_GAP = 65537  # Linux tcp_timewait_state_process: isn = tw_snd_nxt + 65535 + 2


def _sent(ctx: Ctx, since: int = 0) -> list[SegmentEvent]:
    """What minitcp sent, from the `since`-th trace event on."""
    return [e for e in ctx.rec.events[since:]
            if isinstance(e, SegmentEvent) and e.host == HOST and e.direction == "out"]


async def old_duplicate(ctx: Ctx, *, time_wait: bool) -> None:
    # Without timestamps PAWS is out of play (tcp_timestamps = 0 on either end turns them off).
    ctx.set_knob("m", "tcp_timestamps", 0)
    ctx.set_knob("p", "tcp_timestamps", 0)
    if not time_wait:
        ctx.set_knob("m", "tcp_max_tw_buckets", 0)  # no room for TIME_WAIT: close means forget
    # minitcp is the server and closes first: the TIME_WAIT (if any) is its own.
    client, server = await ctx.open("p")
    ctx.faults([f"dup:dir=out,flags=P,nth=1,ms={LATE * 1000:.0f}"])  # a copy of OLD-DATA, 2 s late
    sent_at = ctx.now()
    await server.send(OLD)
    got_old = await client.recv(timeout=1.0)
    await hang_up(server, client)
    await ctx.wait(0.2)
    old = next(e for e in _sent(ctx) if e.length)
    state = await server.state()
    if time_wait:
        ctx.check(got_old == OLD and state == "TIME_WAIT",
                  "the old connection delivered OLD-DATA; the server closed first and is in TIME_WAIT",
                  "旧连接送达了 OLD-DATA；服务端先关闭，处于 TIME_WAIT")
    else:
        overflow = ctx.counter("m", "TCPTimeWaitOverflow") == 1
        ctx.check(got_old == OLD and state == "CLOSED" and overflow,
                  "the old connection delivered OLD-DATA; the server closed first and kept no "
                  "TIME_WAIT (TCPTimeWaitOverflow +1)",
                  "旧连接送达了 OLD-DATA；服务端先关闭，但没有保留 TIME_WAIT（TCPTimeWaitOverflow +1）")
    pinned = (old.abs_seq - len(NEW) - 1) & 0xFFFFFFFF  # NEW-DATA ends where OLD-DATA began
    ctx.engine().isn.pin(parse_addr(ctx.m_addr), 80, parse_addr(ctx.p_addr), client.port, pinned)
    peer = ctx.peer_engine()
    if peer is not None and not time_wait:
        # The copy's ACK field is the client's old one: for it to pass the ACK check too
        # (RFC 5961 section 5.2), the client's ISN must repeat as well. Only in --sim can the
        # lab choose it; the kernel picks its own.
        syn = next(e for e in ctx.rec.events if isinstance(e, SegmentEvent) and e.host == HOST
                   and e.direction == "in" and e.flags == "S")
        peer.isn.pin(parse_addr(ctx.p_addr), client.port, parse_addr(ctx.m_addr), 80, syn.abs_seq)
    ctx.mark()
    client2, server2 = await ctx.open("p", cport=client.port)  # the same four-tuple again
    synack = [e for e in _sent(ctx, ctx.first) if e.flags == "S."]
    isn = synack[0].abs_seq if synack else None
    await server2.send(NEW)
    first = await client2.recv(timeout=1.0)
    await ctx.wait(max(sent_at + LATE + 0.3 - ctx.now(), 0.0))  # the copy arrives meanwhile
    stale = await client2.recv(timeout=0.2)
    await server2.send(MORE)
    more = await client2.recv(timeout=0.5)
    await ctx.wait(0.3)
    no_ts = not any(e.options.get("ts_val") is not None for e in ctx.rec.events
                    if isinstance(e, SegmentEvent) and e.host == HOST)
    ctx.check(no_ts,
              "no segment carried timestamps: PAWS cannot reject anything, only sequence numbers guard",
              "没有一个报文带时间戳：PAWS 无从拒绝，只剩序列号把关")
    dups = [e for e in ctx.rec.events
            if isinstance(e, FaultEvent) and e.host == HOST and e.action.startswith("dup")]
    delivered = first == NEW and stale is None and more == MORE
    corrupted = first == NEW and stale == OLD and more is None
    lost_acks = ctx.counter("p", "DelayedACKLost")
    if time_wait:
        old_end = (old.abs_seq + len(OLD) + 1) & 0xFFFFFFFF  # the old snd_nxt: its data and its FIN
        ctx.check(ctx.counter("m", "TWRecycled") == 1 and isn == (old_end + TAKEOVER_GAP) & 0xFFFFFFFF,
                  "the new SYN took the TIME_WAIT entry over (TWRecycled +1), and TIME_WAIT chose the "
                  "new ISN: the old snd_nxt + 65537, above everything the old connection sent "
                  "(the lab's pin was overruled)",
                  "相同四元组上的新 SYN 接管了 TIME_WAIT（TWRecycled +1），新连接的初始序列号由 TIME_WAIT "
                  "决定：旧连接的 snd_nxt + 65537，高于旧连接发过的一切（实验指定的序列号没有生效）")
        below = (0 if isn is None else isn) + 1 + len(NEW) - old.abs_seq
        ctx.check(len(dups) == 1 and delivered,
                  f"the copy of OLD-DATA came 2 s late, {below} bytes below the new window: "
                  "the client discarded it, its stream is NEW-DATA NEW-MORE as sent",
                  f"OLD-DATA 的副本晚 2 秒到达，落在新连接接收窗口下方 {below} 字节处：客户端丢弃了它，"
                  "收到的数据流正是服务端发的 NEW-DATA NEW-MORE")
        dsack = ctx.counter("p", "TCPDSACKOldSent") == 1
        ctx.check(dsack and lost_acks == 1 and ctx.counter("p", "PAWSEstabRejected") == 0,
                  "what rejected it was the window check: the client answered with a duplicate ACK "
                  "(DelayedACKLost +1) carrying a D-SACK of the old bytes (TCPDSACKOldSent +1), and "
                  "PAWS rejected nothing (PAWSEstabRejected +0)",
                  "拒绝它的是接收窗口检查：客户端回了一个重复 ACK（DelayedACKLost +1），用 D-SACK "
                  "报告这段旧数据（TCPDSACKOldSent +1），PAWS 什么也没拒绝（PAWSEstabRejected +0）")
    else:
        ctx.check(ctx.counter("m", "TWRecycled") == 0 and isn == pinned,
                  "the new SYN found no TIME_WAIT: the listener answered it with the lab's ISN, "
                  "9 bytes below OLD-DATA's sequence number",
                  "新 SYN 没有遇到 TIME_WAIT：监听 socket 用实验指定的初始序列号回应，比 OLD-DATA 的序列号"
                  "低 9")
        if peer is not None:
            ctx.check(len(dups) == 1 and first == NEW and stale == OLD,
                      "the copy of OLD-DATA came 2 s late, exactly at the next byte the new connection "
                      "expected, with an ACK number the new connection also had (the client's ISN "
                      "repeated too): the client took it in, its stream reads NEW-DATA OLD-DATA",
                      "OLD-DATA 的副本晚 2 秒到达，正好落在新连接期待的下一个字节上，确认号也恰好有效"
                      "（客户端的初始序列号也重复了）：客户端收下了它，读到的数据流是 NEW-DATA OLD-DATA")
        if peer is not None:
            acks = [s for s in ctx.segs("p", exact=".") if s.ack == 1 + len(NEW) + len(MORE)]
            ctx.check(corrupted and lost_acks == 1 and bool(acks) and ctx.counter("m", "RetransSegs") == 0,
                      "the server's real NEW-MORE, at the same sequence numbers, was discarded as a "
                      "duplicate (DelayedACKLost +1) and yet ACKed (ack=17): the server will never "
                      "resend it, and neither side noticed",
                      "服务端真正的 NEW-MORE 占的是同样的序列号，被客户端当作重复数据丢弃"
                      "（DelayedACKLost +1），却又被确认了（ack=17）：服务端不会重传，双方都毫无察觉")
        else:
            ctx.check(len(dups) == 1 and delivered and ctx.counter("p", "TCPChallengeACK") == 1,
                      "the kernel chose its own ISN, so the copy's ACK number was far below the new "
                      "connection's: Linux dropped it as an ACK too old (RFC 5961 section 5.2, "
                      "TCPChallengeACK +1); luck, not TIME_WAIT, kept the stream NEW-DATA NEW-MORE",
                      "内核自己选了初始序列号，副本的确认号远低于新连接的：Linux 把它当作过旧的 ACK 丢弃"
                      "（RFC 5961 第 5.2 节，TCPChallengeACK +1）；数据流仍是 NEW-DATA NEW-MORE，"
                      "靠的是运气，不是 TIME_WAIT")
    await hang_up(client2, server2)
    await ctx.wait(0.2)


_EN_COMMON = (
    "The network keeps a copy of the server's OLD-DATA for 2 s. The server closes first; the same "
    "client port connects again, the server sends NEW-DATA and then NEW-MORE. Timestamps are off "
    "(with them, Linux's default, PAWS would reject the copy first: PAWSEstabRejected). To show "
    "what could happen, the lab picks the server's next ISN so that OLD-DATA's sequence numbers "
    "are exactly where the new stream will be. ")
_ZH_COMMON = (
    "网络把服务端的 OLD-DATA 复制了一份，2 秒后才送达。服务端先关闭，同一个客户端端口又来连接，服务端先后"
    "发送 NEW-DATA 和 NEW-MORE。两端都关闭了时间戳（默认开启时，PAWS 会先拒绝这个副本：PAWSEstabRejected）。"
    "为了演示可能发生的事，实验指定了服务端的下一个初始序列号，"
    "让 OLD-DATA 的序列号正好落在新数据流要用的位置。")

LABS = [
    Lab("time-wait-old-duplicate",
        "为什么需要 TIME_WAIT 状态？ — 防止历史连接中的数据，被后面相同四元组的连接错误的接收",
        "TIME_WAIT keeps old segments out of a new connection", "TIME_WAIT 让旧报文进不了新连接",
        functools.partial(old_duplicate, time_wait=True),
        _EN_COMMON + "Here the server is in TIME_WAIT, and the new SYN takes the entry over: TIME_WAIT, "
        "not the pin, chooses the new ISN, 65537 above the last byte the old connection sent. The "
        "stale copy arrives far below the new window; the window check rejects it (a duplicate ACK "
        "with a D-SACK, TCPDSACKOldSent), not PAWS. Compare old-duplicate-without-time-wait.",
        _ZH_COMMON + "这里服务端处于 TIME_WAIT，新 SYN 接管了它：新连接的初始序列号由 TIME_WAIT 决定"
        "（旧连接发出的最后一个字节再加 65537），实验指定的值没有生效。迟到的旧报文落在新连接的接收窗口"
        "下方，是接收窗口检查拒绝了它（回带 D-SACK 的重复 ACK，TCPDSACKOldSent），而不是 PAWS。"
        "这就是 TIME_WAIT 的第一个作用：防止历史连接中的数据，被后面相同四元组的连接错误的接收。"
        "对比 old-duplicate-without-time-wait。",
        "timewait", kernel_seconds=6),
    Lab("old-duplicate-without-time-wait",
        "为什么需要 TIME_WAIT 状态？ — 防止历史连接中的数据，被后面相同四元组的连接错误的接收",
        "Without TIME_WAIT an old segment can corrupt a new connection",
        "没有 TIME_WAIT 时，旧报文可能混进新连接",
        functools.partial(old_duplicate, time_wait=False),
        _EN_COMMON + "Here the server keeps no TIME_WAIT (tcp_max_tw_buckets = 0), so the listener "
        "answers the new SYN with the pinned ISN. With --sim the client's ISN repeats too, so the "
        "copy's ACK number is valid as well: the stale OLD-DATA lands at the very next byte the "
        "client expects and is delivered as new data; the server's real NEW-MORE, with the same "
        "sequence numbers, is then dropped as a duplicate and ACKed all the same. The stream is "
        "corrupted and no one notices. Against the kernel the lab cannot choose the kernel's ISN: "
        "the copy's ACK number is then far too old and Linux drops it (RFC 5961 section 5.2, a "
        "challenge ACK); luck, not TIME_WAIT, saves the stream. Compare time-wait-old-duplicate.",
        _ZH_COMMON + "这里服务端不保留 TIME_WAIT（tcp_max_tw_buckets = 0），新 SYN 由监听 socket 应答，"
        "用的就是指定的初始序列号。--sim 下客户端的初始序列号也重复了，副本的确认号同样有效："
        "迟到的 OLD-DATA 正好落在客户端期待的下一个字节上，被当作新数据收下；"
        "服务端真正的 NEW-MORE 序列号相同，随后被当作重复报文丢弃，却照样得到了确认。数据流被破坏，双方都"
        "毫无察觉：历史连接中的数据被相同四元组的新连接错误的接收了。对端是内核时，实验无法指定内核的初始"
        "序列号，副本的确认号太旧，Linux 把它丢弃（RFC 5961 第 5.2 节，回 challenge ACK）："
        "救了数据流的是运气，不是 TIME_WAIT。对比 time-wait-old-duplicate。",
        "timewait", kernel_seconds=6),
]
