"""A SYN flood's batches answered by the TUN link in C (minitcp/link/cookie_rx.py), against the
kernel: its connects through cookies succeed, the counters are the usual path's, and with a
packet hook attached every packet goes through the host instead."""

from __future__ import annotations

import socket
import struct
from typing import Any

import pytest
import trio

from minitcp.host.cookie_batch import ROWS, SYN_BURST, CookieBatch
from minitcp.link.cookie_rx import CookieReader
from minitcp.link.tun import EARLY_POLL_WRITES, TunLink
from minitcp.soak.cookie_cost import flood
from minitcp.stack import Stack
from minitcp.tcp.knobs import Knobs
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, RST, SYN, Segment
from minitcp.wire.tcp import build_tcp_packet

pytestmark = pytest.mark.skipif(not CookieReader.available, reason="minitcp._native is not built")

CONNECTS = 6
ETH_P_IP = 0x0800


async def _connect_all(nursery: trio.Nursery, tun_name: str, hooked: bool,
                       monkeypatch: pytest.MonkeyPatch) -> tuple[Stack, list[int], list[str]]:
    answered: list[int] = []
    usual = CookieBatch.answered

    def counted(self: CookieBatch, rows: bytes, now: float, *made: Any) -> None:
        answered.append(len(rows) - rows.count(0))
        usual(self, rows, now, *made)

    monkeypatch.setattr(CookieBatch, "answered", counted)
    seen: list[tuple[str, int]] = []  # direction, and TCP flags of an IPv4 packet (else -1)
    link = TunLink(tun_name)
    stack = Stack(link, "198.18.0.2", knobs=Knobs(tcp_syncookies=2),
                  on_packet=(lambda d, pkt, now: seen.append((d, _flags(pkt)))) if hooked else None)
    listener = stack.engine.listen(0, 7, 64)
    nursery.start_soon(stack.run)
    socks = []
    with trio.fail_after(10):
        for k in range(CONNECTS):  # one SYN at a time: each a batch of its own
            socks.append(sock := trio.socket.socket())
            await sock.connect(("198.18.0.2", 7))  # the kernel got a cookie's SYN-ACK, sent the ACK
            while len(listener.accept_queue) < k + 1:
                await trio.sleep(0.01)
    for sock in socks:  # an abort (RST): no orphan left retransmitting its FIN into later devices
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    link.close()
    return stack, answered, seen


async def test_cookies_answered_by_the_link_make_connections(nursery: trio.Nursery, tun_name: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """tcp_syncookies=2: the first SYN is answered the usual way (it turns the batch path on),
    every later one by the link; each cookie's ACK makes a connection; the counters are those
    of the usual path: a SYN in, a SYN-ACK out, each counted once."""
    stack, answered, _ = await _connect_all(nursery, tun_name, False, monkeypatch)
    c, tcp = stack.counters, stack.engine.counters
    assert sum(answered) == CONNECTS - 1
    assert tcp["SyncookiesSent"] == tcp["SyncookiesRecv"] == tcp["TCPReqQFullDoCookies"] == CONNECTS
    # SYN-ACKs only, but for RSTs to strays: an earlier test's orphaned kernel socket may still be
    # retransmitting its FIN to 198.18.0.2, into this device (each a RST; 1 run in 2 in a loop of 8
    # when this test closed its kernel sockets after the device and left orphans of its own).
    assert tcp["InSegs"] >= 2 * CONNECTS and tcp["OutSegs"] - tcp["OutRsts"] == CONNECTS
    assert c["OutRequests"] == CONNECTS and c["InDelivers"] == c["InReceives"] >= 2 * CONNECTS


async def test_a_packet_hook_sees_every_packet(nursery: trio.Nursery, tun_name: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With `on_packet` (a trace, a pcap) nothing is answered by the link: the hook sees each
    SYN and each SYN-ACK."""
    stack, answered, seen = await _connect_all(nursery, tun_name, True, monkeypatch)
    assert answered == [] and stack.engine.counters["SyncookiesSent"] == CONNECTS
    assert seen.count(("out", SYN | ACK)) == seen.count(("in", SYN)) == CONNECTS
    assert len(seen) == stack.counters["InReceives"] + stack.counters["OutRequests"] \
        + stack.counters["Ip6InReceives"] + stack.counters["Ip6OutRequests"]


def _flags(pkt: bytes | memoryview) -> int:
    return pkt[(pkt[0] & 0x0F) * 4 + 13] if pkt[0] >> 4 == 4 and pkt[9] == 6 else -1




async def test_a_burst_of_writes_reads_one_batch_of_a_flood(tun_name: str) -> None:
    """The reads between a burst's writes (`TunLink.take_early`) stop after one batch of packets
    read, the SYNs the link answered itself counted: under a flood they would otherwise read and
    answer a batch every EARLY_POLL_WRITES writes, holding the host's packets found among them
    until the burst ends. Nothing here runs the stack's reader: the SYNs wait on the device."""
    limit = 16
    link = TunLink(tun_name, batch_limit=limit)
    try:
        stack = Stack(link, "198.18.0.2", knobs=Knobs(tcp_syncookies=2))
        stack.engine.listen(0, 7, 64)
        stack.engine.last_cookie = trio.current_time()  # a cookie just sent: the batch path is on
        with socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP)) as attacker:
            attacker.bind((link.name, ETH_P_IP))
            for syn in flood(5 * limit):
                attacker.send(syn)
        counters = stack.engine.counters
        rst = build_tcp_packet(Segment(ip_int("198.18.0.2"), ip_int("198.18.0.1"), 7, 9, 1, 0, RST, 0))
        for _ in range(3 * EARLY_POLL_WRITES):  # a burst: three polls between its writes
            link.send(rst)
        assert counters["SyncookiesSent"] == link.rx_answered == limit
        assert link.take_early() == []  # every packet read was a SYN the link answered
        for _ in range(EARLY_POLL_WRITES):  # the next burst reads the next batch
            link.send(rst)
        assert counters["SyncookiesSent"] == link.rx_answered == 2 * limit
        assert counters["TCPReqQFullDoCookies"] == counters["InSegs"] == 2 * limit
        assert stack.counters["InReceives"] == 2 * limit
    finally:
        link.close()


def _device_received(dev: str) -> int:
    """The packets the kernel received from `dev` (what the stack wrote), from /proc/net/dev."""
    with open("/proc/net/dev") as f:
        for line in f.readlines()[2:]:
            name, _, fields = line.partition(":")
            if name.strip() == dev:
                return int(fields.split()[1])
    raise LookupError(dev)


async def test_a_mixed_batch_s_syn_acks_leave_after_the_host_s_answer(nursery: trio.Nursery,
                                                                      tun_name: str) -> None:
    """A batch of flood SYNs with a packet for the host (another flow's ACK, answered with a
    RST): the SYN-ACKs wait for the host's answer, then leave before the reader waits again,
    with no later packet to push them out."""
    link = TunLink(tun_name)
    try:
        stack = Stack(link, "198.18.0.2", knobs=Knobs(tcp_syncookies=2))
        stack.engine.listen(0, 7, 64)
        stack.engine.last_cookie = trio.current_time()
        syns = flood(4)
        user = build_tcp_packet(Segment(ip_int("198.18.0.1"), ip_int("198.18.0.2"), 40000, 7, 1, 1, ACK,
                                        1000))
        before = _device_received(link.name)
        with socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP)) as attacker:
            attacker.bind((link.name, ETH_P_IP))
            for pkt in (syns[0], user, *syns[1:]):
                attacker.send(pkt)
        nursery.start_soon(stack.run)
        with trio.fail_after(5):  # a bound for a broken build, not a timing assertion
            while _device_received(link.name) - before < 5:
                await trio.sleep(0.01)
        counters = stack.engine.counters
        assert counters["SyncookiesSent"] == link.rx_answered == 4 and counters["OutRsts"] == 1
        assert _device_received(link.name) - before == 5
    finally:
        link.close()


async def test_a_burst_fills_the_syn_queue_in_batches(nursery: trio.Nursery, tun_name: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """tcp_syncookies=1, a backlog of 64: the burst's first SYN_BURST SYNs make requests the usual
    way, the link answers the next ones with request socks (`mt_request_synack`) while the SYN
    queue has room, the kernel's connect among them too, whose third ACK makes its connection;
    the counters are those of the usual path."""
    made: list[int] = []
    usual = CookieBatch.answered

    def counted(self: CookieBatch, rows: bytes, now: float, *rest: Any) -> None:
        made.append(sum(1 for r in rows if r > ROWS))
        usual(self, rows, now, *rest)

    monkeypatch.setattr(CookieBatch, "answered", counted)
    link = TunLink(tun_name)
    try:
        stack = Stack(link, "198.18.0.2", knobs=Knobs())
        listener = stack.engine.listen(0, 7, 64)
        nursery.start_soon(stack.run)
        syns = flood(SYN_BURST + 40)
        with socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP)) as attacker:
            attacker.bind((link.name, ETH_P_IP))
            with trio.fail_after(10):  # bounds for a broken build, not timing assertions
                for pkt in syns[:SYN_BURST]:
                    attacker.send(pkt)
                while len(listener.syn_queue) < SYN_BURST:
                    await trio.sleep(0.01)
                assert sum(made) == 0  # the usual path's
                for pkt in syns[SYN_BURST:]:
                    attacker.send(pkt)
                while len(listener.syn_queue) < SYN_BURST + 40:
                    await trio.sleep(0.01)
                assert sum(made) == 40
                sock = trio.socket.socket()
                await sock.connect(("198.18.0.2", 7))  # its SYN answered by the link too
                while not listener.accept_queue:
                    await trio.sleep(0.01)
        assert sum(made) == 41 and len(listener.syn_queue) == SYN_BURST + 40
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        c, tcp = stack.counters, stack.engine.counters
        assert tcp["SyncookiesSent"] == 0 and tcp["PassiveOpens"] == 1
        assert tcp["OutSegs"] - tcp["OutRsts"] == SYN_BURST + 41 == len(stack.engine.requests) + 1
        assert c["OutRequests"] == tcp["OutSegs"] and c["InReceives"] == c["InDelivers"] >= tcp["InSegs"]
    finally:
        link.close()
