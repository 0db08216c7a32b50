# ruff: noqa: RUF001, RUF002  (the Chinese text uses full-width punctuation)
"""TIME_WAIT 过多有什么危害？ — 服务端: what its TIME_WAIT entries really cost, in bytes, measured.

minitcp's figure comes from its own table (TimeWaitTable.footprint: a sys.getsizeof walk
of what the table holds, before and after). The kernel's comes from /proc/slabinfo: a
Linux TIME_WAIT is one object of the tw_sock_TCP slab cache (struct tcp_timewait_sock
with its inet_timewait_sock head), whose size slabinfo prints. Its count of objects is
not used: it is the whole machine's, and SLUB counts the objects of its per-CPU slabs as
in use, so a hundred new entries often do not move it at all.
"""

from __future__ import annotations

from .base import Ctx, Lab, hang_up

N = 100  # connections each server closes first
SLAB = "tw_sock_TCP"
CLIENT_PORTS = (41000, 42000)  # the first client port of each round


def slab_object_size(name: str) -> int | None:
    """The object size in bytes of a slab cache, from /proc/slabinfo (root only)."""
    try:
        with open("/proc/slabinfo") as f:
            for line in f:
                fields = line.split()
                if fields and fields[0] == name:
                    return int(fields[3])
    except OSError:
        return None
    return None


async def _close_first(ctx: Ctx, server_host: str, first_port: int) -> None:
    """N connections whose server (`server_host`) closes first: N TIME_WAIT entries on it. The
    clients' ports are N distinct ones: a random ephemeral port could repeat an earlier four-tuple
    and take its TIME_WAIT entry over, one entry fewer."""
    client_host = "p" if server_host == "m" else "m"
    for k in range(N):
        client, server = await ctx.open(client_host, cport=first_port + k)
        await hang_up(server, client)
    await ctx.wait(0.2)


async def time_wait_memory(ctx: Ctx) -> None:
    ctx.faults([])
    ctx.mark()
    table = ctx.engine().timewait
    before = table.footprint()
    await _close_first(ctx, "m", CLIENT_PORTS[0])
    entries = await ctx.timewait("m", {80})
    rows = ctx.minitcp_ss(80)
    ctx.check(entries == N and all(r.state == "TIME-WAIT" for r in rows) and len(rows) == N,
              f"minitcp, the server, closed first {N} times: {entries} TIME_WAIT entries on port 80, "
              "and nothing else (ss): no socket, no buffers, no file descriptor",
              f"minitcp 作为服务端主动关闭了 {N} 次：80 端口上有 {entries} 个 TIME_WAIT，"
              "别的什么也没有（ss）：没有 socket、没有缓冲区、没有文件描述符")
    grown = table.footprint() - before
    each = grown / max(entries, 1)
    ctx.check(80 <= each <= 400,
              f"minitcp's TIME_WAIT table grew by {grown} B: {each:.0f} B per entry (a sys.getsizeof "
              "walk: a 50-byte record in an 83-byte bytes object, its key, and its share of the dict and "
              "the queue)",
              f"minitcp 的 TIME_WAIT 表增长了 {grown} B：每个 {each:.0f} B（sys.getsizeof 逐项统计："
              "一条 50 字节的记录（bytes 对象 83 B）、它的键，以及它在字典和队列里占的份额）")
    peer = ctx.peer_engine()
    peer_before = peer.timewait.footprint() if peer is not None else 0
    await _close_first(ctx, "p", CLIENT_PORTS[1])
    theirs = await ctx.timewait("p")  # the peer kept none from the first round: it closed second there
    if peer is not None:
        grown = peer.timewait.footprint() - peer_before
        each_peer = grown / max(theirs, 1)
        ctx.check(theirs == N and each_peer == each,
                  f"the peer (a second minitcp) closed first {N} times as the server: {theirs} entries, "
                  f"{each_peer:.0f} B each, the same",
                  f"对端（另一个 minitcp）作为服务端主动关闭了 {N} 次：{theirs} 个 TIME_WAIT，每个 "
                  f"{each_peer:.0f} B，一样")
        return
    size = slab_object_size(SLAB) or 0
    ctx.check(theirs == N and size > 0,
              f"the kernel, the server now, closed first {N} times: {theirs} entries (ss), each one "
              f"{SLAB} object of {size} B (/proc/slabinfo): {theirs * size} B in all",
              f"内核这次作为服务端主动关闭了 {N} 次：{theirs} 个 TIME_WAIT（ss），每个是一个 {SLAB} 对象，"
              f"{size} B（/proc/slabinfo）：共 {theirs * size} B")
    ctx.check(size > 0 and each < size,
              f"so a TIME_WAIT entry costs the kernel {size} B and minitcp {each:.0f} B: small either way",
              f"所以一个 TIME_WAIT 在内核里占 {size} B，在 minitcp 里占 {each:.0f} B：都很小")


LABS = [
    Lab("time-wait-memory",
        "TIME_WAIT 过多有什么危害？ — 服务端的 TIME_WAIT 状态过多，会占用系统资源，比如文件描述符、内存资源",
        "What a server's TIME_WAIT entries really cost", "服务端的 TIME_WAIT 到底占多少内存",
        time_wait_memory,
        "A server that closes first keeps one TIME_WAIT entry per connection for 60 s. The lab "
        "makes 100 and measures them. The application's socket, its buffers and its file descriptor "
        "are gone: what is left is a small record of the four-tuple, the sequence numbers and the "
        "timestamps. minitcp's is measured on its own table (a sys.getsizeof walk before and after); "
        "against the kernel, the kernel then closes first 100 times and each of its entries is one "
        "tw_sock_TCP slab object, whose size /proc/slabinfo gives (256 B on Linux 6.18). "
        "Ten thousand entries are a few megabytes: tcp_max_tw_buckets caps them, not memory.",
        "服务端主动关闭，每个连接留下一个 TIME_WAIT，持续 60 秒。本实验造出 100 个并测量它们。应用的 socket、"
        "缓冲区和文件描述符都已释放，留下的只是一条小记录：四元组、序列号和时间戳。minitcp 的大小在它自己的"
        "表上测量（前后各做一次 sys.getsizeof 统计）；对端是内核时，内核接着作为服务端主动关闭 100 次，"
        "它的每个 TIME_WAIT 是一个 tw_sock_TCP slab 对象，大小由 /proc/slabinfo 给出"
        "（Linux 6.18 上为 256 B）。"
        "一万个也只有几 MB：限制它们的是 tcp_max_tw_buckets，而不是内存。",
        "timewait", kernel_seconds=20),
]
