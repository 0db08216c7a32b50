"""What a trace is made of: plain dataclass events, one per thing the engine reported.

Every event has the time, the host that saw it (`"client"`, `"server"`, ...)
and the connection from that host's side (`local`, `remote` as `ip:port`;
empty when the engine reported something that belongs to no connection).
`to_dict()` gives JSON-ready values; segment events also keep a private copy
of the whole segment so a pcap can be rebuilt byte for byte.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from minitcp.tcp.family import endpoint_str
from minitcp.wire.segment import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG, Segment, Segment6

# Flag names as textbooks write them; ACK is left out when `ack=` is shown anyway.
_FLAG_WORDS = ((SYN, "SYN"), (FIN, "FIN"), (RST, "RST"), (PSH, "PSH"), (URG, "URG"), (ECE, "ECE"),
               (CWR, "CWR"))

Fingerprint = tuple[int, ...]


def endpoint(addr: int, port: int) -> str:
    return endpoint_str(addr, port)


def snapshot(seg: Segment) -> Segment:
    """A copy that outlives the packet buffer (input payloads are views into the link's batch),
    of the same class: an IPv6 segment stays a `Segment6`, its flow label kept."""
    copy = type(seg)(seg.src, seg.dst, seg.sport, seg.dport, seg.seq, seg.ack, seg.flags, seg.window,
                   bytes(seg.payload))
    for name in Segment.__slots__:
        if name != "payload":
            setattr(copy, name, getattr(seg, name))
    if isinstance(seg, Segment6) and isinstance(copy, Segment6):
        copy.flow_label = seg.flow_label
    return copy


def fingerprint(seg: Segment) -> Fingerprint:
    """What tells one transmission from another on the wire (a retransmission without
    timestamps looks the same as the original: traces match the latest one)."""
    return (seg.src, seg.dst, seg.sport, seg.dport, seg.seq, seg.ack, seg.flags, len(seg.payload),
            seg.window, -1 if seg.ts_val is None else seg.ts_val)


def seg_label(flags: int, seq: int, ack: int | None, length: int) -> str:
    """`SYN seq=0`, `SYN-ACK seq=0 ack=1`, `ACK ack=1`, `PSH seq=1 ack=1 len=100`, `FIN seq=101 ack=301`."""
    words = [name for bit, name in _FLAG_WORDS if flags & bit]
    if flags & (SYN | ACK) == SYN | ACK:
        words[0] = "SYN-ACK"  # the handshake's second segment has a name of its own
    if not words:
        words = ["ACK"] if flags & ACK else ["none"]
    parts = ["+".join(words)]
    # Like tcpdump: seq only when the segment occupies sequence space or resets.
    if length or flags & (SYN | FIN | RST):
        parts.append(f"seq={seq}")
    if ack is not None:
        parts.append(f"ack={ack}")
    if length:
        parts.append(f"len={length}")
    return " ".join(parts)


@dataclass
class Event:
    kind: ClassVar[str] = "event"
    time: float
    host: str
    local: str
    remote: str

    @property
    def conversation(self) -> tuple[str, str]:
        """The connection as both hosts name it: its two endpoints in sorted order."""
        a, b = sorted((self.local, self.remote))
        return a, b

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            if not f.name.startswith("_"):
                out[f.name] = getattr(self, f.name)
        return out


@dataclass
class SegmentEvent(Event):
    """A segment the host took in (`"in"`) or handed out (`"out"`); seq/ack relative to each ISN."""

    kind: ClassVar[str] = "segment"
    direction: str
    flags: str  # tcpdump letters: S, S., ., P., F., R
    seq: int
    ack: int | None
    length: int
    window: int
    options: dict[str, Any]
    abs_seq: int
    abs_ack: int | None
    retransmit: bool = False
    reason: str = ""  # why it was resent: RTO, TLP, RACK, fast retransmit
    # A piece the host cut from one TSO packet (Linux tcp_gso_segment): (its index from 0, how
    # many pieces); None when the engine sent it as it is.
    tso: tuple[int, int] | None = None
    gro: int = 0  # taken in joined by GRO (wire/gro.py, Linux tcp_gro_receive): how many segments; 0: alone
    _seg: Segment | None = field(default=None, repr=False, compare=False)

    @property
    def segment(self) -> Segment:
        assert self._seg is not None
        return self._seg

    @property
    def src(self) -> str:
        return self.local if self.direction == "out" else self.remote

    @property
    def dst(self) -> str:
        return self.remote if self.direction == "out" else self.local

    @property
    def fingerprint(self) -> Fingerprint:
        return fingerprint(self.segment)

    @property
    def label(self) -> str:
        return seg_label(self.segment.flags, self.seq, self.ack, self.length)


@dataclass
class StateEvent(Event):
    kind: ClassVar[str] = "state"
    old: str
    new: str
    # Which object changed (id() of the Connection or TIME_WAIT entry): a four-tuple can be
    # reused by a later incarnation, an object cannot. An int, so a trace still pickles.
    _conn_id: int = field(default=0, repr=False, compare=False)


@dataclass
class TimerEvent(Event):
    kind: ClassVar[str] = "timer"
    timer: str  # TimerKind name: RTO, DELACK, PERSIST, KEEPALIVE, FIN_WAIT2
    action: str  # set, fire, cancel
    deadline: float | None


@dataclass
class RetransmitEvent(Event):
    kind: ClassVar[str] = "retransmit"
    flags: str
    seq: int
    length: int
    reason: str = ""  # RTO, TLP, RACK, fast retransmit (observer.Observer.on_retransmit)


@dataclass
class CongestionEvent(Event):
    """The sender's congestion state changed (Linux icsk_ca_state: Open, Disorder, CWR, Recovery,
    Loss), seen as it sent its next segment, with the window and the scoreboard's counts then
    (TCP_INFO's snd_cwnd, snd_ssthresh, sacked, lost, retrans)."""

    kind: ClassVar[str] = "congestion"
    old: str
    new: str
    cwnd: int
    ssthresh: int
    sacked: int
    lost: int
    retrans: int

    @property
    def text(self) -> str:
        ssthresh = "inf" if self.ssthresh >= 0x7FFFFFFF else str(self.ssthresh)
        return (f"ca {self.old} → {self.new} cwnd={self.cwnd} ssthresh={ssthresh} sacked={self.sacked} "
                f"lost={self.lost} retrans={self.retrans}")


@dataclass
class DropEvent(Event):
    """The engine ignored a segment (or abandoned a connection), and why."""

    kind: ClassVar[str] = "drop"
    reason: str
    segment: str | None  # the segment's label, None when a connection was abandoned


@dataclass
class FaultEvent(Event):
    """A fault injector dropped, delayed, duplicated or held back a segment on purpose."""

    kind: ClassVar[str] = "fault"
    direction: str
    action: str  # "drop", "delay 50ms", "dup", "reorder"
    flags: str
    seq: int
    ack: int | None
    length: int
    _seg: Segment | None = field(default=None, repr=False, compare=False)

    @property
    def src(self) -> str:
        return self.local if self.direction == "out" else self.remote

    @property
    def fingerprint(self) -> Fingerprint:
        assert self._seg is not None
        return fingerprint(self._seg)

    @property
    def label(self) -> str:
        assert self._seg is not None
        return seg_label(self._seg.flags, self.seq, self.ack, self.length)


@dataclass
class CallEvent(Event):
    """A socket call an application made, on the caller's side, with what it returned.

    `fd` numbers the handle as a process's descriptor would be (from 3, in the order the recorder
    first sees each handle; the kernel's real descriptors for the kernel side of labs); `ret` is
    the return value (-1 on error, with `error` its errno name, e.g. "EADDRNOTAVAIL"); `note`
    says what TCP did or did not do, as a key (`calls.py` has its words): "others_open" (close()
    of one of several handles: nothing sent), "eof" (recv() returned 0: the peer's FIN).
    """

    kind: ClassVar[str] = "call"
    call: str  # connect, accept, send, recv, shutdown, close, dup
    fd: int
    arg: str  # "198.18.0.1:80", "8 bytes", "SHUT_WR", "" ...
    ret: int
    error: str | None = None
    note: str = ""


@dataclass
class PacketEvent(Event):
    """A whole IP packet at the host's link (`Stack(on_packet=recorder.on_packet)`): ICMP too."""

    kind: ClassVar[str] = "packet"
    direction: str
    length: int
    _packet: bytes = field(default=b"", repr=False, compare=False)

    @property
    def packet(self) -> bytes:
        return self._packet
