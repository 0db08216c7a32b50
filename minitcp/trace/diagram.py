"""The ladder diagram as data: rows of arrows and notes between two columns.

Both renderers (text in `ladder.py`, SVG in `svg.py`) draw a `Diagram`, so
they always agree on what happened. With both hosts recorded, each segment a
host sent is one arrow, and the receiver's matching "in" event tells whether
it arrived (the latest earlier transmission with the same fingerprint is the
one that arrived: a retransmission, not the lost original). With one host
recorded, the other column is its peer: what the host sent goes one way,
what it received the other. Faults (see `minitcp.faults`) mark their segment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .events import (
    CongestionEvent,
    DropEvent,
    Event,
    FaultEvent,
    Fingerprint,
    SegmentEvent,
    StateEvent,
    TimerEvent,
)
from .recorder import Recorder


@dataclass
class Arrow:
    time: float  # when it left
    src: int  # column it leaves from: 0 left, 1 right
    label: str  # "FIN seq=101 ack=301"
    lost: bool = False  # never arrived: drawn cut off
    tags: list[str] = field(default_factory=list)  # "retransmit", "dropped", "lost", "dup", "delay 50ms", ...

    @property
    def text(self) -> str:
        """The label with its tags: `FIN seq=101 ack=301 (retransmit) [dropped]`."""
        out = self.label
        for tag in self.tags:
            out += f" ({tag})" if tag == "retransmit" or tag in RETRANSMIT_REASONS else f" [{tag}]"
        return out


@dataclass
class Note:
    time: float
    col: int
    text: str
    kind: str  # "state", "timer", "drop", "fault", "congestion"


@dataclass
class Diagram:
    left: str  # column headers: "client 198.18.0.1:40000"
    right: str
    t0: float
    rows: list[Arrow | Note]


def _events(source: Recorder | Iterable[Event]) -> list[Event]:
    events = source.events if isinstance(source, Recorder) else source
    return sorted(events, key=lambda e: e.time)  # stable: same-time events keep their order


class _Transmissions:
    """Every segment sent, by fingerprint: which transmission did an arrival or a fault concern?"""

    def __init__(self, events: list[Event]) -> None:
        self._by_fp: dict[Fingerprint, list[SegmentEvent]] = {}
        for e in events:
            if isinstance(e, SegmentEvent) and e.direction == "out":
                self._by_fp.setdefault(e.fingerprint, []).append(e)

    def latest(self, fp: Fingerprint, before: float, not_host: str | None = None) -> SegmentEvent | None:
        """The last transmission of `fp` at or before `before` (by a host other than `not_host`)."""
        found = None
        for e in self._by_fp.get(fp, ()):
            if e.time > before:
                break
            if e.host != not_host:
                found = e
        return found


def build_diagram(
    source: Recorder | Iterable[Event],
    *,
    left: str | None = None,
    right: str | None = None,
    conversation: tuple[str, str] | None = None,
    timers: bool = False,
    window: bool = False,
) -> Diagram:
    """The rows of a ladder diagram for the events of one or two hosts.

    `left`/`right` name the hosts of each column (default: in order of first
    appearance; with one host the right column is its peer). `conversation`
    keeps one connection's events; `timers` adds timer notes; `window` adds
    `win=` to each label.
    """
    events = _events(source)
    if conversation is not None:
        events = [e for e in events if e.conversation == conversation]
    hosts = list(dict.fromkeys(e.host for e in events))
    left = left if left is not None else (hosts[0] if hosts else "local")
    if right is None:
        others = [h for h in hosts if h != left]
        right = others[0] if others else None
    two_hosts = right is not None and right in hosts
    cols: dict[str, int] = {left: 0} if right is None or not two_hosts else {left: 0, right: 1}
    events = [e for e in events if e.host in cols]

    def label(e: SegmentEvent) -> str:
        return e.label + (f" win={e.window}" if window else "")

    # Which transmissions arrived, seen from the receivers' "in" events.
    arrivals: dict[int, list[SegmentEvent]] = {}  # id(out event) -> its in events
    unmatched_in: set[int] = set()
    sent_by = _Transmissions(events)
    if two_hosts:
        for e in events:
            if isinstance(e, SegmentEvent) and e.direction == "in":
                sent = sent_by.latest(e.fingerprint, e.time, not_host=e.host)
                if sent is None:
                    unmatched_in.add(id(e))
                else:
                    arrivals.setdefault(id(sent), []).append(e)

    rows: list[Arrow | Note] = []
    arrows: dict[int, Arrow] = {}  # id(segment event) -> its arrow
    for e in events:
        col = cols[e.host]
        if isinstance(e, SegmentEvent):
            if e.direction == "out":
                arrow = Arrow(e.time, col, label(e), tags=_retransmit_tags(e.reason) if e.retransmit else [])
                if two_hosts and id(e) not in arrivals:
                    arrow.lost = True
                elif len(arrivals.get(id(e), ())) > 1:
                    arrow.tags.append("dup")
            elif not two_hosts or id(e) in unmatched_in:
                arrow = Arrow(e.time, 1 - col, label(e))
            else:
                continue  # drawn as the sender's arrow
            arrows[id(e)] = arrow
            rows.append(arrow)
        elif isinstance(e, FaultEvent):
            _place_fault(e, col, sent_by, arrows, rows)
        elif isinstance(e, StateEvent):
            rows.append(Note(e.time, col, f"{e.old} → {e.new}", "state"))
        elif isinstance(e, CongestionEvent):
            rows.append(Note(e.time, col, e.text, "congestion"))
        elif isinstance(e, DropEvent):
            what = f" ({e.segment})" if e.segment else ""
            rows.append(Note(e.time, col, f"drop{what}: {e.reason}", "drop"))
        elif isinstance(e, TimerEvent) and timers:
            when = f" +{(e.deadline - e.time) * 1000:.0f}ms" if e.deadline is not None else ""
            rows.append(Note(e.time, col, f"timer {e.timer} {e.action}{when}", "timer"))

    for arrow in arrows.values():
        if arrow.lost and "dropped" not in arrow.tags:
            arrow.tags.append("lost")  # two hosts recorded, nothing arrived, and no fault says why
    names = {h: f"{h} {_local_of(events, h)}".strip() for h in cols}
    if two_hosts and right is not None:
        right_name = names[right]
    else:
        right_name = f"peer {_remote_of(events, left)}".strip()
    t0 = events[0].time if events else 0.0
    return Diagram(names[left], right_name, t0, rows)


def _place_fault(f: FaultEvent, col: int, sent_by: _Transmissions, arrows: dict[int, Arrow],
                 rows: list[Arrow | Note]) -> None:
    """Mark the segment the fault acted on; an unseen dropped segment gets its own cut arrow."""
    sent = sent_by.latest(f.fingerprint, f.time)
    target = arrows.get(id(sent)) if sent is not None else None
    action = f.action.split()[0]
    if target is None and action != "drop":
        # An incoming segment delayed, duplicated or held back: its arrival (if any) is drawn
        # when it comes; here the host's column says what was done to it.
        rows.append(Note(f.time, col, f"fault: {f.action} {f.label}", "fault"))
        return
    if target is None:
        # Dropped on its way in: the host never saw it, so draw it here, from the peer's side.
        target = Arrow(f.time, 1 - col if f.direction == "in" else col, f.label)
        arrows[id(f)] = target
        rows.append(target)
    if action == "drop":
        target.lost = True
        target.tags = [t for t in target.tags if t != "lost"] + ["dropped"]
    elif f.action not in target.tags:
        target.tags.append(f.action)


def _local_of(events: list[Event], host: str) -> str:
    return next((e.local for e in events if e.host == host and e.local), "")


def _remote_of(events: list[Event], host: str) -> str:
    return next((e.remote for e in events if e.host == host and e.remote), "")


# Why a segment was sent again (observer.Observer.on_retransmit), shown beside it: `(retransmit) (TLP)`.
RETRANSMIT_REASONS = ("RTO", "TLP", "RACK", "fast retransmit")


def _retransmit_tags(reason: str) -> list[str]:
    return ["retransmit", reason] if reason else ["retransmit"]
