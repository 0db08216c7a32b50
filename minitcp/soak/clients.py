"""The legitimate clients of `minitcp soak`: kernel sockets talking to the stack's echo server.

A separate process (so the stack's process spends its CPU on the stack), run
by `minitcp.soak.run` in the soak's namespace, printing one JSON object when
done. Modes:

    traffic   bulk flows: chunks of random bytes (1 byte to 64 KB) sent and their echo
              read back, every byte compared and both directions hashed (SHA-256);
              and victims: idle connections from --victim-addr that the attacker
              watches and attacks (RFC 5961 injections), which at the end must still
              echo a marker and nothing else (no injected byte delivered)
    requests  one request per connection (connect, 32 bytes, their echo, close), 20 a
              second, each timed: the legitimate users of the SYN flood phase
    abandon   connections from --addr that vanish: each moves one byte, then the
              address is removed, the sockets closed with SO_LINGER 0 (their RSTs
              cannot leave: no route from a removed address) and the address put back

`traffic` and `requests` run until their standard input closes (or `--seconds`).
`traffic` prints "ready" once every connection is up.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Any

IO_TIMEOUT = 60.0  # a chunk's echo may wait through retransmissions of a stack under attack
REQUEST_TIMEOUT = 3.0  # a request during the flood: past the kernel's second SYN (1 s, then 3 s)
MAX_CHUNK = 65536
REQUEST = b"x" * 32


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    parts = []
    while n:
        data = sock.recv(min(n, MAX_CHUNK))
        if not data:
            raise ConnectionError("the echo server closed the connection early")
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


class Flow(threading.Thread):
    """One bulk connection: random chunks out, their echo back, compared and hashed."""

    def __init__(self, addr: tuple[str, int], seed: int, stop: threading.Event, deadline: float) -> None:
        super().__init__(daemon=True)
        self.addr, self.stop, self.deadline = addr, stop, deadline
        self.rng = random.Random(seed)
        self.sent = hashlib.sha256()
        self.received = hashlib.sha256()
        self.bytes = 0
        self.mismatch: int | None = None  # the offset of the first byte that came back wrong
        self.error: str | None = None

    def run(self) -> None:
        try:
            with socket.create_connection(self.addr, timeout=IO_TIMEOUT) as sock:
                while not self.stop.is_set() and time.monotonic() < self.deadline:
                    chunk = self.rng.randbytes(self.rng.randrange(1, MAX_CHUNK + 1))
                    sock.sendall(chunk)
                    echo = _recv_exactly(sock, len(chunk))
                    self.sent.update(chunk)
                    self.received.update(echo)
                    if echo != chunk and self.mismatch is None:
                        self.mismatch = self.bytes + next(
                            i for i, (a, b) in enumerate(zip(chunk, echo, strict=False)) if a != b
                        )
                    self.bytes += len(chunk)
        except OSError as e:
            self.error = f"{type(e).__name__}: {e}"

    def result(self) -> dict[str, Any]:
        same = self.sent.digest() == self.received.digest()
        return {
            "bytes": self.bytes,
            "sha256_sent": self.sent.hexdigest(),
            "sha256_received": self.received.hexdigest(),
            "verified": same and self.mismatch is None and self.error is None,
            "mismatch_at": self.mismatch,
            "error": self.error,
        }


def _open_victims(addr: tuple[str, int], source: str, count: int) -> list[socket.socket]:
    victims = []
    for _ in range(count):
        sock = socket.create_connection(addr, timeout=IO_TIMEOUT, source_address=(source, 0))
        sock.sendall(b"hello")
        if _recv_exactly(sock, 5) != b"hello":
            raise ConnectionError("a victim's first echo came back wrong")
        victims.append(sock)
    return victims


def _check_victims(victims: list[socket.socket]) -> dict[str, Any]:
    """Each victim must echo its marker and nothing before it: no injected byte was delivered."""
    alive, errors = 0, []
    for i, sock in enumerate(victims):
        marker = f"still-alive-{i}".encode()
        try:
            sock.sendall(marker)
            echo = _recv_exactly(sock, len(marker))
            if echo == marker:
                alive += 1
            else:
                errors.append(f"victim {i}: echo {echo!r}, expected {marker!r} (injected data delivered)")
        except OSError as e:
            errors.append(f"victim {i}: {type(e).__name__}: {e}")
        finally:
            sock.close()
    return {"total": len(victims), "alive": alive, "errors": errors}


def _wait_for_stdin_eof(stop: threading.Event) -> None:
    def wait() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=wait, daemon=True).start()


def traffic(args: argparse.Namespace) -> dict[str, Any]:
    stop = threading.Event()
    deadline = time.monotonic() + args.seconds
    target = (args.dst, args.port)
    victims = _open_victims(target, args.victim_addr, args.victims)
    flows = [Flow(target, args.seed + i, stop, deadline) for i in range(args.flows)]
    for flow in flows:
        flow.start()
    print("ready", flush=True)
    _wait_for_stdin_eof(stop)
    while not stop.is_set() and time.monotonic() < deadline:
        stop.wait(0.2)
    stop.set()
    for flow in flows:
        flow.join(IO_TIMEOUT + 5)
    return {"flows": [f.result() for f in flows], "victims": _check_victims(victims)}


def requests(args: argparse.Namespace) -> dict[str, Any]:
    """Requests at a steady pace, each in a thread of its own (an open loop, as users arrive):
    a request that waits for its timeout does not hold back the next, so the share that
    succeeds is the share of time the server served, not of the requests one user got through."""
    stop = threading.Event()
    deadline = time.monotonic() + args.seconds
    done: list[tuple[float, float | None]] = []  # (start, latency or None if it failed)
    # Each request's (start, connected, echoed, local port), None where it did not get there:
    # what `minitcp soak --flood-trace` joins with the stack's packets (soak/flood_probe.py).
    timeline: list[tuple[float, float | None, float | None, int | None]] = []
    lock = threading.Lock()

    def request() -> None:
        start = time.monotonic()
        connected = echoed = port = None
        try:
            with socket.create_connection((args.dst, args.port), timeout=REQUEST_TIMEOUT) as sock:
                connected, port = time.monotonic(), sock.getsockname()[1]
                sock.sendall(REQUEST)
                ok = _recv_exactly(sock, len(REQUEST)) == REQUEST
                echoed = time.monotonic()
        except OSError:
            ok = False
        with lock:
            done.append((start, time.monotonic() - start if ok else None))
            timeline.append((start, connected, echoed if ok else None, port))

    print("ready", flush=True)
    _wait_for_stdin_eof(stop)
    running: list[threading.Thread] = []
    # At most REQUEST_TIMEOUT / interval requests in flight (60 at the default 20/s).
    while not stop.wait(1 / args.rate) and time.monotonic() < deadline:
        running = [t for t in running if t.is_alive()]
        thread = threading.Thread(target=request, daemon=True)
        thread.start()
        running.append(thread)
    for t in running:
        t.join(REQUEST_TIMEOUT + 5)
    return {"requests": done, "timeline": timeline}


def abandon(args: argparse.Namespace) -> dict[str, Any]:
    socks, failed = [], 0
    for _ in range(args.count):
        try:
            sock = socket.create_connection((args.dst, args.port), timeout=5.0, source_address=(args.addr, 0))
            sock.sendall(b"a")
            _recv_exactly(sock, 1)
            socks.append(sock)
        except OSError:
            failed += 1
    _ip("addr", "del", f"{args.addr}/24", "dev", args.dev)
    try:
        for sock in socks:
            # SO_LINGER {on, 0}: close() sends an RST at once (tcp_disconnect) instead of a FIN;
            # with the address gone it has no route and never leaves.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
    finally:
        _ip("addr", "add", f"{args.addr}/24", "dev", args.dev)
    return {"abandoned": len(socks), "failed": failed}


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m minitcp.soak.clients", description=__doc__.splitlines()[0]
    )
    parser.add_argument("mode", choices=("traffic", "requests", "abandon"))
    parser.add_argument("--dst", default="198.18.0.2")
    parser.add_argument("--port", type=int, default=7)
    parser.add_argument("--flows", type=int, default=2, help="traffic: bulk flows")
    parser.add_argument("--victims", type=int, default=4)
    parser.add_argument("--victim-addr", default="198.18.0.4")
    parser.add_argument("--addr", default="198.18.0.3", help="abandon: the address that vanishes")
    parser.add_argument("--dev", default="", help="abandon: the TUN device holding --addr")
    parser.add_argument("--count", type=int, default=100, help="abandon: connections per cycle")
    parser.add_argument("--rate", type=float, default=20.0, help="requests: new requests per second")
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.dst.startswith("198.18.0."):
        print("minitcp soak: the clients talk only to 198.18.0.0/24", file=sys.stderr)
        return 1
    mode = {"traffic": traffic, "requests": requests, "abandon": abandon}[args.mode]
    print(json.dumps(mode(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
