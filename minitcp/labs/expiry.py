# ruff: noqa: RUF001, RUF002  (the Chinese text uses full-width punctuation)
"""为什么需要 TIME_WAIT 状态？ How long it lasts: 60 s, then its port is free again.

The peer closes first, so the TIME_WAIT is the peer's: against the kernel that is
Linux's own, whose length is a constant (TCP_TIMEWAIT_LEN, 60 s, include/net/tcp.h;
no sysctl shortens it, tcp_fin_timeout is FIN_WAIT_2's). The kernel run therefore
takes a real minute; with --sim it is a minute of virtual time.
"""

from __future__ import annotations

from minitcp.trace.ss_parse import ss_seconds

from .base import Ctx, Lab, hang_up

TIME_WAIT_LEN = 60.0  # Linux TCP_TIMEWAIT_LEN
# Linux's timer wheel rounds a 60 s timer up to its level's granularity (up to 4096 jiffies,
# 4.1 s at HZ 1000; kernel/time/timer.c): an entry may outlive 60 s by that much, never less.
SLACK = 4.5
POLL = 0.5  # seconds between two looks at the peer's socket near the end


async def _timewait_left(ctx: Ctx, port: int) -> float | None:
    """Seconds left on the peer's TIME_WAIT timer for its `port`, as `ss -o` shows it."""
    for row in await ctx.peer_ss(port) or []:
        if row.rfc_state == "TIME_WAIT" and row.timer.startswith("timer:(timewait,"):
            return ss_seconds(row.timer.split(",")[1])
    return None


async def time_wait_expires(ctx: Ctx) -> None:
    ctx.faults([])
    client, server = await ctx.open("p")  # the peer is the client, on an ephemeral port
    port = client.port
    ctx.mark()
    await hang_up(client, server)  # the client closes first: the TIME_WAIT is the client's
    await ctx.wait(0.2)
    left = await _timewait_left(ctx, port)
    ctx.check(await client.state() == "TIME_WAIT" and left is not None and 55 <= left <= TIME_WAIT_LEN,
              f"the client closed first and is in TIME_WAIT, its timer at {left or 0:.0f} s (ss -o)",
              f"客户端先关闭，处于 TIME_WAIT，定时器还剩 {left or 0:.0f} 秒（ss -o）")
    ctx.check(await server.state() == "CLOSED", "the server (the passive closer) has nothing left",
              "服务端（被动关闭方）什么也没留下")
    busy = await ctx.try_bind("p", port)
    ctx.check(busy == "EADDRINUSE",
              f"meanwhile bind() to the client's port {port} fails: {busy}",
              f"这期间 bind() 客户端的端口 {port} 失败：{busy}")
    await ctx.wait(TIME_WAIT_LEN - 1.0 - (ctx.now() - ctx.t0))
    late = await client.state()
    ctx.check(late == "TIME_WAIT", f"59 s after the close it is still {late}",
              f"关闭 59 秒后仍是 {late}")
    gone = None
    while ctx.now() - ctx.t0 < TIME_WAIT_LEN + SLACK + 1.0:
        if await client.state() != "TIME_WAIT":
            gone = ctx.now() - ctx.t0
            break
        await ctx.wait(POLL if not ctx.sim else 0.1)
    ctx.check(gone is not None and TIME_WAIT_LEN - 0.5 <= gone <= TIME_WAIT_LEN + SLACK,
              f"the entry ended {gone or 0:.1f} s after the close: 60 s (TCP_TIMEWAIT_LEN), a constant",
              f"TIME_WAIT 在关闭后 {gone or 0:.1f} 秒结束：60 秒（TCP_TIMEWAIT_LEN），是个常量")
    free = await ctx.try_bind("p", port)
    ctx.check(free == "ok", f"now bind() to port {port} succeeds: the port is free again",
              f"现在 bind() 端口 {port} 成功了：端口又空出来了")
    client2, server2 = await ctx.open("p", cport=port)
    ctx.check(await server2.state() == "ESTABLISHED",
              f"and a new connection from port {port} to the same server opens",
              f"从端口 {port} 到同一个服务端的新连接也建立了")
    await hang_up(server2, client2)  # the server closes first this time: no new client TIME_WAIT
    await ctx.wait(0.2)


LABS = [
    Lab("time-wait-expires",
        "为什么需要 TIME_WAIT 状态？ — 主动发起关闭连接的一方，才会有 TIME-WAIT 状态",
        "TIME_WAIT lasts 60 s, then its port is free", "TIME_WAIT 持续 60 秒，之后端口就空出来了",
        time_wait_expires,
        "The client closes first and keeps the connection in TIME_WAIT. For as long as it lasts, the "
        "client's port stays taken: bind() to it fails with EADDRINUSE. Linux's TIME_WAIT lasts "
        "60 s (TCP_TIMEWAIT_LEN, 2 MSL with MSL = 30 s), a constant no sysctl changes "
        "(tcp_fin_timeout is FIN_WAIT_2's timeout, not TIME_WAIT's); the kernel's timer may end it a "
        "few seconds late, never early. Then the entry is gone and the port can be bound and used "
        "again. Against the kernel this lab takes a real minute.",
        "客户端先关闭，连接进入 TIME_WAIT。在它持续期间，客户端的端口一直被占着：bind() 这个端口会失败"
        "（EADDRINUSE）。Linux 的 TIME_WAIT 持续 60 秒（TCP_TIMEWAIT_LEN，即 2MSL，MSL 为 30 秒），是"
        "写死的常量，没有 sysctl 能改（tcp_fin_timeout 管的是 FIN_WAIT_2，不是 TIME_WAIT）；内核定时器"
        "可能晚几秒结束它，但不会提前。之后 TIME_WAIT 消失，端口又可以绑定、使用了。对端是内核时，"
        "本实验要真的等一分钟。",
        "timewait", kernel_seconds=70),
]
