# ruff: noqa: RUF001, RUF002  (the Chinese text uses full-width punctuation)
"""什么是 TCP 延迟确认机制？ minitcp is the server whose ACKs we watch; the peer is the client."""

from __future__ import annotations

from minitcp.tcp.knobs import HZ
from minitcp.tcp.timers import TimerKind

from .base import Ctx, Lab, Seg, about, hang_up, ms, shown
from .watch import SegmentWatch, TimerWatch, check_punctual


async def exchange(ctx: Ctx, client: object, server: object, request: bytes, respond: bool) -> float:
    """The client sends `request`; the server reads it, and answers at once if `respond`.

    Returns when the request was sent."""
    t = ctx.now() - ctx.t0
    await client.send(request)  # type: ignore[attr-defined]
    await server.recv(timeout=1.0)  # type: ignore[attr-defined]
    if respond:
        await server.send(b"200 " + request[4:])  # type: ignore[attr-defined]
        await client.recv(timeout=1.0)  # type: ignore[attr-defined]
    await ctx.wait(0.1)
    return t


async def delayed_ack(ctx: Ctx) -> None:
    ctx.faults([])
    client, server = await ctx.open("p")
    ctx.mark()
    t1 = await exchange(ctx, client, server, b"GET /1", True)
    t2 = await exchange(ctx, client, server, b"GET /2", True)
    with TimerWatch(ctx.engine(), real_time=not ctx.sim) as watch:
        t3 = await exchange(ctx, client, server, b"GET /3", False)
        await ctx.wait(0.3)

    def sent_by_server(start: float, end: float) -> list[str]:
        return [s.flags for s in ctx.segs("m") if start <= s.t < end]

    first = sent_by_server(t1, t2)
    ctx.check(first[:1] == ["."],
              f"GET /1 at the start (quick-ACK mode): a bare ACK at once, then the answer: {shown(first)}",
              "连接刚开始时的 GET /1（快速确认模式）：立即回一个不带数据的 ACK，然后才是响应："
              f"{shown(first, 'zh')}")
    second = sent_by_server(t2, t3)
    ctx.check(second == ["P."],
              f"GET /2 (now interactive): no bare ACK, it rode on the answer: {shown(second)}",
              f"GET /2（已是交互模式）：没有单独的 ACK，它随响应数据一起发送：{shown(second, 'zh')}")
    # Judged on the engine's clock (watch.py): from the request's arrival to the deadline of the
    # timer that sent the ACK. The ACK's time after the client's send would add how long the
    # stack's process stalled, reading the request or firing the timer.
    acks = [s for s in ctx.segs("m", exact=".") if s.t >= t3]
    got = [s for s in ctx.segs("p") if s.length and s.t >= t3]
    fired = watch.fired_at(TimerKind.DELACK, ctx.t0 + acks[0].t) if acks else None
    delay = fired.deadline - (ctx.t0 + got[0].t) if fired and got else 0.0
    ctx.check(len(acks) == 1 and fired is not None and about(delay, 0.040, 0.015),
              "GET /3, no answer: the bare ACK waited about 40 ms"
              + (f" (its timer was due {ms(delay)} after the request came)" if fired
                 else " (none sent by the timer)"),
              "GET /3 没有响应：不带数据的 ACK 延迟了约 40 ms 才发送"
              + (f"（定时器在请求到达后 {ms(delay)} 到期）" if fired else "（没有由定时器发送）"))
    if fired is not None:
        check_punctual(ctx, fired)
    ctx.check(ctx.counter("m", "DelayedACKs") == 1, "DelayedACKs +1: one delayed-ACK timer fired",
              "DelayedACKs +1：延迟确认定时器触发了一次")
    await hang_up(client, server)
    await ctx.wait(0.1)


async def every_second_segment(ctx: Ctx) -> None:
    ctx.faults([])
    client, server = await ctx.open("p")
    await exchange(ctx, client, server, b"GET /1", True)
    await exchange(ctx, client, server, b"GET /2", True)  # interactive now: ACKs are delayed
    ctx.mark()
    # Two full-sized segments at once: MSS 1460 (IPv6: 1440) less 12 bytes of timestamps.
    full = 1428 if ctx.ipv6 else 1448
    await client.send(b"x" * 2 * full)
    # The server application reads as they come, as a server would (unread data would shrink
    # the window, and a receiver does not ACK early just to announce a smaller window).
    got = 0
    with SegmentWatch(ctx.engine(), real_time=not ctx.sim) as watch:
        for _ in range(4):
            piece = await server.recv(timeout=0.2)
            got += len(piece) if isinstance(piece, bytes) else 0
            if got >= 2 * full:
                break
        await ctx.wait(0.3)
    # New data only, and the ACKs that acknowledged new data: a loaded machine that holds
    # minitcp's ACK past the client's probe timeout (2·SRTT, a few ms here) draws the second
    # segment again (Linux tcp_send_loss_probe), and minitcp's duplicate ACK of that copy, which
    # say nothing of the ACK of the two (1 run in 15 at load 8).
    data: list[Seg] = []
    acks: list[Seg] = []
    seen: set[int] = set()
    for s in ctx.segs():
        if s.sender == "p" and s.length and s.seq not in seen:
            data.append(s)
            seen.add(s.seq)
        elif s.sender == "m" and s.flags == "." and s.ack not in {a.ack for a in acks}:
            acks.append(s)
    resent = len([s for s in ctx.segs("p") if s.length]) - len(data)
    again = f"; {resent} sent again, minitcp's ACK late for the client's timer" if resent else ""
    again_zh = f"；另重发了 {resent} 个：minitcp 的 ACK 晚于客户端的定时器" if resent else ""
    ctx.check(len(data) == 2, f"the client sent two full segments ({shown([s.length for s in data])} bytes"
                              f"{again})",
              f"客户端发了两个满长度的数据报文（{shown([s.length for s in data], 'zh')} 字节{again_zh}）")
    ctx.check(len(acks) == 1, f"the server sent one ACK for the two (sent {len(acks)})",
              f"服务端用一个 ACK 确认了这两个报文（发了 {len(acks)} 个）")
    if acks and data:
        last = max(s.t for s in data)
        # Both times are minitcp's engine's; between them only its process's CPU wait (a loaded
        # machine) can come, excused as watch.py does, and the server application's read, which
        # opens the window the ACK announces (minitcp's Trio thread waiting for the GIL meanwhile
        # is no CPU wait: 12 ms seen at load 8). What tells it from the timer's ACK is that it
        # came sooner than the timer the first segment armed would have fired: at least
        # tcp_delack_min (Linux tcp_send_delayed_ack's TCP_DELACK_MIN) after it.
        timer = ctx.engine().knobs.tcp_delack_min
        first = min(s.t for s in data)
        gap, since = acks[0].t - last, acks[0].t - first
        # (All its threads' wait: a worker's can overlap the gap, so no more than the gap is said.)
        waited = min(watch.cpu_wait_between(ctx.t0 + first, ctx.t0 + acks[0].t), since)
        ctx.check(since - waited < timer,
                  f"right after the second one, without waiting for the timer (after {ms(gap)}, "
                  f"{ms(since)} after the first, {ms(waited)} of it minitcp's wait for a CPU; "
                  f"the timer waits {ms(timer)})",
                  f"ACK 在第二个报文到达后立刻发出，没有等定时器（相隔 {ms(gap)}，距第一个 {ms(since)}，"
                  f"其中 {ms(waited)} 是 minitcp 在等 CPU；定时器要等 {ms(timer)}）")
    ctx.check(ctx.counter("m", "DelayedACKs") == 0, "no delayed-ACK timer fired (DelayedACKs +0)",
              "延迟确认定时器没有触发（DelayedACKs +0）")
    await hang_up(client, server)
    await ctx.wait(0.1)


async def three_segment_close(ctx: Ctx) -> None:
    ctx.faults([])
    client, server = await ctx.open("p")
    # A request and its answer first: once data has come, the server's ACK timeout (ato) is
    # 40 ms. On a connection that received nothing, ato is still 0 and Linux ACKs a FIN at the
    # next tick (4 ms): too soon for the application's close to carry it.
    await exchange(ctx, client, server, b"GET /", True)
    ctx.mark()
    await client.close()
    ctx.check(await server.recv(timeout=1.0) == b"", "the server application reads end-of-stream",
              "服务端应用读到数据流结束")
    await server.close()  # at once: well within the 40 ms its ACK may wait
    await ctx.wait(0.3)
    seen = [(s.sender, s.flags) for s in ctx.segs()]
    ctx.check(seen == [("p", "F."), ("m", "F."), ("p", ".")],
              f"three segments: FIN, FIN+ACK, ACK — the ACK rode on the server's FIN: {shown(seen)}",
              f"三个报文：FIN、FIN+ACK、ACK —— ACK 和服务端的 FIN 一起发送：{shown(seen, 'zh')}")
    ctx.check(ctx.counter("m", "DelayedACKs") == 0, "the delayed-ACK timer never fired (DelayedACKs +0)",
              "延迟确认定时器始终没有触发（DelayedACKs +0）")
    ctx.check(await client.state() == "TIME_WAIT" and await server.state() == "CLOSED",
              "the close completed all the same: client TIME_WAIT, server CLOSED",
              "关闭照样完成：客户端 TIME_WAIT，服务端 CLOSED")
    # The same close on a connection that has received no data: ato is still 0, and the
    # delayed ACK is timed for the next tick (Linux tcp_send_delayed_ack: jiffies + 0).
    client, server = await ctx.open("p", port=81)
    ctx.mark()
    with TimerWatch(ctx.engine(), real_time=not ctx.sim) as watch:
        await client.close()
        await server.recv(timeout=1.0)
        await ctx.wait(0.01)  # the application closes 10 ms later: after a tick, well within 40 ms
        for _ in range(100):
            # On a stalled machine the application may wake before the tick's timer fired, or with
            # it: the timer's own deadline is judged below; here the application waits for it.
            if ctx.segs("m", exact=".", port=81):
                break
            await ctx.wait(0.01)
        await server.close()
        await ctx.wait(0.3)
    seen = [(s.sender, s.flags) for s in ctx.segs(port=81)]
    acks = ctx.segs("m", exact=".", port=81)
    fin = ctx.segs("p", "F", port=81)
    fired = watch.fired_at(TimerKind.DELACK, ctx.t0 + acks[0].t) if acks else None
    # The engine's clock: from the FIN's arrival to the deadline of the timer that sent the ACK.
    after = fired.deadline - (ctx.t0 + fin[0].t) if fired and fin else 1.0
    took = f"due {ms(after)} after the FIN" if fired else "none sent by the timer"
    took_zh = f"FIN 到达后 {ms(after)} 到期" if fired else "没有由定时器发送"
    ctx.check(seen == [("p", "F."), ("m", "."), ("m", "F."), ("p", ".")] and after <= 1 / HZ + 1e-6,
              f"without data first, the server ACKed the FIN within a tick ({took}), before its "
              f"application closed: four segments {shown(seen)}",
              f"没有先收到数据时，服务端在一个时钟节拍内就确认了 FIN（{took_zh}），早于应用调用 close："
              f"四个报文 {shown(seen, 'zh')}")
    if fired is not None:
        check_punctual(ctx, fired)

LABS = [
    Lab("delayed-ack",
        "什么是 "
        "TCP 延迟确认机制？",
        "Delayed ACK: piggybacking and the 40 ms wait", "延迟确认：ACK 随数据捎带与 40 ms 的等待",
        delayed_ack,
        "A bare ACK costs 40 bytes of headers and carries nothing. So once a connection is interactive, "
        "the receiver holds the ACK a little: if a response goes out meanwhile, the ACK rides on it; "
        "if not, it goes alone after the delayed-ACK timeout (40 ms at first, up to 200 ms). At the "
        "very start (quick-ACK mode) ACKs go at once.",
        "TCP 延迟确认：没有携带数据的 ACK 也有 40 字节的 IP 头和 TCP 头，效率很低。当有响应数据要发送时，"
        "ACK 会随着响应数据"
        "一起立刻发送给对方；当没有响应数据要发送时，ACK 将会延迟一段时间（40 ms 起，最多 200 ms）再发送。",
        "delack", kernel_seconds=2),
    Lab("delayed-ack-two-segments",
        "什么是 TCP 延迟确认机制？ — 第二个数据报文又到达了，"
        "这时就会立刻发送 ACK",
        "Delayed ACK: the second full segment is ACKed at once", "延迟确认：第二个满长度报文到达就立刻 ACK",
        every_second_segment,
        "While an ACK is being held, a second full-sized segment arrives: now the ACK goes at once, "
        "covering both (RFC 1122/5681: ACK at least every second full segment).",
        "如果在延迟等待发送 ACK 期间，对方的第二个数据报文又到达了，这时就会立刻发送 ACK，一次确认两个报文。",
        "delack", kernel_seconds=2),
    Lab("three-segment-close",
        "因为 TCP 延迟确认机制是默认开启的，所以导致我们抓包时，"
        "看见三次挥手的次数比四次挥手还多",
        "Why captures often show a close in three segments", "为什么抓包时常看到三次挥手",
        three_segment_close,
        "After a request and its answer, the client closes; the server's ACK of that FIN is "
        "delayed like any ACK once data has come (40 ms), and the server application closes "
        "within those 40 ms: the ACK rides on the server's FIN. The capture shows three segments "
        "(FIN, FIN+ACK, ACK), the second and third waves merged. On a connection that received "
        "no data Linux ACKs the FIN within a tick (4 ms), so there four segments are the rule.",
        "一次请求和响应之后，客户端发起关闭；收到过数据的连接，对 FIN 的 ACK 和对数据的 ACK 一样被延迟确认"
        "（40 ms）；服务端程序在这 40 ms 内调用了 close，ACK 就和 FIN 一起发送，"
        "第二次和第三次挥手合并，抓包看到的是三次挥手。没有收到过数据的连接，Linux 在一个时钟节拍（4 ms）"
        "内就确认 FIN，那时通常还是四次挥手。",
        "delack", kernel_seconds=2),
]
