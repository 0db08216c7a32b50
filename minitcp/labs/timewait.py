# ruff: noqa: RUF001, RUF002  (the Chinese text uses full-width punctuation)
"""为什么需要 TIME_WAIT 状态？ TIME_WAIT 过多有什么危害？"""

from __future__ import annotations

import errno

from .base import Ctx, Lab, hang_up

PORTS = (40000, 40009)  # a tiny ip_local_port_range: ten ports run out in no time


async def last_ack_without_time_wait(ctx: Ctx) -> None:
    ctx.set_knob("m", "tcp_max_tw_buckets", 0)  # no room for TIME_WAIT entries: close means forget
    client, server = await ctx.open("m")
    ctx.mark()
    await client.close()
    await ctx.wait(0.5)
    ctx.faults(["drop:dir=out,flags=.,nth=1"])  # the last ACK
    await server.close()
    await ctx.wait(1.0)
    fins = ctx.segs("p", "F")
    ctx.check(len(fins) == 2,
              f"the last ACK was lost, so the server retransmitted its FIN (sent {len(fins)}×)",
              f"最后的 ACK 丢失了，所以服务端重传了 FIN（发了 {len(fins)} 次）")
    ctx.check(ctx.counter("m", "TCPTimeWaitOverflow") == 1,
              "the client kept no TIME_WAIT (TCPTimeWaitOverflow +1)",
              "客户端没有保留 TIME_WAIT（TCPTimeWaitOverflow +1）")
    rst = ctx.segs("m", "R")
    ctx.check(len(rst) == 1 and len(fins) == 2 and rst[0].t >= fins[1].t,
              "the repeated FIN found no connection and was answered with RST, not ACK",
              "重传的 FIN 找不到连接，回给它的是 RST 而不是 ACK")
    ctx.check(await server.state() == "CLOSED", "the server ended by a reset instead of an orderly close",
              "服务端因 RST 而结束，不是正常关闭")


async def client_runs_out_of_ports(ctx: Ctx) -> None:
    ctx.set_knob("m", "ip_local_port_range", f"{PORTS[0]} {PORTS[1]}")
    ctx.faults([])
    ctx.mark()
    used: set[int] = set()
    for _ in range(PORTS[1] - PORTS[0] + 1):
        client, server = await ctx.open("m")
        used.add(client.port)
        await client.close()  # the client closes first: the TIME_WAIT is the client's
        await server.recv(timeout=1.0)
        await server.close()
        await ctx.wait(0.05)
    ctx.check(used == set(range(PORTS[0], PORTS[1] + 1)), "ten connections used the ten ports of the range",
              "十个连接用掉了端口范围内的全部十个端口")
    n = await ctx.timewait("m", used)
    ctx.check(n == 10, f"the client holds {n} TIME_WAIT entries, one per port",
              f"客户端有 {n} 个 TIME_WAIT，每个端口一个")
    try:
        await ctx.open("m")
        err = "connected"
    except OSError as e:
        err = errno.errorcode.get(e.errno or 0, str(e))
    ctx.check(err == "EADDRNOTAVAIL", f"the 11th connect() to the same server fails: {err}",
              f"第 11 次对同一个服务端 connect() 失败：{err}")
    theirs = await ctx.timewait("p", used)
    ctx.check(theirs == 0, "the server (the passive closer) holds no TIME_WAIT for them",
              "服务端（被动关闭方）没有这些连接的 TIME_WAIT")


async def server_time_wait(ctx: Ctx) -> None:
    ctx.faults([])
    ctx.mark()
    clients: set[int] = set()
    for _ in range(10):
        client, server = await ctx.open("p")
        clients.add(client.port)
        await server.close()  # the server closes first: the TIME_WAIT is the server's
        await client.recv(timeout=1.0)
        await client.close()
        await ctx.wait(0.05)
    n = await ctx.timewait("m", {80})
    ctx.check(n == 10, f"the server holds {n} TIME_WAIT entries, all on its one port 80",
              f"服务端有 {n} 个 TIME_WAIT，都在它唯一的 80 端口上")
    ctx.check(len(clients) == 10, "they differ by the client's port: ten distinct four-tuples",
              "它们的客户端端口各不相同：十个不同的四元组")
    client, server = await ctx.open("p")
    ctx.check(await server.state() == "ESTABLISHED",
              "and yet a new client connects at once: port 80 is not used up, each entry costs only memory",
              "新客户端照样立即连上：80 端口没有被占满，每个 TIME_WAIT 只占用内存")
    await hang_up(client, server)
    await ctx.wait(0.1)


LABS = [
    Lab("time-wait-last-ack",
        "为什么需要 TIME_WAIT 状态？ — 保证「被动关闭连接」的一方，"
        "能被正确的关闭",
        "Without TIME_WAIT, a lost last ACK ends in RST", "没有 TIME_WAIT 时，最后的 ACK 丢失以 RST 收场",
        last_ack_without_time_wait,
        "Here the client may keep no TIME_WAIT (tcp_max_tw_buckets = 0, set for the lab). Its last "
        "ACK is lost; the server's retransmitted FIN finds nothing on the client and is answered "
        "with RST, so the server ends with an error instead of a clean close. Compare last-ack-lost, "
        "where TIME_WAIT ACKs the repeated FIN.",
        "本实验让客户端不保留 TIME_WAIT（tcp_max_tw_buckets = 0）。第四次挥手的 ACK 丢失后，服务端重传的 "
        "FIN 找不到连接，"
        "客户端回 RST，服务端以错误结束而不是正常关闭。对比 last-ack-lost：有 TIME_WAIT 时会再回一次 ACK。"
        "这是 TIME_WAIT 的第二个作用：保证被动关闭连接的一方能被正确的关闭。",
        "timewait", kernel_seconds=3),
    Lab("time-wait-client-ports",
        "TIME_WAIT 过多有什么危害？ — 客户端的 TIME_WAIT 状态过多，"
        "占满了所有端口资源",
        "Too many TIME_WAIT on a client: no ports left", "客户端 TIME_WAIT 过多：端口用光",
        client_runs_out_of_ports,
        "The client closes first, so each connection leaves a TIME_WAIT entry holding its local "
        "port for 60 s. With ip_local_port_range cut to ten ports (for the lab), the eleventh "
        "connect() to the same server address and port fails with EADDRNOTAVAIL.",
        "客户端主动关闭，每个连接留下一个 TIME_WAIT，占住本地端口 60 秒。"
        "本实验把 ip_local_port_range 设为 10 个端口，"
        "第 11 次连接同一个「目的 IP + 目的 PORT」就失败：EADDRNOTAVAIL。",
        "timewait", kernel_seconds=4),
    Lab("time-wait-server",
        "TIME_WAIT 过多有什么危害？ — 服务端的 TIME_WAIT 状态过多，"
        "并不会导致端口资源受限",
        "Too many TIME_WAIT on a server: memory, not ports", "服务端 TIME_WAIT 过多：占内存，不占端口",
        server_time_wait,
        "The server closes first ten times and holds ten TIME_WAIT entries, all on port 80. They "
        "differ by the client's port, so new clients still connect: a server pays memory and "
        "table space for TIME_WAIT (tcp_max_tw_buckets caps it), not ports.",
        "服务端主动关闭 10 次，留下 10 个 TIME_WAIT，都在 80 端口上。四元组因客户端端口不同而不同，新客户端照"
        "样能连上："
        "服务端的 TIME_WAIT 过多只占用系统资源（内存等，tcp_max_tw_buckets 为上限），不会导致端口资源受限。",
        "timewait", kernel_seconds=4),
]
