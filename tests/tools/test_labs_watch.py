"""The labs judge minitcp's timing where a loaded machine cannot move it (labs/watch.py): the
timeout its engine armed, the window at the reduction itself; and the kernel's events land on
Trio's clock where they happened (runner.trace_clock_offset). Each check still fails on a wrong
value."""

from __future__ import annotations

import time

import pytest
import trio

import minitcp.tcp.cc.cubic as cubic
from minitcp.labs import get, run_lab
from minitcp.labs import watch as watch_module
from minitcp.labs.base import LabOptions
from minitcp.labs.runner import trace_clock_offset
from minitcp.labs.watch import LATE, SegmentWatch, TimerWatch
from minitcp.tcp.pair import EnginePair
from minitcp.tcp.timers import TimerKind
from tests.helpers.pairs import pair_connect


def _failed(name: str, options: LabOptions | None = None) -> list[str]:
    result = run_lab(get(name), sim=True, options=options)
    assert result.error is None
    return [c.what for c in result.checks if not c.ok]


def _late_timer(monkeypatch: pytest.MonkeyPatch, waited: float) -> TimerWatch:
    """The retransmission timer (a loss probe) of a client's first data fired 60 ms after it was
    due, the thread having waited `waited` seconds for a CPU in between (as
    /proc/thread-self/schedstat would say)."""
    total = [0.0]  # the thread's CPU wait so far
    monkeypatch.setattr(watch_module, "cpu_wait", lambda: total[0])
    p = EnginePair()
    client, _ = pair_connect(p)
    with TimerWatch(p.a, real_time=True) as watch:  # as against the kernel: the CPU wait counts
        client.send(b"GET /", p.now)  # on the wire, never delivered: the timer is all there is
        due = p.a.poll_at()
        assert due is not None
        total[0] += waited
        p.a.handle_timeout(due + 0.060)
    return watch


def test_a_timer_fired_late_on_an_idle_machine_is_not_punctual(monkeypatch: pytest.MonkeyPatch) -> None:
    (fired,) = _late_timer(monkeypatch, 0.0).fired
    assert fired.kind is TimerKind.RTO and fired.armed == 0.01 < fired.deadline  # sent at 10 ms
    assert fired.late == pytest.approx(0.060) and not fired.punctual


def test_the_cpu_wait_of_a_loaded_machine_excuses_lateness(monkeypatch: pytest.MonkeyPatch) -> None:
    (fired,) = _late_timer(monkeypatch, 0.060 - LATE).fired
    assert fired.cpu_wait == pytest.approx(0.060 - LATE) and fired.punctual


def test_in_virtual_time_no_cpu_wait_excuses_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch_module, "cpu_wait", lambda: 1.0)  # a real wait, long
    p = EnginePair()
    watch = SegmentWatch(p.a)
    assert watch.cpu_wait() == 0.0 and TimerWatch(p.a).cpu_wait() == 0.0


def test_the_watch_hands_the_engine_back_its_observer() -> None:
    p = EnginePair()
    with TimerWatch(p.a) as watch:
        assert p.a.observer is watch
    assert p.a.observer is None


def test_cubic_vs_reno_fails_on_a_wrong_beta(monkeypatch: pytest.MonkeyPatch) -> None:
    """ssthresh and cwnd read at the reduction: CUBIC halving like Reno fails its check."""
    monkeypatch.setattr(cubic, "beta", 512)
    failed = _failed("cubic-vs-reno")
    assert any(what.startswith("cubic: the loss set ssthresh") for what in failed), failed
    assert not any(what.startswith("reno:") for what in failed), failed


def test_the_trace_clock_offset_ignores_a_stall_between_two_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A preemption of 5 ms between reading one clock and the other, on the first try: the
    kernel's events would land 5 ms early (a state change ahead of its cause)."""
    real = time.monotonic
    calls = iter(range(1000))

    def stalled() -> float:
        return real() + (0.005 if next(calls) == 1 else 0.0)  # the first try's second read

    async def main() -> float:
        monkeypatch.setattr(time, "monotonic", stalled)
        offset = trace_clock_offset()
        monkeypatch.setattr(time, "monotonic", real)
        return trio.current_time() - real() - offset

    assert abs(trio.run(main)) < 0.001


def test_the_min_rtt_watch_reads_what_rack_held_a_sack_against() -> None:
    """min_rtt as each segment came in, before the segment's own sample: the SYN-ACK finds none,
    the ACK of the first data the handshake's round trip, 4 ms, not its own 2 ms."""
    p = EnginePair(latency=0.002)
    with SegmentWatch(p.a) as watch:
        client, _ = pair_connect(p)
        p.latency = 0.001
        client.send(b"x", p.now)
        p.run_for(0.1)
    came = [(t, min_rtt) for t, direction, min_rtt, _ in watch.seen if direction == "in"]
    assert [min_rtt for _, min_rtt in came] == [None, pytest.approx(0.004)]  # the SYN-ACK, the ACK
    assert watch.min_rtt_at(came[-1][0]) == pytest.approx(0.004)
    assert p.a.conns and next(iter(p.a.conns.values())).recovery.min_rtt == pytest.approx(0.002)


@pytest.mark.parametrize(("lab", "knob", "value", "says"), [
    # The timeout the engine armed is judged, not the gap: a 500 ms floor shows.
    ("first-fin-lost", "tcp_rto_min", "0.5", "after one RTO"),
    ("delayed-ack", "tcp_delack_min", "0.1", "waited about 40 ms"),
    # No TLP: the RTO repairs the tail, whichever way RACK saw the SACK.
    ("tail-loss-probe", "tcp_early_retrans", "0", "tail loss probe"),
    # The timer that resent the tail was the RTO's, armed for the RTO, not 2·SRTT.
    ("tail-loss-probe", "tcp_early_retrans", "0", "when the probe timer fired"),
    # The learner's 2, kept over the lab's 3: one doubling short of the armed backoff.
    ("fin-retries-exhausted", "tcp_orphan_retries", "2", "twice the last wait"),
    ("syn-lost", "tcp_rto_initial", "2", "initial RTO"),
])
def test_a_lab_fails_on_a_wrong_knob(lab: str, knob: str, value: str, says: str) -> None:
    failed = _failed(lab, LabOptions(sysctls=[(knob, value)]))
    assert any(says in what for what in failed), failed


def test_the_undo_watch_keeps_ssthresh_as_the_undo_left_it() -> None:
    """spurious-undo at load: HyStart (ssthresh = cwnd on a delay rise) moved ssthresh after the
    undo and the lab, reading it at the end, saw 28 instead of the restored value. The watch reads
    it at the engine's next hook after the undo, and the ssthresh the reduction saved."""
    from types import SimpleNamespace

    from minitcp.labs.watch import UndoWatch
    from minitcp.tcp.observer import BaseObserver

    cc = SimpleNamespace(ssthresh=21, cwnd=21)
    conn = SimpleNamespace(recovery=SimpleNamespace(cc=cc, undo=SimpleNamespace(prior_ssthresh=30)))
    engine = SimpleNamespace(observer=BaseObserver(), counters={"TCPDSACKUndo": 0})
    with UndoWatch(engine) as watch:  # type: ignore[arg-type]
        watch.on_timer(conn, TimerKind.RTO, "set", 1.0, 0.5)  # in recovery: 30 saved
        engine.counters["TCPDSACKUndo"] += 1  # the undo: ssthresh and cwnd back
        cc.ssthresh, cc.cwnd = 30, 40
        watch.on_timer(conn, TimerKind.RTO, "set", 1.1, 0.6)
        cc.ssthresh = 28  # a later ACK's HyStart
        watch.on_timer(conn, TimerKind.RTO, "set", 1.2, 0.7)
    assert [(u.ssthresh, u.cwnd, u.prior_ssthresh) for u in watch.undone] == [(30, 40, 30)]
    assert engine.observer.__class__ is BaseObserver  # the tap is gone
