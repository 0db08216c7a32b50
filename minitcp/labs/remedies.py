# ruff: noqa: RUF001, RUF002  (the Chinese text uses full-width punctuation)
"""TIME_WAIT 过多有什么危害？ — 客户端端口用光之后: two remedies, tcp_tw_reuse and SO_LINGER {1, 0}.

The pair of time-wait-client-ports, with the peer as the client, so that
against the kernel the port choice, the takeover and the reset are Linux's own.
"""

from __future__ import annotations

import errno

from minitcp.trace.events import SegmentEvent

from .base import HOST, Ctx, Lab, Side, hang_up, ms

PORTS = (40000, 40009)  # a tiny ip_local_port_range: ten ports run out in no time
SERVER_PORT = 80
TAKEOVER_GAP = 65537  # Linux tcp_twsk_unique: write_seq = tw_snd_nxt + 65535 + 2
REUSE_DELAY = 1.0  # tcp_tw_reuse_delay, 1000 ms: a TIME_WAIT younger than this is not taken


async def _connect(ctx: Ctx) -> tuple[tuple[Side, Side] | None, str]:
    """The peer's next connect() to minitcp's port 80: the pair, or None and the error's name."""
    try:
        return await ctx.open("p", port=SERVER_PORT), "ok"
    except OSError as e:
        return None, errno.errorcode.get(e.errno or 0, str(e))


def _said(err: str, lang: str = "en") -> str:
    """connect()'s outcome as a learner reads it: "returned 0", or the errno's name."""
    if err != "ok":
        return err
    return "返回 0" if lang == "zh" else "returned 0"


def _peer_fin_seq(ctx: Ctx, port: int) -> int | None:
    """The sequence number of the last FIN the peer sent from its `port`, as minitcp saw it."""
    fins = [e.abs_seq for e in ctx.rec.events if isinstance(e, SegmentEvent) and e.host == HOST
            and e.direction == "in" and "F" in e.flags and e.remote.endswith(f":{port}")]
    return fins[-1] if fins else None


async def tw_reuse(ctx: Ctx) -> None:
    ctx.set_knob("p", "ip_local_port_range", f"{PORTS[0]} {PORTS[1]}")
    ctx.set_knob("p", "tcp_tw_reuse", 1)  # the default, 2, reuses on loopback only
    ctx.faults([])
    ctx.mark()
    used: set[int] = set()
    start = ctx.now()  # no TIME_WAIT of the lab's is older than this
    for _ in range(PORTS[1] - PORTS[0] + 1):
        client, server = await ctx.open("p", port=SERVER_PORT)
        used.add(client.port)
        await hang_up(client, server)  # the client closes first: the TIME_WAIT is the client's
    await ctx.wait(0.05)  # the client's last ACK is out: it is in TIME_WAIT
    # The 11th connect() at once, before anything slower (counting the entries is an `ss`, a
    # process start): Linux tcp_twsk_unique takes an entry once tw_entry_stamp + the delay is past.
    age = ctx.now() - start
    _, err = await _connect(ctx)
    n = await ctx.timewait("p", {SERVER_PORT})
    ctx.check(used == set(range(PORTS[0], PORTS[1] + 1)) and n == 10,
              f"ten connections used the ten ports of the range; the client holds {n} TIME_WAIT entries",
              f"十个连接用掉了端口范围内的全部十个端口；客户端有 {n} 个 TIME_WAIT")
    ctx.check(err == "EADDRNOTAVAIL",
              f"the 11th connect() at once fails ({_said(err)}): tcp_tw_reuse only takes an entry whose "
              f"last timestamp is older than tcp_tw_reuse_delay (1000 ms; the oldest was at most "
              f"{ms(age)} old)",
              f"马上发起第 11 次 connect() 失败（{_said(err, 'zh')}）："
              f"tcp_tw_reuse 只接管最后一个时间戳已超过 tcp_tw_reuse_delay（1000 ms）的 TIME_WAIT"
              f"（最老的至多 {ms(age)}）")
    await ctx.wait(REUSE_DELAY + 0.1)
    ctx.mark()
    pair, err = await _connect(ctx)
    port = pair[0].port if pair else 0
    ctx.check(pair is not None and port in used and ctx.counter("p", "TWRecycled") == 1,
              f"1100 ms later it succeeds ({_said(err)}) on port {port}, one of the ten: the new connection "
              "took that TIME_WAIT over (TWRecycled +1)",
              f"1100 ms 后再试就成功了（{_said(err, 'zh')}），用的是十个端口之一 {port}："
              "新连接接管了那个 TIME_WAIT（TWRecycled +1）")
    syn = [e for e in ctx.rec.events[ctx.first:] if isinstance(e, SegmentEvent) and e.host == HOST
           and e.direction == "in" and e.flags == "S"]
    old_fin = _peer_fin_seq(ctx, port)
    want = None if old_fin is None else (old_fin + 1 + TAKEOVER_GAP) & 0xFFFFFFFF
    ctx.check(bool(syn) and syn[-1].abs_seq == want,
              "its SYN started 65537 above the old incarnation's last sequence number (its FIN's, "
              "plus 1): no old segment can fall in the new window, and timestamps tell them apart",
              "它的 SYN 序列号比旧连接最后的序列号（FIN 的序列号加 1）大 65537：旧报文落不进新窗口，"
              "时间戳也能把新旧报文分开")
    left = await ctx.timewait("p", {SERVER_PORT})
    ctx.check(left == 9, f"the client still holds {left} TIME_WAIT entries: one was reused, none cut short",
              f"客户端仍有 {left} 个 TIME_WAIT：只是接管了一个，没有提前结束任何一个")
    if pair:
        await hang_up(pair[1], pair[0])  # the server closes first: no new TIME_WAIT for the client
    await ctx.wait(0.2)


async def linger_zero(ctx: Ctx) -> None:
    ctx.set_knob("p", "ip_local_port_range", f"{PORTS[0]} {PORTS[1]}")
    ctx.faults([])
    ctx.mark()
    reads: list[bytes | str | None] = []
    for _ in range(PORTS[1] - PORTS[0] + 1):
        client, server = await ctx.open("p", port=SERVER_PORT)
        await client.abort()  # SO_LINGER {1, 0}, then close(): RST instead of FIN
        reads.append(await server.recv(timeout=1.0))
        await server.close()
    rsts, fins = ctx.segs("p", "R"), ctx.segs("p", "F")
    ctx.check(len(rsts) == 10 and not fins,
              f"each close() with SO_LINGER 0 sent RST, not FIN ({len(rsts)} RST, {len(fins)} FIN)",
              f"设置 SO_LINGER 为 0 后，每次 close() 发的都是 RST 而不是 FIN（{len(rsts)} 个 RST，"
              f"{len(fins)} 个 FIN）")
    n = await ctx.timewait("p", {SERVER_PORT})
    ctx.check(n == 0, f"so the client holds {n} TIME_WAIT entries", f"所以客户端有 {n} 个 TIME_WAIT")
    pair, err = await _connect(ctx)
    port = pair[0].port if pair else 0
    ctx.check(pair is not None and PORTS[0] <= port <= PORTS[1],
              f"the 11th connect() succeeds at once ({_said(err)}), on port {port} of the ten-port range",
              f"第 11 次 connect() 立即成功（{_said(err, 'zh')}），用的是这十个端口之一 {port}")
    resets = sum(1 for r in reads if r == "ECONNRESET")
    ctx.check(resets == 10,
              f"the price: the server read ECONNRESET, not an orderly end of stream ({resets} times), "
              "and whatever was still in flight is gone; so is TIME_WAIT's protection",
              f"代价：服务端读到的是 ECONNRESET 而不是正常的数据流结束（{resets} 次），"
              "还在路上的数据都丢了，TIME_WAIT 的保护也没有了")
    if pair:
        await hang_up(pair[1], pair[0])
    await ctx.wait(0.2)


LABS = [
    Lab("time-wait-client-ports-tw-reuse",
        "TIME_WAIT 过多有什么危害？ — 客户端的 TIME_WAIT 状态过多，占满了所有端口资源（tcp_tw_reuse）",
        "Out of client ports: tcp_tw_reuse takes a TIME_WAIT over",
        "客户端端口用光：tcp_tw_reuse 接管 TIME_WAIT",
        tw_reuse,
        "As in time-wait-client-ports, the client closes first ten times and its ten ports (the "
        "range cut for the lab) all sit in TIME_WAIT. With tcp_tw_reuse = 1 (Linux's default 2 "
        "allows it on loopback only) connect() may take a TIME_WAIT pair over, but only once its "
        "last timestamp is older than tcp_tw_reuse_delay (1 s), and only with timestamps on: the "
        "new SYN starts 65537 above the old sequence numbers, and PAWS throws out any old segment. "
        "So the 11th connect() fails at first and succeeds a second later, reusing one port.",
        "和 time-wait-client-ports 一样，客户端主动关闭十次，端口范围（本实验设为 10 个端口）里的十个"
        "端口都处于 TIME_WAIT。打开 tcp_tw_reuse = 1（Linux 默认的 2 只对回环地址生效）后，connect() "
        "可以接管一个 TIME_WAIT，但要等它最后一个时间戳超过 tcp_tw_reuse_delay（1 秒），而且必须开启"
        "时间戳：新 SYN 的序列号比旧连接大 65537，旧报文还会被 PAWS 丢弃。所以第 11 次 connect() 先是"
        "失败，一秒后再试就成功了，复用了其中一个端口。",
        "timewait", kernel_seconds=5),
    Lab("time-wait-client-ports-linger",
        "TIME_WAIT 过多有什么危害？ — 客户端的 TIME_WAIT 状态过多，占满了所有端口资源（SO_LINGER 0）",
        "Out of client ports: SO_LINGER 0 skips TIME_WAIT, at a price",
        "客户端端口用光：SO_LINGER 0 跳过 TIME_WAIT，但有代价",
        linger_zero,
        "The same ten ports, but the client closes each connection with SO_LINGER {on, 0}: close() "
        "then aborts (RST instead of FIN, RFC 9293 section 3.10.5) and leaves no TIME_WAIT, so the "
        "ports are free at once and the 11th connect() succeeds. The price: the server gets "
        "ECONNRESET instead of an orderly end of stream, data still in flight is thrown away, and "
        "nothing guards a new connection on the same four-tuple from the old one's segments.",
        "还是这十个端口，但客户端每次关闭前都设置 SO_LINGER {on, 0}：close() 直接中止连接（发 RST 而不是 "
        "FIN），不留 TIME_WAIT，端口立即空出来，第 11 次 connect() 成功。代价是：服务端读到 ECONNRESET 而"
        "不是正常的数据流结束，还在路上的数据被丢弃，相同四元组的新连接也失去了防止旧报文混入的保护。",
        "timewait", kernel_seconds=4),
]
