"""100 MB each way between the kernel and minitcp, checked by SHA-256, over IPv4 and over IPv6.

Upload: a kernel socket sends 100 MB (a seeded pseudo-random megabyte, a
hundred times) to minitcp's discard server, which hashes what arrives.
Download: the kernel's http.client fetches /bytes/100000000 from minitcp's
HTTP server; both sides know the pattern, so the kernel hashes what arrives
and compares with `pattern_sha256`. On the 2-core CI machine each direction
takes about 2 s (roughly 50 MB/s); the bound is 60 s. The IPv6 runs use the same servers
bound to `::` (dual stack) and kernel clients to 2001:2::2, 10 MB each way in `make test` (the
path is the same as IPv4's but for the headers); their 100 MB runs are marked slow
(`make test-slow`).

Run with `-s` to see the throughput.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import random
import socket
import time

import pytest
import trio

from minitcp.apps import DiscardServer, HttpServer, pattern_sha256
from minitcp.stack import Stack

ADDR = "198.18.0.2"
ADDR6 = "2001:2::2"
TOTAL = 100 * 10**6
TOTAL_IPV6 = 10 * 10**6
BLOCK = 10**6
FAMILIES = pytest.mark.parametrize(("family", "addr", "total"), [
    pytest.param(socket.AF_INET, ADDR, TOTAL, id="ipv4"),
    pytest.param(socket.AF_INET6, ADDR6, TOTAL_IPV6, id="ipv6"),
    pytest.param(socket.AF_INET6, ADDR6, TOTAL, id="ipv6-100MB", marks=pytest.mark.slow),
])


def _upload(total: int, addr: str) -> tuple[str, float]:
    block = random.Random(20240601).randbytes(BLOCK)
    hasher = hashlib.sha256()
    with socket.create_connection((addr, 9), timeout=20) as sock:
        start = time.monotonic()
        for _ in range(total // BLOCK):
            sock.sendall(block)
            hasher.update(block)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1) == b""  # the discard server closes after our FIN
        return hasher.hexdigest(), time.monotonic() - start


@FAMILIES
async def test_upload_to_discard(nursery: trio.Nursery, tun_stack: Stack, family: int,
                                        addr: str, total: int) -> None:
    server = DiscardServer(digest=True)
    await nursery.start(functools.partial(server.serve, tun_stack, 9, family=family))
    with trio.fail_after(60):
        sha, seconds = await trio.to_thread.run_sync(_upload, total, addr)
        (got,) = await server.wait_received(1)
    print(f"\nupload: {total / 1e6:.0f} MB kernel -> minitcp in {seconds:.2f} s = "
          f"{total / seconds / 1e6:.1f} MB/s")
    assert got.nbytes == total
    assert got.sha256 == sha
    assert server.errors == 0


def _download(total: int, addr: str) -> tuple[int, str, float]:
    conn = http.client.HTTPConnection(addr, 80, timeout=20)
    try:
        start = time.monotonic()
        conn.request("GET", f"/bytes/{total}")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Length") == str(total)
        hasher, size = hashlib.sha256(), 0
        while chunk := response.read(1 << 20):
            hasher.update(chunk)
            size += len(chunk)
        return size, hasher.hexdigest(), time.monotonic() - start
    finally:
        conn.close()


@FAMILIES
async def test_download_over_http(nursery: trio.Nursery, tun_stack: Stack, family: int,
                                         addr: str, total: int) -> None:
    server = HttpServer()
    await nursery.start(functools.partial(server.serve, tun_stack, 80, family=family))
    with trio.fail_after(60):
        size, sha, seconds = await trio.to_thread.run_sync(_download, total, addr)
    print(f"\ndownload: {total / 1e6:.0f} MB minitcp -> kernel in {seconds:.2f} s = "
          f"{total / seconds / 1e6:.1f} MB/s")
    assert size == total
    assert sha == pattern_sha256(total)
    assert server.errors == 0
