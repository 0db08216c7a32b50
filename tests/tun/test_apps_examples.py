"""The scripts in examples/ do what their docstrings promise, and Ctrl-C stops them cleanly."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from tests.helpers.process import HANG_GUARD, interrupt, read_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ADDR = "198.18.0.2"


class Running:
    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self.output = bytearray()

    async def read_until(self, marker: bytes) -> None:
        assert self.proc.stdout is not None
        await read_until(self.proc.stdout, marker, self.output)

    async def interrupt(self) -> None:
        """Ctrl-C: the script must have stopped (its last line, `stopped; ...`) within a second,
        then exit 0."""
        await interrupt(self.proc, self.output, b"stopped;", within=1)
        assert self.proc.returncode == 0


@asynccontextmanager
async def example(name: str, *args: str) -> AsyncIterator[Running]:
    command = [sys.executable, str(EXAMPLES / name), *args]
    # Unbuffered: each line reaches the test as it is printed, not when the script exits.
    proc = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    running = Running(proc)
    try:
        yield running
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.stdout is not None
    while chunk := await proc.stdout.receive_some():
        running.output += chunk
    assert b"Traceback" not in running.output, running.output.decode()


def device_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def _echo(data: bytes) -> bytes:
    with socket.create_connection((ADDR, 7), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
        return got


async def test_echo_server(tun_name: str) -> None:
    with trio.fail_after(HANG_GUARD):
        async with example("echo_server.py", "--dev", tun_name) as ex:
            await ex.read_until(b"Ctrl-C stops")
            assert await trio.to_thread.run_sync(_echo, b"hello\n" * 1000) == b"hello\n" * 1000
            await ex.read_until(b"closing our side too")
            await ex.interrupt()
    assert b"stopped; device removed" in ex.output
    assert not device_exists(tun_name)


def _discard(n: int) -> bytes:
    with socket.create_connection((ADDR, 9), timeout=5) as sock:
        sock.sendall(b"\0" * n)
        sock.shutdown(socket.SHUT_WR)
        return sock.recv(1)


async def test_discard_server(tun_name: str) -> None:
    with trio.fail_after(HANG_GUARD):
        async with example("discard_server.py", "--dev", tun_name) as ex:
            await ex.read_until(b"Ctrl-C stops")
            assert await trio.to_thread.run_sync(_discard, 1_000_000) == b""
            await ex.read_until(b"discarded 1,000,000 bytes")
            await ex.interrupt()
    assert not device_exists(tun_name)


def _get(path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(ADDR, 80, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


async def test_http_server(tun_name: str) -> None:
    with trio.fail_after(HANG_GUARD):
        async with example("http_server.py", "--dev", tun_name) as ex:
            await ex.read_until(b"Ctrl-C stops")
            status, body = await trio.to_thread.run_sync(_get, "/bytes/1000")
            assert (status, len(body)) == (200, 1000)
            await ex.interrupt()
    assert b"served 1 requests over 1 connections" in ex.output
    assert not device_exists(tun_name)


async def test_http_client_waits_for_the_kernels_server_then_downloads(tun_name: str, tmp_path: Path) -> None:
    data = os.urandom(3_000_000)
    (tmp_path / "file.bin").write_bytes(data)
    server = None
    try:
        with trio.fail_after(HANG_GUARD):
            async with example("http_client.py", "--dev", tun_name, "--wait", "15",
                               "http://198.18.0.1:8000/file.bin") as ex:
                await ex.read_until(b"ECONNREFUSED")  # the device is up; nothing listens yet
                command = [sys.executable, "-m", "http.server", "--bind", "198.18.0.1", "--directory",
                           str(tmp_path), "8000"]
                server = await trio.lowlevel.open_process(command, stdout=subprocess.DEVNULL,
                                                          stderr=subprocess.DEVNULL)
                await ex.read_until(b"SHA-256 ")
                await ex.proc.wait()
                assert ex.proc.returncode == 0
    finally:
        if server is not None:
            server.kill()
            await server.wait()
    assert b"HTTP 200: 3,000,000 bytes" in ex.output
    assert f"SHA-256 {hashlib.sha256(data).hexdigest()}".encode() in ex.output
    assert not device_exists(tun_name)
