"""curl and Python's http.client (the kernel's TCP) against minitcp's HTTP server."""

from __future__ import annotations

import http.client
import shutil
import socket
from collections.abc import AsyncIterator

import pytest
import trio

from minitcp.apps import HttpServer, pattern_sha256
from minitcp.stack import Stack
from minitcp.tcp.connection import conn_key
from minitcp.wire.ipv4 import ip_int

from .kernel import http_download_sha

ADDR = "198.18.0.2"
BIG = 50 * 10**6
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@pytest.fixture
async def server(nursery: trio.Nursery, tun_stack: Stack) -> AsyncIterator[HttpServer]:
    server = HttpServer()
    await nursery.start(server.serve, tun_stack, 80)
    yield server
    assert server.errors == 0


async def curl(*args: str) -> list[list[str]]:
    """Run curl with a `-w` line per URL; returns the fields of each line."""
    write_out = "%{http_code} %{size_download} %{num_connects} %{local_port}\\n"
    done = await trio.run_process(
        ["curl", "-sS", "--max-time", "20", "-w", write_out, *args], capture_stdout=True, capture_stderr=True
    )
    return [line.split() for line in done.stdout.decode().splitlines() if line.strip()]


@needs_curl
async def test_curl_two_requests_on_one_kept_alive_connection(tun_stack: Stack, server: HttpServer) -> None:
    with trio.fail_after(20):
        rows = await curl("-o", "/dev/null", "-o", "/dev/null", f"http://{ADDR}/", f"http://{ADDR}/bytes/12345")
    assert [r[0] for r in rows] == ["200", "200"]
    assert rows[1][1] == "12345"
    assert [r[2] for r in rows] == ["1", "0"]  # the second request made no new connection
    assert rows[0][3] == rows[1][3]  # same local port: same TCP connection
    assert server.connections == 1
    assert server.requests == 2


@needs_curl
async def test_curl_page_and_errors(tun_stack: Stack, server: HttpServer) -> None:
    with trio.fail_after(20):
        command = ["curl", "-sS", "--max-time", "10", f"http://{ADDR}/"]
        page = await trio.run_process(command, capture_stdout=True)
        rows = await curl("-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
                          f"http://{ADDR}/nowhere", f"http://{ADDR}/bytes/ten", f"http://{ADDR}/bytes/10000000001")
    assert b"<h1>Hello from minitcp</h1>" in page.stdout
    assert b"198.18.0.1:" in page.stdout  # the page names the client's address and port
    assert [r[0] for r in rows] == ["404", "400", "400"]


@needs_curl
async def test_curl_50_mb(tun_stack: Stack, server: HttpServer) -> None:
    with trio.fail_after(40):
        rows = await curl("-o", "/dev/null", f"http://{ADDR}/bytes/{BIG}")
    assert rows[0][:2] == ["200", str(BIG)]


@needs_curl
async def test_curl_connection_close_makes_minitcp_close_first(tun_stack: Stack, server: HttpServer) -> None:
    with trio.fail_after(20):
        # --ignore-content-length: curl waits for minitcp's FIN, not just the body, before closing;
        # otherwise curl may close first (no race: the test is about who closes first).
        rows = await curl("-o", "/dev/null", "--ignore-content-length", "-H", "Connection: close",
                          f"http://{ADDR}/bytes/1000")
        port = int(rows[0][3])
        key = conn_key(ip_int(ADDR), 80, ip_int("198.18.0.1"), port)
        while tun_stack.engine.timewait.get(key) is None:  # curl's FIN follows ours
            await trio.sleep(0.01)
    assert rows[0][:2] == ["200", "1000"]


def _keep_alive_gets() -> tuple[list[tuple[int, bytes]], list[int]]:
    conn = http.client.HTTPConnection(ADDR, 80, timeout=10)
    results, ports = [], []
    try:
        for path in ("/", "/bytes/1000"):
            conn.request("GET", path)
            response = conn.getresponse()
            results.append((response.status, response.read()))
            ports.append(conn.sock.getsockname()[1])
    finally:
        conn.close()
    return results, ports


async def test_http_client_two_requests_on_one_connection(tun_stack: Stack, server: HttpServer) -> None:
    with trio.fail_after(20):
        results, ports = await trio.to_thread.run_sync(_keep_alive_gets)
    (status1, page), (status2, data) = results
    assert (status1, status2) == (200, 200)
    assert b"minitcp" in page
    assert data == bytes(range(256)) * 3 + bytes(range(232))
    assert ports[0] == ports[1]
    assert server.connections == 1
    assert server.requests == 2




async def test_http_client_50_mb_sha256(tun_stack: Stack, server: HttpServer) -> None:
    with trio.fail_after(40):
        size, sha = await trio.to_thread.run_sync(http_download_sha, BIG)
    assert size == BIG
    assert sha == pattern_sha256(BIG)


def _half_closed_get() -> bytes:
    with socket.create_connection((ADDR, 80), timeout=10) as sock:
        sock.sendall(b"GET /bytes/100000 HTTP/1.1\r\nHost: 198.18.0.2\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)  # nothing more from us; the answer must still come
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
        return response


async def test_half_closed_client_gets_its_response_then_our_fin(
    tun_stack: Stack, server: HttpServer
) -> None:
    with trio.fail_after(20):
        response = await trio.to_thread.run_sync(_half_closed_get)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Length: 100000" in head
    assert len(body) == 100_000


@needs_curl
async def test_thirty_curl_processes_download_at_once(tun_stack: Stack, server: HttpServer) -> None:
    n = 1_000_000
    command = ["curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
               f"http://{ADDR}/bytes/{n}"]
    results: list[bytes] = []

    async def one() -> None:
        done = await trio.run_process(command, capture_stdout=True)
        results.append(done.stdout)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for _ in range(30):
                nursery.start_soon(one)
    assert results == [f"200 {n}".encode()] * 30
    assert server.connections == 30
