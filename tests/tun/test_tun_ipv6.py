"""The kernel over IPv6 on the same TUN device as IPv4: ping -6, curl -6, nc -6, 10 MB each way.

The kernel side is 2001:2::1/64, minitcp 2001:2::2 (the defaults of TunLink and Stack); the
servers listen on both families (AF_INET6, IPV6_V6ONLY off), so IPv4 clients still reach them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import threading
from collections.abc import AsyncIterator

import pytest
import trio

from minitcp.apps import EchoServer, HttpServer
from minitcp.stack import Stack

ADDR6 = "2001:2::2"
ADDR = "198.18.0.2"
BIG = 10 * 1000 * 1000

needs = {tool: pytest.mark.skipif(shutil.which(tool) is None, reason=f"{tool} is not installed")
         for tool in ("ping", "curl", "nc")}


@pytest.fixture
async def servers(nursery: trio.Nursery, tun_stack: Stack) -> AsyncIterator[tuple[EchoServer, HttpServer]]:
    echo, http = EchoServer(), HttpServer()
    await nursery.start(lambda task_status: echo.serve(tun_stack, 7, family=socket.AF_INET6,
                                                       task_status=task_status))
    await nursery.start(lambda task_status: http.serve(tun_stack, 80, family=socket.AF_INET6,
                                                       task_status=task_status))
    yield echo, http
    assert echo.errors == 0 and http.errors == 0


@needs["ping"]
async def test_ping6(tun_stack: Stack) -> None:
    with trio.fail_after(20):
        done = await trio.run_process(["ping", "-6", "-c", "3", "-i", "0.2", "-W", "5", ADDR6],
                                      capture_stdout=True, check=False)
    assert done.returncode == 0, done.stdout
    assert b" 3 received" in done.stdout
    assert tun_stack.counters["Icmp6InEchos"] == tun_stack.counters["Icmp6OutEchoReplies"] == 3


async def _curl(*args: str) -> list[list[str]]:
    write_out = "%{http_code} %{size_download} %{num_connects} %{local_port}\\n"
    done = await trio.run_process(["curl", "-6", "-sS", "--max-time", "20", "-w", write_out, *args],
                                  capture_stdout=True, capture_stderr=True)
    return [line.split() for line in done.stdout.decode().splitlines() if line.strip()]


@needs["curl"]
async def test_curl6_keep_alive_and_close(tun_stack: Stack, servers: tuple[EchoServer, HttpServer]) -> None:
    _, http = servers
    url = f"http://[{ADDR6}]"
    with trio.fail_after(30):
        rows = await _curl("-o", "/dev/null", "-o", "/dev/null", f"{url}/", f"{url}/bytes/12345")
        assert [r[0] for r in rows] == ["200", "200"] and rows[1][1] == "12345"
        assert [r[2] for r in rows] == ["1", "0"]  # one kept-alive connection
        closed = await _curl("-o", "/dev/null", "-H", "Connection: close", f"{url}/bytes/1000")
        page = await trio.run_process(["curl", "-6", "-sS", "--max-time", "10", f"{url}/"],
                                      capture_stdout=True)
    assert closed[0][:2] == ["200", "1000"]
    assert b"[2001:2::1]:" in page.stdout  # the page names the client's address
    assert http.connections == 3


@needs["nc"]
async def test_nc6_half_close(tun_stack: Stack, servers: tuple[EchoServer, HttpServer]) -> None:
    with trio.fail_after(20):
        done = await trio.run_process(["nc", "-6", "-N", "-w", "10", ADDR6, "7"], stdin=b"nc was here\n",
                                      capture_stdout=True)
    assert done.stdout == b"nc was here\n"  # -N: shutdown(SHUT_WR) at EOF, the echo still came


def _round_trip(family: int, host: str, data: bytes) -> bytes:
    """`data` to the echo server from a kernel socket, half-closed; the echo, read meanwhile."""
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.connect((host, 7))
        received = bytearray()

        def read() -> None:
            while chunk := sock.recv(1 << 20):
                received.extend(chunk)

        reader = threading.Thread(target=read)
        reader.start()
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        reader.join(30)
        assert not reader.is_alive(), "the echo did not end with our FIN"
        return bytes(received)


async def test_ten_megabytes_each_way_over_ipv6(tun_stack: Stack,
                                                servers: tuple[EchoServer, HttpServer]) -> None:
    data = os.urandom(BIG)
    with trio.fail_after(60):
        got = await trio.to_thread.run_sync(_round_trip, socket.AF_INET6, ADDR6, data)
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()


async def test_the_dual_stack_servers_still_take_ipv4(tun_stack: Stack,
                                                    servers: tuple[EchoServer, HttpServer]) -> None:
    data = os.urandom(100_000)
    with trio.fail_after(20):
        got = await trio.to_thread.run_sync(_round_trip, socket.AF_INET, ADDR, data)
    assert got == data
