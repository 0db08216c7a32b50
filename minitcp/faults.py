"""Fault injection: lose, delay, duplicate or reorder exactly the segment you want to talk about.

A rule is `ACTION:key=value,...`, e.g. `drop:dir=out,flags=F,nth=1` (drop the
first FIN this host sends). Actions: `drop`, `delay` (needs `ms=`), `dup`
(the copy follows `ms` later, default at once) and `reorder` (hold the
segment until the next one in the same direction has passed, then send it
right after; with `ms=` it goes after that long if nothing came by). Keys:

    dir=in|out    only segments going that way (default both)
    flags=LETTERS only segments carrying all of them: S F R P U E W, `.` or A = ACK
    nth=N         only the Nth matching segment
    count=N       at most N times
    prob=P        each matching segment with probability P (seeded: `seed=S`, default 0,
                  so a run can be repeated exactly)
    over=N        only segments carrying more than N bytes of data (a link with a smaller MTU
                  on the path: `drop:dir=out,over=1228` is a 1280-byte hop for IPv4 TCP
                  with timestamps)
    ms=N          milliseconds for delay, dup and reorder

Every rule counts the segments it matches; the first rule that fires decides
what happens to a segment. A `FaultInjector` applies the rules. It plugs into
an `EnginePair` (`injector.attach(pair)`, or as `pair.fault` for rules other
than reorder) and, as `minitcp.link.faulty.FaultyLink`, under a `Stack` (wrap the stack's link).
Each fault it injects is told to `observer.on_fault` (a trace `Recorder`), so
traces show it as a fault, not as bad luck, and counted in its rule's `fired`;
`injected` keeps only the latest RECENT_FAULTS of them, so that a rule firing
on every packet of a long run (`delay:ms=0`) holds memory by configuration,
not by traffic.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from minitcp.wire.segment import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG, Segment
from minitcp.wire.tcp import build_tcp_packet

if TYPE_CHECKING:
    from minitcp.tcp.pair import EnginePair, InFlight

ACTIONS = ("drop", "delay", "dup", "reorder")
# Faults kept in FaultInjector.injected: enough to look back over a test or the last moments of
# a live run (each keeps its segment, payload included, so 1,024 wire-sized ones are ~1.5 MB).
RECENT_FAULTS = 1024

# `report(direction, action, packet, now)`: a fault, told with the whole packet it hit.
PacketFaultHook = Callable[[str, str, bytes | memoryview, float], None]
_FLAG_BITS = {"S": SYN, "F": FIN, "R": RST, "P": PSH, "U": URG, "E": ECE, "W": CWR, ".": ACK, "A": ACK}
_FLAG_ORDER = ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (URG, "U"), (ECE, "E"), (CWR, "W"), (ACK, "."))


class FaultRuleError(ValueError):
    """A rule that makes no sense; `problem` says why without repeating the rule."""

    def __init__(self, rule: str, problem: str) -> None:
        super().__init__(f"fault rule {rule!r}: {problem}")
        self.problem = problem


@dataclass
class FaultRule:
    action: str
    direction: str | None = None
    flags: int = 0
    nth: int | None = None
    count: int | None = None
    prob: float | None = None
    seed: int | None = None
    ms: float | None = None
    over: int | None = None
    matched: int = field(default=0, init=False, compare=False)  # segments that matched dir and flags
    fired: int = field(default=0, init=False, compare=False)  # times the rule acted
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise FaultRuleError(str(self), problem)
        self._rng = random.Random(self.seed if self.seed is not None else 0)

    def _problem(self) -> str | None:
        if self.action not in ACTIONS:
            return f"unknown action {self.action!r} (expected {', '.join(ACTIONS)})"
        if self.direction not in (None, "in", "out"):
            return f"dir must be in or out, not {self.direction!r}"
        for name in ("nth", "count"):
            value = getattr(self, name)
            if value is not None and value < 1:
                return f"{name} counts from 1, not {value}"
        if self.over is not None and self.over < 0:
            return f"over is a number of bytes, not {self.over}"
        if self.prob is not None and not 0.0 <= self.prob <= 1.0:
            return f"prob is a probability between 0 and 1, not {self.prob}"
        if self.seed is not None and self.prob is None:
            return "seed= only makes sense with prob="
        if self.ms is not None and (self.ms < 0 or not math.isfinite(self.ms)):
            return f"ms must be a finite number >= 0, not {self.ms}"
        if self.action == "delay" and self.ms is None:
            return "delay needs ms=N (how many milliseconds)"
        if self.action == "drop" and self.ms is not None:
            return "ms= does not apply to drop"
        return None

    def __str__(self) -> str:
        """The rule in the text form `parse_rule` reads."""
        items = []
        if self.direction:
            items.append(f"dir={self.direction}")
        if self.flags:
            items.append("flags=" + "".join(ch for bit, ch in _FLAG_ORDER if self.flags & bit))
        for name in ("nth", "count", "prob", "seed", "over"):
            if getattr(self, name) is not None:
                items.append(f"{name}={getattr(self, name)}")
        if self.ms is not None:
            items.append(f"ms={self.ms:g}")
        return self.action + (":" + ",".join(items) if items else "")

    @property
    def description(self) -> str:
        """What the rule does to a segment, for traces: `drop`, `delay 50ms`, `dup`, `reorder`."""
        if self.ms is not None and self.action != "drop" and (self.action != "dup" or self.ms):
            return f"{self.action} {self.ms:g}ms"
        return self.action

    def matches(self, direction: str, seg: Segment) -> bool:
        if self.direction is not None and self.direction != direction:
            return False
        if self.over is not None and len(seg.payload) <= self.over:
            return False
        return seg.flags & self.flags == self.flags

    def fires(self, direction: str, seg: Segment, decided: bool = False) -> bool:
        """Count `seg` if it matches, and say whether the rule acts on it (never once `decided`)."""
        chosen: dict[int, FaultRule] = {0: self} if decided else {}
        self.fire_pieces(direction, [(seg.flags, len(seg.payload))], chosen)
        return not decided and 0 in chosen

    def fire_pieces(self, direction: str, pieces: list[tuple[int, int]],
                    chosen: dict[int, FaultRule]) -> None:
        """`fires` over wire segments in turn, given as (flags, payload length): count those that
        match, and file the rule in `chosen` under the index of each it acts on (never on one
        `chosen` has already: an earlier rule decided it). The same counts and draws as one call
        of `fires` per segment, but an `nth=` rule finds its segment without a loop."""
        if self.direction is not None and self.direction != direction:
            return
        want, over = self.flags, self.over
        if not want and over is None:
            matching: range | list[int] = range(len(pieces))
        else:
            matching = [i for i, (flags, length) in enumerate(pieces)
                        if flags & want == want and (over is None or length > over)]
        base = self.matched
        self.matched += len(matching)
        if self.nth is not None:
            if 0 <= self.nth - base - 1 < len(matching):
                matching = [matching[self.nth - base - 1]]
            else:
                return
        for i in matching:
            if i in chosen:
                continue
            if self.count is not None and self.fired >= self.count:
                return
            if self.prob is not None and self._rng.random() >= self.prob:
                continue
            self.fired += 1
            chosen[i] = self

    def delays(self) -> list[float]:
        """The deliveries of a segment this rule fired on (seconds from now); [] loses it."""
        ms = (self.ms or 0.0) / 1000
        if self.action == "drop":
            return []
        if self.action == "dup":
            return [0.0, ms]
        return [ms]  # delay (reorder is held instead, see FaultInjector.decide)

    def reset(self) -> None:
        self.matched = self.fired = 0
        self._rng = random.Random(self.seed if self.seed is not None else 0)


def parse_rule(text: str) -> FaultRule:
    """`drop:dir=out,flags=F,nth=1` -> FaultRule; ValueError saying what is wrong otherwise."""
    action, _, rest = text.strip().partition(":")
    action = action.strip().lower()
    if action not in ACTIONS:
        raise FaultRuleError(text, f"unknown action {action!r} (expected {', '.join(ACTIONS)})")
    values: dict[str, Any] = {}
    for item in rest.split(",") if rest.strip() else []:
        key, eq, raw = (part.strip() for part in item.partition("="))
        key = key.lower()
        if not eq or not key or not raw:
            raise FaultRuleError(text, f"{item.strip()!r} is not key=value")
        if key == "dir":
            key = "direction"
        if key in values:
            raise FaultRuleError(text, f"{key} given twice")
        values[key] = _value(text, key, raw)
    try:
        return FaultRule(action, **values)
    except FaultRuleError as e:
        raise FaultRuleError(text, e.problem) from None


def _value(text: str, key: str, raw: str) -> Any:
    try:
        if key == "direction":
            if raw.lower() not in ("in", "out"):
                raise ValueError(f"dir must be in or out, not {raw!r}")
            return raw.lower()
        if key == "flags":
            return _flags(raw)
        if key in ("nth", "count", "seed", "over"):
            return int(raw)
        if key in ("prob", "ms"):
            return float(raw)
    except ValueError as e:
        message = str(e) if key in ("direction", "flags") else f"{key} must be a number, not {raw!r}"
        raise FaultRuleError(text, message) from None
    raise FaultRuleError(text, f"unknown key {key!r} (known: dir, flags, nth, count, prob, seed, ms)")


def _flags(raw: str) -> int:
    bits = 0
    for ch in raw:
        bit = _FLAG_BITS.get(ch.upper())
        if bit is None:
            raise ValueError(f"unknown flag {ch!r} in flags={raw} (use S F R P U E W, and . or A for ACK)")
        bits |= bit
    return bits


@dataclass
class Injected:
    """One fault the injector applied."""

    time: float
    direction: str
    action: str  # the rule's description: "drop", "delay 50ms", ...
    seg: Segment
    rule: FaultRule


@dataclass
class Held:
    """A segment a reorder rule holds back until the next one in its direction passes."""

    direction: str
    seg: Segment
    item: Any  # what the carrier gave along (packet bytes, the pair's sender, ...)
    until: float | None  # released at this time if nothing passed before (ms=)


class FaultInjector:
    """Applies fault rules to segments; see the module docstring for the rules.

    `side` is the EnginePair side ("a" or "b") whose point of view gives
    `dir=in|out` meaning when the injector is the pair's fault hook.
    """

    def __init__(self, rules: Iterable[FaultRule | str] = (), *, observer: Any = None,
                 side: str = "a") -> None:
        self.rules = [r if isinstance(r, FaultRule) else parse_rule(r) for r in rules]
        self.observer = observer
        self.side = side
        self.injected: deque[Injected] = deque(maxlen=RECENT_FAULTS)  # the latest; rule.fired counts all
        self.held: list[Held] = []
        self._released: list[Held] = []
        self._pair: EnginePair | None = None
        self._pending: dict[int, InFlight] = {}  # id(held) -> its flight entry

    # ------------------------------------------------------------------ deciding

    def decide(self, direction: str, seg: Segment, now: float, item: Any = None) -> list[float]:
        """The deliveries of `seg` going `direction` at `now`, as delays in seconds.

        [0.0] passes it, [] loses it (dropped, or held by a reorder rule: then
        `take_released` hands it back once the next segment has passed, and
        `expired` when its time is up), [0.0, 0.0] duplicates it, [0.05]
        delays it.
        """
        return self.apply(direction, seg, self.choose(direction, [(seg.flags, len(seg.payload))]).get(0),
                          now, item)

    def choose(self, direction: str, pieces: list[tuple[int, int]]) -> dict[int, FaultRule]:
        """The rule that decides each of segments going `direction` in turn, given as (flags,
        payload length), by index (none: it passes, unless a reorder holds something back, see
        `apply`); as many `decide` calls would choose, and counted as they would count it. Every
        rule counts what it matches (so nth= means the same whatever comes before it); the
        first that fires decides."""
        chosen: dict[int, FaultRule] = {}
        n = len(pieces)
        for rule in self.rules:
            if rule.direction is not None and rule.direction != direction:
                continue
            nth = rule.nth
            if nth is None or rule.flags or rule.over is not None:
                rule.fire_pieces(direction, pieces, chosen)
                continue
            # fire_pieces, inline for an nth= rule that every segment matches (the burst pattern's
            # forty): a segment sent pays ~0.1 us, not a call, for each.
            i = nth - rule.matched - 1
            rule.matched += n
            if 0 <= i < n and i not in chosen and (rule.count is None or rule.fired < rule.count) \
                    and (rule.prob is None or rule._rng.random() < rule.prob):
                rule.fired += 1
                chosen[i] = rule
        return chosen

    def holding(self, direction: str) -> bool:
        """Whether a reorder rule holds a segment back in `direction` (the next to pass frees it)."""
        return any(h.direction == direction for h in self.held)

    def apply(self, direction: str, seg: Segment, chosen: FaultRule | None, now: float,
              item: Any = None) -> list[float]:
        """What `chosen` (the rule `choose` gave `seg`, or None) does to it: `decide`'s answer."""
        delays = [0.0]
        if chosen is not None:
            self._note(now, direction, seg, chosen)
            if chosen.action == "reorder":
                until = None if chosen.ms is None else now + chosen.ms / 1000
                self.held.append(Held(direction, seg, item, until))
                return []
            delays = chosen.delays()
        if delays:
            # It overtakes whatever was held back in its direction, which now follows it.
            waiting = [h for h in self.held if h.direction == direction]
            if waiting:
                self.held = [h for h in self.held if h.direction != direction]
                self._released.extend(waiting)
        return delays

    def take_released(self, direction: str | None = None) -> list[Held]:
        """Held segments whose turn has come (someone overtook them): deliver them now."""
        out = [h for h in self._released if direction is None or h.direction == direction]
        self._released = [h for h in self._released if not (direction is None or h.direction == direction)]
        return out

    def expired(self, now: float) -> list[Held]:
        """Held segments whose `ms` ran out with nothing passing them: deliver them now."""
        out = [h for h in self.held if h.until is not None and h.until <= now]
        if out:
            self.held = [h for h in self.held if h.until is None or h.until > now]
        return out

    def next_deadline(self) -> float | None:
        times = [h.until for h in self.held if h.until is not None]
        return min(times) if times else None

    def _note(self, now: float, direction: str, seg: Segment, rule: FaultRule) -> None:
        action = rule.description
        self.injected.append(Injected(now, direction, action, seg, rule))
        on_fault = getattr(self.observer, "on_fault", None)
        if on_fault is not None:
            on_fault(direction, seg, action, now)

    # ------------------------------------------------------------------ EnginePair

    def attach(self, pair: EnginePair, side: str = "a", observer: Any = None) -> FaultInjector:
        """Become `pair`'s fault hook, `dir=out` meaning what `side` sends.

        Faults are told to `observer`, else to the one given before, else to
        `side`'s engine observer if it takes them (a `Recorder.watch` host).
        """
        self._pair = pair
        self.side = side
        if observer is not None:
            self.observer = observer
        elif self.observer is None and hasattr(pair.engine(side).observer, "on_fault"):
            self.observer = pair.engine(side).observer
        pair.fault = self
        return self

    def __call__(self, sender: str, seg: Segment, now: float) -> list[float]:
        """EnginePair's `Fault` hook: (sender "a"/"b", segment, now) -> delays.

        A held (reordered) segment is put on the wire later by the injector
        itself, so `pair.wire` lists it once, as not delivered.
        """
        direction = "out" if sender == self.side else "in"
        delays = self.decide(direction, seg, now, item=sender)
        if self.held or self._released:
            self._pair_reorder(direction, delays, now)
        return delays

    def _pair_reorder(self, direction: str, delays: list[float], now: float) -> None:
        pair = self._pair
        if pair is None:
            raise RuntimeError("reorder on an EnginePair needs injector.attach(pair)")
        for held in self.expired(now):
            self._pending.pop(id(held), None)  # its timed delivery went already
        for held in self.held:
            if held.until is not None and id(held) not in self._pending:
                packet = build_tcp_packet(held.seg)
                self._pending[id(held)] = pair.send_at(held.item, packet, held.until + pair.latency)
        for held in self.take_released(direction):
            entry = self._pending.pop(id(held), None)
            if entry is not None and not pair.cancel_send(entry):
                continue  # its ms ran out and it arrived already
            # Same arrival time as the segment that overtook it, and a tiebreak just above the
            # one the pair gives that segment once this hook returns: right after it, before
            # anything sent later in the same burst.
            at = now + pair.latency + min(delays)
            pair.send_at(held.item, build_tcp_packet(held.seg), at, after_next=True)
