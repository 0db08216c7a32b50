"""Compare a segment minitcp sent with the one a script expects, in the script's numbers.

Always compared: flags (every bit, PSH and ECN included), sequence number,
acknowledgement number (when ACK is set), payload length and SACK blocks, and
when the line writes them, the IP ECN field (`[ect0]`) and the urgent pointer
(and, in Linux's scripts, the window, as packetdrill compares it).
With `strict`, also the window, the IP TOS and TTL, and the other options
(MSS, window scale, SACK-permitted, timestamps), by value: minitcp writes
options in Linux's layout, so NOP/EOL padding is never compared.

Sequence numbers: our side's are relative to our ISN (learned from our first
SYN), the remote side's are its own, from the ISN the runner chose. A `!`
after the range makes the sequence number absolute.
"""

from __future__ import annotations

import dataclasses

from ..wire.segment import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG, Segment
from .model import Option, PacketEvent

MASK = 0xFFFFFFFF
_LETTERS = {"S": SYN, "F": FIN, "R": RST, "P": PSH, "U": URG, "E": ECE, "W": CWR, ".": ACK}


# The IP header's ECN field (RFC 3168 section 5) as a script writes it: the codepoints each
# name accepts, the first being what an inbound packet carries.
ECN_MASK = 0x3
ECN_CODEPOINTS = {"noecn": (0,), "ect1": (1,), "ect0": (2,), "ce": (3,), "ect01": (2, 1)}


def flags_value(text: str) -> int:
    value = 0
    for ch in text:
        value |= _LETTERS[ch]
    return value


def flags_text(flags: int) -> str:
    """packetdrill's spelling: S F R P U E W, then `.` for ACK."""
    letters = "".join(ch for ch, bit in _LETTERS.items() if ch != "." and flags & bit)
    return letters + ("." if flags & ACK else "") or "(none)"


@dataclasses.dataclass
class SeqSpace:
    """Offsets between live sequence numbers and the script's, as packetdrill keeps them
    (socket.h): a SYN's numbers are the script's own ISN, the others count from the ISN.

    Ours: live = script + local_isn, but on a SYN live = script + local_isn - local_syn_script
    (our first SYN's script number names our ISN). The remote host's: live = script + remote_isn,
    but on a SYN live = script + remote_base; an inbound SYN sets remote_isn to its live number.
    """

    local_isn: int | None = None  # ours, live; None until our first SYN
    remote_isn: int = 0  # the remote host's, live
    local_syn_script: int = 0  # the script's number for our SYN
    remote_base: int = 0  # the runner's offset for the remote host's numbers

    @property
    def local(self) -> int:
        return self.local_isn or 0

    def local_to_script(self, live: int, syn: bool = False) -> int:
        return (live - self.local + (self.local_syn_script if syn else 0)) & MASK

    def remote_to_script(self, live: int, syn: bool = False) -> int:
        return (live - (self.remote_base if syn else self.remote_isn)) & MASK

    def local_to_live(self, script: int, syn: bool = False) -> int:
        return (script + self.local - (self.local_syn_script if syn else 0)) & MASK

    def remote_to_live(self, script: int, syn: bool = False) -> int:
        return (script + (self.remote_base if syn else self.remote_isn)) & MASK


def describe(seg: Segment, space: SeqSpace, *, absolute_seq: bool = False) -> str:
    """An outbound segment written as a script line would write it."""
    syn = bool(seg.flags & SYN)
    seq = seg.seq if absolute_seq else space.local_to_script(seg.seq, syn)
    n = len(seg.payload)
    text = f"{flags_text(seg.flags)} {seq}:{(seq + n) & MASK}({n})"
    if seg.flags & ACK:
        text += f" ack {space.remote_to_script(seg.ack, syn)}"
    text += f" win {seg.window}"
    opts = []
    if seg.mss is not None:
        opts.append(f"mss {seg.mss}")
    if seg.sack_permitted:
        opts.append("sackOK")
    if seg.ts_val is not None:
        opts.append(f"TS val {seg.ts_val} ecr {seg.ts_ecr}")
    if seg.wscale is not None:
        opts.append(f"wscale {seg.wscale}")
    if seg.sack:
        blocks = " ".join(f"{space.remote_to_script(a)}:{space.remote_to_script(b)}" for a, b in seg.sack)
        opts.append(f"sack {blocks}")
    if opts:
        text += " <" + ",".join(opts) + ">"
    return text


def _option(options: tuple[Option, ...], kind: str) -> Option | None:
    for opt in options:
        if opt.kind == kind:
            return opt
    return None


def compare(exp: PacketEvent, seg: Segment, space: SeqSpace, *, strict: bool,
            ts_base: tuple[int, int] | None = None, ts_slack: int = 0, windows: bool = False) -> str | None:
    """None when `seg` is what `exp` asks for, else what differs (the first thing found).

    `windows`: a window the line writes is compared even when not `strict` (packetdrill compares
    every field a `>` line writes; Linux's scripts write a window only where it is the point).

    `ts_base` is (first script TS val, first live TS val) of this run: packetdrill
    compares timestamps relative to the first one seen, here within `ts_slack`
    ticks (the time tolerance, in milliseconds).
    """
    want_flags = flags_value(exp.flags)
    if seg.flags != want_flags:
        return f"flags {flags_text(seg.flags)} instead of {exp.flags}"
    if exp.seq is not None:
        seq = seg.seq if exp.seq_absolute else space.local_to_script(seg.seq, bool(seg.flags & SYN))
        if seq != exp.seq & MASK:
            return f"seq {seq} instead of {exp.seq}"
    if len(seg.payload) != exp.length:
        return f"payload length {len(seg.payload)} instead of {exp.length}"
    if seg.flags & ACK and exp.ack is not None:
        ack = space.remote_to_script(seg.ack, bool(seg.flags & SYN))
        if ack != exp.ack & MASK:
            return f"ack {ack} instead of {exp.ack}"
    if exp.ecn is not None and seg.tos & ECN_MASK not in ECN_CODEPOINTS[exp.ecn]:
        names = {v[0]: k for k, v in ECN_CODEPOINTS.items() if len(v) == 1}
        return f"IP ECN field [{names[seg.tos & ECN_MASK]}] instead of [{exp.ecn}]"
    if exp.urgent is not None and seg.urgent != exp.urgent:
        return f"urgent pointer {seg.urgent} instead of {exp.urgent}"
    options = exp.options if isinstance(exp.options, tuple) else None
    if exp.options is not ...:
        want_sack = _option(options or (), "sack")
        want_blocks = tuple(want_sack.value) if want_sack else ()
        got_blocks = tuple((space.remote_to_script(a), space.remote_to_script(b)) for a, b in seg.sack)
        if got_blocks != want_blocks:
            fmt = " ".join(f"{a}:{b}" for a, b in got_blocks) or "none"
            want = " ".join(f"{a}:{b}" for a, b in want_blocks) or "none"
            return f"SACK blocks {fmt} instead of {want}"
    if (strict or windows) and exp.window is not None and seg.window != exp.window:
        return f"window {seg.window} instead of {exp.window}"
    if not strict:
        return None
    if exp.tos is not None and seg.tos != exp.tos:
        return f"IP TOS {seg.tos:#x} instead of {exp.tos:#x}"
    if exp.ttl is not None and seg.ttl != exp.ttl:
        return f"IP TTL {seg.ttl} instead of {exp.ttl}"
    if exp.options is ...:
        return None
    opts = options or ()
    mss = _option(opts, "mss")
    if (mss.value if mss else None) != seg.mss:
        return f"MSS option {seg.mss} instead of {mss.value if mss else None}"
    ws = _option(opts, "wscale")
    if (ws.value if ws else None) != seg.wscale:
        return f"window scale option {seg.wscale} instead of {ws.value if ws else None}"
    if (_option(opts, "sackOK") is not None) != seg.sack_permitted:
        return f"SACK-permitted option {'present' if seg.sack_permitted else 'absent'}, script says otherwise"
    ts = _option(opts, "TS")
    if (ts is not None) != (seg.ts_val is not None):
        return f"timestamp option {'present' if seg.ts_val is not None else 'absent'}, script says otherwise"
    if ts is not None and seg.ts_val is not None:
        val, ecr = ts.value
        if ts_base is not None:
            live_val = (ts_base[0] + seg.ts_val - ts_base[1]) & MASK
            diff = (live_val - val) & MASK
            if min(diff, MASK + 1 - diff) > ts_slack:
                return f"TS val {live_val} instead of {val}"
        if seg.ts_ecr != ecr:
            return f"TS ecr {seg.ts_ecr} instead of {ecr}"
    return None
