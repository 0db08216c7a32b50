"""`minitcp lab NAME --pcap FILE`: minitcp's side of the wire, with every injected fault marked.

The capture hears two things: the stack's packet hook (each packet it sends, each
one that reaches it) and the fault link's report (each packet a rule dropped,
delayed, duplicated or held back). A packet minitcp sent that the link then lost
is in the capture once, with a comment saying so; a packet the peer sent that the
link lost never reached minitcp, so the capture adds it where it was lost, with
the comment, so that the drop is seen where it happened; a delayed incoming packet
is marked when it arrives. The comments are pcapng `opt_comment`s (trace/pcapng.py):
`minitcp fault: dropped (rule drop:dir=out,flags=F,nth=1)`.
"""

from __future__ import annotations

import time

from minitcp.faults import FaultInjector
from minitcp.trace.pcapng import Record, pcapng_bytes

WORDS = {"drop": "dropped", "delay": "delayed", "dup": "duplicated", "reorder": "held back (reordered)"}


class FaultMarkingCapture:
    """A packet hook and a fault hook together, collecting pcapng records in memory.

    The records are kept until the lab ends (a lab is a few hundred packets), so that a lab run
    in a child process hands back bytes and the file is written once, by the parent.
    """

    def __init__(self, injector: FaultInjector | None = None) -> None:
        self.injector = injector
        self.records: list[Record] = []
        self._pending: dict[bytes, str] = {}  # incoming packets delayed or held: marked on arrival
        self._wall = time.time()
        self._first: float | None = None

    def _stamp(self, now: float) -> float:
        """Seconds since the epoch: the lab's first packet at the wall-clock time the lab began."""
        if self._first is None:
            self._first = now
        return self._wall + (now - self._first)

    def on_packet(self, direction: str, packet: bytes | memoryview, now: float) -> None:
        data = bytes(packet)
        comment = self._pending.pop(data, None) if direction == "in" else None
        self.records.append(Record(self._stamp(now), direction, data, comment))

    def on_fault(self, direction: str, action: str, packet: bytes | memoryview, now: float) -> None:
        """FaultyLink's `report`: called while the injector decides, so its last entry is this fault."""
        data = bytes(packet)
        rule = self.injector.injected[-1].rule if self.injector and self.injector.injected else None
        kind = action.split()[0]
        extra = action[len(kind):]
        comment = f"minitcp fault: {WORDS.get(kind, kind)}{extra} (rule {rule})"
        if direction == "out":
            # The stack's hook wrote it a moment ago (Host._emit: the hook, then the link).
            for record in reversed(self.records):
                if record.direction == "out" and record.packet == data:
                    record.comment = comment
                    return
            self.records.append(Record(self._stamp(now), "out", data, comment))
        elif kind == "drop":
            self.records.append(Record(self._stamp(now), "in", data, comment))
        else:
            self._pending[data] = comment

    def pcapng(self) -> bytes:
        return pcapng_bytes(self.records)
