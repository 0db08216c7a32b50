"""The TCP segment as the stack sees it: IP addressing, TCP header, parsed options.

One plain slotted class is shared by the parser (both the C and the pure-Python
twin fill it), the builder and the sans-IO engine, so a segment crosses the
stack without being converted. Addresses are integers (cheap to hash and
compare): 32 bits in a `Segment`, 128 in a `Segment6`, the one an IPv6 packet
carries, which adds the flow label; `ip_version` tells them apart.
`minitcp.wire.ipv4.ip_str` and `minitcp.wire.ipv6.ip6_str` format addresses for people.
"""

from __future__ import annotations

from typing import Any

# TCP header flags, RFC 9293 section 3.1 (plus RFC 3168 ECE/CWR).
FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80

_FLAG_LETTERS = ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (URG, "U"), (ECE, "E"), (CWR, "W"))


def flag_str(flags: int) -> str:
    """tcpdump's flag notation: `S`, `S.`, `F.`, `P.`, `R`, `.` for a bare ACK."""
    letters = "".join(ch for bit, ch in _FLAG_LETTERS if flags & bit)
    if flags & ACK:
        letters += "."
    return letters or "none"


class Segment:
    """One TCP segment inside one IPv4 packet.

    `window` is the raw 16-bit field (unscaled). Options that were absent are
    None (`mss`, `wscale`, `ts_val`/`ts_ecr`), False (`sack_permitted`) or an
    empty tuple (`sack`, pairs of left/right edges). `payload` is a bytes-like
    view, never copied by the parser.

    `gso` is nonzero on a TCP segmentation offload segment, one that the engine
    hands over for the host to cut into wire segments of `gso` payload bytes each,
    the last possibly shorter (`minitcp.wire.tso`); a parsed segment has 0.
    """

    __slots__ = (
        "src", "dst", "sport", "dport", "seq", "ack", "flags", "window", "urgent",
        "mss", "wscale", "sack_permitted", "sack", "ts_val", "ts_ecr",
        "payload", "ttl", "tos", "ip_id", "df", "gso",
    )
    # Class attributes, not slots: an IPv4 segment stores nothing for them (`Segment6` overrides both).
    ip_version = 4
    flow_label = 0

    def __init__(
        self,
        src: int,
        dst: int,
        sport: int,
        dport: int,
        seq: int,
        ack: int,
        flags: int,
        window: int,
        payload: bytes | memoryview = b"",
        *,
        urgent: int = 0,
        mss: int | None = None,
        wscale: int | None = None,
        sack_permitted: bool = False,
        sack: tuple[tuple[int, int], ...] = (),
        ts_val: int | None = None,
        ts_ecr: int | None = None,
        ttl: int = 64,
        tos: int = 0,
        ip_id: int = 0,
        df: bool = True,
        gso: int = 0,
    ) -> None:
        self.src = src
        self.dst = dst
        self.sport = sport
        self.dport = dport
        self.seq = seq
        self.ack = ack
        self.flags = flags
        self.window = window
        self.payload = payload
        self.urgent = urgent
        self.mss = mss
        self.wscale = wscale
        self.sack_permitted = sack_permitted
        self.sack = sack
        self.ts_val = ts_val
        self.ts_ecr = ts_ecr
        self.ttl = ttl
        self.tos = tos
        self.ip_id = ip_id
        self.df = df
        self.gso = gso

    @property
    def seg_len(self) -> int:
        """Sequence space the segment occupies: payload plus one each for SYN and FIN."""
        return len(self.payload) + (self.flags & SYN) // SYN + (self.flags & FIN)

    def fields(self) -> tuple:
        """Every field as a tuple (payload as bytes), for equality in tests and traces."""
        return tuple(bytes(self.payload) if name == "payload" else getattr(self, name) for name in FIELDS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Segment) and self.fields() == other.fields()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"Segment({self.sport}>{self.dport} [{flag_str(self.flags)}] seq={self.seq} "
            f"ack={self.ack} win={self.window} len={len(self.payload)})"
        )


# What `fields` returns, in order: the slots, then what tells the two families apart.
FIELDS = (*Segment.__slots__, "ip_version", "flow_label")


class Segment6(Segment):
    """One TCP segment inside one IPv6 packet: 128-bit addresses, and the flow label IPv4 lacks.

    Made with `Segment`'s arguments plus `flow_label` (20 bits, RFC 6437). The IP
    fields keep their IPv4 names: `ttl` is the hop limit and `tos` the traffic
    class; `ip_id` and `df` have no field in IPv6 (a parsed segment has 0 and
    True: IPv6 routers never fragment, RFC 8200 section 5).
    """

    __slots__ = ("flow_label",)
    ip_version = 6

    def __init__(self, *args: Any, flow_label: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flow_label = flow_label
