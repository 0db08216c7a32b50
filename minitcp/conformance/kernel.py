"""The Linux kernel as the stack under test, as packetdrill runs it: behind a TUN device, in real time.

Only ever used inside a fresh private network namespace (kernel_pool.py
makes one per script): the TUN device's kernel side is the stack under test,
198.18.0.1/24, and the runner is the remote host 198.18.0.2, writing its
packets to the device (an `--ip_version=ipv6` script: 2001:2::1/64 and
2001:2::2, AF_INET6 sockets, IPv6 packets). The kernel's packets are read, as packetdrill reads
them, from a packet socket on the device that stamps each with the time the
kernel sent it: a runner that reads late (a busy machine) still times the
kernel right. Sysctls go to the namespace's own /proc/sys/net/ipv4,
`sockstat` reads its /proc/net/tcp, and TCP_INFO comes from the kernel.
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import socket
import struct
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import pytun
import trio

from ..link.vnet import GSO_TCPV4, PLAIN_HDR, TUN_F_CSUM, TUN_F_TSO4, TUNSETOFFLOAD, VNET_HDR, VNET_HDR_LEN
from ..netns import enter_private_netns
from ..wire.checksum import checksum, pseudo_header_sum, pseudo_header_sum6
from ..wire.ipv4 import PROTO_TCP
from .kernel_sockets import BlockingCalls, KernelEpoll, KernelSocket, kernel_poll
from .packetdrill_common import GATEWAY_IP6, KERNEL_IP6, PEER_IP6, map_addresses
from .sysctls import write_linux_sysctl, write_linux_sysctl_file
from .target import SocketRow, TargetSocket
from .tcp_info import KERNEL_TCP_INFO, kernel_tcp_info

TUN_NAME = "tun0"  # packetdrill's name (netdev.c TUN_DEV), which the scripts' own commands use
# The scripts' commands that configure the TUN device or its routes (`ethtool -K tun0 tso off`,
# `tc qdisc replace dev tun0 ...`, `ip route change ...`): run in the script's namespace, with the
# referee's addresses (referee.map_addresses). Nothing else a script's shell does is run.
DEVICE_COMMANDS = frozenset({"ethtool", "tc", "ip"})
_TO_DEV_NULL = re.compile(r"\s*(?:&>|[12]?>)\s*/dev/null(?:\s+2>&1)?")
_SHELL = re.compile(r"[;&|<>`$]")
SYSCTL_ROOT = Path("/proc/sys/net/ipv4")
PROC_SYS = Path("/proc/sys")
READ_SIZE = 65535  # the largest IPv4 packet
COMMAND_TIMEOUT = 10.0  # seconds a device command may take
# <linux/if_ether.h>, <linux/if_packet.h>, <asm-generic/socket.h>: every protocol, a packet the
# host sends, a stamp of when the packet socket saw it (a struct timespec of wall-clock time).
_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4
_SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("=qq")
_TUN_F_TSO_ECN = 0x08  # linux/if_tun.h: TSO of segments with CWR, as packetdrill asks for too
_TUN_F_TSO6 = 0x04  # linux/if_tun.h: TCP/IPv6 super-segments (packetdrill's set_device_offload_flags)
_GSO_TCPV6 = 0x04  # linux/virtio_net.h VIRTIO_NET_HDR_GSO_TCPV6
IPV6_PREFIX = 64  # the device's IPv6 prefix: 2001:2::/64, the addresses this project may use
IPV6_HEADER = 40  # RFC 8200 section 3: the fixed header (the kernel's TCP segments carry no extension)
_NEXT_HEADER_ICMPV6 = 58
_HOP_BY_HOP = 0
# ICMPv6 types of the link's own upkeep, never of a script: MLD (RFC 2710, RFC 3810: 130-132,
# 143) and Neighbor Discovery (RFC 4861: 133-137). Their hop-by-hop MLD reports too.
_LINK_UPKEEP = frozenset({130, 131, 132, 133, 134, 135, 136, 137, 143})

# Linux's TCP_* state numbers (include/net/tcp_states.h) with FreeBSD's names for them; a
# request socket (TCP_NEW_SYN_RECV) is a SYN-RECEIVED connection to FreeBSD.
LINUX_STATES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RCVD", 4: "FIN_WAIT_1", 5: "FIN_WAIT_2", 6: "TIME_WAIT",
    7: "CLOSED", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "SYN_RCVD",
}


class TunPeer:
    """The remote host's end of a TUN device whose kernel side (`local_ip`) is the stack under test.

    With `offload`, the device is packetdrill's on Linux (netdev.c): a virtio-net header before
    each packet and TSO switched on, so the kernel hands it whole TSO super-segments (the packet
    socket sees them so, their TCP checksum left partial) and takes GSO packets of `gso_size`
    segments from it (packetdrill's --mss).
    """

    def __init__(self, local_ip: str, mtu: int, *, offload: bool = False, gso_size: int = 0) -> None:
        flags = pytun.IFF_TUN | pytun.IFF_NO_PI | (pytun.IFF_VNET_HDR if offload else 0)
        self._dev = pytun.TunTapDevice(name=TUN_NAME, flags=flags)
        self._offload = offload
        self._gso_size = gso_size
        self._v6 = ":" in local_ip
        if offload:
            fcntl.ioctl(self._dev.fileno(), TUNSETOFFLOAD,
                        TUN_F_CSUM | TUN_F_TSO4 | _TUN_F_TSO6 | _TUN_F_TSO_ECN)
        self._dev.mtu = mtu
        conf = Path("/proc/sys/net/ipv6/conf") / TUN_NAME
        if self._v6:
            # No router solicitations from the device (an IPv6 host's own upkeep); MLD reports
            # and any other such packet `receive` leaves out.
            for name in ("accept_ra", "router_solicitations"):
                (conf / name).write_text("0")
        elif (conf / "disable_ipv6").exists():
            # IPv6 would bring router solicitations and MLD reports into the device: packets no
            # script expects. Below IPv6's minimum MTU (1280) the kernel has no IPv6 there at all.
            (conf / "disable_ipv6").write_text("1")
        if not self._v6:
            self._dev.addr = local_ip
            self._dev.netmask = "255.255.255.0"
        self._dev.up()
        if self._v6:
            # packetdrill's net_add_ipv6_address (`ip addr add`); `nodad`: usable at once (a
            # NOARP device does no DAD anyway, and packetdrill waits for none on a TUN device).
            subprocess.run(["ip", "-6", "addr", "add", f"{local_ip}/{IPV6_PREFIX}", "dev", TUN_NAME, "nodad"],
                           capture_output=True, timeout=COMMAND_TIMEOUT, check=True)
        self._fd = self._dev.fileno()
        os.set_blocking(self._fd, False)
        self._sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        self._sniffer.bind((TUN_NAME, _ETH_P_ALL))
        self._sniffer.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self._sniffer.setblocking(False)

    def send(self, packet: bytes) -> None:
        if self._offload:
            packet = self._vnet_header(packet) + packet
        os.write(self._fd, packet)

    def _vnet_header(self, packet: bytes) -> bytes:
        """packetdrill's linux_tun_write: a TCP packet whose payload is more than --mss goes as
        GSO of --mss segments (its checksum complete); any other as it is."""
        ihl, proto = (IPV6_HEADER, packet[6]) if self._v6 else ((packet[0] & 0xF) * 4, packet[9])
        if not self._gso_size or proto != PROTO_TCP:
            return PLAIN_HDR
        headers = ihl + (packet[ihl + 12] >> 4) * 4
        if len(packet) - headers <= self._gso_size:
            return PLAIN_HDR
        return VNET_HDR.pack(0, _GSO_TCPV6 if self._v6 else GSO_TCPV4, 0, self._gso_size, 0, 0)

    async def receive(self) -> list[tuple[float, bytes]]:
        # The kernel's stamps are wall-clock time; trio's clock is its own.
        offset = trio.current_time() - time.time()
        while True:
            await trio.lowlevel.wait_readable(self._sniffer)
            self._drain_device()
            batch: list[tuple[float, bytes]] = []
            while True:
                try:
                    packet, ancillary, _, address = self._sniffer.recvmsg(READ_SIZE, 64)
                except BlockingIOError:
                    break
                if address[2] != _PACKET_OUTGOING:
                    continue  # one the runner wrote
                if _link_upkeep(packet):
                    continue  # MLD or Neighbor Discovery: packetdrill sniffs TCP only
                stamps = [data for level, kind, data in ancillary
                          if (level, kind) == (socket.SOL_SOCKET, _SO_TIMESTAMPNS)]
                seconds, nanoseconds = _TIMESPEC.unpack(stamps[0])
                if self._offload:
                    packet = _tcp_checksummed(packet)
                batch.append((seconds + nanoseconds / 1e9 + offset, packet))
            if batch:
                return batch

    def _drain_device(self) -> None:
        """The device's own copy of what the kernel sent: read, so its queue never fills."""
        while True:
            try:
                os.read(self._fd, READ_SIZE + VNET_HDR_LEN)
            except BlockingIOError:
                return


class KernelTarget:
    """Made by `fresh()`, which first moves the process into a network namespace of its own."""

    name = "the kernel"
    local_ip = "198.18.0.1"
    remote_ip = "198.18.0.2"
    real_time = True
    family = socket.AF_INET

    def __init__(self, namespace: int, *, offload: bool = False, gso_size: int = 0) -> None:
        self.namespace = namespace  # the fresh namespace's inode: the TUN device goes nowhere else
        self.calls = BlockingCalls()
        self.offload = offload  # the TUN device as packetdrill makes it on Linux (TunPeer)
        self.gso_size = gso_size

    @classmethod
    def fresh(cls, *, offload: bool = False, gso_size: int = 0) -> KernelTarget:
        """Enter a new network namespace (the process must be single-threaded) and target its kernel."""
        before = _namespace()
        enter_private_netns()
        after = _namespace()
        if after == before:
            raise RuntimeError("unshare() left the process in its network namespace")
        return cls(after, offload=offload, gso_size=gso_size)

    def use_ipv6(self) -> None:
        """Play an `--ip_version=ipv6` script: the kernel at 2001:2::1, the remote host at
        2001:2::2 (packetdrill's IPv6 defaults moved into 2001:2::/64), AF_INET6 sockets."""
        self.local_ip, self.remote_ip, self.family = KERNEL_IP6, PEER_IP6, socket.AF_INET6

    def clock(self) -> None:
        return None

    async def open(self, nursery: trio.Nursery, mtu: int) -> TunPeer:
        if _namespace() != self.namespace:
            raise RuntimeError("the kernel target runs only in the network namespace made for it")
        peer = TunPeer(self.local_ip, mtu, offload=self.offload, gso_size=self.gso_size)
        # packetdrill's route_traffic_to_device (netdev.c): a route of its own to the remote host,
        # through the device via the gateway (run_all.py's is the local address), which the
        # scripts' own `ip route change REMOTE ...` lines then change.
        # IPv6 takes no local address as a gateway: an on-link neighbour (referee.py's too).
        route = (["-6", "route", "add", f"{self.remote_ip}/128", "via", GATEWAY_IP6]
                 if self.family == socket.AF_INET6 else
                 ["route", "add", f"{self.remote_ip}/32", "via", self.local_ip])
        subprocess.run(["ip", *route, "dev", TUN_NAME], capture_output=True, timeout=COMMAND_TIMEOUT,
                       check=False)
        await self.calls.warm_up()
        return peer

    def socket(self) -> KernelSocket:
        return KernelSocket(self.calls, family=self.family)

    async def settle(self) -> None:
        await self.calls.settle()

    def sysctl(self, name: str, value: str) -> bool:
        return write_linux_sysctl(name, value, SYSCTL_ROOT)

    def linux_sysctl(self, name: str, value: str) -> bool:
        if name == "net.ipv4.tcp_congestion_control" and value == "cubic":
            # A namespace cannot make CUBIC its default here: every socket of the script asks
            # for it itself (KernelSocket), as Linux hosts' default.
            return True
        return write_linux_sysctl_file(name, value, PROC_SYS)

    def socket_table(self, sockets: Iterable[TargetSocket]) -> list[SocketRow]:
        rows: list[SocketRow] = []
        ours: set[int] = set()
        for sock in sockets:
            assert isinstance(sock, KernelSocket)
            ours.add(os.fstat(sock.sock.fileno()).st_ino)
            state, _ = self.tcp_info(sock)
            rows.append((True, sock.sock.getsockname()[1], _peer_port(sock.sock), state))
        # Every other entry of the namespace's table has no descriptor of the script: a connection
        # not yet accepted, a request socket, an orphan after close(), a TIME-WAIT entry.
        table = "/proc/net/tcp6" if self.family == socket.AF_INET6 else "/proc/net/tcp"
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                if int(fields[9]) in ours:
                    continue
                lport, rport = (int(a.rpartition(":")[2], 16) for a in fields[1:3])
                rows.append((False, lport, rport, LINUX_STATES[int(fields[3], 16)]))
        return rows

    def tcpdrop(self, state: str) -> bool:
        return False

    def device_command(self, command: str) -> str | None:
        # `A ; B` runs both, whatever A does, as the shell would.
        parts = [_TO_DEV_NULL.sub("", part).strip() for part in command.split(";")]
        plain = [part.split() for part in parts if part]
        if (not plain or _namespace() != self.namespace
                or any(words[0] not in DEVICE_COMMANDS or _SHELL.search(" ".join(words)) for words in plain)):
            return None  # only device commands: never another one chained to them by the shell
        problems = []
        for part in parts:
            if not part:
                continue
            done = subprocess.run(shlex.split(map_addresses(part)), capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT, check=False)
            if done.returncode:
                problems.append((done.stderr or done.stdout).strip() or f"status {done.returncode}")
        return "; ".join(problems)

    def tcp_info(self, sock: TargetSocket) -> tuple[str, dict[str, int]]:
        assert isinstance(sock, KernelSocket)
        raw = sock.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, KERNEL_TCP_INFO.size)
        values = kernel_tcp_info(raw)
        return LINUX_STATES[values.pop("tcpi_state")], values


    async def poll(self, entries: list[tuple[TargetSocket, int]], timeout_ms: int) -> list[int]:
        return await kernel_poll(self.calls, list(entries), timeout_ms)

    def epoll(self) -> KernelEpoll:
        return KernelEpoll(self.calls)

    async def sendfile(self, sock: TargetSocket, fd: int, offset: int, count: int) -> int:
        assert isinstance(sock, KernelSocket)
        return await self.calls.run(lambda: os.sendfile(sock.fileno(), fd, offset, count))

    async def splice(self, sock: TargetSocket, pipe_fd: int, count: int, flags: int) -> int:
        assert isinstance(sock, KernelSocket)
        return await self.calls.run(lambda: os.splice(sock.fileno(), pipe_fd, count, flags=flags))


def _link_upkeep(packet: bytes) -> bool:
    """An IPv6 packet of MLD or Neighbor Discovery (hop-by-hop options: an MLD report)."""
    if len(packet) < IPV6_HEADER + 1 or packet[0] >> 4 != 6:
        return False
    icmp = packet[6] == _NEXT_HEADER_ICMPV6
    return packet[6] == _HOP_BY_HOP or (icmp and packet[IPV6_HEADER] in _LINK_UPKEEP)


def _tcp_checksummed(packet: bytes) -> bytes:
    """A TCP packet the kernel left to the device to checksum (CHECKSUM_PARTIAL), checksummed:
    the field computed afresh, whatever it held."""
    if packet and packet[0] >> 4 == 6:
        return _tcp6_checksummed(packet)
    ihl = (packet[0] & 0xF) * 4
    if len(packet) < ihl + 20 or packet[9] != PROTO_TCP:
        return packet
    end = int.from_bytes(packet[2:4], "big")
    tcp = bytearray(packet[ihl:end])
    tcp[16:18] = b"\0\0"
    src, dst = int.from_bytes(packet[12:16], "big"), int.from_bytes(packet[16:20], "big")
    tcp[16:18] = checksum(tcp, pseudo_header_sum(src, dst, PROTO_TCP, len(tcp))).to_bytes(2, "big")
    return packet[:ihl] + bytes(tcp)


def _tcp6_checksummed(packet: bytes) -> bytes:
    """_tcp_checksummed for an IPv6 packet (RFC 8200 section 8.1's pseudo-header)."""
    if len(packet) < IPV6_HEADER + 20 or packet[6] != PROTO_TCP:
        return packet
    end = IPV6_HEADER + int.from_bytes(packet[4:6], "big")
    tcp = bytearray(packet[IPV6_HEADER:end])
    tcp[16:18] = b"\0\0"
    src, dst = int.from_bytes(packet[8:24], "big"), int.from_bytes(packet[24:40], "big")
    tcp[16:18] = checksum(tcp, pseudo_header_sum6(src, dst, PROTO_TCP, len(tcp))).to_bytes(2, "big")
    return packet[:IPV6_HEADER] + bytes(tcp)


def _namespace() -> int:
    return os.stat("/proc/self/ns/net").st_ino


def _peer_port(sock: socket.socket) -> int:
    try:
        return sock.getpeername()[1]
    except OSError:
        return 0
