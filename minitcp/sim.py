"""`minitcp demo --sim`: the demo's story between two minitcp stacks, in virtual time, with no TUN.

Where the machine gives no TUN device (no /dev/net/tun, or neither root nor
user namespaces), `minitcp demo` falls back to this. A client stack
(198.18.0.1, standing where the kernel stands in the real demo) and a server
stack (198.18.0.2, with the echo and HTTP servers) share a memory link with
5 ms each way; Trio's MockClock runs the clock, so the 60 s of TIME-WAIT
pass in an instant and every run prints the same times. Shown: a SYN to a
closed port, an echo round trip where the client closes first, an HTTP
request with `Connection: close` where the server closes first, and
TIME-WAIT running out; each as tcpdump lines with both ends' states between
them and `minitcp ss` tables at the key moments. Exits 0 only if every
check held.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

import trio
from trio.testing import MockClock

from .apps import EchoServer, HttpServer
from .faults import FaultInjector, FaultyLink, parse_rule
from .link.memory import memory_link_pair
from .stack import Stack
from .tcp.observer import BaseObserver
from .tcp.states import State
from .trace.ss import ss
from .trace.tcpdump import describe_packet

SERVER = "198.18.0.2"  # minitcp with the servers, as in the real demo
CLIENT = "198.18.0.1"  # the other minitcp, where the kernel stood
ECHO_PORT, HTTP_PORT, CLOSED_PORT = 7, 80, 8080
ONE_WAY = 5  # ms of latency each way, so the ladder has an order to read
STEPS = 4
FORCE_ENV = "MINITCP_DEMO_SIM"  # set to 1: `minitcp demo` behaves as on a machine without TUN


def tun_problem() -> str | None:
    """Why this machine cannot run the TUN demo, found without touching anything; None if it may.

    What only trying can tell (unshare refused, /dev/net/tun not openable) is
    caught where the demo tries, and falls back the same way.
    """
    if os.environ.get(FORCE_ENV, "") not in ("", "0"):
        return f"{FORCE_ENV} is set"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    return None


def fallback(reason: str) -> int:
    """The one-line notice, then the simulated demo."""
    print(f"minitcp demo: no TUN access here ({reason}); running the same demo simulated instead "
          "(`minitcp demo --sim`: two minitcp stacks, memory link, virtual time)", flush=True)
    return main()


@dataclass
class Event:
    now: float
    packet: bytes | None = None
    side: str = ""  # for a state change: "client" or "server"
    port: int = 0
    change: tuple[State, State] | None = None
    key: tuple[int, int] | None = None  # (server port, client port) of the change


class Recorder:
    """One ordered record of the wire (as seen at the server) and both ends' state changes."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_packet(self, direction: str, pkt: bytes | memoryview, now: float) -> None:
        self.events.append(Event(now, packet=bytes(pkt)))

    def observer(self, side: str) -> _SideObserver:
        return _SideObserver(self, side)

    def mark(self) -> int:
        return len(self.events)

    def states(self, side: str, key: tuple[int, int]) -> list[State]:
        out: list[State] = []
        for e in self.events:
            if e.change is not None and e.side == side and e.key == key:
                out += [e.change[0]] if not out else []
                out.append(e.change[1])
        return out


class _SideObserver(BaseObserver):
    def __init__(self, rec: Recorder, side: str) -> None:
        self.rec, self.side = rec, side

    def on_state(self, conn: Any, old: State, new: State, now: float) -> None:
        _, lport, _, rport = conn.four_tuple  # a Connection or a TIME_WAIT entry
        key = (lport, rport) if self.side == "server" else (rport, lport)
        self.rec.events.append(Event(now, side=self.side, port=lport, change=(old, new), key=key))


def say(text: str = "") -> None:
    print(text, flush=True)


def _name(state: State) -> str:
    return "CLOSED" if state == State.CLOSED else state.ss_name


def show(events: list[Event], t0: float) -> None:
    """tcpdump lines (virtual time since the story began) with the state changes between them."""
    for e in events:
        if e.packet is not None:
            d = e.now - t0
            say(f"    {int(d // 60):02d}:{d % 60:09.6f} {describe_packet(e.packet)}")
        elif e.change is not None:
            addr = SERVER if e.side == "server" else CLIENT
            old, new = e.change
            say(f"                           {e.side} {addr}.{e.port}: {_name(old)} -> {_name(new)}")


def show_ss(stack: Stack, who: str) -> str:
    table = ss(stack.engine, now=stack.now())
    say(f"    `minitcp ss` on the {who} ({stack.address}):")
    for line in table.splitlines():
        say(f"      {line}")
    return table


class Checks:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, ok: bool, good: str, bad: str) -> None:
        say(f"  OK: {good}" if ok else f"  FAILED: {bad}")
        if not ok:
            self.failed.append(bad)


def _names(states: list[State]) -> str:
    return " -> ".join(_name(s) for s in states) or "nowhere"


def _delayed(link: FaultyLink | object) -> FaultyLink:
    # A delay rule on what each side sends: 5 ms each way, TCP only (there is no ICMP here).
    return FaultyLink(link, FaultInjector([parse_rule(f"delay:dir=out,ms={ONE_WAY}")]))  # type: ignore[arg-type]


async def run_story() -> bool:
    rec = Recorder()
    a_end, b_end = memory_link_pair()
    server = Stack(_delayed(a_end), SERVER, observer=rec.observer("server"), on_packet=rec.on_packet)
    client = Stack(_delayed(b_end), CLIENT, observer=rec.observer("client"))
    checks = Checks()
    echo, http = EchoServer(), HttpServer()
    t0 = trio.current_time()
    say(f"minitcp demo --sim: two minitcp stacks on a memory link ({ONE_WAY} ms each way), in virtual time.\n"
        f"The client {CLIENT} stands where the kernel stands in the TUN demo; the server {SERVER} runs\n"
        f"echo (port {ECHO_PORT}) and HTTP (port {HTTP_PORT}). Packets are as tcpdump at the server would "
        "show them\n(virtual time); the lines between them are the state changes of each end.")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.run)
        nursery.start_soon(client.run)
        await nursery.start(echo.serve, server, ECHO_PORT)
        await nursery.start(http.serve, server, HTTP_PORT)

        # 1. a closed port
        say(f"\n[1/{STEPS}] The client connects to port {CLOSED_PORT}, where nothing listens: a reset.")
        mark = rec.mark()
        sock = client.socket()
        try:
            await sock.connect((SERVER, CLOSED_PORT))
            refused = False
        except OSError as e:
            refused = e.errno == errno.ECONNREFUSED
        sock.close()
        show(rec.events[mark:], t0)
        checks.check(refused, "connect() failed with ECONNREFUSED: the SYN got an RST|ACK.",
                     "connect() to a closed port should fail with ECONNREFUSED")

        # 2. echo, the client closes first
        message = b"hello, minitcp!\n"
        say(f"\n[2/{STEPS}] The client sends {message!r} to the echo server, reads it back, then closes "
            "first.")
        mark = rec.mark()
        sock = client.socket()
        await sock.connect((SERVER, ECHO_PORT))
        key = (ECHO_PORT, sock.getsockname()[1])
        await sock.sendall(message)
        echoed = b""
        while len(echoed) < len(message):
            chunk = await sock.recv(4096)
            if not chunk:
                break
            echoed += chunk
        sock.close()
        await trio.sleep(1)  # virtual: long enough for the FINs and ACKs (and delayed ACKs)
        show(rec.events[mark:], t0)
        client_table = show_ss(client, "client")
        ours, theirs = rec.states("server", key), rec.states("client", key)
        say(f"    server went {_names(ours)}\n    client went {_names(theirs)}")
        checks.check(echoed == message, f"the echo came back: {echoed!r}",
                     f"the echo came back as {echoed!r}")
        checks.check(ours[-3:] == [State.CLOSE_WAIT, State.LAST_ACK, State.CLOSED]
                     and theirs[-3:] == [State.FIN_WAIT_1, State.FIN_WAIT_2, State.TIME_WAIT],
                     "the client closed first: it waits in TIME-WAIT; the server went CLOSE-WAIT, LAST-ACK, "
                     "CLOSED.", f"unexpected states: server {_names(ours)}, client {_names(theirs)}")
        checks.check("TIME-WAIT" in client_table and "timer:(timewait," in client_table,
                     "`ss` on the client lists the TIME-WAIT entry with its timer.",
                     "the client's ss table has no TIME-WAIT row with a timewait timer")

        # 3. HTTP with Connection: close, the server closes first
        say(f"\n[3/{STEPS}] The client asks the HTTP server for / with `Connection: close`: this time the "
            "server closes first.")
        mark = rec.mark()
        sock = client.socket()
        await sock.connect((SERVER, HTTP_PORT))
        key = (HTTP_PORT, sock.getsockname()[1])
        await sock.sendall(f"GET / HTTP/1.1\r\nHost: {SERVER}\r\nConnection: close\r\n\r\n".encode())
        response = b""
        while chunk := await sock.recv(65536):  # until the server's FIN
            response += chunk
        sock.close()
        await trio.sleep(1)
        show(rec.events[mark:], t0)
        server_table = show_ss(server, "server")
        ours, theirs = rec.states("server", key), rec.states("client", key)
        status = response.split(b"\r\n", 1)[0].decode(errors="replace")
        say(f"    the client read {len(response)} bytes ({status}), then end of file: the server's FIN.")
        say(f"    server went {_names(ours)}\n    client went {_names(theirs)}")
        checks.check(status == "HTTP/1.1 200 OK", f"{status}, {len(response)} bytes",
                     f"expected HTTP/1.1 200 OK, got {status!r}")
        checks.check(ours[-3:] == [State.FIN_WAIT_1, State.FIN_WAIT_2, State.TIME_WAIT]
                     and theirs[-3:] == [State.CLOSE_WAIT, State.LAST_ACK, State.CLOSED],
                     "the server closed first: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT; the client went "
                     "CLOSE-WAIT, LAST-ACK, CLOSED.",
                     f"unexpected states: server {_names(ours)}, client {_names(theirs)}")
        checks.check("TIME-WAIT" in server_table and "timer:(timewait," in server_table,
                     "`ss` on the server now lists its own TIME-WAIT entry.",
                     "the server's ss table has no TIME-WAIT row with a timewait timer")

        # 4. TIME-WAIT runs out
        wait = server.knobs.tcp_timewait_len
        say(f"\n[4/{STEPS}] {wait:g} s of virtual time pass: TIME-WAIT (2MSL on Linux) runs out on both.")
        mark = rec.mark()
        await trio.sleep(wait + 1)
        show(rec.events[mark:], t0)
        left = len(server.engine.timewait_entries()) + len(client.engine.timewait_entries())
        checks.check(left == 0, "no TIME-WAIT entries are left on either stack.",
                     f"{left} TIME-WAIT entries are still there")
        nursery.cancel_scope.cancel()

    counters = server.engine.counters
    say(f"\nserver: {server.counters['InReceives']} packets in, {server.counters['OutRequests']} out; "
        f"TCP: {counters['PassiveOpens']} connections accepted, {counters['OutRsts']} resets sent, "
        f"{counters['RetransSegs']} retransmitted; servers: echo {echo.connections}, http {http.connections}")
    if echo.errors or http.errors:
        checks.failed.append("a server failed")
        say("  FAILED: a server handler raised (see the log above)")
    if checks.failed:
        say(f"demo --sim FAILED: {len(checks.failed)} check(s) did not hold; see the steps marked FAILED.")
        return False
    say("demo --sim passed: both minitcp ends went through the states Linux would.")
    return True


def main() -> int:
    # autojump: whenever every task waits, the clock jumps to the next deadline, so 60 s pass at once.
    passed = trio.run(run_story, clock=MockClock(autojump_threshold=0))
    return 0 if passed else 1
