"""The ladder diagram as data: rows of arrows and notes between two columns.

Both renderers (text in `ladder.py`, SVG in `svg.py`) draw a `Diagram`, so
they always agree on what happened. With both hosts recorded, each segment a
host sent is one arrow, and the receiver's matching "in" event tells whether
it arrived (the latest earlier transmission with the same fingerprint is the
one that arrived: a retransmission, not the lost original). With one host
recorded, the other column is its peer: what the host sent goes one way,
what it received the other. Faults (see `minitcp.faults`) mark their segment.
The application's socket calls (`CallEvent`) are notes on the caller's side;
a host that recorded no segments (the kernel, seen through its tracepoints)
still gets its states and calls in its column.

Each row knows its connection (`conn`: 1, 2, ... in order of appearance) for
colours; `conn=` picks what is drawn ("all", the default here; a number or a
port; None: the last one, the one a lab about many ends on, as labs draw by
default) and `others` says in a line what the connections left out did. Words
are in `lang` (trace/words.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

from . import words
from .events import (
    CallEvent,
    CongestionEvent,
    DropEvent,
    Event,
    FaultEvent,
    Fingerprint,
    RetransmitEvent,
    SegmentEvent,
    StateEvent,
    TimerEvent,
)
from .recorder import Recorder

ConnFilter = str | int | None  # "all", a connection's number (1, 2, ...) or one of its ports; None: default


@dataclass
class Arrow:
    time: float  # when it left
    src: int  # column it leaves from: 0 left, 1 right
    label: str  # "FIN seq=101 ack=301"
    lost: bool = False  # never arrived: drawn cut off
    tags: list[str] = field(default_factory=list)  # "retransmit", "dropped", "lost", "dup", "delay 50ms", ...
    arrive: float | None = None  # when it arrived, if the receiver was recorded too
    conn: int = 0  # which connection (1, 2, ...; 0: none known)
    lang: str = "en"

    @property
    def text(self) -> str:
        """The label with its tags: `FIN seq=101 ack=301 (retransmit) [dropped]`."""
        out = self.label
        for tag in self.tags:
            word = words.tag(tag, self.lang)
            out += f" ({word})" if tag == "retransmit" or tag in RETRANSMIT_REASONS else f" [{word}]"
        return out


@dataclass
class Note:
    time: float
    col: int
    text: str
    kind: str  # "state", "timer", "drop", "fault", "call", "congestion"
    conn: int = 0


@dataclass
class Diagram:
    left: str  # column headers: "client 198.18.0.1:40000"
    right: str
    t0: float
    rows: list[Arrow | Note]
    lang: str = "en"
    others: list[str] = field(default_factory=list)  # what the connections left out did, in a line each
    conns: int = 1  # how many connections the rows belong to


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


class DiagramOptions(TypedDict, total=False):
    """What a renderer passes on to `build_diagram` when it is given events, not a Diagram."""

    left: str | None
    right: str | None
    conversation: tuple[str, str] | None
    timers: bool
    window: bool
    conn: ConnFilter
    lang: str


def diagram_of(source: Diagram | Recorder | Iterable[Event], **options: Unpack[DiagramOptions]) -> Diagram:
    """`source` itself if it is a Diagram already, else the diagram of its events."""
    return source if isinstance(source, Diagram) else build_diagram(source, **options)


def build_diagram(
    source: Recorder | Iterable[Event],
    *,
    left: str | None = None,
    right: str | None = None,
    conversation: tuple[str, str] | None = None,
    timers: bool = False,
    window: bool = False,
    conn: ConnFilter = "all",
    lang: str = "en",
) -> Diagram:
    """The rows of a ladder diagram for the events of one or two hosts.

    `left`/`right` name the hosts of each column (default: in order of first
    appearance; with one host the right column is its peer). `conversation`
    keeps one connection's events; `conn` picks connections by number or port
    ("all", or None: the last one when there are several, the rest summed up in
    `others`); `timers` adds timer notes; `window` adds `win=` to each label.
    """
    events = _events(source)
    if conversation is not None:
        events = [e for e in events if e.conversation == conversation]
    hosts = list(dict.fromkeys(e.host for e in events))
    left = left if left is not None else (hosts[0] if hosts else "local")
    if right is None:
        others = [h for h in hosts if h != left]
        right = others[0] if others else None
    cols: dict[str, int] = {left: 0} if right is None or right not in hosts else {left: 0, right: 1}
    events = [e for e in events if e.host in cols]
    # Arrows come from both hosts' segments only when both recorded them (a kernel seen through
    # its tracepoints has states and calls, no segments: minitcp's view draws the arrows).
    seg_hosts = {e.host for e in events if isinstance(e, SegmentEvent)}
    two_hosts = len(cols) == 2 and all(h in seg_hosts for h in cols)
    # Times count from the first event of every connection, so they match the lab's state timelines.
    t0 = min(e.time for e in events) if events else 0.0
    numbers = _conn_numbers(events)
    keep = _chosen(numbers, conn)
    left_out = [e for e in events if numbers.get(e.conversation, 0) not in keep]
    events = [e for e in events if numbers.get(e.conversation, 0) in keep]

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
    retransmits: list[tuple[RetransmitEvent, int, int]] = []  # a host seen through its tracepoints
    for e in events:
        col = cols[e.host]
        n = numbers.get(e.conversation, 0)
        if isinstance(e, SegmentEvent):
            if e.direction == "out":
                arrow = Arrow(e.time, col, label(e), tags=_retransmit_tags(e.reason) if e.retransmit else [],
                              conn=n, lang=lang)
                if e.tso:  # one piece of a TSO packet its host cut (tcp/output.py emit, Linux tso_fragment)
                    arrow.tags.append(f"TSO {e.tso[0] + 1}/{e.tso[1]}")
                got = arrivals.get(id(e), ())
                if two_hosts and not got:
                    arrow.lost = True
                elif got:
                    arrow.arrive = got[0].time
                    if len(got) > 1:
                        arrow.tags.append("dup")
            elif not two_hosts or id(e) in unmatched_in:
                arrow = Arrow(e.time, 1 - col, label(e), conn=n, lang=lang)
                if e.gro:  # segments the receiver's GRO joined into this one (wire/gro.py)
                    arrow.tags.append(f"GRO {e.gro}")
            else:
                continue  # drawn as the sender's arrow
            arrows[id(e)] = arrow
            rows.append(arrow)
        elif isinstance(e, FaultEvent):
            _place_fault(e, col, sent_by, arrows, rows, n, lang)
        elif isinstance(e, StateEvent):
            rows.append(Note(e.time, col, f"{e.old} → {e.new}", "state", n))
        elif isinstance(e, CallEvent):
            rows.append(Note(e.time, col, words.call_text(e, lang), "call", n))
        elif isinstance(e, RetransmitEvent) and e.host not in seg_hosts:
            retransmits.append((e, col, n))
        elif isinstance(e, CongestionEvent):
            rows.append(Note(e.time, col, words.congestion_text(e, lang), "congestion", n))
        elif isinstance(e, DropEvent):
            rows.append(Note(e.time, col, words.drop_text(e.segment, e.reason, lang), "drop", n))
        elif isinstance(e, TimerEvent) and timers:
            when = f" +{(e.deadline - e.time) * 1000:.0f}ms" if e.deadline is not None else ""
            rows.append(Note(e.time, col, f"timer {e.timer} {e.action}{when}", "timer", n))

    _mark_retransmits(retransmits, rows, lang)
    for arrow in arrows.values():
        if arrow.lost and "dropped" not in arrow.tags:
            arrow.tags.append("lost")  # two hosts recorded, nothing arrived, and no fault says why
    names = {h: f"{words.host_name(h, lang)} {_local_of(events, h)}".strip() for h in cols}
    if right is not None and right in cols:
        right_name = names[right]
    else:
        right_name = f"{words.heading('peer', lang)} {_remote_of(events, left)}".strip()
    return Diagram(names[left], right_name, t0, rows, lang, _summary(left_out, numbers, left, lang),
                   len(keep - {0}))


def _mark_retransmits(found: list[tuple[RetransmitEvent, int, int]], rows: list[Arrow | Note],
                      lang: str) -> None:
    """A host seen only through its tracepoints (tcp_retransmit_skb) says that it retransmitted,
    not what: the next segment of that connection drawn from its side is the one (marked as
    minitcp's own are); with none (lost on the way), a note on its lifeline says so."""
    for e, col, n in found:
        later = (r for r in rows if isinstance(r, Arrow) and r.src == col and r.conn == n and r.time >= e.time
                 and "retransmit" not in r.tags)
        arrow = next(later, None)
        if arrow is not None:
            arrow.tags.insert(0, "retransmit")
        else:
            text = words.tag("retransmit", lang) + " (tcp_retransmit_skb)"
            rows.append(Note(e.time, col, text, "retransmit", n))
    rows.sort(key=lambda r: r.time)  # stable: a note added last goes after the rows of its instant


def _conn_numbers(events: list[Event]) -> dict[tuple[str, str], int]:
    """Each connection's number, 1, 2, ... in order of first appearance (a call that never got a
    local port, such as a connect() that failed at once, joins no connection)."""
    numbers: dict[tuple[str, str], int] = {}
    for e in events:
        if e.local and e.remote and e.conversation not in numbers:
            numbers[e.conversation] = len(numbers) + 1
    return numbers


def _chosen(numbers: dict[tuple[str, str], int], conn: ConnFilter) -> set[int]:
    """The connection numbers `conn` keeps (0, events of no connection, always)."""
    every = set(numbers.values())
    if conn == "all" or len(every) <= 1:
        return every | {0}
    if conn is None:
        return {max(every), 0}
    wanted = int(conn)
    if wanted in every:
        return {wanted, 0}
    port = str(wanted)
    return {n for (a, b), n in numbers.items() if port in (a.rsplit(":", 1)[-1], b.rsplit(":", 1)[-1])} | {0}


def _summary(left_out: list[Event], numbers: dict[tuple[str, str], int], host: str, lang: str) -> list[str]:
    """One line for the connections left out: how many, their numbers, how they ended on `host`."""
    if not left_out:
        return []
    conns = sorted({numbers[e.conversation] for e in left_out if e.conversation in numbers})
    segs = sum(1 for e in left_out if isinstance(e, SegmentEvent) and e.host == host)
    last: dict[int, str] = {}
    for e in left_out:
        if isinstance(e, StateEvent) and e.host == host:
            last[numbers.get(e.conversation, 0)] = e.new
    ends = ", ".join(f"{state} x{n}" for state, n in Counter(last.values()).items())
    shown = ", ".join(f"#{n}" for n in conns[:12]) + (" …" if len(conns) > 12 else "")
    return [words.others_text(len(conns), shown, segs, ends, lang)]


def _place_fault(f: FaultEvent, col: int, sent_by: _Transmissions, arrows: dict[int, Arrow],
                 rows: list[Arrow | Note], conn: int, lang: str) -> None:
    """Mark the segment the fault acted on; an unseen dropped segment gets its own cut arrow."""
    sent = sent_by.latest(f.fingerprint, f.time)
    target = arrows.get(id(sent)) if sent is not None else None
    action = f.action.split()[0]
    if target is None and action != "drop":
        # An incoming segment delayed, duplicated or held back: its arrival (if any) is drawn
        # when it comes; here the host's column says what was done to it.
        what = f"{words.tag(f.action, lang)} {f.label}"
        text = f"{words.heading('fault', lang)}{words.colon(lang)}{what}"
        rows.append(Note(f.time, col, text, "fault", conn))
        return
    if target is None:
        # Dropped on its way in: the host never saw it, so draw it here, from the peer's side.
        target = Arrow(f.time, 1 - col if f.direction == "in" else col, f.label, conn=conn, lang=lang)
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
