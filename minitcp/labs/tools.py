"""A story step that runs a kernel tool (ping, curl, nc) on the peer's side, and what it printed.

Against the kernel, `ctx.tool(Ping(...))` runs the real command in the lab's
network namespace. With `--sim` the peer is a second minitcp stack, which has
no processes to run: each tool then does the same exchange itself over that
stack (ICMP echo requests on its link, its own sockets for HTTP and nc), and
prints what the command would have, so a story reads the result one way.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from typing import Protocol

import trio

from minitcp.sockets import Socket
from minitcp.stack import Stack
from minitcp.wire.icmp import ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, build_icmp, parse_icmp
from minitcp.wire.icmpv6 import ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, build_icmpv6, parse_icmpv6
from minitcp.wire.ipv4 import PROTO_ICMP, build_ipv4, ip_int, parse_ipv4
from minitcp.wire.ipv6 import PROTO_ICMPV6, build_ipv6, ip6_int, parse_ipv6


@dataclasses.dataclass
class ToolRun:
    """What one tool run left behind, as its process would: exit status, output, errors."""

    argv: list[str]
    returncode: int
    stdout: bytes
    stderr: str
    missing: bool = False  # the command is not installed (the kernel run only)

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace")


class Tool(Protocol):
    stdin: bytes
    package: str  # where Debian has it, for the "not installed" hint

    @property
    def argv(self) -> list[str]: ...  # the command line, as the learner could type it

    async def simulate(self, peer: Stack) -> ToolRun: ...


async def run_kernel_tool(tool: Tool, timeout: float) -> ToolRun:
    """The real command, in this process's network namespace; killed after `timeout` seconds."""
    try:
        with trio.fail_after(timeout):
            done = await trio.run_process(tool.argv, stdin=tool.stdin, capture_stdout=True,
                                          capture_stderr=True, check=False)
    except FileNotFoundError:
        return ToolRun(tool.argv, 127, b"", f"{tool.argv[0]}: not installed", missing=True)
    except trio.TooSlowError:
        return ToolRun(tool.argv, -1, b"", f"{tool.argv[0]} did not finish in {timeout:g} s")
    return ToolRun(tool.argv, done.returncode, done.stdout, done.stderr.decode(errors="replace").strip())


@dataclasses.dataclass
class Ping:
    """`ping -c 3 -i 0.2`: three ICMP echo requests (RFC 792), 0.2 s apart; `ping -6` with ICMPv6
    (RFC 4443) for an IPv6 address."""

    addr: str
    count: int = 3
    interval: float = 0.2
    stdin: bytes = b""
    package: str = "iputils-ping"

    @property
    def argv(self) -> list[str]:
        six = ["-6"] if self.ipv6 else []
        return ["ping", *six, "-c", str(self.count), "-i", f"{self.interval:g}", "-W", "1", "-w", "5",
                self.addr]

    @property
    def ipv6(self) -> bool:
        return ":" in self.addr

    def _request(self, peer: Stack, ident: int, seq: int) -> bytes:
        if self.ipv6:
            assert peer.addr6 is not None
            dst = ip6_int(self.addr)
            request = build_icmpv6(peer.addr6, dst, ICMPV6_ECHO_REQUEST, 0, ident << 16 | seq, bytes(56))
            return build_ipv6(peer.addr6, dst, PROTO_ICMPV6, request)
        request = build_icmp(ICMP_ECHO_REQUEST, 0, ident << 16 | seq, bytes(56))
        return build_ipv4(peer.addr, ip_int(self.addr), PROTO_ICMP, request, df=False)

    @staticmethod
    def _reply(pkt: bytes | memoryview) -> int | None:
        """The identifier and sequence number of an echo reply, None for any other packet."""
        if len(pkt) >= 20 and pkt[0] >> 4 == 4 and pkt[9] == PROTO_ICMP:
            msg = parse_icmp(parse_ipv4(pkt).payload)
            return msg.rest_of_header if msg.type == ICMP_ECHO_REPLY else None
        if len(pkt) >= 48 and pkt[0] >> 4 == 6 and pkt[6] == PROTO_ICMPV6:
            ip = parse_ipv6(pkt)
            msg = parse_icmpv6(ip.payload, ip.src, ip.dst)
            return msg.rest_of_header if msg.type == ICMPV6_ECHO_REPLY else None
        return None

    async def simulate(self, peer: Stack) -> ToolRun:
        ident = os.getpid() & 0xFFFF  # as ping does, to tell its replies from another ping's
        replies: list[float] = []
        sent: dict[int, float] = {}
        hook = peer.on_packet

        def on_packet(direction: str, pkt: bytes | memoryview, now: float) -> None:
            if hook is not None:
                hook(direction, pkt, now)
            echo = self._reply(pkt) if direction == "in" else None
            if echo is not None and echo >> 16 == ident:
                replies.append(now - sent.get(echo & 0xFFFF, now))

        peer.on_packet = on_packet  # the peer's ICMP "socket": it hears the replies it asked for
        try:
            for seq in range(1, self.count + 1):
                sent[seq] = trio.current_time()
                peer.link.send(self._request(peer, ident, seq))
                await trio.sleep(self.interval)
            await trio.sleep(1)  # -W 1: the last reply may still come
        finally:
            peer.on_packet = hook
        lines = [f"{self.count} packets transmitted, {len(replies)} received"]
        if replies:
            ms = [r * 1000 for r in replies]
            lines.append(f"rtt min/avg/max = {min(ms):.3f}/{sum(ms) / len(ms):.3f}/{max(ms):.3f} ms")
        status = 0 if len(replies) == self.count else 1  # ping's: 1 when a reply is missing
        return ToolRun(self.argv, status, "".join(f"{line}\n" for line in lines).encode(), "")


@dataclasses.dataclass
class Curl:
    """curl fetching several URLs of one host: one kept-alive connection (HTTP/1.1), one line each;
    `curl -6` for an IPv6 address."""

    host: str
    paths: list[str]
    timeout: float
    stdin: bytes = b""
    package: str = "curl"

    @property
    def ipv6(self) -> bool:
        return ":" in self.host

    @property
    def authority(self) -> str:
        """The host as a URL and a Host header write it: an IPv6 address in brackets (RFC 3986)."""
        return f"[{self.host}]" if self.ipv6 else self.host

    @property
    def urls(self) -> list[str]:
        return [f"http://{self.authority}{path}" for path in self.paths]

    @property
    def argv(self) -> list[str]:
        write_out = "%{url_effective} %{http_code} %{size_download} %{num_connects}\\n"
        six = ["-6"] if self.ipv6 else []
        outputs = [arg for _ in self.urls for arg in ("-o", "/dev/null")]
        return ["curl", *six, "-sS", "--max-time", str(self.timeout), "-w", write_out, *outputs, *self.urls]

    async def simulate(self, peer: Stack) -> ToolRun:
        sock = Socket(peer, family=socket.AF_INET6 if self.ipv6 else socket.AF_INET)
        lines = []
        try:
            with trio.fail_after(self.timeout):
                await sock.connect((self.host, 80))
                buffered = b""
                for n, (url, path) in enumerate(zip(self.urls, self.paths, strict=True)):
                    await sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.authority}\r\n\r\n".encode())
                    while b"\r\n\r\n" not in buffered:
                        buffered += await sock.recv(65536)
                    head, buffered = buffered.split(b"\r\n\r\n", 1)
                    length = _content_length(head)
                    while len(buffered) < length:
                        buffered += await sock.recv(65536)
                    code = head.split(b" ", 2)[1].decode()
                    # num_connects: the connections this transfer had to open (0: it reused one)
                    lines.append(f"{url} {code} {length} {1 if n == 0 else 0}")
                    buffered = buffered[length:]
        except (OSError, trio.TooSlowError) as e:
            return ToolRun(self.argv, 28, "".join(f"{line}\n" for line in lines).encode(), repr(e))
        finally:
            sock.close()
        return ToolRun(self.argv, 0, "".join(f"{line}\n" for line in lines).encode(), "")


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@dataclasses.dataclass
class Nc:
    """`nc -N`: send stdin, shut down the sending half at its end (SHUT_WR), print all that comes back."""

    addr: str
    port: int
    stdin: bytes
    timeout: float
    package: str = "netcat-openbsd"

    @property
    def argv(self) -> list[str]:
        return ["nc", "-N", "-w", str(int(self.timeout)), self.addr, str(self.port)]

    async def simulate(self, peer: Stack) -> ToolRun:
        sock = Socket(peer)
        got = b""
        try:
            with trio.fail_after(self.timeout):
                await sock.connect((self.addr, self.port))
                await sock.sendall(self.stdin)
                sock.shutdown(socket.SHUT_WR)
                while chunk := await sock.recv(65536):  # until the other end's FIN
                    got += chunk
        except (OSError, trio.TooSlowError) as e:
            return ToolRun(self.argv, 1, got, repr(e))
        finally:
            sock.close()
        return ToolRun(self.argv, 0, got, "")
