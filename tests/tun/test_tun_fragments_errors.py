"""The kernel against minitcp's IP host: ping -s 2000 in both families (the kernel fragments the
request, minitcp reassembles it and fragments its reply, the kernel reassembles that), and a
kernel UDP socket told "port unreachable" (ECONNREFUSED) in both families."""

from __future__ import annotations

import errno
import shutil
import socket

import pytest
import trio

from minitcp.stack import Stack

ADDR, ADDR6 = "198.18.0.2", "2001:2::2"


@pytest.mark.skipif(shutil.which("ping") is None, reason="ping is not installed")
@pytest.mark.parametrize(("flag", "addr", "prefix"), [("-4", ADDR, ""), ("-6", ADDR6, "Ip6")])
async def test_ping_s_2000(tun_stack: Stack, flag: str, addr: str, prefix: str) -> None:
    with trio.fail_after(20):
        done = await trio.run_process(["ping", flag, "-s", "2000", "-c", "3", "-i", "0.2", "-W", "5", addr],
                                      capture_stdout=True, check=False)
    assert done.returncode == 0, done.stdout
    assert b" 3 received" in done.stdout and b"2008 bytes from" in done.stdout
    counters = tun_stack.counters
    assert counters[prefix + "ReasmOKs"] == 3 and counters[prefix + "ReasmFails"] == 0
    assert counters[prefix + "FragOKs"] == 3 and counters[prefix + "FragCreates"] == 6


def _udp_refused(family: int, addr: str) -> int:
    """A connected kernel UDP socket sends to a port minitcp does not serve; the next receive
    fails with the error the ICMP answer set (Linux: port unreachable is ECONNREFUSED). UDP may
    be lost (the device just came up), so it asks up to three times, as a UDP client would."""
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.connect((addr, 9))
        for _ in range(3):
            sock.send(b"anyone there?")
            try:
                sock.recv(100)
            except TimeoutError:
                continue
            except OSError as e:
                return e.errno or 0
        return 0


@pytest.mark.parametrize(("family", "addr", "counter"), [
    (socket.AF_INET, ADDR, "UdpNoPorts"), (socket.AF_INET6, ADDR6, "Udp6NoPorts")])
async def test_udp_to_a_closed_port_is_refused(tun_stack: Stack, family: int, addr: str,
                                               counter: str) -> None:
    with trio.fail_after(10):
        err = await trio.to_thread.run_sync(_udp_refused, family, addr)
    assert err == errno.ECONNREFUSED
    assert tun_stack.counters[counter] >= 1
