# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation)
"""What a lab reads of minitcp's engine at the moment it happens, not when the lab next looks.

A lab's checks run after the fact, from the trace, or between two `await`s: on a loaded machine
the stack's process may stall in between, and a sample then is late. A watch is an engine
observer put in front of the one already there (the lab's recorder, which still hears
everything): the engine calls it synchronously, inside the very step that armed a timer or
reduced the window, so what it reads there is exact.

- `TimerWatch`: each timer that fired, when it was armed, when due and when it really fired,
  and how long the process's threads waited for a CPU meanwhile (the kernel's own account of the
  stall, `/proc/self/task/*/schedstat`): a check can judge the engine's timeout exactly, and the
  process's punctuality apart, excusing only the lateness the scheduler caused.
- `ReductionWatch`: cwnd and ssthresh as each window reduction began (Linux prior_cwnd and the
  ssthresh set with it), before anything (HyStart on a later ACK) moves ssthresh again.
- `UndoWatch`: cwnd and ssthresh just after an undo, and the ssthresh the reduction saved to
  restore (Linux prior_ssthresh), before anything (HyStart on a later ACK) moves them again.
- `SegmentWatch`: at each segment, the minimum RTT RACK held a SACK against, and the CPU wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from minitcp.tcp.cc import CaState
from minitcp.tcp.observer import ForwardingObserver

from .base import Ctx, ms

if TYPE_CHECKING:
    from minitcp.tcp.engine import TcpEngine
    from minitcp.tcp.timers import TimerKind
    from minitcp.wire.segment import Segment

SCHEDSTAT = Path("/proc/self/task")  # each thread's schedstat: "on-CPU ns, run-queue wait ns, timeslices"
# s a timer may fire after its deadline beyond the CPU wait: the Trio loop's own latency, the GIL
# held by a running worker (an `ss` sample), a garbage collection; once 17 ms with no CPU wait seen.
# A shell that fires its timers late (a regression) is usually far later.
LATE = 0.025
_SAME = 1e-6  # s: two times of one engine step (a float sum apart)


def cpu_wait() -> float:
    """Seconds this process's threads have waited on a run queue, runnable but not running (Linux
    sched_info's run_delay, summed): the Trio thread's own wait, and a worker's (an `ss` sample, a
    kernel socket's blocking call) preempted while it held the GIL the Trio thread then waits for.
    0.0 where the kernel does not keep it."""
    total = 0
    try:
        tasks = list(SCHEDSTAT.iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return total / 1e9


class _Tap(ForwardingObserver):
    """Put in front of `engine`'s observer while the `with` block runs: every hook goes on to it
    (and any other attribute a reader asks the engine's observer for). `real_time`: the CPU wait
    counts."""

    def __init__(self, engine: TcpEngine, *, real_time: bool = False) -> None:
        super().__init__(engine.observer)
        self.engine = engine
        self.real_time = real_time  # the stack runs in real time (against the kernel), not virtual

    def cpu_wait(self) -> float:
        """The thread's CPU wait so far; none in virtual time, where a wait moves no clock."""
        return cpu_wait() if self.real_time else 0.0

    def __enter__(self) -> Self:
        self.engine.observer = self
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.engine.observer = self.inner

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)


@dataclass
class Fired:
    """A timer that fired (times on the engine's clock, seconds)."""

    kind: TimerKind
    armed: float  # when it was last armed
    deadline: float  # when it was due
    at: float  # when it fired
    cpu_wait: float  # how long the process's threads waited for a CPU between armed and fired
    srtt: float  # the connection's smoothed RTT when it was armed (what an RTO is made of)
    rto: float = 0.0  # the connection's RTO when it was armed (a loss probe comes sooner)

    @property
    def late(self) -> float:
        return self.at - self.deadline

    @property
    def punctual(self) -> bool:
        """Fired within LATE of its deadline, beyond what the scheduler made the stack wait."""
        return self.late <= LATE + self.cpu_wait


class TimerWatch(_Tap):
    def __init__(self, engine: TcpEngine, *, real_time: bool = False) -> None:
        super().__init__(engine, real_time=real_time)
        self._armed: dict[tuple[int, TimerKind], tuple[float, float, float, float, float]] = {}
        self.fired: list[Fired] = []

    def on_timer(self, conn: object, kind: TimerKind, action: str, deadline: float | None,
                 now: float) -> None:
        super().on_timer(conn, kind, action, deadline, now)
        key = (id(conn), kind)
        if action == "set" and deadline is not None:
            recovery = getattr(conn, "recovery", None)
            srtt, rto = getattr(recovery, "srtt_or_zero", 0.0), getattr(recovery, "rto", 0.0)
            self._armed[key] = (now, deadline, self.cpu_wait(), srtt, rto)
        elif action == "fire" and key in self._armed:
            armed, due, waited, srtt, rto = self._armed.pop(key)
            self.fired.append(Fired(kind, armed, due, now, self.cpu_wait() - waited, srtt, rto))

    def fired_at(self, kind: TimerKind, at: float) -> Fired | None:
        """The `kind` timer that fired at `at` (a segment it sent then has that time)."""
        return next((f for f in self.fired if f.kind == kind and abs(f.at - at) < _SAME), None)


def check_punctual(ctx: Ctx, fired: Fired) -> None:
    """The check that minitcp's process fired a timer on time, its CPU wait excused."""
    ctx.check(fired.punctual,
              f"minitcp fired that timer on time: {ms(fired.late)} after it was due, "
              f"its threads waited {ms(fired.cpu_wait)} for a CPU meanwhile (the machine's load, excused)",
              f"minitcp 按时触发了这个定时器：比到期晚 {ms(fired.late)}，"
              f"其中 {ms(fired.cpu_wait)} 是线程在等 CPU（机器的负载）")


@dataclass
class Reduction:
    state: CaState  # Recovery or Loss
    at: float
    prior_cwnd: int  # cwnd when the reduction began (Linux tcp_init_cwnd_reduction, tcp_enter_loss)
    ssthresh: int  # the ssthresh it set (ca_ops->ssthresh)


class ReductionWatch(_Tap):
    """A reduction's first retransmission leaves in the engine step that began it (Linux
    tcp_fastretrans_alert then tcp_xmit_retransmit_queue; tcp_retransmit_timer: tcp_enter_loss
    then tcp_retransmit_skb), after that step's RTT sample (HyStart) and before the next ACK's."""

    def __init__(self, engine: TcpEngine) -> None:
        super().__init__(engine)
        self._last: dict[int, tuple[CaState, int]] = {}
        self.reductions: list[Reduction] = []

    def on_retransmit(self, conn: object, seg: Segment, now: float, reason: str = "") -> None:
        super().on_retransmit(conn, seg, now, reason)
        cc = getattr(getattr(conn, "recovery", None), "cc", None)
        if cc is None or cc.ca_state not in (CaState.RECOVERY, CaState.LOSS):
            return
        mark = (cc.ca_state, cc.prior_cwnd)
        if self._last.get(id(conn)) != mark:
            self._last[id(conn)] = mark
            self.reductions.append(Reduction(cc.ca_state, now, cc.prior_cwnd, cc.ssthresh))


class SegmentWatch(_Tap):
    """Each segment minitcp sent or took in, with what the engine and the scheduler said then:
    min_rtt before the segment's own RTT samples (what RACK compared a SACKed retransmission's
    RTT with: Linux tcp_sacktag_write_queue, tcp_rack_advance, runs before tcp_clean_rtx_queue
    takes the ACK's samples), and the thread's CPU wait so far (`cpu_wait`)."""

    def __init__(self, engine: TcpEngine, *, real_time: bool = False) -> None:
        super().__init__(engine, real_time=real_time)
        self.seen: list[tuple[float, str, float | None, float]] = []  # (time, "in"/"out", min_rtt, cpu_wait)

    def on_segment(self, conn: object | None, direction: str, seg: Segment, now: float) -> None:
        super().on_segment(conn, direction, seg, now)
        min_rtt = getattr(getattr(conn, "recovery", None), "min_rtt", None)
        self.seen.append((now, direction, min_rtt, self.cpu_wait()))

    def _at(self, t: float) -> tuple[float, str, float | None, float] | None:
        return next((s for s in self.seen if abs(s[0] - t) < _SAME), None)

    def min_rtt_at(self, t: float) -> float | None:
        """min_rtt when the segment of time `t` went or came."""
        at = self._at(t)
        return at[2] if at else None

    def cpu_wait_at(self, t: float) -> float | None:
        """The threads' CPU wait so far when the segment of time `t` went or came."""
        at = self._at(t)
        return at[3] if at else None

    def cpu_wait_between(self, t1: float, t2: float) -> float:
        """How long the process's threads waited for a CPU between the segments of times t1 and t2:
        how much later than the wire a stalled process saw the second."""
        a, b = self._at(t1), self._at(t2)
        return b[3] - a[3] if a and b else 0.0


UNDO_COUNTERS = ("TCPDSACKUndo", "TCPFullUndo", "TCPPartialUndo", "TCPLossUndo")  # tcp_try_undo_*


@dataclass
class Undone:
    at: float
    ssthresh: int  # ssthresh just after the undo
    cwnd: int  # cwnd just after the undo
    prior_ssthresh: int  # what the reduction saved to restore (Linux tcp_enter_recovery's prior_ssthresh)


class UndoWatch(_Tap):
    """An undo (Linux tcp_undo_cwnd_reduction) happens inside an ACK's processing, after that ACK's
    RTT sample and HyStart (tcp_clean_rtx_queue runs before tcp_fastretrans_alert); the engine's
    next hook (a segment it sends or takes in, a timer it sets) shows its result before a later
    ACK's HyStart (hystart_update: ssthresh = cwnd, a delay rise a loaded machine provokes) moves
    ssthresh again. The ssthresh it had to restore is read while the reduction lasted."""

    def __init__(self, engine: TcpEngine) -> None:
        super().__init__(engine)
        self._undos = self._count()
        self._prior = 0
        self.undone: list[Undone] = []

    def _count(self) -> int:
        return sum(self.engine.counters.get(k, 0) for k in UNDO_COUNTERS)

    def _look(self, conn: object | None, now: float) -> None:
        recovery = getattr(conn, "recovery", None)
        if recovery is None:
            return
        count = self._count()
        if count != self._undos:
            self._undos = count
            cc = recovery.cc
            self.undone.append(Undone(now, cc.ssthresh, cc.cwnd, self._prior))
        if recovery.undo.prior_ssthresh:
            self._prior = recovery.undo.prior_ssthresh

    def on_segment(self, conn: object | None, direction: str, seg: Segment, now: float) -> None:
        self._look(conn, now)
        super().on_segment(conn, direction, seg, now)

    def on_timer(self, conn: object, kind: TimerKind, action: str, deadline: float | None,
                 now: float) -> None:
        self._look(conn, now)
        super().on_timer(conn, kind, action, deadline, now)
