"""CUBIC with HyStart (cc/cubic.py) against Linux's tcp_cubic.c.

The expected windows come from Linux's own bictcp_update, cubic_root, tcp_slow_start and
tcp_cong_avoid_ai compiled in C with HZ 250 and fed the same ACKs (a reference harness run
beside this port, which matched it on 200 random ACK sequences); the rest are hand-computed."""

from __future__ import annotations

from dataclasses import dataclass, field

from minitcp.tcp.cc import CaState, make_cc
from minitcp.tcp.cc.cubic import (
    HYSTART_MIN_SAMPLES,
    INITIAL_JIFFIES,
    Cubic,
    beta_scale,
    cube_factor,
    cube_rtt_scale,
    cubic_root,
    jiffies,
)
from minitcp.tcp.counters import Counters


@dataclass
class FakeSender:
    snd_una: int = 1
    snd_max: int = 1
    pacing_rate: int = 0
    counters: dict[str, int] = field(default_factory=Counters)


def test_the_scale_factors_are_linux_s() -> None:
    assert (beta_scale, cube_rtt_scale, cube_factor) == (15, 410, 2**40 // 410)
    assert jiffies(0.57) == (142 + INITIAL_JIFFIES) & 0xFFFFFFFF  # not 142.49999 -> 142 by luck


def test_cubic_root_is_linux_s_table_and_one_newton_step() -> None:
    assert [cubic_root(a) for a in (0, 1, 27, 63, 1000)] == [0, 1, 3, 4, 10]
    # K for W_max - cwnd = 30: cbrt(30 / 0.4) s = 4.217 s, 4318/1024; Linux's estimate is 4316.
    assert cubic_root(cube_factor * 30) == 4316


def test_multiplicative_decrease_is_0_7_with_fast_convergence() -> None:
    cc = Cubic(10)
    cc.cwnd = 100
    assert cc.ssthresh_on_loss() == 70 and cc.last_max_cwnd == 100  # 100 * 717 / 1024
    cc.cwnd = 80  # a second loss below W_max: the flow yields, W_max = 80 * (1 + 0.7) / 2
    assert cc.ssthresh_on_loss() == 56 and cc.last_max_cwnd == 68
    cc.cwnd = 2
    assert cc.ssthresh_on_loss() == 2


def test_the_window_after_a_loss_follows_the_cubic_curve() -> None:
    """Loss at cwnd 100, then one ACK of one segment every 4 ms (one jiffy): the window grows
    fast, flattens to W_max = 100 at K = 4.2 s, then probes beyond it (values from Linux)."""
    cc = Cubic(10)
    cc.cwnd = 100
    cc.ssthresh = cc.ssthresh_on_loss()
    cc.cwnd = cc.ssthresh
    seen = {}
    for i in range(1, 2001):
        cc.cong_avoid(1, 10.0 + i * 0.004, True)
        seen[i] = (cc.cwnd, cc.cnt)
    assert seen[100] == (74, 18)
    assert seen[500] == (94, 31)
    assert seen[1000] == (100, 10000)  # the plateau: one more segment per 100 windows
    assert seen[1500] == (102, 101)
    assert seen[2000] == (116, 23)


def test_slow_start_then_no_growth_when_not_cwnd_limited() -> None:
    cc = Cubic(10)
    cc.cong_avoid(10, 1.0, True)
    assert cc.cwnd == 20
    cc.cong_avoid(10, 1.1, False)  # application-limited: tcp_is_cwnd_limited says no
    assert cc.cwnd == 20


def test_before_any_loss_growth_is_at_least_5_percent_per_rtt() -> None:
    """No W_max yet (last_max_cwnd 0): cnt is at most 20 (bictcp_update's initial growth)."""
    cc = Cubic(10)
    cc.cwnd, cc.ssthresh = 40, 40
    cc.cong_avoid(1, 5.0, True)
    assert cc.cnt == 20 and cc.bic_origin_point == 40 and cc.bic_K == 0


def test_hystart_delay_exits_slow_start_when_the_round_s_rtt_rises_an_eighth() -> None:
    """hystart_update's delay test: min RTT 200 ms, then a round whose samples are all 240 ms
    (more than 200 + clamp(200/8, 4, 16) ms): after HYSTART_MIN_SAMPLES samples, ssthresh = cwnd."""
    sender = FakeSender()
    cc = make_cc("cubic", 10, sender)
    cc.init(0.0)
    cc.on_rtt_sample(0.200, 10, 0.2)  # cwnd 10 < hystart_low_window: only delay_min
    assert isinstance(cc, Cubic) and cc.delay_min == 200_000
    cc.cwnd = 20
    sender.snd_una = sender.snd_max = 30_001
    for k in range(HYSTART_MIN_SAMPLES):
        cc.on_rtt_sample(0.240, 2, 0.64 + 0.01 * k)  # spaced 10 ms: no ACK train
        assert cc.ssthresh == 0x7FFFFFFF and not cc.found
    cc.on_rtt_sample(0.240, 2, 0.72)
    assert cc.found and cc.ssthresh == 20
    assert (sender.counters["TCPHystartDelayDetect"], sender.counters["TCPHystartDelayCwnd"]) == (1, 20)
    assert sender.counters["TCPHystartTrainDetect"] == 0


def test_hystart_ack_train_exits_when_closely_spaced_acks_last_half_the_min_rtt() -> None:
    """hystart_update's ACK-train test: ACKs at most 2 ms apart for more than delay_min / 2
    (minitcp does not pace, so the threshold is halved as for SK_PACING_NONE)."""
    sender = FakeSender()
    cc = make_cc("cubic", 10, sender)
    assert isinstance(cc, Cubic)
    cc.init(0.0)
    cc.on_rtt_sample(0.010, 1, 0.01)
    cc.cwnd = 16
    sender.snd_una = sender.snd_max = 20_000
    start = 1.0
    cc.on_rtt_sample(0.010, 1, start)  # a new round starts here
    for ms in range(1, 6):
        cc.on_rtt_sample(0.010, 1, start + ms / 1000)
        assert not cc.found  # 5 ms is not more than 10 ms / 2
    cc.on_rtt_sample(0.010, 1, start + 0.0051)
    assert cc.found and cc.ssthresh == 16
    assert (sender.counters["TCPHystartTrainDetect"], sender.counters["TCPHystartTrainCwnd"]) == (1, 16)


def test_a_timeout_resets_cubic_and_hystart() -> None:
    cc = Cubic(10, FakeSender())
    cc.cwnd = 100
    cc.cwnd = cc.ssthresh = cc.ssthresh_on_loss()
    cc.cong_avoid(1, 3.0, True)
    assert cc.epoch_start and cc.last_max_cwnd == 100
    cc.set_ca_state(CaState.LOSS, 3.5)  # cubictcp_state
    assert (cc.epoch_start, cc.last_max_cwnd, cc.found, cc.ca_state) == (0, 0, 0, CaState.LOSS)


def test_tx_start_after_idle_shifts_the_epoch() -> None:
    """cubictcp_cwnd_event(CA_EVENT_TX_START): idle 1 s (250 jiffies) moves the epoch on by as
    much, so the curve resumes where it stopped rather than jump."""
    cc = Cubic(10)
    cc.cwnd, cc.ssthresh = 50, 50
    cc.cong_avoid(1, 2.0, True)
    epoch = cc.epoch_start
    cc.last_send = 2.0
    cc.on_tx_start(3.0)
    assert cc.epoch_start == (epoch + 250) & 0xFFFFFFFF
    cc.last_send = 3.0
    cc.on_tx_start(3.0)  # not idle: no shift
    assert cc.epoch_start == (epoch + 250) & 0xFFFFFFFF
