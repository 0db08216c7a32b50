"""The hostile packets of `minitcp soak`: random, mutated and well-formed-but-wrong IPv4 packets.

`HostilePackets.next()` makes one packet at a time from a seeded `random.Random`,
so a run is reproducible from its seed. Every packet is addressed to the stack
(`dst`, 198.18.0.2) whenever it is long enough to carry an address at all: the
generator never makes a packet for anyone else. The kinds, each a method:

    random      bytes of any length, the IPv4 destination field set to the stack's
    mutated     a valid TCP or ICMP packet with a few bytes changed, its checksums
                recomputed half of the time so the change reaches TCP, not only the
                checksum check (a fuzzer's trick: AFL's "havoc" with a fixed checksum)
    flags       all 256 combinations of the TCP flag byte, in turn, to a listening
                port, a closed port and the live connections
    options     valid, truncated (length past the header) and oversized (a length
                byte larger than what is left, MSS 0, window scale 15 and more) options
    ipv4        bad versions, IHLs, total lengths, TTL 0, IP options, martian sources
    fragment    IPv4 fragments (MF set, offsets, tiny first fragments), which the
                stack queues for reassembly within ipfrag_high_thresh (host/reassembly.py)
    icmp        echo requests and ICMP errors of every type, quoting the stack's own
                live connections: exactly (their current sequence number) or blindly
    inject      RFC 5961 attacks on a live connection whose sequence numbers the
                attacker knows (an on-path attacker): an RST and a SYN in the window
                but not at its edge (section 3.2 and 4.2: a challenge ACK, not a reset),
                data at RCV.NXT with an ACK of data never sent or from before
                SND.UNA - MAX.SND.WND (section 5.2: discarded, not delivered)
    blind       RSTs, SYNs and bare ACKs with guessed sequence numbers at the
                connections whose four-tuple an off-path attacker can see

`Victim` is what the attacker knows of one connection (learnt by watching the
stack's segments to it); `victims` and `flows` are updated by the generator.
"""

from __future__ import annotations

import dataclasses
import random
import struct
from typing import Any

from minitcp.wire.checksum import checksum, pseudo_header_sum
from minitcp.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_ECHO_REQUEST,
    ICMP_PARAMETERPROB,
    ICMP_SOURCE_QUENCH,
    ICMP_TIME_EXCEEDED,
    UNREACH_FRAG_NEEDED,
    build_icmp,
)
from minitcp.wire.ipv4 import PROTO_ICMP, PROTO_TCP, build_ipv4, ip_int
from minitcp.wire.segment import ACK, PSH, RST, SYN, Segment
from minitcp.wire.tcp import build_tcp_packet

MASK = 0xFFFFFFFF
# An offset in sequence space that is "before" by RFC 1982 arithmetic yet older than any
# window (the largest is 2^30, RFC 7323 section 2.3): an ACK this far behind SND.UNA is
# outside RFC 5961 section 5.2's acceptable range whatever MAX.SND.WND is.
FAR = 1 << 30
# The kinds and how often each is drawn (weights). The plain random bytes are the cheapest
# and the least interesting (most die at the IPv4 checksum), so they are not the majority.
KINDS = {
    "random": 10, "mutated": 25, "flags": 15, "options": 10, "ipv4": 8, "fragment": 6,
    "icmp": 10, "inject": 10, "blind": 6,
}  # fmt: skip


@dataclasses.dataclass
class Victim:
    """A live connection as the attacker sees it from the kernel's side (the peer of the stack).

    `snd_nxt` is the stack's (its last segment's end), `rcv_nxt` the stack's (its
    last ACK), `window` its last window in bytes (scaled by its SYN-ACK's shift).
    """

    peer: int  # the kernel's address
    peer_port: int
    port: int  # the stack's port
    snd_nxt: int = 0
    rcv_nxt: int = 0
    window: int = 0
    wscale: int = 0
    known: bool = False  # seen at least one segment of the stack's since the handshake


def _tcp(
    src: int,
    dst: int,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    window: int = 65535,
    payload: bytes = b"",
    **options: Any,
) -> bytes:
    return build_tcp_packet(
        Segment(src, dst, sport, dport, seq & MASK, ack & MASK, flags, window, payload, **options)
    )


def fix_checksums(packet: bytearray) -> None:
    """Recompute the IPv4 header checksum and, for TCP or ICMP, the payload's, in place.

    A packet too short for its own header or lengths is left alone.
    """
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return
    ihl = (packet[0] & 0x0F) * 4
    total = int.from_bytes(packet[2:4], "big")
    if not 20 <= ihl <= total <= len(packet):
        return
    packet[10:12] = b"\0\0"
    packet[10:12] = checksum(packet[:ihl]).to_bytes(2, "big")
    body = packet[ihl:total]
    if packet[9] == PROTO_TCP and len(body) >= 20:
        packet[ihl + 16 : ihl + 18] = b"\0\0"
        src, dst = struct.unpack_from("!II", packet, 12)
        initial = pseudo_header_sum(src, dst, PROTO_TCP, len(body))
        packet[ihl + 16 : ihl + 18] = checksum(packet[ihl:total], initial).to_bytes(2, "big")
    elif packet[9] == PROTO_ICMP and len(body) >= 8:
        packet[ihl + 2 : ihl + 4] = b"\0\0"
        packet[ihl + 2 : ihl + 4] = checksum(packet[ihl:total]).to_bytes(2, "big")


class HostilePackets:
    """A reproducible stream of hostile packets to `dst` from spoofed sources in its /24."""

    def __init__(self, seed: int, dst: str, peer: str, listen_port: int, closed_port: int) -> None:
        self.rng = random.Random(seed)
        self.dst = ip_int(dst)
        self.peer = ip_int(peer)
        self.listen_port = listen_port
        self.closed_port = closed_port
        # Spoofed sources: the upper part of the /24, where no host answers (the kernel
        # does not forward), so what the stack sends them goes nowhere.
        self.spoofed = [(self.dst & 0xFFFFFF00) | host for host in range(100, 251)]
        self.victims: list[Victim] = []  # connections whose sequence numbers are known
        self.flows: list[tuple[int, int, int]] = []  # (peer port, stack port, peer) seen only
        self.sent: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._flag_byte = 0
        kinds = list(KINDS)
        self._make = [getattr(self, kind) for kind in kinds]
        self._kinds = kinds
        self._weights = list(KINDS.values())

    def next(self) -> bytes:
        """One hostile packet; `sent` counts it under its kind."""
        index = self.rng.choices(range(len(self._kinds)), self._weights)[0]
        kind = self._kinds[index]
        packet = self._make[index]()
        self.sent[kind] += 1
        return packet

    def syn_flood(self, port: int) -> bytes:
        """A SYN from a spoofed source and port, as a SYN flood sends (hping3 --flood --rand-source)."""
        rng = self.rng
        return _tcp(
            rng.choice(self.spoofed),
            self.dst,
            rng.randrange(1024, 65536),
            port,
            rng.getrandbits(32),
            0,
            SYN,
            64240,
            mss=1460,
            sack_permitted=True,
            ts_val=rng.getrandbits(32),
            ts_ecr=0,
            wscale=7,
        )

    def probe(self, peer: int, peer_port: int, port: int) -> bytes:
        """A bare ACK with guessed numbers on a connection: almost surely outside the window,
        so the stack answers with an ACK that tells the watcher its sequence numbers."""
        rng = self.rng
        return _tcp(peer, self.dst, peer_port, port, rng.getrandbits(32), rng.getrandbits(32), ACK)

    # ------------------------------------------------------------------ helpers

    def _source(self) -> int:
        return self.rng.choice(self.spoofed)

    def _port(self) -> int:
        return self.rng.choice((self.listen_port, self.closed_port, self.rng.randrange(65536)))

    def _valid_tcp(self) -> bytes:
        rng = self.rng
        flags = rng.choice((SYN, ACK, ACK | PSH, RST, ACK | RST, SYN | ACK))
        payload = rng.randbytes(rng.choice((0, 0, 1, 100, 1400)))
        return _tcp(
            self._source(),
            self.dst,
            rng.randrange(1, 65536),
            self._port(),
            rng.getrandbits(32),
            rng.getrandbits(32),
            flags,
            rng.randrange(65536),
            payload,
            mss=rng.choice((None, 536, 1460)),
            ts_val=rng.choice((None, rng.getrandbits(32))),
            ts_ecr=0,
        )

    def _live(self) -> Victim | None:
        known = [v for v in self.victims if v.known]
        return self.rng.choice(known) if known else None

    # ------------------------------------------------------------------ the kinds

    def random(self) -> bytes:
        rng = self.rng
        size = rng.choice((1, 19, 20, 40, 60, rng.randrange(1, 1500)))
        packet = bytearray(rng.randbytes(size))
        if size >= 20:
            packet[16:20] = self.dst.to_bytes(4, "big")
            if rng.random() < 0.5:
                packet[0] = 0x45  # past the version check, to the checksum's
        return bytes(packet)

    def mutated(self) -> bytes:
        rng = self.rng
        base = self.icmp() if rng.random() < 0.2 else self._valid_tcp()
        packet = bytearray(base)
        for _ in range(rng.randrange(1, 5)):
            where = rng.randrange(len(packet))
            if where in range(16, 20):
                continue  # the destination stays the stack's
            packet[where] = rng.randrange(256)
        if rng.random() < 0.5:
            fix_checksums(packet)
        return bytes(packet)

    def flags(self) -> bytes:
        rng = self.rng
        flags = self._flag_byte
        self._flag_byte = (self._flag_byte + 1) & 0xFF
        victim = self._live()
        if victim is not None and rng.random() < 0.3:
            # To a live connection, blindly: a guessed sequence number outside the window.
            return _tcp(
                victim.peer,
                self.dst,
                victim.peer_port,
                victim.port,
                victim.rcv_nxt + FAR + rng.getrandbits(20),
                victim.snd_nxt,
                flags,
                payload=rng.randbytes(rng.choice((0, 10))),
            )
        return _tcp(
            self._source(),
            self.dst,
            rng.randrange(1, 65536),
            self._port(),
            rng.getrandbits(32),
            rng.getrandbits(32),
            flags,
            rng.randrange(65536),
            rng.randbytes(rng.choice((0, 10))),
            urgent=rng.choice((0, 1, 0xFFFF)),
        )

    def options(self) -> bytes:
        rng = self.rng
        valid = _tcp(
            self._source(),
            self.dst,
            rng.randrange(1, 65536),
            self._port(),
            rng.getrandbits(32),
            0,
            SYN,
            65535,
            mss=rng.choice((0, 1, 88, 536, 1460, 65535)),
            wscale=rng.choice((None, 0, 7, 14, 15, 255)),
            sack_permitted=rng.random() < 0.5,
            ts_val=rng.choice((None, rng.getrandbits(32))),
            ts_ecr=0,
        )
        if rng.random() < 0.3:
            return valid
        # Hand-made options: kinds 0-255 with any length byte, cut at any point.
        options = bytearray()
        for _ in range(rng.randrange(1, 6)):
            kind = rng.choice((0, 1, 2, 3, 4, 5, 8, 19, 28, 29, 30, 34, 253, 254, rng.randrange(256)))
            length = rng.choice((0, 1, 2, 3, 4, 10, 18, 40, 255))
            options += bytes((kind, length)) + rng.randbytes(rng.randrange(0, 12))
        options = options[:40]
        options += b"\0" * (-len(options) % 4)
        doff = 5 + len(options) // 4
        if rng.random() < 0.3:
            doff = rng.randrange(16)  # a data offset that lies: past the options or inside the header
        header = struct.pack(
            "!HHIIBBHHH",
            rng.randrange(1, 65536),
            self._port(),
            rng.getrandbits(32),
            0,
            doff << 4,
            SYN,
            65535,
            0,
            0,
        )
        packet = bytearray(build_ipv4(self._source(), self.dst, PROTO_TCP, header + options))
        fix_checksums(packet)
        return bytes(packet)

    def ipv4(self) -> bytes:
        rng = self.rng
        packet = bytearray(self._valid_tcp())
        what = rng.randrange(7)
        if what == 0:
            packet[0] = (rng.randrange(16) << 4) | 5  # a version that is not 4 (or is, by chance)
        elif what == 1:
            packet[0] = 0x40 | rng.randrange(16)  # any IHL, options or not
        elif what == 2:
            packet[2:4] = rng.randrange(65536).to_bytes(2, "big")  # a total length that lies
        elif what == 3:
            packet[8] = 0  # TTL 0: still ours to take (RFC 1122 section 3.2.1.7 is for routers)
        elif what == 4:
            source = rng.choice(("0.0.0.0", "127.0.0.1", "198.18.0.2", "224.0.0.1", "255.255.255.255"))
            packet[12:16] = ip_int(source).to_bytes(4, "big")  # a martian source
        elif what == 5:
            # IP options (RFC 791 section 3.1): NOPs, record route, a timestamp, or garbage.
            opts = rng.choice(
                (
                    b"\x01\x01\x01\x00",
                    b"\x07\x07\x04\x00\x00\x00\x00\x00",
                    b"\x44\x0c\x05\x00" + bytes(8),
                    rng.randbytes(4 * rng.randrange(1, 11)),
                )
            )
            packet = bytearray(bytes(packet[:20]) + opts + bytes(packet[20:]))
            packet[0] = 0x40 | (5 + len(opts) // 4)
            packet[2:4] = len(packet).to_bytes(2, "big")
        else:
            packet[9] = rng.choice((0, 2, 17, 41, 47, 50, 132, 255))  # a protocol the host does not speak
        if rng.random() < 0.8:
            fix_checksums(packet)
        return bytes(packet)

    def fragment(self) -> bytes:
        rng = self.rng
        packet = bytearray(self.rng.choice((self._valid_tcp, self.icmp))())
        more = rng.random() < 0.5
        offset = rng.choice((0, 1, 2, 185, 8191)) if not more else rng.choice((0, 0, 1, 8191))
        packet[6:8] = ((0x2000 if more else 0) | offset).to_bytes(2, "big")
        if more and rng.random() < 0.5:
            del packet[rng.randrange(21, max(22, len(packet))) :]  # a tiny first fragment
            packet[2:4] = len(packet).to_bytes(2, "big")
        fix_checksums(packet)
        return bytes(packet)

    def icmp(self) -> bytes:
        rng = self.rng
        source = rng.choice((self.peer, self._source()))
        if rng.random() < 0.2:
            data = build_icmp(ICMP_ECHO_REQUEST, 0, rng.getrandbits(32), rng.randbytes(rng.randrange(100)))
            return build_ipv4(source, self.dst, PROTO_ICMP, data)
        icmp_type, code = rng.choice((
            (ICMP_DEST_UNREACH, rng.randrange(16)), (ICMP_DEST_UNREACH, UNREACH_FRAG_NEEDED),
            (ICMP_SOURCE_QUENCH, 0), (ICMP_TIME_EXCEEDED, rng.randrange(2)), (ICMP_PARAMETERPROB, 0),
            (5, rng.randrange(4)), (rng.randrange(256), rng.randrange(256)),
        ))  # fmt: skip
        quoted = self._quoted_segment()
        rest = rng.choice((0, rng.choice((0, 68, 296, 552, 1000, 1500, 65535)), rng.getrandbits(32)))
        if icmp_type == ICMP_DEST_UNREACH and code == UNREACH_FRAG_NEEDED:
            rest &= 0xFFFF  # RFC 1191: the next-hop MTU is the low 16 bits
        cut = rng.choice((len(quoted), 28, 27, 20, 8))
        return build_ipv4(source, self.dst, PROTO_ICMP, build_icmp(icmp_type, code, rest, quoted[:cut]))

    def _quoted_segment(self) -> bytes:
        """A segment the stack sent (or might have): one of its live connections, or any."""
        rng = self.rng
        victim = self._live()
        if victim is not None and rng.random() < 0.5:
            # Exactly: the sequence number of the stack's unacknowledged data, as a router on
            # the path would quote it (RFC 5927 section 4.1: the check a host makes).
            return _tcp(
                self.dst,
                victim.peer,
                victim.port,
                victim.peer_port,
                victim.snd_nxt - 1,
                victim.rcv_nxt,
                ACK,
                1000,
            )
        if self.flows and rng.random() < 0.7:
            peer_port, port, peer = rng.choice(self.flows)
            return _tcp(self.dst, peer, port, peer_port, rng.getrandbits(32), rng.getrandbits(32), ACK, 1000)
        return _tcp(
            self.dst, self._source(), self._port(), rng.randrange(65536), rng.getrandbits(32), 0, SYN, 1000
        )

    def inject(self) -> bytes:
        victim = self._live()
        if victim is None:
            return self.blind()
        rng = self.rng
        # Strictly inside the window, never at RCV.NXT: an RST there is legitimately fatal.
        inside = victim.rcv_nxt + 1 + rng.randrange(max(1, victim.window - 1))
        what = rng.randrange(5)
        if what == 0:  # RFC 5961 section 3.2: RST in the window but not exact -> challenge ACK
            return _tcp(victim.peer, self.dst, victim.peer_port, victim.port, inside, 0, RST)
        if what == 1:  # section 4.2: a SYN in a synchronized state -> challenge ACK
            return _tcp(victim.peer, self.dst, victim.peer_port, victim.port, inside, 0, SYN, mss=1460)
        if what == 2:  # section 5.2: data acking what was never sent -> discarded, ACK sent
            return _tcp(
                victim.peer,
                self.dst,
                victim.peer_port,
                victim.port,
                victim.rcv_nxt,
                victim.snd_nxt + 1 + rng.randrange(FAR),
                ACK | PSH,
                65535,
                b"INJECTED",
            )
        if what == 3:  # section 5.2: data acking before SND.UNA - MAX.SND.WND -> discarded
            return _tcp(
                victim.peer,
                self.dst,
                victim.peer_port,
                victim.port,
                victim.rcv_nxt,
                victim.snd_nxt - FAR - rng.randrange(FAR),
                ACK | PSH,
                65535,
                b"INJECTED",
            )
        # RST|ACK in the window with an acceptable ACK: still only a challenge ACK
        return _tcp(victim.peer, self.dst, victim.peer_port, victim.port, inside, victim.snd_nxt, RST | ACK)

    def blind(self) -> bytes:
        rng = self.rng
        if self.flows:
            peer_port, port, peer = rng.choice(self.flows)
        elif self.victims:
            v = rng.choice(self.victims)
            peer_port, port, peer = v.peer_port, v.port, v.peer
        else:
            return self.flags()
        # No payload: a blind data injection that lands (p ~ window/2^32 twice) would be a real
        # attack succeeding, on Linux as well; RST and SYN are the ones RFC 5961 makes harmless.
        flags = rng.choice((RST, SYN, ACK, RST | ACK))
        return _tcp(peer, self.dst, peer_port, port, rng.getrandbits(32), rng.getrandbits(32), flags)
