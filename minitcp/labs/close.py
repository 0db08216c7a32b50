# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""四次挥手: the handshake, a lost SYN, and the four-way close in its three forms."""

from __future__ import annotations

from minitcp.tcp.knobs import HZ, Knobs
from minitcp.tcp.timers import TimerKind

from .base import Ctx, Lab, about, hang_up, ms
from .watch import SegmentWatch, TimerWatch, check_punctual

# A kernel tick is 1 to 10 ms (HZ 1000 to 100); with the TUN device's latency, a kernel timer a
# loaded machine runs late (20 ms seen at load 6) and what of minitcp's wait the check cannot
# subtract, the ACK may come later than that; but sooner than a delayed ACK can: its timer
# (TCP_DELACK_MIN, 40 ms) fires at a jiffy's start, at least 36 ms (HZ 250) after the FIN came.
TICK = Knobs().tcp_delack_min - 1 / HZ


async def handshake(ctx: Ctx) -> None:
    ctx.faults([])
    client, server = await ctx.open("m")
    segs = ctx.segs()
    ctx.check([s.flags for s in segs[:3]] == ["S", "S.", "."], "three segments open it: SYN, SYN-ACK, ACK",
              "三个报文建立连接：SYN、SYN-ACK、ACK")
    ctx.check(ctx.states()[:3] == ["CLOSED", "SYN_SENT", "ESTABLISHED"],
              "the client went CLOSED → SYN_SENT → ESTABLISHED",
              "客户端的状态：CLOSED → SYN_SENT → ESTABLISHED")
    ctx.check(await server.state() == "ESTABLISHED", "the server is ESTABLISHED", "服务端处于 ESTABLISHED")
    await hang_up(client, server)
    await ctx.wait(0.3)


async def syn_lost(ctx: Ctx) -> None:
    ctx.faults(["drop:dir=out,flags=S,nth=1"])
    with TimerWatch(ctx.engine(), real_time=not ctx.sim) as watch:
        client, server = await ctx.open("m")
    syns = ctx.segs("m", exact="S")
    ctx.check(len(syns) == 2 and syns[0].lost and not syns[1].lost,
              "the SYN was sent twice, the first one lost",
              "SYN 发了两次，第一次丢失")
    if len(syns) == 2:
        # The engine's clock (watch.py): the timeout armed as the SYN left, not the gap between
        # the two, which a stalled process stretches; the firing's punctuality apart.
        fired = watch.fired_at(TimerKind.RTO, ctx.t0 + syns[1].t)
        timeout = fired.deadline - (ctx.t0 + syns[0].t) if fired else 0.0
        ctx.check(fired is not None and about(timeout, 1.0, 0.005),
                  f"the SYN was retransmitted after the initial RTO, 1 s (its timer was armed for "
                  f"{ms(timeout)})",
                  f"过了初始 RTO（1 秒）后重传 SYN（定时器定为 {ms(timeout)}）")
        if fired is not None:
            check_punctual(ctx, fired)
    ctx.check(await client.state() == "ESTABLISHED", "the connection opened in the end", "连接最终还是建立了")
    await hang_up(client, server)
    await ctx.wait(0.3)


async def close_client_first(ctx: Ctx) -> None:
    ctx.faults([])
    client, server = await ctx.open("m")
    ctx.mark()
    with SegmentWatch(ctx.engine(), real_time=not ctx.sim) as watch:
        await client.close()
        eof = await server.recv(timeout=1.0)
        await ctx.wait(0.1)
    ctx.check(eof == b"", "the server application reads end-of-stream (0 bytes)",
              "服务端应用读到数据流结束（0 字节）")
    fin, ack = ctx.segs("m", "F"), ctx.segs("p", exact=".")
    took = ack[0].t - fin[0].t if fin and ack else 1.0
    # minitcp sees the kernel's ACK when its process reads it: later than the wire by the time
    # its threads waited for a CPU meanwhile (a loaded machine), which is not the kernel's.
    waited = watch.cpu_wait_between(ctx.t0 + fin[0].t, ctx.t0 + ack[0].t) if fin and ack else 0.0
    said = f"{ms(took)}, {ms(waited)} of it minitcp's wait for a CPU" if fin and ack else "none"
    said_zh = f"{ms(took)}，其中 {ms(waited)} 是 minitcp 在等 CPU" if fin and ack else "没有"
    # Linux tcp_send_delayed_ack: a connection that has received no data has ato 0, so the ACK
    # of a bare FIN is timed for the next tick (jiffies + 0), not 40 ms later.
    ctx.check(took - waited < TICK,
              f"the server's kernel ACKed the FIN by itself at the next tick ({said}), not after a 40 ms "
              "delayed-ACK wait: no data came, so its ACK timeout (ato) is still 0",
              f"服务端内核在下一个时钟节拍就自动确认了 FIN（{said_zh}），没有等 40 ms 的延迟确认："
              "没有收到过数据，ACK 超时（ato）仍为 0")
    ctx.check(await client.state() == "FIN_WAIT_2" and await server.state() == "CLOSE_WAIT",
              "half closed: the client in FIN_WAIT_2, the server in CLOSE_WAIT",
              "半关闭：客户端处于 FIN_WAIT_2，服务端处于 CLOSE_WAIT")
    await ctx.wait(0.5)
    await server.close()
    await ctx.wait(0.5)
    seen = [(s.sender, s.flags) for s in ctx.segs()]
    ctx.check(seen == [("m", "F."), ("p", "."), ("p", "F."), ("m", ".")],
              "four segments: client FIN, server ACK, server FIN, client ACK",
              "四次挥手的四个报文：客户端 FIN、服务端 ACK、服务端 FIN、客户端 ACK")
    ctx.check(await client.state() == "TIME_WAIT", "the client (the active closer) waits in TIME_WAIT",
              "客户端（主动关闭方）停在 TIME_WAIT")
    ctx.check(await server.state() == "CLOSED", "the server (the passive closer) is CLOSED",
              "服务端（被动关闭方）已是 CLOSED")
    ctx.check(ctx.states()[-4:] == ["ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"],
              "the client went ESTABLISHED → FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT",
              "客户端的状态：ESTABLISHED → FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT")


async def close_server_first(ctx: Ctx) -> None:
    ctx.faults([])
    client, server = await ctx.open("m")
    ctx.mark()
    await server.close()
    ctx.check(await client.recv(timeout=1.0) == b"", "the client application reads end-of-stream",
              "客户端应用读到数据流结束")
    await ctx.wait(0.5)
    await client.close()
    await ctx.wait(0.5)
    seen = [(s.sender, s.flags) for s in ctx.segs()]
    ctx.check(seen == [("p", "F."), ("m", "."), ("m", "F."), ("p", ".")],
              "four segments: server FIN, client ACK, client FIN, server ACK",
              "四次挥手的四个报文：服务端 FIN、客户端 ACK、客户端 FIN、服务端 ACK")
    ctx.check(await server.state() == "TIME_WAIT", "the server closed first, so the server has TIME_WAIT",
              "服务端先关闭，所以 TIME_WAIT 在服务端")
    ctx.check(await client.state() == "CLOSED",
              "the client went CLOSE_WAIT → LAST_ACK → CLOSED, no TIME_WAIT",
              "客户端经过 CLOSE_WAIT → LAST_ACK → CLOSED，没有 TIME_WAIT")
    ctx.check(ctx.states()[-4:] == ["ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"],
              "the client went ESTABLISHED → CLOSE_WAIT → LAST_ACK → CLOSED",
              "客户端的状态：ESTABLISHED → CLOSE_WAIT → LAST_ACK → CLOSED")


async def close_simultaneous(ctx: Ctx) -> None:
    client, server = await ctx.open("m")
    # Everything minitcp sends now takes 50 ms to arrive, so the peer's FIN leaves before
    # minitcp's arrives: the two FINs cross on the wire.
    ctx.faults(["delay:dir=out,ms=50"])
    ctx.mark()
    await client.close()
    await ctx.wait(0.01)
    await server.close()
    await ctx.wait(0.5)
    fins = ctx.segs(flags="F")
    ctx.check(len(fins) == 2 and {s.sender for s in fins} == {"m", "p"} and all(s.ack == 1 for s in fins),
              "both FINs were sent before either side had seen the other's (both ack=1)",
              "两个 FIN 都是在双方收到对方的 FIN 之前发出的（都是 ack=1）")
    ctx.check("CLOSING" in ctx.states(), "minitcp got a FIN while in FIN_WAIT_1: CLOSING",
              "minitcp 在 FIN_WAIT_1 收到 FIN：进入 CLOSING")
    ctx.check(len(ctx.segs("p", exact=".")) == 1 and len(ctx.segs("m", exact=".")) == 1,
              "each side ACKed the other's FIN once: still four segments, in two crossing pairs",
              "双方各对对方的 FIN 回了一次 ACK：仍是四个报文，两两交叉")
    ctx.check(await client.state() == "TIME_WAIT" and await server.state() == "TIME_WAIT",
              "both sides closed actively, so both wait in TIME_WAIT",
              "双方都是主动关闭方，所以都停在 TIME_WAIT")


LABS = [
    Lab("handshake", "(三次握手)", "The three-way handshake", "三次握手", handshake,
        "SYN, SYN-ACK, ACK: each side announces its initial sequence number and acknowledges the "
        "other's. The client goes SYN_SENT → ESTABLISHED.",
        "三次握手：SYN、SYN-ACK、ACK，双方各自告诉对方自己的初始序列号并确认对方的。客户端 SYN_SENT → ESTABLI"
        "SHED。",
        "open"),
    Lab("syn-lost", "(第一次握手丢失)", "A lost SYN", "第一次握手的 SYN 丢失", syn_lost,
        "The first SYN is lost. Nothing comes back, so after the initial retransmission timeout "
        "(1 s, RFC 6298) the client sends the SYN again; tcp_syn_retries says how often.",
        "第一次握手的 SYN 丢失了：收不到 SYN-ACK，客户端在初始超时时间（1 秒）后重传 SYN，重传次数由 tcp_syn_"
        "retries 控制。",
        "open"),
    Lab("close-client-first", "TCP 四次挥手过程是怎样的？ / 为什么挥手需要四次？",
        "Four-way close: the client closes first",
        "四次挥手：客户端先关闭", close_client_first,
        "The client's FIN says only 'I send no more'. The server's kernel ACKs it by itself within a "
        "tick (no data came, so its delayed-ACK timeout is 0) and is in CLOSE_WAIT; the server's FIN "
        "comes later, when the application calls close(). ACK and FIN "
        "are sent at different moments by different parties: four segments. Whoever closes first "
        "(here the client) goes FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT.",
        "第一次挥手：客户端发 FIN（FIN_WAIT_1），只表示不再发送数据但还能接收；第二次挥手：服务端内核自动回 "
        "ACK（CLOSE_WAIT；没收到过数据的连接 ato 为 0，一个时钟节拍内就回），"
        "客户端进入 FIN_WAIT_2；第三次挥手：服务端应用调用 close 才发 FIN（LAST_ACK）；第四次挥手：客户端回 "
        "ACK，进入 TIME_WAIT。"
        "服务端的 ACK 和 FIN 一般分开发送，所以需要四次挥手。",
        "close"),
    Lab("close-server-first", "TCP 四次挥手过程是怎样的？", "Four-way close: the server closes first",
        "四次挥手：服务端先关闭", close_server_first,
        "Either side may close first; the one that does is the active closer and gets TIME_WAIT. "
        "Here that is the server, and the client passes through CLOSE_WAIT and LAST_ACK.",
        "主动关闭的一方才有 TIME_WAIT：这里服务端先关闭，所以 TIME_WAIT 在服务端，客户端经历 CLOSE_WAIT 和 "
        "LAST_ACK。",
        "close"),
    Lab("close-simultaneous", "TCP 四次挥手过程是怎样的？", "Simultaneous close", "双方同时关闭",
        close_simultaneous,
        "Both applications close at once and the FINs cross. Each side gets a FIN while in "
        "FIN_WAIT_1: CLOSING, then the ACK of its own FIN: TIME_WAIT. Both sides end in TIME_WAIT.",
        "双方同时关闭：两个 FIN 在路上交叉，各自在 FIN_WAIT_1 收到对方的 FIN 进入 CLOSING，收到 ACK 后都进入 "
        "TIME_WAIT。",
        "close"),
]
