"""The kernel's side of `minitcp bench`: clients (and loopback reference servers) on kernel sockets.

Each mode runs in its own process, `python -m minitcp.bench.kclient MODE --opts`,
so that the stack's process spends its CPU on the stack alone and no client
competes with it for the GIL. Only the standard library is imported. Every
loop here is bounded twice: by a count (bytes, connections, round trips) and
by a deadline (`--seconds`); a client that hits its deadline stops and says so
(`"timeout": true`) instead of hanging. Each mode prints one JSON object on its
last line of output.

Modes:

    udp-send   UDP datagrams to the stack's address, as fast as one process can (raw TUN read side)
    upload     one connection: send --bytes, half-close, wait for the server's FIN (bulk in)
    download   one connection: GET /bytes/N, read to the end (bulk out)
    connrate   connect, send one byte, read one byte, close; --concurrency at a time
    echo       1-byte ping-pong on one connection; prints every round trip in ns
    hold       open --count connections and keep them until told (a line on stdin) to close
    churn      connect (from --sources in turn), read until the server's FIN, close
    http       keep-alive or one-request-per-connection HTTP load (used when wrk is missing)
    serve      a loopback reference server (discard, echo, http /bytes/N) for the kernel figures
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import resource
import select
import socket
import sys
import time
from typing import cast


def _emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def _preempted() -> int:
    """Involuntary context switches of this process so far: how often another program took its CPU."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw


def _raise_nofile(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(want, soft), hard), hard))


# ---------------------------------------------------------------------------------------------- raw


def udp_send(a: argparse.Namespace) -> None:
    """Send --count datagrams of --size bytes of payload (or stop at the deadline)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.connect((a.host, a.port))
    payload = bytes(a.size)
    send = s.send
    sent = errors = 0
    start = time.perf_counter()
    deadline = start + a.seconds
    check = 1024
    while sent < a.count:
        for _ in range(min(check, a.count - sent)):
            try:
                send(payload)
                sent += 1
            except OSError:  # ENOBUFS when the device queue is full: the packet is not sent
                errors += 1
        if time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - start
    _emit({"sent": sent, "errors": errors, "seconds": elapsed, "timeout": sent < a.count})


# ---------------------------------------------------------------------------------------------- bulk


# The body of minitcp's /bytes/N (apps/http.py): byte i is i % 256, 1 MiB blocks each starting at 0.
PATTERN_BLOCK = bytes(range(256)) * 4096


def _family(host: str) -> socket.AddressFamily:
    """AF_INET6 for an IPv6 address (the bench's IPv6 rows), else AF_INET."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _connect(a: argparse.Namespace) -> socket.socket:
    """A connection to --host:--port; with --congestion, that algorithm set before the SYN
    (setsockopt TCP_CONGESTION, as `ss -i` then shows it)."""
    sock = socket.socket(_family(a.host), socket.SOCK_STREAM)
    sock.settimeout(a.seconds)
    if a.congestion:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, a.congestion.encode())
    sock.connect((a.host, a.port))
    return sock


def upload(a: argparse.Namespace) -> None:
    """Bulk kernel -> server: --bytes in --block pieces, then FIN, then wait for the server's FIN.

    With --pattern the bytes are /bytes/N's pattern (the server can check them), else zeros."""
    block = PATTERN_BLOCK if a.pattern else bytes(a.block)
    a.block = len(block)
    deadline = time.monotonic() + a.seconds
    sock = _connect(a)
    sent, max_block_s, timeout = 0, 0.0, False
    start = time.perf_counter()
    try:
        while sent < a.bytes:
            n = min(a.block, a.bytes - sent)
            t = time.perf_counter()
            sock.sendall(block if n == a.block else block[:n])
            max_block_s = max(max_block_s, time.perf_counter() - t)
            sent += n
            if time.monotonic() > deadline:
                timeout = sent < a.bytes
                break
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(max(deadline - time.monotonic(), 0.5))
        while sock.recv(65536):
            pass
    except TimeoutError:
        timeout = True
    finally:
        sock.close()
    elapsed = time.perf_counter() - start
    _emit({"bytes": sent, "seconds": elapsed, "max_block_s": max_block_s, "timeout": timeout,
           "preempted": _preempted(), "congestion": a.congestion})


def download(a: argparse.Namespace) -> None:
    """Bulk server -> kernel: GET /bytes/N (Connection: close) and read to the server's FIN.

    With --pattern the body is also checked byte for byte (SHA-256 against the pattern's)."""
    deadline = time.monotonic() + a.seconds
    sock = _connect(a)
    body_hash = hashlib.sha256()
    body_at = -1  # where the body starts in the stream, once the head's blank line has come
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    total, max_gap_s, timeout, head = 0, 0.0, False, b""
    start = time.perf_counter()
    try:
        sock.sendall(f"GET /bytes/{a.bytes} HTTP/1.1\r\nHost: {a.host}\r\nConnection: close\r\n\r\n".encode())
        last = time.perf_counter()
        while True:
            n = sock.recv_into(view)
            now = time.perf_counter()
            if total > 0:
                max_gap_s = max(max_gap_s, now - last)
            last = now
            if not n:
                break
            if len(head) < 4096 and total < 4096:
                head += bytes(view[:n])[: 4096 - len(head)]
            if a.pattern:
                if body_at < 0 and b"\r\n\r\n" in head:
                    body_at = head.find(b"\r\n\r\n") + 4
                if body_at >= 0:  # the body's part of this read (all of it after the first)
                    body_hash.update(view[max(body_at - total, 0):n])
            total += n
            if time.monotonic() > deadline:
                timeout = True
                break
    except TimeoutError:
        timeout = True
    finally:
        sock.close()
    elapsed = time.perf_counter() - start
    header_len = head.find(b"\r\n\r\n") + 4 if b"\r\n\r\n" in head else 0
    body = total - header_len
    ok = head.startswith(b"HTTP/1.1 200") and body == a.bytes
    if a.pattern:
        ok = ok and body_hash.hexdigest() == _pattern_sha256(a.bytes)
    _emit({"bytes": body, "seconds": elapsed, "max_gap_s": max_gap_s, "ok": ok, "timeout": timeout,
           "preempted": _preempted()})


def _pattern_sha256(n: int) -> str:
    hasher = hashlib.sha256()
    full, rest = divmod(n, len(PATTERN_BLOCK))
    for _ in range(full):
        hasher.update(PATTERN_BLOCK)
    hasher.update(PATTERN_BLOCK[:rest])
    return hasher.hexdigest()


# ---------------------------------------------------------------------------------------------- connections


async def _connrate(a: argparse.Namespace) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + a.seconds
    started = done = errors = 0
    latencies: list[int] = []

    async def one() -> None:
        nonlocal done, errors
        t = time.perf_counter_ns()
        s = socket.socket(_family(a.host), socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            await loop.sock_connect(s, (a.host, a.port))
            await loop.sock_sendall(s, b"x")
            reply = await loop.sock_recv(s, 1)
            if reply != b"x":
                raise ConnectionError("no echo")
            done += 1
            latencies.append(time.perf_counter_ns() - t)
        except OSError:
            errors += 1
        finally:
            s.close()

    async def worker() -> None:
        nonlocal started
        while started < a.count and loop.time() < deadline:
            started += 1
            await one()

    start = time.perf_counter()
    tasks = [asyncio.ensure_future(worker()) for _ in range(a.concurrency)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=a.seconds + 5)
    elapsed = time.perf_counter() - start
    latencies.sort()
    p50 = latencies[len(latencies) // 2] / 1000 if latencies else None
    return {"done": done, "errors": errors, "seconds": elapsed, "timeout": done + errors < a.count,
            "p50_connect_us": p50}


def connrate(a: argparse.Namespace) -> None:
    _raise_nofile(a.concurrency * 2 + 64)
    _emit(asyncio.run(_connrate(a)))


def echo(a: argparse.Namespace) -> None:
    """1-byte ping-pong: --warmup round trips, then --count timed ones (ns each)."""
    deadline = time.monotonic() + a.seconds
    sock = socket.create_connection((a.host, a.port), timeout=max(a.seconds, 1))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    send, recv, clock = sock.send, sock.recv, time.perf_counter_ns
    rtts: list[int] = []
    timeout = False
    try:
        for i in range(a.warmup + a.count):
            t = clock()
            send(b"x")
            if recv(1) != b"x":
                raise ConnectionError("echo mismatch")
            if i >= a.warmup:
                rtts.append(clock() - t)
            if (i & 63) == 0 and time.monotonic() > deadline:
                timeout = True
                break
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(64):
            pass
    except TimeoutError:
        timeout = True
    finally:
        sock.close()
    _emit({"rtts_ns": rtts, "timeout": timeout})


def hold(a: argparse.Namespace) -> None:
    """Open --count connections (--concurrency connects in flight), report, wait for a line, close all."""
    _raise_nofile(a.count + 64)
    deadline = time.monotonic() + a.seconds
    ep = select.epoll()
    pending: dict[int, socket.socket] = {}
    established: list[socket.socket] = []
    errors = started = 0
    start = time.perf_counter()
    while (started < a.count or pending) and time.monotonic() < deadline:
        while started < a.count and len(pending) < a.concurrency:
            s = socket.socket(_family(a.host), socket.SOCK_STREAM)
            s.setblocking(False)
            started += 1
            err = s.connect_ex((a.host, a.port))
            if err not in (0, 115):  # EINPROGRESS
                errors += 1
                s.close()
                continue
            pending[s.fileno()] = s
            ep.register(s.fileno(), select.EPOLLOUT)
        for fd, _ in ep.poll(0.1):
            s = pending.pop(fd)
            ep.unregister(fd)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                errors += 1
                s.close()
            else:
                established.append(s)
    opened_s = time.perf_counter() - start
    for s in pending.values():
        s.close()
    _emit({"established": len(established), "errors": errors, "seconds": opened_s,
           "timeout": len(established) + errors < a.count})
    # Wait for the parent to measure, then close everything (the parent's line, EOF or the deadline).
    remaining = max(deadline - time.monotonic(), 0.0)
    r, _, _ = select.select([sys.stdin], [], [], remaining)
    if r:
        sys.stdin.readline()
    for s in established:
        s.close()
    _emit({"closed": len(established)})


CHURN_FIRST_PORT = 20000  # below the ephemeral range, so no other socket of the kernel's competes


async def _churn(a: argparse.Namespace) -> dict:
    """Connect, read until the server's FIN (it closes first), close; sources taken in turn.

    With --sources, connection k binds to source k % S and port 20000 + k // S: every
    connection has a four-tuple of its own, so none lands on a TIME_WAIT entry of the
    server's (which a port the kernel picked itself soon would: its choice wraps around).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + a.seconds
    sources = [s for s in a.sources.split(",") if s] or [""]
    started = done = errors = 0

    async def one(source: str, port: int) -> None:
        nonlocal done, errors
        s = socket.socket(_family(a.host), socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            if source:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((source, port))
            await loop.sock_connect(s, (a.host, a.port))
            while await loop.sock_recv(s, 4096):
                pass
            done += 1
        except OSError:
            errors += 1
        finally:
            s.close()

    async def worker() -> None:
        nonlocal started
        while started < a.count and loop.time() < deadline:
            source = sources[started % len(sources)]
            port = CHURN_FIRST_PORT + started // len(sources)
            started += 1
            await one(source, port)

    start = time.perf_counter()
    tasks = [asyncio.ensure_future(worker()) for _ in range(a.concurrency)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=a.seconds + 5)
    return {"done": done, "errors": errors, "seconds": time.perf_counter() - start,
            "timeout": done + errors < a.count}


def churn(a: argparse.Namespace) -> None:
    _raise_nofile(a.concurrency * 2 + 64)
    _emit(asyncio.run(_churn(a)))


async def _http(a: argparse.Namespace) -> dict:
    """HTTP/1.1 GET load: keep-alive (each connection reused) or --close (a connection per request)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + a.seconds
    started = done = errors = 0
    close = b"Connection: close\r\n" if a.close else b""
    request = b"GET " + a.path.encode() + b" HTTP/1.1\r\nHost: " + a.host.encode() + b"\r\n" + close + b"\r\n"

    async def read_response(s: socket.socket) -> None:
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = await loop.sock_recv(s, 65536)
            if not chunk:
                raise ConnectionError("closed before a response")
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = await loop.sock_recv(s, 65536)
            if not chunk:
                raise ConnectionError("closed in a body")
            body += chunk

    async def worker() -> None:
        nonlocal started, done, errors
        s = None
        while started < a.count and loop.time() < deadline:
            started += 1
            try:
                if s is None:
                    s = socket.socket(_family(a.host), socket.SOCK_STREAM)
                    s.setblocking(False)
                    await loop.sock_connect(s, (a.host, a.port))
                await loop.sock_sendall(s, request)
                await read_response(s)
                done += 1
                if a.close:
                    while await loop.sock_recv(s, 4096):
                        pass
            except OSError:
                errors += 1
                if s is not None:
                    s.close()
                s = None
                continue
            if a.close:
                s.close()
                s = None
        if s is not None:
            s.close()

    start = time.perf_counter()
    tasks = [asyncio.ensure_future(worker()) for _ in range(a.concurrency)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=a.seconds + 5)
    elapsed = time.perf_counter() - start
    return {"requests": done, "errors": errors, "seconds": elapsed, "rps": done / elapsed if elapsed else 0.0}


def http(a: argparse.Namespace) -> None:
    _raise_nofile(a.concurrency * 2 + 64)
    _emit(asyncio.run(_http(a)))


# ---------------------------------------------------------------------------------------------- servers


class _Discard(asyncio.Protocol):
    transport: asyncio.Transport  # a TCP server's: asyncio's stream transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False  # asyncio closes the transport (after what is still buffered is written)


class _Echo(_Discard):
    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class _Source(_Discard):
    """Enough HTTP for `download`: answer GET /bytes/N with N bytes, then close."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\r\n\r\n" not in self.buf:
            return
        n = int(self.buf.split(b" ", 2)[1].rsplit(b"/", 1)[1])
        self.remaining = n
        self.transport.write(f"HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n".encode())
        self.transport.set_write_buffer_limits(high=4 << 20)
        self.block = bytes(1 << 20)
        self.transport.pause_reading()
        self._push()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._push()

    def _push(self) -> None:
        self.paused = False
        while self.remaining > 0 and not self.paused:
            n = min(len(self.block), self.remaining)
            self.transport.write(self.block if n == len(self.block) else self.block[:n])
            self.remaining -= n
        if self.remaining == 0 and not self.transport.is_closing():
            self.transport.close()


async def _serve(a: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    proto = {"discard": _Discard, "echo": _Echo, "http": _Source}[a.kind]
    server = await loop.create_server(proto, a.host, a.port, backlog=4096, reuse_address=True)
    _emit({"listening": [a.host, a.port]})
    stop = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), stop.set)  # a line, or EOF, on stdin ends the server
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=a.seconds)
    server.close()


def serve(a: argparse.Namespace) -> None:
    _raise_nofile(8192)
    asyncio.run(_serve(a))


# ---------------------------------------------------------------------------------------------- main

MODES = {
    "udp-send": udp_send, "upload": upload, "download": download, "connrate": connrate, "echo": echo,
    "hold": hold, "churn": churn, "http": http, "serve": serve,
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m minitcp.bench.kclient")
    p.add_argument("mode", choices=sorted(MODES))
    p.add_argument("--host", default="198.18.0.2")
    p.add_argument("--port", type=int, default=9)
    p.add_argument("--seconds", type=float, default=30.0, help="deadline for the whole run")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--size", type=int, default=1472)
    p.add_argument("--bytes", type=int, default=10**7)
    p.add_argument("--block", type=int, default=1 << 20)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--sources", default="")
    p.add_argument("--path", default="/")
    p.add_argument("--close", action="store_true")
    p.add_argument("--kind", default="discard", choices=("discard", "echo", "http"))
    p.add_argument("--congestion", default="", help="TCP_CONGESTION for upload/download (e.g. cubic)")
    p.add_argument("--pattern", action="store_true",
                   help="upload: send /bytes/N's pattern; download: check the body is that pattern")
    a = p.parse_args(argv)
    MODES[a.mode](a)


if __name__ == "__main__":
    main()
