"""The attacker of `minitcp soak`: a process on the kernel's side of the TUN device.

It writes packets straight into the device with a packet socket (AF_PACKET,
bound to the device): whatever it sends reaches the stack's end of the TUN
device and nothing else, and the kernel does not fix up a single byte of it
(a raw IPv4 socket would rewrite the total length and checksum, and refuse
some fragments). Every packet long enough to carry an IPv4 destination
carries the stack's, 198.18.0.2, checked before it is sent.

It learns the live connections as an attacker would: the four-tuples of the
kernel's connections to the stack from /proc/net/tcp (what anyone on the path
sees), and, as an on-path attacker, the sequence numbers of the connections
from the victims' address, by watching the stack's segments to it (a BPF filter
on the same packet socket lets only those through).

Modes: `hostile` sends the mix of `HostilePackets` and `flood` sends spoofed
SYNs. Both stop at `--packets` or `--seconds`, whichever comes first, paced at
`--rate` packets per second, and print one JSON object: what was sent.

    python -m minitcp.soak.generator hostile --dev msoak0 --packets 100000 --seconds 60
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import socket
import struct
import sys
import time

from minitcp.netns import in_private_netns
from minitcp.soak.packets import HostilePackets, Victim
from minitcp.tcp.seq import seq_gt
from minitcp.wire.errors import WireError
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, SYN
from minitcp.wire.tcp import parse_tcp_packet

ETH_P_IP = 0x0800
SO_ATTACH_FILTER = 26  # <asm-generic/socket.h>
BURST = 64  # packets between two looks at the clock (pacing) and the sniffer
SNIFF_MAX = 1000  # segments taken per look: the rest wait for the next burst (a bounded loop)
FLOWS_EVERY = 1.0  # seconds between two readings of /proc/net/tcp
TCP_ESTABLISHED = 1  # the st column of /proc/net/tcp (include/net/tcp_states.h)


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def _only_to(sock: socket.socket, addr: int) -> None:
    """Attach a classic BPF program (filter.txt in Linux's docs) that lets through only the
    IPv4 packets whose destination is `addr`: the stack's segments to the victims."""
    program = (
        (0x20, 0, 0, 16),  # ld [16]: the IPv4 destination (SOCK_DGRAM: no link header)
        (0x15, 0, 1, addr),  # jeq #addr, accept, drop
        (0x06, 0, 0, 0xFFFF),  # ret #65535: accept
        (0x06, 0, 0, 0),  # ret #0: drop
    )
    insns = (_SockFilter * len(program))(*(_SockFilter(*i) for i in program))
    prog = _SockFprog(len(program), insns)
    sock.setsockopt(
        socket.SOL_SOCKET,
        SO_ATTACH_FILTER,
        bytes(ctypes.string_at(ctypes.addressof(prog), ctypes.sizeof(prog))),
    )


class Generator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dst = ip_int(args.dst)
        self.dst_bytes = self.dst.to_bytes(4, "big")
        self.victim_addr = ip_int(args.victim_addr)
        self.packets = HostilePackets(args.seed, args.dst, args.peer, args.port, args.closed_port)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
        _only_to(self.sock, self.victim_addr)
        self.sock.bind((args.dev, ETH_P_IP))
        self.sock.setblocking(False)
        self.victims: dict[int, Victim] = {}
        # On an Ethernet device (the kernel target's veth): the target's MAC, for the link header.
        self.link_address = bytes.fromhex(args.mac.replace(":", "")) if args.mac else None
        self.sent = 0
        self.refused = 0  # packets the checks below kept back (none, unless packets.py has a bug)
        self.queue_full = 0  # sends the device's queue refused (ENOBUFS): the stack is behind
        self.unsendable = 0
        self.victim_ports: set[int] = set()  # the victims' ports, from /proc/net/tcp
        self.probes = 0  # segments sent to learn a victim's numbers
        self.sniffed = 0
        self._flows_at = 0.0

    def send(self, packet: bytes) -> None:
        if len(packet) >= 20 and packet[16:20] != self.dst_bytes:
            self.refused += 1  # never anything but the stack's address
            return
        try:
            if self.link_address is None:
                self.sock.send(packet)
            else:
                self.sock.sendto(packet, (self.args.dev, ETH_P_IP, 0, 0, self.link_address))
        except OSError as e:
            if e.errno in (errno.EMSGSIZE, errno.EINVAL):
                self.unsendable += 1  # longer than the device's MTU, or empty: no link carries it
                return
            if e.errno not in (errno.ENOBUFS, errno.EAGAIN):
                raise
            self.queue_full += 1
            return
        self.sent += 1

    def tried(self) -> int:
        return self.sent + self.queue_full + self.refused + self.unsendable

    def sniff(self) -> None:
        """Take the stack's segments to the victims seen since the last look: their numbers."""
        for _ in range(SNIFF_MAX):
            try:
                data = self.sock.recv(65535, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            try:
                # Not checked: on a veth the kernel leaves the TCP checksum to an offload
                # that never happens (CHECKSUM_PARTIAL), and these came from the target anyway.
                seg = parse_tcp_packet(data, True)
            except (WireError, ValueError):
                continue
            if seg.src != self.dst:
                continue
            self.sniffed += 1
            victim = self.victims.get(seg.dport)
            if victim is None:
                if seg.dport not in self.victim_ports:
                    continue  # a mutated packet's source happened to become the victims' address
                victim = self.victims[seg.dport] = Victim(seg.dst, seg.dport, seg.sport)
                self.packets.victims.append(victim)
            if seg.flags & SYN and seg.wscale is not None:
                victim.wscale = seg.wscale
            end = (seg.seq + seg.seg_len) & 0xFFFFFFFF
            # A keepalive probe (the soak's servers ask for keepalive) carries SND.UNA - 1
            # (RFC 9293 section 3.8.4, Linux tcp_xmit_probe_skb): it must not move SND.NXT back.
            if not victim.known or seq_gt(end, victim.snd_nxt):
                victim.snd_nxt = end
            if seg.flags & ACK:
                victim.rcv_nxt = seg.ack
                # A SYN-ACK's window is never scaled (RFC 7323 section 2.2).
                victim.window = seg.window << (0 if seg.flags & SYN else victim.wscale)
                victim.known = True

    def read_flows(self, now: float) -> None:
        """The kernel's established connections to the stack, as (peer port, port, peer)."""
        if now - self._flows_at < FLOWS_EVERY:
            return
        self._flows_at = now
        flows: list[tuple[int, int, int]] = []
        victims: list[tuple[int, int, int]] = []
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                local, remote, state = fields[1], fields[2], int(fields[3], 16)
                raddr, rport = remote.split(":")
                if state != TCP_ESTABLISHED or _proc_addr(raddr) != self.dst:
                    continue
                laddr, lport = local.split(":")
                flow = (int(lport, 16), int(rport, 16), _proc_addr(laddr))
                (victims if flow[2] == self.victim_addr else flows).append(flow)
        self.packets.flows = flows
        self.victim_ports = {peer_port for peer_port, _, _ in victims}
        for peer_port, port, peer in victims:
            victim = self.victims.get(peer_port)
            if victim is None or not victim.known:
                # The victims are idle: make the stack speak. A segment outside its window is
                # answered by an ACK carrying SND.NXT and RCV.NXT (RFC 9293 section 3.10.7.4).
                self.send(self.packets.probe(peer, peer_port, port))
                self.probes += 1
    def run(self) -> dict[str, object]:
        args = self.args
        make = self.packets.next if args.mode == "hostile" else lambda: self.packets.syn_flood(args.port)
        start = time.monotonic()
        deadline = start + args.seconds
        per_burst = BURST / args.rate if args.rate > 0 else 0.0
        bursts = 0
        while self.tried() < args.packets:
            now = time.monotonic()
            if now >= deadline:
                break
            if args.mode == "hostile":
                self.sniff()
                self.read_flows(now)
            for _ in range(min(BURST, args.packets - self.tried())):
                self.send(make())
            bursts += 1
            ahead = start + bursts * per_burst - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        end = time.monotonic()
        return {
            "mode": args.mode, "sent": self.sent, "queue_full": self.queue_full, "refused": self.refused,
            "unsendable": self.unsendable,
            "started": start, "ended": end, "seconds": end - start, "by_kind": self.packets.sent,
            "probes": self.probes,
            "victims_seen": sum(v.known for v in self.victims.values()), "sniffed": self.sniffed,
        }  # fmt: skip


def _proc_addr(text: str) -> int:
    """An address of /proc/net/tcp: the 32-bit word in the machine's byte order, in hex."""
    return int.from_bytes(struct.pack("=I", int(text, 16)), "big")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m minitcp.soak.generator", description=__doc__.splitlines()[0]
    )
    parser.add_argument("mode", choices=("hostile", "flood"))
    parser.add_argument("--dev", required=True, help="the TUN device (the stack's link)")
    parser.add_argument("--dst", default="198.18.0.2", help="the stack's address, the only destination")
    parser.add_argument("--peer", default="198.18.0.1", help="the kernel's address on the device")
    parser.add_argument(
        "--victim-addr", default="198.18.0.4", help="the kernel address of the watched connections"
    )
    parser.add_argument("--port", type=int, default=7, help="the stack's listening port")
    parser.add_argument("--closed-port", type=int, default=8, help="a port nobody listens on")
    parser.add_argument("--packets", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--rate", type=float, default=0.0, help="packets per second (0: as fast as possible)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mac", default="", help="on an Ethernet device: the target's MAC address")
    parser.add_argument(
        "--netns",
        default="",
        help="the private namespace `minitcp soak` made (net:[inode]), where this must run",
    )
    args = parser.parse_args(argv)
    if not (in_private_netns() or os.readlink("/proc/self/ns/net") == args.netns):
        print("minitcp soak: the generator runs only in a private network namespace", file=sys.stderr)
        return 1
    if not args.dst.startswith("198.18.0."):
        print("minitcp soak: the generator sends only to 198.18.0.0/24", file=sys.stderr)
        return 1
    print(json.dumps(Generator(args).run()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
