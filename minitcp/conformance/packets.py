"""The script's packet lines, played by the remote host.

A `>` line takes the oldest segment the stack sent that no line took yet,
waits for one if there is none, and checks it against the line (matching.py)
and the line's time; the first SYN the stack sends tells its ISN, and the
first timestamp its TS clock. A `<` line is built into a segment
(`build_tcp_packet`), its numbers moved from the script's to the wire's, and
sent; an ICMP error quotes a segment the stack sent.
"""

from __future__ import annotations

import copy
import ipaddress
import math
import re
import struct

import trio

from ..wire.errors import WireError
from ..wire.icmp import build_icmp
from ..wire.icmpv6 import build_icmpv6
from ..wire.ipv4 import PROTO_ICMP, PROTO_TCP, build_ipv4, ipv4_header
from ..wire.ipv6 import PROTO_ICMPV6, build_ipv6, ipv6_header
from ..wire.segment import ACK, CWR, FIN, PSH, SYN, Segment, Segment6
from ..wire.tcp import build_tcp6_packet, build_tcp_packet, parse_tcp6_packet, parse_tcp_packet
from . import raw_options
from .matching import ECN_CODEPOINTS, ECN_MASK, MASK, compare, flags_value
from .model import IcmpEvent, PacketEvent
from .run_state import EPS, RunState, ScriptFailure

DEFAULT_WINDOW = 65535  # an inbound packet without `win`
ANY_WAIT = 600.0  # how long a `*` line waits for its packet (virtual seconds)
LENIENT_ACK_WAIT = 0.5  # --lenient-acks: how much later than due a pure ACK may come
NEXT_LOOK = 5.0  # how far a "sent nothing" message looks ahead for what the stack sent instead


class PacketLines(RunState):
    """Segments out of the stack, captured and checked by `>` lines; `<` lines and ICMP errors in."""

    # ------------------------------------------------------------------ packets out

    async def _capture(self) -> None:
        while True:
            try:
                batch = await self.peer.receive()
            except trio.ClosedResourceError:
                return
            for sent, raw in batch:
                at = sent - self.origin
                try:
                    seg: Segment | None = (parse_tcp6_packet(raw) if raw and raw[0] >> 4 == 6
                                           else parse_tcp_packet(raw))
                except WireError:
                    seg = None
                if seg is not None and seg.flags & SYN and not seg.flags & ACK:
                    # Our active open: from now on the remote host talks to this four-tuple.
                    self.local_port, self.remote_port = seg.sport, seg.dport
                self.captured.append((at, seg, raw))
                self.captured_total += 1
                raw_numbers = " (raw numbers: our ISN is not known yet)" if (
                    self.space.local_isn is None and seg is not None and seg.flags & SYN) else ""
                self._log(f"{at:8.3f}  {self.target.name} sent {self._show(seg)}{raw_numbers}")
            self._arrived.unpark_all()

    def _is_pure_ack(self, seg: Segment | None) -> bool:
        return seg is not None and seg.flags == ACK and not len(seg.payload)

    def _skip_extra_acks(self, ev: PacketEvent | None) -> None:
        """--lenient-acks: drop the pure ACKs at the head of the queue that `ev` does not match."""
        while self.captured and self._is_pure_ack(self.captured[0][1]):
            at, seg, _ = self.captured[0]
            assert seg is not None
            if ev is not None and compare(ev, seg, self.space, strict=self.strict) is None:
                return
            self.captured.popleft()
            self.skipped_acks += 1
            self._log(f"{self.now:8.3f}  skipped an extra pure ACK sent at {at:.3f}: {self._show(seg)}")

    def _skip_other_connections(self) -> None:
        """Drop the segments at the head of the queue that are not the socket under test's, as
        packetdrill reads only those (run_packet.c sniff_outbound_live_packet): a FIN of a
        connection the script closed before it opened the next, say."""
        while self.captured:
            at, seg, _ = self.captured[0]
            if seg is None:
                return
            if self.connecting:
                if seg.flags & SYN and not seg.flags & ACK:
                    return
            elif (seg.sport, seg.dport) == (self.local_port, self.remote_port):
                return
            self.captured.popleft()
            self._log(f"{self.now:8.3f}  ignored {self._show(seg)} sent at {at:.3f} s: not the "
                      f"socket under test's (packetdrill reads only its segments)")

    async def _expect(self, ev: PacketEvent) -> None:
        t = ev.time
        if t.any:
            lo, hi = self.last_time, math.inf
            deadline = max(self.now, self.last_time) + ANY_WAIT
        else:
            lo = self.last_time + t.value if t.relative else t.value
            hi = lo
            if t.upper is not None:
                hi = self.last_time + t.upper if t.upper_relative else t.upper
            deadline = hi + self._tolerance(lo) + EPS
        pure = self.lenient_acks and flags_value(ev.flags) == ACK and ev.length == 0
        if pure:
            deadline += LENIENT_ACK_WAIT
        while True:
            self._skip_other_connections()
            if self.lenient_acks:
                self._skip_extra_acks(ev if pure else None)
            if self.captured or self.now >= deadline:
                break
            with trio.move_on_at(self.origin + deadline):
                await self._arrived.park()
        self._check_failures()
        tol = self.tol if t.any else self._tolerance(lo)
        due = "any time" if t.any else f"{lo:.3f} s" if hi == lo else f"{lo:.3f}..{hi:.3f} s"
        if not self.captured:
            raise ScriptFailure(f"line {ev.line}: expected `{_packet_text(ev)}` at {due} "
                                f"(tolerance {tol * 1000:.0f} ms), but {self.target.name} sent nothing"
                                f"{await self._next_segment_note()}")
        at, seg, raw = self.captured.popleft()
        if seg is not None and self.aggregate and ev.length > len(seg.payload):
            until = at + self.tol + EPS if t.any else max(deadline, at + self.tol + EPS)
            at, seg, raw = await self._restart_on_another_connection(at, seg, raw, ev.length, until)
        if seg is not None and seg.flags & SYN:
            self.connecting = False
        self._log(f"{self.now:8.3f}  line {ev.line}: {ev.text}   <- the segment sent at {at:.3f}")
        if seg is None:
            raise ScriptFailure(f"line {ev.line}: {self.target.name} sent a packet that is not TCP at "
                                f"{at:.3f} s, script expects `{_packet_text(ev)}`")
        if self.aggregate and len(seg.payload) and ev.length > len(seg.payload):
            # The rest may come until the line's time is up (a `*` line: within the tolerance).
            until = at + self.tol + EPS if t.any else max(deadline, at + self.tol + EPS)
            seg, last_at = await self._super_segment(seg, ev.length, until)
            at = max(at, last_at)
        if (seg.flags & SYN and self.space.local_isn is None and ev.seq is not None
                and not ev.seq_absolute and flags_value(ev.flags) & SYN):
            self.space.local_isn = seg.seq
            self.space.local_syn_script = ev.seq
        mismatch = compare(ev, seg, self.space, strict=self.strict, ts_base=self.ts_base,
                           ts_slack=int(self.tol * 1000) + 1, windows=self.script.gtests_net)
        if mismatch is None and isinstance(ev.options, tuple):
            mismatch = raw_options.fast_open_mismatch(ev.options, raw)
        if mismatch is not None:
            raise ScriptFailure(f"line {ev.line}: {mismatch}: {self.target.name} sent "
                                f"{self._show(seg, ev.seq_absolute)} at {at:.3f} s, "
                                f"script expects `{_packet_text(ev)}`")
        if not t.any and not pure and not lo - tol - EPS <= at <= hi + tol + EPS:
            early = "early" if at < lo else "late"
            raise ScriptFailure(f"line {ev.line}: `{_packet_text(ev)}` sent {early} at {at:.3f} s, "
                                f"script expects it at {due} (tolerance {tol * 1000:.0f} ms)")
        if isinstance(ev.options, tuple) and seg.ts_val is not None:
            for opt in ev.options:
                if opt.kind == "TS":
                    if self.ts_base is None:
                        self.ts_base = (opt.value[0], seg.ts_val)
                    self.ts_map[opt.value[0]] = seg.ts_val
        if t.any or t.upper is not None:
            self.last_time = at
        elif pure or self.script.gtests_net:
            # A late pure ACK moves what follows, as a range event would. For Linux's scripts, as
            # packetdrill's run.c adjust_relative_event_times: the next relative time counts from
            # when this line was done, the segment's arrival if it came after the line's time.
            self.last_time = max(lo, at)
        else:
            self.last_time = lo

    async def _restart_on_another_connection(self, at: float, seg: Segment, raw: bytes, length: int,
                                             until: float) -> tuple[float, Segment | None, bytes]:
        """packetdrill (run_packet.c do_outbound_script_packet) reads on while what it read is
        shorter than the line's payload, and drops what it read when the next packet has another
        four-tuple: a SYN resent by an earlier connection just before the new connection's SYN
        with data. The packet to match, and when it was sent."""
        while True:
            if not self.captured:
                with trio.move_on_at(self.origin + until):
                    await self._arrived.park()
            if not self.captured:
                return at, seg, raw
            _, following, _ = self.captured[0]
            if following is None or (following.sport, following.dport) == (seg.sport, seg.dport):
                return at, seg, raw
            self._log(f"{self.now:8.3f}  dropped {self._show(seg)} sent at {at:.3f} s: the next segment "
                      f"is another connection's (packetdrill starts anew)")
            at, next_seg, raw = self.captured.popleft()
            assert next_seg is not None
            seg = next_seg
            if len(seg.payload) >= length:
                return at, seg, raw

    async def _super_segment(self, first: Segment, length: int, until: float) -> tuple[Segment, float]:
        """The segments that follow `first` joined into the one segment of `length` bytes a `>`
        line expects, and when the last of them was sent: packetdrill (run_packet.c
        sniff_outbound_live_packet) reads segments until their payloads add up to the line's,
        unless --strict_segments, and checks the whole with the last one's header and time.
        That is how a TSO super-segment (Linux's tcp_gso_segment puts PSH and FIN on its last
        piece only, CWR on its first only) or a burst of small GSO packets reads as one line.

        A piece belongs when it continues the sequence and carries the same ACK and otherwise the
        same flags; a FIN ends the whole. Pieces still to come are waited for until `until`.
        """
        joined = bytearray(first.payload)
        flags, at = first.flags, 0.0
        same = first.flags & ~(PSH | FIN | CWR)
        while len(joined) < length and not flags & FIN:
            if not self.captured:
                with trio.move_on_at(self.origin + until):
                    await self._arrived.park()
            if not self.captured:
                break
            next_at, piece, _ = self.captured[0]
            if (piece is None or piece.ack != first.ack or piece.seq != (first.seq + len(joined)) & MASK
                    or not len(piece.payload) or piece.flags & ~(PSH | FIN) != same
                    or len(joined) + len(piece.payload) > length):
                break
            self.captured.popleft()
            joined += piece.payload
            flags, at = (first.flags & ~(PSH | FIN)) | piece.flags, next_at
        if len(joined) == len(first.payload):
            return first, -1.0
        whole = copy.copy(first)
        whole.payload = bytes(joined)
        whole.flags = flags
        return whole, at

    async def _next_segment_note(self) -> str:
        """For a failure message: what the stack sends next, looking up to NEXT_LOOK seconds ahead."""
        with trio.move_on_after(NEXT_LOOK):
            while not self.captured:
                await self._arrived.park()
        if not self.captured:
            return f" (nor in the {NEXT_LOOK:.0f} s after)"
        at, seg, _ = self.captured[0]
        return f" (its next segment: {self._show(seg)} at {at:.3f} s)"

    # ------------------------------------------------------------------ packets in

    def _inject(self, ev: PacketEvent) -> None:
        if ev.seq is None:
            raise ScriptFailure(f"line {ev.line}: an inbound packet needs a sequence number, not `...`")
        flags = flags_value(ev.flags)
        syn = bool(flags & SYN)
        if self.listening:
            self._passive_open()
        if syn and not ev.seq_absolute and not self.remote_synced:
            # packetdrill (run_packet.c): the SYN that opens a connection to a listener, or the
            # SYN-ACK answering a connect(), gives the remote host's ISN from then on; a SYN later
            # in the connection does not.
            self.space.remote_isn = self.space.remote_to_live(ev.seq, syn=True)
            self.remote_synced = True
        seq = ev.seq if ev.seq_absolute else self.space.remote_to_live(ev.seq, syn)
        # packetdrill (run_packet.c): with the ACK flag, an unwritten ack is 0 in the script's
        # numbers; without it the field stays 0.
        ack = self.space.local_to_live(ev.ack or 0, syn) if ev.ack is not None or flags & ACK else 0
        remote, local = _address(self.target.remote_ip), _address(self.target.local_ip)
        # --ip_version=ipv6 (the target then has IPv6 addresses): the segment goes in IPv6.
        kind = Segment6 if local > 0xFFFFFFFF else Segment
        seg = kind(remote, local, self.remote_port, self.local_port, seq & MASK, ack, flags,
                   ev.window if ev.window is not None else DEFAULT_WINDOW, bytes(ev.length))
        if ev.tos is not None:
            seg.tos = ev.tos
        if ev.ttl is not None:
            seg.ttl = ev.ttl
        if ev.ecn is not None:
            seg.tos = (seg.tos & ~ECN_MASK) | ECN_CODEPOINTS[ev.ecn][0]
        if ev.urgent is not None:
            seg.urgent = ev.urgent
        for opt in ev.options if isinstance(ev.options, tuple) else ():
            if opt.kind == "mss":
                seg.mss = opt.value
            elif opt.kind == "wscale":
                seg.wscale = opt.value
            elif opt.kind == "sackOK":
                seg.sack_permitted = True
            elif opt.kind == "TS":
                val, ecr = opt.value
                seg.ts_val = val
                if ecr in self.ts_map:
                    ecr = self.ts_map[ecr]
                elif self.ts_base is not None and ecr:
                    ecr = (ecr - self.ts_base[0] + self.ts_base[1]) & MASK
                seg.ts_ecr = ecr
            elif opt.kind == "sack":
                seg.sack = tuple(((a + self.space.local) & MASK, (b + self.space.local) & MASK)
                                 for a, b in opt.value)
        try:
            packet = build_tcp6_packet(seg) if seg.ip_version == 6 else build_tcp_packet(seg)
            options = ev.options if isinstance(ev.options, tuple) else ()
            extra = b"".join(raw for raw in map(raw_options.encode, options) if raw is not None)
            if extra:
                packet = raw_options.add_options(packet, extra)
        except ValueError as e:
            raise ScriptFailure(f"line {ev.line}: cannot build the packet: {e}") from None
        self.peer.send(packet)

    def _inject_icmp(self, ev: IcmpEvent) -> None:
        """packetdrill's ICMP error: it quotes the IP header of a segment minitcp sent and the
        first 8 bytes of its TCP header (RFC 792, RFC 4443 section 2.4), our ports and the
        script's sequence number. An IPv6 run sends ICMPv6, its type and code read from
        ICMPv6's names as packetdrill reads them (icmp_packet.c's icmpv6_types)."""
        v6 = ":" in self.target.local_ip
        icmp_type, code = icmpv6_numbers(ev) if v6 else (ev.icmp_type, ev.code)
        if ev.unknown is not None and not v6:
            raise ScriptFailure(f"line {ev.line}: ICMP type or code {ev.unknown!r} is not an ICMPv4 name "
                                f"(an ICMPv6 one, or a -D NAME=VALUE not given)")
        if icmp_type is None or code is None:
            raise ScriptFailure(f"line {ev.line}: ICMP type or code {ev.type_name} {ev.code_name} is not "
                                f"an ICMPv6 name (an ICMPv4 one, or a -D NAME=VALUE not given)")
        if self.space.local_isn is None:
            raise ScriptFailure(f"line {ev.line}: an ICMP error quotes our sequence numbers, "
                                f"but minitcp has not sent a SYN yet")
        local, remote = _address(self.target.local_ip), _address(self.target.remote_ip)
        seq = ((ev.seq or 0) + self.space.local) & MASK
        tcp_head = struct.pack("!HHI", self.local_port, self.remote_port, seq)
        if v6:
            quoted = ipv6_header(local, remote, PROTO_TCP, 20 + ev.length) + tcp_head
            # RFC 4443 section 3.2: packet too big carries the next-hop MTU in 32 bits.
            icmp = build_icmpv6(remote, local, icmp_type, code, ev.mtu or 0, quoted)
            self.peer.send(build_ipv6(remote, local, PROTO_ICMPV6, icmp))
            return
        quoted = ipv4_header(local, remote, PROTO_TCP, 20 + ev.length) + tcp_head
        icmp = build_icmp(icmp_type, code, ev.mtu or 0, quoted)  # RFC 1191: the next-hop MTU
        self.peer.send(build_ipv4(remote, local, PROTO_ICMP, icmp))


# packetdrill's ICMPv6 names (icmp_packet.c: icmpv6_types and their code tables, RFC 4443).
ICMPV6_TYPES = {"unreachable": 1, "packet_too_big": 2, "time_exceeded": 3, "parameter_problem": 4,
                "echo_request": 128, "echo_reply": 129}
ICMPV6_CODES = {
    1: {"net_unreachable": 0, "no_route": 0, "admin_prohibited": 1, "not_neighbour": 2,
        "address_unreachable": 3, "port_unreachable": 4},
    3: {"exceeded_hop_limit": 0, "exceeded_frag_time": 1},
    4: {"header_field": 0, "unknown_next_header": 1, "unknown_option": 2},
}


def icmpv6_numbers(ev: IcmpEvent) -> tuple[int | None, int | None]:
    """The ICMPv6 type and code of an ICMP line (`type_N`/`code_N` as written), None for a name
    ICMPv6 does not have."""
    m = re.fullmatch(r"type_(\d+)", ev.type_name)
    icmp_type = int(m.group(1)) if m else ICMPV6_TYPES.get(ev.type_name)
    if not ev.code_name:
        return icmp_type, 0
    m = re.fullmatch(r"code_(\d+)", ev.code_name)
    code = int(m.group(1)) if m else ICMPV6_CODES.get(icmp_type or 0, {}).get(ev.code_name)
    return icmp_type, code


def _address(text: str) -> int:
    """An address of either family as the wire's integer (128 bits for IPv6)."""
    return int(ipaddress.ip_address(text))


def _packet_text(ev: PacketEvent) -> str:
    """The packet part of a script line, for messages."""
    text = ev.text
    i = text.find(ev.direction)
    return text[i:].strip() if i >= 0 else text
