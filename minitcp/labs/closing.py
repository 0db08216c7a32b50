# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""服务器出现大量 CLOSE_WAIT 的原因; 关闭 socket 的方法: close versus shutdown, and close is brutal."""

from __future__ import annotations

from .base import Ctx, Lab, shown

FIN_TIMEOUT = 3  # seconds; tcp_fin_timeout is 60 by default


async def close_wait_pileup(ctx: Ctx) -> None:
    ctx.set_knob("p", "tcp_fin_timeout", FIN_TIMEOUT)
    ctx.faults([])
    pairs = [await ctx.open("p") for _ in range(3)]  # minitcp is the server that forgets to close
    ctx.mark()
    for client, _ in pairs:
        await client.close()
    await ctx.wait(1.0)
    servers = [await s.state() for _, s in pairs]
    clients = [await c.state() for c, _ in pairs]
    ctx.check(servers == ["CLOSE_WAIT"] * 3,
              f"after 1 s the server has 3 connections in CLOSE_WAIT: {shown(servers)}",
              f"1 秒后服务端有 3 个连接处于 CLOSE_WAIT：{shown(servers, 'zh')}")
    ctx.check(clients == ["FIN_WAIT_2"] * 3, f"and the clients wait in FIN_WAIT_2: {shown(clients)}",
              f"客户端都停在 FIN_WAIT_2：{shown(clients, 'zh')}")
    timer = await pairs[0][0].timer()
    ctx.check(timer is not None and 1.0 < timer[1] <= FIN_TIMEOUT,
              f"a client's FIN_WAIT_2 timer (ss -o) has under {FIN_TIMEOUT} s left: {shown(timer)}",
              f"客户端的 FIN_WAIT_2 定时器（ss -o）剩余不到 {FIN_TIMEOUT} 秒：{shown(timer, 'zh')}")
    await ctx.wait(FIN_TIMEOUT + 0.7)
    clients = [await c.state() for c, _ in pairs]
    servers = [await s.state() for _, s in pairs]
    ctx.check(clients == ["CLOSED"] * 3,
              f"after tcp_fin_timeout ({FIN_TIMEOUT} s) the clients gave up: {shown(clients)}",
              f"tcp_fin_timeout（{FIN_TIMEOUT} 秒）到期后客户端放弃了连接：{shown(clients, 'zh')}")
    ctx.check(servers == ["CLOSE_WAIT"] * 3,
              "the server is still in CLOSE_WAIT: only the application's close() can end it",
              "服务端仍处于 CLOSE_WAIT：只有应用调用 close() 才能结束它")
    ctx.mark()
    await pairs[0][1].close()  # too late: nobody is there any more
    await ctx.wait(0.2)
    seen = [(s.sender, s.flags[0]) for s in ctx.segs()]
    ctx.check(seen == [("m", "F"), ("p", "R")],
              f"a late close sends a FIN that is answered by RST: {shown(seen)}",
              f"迟来的 close 发出 FIN，对方回的是 RST：{shown(seen, 'zh')}")
    for _, s in pairs[1:]:
        await s.close()
    await ctx.wait(0.2)


async def close_vs_shutdown(ctx: Ctx) -> None:
    ctx.faults([])
    client, server = await ctx.open("m")
    other = client.dup()  # a second handle to the same connection, as after fork() or dup()
    ctx.mark()
    await client.close()
    await ctx.wait(0.5)
    ctx.check(not ctx.segs("m"),
              "close() on one of two handles sent nothing for 500 ms: the other handle still holds it",
              "两个句柄之一调用 close()，500 ms 内什么也没发：另一个句柄仍持有这个连接")
    await other.send(b"still here")
    ctx.check(await server.recv(timeout=1.0) == b"still here", "the other handle still sends",
              "另一个句柄照样能发送")
    t = ctx.now() - ctx.t0
    await other.shutdown()
    await ctx.wait(0.1)
    fins = ctx.segs("m", "F")
    ctx.check(len(fins) == 1 and fins[0].t - t < 0.01,
              "shutdown(SHUT_WR) sent the FIN at once, handles or not",
              "shutdown(SHUT_WR) 不管有几个句柄，立即发出 FIN")
    ctx.check(await other.send(b"more") == "EPIPE", "after shutdown(SHUT_WR) sending fails: EPIPE",
              "shutdown(SHUT_WR) 之后发送失败：EPIPE")
    await server.send(b"the rest")
    ctx.check(await other.recv(timeout=1.0) == b"the rest",
              "but it still receives: shutdown closes one direction only",
              "但仍能接收数据：shutdown 只关闭了一个方向（发送方向）")
    await server.close()
    ctx.check(await other.recv(timeout=1.0) == b"", "then the server's FIN: end of stream",
              "然后是服务端的 FIN：读到数据流结束")
    await ctx.wait(0.1)
    ctx.check(await other.state() == "TIME_WAIT", "the client ends in TIME_WAIT", "客户端最后进入 TIME_WAIT")
    await other.close()


async def data_after_close(ctx: Ctx) -> None:
    ctx.faults([])
    client, server = await ctx.open("m")
    ctx.mark()
    await client.close()
    await ctx.wait(0.5)
    ctx.check(await client.state() == "FIN_WAIT_2", "the client closed: FIN_WAIT_2",
              "客户端已关闭：FIN_WAIT_2")
    await server.send(b"reply nobody reads")
    await ctx.wait(0.2)
    seen = [(s.sender, s.flags) for s in ctx.segs(since=0.4)]
    ctx.check(seen == [("p", "P."), ("m", "R")], f"the server's data was answered with RST: {shown(seen)}",
              f"服务端发来的数据换来的是 RST：{shown(seen, 'zh')}")
    ctx.check(ctx.counter("m", "TCPAbortOnData") == 1, "TCPAbortOnData +1",
              "TCPAbortOnData +1（因收到数据而中止连接）")
    ctx.check(await client.state() == "CLOSED", "the client dropped the connection at once: no TIME_WAIT",
              "客户端立即释放了连接：没有 TIME_WAIT")
    ctx.check(await server.send(b"again") == "EPIPE", "the server's next send fails: EPIPE",
              "服务端的下一次发送失败：EPIPE")


async def close_with_unread_data(ctx: Ctx) -> None:
    ctx.faults([])
    client, server = await ctx.open("m")
    await server.send(b"you will never read this")
    await ctx.wait(0.1)
    ctx.mark()
    await client.close()
    await ctx.wait(0.2)
    seen = [(s.sender, s.flags) for s in ctx.segs()]
    ctx.check(seen == [("m", "R.")], f"close() with unread data sent RST, not FIN: {shown(seen)}",
              f"有未读数据时 close() 发出的是 RST 而不是 FIN：{shown(seen, 'zh')}")
    ctx.check(ctx.counter("m", "TCPAbortOnClose") == 1, "TCPAbortOnClose +1",
              "TCPAbortOnClose +1（关闭时有未读数据而中止连接）")
    ctx.check(await server.recv(timeout=1.0) == "ECONNRESET", "the server's next read fails: ECONNRESET",
              "服务端的下一次读取失败：ECONNRESET")
    ctx.check(await client.state() == "CLOSED" and await server.state() == "CLOSED", "both ends are CLOSED",
              "两端都是 CLOSED")


LABS = [
    Lab("close-wait", "服务器出现大量 CLOSE_WAIT 状态的原因有哪些？",
        "A server that forgets to close: CLOSE_WAIT piles up",
        "服务端忘了调用 close：CLOSE_WAIT 越积越多",
        close_wait_pileup,
        "Three clients close; the server's kernel ACKs each FIN, but the server application never "
        "calls close(), so its connections stay in CLOSE_WAIT: the kernel has no right to close for "
        "the application. The clients, orphaned in FIN_WAIT_2, give up after tcp_fin_timeout (cut to "
        "3 s for the lab). When the server finally closes, its FIN is answered with RST.",
        "三个客户端关闭连接，服务端内核回了 ACK，但服务端程序没有调用 close 函数，连接一直停在 CLOSE_WAIT："
        "内核没有权利替代进程关闭连接。客户端在 FIN_WAIT_2 等待 tcp_fin_timeout（本实验设为 3 秒）后放弃。"
        "服务端出现大量 CLOSE_WAIT，说明服务端的程序没有调用 close。",
        "closing", kernel_seconds=7),
    Lab("close-vs-shutdown", "关闭socket的方法 — close 与 shutdown",
        "close() versus shutdown() with two handles",
        "两个句柄下的 close() 与 shutdown()",
        close_vs_shutdown,
        "Two handles refer to one connection (dup, or fork). close() on one only drops a reference: "
        "nothing is sent and the other handle works on. shutdown(SHUT_WR) acts on the connection "
        "itself: the FIN goes at once, sending is over (EPIPE), receiving goes on.",
        "两个句柄指向同一个连接（dup 或多进程共享）。close 只让引用计数 -1，不发 FIN，另一个句柄照常读写；"
        "shutdown 不管引用计数，立即发出 FIN，只关闭发送方向（之后发送得到 EPIPE），仍能接收数据。",
        "closing", kernel_seconds=2),
    Lab("close-then-data", "关闭socket的方法 — 调用 close 是粗暴的关闭",
        "Data arriving after close() gets RST",
        "close() 之后到达的数据换来 RST",
        data_after_close,
        "close() shuts both directions. When the server still sends data to a client that closed, "
        "there is nobody to read it: the client's stack answers RST and forgets the connection, with "
        "no orderly four-way close.",
        "close 同时关闭发送和读取方向。客户端 close 后又收到服务端的数据，已无人接收，客户端内核回 RST 并释放"
        "连接，"
        "不会经历完整的四次挥手，所以说调用 close 是粗暴的关闭。",
        "closing", kernel_seconds=2),
    Lab("close-unread-data", "关闭socket的方法 — 调用 close 是粗暴的关闭",
        "close() with unread data sends RST",
        "有未读数据时 close() 发出 RST",
        close_with_unread_data,
        "The client closes with data it never read still queued. That data is lost, and to say so "
        "the stack sends RST instead of FIN (RFC 2525 section 2.17); the server's next read fails "
        "with ECONNRESET.",
        "客户端关闭时接收缓冲区里还有未读的数据：数据被丢弃，内核发送 RST 而不是 FIN，服务端下一次读得到 "
        "ECONNRESET。",
        "closing", kernel_seconds=2),
]
