"""`minitcp demo` (what `make demo` runs): watch real kernel clients talk to minitcp.

In a private network namespace the stack comes up on a TUN device with an
echo server (port 7) and an HTTP server (port 80). The kernel then pings it,
connects to a closed port, and talks to the servers with a Python socket
client, curl and nc. For each TCP conversation the demo prints the handshake
and the close as tcpdump would show them, interleaved with the states minitcp
passed through (from an engine observer), and what `ss -tan` says about the
kernel's end at the key moments. It exits 0 only if every check held.
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import time
from collections.abc import Callable
from typing import Any

import trio

from .apps import EchoServer, HttpServer
from .link.tun import LinkError, TunLink
from .netns import NetnsError, enter_private_netns, in_private_netns
from .sim import fallback, tun_problem
from .sim import main as sim_main
from .stack import Stack
from .tcp.observer import BaseObserver
from .tcp.states import State
from .trace.tcpdump import describe_packet
from .wire.errors import WireError
from .wire.ipv4 import PROTO_TCP
from .wire.segment import FIN, RST, SYN
from .wire.tcp import parse_tcp_packet

DEV = "mtcp0"
ADDR = "198.18.0.2"  # minitcp
PEER = "198.18.0.1"  # the kernel
ECHO_PORT = 7
HTTP_PORT = 80
CLOSED_PORT = 8080  # nothing listens here
STEPS = 6
WAIT = 3.0  # seconds any one exchange may take before the demo calls it failed
SHOW_ALL = 14  # a conversation with at most this many packets is shown whole
Key = tuple[int, int]  # (minitcp's port, the kernel's port): one conversation


@dataclasses.dataclass
class Event:
    key: Key | None  # None: not TCP (ICMP)
    now: float
    packet: bytes | None = None  # a packet in or out; else a state change of minitcp's end
    flags: int = 0
    change: tuple[State, State] | None = None


class Recorder(BaseObserver):
    """The stack's `on_packet` hook and the engine's observer at once: one ordered record."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    # -- Stack.on_packet
    def on_packet(self, direction: str, pkt: bytes | memoryview, now: float) -> None:
        pkt = bytes(pkt)
        key, flags = None, 0
        if len(pkt) >= 20 and pkt[0] >> 4 == 4 and pkt[9] == PROTO_TCP:
            try:
                seg = parse_tcp_packet(pkt)
            except WireError:
                pass
            else:
                key = (seg.dport, seg.sport) if direction == "in" else (seg.sport, seg.dport)
                flags = seg.flags
        self.events.append(Event(key, now, packet=pkt, flags=flags))

    # -- Observer
    def on_state(self, conn: Any, old: State, new: State, now: float) -> None:
        _, lport, _, rport = conn.four_tuple  # a Connection or a TIME_WAIT entry
        self.events.append(Event((lport, rport), now, change=(old, new)))

    # -- reading the record
    def mark(self) -> int:
        return len(self.events)

    def since(self, mark: int) -> list[Event]:
        return self.events[mark:]

    def states(self, key: Key) -> list[State]:
        """minitcp's states for this conversation, in order, the first one included."""
        out: list[State] = []
        for e in self.events:
            if e.key == key and e.change is not None:
                if not out:
                    out.append(e.change[0])
                out.append(e.change[1])
        return out

    def conversations(self, mark: int, port: int | None = None) -> list[Key]:
        keys: list[Key] = []
        for e in self.events[mark:]:
            if e.key is not None and e.key not in keys and (port is None or e.key[0] == port):
                keys.append(e.key)
        return keys


def say(text: str = "") -> None:
    print(text, flush=True)


def _rel(t: float, t0: float) -> str:
    # tcpdump -ttttt: time since the first packet shown
    d = max(t - t0, 0.0)
    return f"{int(d // 3600):02d}:{int(d // 60) % 60:02d}:{d % 60:09.6f}"


def state_name(state: State) -> str:
    """`ss`'s name for a state, except CLOSED (which ss calls UNCONN)."""
    return "CLOSED" if state == State.CLOSED else state.ss_name


def show(events: list[Event], *, t0: float | None = None, indent: str = "    ") -> float | None:
    """Packets as tcpdump lines, minitcp's state changes between them; long middles summarised.

    Times are since `t0` (default: the first packet shown), which is returned.
    """
    packets = [e for e in events if e.packet is not None]
    if not packets:
        return t0
    if t0 is None:
        t0 = packets[0].now
    first_end = next((i for i, e in enumerate(packets) if e.flags & (FIN | RST)), len(packets))
    shown = {id(e) for i, e in enumerate(packets)
             if len(packets) <= SHOW_ALL or i < 3 or i >= first_end or e.flags & (SYN | FIN | RST)}
    skipped: list[Event] = []
    pad = " " * len(_rel(0, 0))

    def flush_skipped() -> None:
        if skipped:
            data = sum(_payload_len(e.packet) for e in skipped if e.packet)
            say(f"{indent}{pad} ... {len(skipped)} segments carrying {data:,} bytes of data ...")
            skipped.clear()

    for e in events:
        if e.packet is None:
            assert e.change is not None
            flush_skipped()
            old, new = e.change
            port = e.key[0] if e.key else "?"
            say(f"{indent}{pad}   minitcp {ADDR}.{port}: {state_name(old)} -> {state_name(new)}")
        elif id(e) in shown:
            flush_skipped()
            say(f"{indent}{_rel(e.now, t0)} {describe_packet(e.packet)}")
        else:
            skipped.append(e)
    flush_skipped()
    return t0


def _payload_len(pkt: bytes) -> int:
    try:
        return len(parse_tcp_packet(pkt).payload)
    except WireError:
        return 0


async def kernel_states(port: int) -> list[str] | None:
    """`ss -tan` lines for the kernel's sockets on `port` (its local port), or None without ss."""
    try:
        done = await trio.run_process(["ss", "-tanH"], capture_stdout=True, capture_stderr=True, check=False)
    except FileNotFoundError:
        return None
    rows = []
    for line in done.stdout.decode(errors="replace").splitlines():
        cols = line.split()
        if len(cols) >= 5 and cols[3] == f"{PEER}:{port}":
            rows.append(f"{cols[0]} {cols[3]} -> {cols[4]}")
    return rows


async def show_kernel(port: int, when: str) -> list[str]:
    """Print what ss says; returns the state names (empty when the socket is gone)."""
    rows = await kernel_states(port)
    if rows is None:
        say(f"    kernel, {when}: (ss is not installed: apt-get install iproute2)")
        return []
    seen = ", ".join(rows) if rows else "nothing: the socket is gone"
    say(f"    kernel, {when}: `ss -tan` shows {seen}")
    return [r.split()[0] for r in rows]


async def wait_for(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(0.005)
        return True
    return False


class Checks:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, ok: bool, good: str, bad: str) -> bool:
        if ok:
            say(f"  OK: {good}")
        else:
            say(f"  FAILED: {bad}")
            self.failed.append(bad)
        return ok


@dataclasses.dataclass
class Demo:
    stack: Stack
    rec: Recorder
    checks: Checks


# ---------------------------------------------------------------------------- the steps


async def step_ping(d: Demo) -> None:
    checks, rec = d.checks, d.rec
    command = ["ping", "-c", "3", "-i", "0.2", "-W", "1", "-w", "5", ADDR]
    say(f"\n[1/{STEPS}] The kernel pings the stack: {' '.join(command)}")
    mark = rec.mark()
    try:
        done = await trio.run_process(command, capture_stdout=True, capture_stderr=True, check=False)
    except FileNotFoundError:
        checks.check(False, "", "ping is not installed (Debian: apt-get install iputils-ping)")
        return
    show(rec.since(mark))
    output = done.stdout.decode(errors="replace")
    for line in output.splitlines():
        if "transmitted" in line or line.startswith("rtt"):
            say(f"  ping says: {line}")
    error = done.stderr.decode(errors="replace").strip()
    checks.check(done.returncode == 0 and " 3 received" in output,
                 "three echo requests, three echo replies (ICMP, RFC 792).",
                 f"ping exited with status {done.returncode}: {error}")


def _connect(port: int) -> None:
    with socket.create_connection((ADDR, port), timeout=WAIT):
        pass


async def step_closed_port(d: Demo) -> None:
    checks, rec = d.checks, d.rec
    say(f"\n[2/{STEPS}] The kernel connects to {ADDR} port {CLOSED_PORT}, where nothing listens: "
        "the stack must answer the SYN with a reset, as Linux does.")
    mark = rec.mark()
    start = time.monotonic()
    try:
        await trio.to_thread.run_sync(_connect, CLOSED_PORT)
    except ConnectionRefusedError:
        show(rec.since(mark))
        ms = (time.monotonic() - start) * 1000
        checks.check(True, f"connect() failed with ECONNREFUSED after {ms:.1f} ms: the SYN got an RST|ACK.",
                     "")
    except OSError as e:
        checks.check(False, "", f"expected ECONNREFUSED from port {CLOSED_PORT}, got {e!r}")
    else:
        checks.check(False, "", f"port {CLOSED_PORT} accepted the connection, but nothing listens there")


async def step_echo(d: Demo) -> None:
    checks, rec = d.checks, d.rec
    message = b"hello, minitcp!\n"
    say(f"\n[3/{STEPS}] A Python socket client in the kernel sends {message!r} to the echo server "
        f"(port {ECHO_PORT}), reads it back, then closes first.")
    mark = rec.mark()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(WAIT)
    try:
        await trio.to_thread.run_sync(sock.connect, (ADDR, ECHO_PORT))
        port = sock.getsockname()[1]
        key = (ECHO_PORT, port)
        await trio.to_thread.run_sync(sock.sendall, message)
        echoed = b""
        while len(echoed) < len(message):
            chunk = await trio.to_thread.run_sync(sock.recv, 4096)
            if not chunk:
                break
            echoed += chunk
    except OSError as e:
        sock.close()
        checks.check(False, "", f"the echo exchange failed: {e!r}")
        return
    t0 = show(rec.since(mark))
    await show_kernel(port, "before closing")
    mark = rec.mark()
    sock.close()  # the kernel sends its FIN first
    say("    the client calls close():")
    closed = await wait_for(lambda: State.CLOSED in rec.states(key))
    show(rec.since(mark), t0=t0)
    kernel = await show_kernel(port, "after both closed")
    ours = rec.states(key)
    say(f"    minitcp's end went {_names(ours)}")
    checks.check(echoed == message, f"the echo came back: {echoed!r}", f"the echo came back as {echoed!r}")
    want = [State.CLOSE_WAIT, State.LAST_ACK, State.CLOSED]
    checks.check(closed and ours[-3:] == want,
                 "the kernel closed first, so minitcp was the passive closer: CLOSE-WAIT (FIN received), "
                 "LAST-ACK (its own FIN sent), CLOSED (that FIN acknowledged).",
                 f"minitcp's end should end CLOSE-WAIT -> LAST-ACK -> CLOSED, it went {_names(ours)}")
    if kernel or await kernel_states(port) is not None:
        checks.check(kernel == ["TIME-WAIT"],
                     "the kernel, the active closer, waits in TIME-WAIT (60 s on Linux) so that a late "
                     "segment of this connection cannot be taken for part of a new one.",
                     f"the kernel's socket should be in TIME-WAIT, ss shows {kernel or 'nothing'}")


async def step_http_close(d: Demo) -> None:
    checks, rec = d.checks, d.rec
    say(f"\n[4/{STEPS}] A Python socket client asks the HTTP server (port {HTTP_PORT}) for / with "
        "`Connection: close`: this time minitcp closes first.")
    request = f"GET / HTTP/1.1\r\nHost: {ADDR}\r\nConnection: close\r\n\r\n".encode()
    mark = rec.mark()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(WAIT)
    response = b""
    try:
        await trio.to_thread.run_sync(sock.connect, (ADDR, HTTP_PORT))
        port = sock.getsockname()[1]
        key = (HTTP_PORT, port)
        await trio.to_thread.run_sync(sock.sendall, request)
        while True:  # until minitcp's FIN
            chunk = await trio.to_thread.run_sync(sock.recv, 65536)
            if not chunk:
                break
            response += chunk
    except OSError as e:
        sock.close()
        checks.check(False, "", f"the HTTP exchange failed: {e!r}")
        return
    status = response.split(b"\r\n", 1)[0].decode(errors="replace")
    fin_wait_2 = await wait_for(lambda: State.FIN_WAIT_2 in rec.states(key))
    t0 = show(rec.since(mark))
    say(f"    the client read {len(response)} bytes ({status}), then end of file: minitcp's FIN.")
    kernel_mid = await show_kernel(port, "before the client closes")
    mark = rec.mark()
    say("    the client calls close():")
    sock.close()
    timewait = await wait_for(lambda: State.TIME_WAIT in rec.states(key))
    show(rec.since(mark), t0=t0)
    kernel_end = await show_kernel(port, "after the client closed too")
    ours = rec.states(key)
    say(f"    minitcp's end went {_names(ours)}")
    checks.check(status == "HTTP/1.1 200 OK", f"{status}, {len(response)} bytes",
                 f"expected HTTP/1.1 200 OK, got {status!r}")
    active_close = [State.FIN_WAIT_1, State.FIN_WAIT_2, State.TIME_WAIT]
    checks.check(fin_wait_2 and timewait and ours[-3:] == active_close,
                 "minitcp closed first: FIN-WAIT-1 (FIN sent), FIN-WAIT-2 (FIN acknowledged), TIME-WAIT "
                 "(the kernel's FIN received): minitcp now waits out 2MSL, not the kernel.",
                 f"minitcp's end should end FIN-WAIT-1 -> FIN-WAIT-2 -> TIME-WAIT, it went {_names(ours)}")
    if await kernel_states(port) is not None:
        checks.check(kernel_mid == ["CLOSE-WAIT"] and kernel_end == [],
                     "the kernel was the passive closer: CLOSE-WAIT until its application closed, then "
                     "LAST-ACK, and gone once minitcp acknowledged its FIN.",
                     f"the kernel should be in CLOSE-WAIT, then gone; ss showed {kernel_mid}, {kernel_end}")


async def step_curl(d: Demo) -> None:
    checks, rec = d.checks, d.rec
    urls = [f"http://{ADDR}/", f"http://{ADDR}/bytes/1000000"]
    command = ["curl", "-sS", "--max-time", str(WAIT), "-w",
               "%{url_effective} %{http_code} %{size_download} %{num_connects}\\n", "-o", "/dev/null",
               "-o", "/dev/null", *urls]
    say(f"\n[5/{STEPS}] curl fetches two URLs over one kept-alive connection: curl {' '.join(urls)}")
    if shutil.which("curl") is None:
        say("  skipped: curl is not installed (Debian: apt-get install curl)")
        return
    mark = rec.mark()
    done = await trio.run_process(command, capture_stdout=True, capture_stderr=True, check=False)
    rows = [line.split() for line in done.stdout.decode(errors="replace").splitlines() if line.strip()]
    keys = rec.conversations(mark, HTTP_PORT)
    for key in keys:  # curl exits without waiting for the close to finish
        await wait_for(lambda key=key: State.CLOSED in rec.states(key) or State.TIME_WAIT in rec.states(key))
    show(rec.since(mark))
    for row in rows:
        say(f"  curl says: {row[0]} -> status {row[1]}, {int(row[2]):,} bytes, new connections: {row[3]}")
    ok = (done.returncode == 0 and len(rows) == 2 and [r[1] for r in rows] == ["200", "200"]
          and rows[1][2] == "1000000" and len(keys) == 1)
    error = done.stderr.decode(errors="replace").strip()
    checks.check(ok, "two 200 responses, the megabyte complete, one TCP connection (HTTP keep-alive).",
                 f"curl exited {done.returncode} ({error}) with {rows}, over {len(keys)} connection(s)")


async def step_nc(d: Demo) -> None:
    checks, rec = d.checks, d.rec
    message = b"nc was here\n"
    say(f"\n[6/{STEPS}] nc sends a line to the echo server and half-closes: "
        f"printf 'nc was here\\n' | nc -N {ADDR} {ECHO_PORT}")
    if shutil.which("nc") is None:
        say("  skipped: nc is not installed (Debian: apt-get install netcat-openbsd)")
        return
    mark = rec.mark()
    command = ["nc", "-N", "-w", str(int(WAIT)), ADDR, str(ECHO_PORT)]
    with trio.move_on_after(WAIT + 1):
        done = await trio.run_process(command, stdin=message, capture_stdout=True, capture_stderr=True,
                                      check=False)
        keys = rec.conversations(mark, ECHO_PORT)
        show(rec.since(mark))
        checks.check(done.stdout == message and len(keys) == 1,
                     f"nc got its line back ({done.stdout!r}) after its shutdown(SHUT_WR): a half-closed "
                     "connection still receives.",
                     f"nc exited {done.returncode} with {done.stdout!r} {done.stderr!r}")
        return
    checks.check(False, "", "nc did not finish in time")


def _names(states: list[State]) -> str:
    return " -> ".join(state_name(s) for s in states) or "nowhere"


async def run_steps(link: TunLink) -> bool:
    say(f"minitcp demo: in a private network namespace, the kernel is {PEER} on TUN device {link.name} "
        f"and minitcp answers as {ADDR},\nwith an echo server on port {ECHO_PORT} and an HTTP server on port "
        f"{HTTP_PORT}. Packets are shown as tcpdump would (time since the first one);\n"
        "lines starting `minitcp` are the state changes of minitcp's end of the connection.")
    rec = Recorder()
    stack = Stack(link, ADDR, observer=rec, on_packet=rec.on_packet)  # type: ignore[arg-type]
    checks = Checks()
    demo = Demo(stack, rec, checks)
    echo, http = EchoServer(), HttpServer()
    try:
        with trio.fail_after(25):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(stack.run)
                await nursery.start(echo.serve, stack, ECHO_PORT)
                await nursery.start(http.serve, stack, HTTP_PORT)
                for step in (step_ping, step_closed_port, step_echo, step_http_close, step_curl, step_nc):
                    await step(demo)
                nursery.cancel_scope.cancel()
    except trio.TooSlowError:
        checks.failed.append("the demo took more than 25 s")
        say("\n  FAILED: the demo took more than 25 s")
    counters = stack.engine.counters
    say(f"\nstack: {stack.counters['InReceives']} packets in, {stack.counters['OutRequests']} out; "
        f"TCP: {counters['PassiveOpens']} connections accepted, {counters['OutRsts']} resets sent, "
        f"{counters['RetransSegs']} segments retransmitted; servers: echo {echo.connections}, "
        f"http {http.connections} connections ({http.requests} requests)")
    if echo.errors or http.errors:
        checks.failed.append("a server failed")
        say("  FAILED: a server handler raised (see the log above)")
    if checks.failed:
        say(f"demo FAILED: {len(checks.failed)} check(s) did not hold; see the steps marked FAILED above.")
        return False
    say("demo passed: minitcp answered like a Linux host would.")
    return True


def main(sim: bool = False) -> int:
    if sim:
        return sim_main()
    if (problem := tun_problem()) is not None:  # no TUN here: the same story, simulated
        return fallback(problem)
    if not in_private_netns():
        try:
            enter_private_netns()
        except NetnsError as e:
            return fallback(str(e))  # neither root nor user namespaces: no TUN device to be had
    try:
        link = TunLink(DEV, peer=PEER)
    except (LinkError, ValueError) as e:
        return fallback(str(e))  # e.g. /dev/net/tun exists but may not be opened
    try:
        passed = trio.run(run_steps, link)
    finally:
        link.close()
    return 0 if passed else 1
