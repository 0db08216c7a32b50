"""`minitcp up` as a learner runs it: answers ping, serves echo and HTTP, stops cleanly on Ctrl-C."""

from __future__ import annotations

import http.client
import re
import socket
import struct
import subprocess
import sys

import trio

from tests.helpers.process import HANG_GUARD, interrupt, read_until


async def _interrupt(proc: trio.Process, stdout: bytearray) -> None:
    """Ctrl-C: minitcp has stopped (servers, connections, device: its last line says the device is
    removed) within a second."""
    await interrupt(proc, stdout, b" removed", within=1)


async def test_up_answers_ping_and_exits_cleanly_on_sigint(tun_name: str) -> None:
    command = [sys.executable, "-m", "minitcp.cli", "up", "--dev", tun_name, "--addr", "198.18.0.9", "-v"]
    proc = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    stdout = bytearray()
    try:
        with trio.fail_after(HANG_GUARD):
            await read_until(proc.stdout, b"Ctrl-C stops\n", stdout)
            ping_command = ["ping", "-c", "1", "-W", "5", "198.18.0.9"]
            ping = await trio.run_process(ping_command, capture_stdout=True, check=False)
            assert ping.returncode == 0, ping.stdout
            await read_until(proc.stdout, b"ICMP echo reply", stdout)

        await _interrupt(proc, stdout)
        with trio.fail_after(1):
            stderr = await proc.stderr.receive_some()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert proc.returncode == 0
    assert stderr == b"", stderr  # no traceback
    text = stdout.decode()
    assert "IP 198.18.0.1 > 198.18.0.9: ICMP echo request, id " in text
    assert "IP 198.18.0.9 > 198.18.0.1: ICMP echo reply, id " in text
    assert subprocess.run(["ip", "link", "show", tun_name], capture_output=True).returncode != 0


def _echo_and_get(addr: str) -> tuple[bytes, int, bytes]:
    with socket.create_connection((addr, 7), timeout=5) as sock:
        sock.sendall(b"ping over TCP\n")
        sock.shutdown(socket.SHUT_WR)
        echoed = b""
        while chunk := sock.recv(100):
            echoed += chunk
    conn = http.client.HTTPConnection(addr, 80, timeout=5)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        return echoed, response.status, response.read()
    finally:
        conn.close()


async def _downloading(addr: str) -> None:
    """Until the kernel's connection to addr:80 has received bytes (`ss -i`): the server accepted it
    and is answering. (A fixed pause was a race: curl, another process, may not even have connected
    by then on a loaded machine, and the server would count one connection too few.)"""
    command = ["ss", "-tniH", "state", "established", "dst", f"{addr}:80"]
    while True:
        done = await trio.run_process(command, capture_stdout=True)
        if re.search(r"bytes_received:[1-9]", done.stdout.decode()):
            return
        await trio.sleep(0.02)


async def test_up_serves_echo_and_http_and_ctrl_c_still_stops_it_within_a_second(tun_name: str) -> None:
    addr = "198.18.0.9"
    command = [sys.executable, "-m", "minitcp.cli", "up", "--dev", tun_name, "--addr", addr,
               "--echo", "7", "--http", "80"]
    proc = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    stdout = bytearray()
    idle = download = None
    try:
        with trio.fail_after(HANG_GUARD):
            await read_until(proc.stdout, b"Ctrl-C stops\n", stdout)
            echoed, status, page = await trio.to_thread.run_sync(_echo_and_get, addr)
            assert echoed == b"ping over TCP\n"
            assert status == 200
            assert b"minitcp" in page
            # Neither a connection left open nor a download under way may hold the exit up.
            idle = await trio.to_thread.run_sync(lambda: socket.create_connection((addr, 7), timeout=5))
            download = await trio.lowlevel.open_process(
                ["curl", "-s", "-o", "/dev/null", "--max-time", "10", f"http://{addr}/bytes/10000000000"]
            )
            await _downloading(addr)  # under way: minitcp accepted it and its bytes are coming
            assert download.returncode is None

        await _interrupt(proc, stdout)
        with trio.fail_after(1):
            await read_until(proc.stdout, b"http served 2 connection(s)\n", stdout)
            stderr = await proc.stderr.receive_some()
    finally:
        if idle is not None:
            # Aborted (SO_LINGER 0: an RST, nothing left behind). The stopped stack closed its end,
            # so a close now leaves the kernel in LAST_ACK, sending its FIN again for a minute and
            # more into the stacks of later tests at this address (test_control_up, test_web_up),
            # which answer it with an RST they did not expect to send.
            idle.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            idle.close()
        if download is not None and download.returncode is None:
            download.kill()
            await download.wait()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert proc.returncode == 0
    assert stderr == b"", stderr
    text = stdout.decode()
    assert f"minitcp: echo on {addr}:7: try `nc {addr} 7`" in text
    assert f"minitcp: http on {addr}:80: try `curl http://{addr}/`" in text
    assert f"stopped, {tun_name} removed" in text
    assert "minitcp: echo served 2 connection(s)" in text
    assert subprocess.run(["ip", "link", "show", tun_name], capture_output=True).returncode != 0
