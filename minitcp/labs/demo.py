# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""The demo's story (`minitcp demo`, `make demo`): the peer's clients talk to minitcp's servers.

minitcp runs an echo server (port 7) and an HTTP server (port 80). The peer
(the Linux kernel in a private namespace, or with --sim a second minitcp stack
in virtual time) pings it, connects to a closed port, and talks to the servers
with a Python socket client, curl and nc. Each step prints the packets as
tcpdump would, the state changes of each end between them, and what ss says of
the peer's end at the key moments; what should have happened is a lab check.
It is not in the lab list: it runs through `minitcp demo` only.
"""

from __future__ import annotations

import errno
import functools
import math
import socket
from collections.abc import Callable

import trio

from minitcp.apps import EchoServer, HttpServer
from minitcp.tcp.family import endpoint_str, parse_addr
from minitcp.tcp.states import State
from minitcp.trace.events import PacketEvent, StateEvent
from minitcp.trace.tcpdump import describe_packet
from minitcp.wire.errors import WireError
from minitcp.wire.segment import FIN, RST, SYN
from minitcp.wire.tcp import parse_any_tcp_packet

from .base import HOST, M_ADDR, M_ADDR6, P_ADDR, P_ADDR6, Ctx, Lab, Side, shown
from .render import check_line
from .tools import Curl, Nc, Ping

ECHO_PORT, HTTP_PORT = 7, 80
CLOSED_PORT = 8080  # nothing listens here
WAIT = 3.0  # seconds any one exchange may take before the demo calls it failed
LIMIT = 25.0  # seconds the whole story may take against the kernel
SHOW_ALL = 14  # a conversation with at most this many packets is shown whole
ONE_WAY_MS = 5  # --sim: latency each way, so the packets have an order to read
TIMEWAIT_LEN = 60.0  # Linux's TCP_TIMEWAIT_LEN (include/net/tcp.h): 2MSL


def state_name(name: str) -> str:
    """`ss`'s name for a state ("SYN-RECV"), except CLOSED (which ss calls UNCONN)."""
    state = State[name]
    return "CLOSED" if state == State.CLOSED else state.ss_name


def names(path: list[State]) -> str:
    return " -> ".join(state_name(s.name) for s in path) or "nowhere"


def _rel(t: float) -> str:
    # tcpdump -ttttt: time since the story began
    d = max(t, 0.0)
    return f"{int(d // 3600):02d}:{int(d // 60) % 60:02d}:{d % 60:09.6f}"


def _flags(e: PacketEvent) -> int:
    try:
        return parse_any_tcp_packet(e.packet).flags
    except WireError:
        return 0  # ICMP


def _payload_len(e: PacketEvent) -> int:
    try:
        return len(parse_any_tcp_packet(e.packet).payload)
    except WireError:
        return 0


def show(ctx: Ctx, mark: int, indent: str = "    ") -> None:
    """Packets since `mark` as tcpdump lines, state changes between them; a long middle summarised."""
    events = [e for e in ctx.rec.events[mark:] if isinstance(e, (PacketEvent, StateEvent))]
    packets = [e for e in events if isinstance(e, PacketEvent)]
    first_end = next((i for i, e in enumerate(packets) if _flags(e) & (FIN | RST)), len(packets))
    shown = {id(e) for i, e in enumerate(packets)
             if len(packets) <= SHOW_ALL or i < 3 or i >= first_end or _flags(e) & (SYN | FIN | RST)}
    skipped: list[PacketEvent] = []
    pad = " " * len(_rel(0))

    def flush_skipped() -> None:
        if skipped:
            data = sum(_payload_len(e) for e in skipped)
            ctx.say(f"{indent}{pad} ... {len(skipped)} segments carrying {data:,} bytes of data ...")
            skipped.clear()

    for e in events:
        if isinstance(e, StateEvent):
            flush_skipped()
            who = "minitcp" if e.host == HOST else "peer"
            where = e.local.replace(":", ".")
            ctx.say(f"{indent}{pad}   {who} {where}: {state_name(e.old)} -> {state_name(e.new)}")
        elif id(e) in shown:
            flush_skipped()
            ctx.say(f"{indent}{_rel(e.time - ctx.t0)} {describe_packet(e.packet)}")
        else:
            skipped.append(e)
    flush_skipped()


def peer_name(ctx: Ctx) -> str:
    return "peer" if ctx.sim else "kernel"


async def show_peer(ctx: Ctx, cport: int, when: str) -> list[str] | None:
    """Print what ss says of the peer's socket on `cport`; its states ([] once gone), None without ss."""
    rows = await ctx.peer_ss(cport)
    if rows is None:
        ctx.say(f"    {peer_name(ctx)}, {when}: (ss is not installed: apt-get install iproute2)")
        return None
    seen = ", ".join(map(str, rows)) if rows else "nothing: the socket is gone"
    ctx.say(f"    {peer_name(ctx)}, {when}: `ss -tano` shows {seen}")
    return [row.state for row in rows]


async def peer_gone(ctx: Ctx, cport: int, timeout: float = WAIT) -> None:
    """Until ss shows no socket of the peer's on `cport` (or `timeout` seconds passed)."""
    with trio.move_on_after(timeout):
        while await ctx.peer_ss(cport):
            await trio.sleep(0.005)


async def wait_for(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(0.005)
        return True
    return False


def conversations(ctx: Ctx, mark: int, port: int, addr: str = M_ADDR) -> list[int]:
    """The peer's ports that talked to minitcp's `port` (at `addr`) since `mark`, in order."""
    local = endpoint_str(parse_addr(addr), port)
    seen = [int(e.remote.rsplit(":", 1)[1]) for e in ctx.rec.events[mark:]
            if isinstance(e, PacketEvent) and e.local == local]
    return list(dict.fromkeys(seen))


def ours(ctx: Ctx, port: int, cport: int) -> list[State]:
    """minitcp's states on the connection (port, cport), the first one included."""
    return ctx.rec.state_path(host=HOST, lport=port, rport=cport)


def _ended(ctx: Ctx, port: int, cport: int) -> bool:
    path = ours(ctx, port, cport)
    return State.CLOSED in path or State.TIME_WAIT in path


async def closed(ctx: Ctx, port: int, cports: list[int]) -> None:
    """Until each of these connections to minitcp's `port` is CLOSED or TIME-WAIT at minitcp."""
    for cport in cports:
        await wait_for(functools.partial(_ended, ctx, port, cport))


# ---------------------------------------------------------------------------- the steps


async def step_ping(ctx: Ctx, head: str) -> None:
    await _ping(ctx, head, M_ADDR, "ICMP, RFC 792", "ICMP，RFC 792")


async def step_ping6(ctx: Ctx, head: str) -> None:
    await _ping(ctx, head, M_ADDR6, "ICMPv6, RFC 4443, on the same link", "ICMPv6，RFC 4443，同一条链路")


async def _ping(ctx: Ctx, head: str, addr: str, what: str, what_zh: str) -> None:
    ping = Ping(addr)
    ctx.say(f"\n{head} The {peer_name(ctx)} pings the stack: {' '.join(ping.argv)}")
    mark = len(ctx.rec.events)
    run = await ctx.tool(ping, WAIT + 5)
    show(ctx, mark)
    for line in run.text.splitlines():
        if "transmitted" in line or line.startswith("rtt"):
            ctx.say(f"  ping says: {line}")
    if run.missing:
        ctx.check(False, "ping is not installed (Debian: apt-get install iputils-ping)",
                  "没有安装 ping（Debian：apt-get install iputils-ping）")
        return
    ok = run.returncode == 0 and f" {ping.count} received" in run.text
    why = "" if ok else f"; ping exited with status {run.returncode}: {run.stderr}"
    ctx.check(ok, f"three echo requests, three echo replies ({what}){why}",
              f"三个回显请求，三个回显应答（{what_zh}）{why}")


async def step_closed_port(ctx: Ctx, head: str) -> None:
    ctx.say(f"\n{head} The {peer_name(ctx)} connects to {M_ADDR} port {CLOSED_PORT}, where nothing listens: "
            "the stack must answer the SYN with a reset, as Linux does.")
    mark = len(ctx.rec.events)
    start = ctx.now()
    error: BaseException | None = None
    try:
        side = await ctx.connect(CLOSED_PORT, WAIT)
    except (OSError, trio.TooSlowError) as e:
        error = e
    else:
        await side.close()
    took = (ctx.now() - start) * 1000
    show(ctx, mark)
    refused = isinstance(error, OSError) and error.errno == errno.ECONNREFUSED
    if refused:
        what = f"connect() failed with ECONNREFUSED after {took:.1f} ms: the SYN got an RST|ACK."
        zh = f"connect() 在 {took:.1f} 毫秒后以 ECONNREFUSED 失败：SYN 收到了 RST|ACK。"
    else:
        got = "it was accepted" if error is None else f"got {shown(error)}"
        what = f"connect() to port {CLOSED_PORT}, where nothing listens, should fail with ECONNREFUSED: {got}"
        zh = f"连接没有监听的端口 {CLOSED_PORT} 应以 ECONNREFUSED 失败：{got}"
    ctx.check(refused, what, zh)


async def _read_all(side: Side, want: int | None = None) -> bytes:
    """Read until `want` bytes came (or, without it, the other end's FIN), an error or a timeout."""
    got = b""
    while want is None or len(got) < want:
        chunk = await side.recv(65536, timeout=WAIT)
        if not isinstance(chunk, bytes) or not chunk:
            break
        got += chunk
    return got


async def step_echo(ctx: Ctx, head: str) -> None:
    message = b"hello, minitcp!\n"
    ctx.say(f"\n{head} A Python socket client on the {peer_name(ctx)}'s side sends {message!r} to the "
            f"echo server (port {ECHO_PORT}), reads it back, then closes first.")
    mark = len(ctx.rec.events)
    try:
        side = await ctx.connect(ECHO_PORT, WAIT)
    except (OSError, trio.TooSlowError) as e:
        ctx.check(False, f"the echo exchange failed: {shown(e)}", f"回显交换失败：{shown(e, 'zh')}")
        return
    await side.send(message)
    echoed = await _read_all(side, len(message))
    show(ctx, mark)
    await show_peer(ctx, side.port, "before closing")
    mark = len(ctx.rec.events)
    await side.close()  # the peer sends its FIN first
    ctx.say("    the client calls close():")
    closed = await wait_for(lambda: State.CLOSED in ours(ctx, ECHO_PORT, side.port))
    show(ctx, mark)
    peer = await show_peer(ctx, side.port, "after both closed")
    path = ours(ctx, ECHO_PORT, side.port)
    ctx.say(f"    minitcp's end went {names(path)}")
    ctx.check(echoed == message, f"the echo came back: {shown(echoed.strip())}",
              f"回显原样返回：{shown(echoed.strip(), 'zh')}")
    passive = [State.CLOSE_WAIT, State.LAST_ACK, State.CLOSED]
    ctx.check(closed and path[-3:] == passive,
              f"the {peer_name(ctx)} closed first, so minitcp was the passive closer: CLOSE-WAIT (FIN "
              "received), LAST-ACK (its own FIN sent), CLOSED (that FIN acknowledged); it went "
              f"{names(path)}.",
              f"对端先关闭，minitcp 是被动关闭方：CLOSE-WAIT（收到 FIN）、LAST-ACK（发出自己的 FIN）、"
              f"CLOSED（该 FIN 被确认）；实际经过 {names(path)}。")
    if peer is not None:
        ctx.check(peer == ["TIME-WAIT"],
                  f"the {peer_name(ctx)}, the active closer, waits in TIME-WAIT (60 s on Linux) so that a "
                  f"late segment of this connection cannot be taken for part of a new one; ss shows "
                  f"{peer or 'nothing'}.",
                  "对端是主动关闭方，停在 TIME-WAIT（Linux 上 60 秒），"
                  f"以免这个连接迟到的报文被当成新连接的；ss 显示 {peer or '无'}。")


async def step_http_close(ctx: Ctx, head: str) -> None:
    ctx.say(f"\n{head} A Python socket client asks the HTTP server (port {HTTP_PORT}) for / with "
            "`Connection: close`: this time minitcp closes first.")
    request = f"GET / HTTP/1.1\r\nHost: {M_ADDR}\r\nConnection: close\r\n\r\n".encode()
    mark = len(ctx.rec.events)
    try:
        side = await ctx.connect(HTTP_PORT, WAIT)
    except (OSError, trio.TooSlowError) as e:
        ctx.check(False, f"the HTTP exchange failed: {shown(e)}", f"HTTP 交换失败：{shown(e, 'zh')}")
        return
    await side.send(request)
    response = await _read_all(side)  # until minitcp's FIN
    status = response.split(b"\r\n", 1)[0].decode(errors="replace")
    fin_wait_2 = await wait_for(lambda: State.FIN_WAIT_2 in ours(ctx, HTTP_PORT, side.port))
    show(ctx, mark)
    ctx.say(f"    the client read {len(response)} bytes ({status}), then end of file: minitcp's FIN.")
    peer_mid = await show_peer(ctx, side.port, "before the client closes")
    mark = len(ctx.rec.events)
    ctx.say("    the client calls close():")
    await side.close()
    timewait = await wait_for(lambda: State.TIME_WAIT in ours(ctx, HTTP_PORT, side.port))
    await peer_gone(ctx, side.port)  # minitcp's ACK of the peer's FIN is still on its way
    show(ctx, mark)
    peer_end = await show_peer(ctx, side.port, "after the client closed too")
    mine = [row for row in ctx.minitcp_ss(HTTP_PORT) if row.peer == f"{P_ADDR}:{side.port}"]
    ctx.say(f"    minitcp, now: `minitcp ss` shows {', '.join(map(str, mine)) or 'nothing'}")
    path = ours(ctx, HTTP_PORT, side.port)
    ctx.say(f"    minitcp's end went {names(path)}")
    ctx.check(status == "HTTP/1.1 200 OK", f"{status}, {len(response)} bytes (HTTP/1.1 200 OK expected)",
              f"{status}，{len(response)} 字节（应为 HTTP/1.1 200 OK）")
    active = [State.FIN_WAIT_1, State.FIN_WAIT_2, State.TIME_WAIT]
    ctx.check(fin_wait_2 and timewait and path[-3:] == active,
              "minitcp closed first: FIN-WAIT-1 (FIN sent), FIN-WAIT-2 (FIN acknowledged), TIME-WAIT "
              f"(the {peer_name(ctx)}'s FIN received): minitcp now waits out 2MSL; it went {names(path)}.",
              "minitcp 先关闭：FIN-WAIT-1（发出 FIN）、FIN-WAIT-2（FIN 被确认）、"
              f"TIME-WAIT（收到对端的 FIN）：现在由 minitcp 等待 2MSL；实际经过 {names(path)}。")
    ctx.check(any(row.state == "TIME-WAIT" and "timer:(timewait," in row.timer for row in mine),
              "`minitcp ss` lists minitcp's TIME-WAIT entry with its timer.",
              "`minitcp ss` 列出了 minitcp 的 TIME-WAIT 条目及其计时器。")
    if peer_mid is not None and peer_end is not None:
        ctx.check(peer_mid == ["CLOSE-WAIT"] and peer_end == [],
                  f"the {peer_name(ctx)} was the passive closer: CLOSE-WAIT until its application closed, "
                  f"then LAST-ACK, and gone once minitcp acknowledged its FIN; ss showed {peer_mid}, "
                  f"{peer_end}.",
                  f"对端是被动关闭方：应用关闭前处于 CLOSE-WAIT，然后 LAST-ACK，minitcp 确认其 FIN 后消失；"
                  f"ss 显示 {peer_mid}，{peer_end}。")


async def step_curl(ctx: Ctx, head: str) -> None:
    await _curl(ctx, head, M_ADDR)


async def step_curl6(ctx: Ctx, head: str) -> None:
    await _curl(ctx, head, M_ADDR6)


async def _curl(ctx: Ctx, head: str, addr: str) -> None:
    curl = Curl(addr, ["/", "/bytes/1000000"], WAIT)
    six = "-6 " if curl.ipv6 else ""
    ctx.say(f"\n{head} curl fetches two URLs over one kept-alive connection: curl {six}{' '.join(curl.urls)}")
    mark = len(ctx.rec.events)
    run = await ctx.tool(curl, WAIT + 1)
    if run.missing:
        ctx.say(f"  skipped: curl is not installed (Debian: apt-get install {curl.package})")
        return
    rows = [line.split() for line in run.text.splitlines() if line.strip()]
    cports = conversations(ctx, mark, HTTP_PORT, addr)
    await closed(ctx, HTTP_PORT, cports)  # curl exits without waiting for the close to finish
    show(ctx, mark)
    for row in rows:
        ctx.say(f"  curl says: {row[0]} -> status {row[1]}, {int(row[2]):,} bytes, new connections: {row[3]}")
    ok = (run.returncode == 0 and len(rows) == 2 and [r[1] for r in rows] == ["200", "200"]
          and rows[1][2] == "1000000" and len(cports) == 1)
    why = "" if ok else f"; curl exited {run.returncode} ({run.stderr}) with {rows}"
    ctx.check(ok, "two 200 responses, the megabyte complete, one TCP connection (HTTP keep-alive): "
              f"{len(cports)} connection(s){why}.",
              "两个 200 响应，1 MB 完整收到，只用一个 TCP 连接（HTTP keep-alive）："
              f"{len(cports)} 个连接{why}。")


async def step_nc(ctx: Ctx, head: str) -> None:
    nc = Nc(M_ADDR, ECHO_PORT, b"nc was here\n", WAIT)
    ctx.say(f"\n{head} nc sends a line to the echo server and half-closes: "
            f"printf 'nc was here\\n' | {' '.join(nc.argv)}")
    mark = len(ctx.rec.events)
    run = await ctx.tool(nc, WAIT + 1)
    if run.missing:
        ctx.say(f"  skipped: nc is not installed (Debian: apt-get install {nc.package})")
        return
    cports = conversations(ctx, mark, ECHO_PORT)
    await closed(ctx, ECHO_PORT, cports)  # nc exits once it has read the FIN, before its last ACK
    show(ctx, mark)
    ok = run.stdout == nc.stdin and len(cports) == 1
    why = "" if ok else f"; nc exited {run.returncode}: {run.stderr}"
    line = shown(run.stdout.strip())
    ctx.check(ok, f"nc got its line back ({line}) after its shutdown(SHUT_WR): a half-closed "
              f"connection still receives{why}.",
              f"nc 在 shutdown(SHUT_WR) 之后仍收回了它的一行（{line}）：半关闭的连接还能接收{why}。")


async def step_timewait(ctx: Ctx, head: str) -> None:
    ctx.say(f"\n{head} {TIMEWAIT_LEN:g} s of virtual time pass: TIME-WAIT (2MSL on Linux) runs out on both.")
    mark = len(ctx.rec.events)
    await ctx.wait(TIMEWAIT_LEN + 1)
    show(ctx, mark)
    left = await ctx.timewait("m") + await ctx.timewait("p")
    ctx.check(left == 0, f"no TIME-WAIT entries are left on either stack ({left} left).",
              f"两个协议栈上都没有剩下 TIME-WAIT 条目（剩 {left} 个）。")


# ---------------------------------------------------------------------------- the story


async def story(ctx: Ctx) -> None:
    echo, http = EchoServer(), HttpServer()
    # Both families: the servers take IPv4 and IPv6 clients (AF_INET6, IPV6_V6ONLY off).
    await ctx.serve(echo, ECHO_PORT, socket.AF_INET6)
    await ctx.serve(http, HTTP_PORT, socket.AF_INET6)
    if ctx.sim:
        ctx.faults([f"delay:dir=out,ms={ONE_WAY_MS}", f"delay:dir=in,ms={ONE_WAY_MS}"])
        ctx.say(f"minitcp demo --sim: two minitcp stacks on a memory link ({ONE_WAY_MS} ms each way), in "
                f"virtual time.\nThe peer {P_ADDR} ({P_ADDR6}) stands where the kernel stands in the TUN "
                f"demo; minitcp {M_ADDR} ({M_ADDR6}) runs echo (port {ECHO_PORT}) and HTTP (port "
                f"{HTTP_PORT}), and its tools (ping, curl, nc) are done with the peer's own sockets.")
    else:
        ctx.say(f"minitcp demo: in a private network namespace, the kernel is {P_ADDR} and {P_ADDR6} on a "
                f"TUN device and minitcp answers as {M_ADDR} and {M_ADDR6},\nwith an echo server on port "
                f"{ECHO_PORT} and an HTTP server on port {HTTP_PORT}.")
    ctx.say("Packets are shown as tcpdump at minitcp would (time since the demo began); the lines between "
            "them are\nthe state changes of minitcp's end of the connection (and, with --sim, the peer's).")
    steps = [step_ping, step_ping6, step_closed_port, step_echo, step_http_close, step_curl, step_curl6,
             step_nc]
    if ctx.sim:  # 60 s of TIME-WAIT cost nothing in virtual time
        steps.append(step_timewait)
    with trio.move_on_after(math.inf if ctx.sim else LIMIT) as scope:
        for n, step in enumerate(steps, 1):
            told = len(ctx.checks)
            await step(ctx, f"[{n}/{len(steps)}]")
            for check in ctx.checks[told:]:
                ctx.say(check_line(check))
    if scope.cancelled_caught:
        ctx.check(False, f"the demo took more than {LIMIT:g} s", f"演示用了超过 {LIMIT:g} 秒")
        ctx.say(check_line(ctx.checks[-1]))
    in_, out = len(ctx.rec.packets(HOST, "in")), len(ctx.rec.packets(HOST, "out"))
    accepted, resets = ctx.counter("m", "PassiveOpens"), ctx.counter("m", "OutRsts")
    ctx.say(f"\nminitcp: {in_} packets in, {out} out; TCP: {accepted} connections accepted, {resets} resets "
            f"sent, {ctx.counter('m', 'RetransSegs')} segments retransmitted; servers: echo "
            f"{echo.connections}, http {http.connections} connections "
            f"({http.requests} requests)")
    ctx.check(echo.errors == 0 and http.errors == 0,
              f"no server handler raised ({echo.errors + http.errors} did; see the log above)",
              f"服务器处理函数没有抛出异常（{echo.errors + http.errors} 个抛出了，见上面的日志）")
    ctx.say(check_line(ctx.checks[-1]))


DEMO = Lab(
    "demo", "make demo", "The peer's clients talk to minitcp's servers",
    "对端的客户端与 minitcp 的服务器对话", story,
    "ping and ping -6, a closed port, an echo round trip where the peer closes first, an HTTP request "
    "with `Connection: close` where minitcp closes first, curl and curl -6 over one kept-alive "
    "connection and nc half-closing: each answered as a Linux host would.",
    "ping 与 ping -6、连接没有监听的端口、对端先关闭的回显、minitcp 先关闭的 HTTP 请求（Connection: close）、"
    "curl 与 curl -6 复用一个 keep-alive 连接、nc 半关闭：每一步都像 Linux 主机那样应答。",
    group="demo", kernel_seconds=LIMIT, packets=True,
)
