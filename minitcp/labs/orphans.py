# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""关闭socket的方法 — close 与 shutdown: after close() the connection is an orphan, after shutdown() not.

Which limits apply follows (Linux tcp_write_timeout, tcp_rcv_state_process): an
orphan's FIN is retried tcp_orphan_retries times and its FIN_WAIT_2 lasts
tcp_fin_timeout; a connection the application still holds retries its FIN under
tcp_retries2 (and tells the application ETIMEDOUT) and stays in FIN_WAIT_2 for as
long as the peer keeps its end open. The peer is the one closing, so against the
kernel these are Linux's own rules, with its sysctls cut short for the lab.
"""

from __future__ import annotations

from minitcp.trace.events import FaultEvent

from .base import HOST, Ctx, Lab, Side, hang_up, ms

ORPHAN_RETRIES = 2  # close(): given up after (2^3 - 1) x 200 ms = 1.4 s of retransmitting
RETRIES2 = 4  # shutdown(): given up after (2^5 - 1) x 200 ms = 6.2 s
FIN_TIMEOUT = 3  # seconds; tcp_fin_timeout is 60 by default
# Linux turns a retry count into a time (tcp_model_timeout: (2^(n+1) - 1) x 200 ms, counted from
# the first timeout retransmission) and looks at it only when an RTO fires; a tail loss probe
# (RFC 8985) comes first, and an RTO above 200 ms (a slow wire) stretches every backoff, so the
# kernel may give up one backed-off RTO later than the time itself: never earlier.
ORPHAN_WINDOW = (1.4, 6.2)  # from its limit to the held one's: the orphan is always given up first
HELD_WINDOW = (6.2, 15.0)
GIVE_UP_BY = 15.0
POLL = 0.1


async def _closing_pair(ctx: Ctx) -> tuple[tuple[Side, Side], tuple[Side, Side]]:
    """Two connections from the peer to minitcp's port 80: one the peer will shut down, one it
    will close."""
    return await ctx.open("p"), await ctx.open("p")


async def retry_limits(ctx: Ctx) -> None:
    ctx.set_knob("p", "tcp_orphan_retries", ORPHAN_RETRIES)
    ctx.set_knob("p", "tcp_retries2", RETRIES2)
    (held, held_server), (orphan, orphan_server) = await _closing_pair(ctx)
    ctx.faults(["drop:dir=in,flags=F"])  # every FIN the peer sends is lost on the way
    ctx.mark()
    await held.shutdown()  # the application keeps this socket
    await orphan.close()  # this one is handed to the kernel: an orphan
    gone: dict[str, float] = {}
    early: tuple[str, str] = ("", "")
    while len(gone) < 2 and ctx.now() - ctx.t0 < GIVE_UP_BY:
        await ctx.wait(POLL)
        states = (await held.state(), await orphan.state())
        if not early[0] and ctx.now() - ctx.t0 >= 1.0:
            early = states
        for name, state in zip(("held", "orphan"), states, strict=True):
            if state == "CLOSED" and name not in gone:
                gone[name] = ctx.now() - ctx.t0
    got = await held.recv(timeout=1.0)  # the application is still there to hear how it ended
    n_orphan, n_held = len(_lost_fins(ctx, orphan.port)), len(_lost_fins(ctx, held.port))
    t_orphan, t_held = gone.get("orphan", 0.0), gone.get("held", 0.0)
    ctx.check(early == ("FIN_WAIT_1", "FIN_WAIT_1"),
              "both FINs were lost: 1 s later both ends still retransmit them in FIN_WAIT_1",
              "两个 FIN 都丢了：1 秒后两端都还停在 FIN_WAIT_1 重传")
    ctx.check(ORPHAN_WINDOW[0] <= t_orphan <= ORPHAN_WINDOW[1] and n_orphan >= 1 + ORPHAN_RETRIES,
              f"after close() the orphan was given up first (gone by {ms(t_orphan)}), having sent its FIN "
              f"{n_orphan}×: tcp_orphan_retries = {ORPHAN_RETRIES} allows 7 × 200 = 1400 ms of "
              "retransmitting after the first timeout",
              f"close() 之后的孤儿连接先被放弃（{ms(t_orphan)} 时已消失），FIN 发了 {n_orphan} 次："
              f"tcp_orphan_retries = {ORPHAN_RETRIES} 允许在第一次超时重传后再重传 7 × 200 = 1400 ms")
    ctx.check(HELD_WINDOW[0] <= t_held <= HELD_WINDOW[1] and n_held > n_orphan,
              f"after shutdown() the FIN went on until {ms(t_held)} ({n_held}×): the socket was no "
              f"orphan, so tcp_retries2 = {RETRIES2} applied, 31 × 200 = 6200 ms",
              f"shutdown() 之后 FIN 一直重传到 {ms(t_held)}（{n_held} 次）：这个 socket 不是孤儿连接，"
              f"适用 tcp_retries2 = {RETRIES2}，即 31 × 200 = 6200 ms")
    error = got if isinstance(got, str) else None  # recv() gives an error's name, or bytes
    ctx.check(error == "ETIMEDOUT",
              f"and its application learned it: recv() failed with {error or 'nothing, in 1 s'}",
              f"它的应用也得知了结果：recv() 失败，得到 {error or '（1 秒内什么也没有）'}")
    ctx.check(not ctx.segs("p", "R"), "neither end sent RST: both gave up silently on the wire",
              "两端都没有发 RST：在线路上都是悄悄放弃的")
    ctx.faults([])
    await held_server.close()
    await orphan_server.close()
    await ctx.wait(0.2)


def _lost_fins(ctx: Ctx, peer_port: int) -> list[float]:
    """When the fault injector lost the FINs the peer sent from `peer_port` (seconds since mark())."""
    return [e.time - ctx.t0 for e in ctx.rec.events[ctx.first:]
            if isinstance(e, FaultEvent) and e.host == HOST and e.direction == "in"
            and e.action.startswith("drop") and "F" in e.flags and e.remote.endswith(f":{peer_port}")]


async def fin_wait_2_lifetime(ctx: Ctx) -> None:
    ctx.set_knob("p", "tcp_fin_timeout", FIN_TIMEOUT)
    ctx.faults([])
    (held, held_server), (orphan, orphan_server) = await _closing_pair(ctx)
    ctx.mark()
    await held.shutdown()
    await orphan.close()
    await ctx.wait(1.0)
    ctx.check((await held.state(), await orphan.state()) == ("FIN_WAIT_2", "FIN_WAIT_2"),
              "both FINs were ACKed: after 1 s both ends wait in FIN_WAIT_2 for the server's FIN",
              "两个 FIN 都得到了确认：1 秒后两端都停在 FIN_WAIT_2，等服务端的 FIN")
    await ctx.wait(FIN_TIMEOUT + 1.0)
    states = (await held.state(), await orphan.state())
    ctx.check(states[1] == "CLOSED",
              f"{FIN_TIMEOUT + 2} s in, the closed one is gone: an orphan's FIN_WAIT_2 lasts "
              f"tcp_fin_timeout ({FIN_TIMEOUT} s)",
              f"{FIN_TIMEOUT + 2} 秒后，close 的那个已经消失：孤儿连接的 FIN_WAIT_2 只持续 tcp_fin_timeout"
              f"（{FIN_TIMEOUT} 秒）")
    ctx.check(states[0] == "FIN_WAIT_2",
              "the shut-down one is still in FIN_WAIT_2: its application holds it, and no timer ends it",
              "shutdown 的那个仍在 FIN_WAIT_2：应用还持有它，没有定时器会结束它")
    await held_server.send(b"late reply")
    reply = await held.recv(timeout=1.0)
    ctx.check(reply == b"late reply", "it can still receive: the server's late reply arrived",
              "它仍能接收数据：服务端迟来的回复到了")
    await hang_up(held_server, held)
    await ctx.wait(0.2)
    ctx.check(await held.state() == "TIME_WAIT",
              "only the server's FIN ended its FIN_WAIT_2: TIME_WAIT",
              "直到服务端发来 FIN，它的 FIN_WAIT_2 才结束：进入 TIME_WAIT")
    await orphan_server.close()
    await ctx.wait(0.2)


LABS = [
    Lab("shutdown-vs-close-retries",
        "关闭socket的方法 — close 与 shutdown（重传次数：tcp_orphan_retries 与 tcp_retries2）",
        "close() versus shutdown(): which retry limit applies to the FIN",
        "close() 与 shutdown()：FIN 的重传上限不同",
        retry_limits,
        "The peer ends two connections whose FINs are all lost: one with shutdown(SHUT_WR), one "
        "with close(). After close() nobody holds the socket: it is an orphan, its FIN is retried "
        "under tcp_orphan_retries (2 for the lab; 0 means 8) and then dropped, with nobody to tell. "
        "After shutdown() the application still holds the socket, so the ordinary data limit "
        "applies, tcp_retries2 (4 for the lab; 15 by default, about 15 minutes), and when it runs "
        "out the application learns it: recv() fails with ETIMEDOUT. Neither sends RST. Linux "
        "turns each count into a time, as if every RTO were 200 ms and doubled: (2^(n+1) - 1) x "
        "200 ms after the first timeout retransmission (tcp_model_timeout), 1.4 s and 6.2 s here; "
        "it checks that time only when an RTO fires, so it may give up one backoff later, never "
        "earlier; the kernel also sends a tail loss probe first, a FIN or two more than the count.",
        "对端结束两个连接，它们的 FIN 全部丢失：一个用 shutdown(SHUT_WR)，一个用 close()。close 之后已没有"
        "进程持有这个 socket，它成了孤儿连接，FIN 重传 tcp_orphan_retries 次（本实验为 2，0 表示 8）后就"
        "被释放，也没有人可以通知。shutdown 之后应用仍持有 socket，适用的是普通数据的上限 tcp_retries2"
        "（本实验为 4，默认 15，约 15 分钟），用完后应用会知道：recv() 失败，得到 ETIMEDOUT。"
        "两者都不发 RST。Linux 把重传次数换算成时间，按 RTO 从 200 ms 起每次翻倍计算：第一次超时重传后"
        "(2^(n+1) - 1) × 200 ms（tcp_model_timeout），这里分别是 1.4 秒和 6.2 秒；它只在 RTO 到期时检查"
        "这个时间，所以可能晚一个退避周期才放弃，但不会提前；内核还会先发一个尾部丢失探测（TLP），"
        "所以实际发出的 FIN 比次数多一两个。",
        "closing", kernel_seconds=18),
    Lab("fin-wait-2-lifetime",
        "关闭socket的方法 — close 与 shutdown（FIN_WAIT_2 能等多久：tcp_fin_timeout）",
        "How long FIN_WAIT_2 lasts: after close() versus after shutdown()",
        "FIN_WAIT_2 能持续多久：close() 与 shutdown() 之后",
        fin_wait_2_lifetime,
        "The peer ends two connections, one with shutdown(SHUT_WR), one with close(); the server "
        "ACKs both FINs but does not close. The orphan (after close()) gives up FIN_WAIT_2 after "
        "tcp_fin_timeout (3 s for the lab, 60 s by default): nobody could read what the server "
        "still sends. The shut-down one has an application that may still read, so Linux sets no "
        "timer: it stays in FIN_WAIT_2, receives the server's late reply, and ends only with the "
        "server's FIN.",
        "对端结束两个连接，一个用 shutdown(SHUT_WR)，一个用 close()；服务端确认了两个 FIN，但不关闭。"
        "close 之后的孤儿连接在 FIN_WAIT_2 等待 tcp_fin_timeout（本实验为 3 秒，默认 60 秒）后放弃："
        "服务端再发什么也没有人读了。shutdown 的那个，应用还可能读数据，Linux 不给它设定时器：它一直停在 "
        "FIN_WAIT_2，能收到服务端迟来的回复，直到服务端发来 FIN 才结束。",
        "closing", kernel_seconds=8),
]
