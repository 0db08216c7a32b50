"""Reno's window arithmetic in segments (Linux tcp_cong.c: tcp_slow_start, tcp_cong_avoid_ai,
tcp_reno_cong_avoid, tcp_reno_ssthresh, tcp_reno_undo_cwnd, tcp_is_cwnd_limited,
tcp_cwnd_restart), and the choice of algorithm by name."""

from __future__ import annotations

import pytest

from minitcp.tcp.cc import AVAILABLE, TCP_INFINITE_SSTHRESH, CaState, make_cc
from minitcp.tcp.cc.reno import Reno


def test_make_cc_builds_reno_by_its_linux_name() -> None:
    cc = make_cc("reno", 10)
    assert isinstance(cc, Reno) and cc.name == "reno" and "reno" in AVAILABLE
    assert (cc.cwnd, cc.ssthresh, cc.ca_state) == (10, TCP_INFINITE_SSTHRESH, CaState.OPEN)
    with pytest.raises(KeyError):
        make_cc("vegas", 10)


def test_slow_start_counts_segments_acknowledged_up_to_ssthresh_then_avoids_congestion() -> None:
    """RFC 3465 counting without an L limit, as Linux: one ACK for ten segments (a GRO
    super-segment) grows the window by ten; past ssthresh the rest is credit in cwnd_cnt."""
    cc = Reno(10)
    cc.cong_avoid(10, 0.0, True)
    assert cc.cwnd == 20
    cc.ssthresh = 25
    cc.cong_avoid(10, 0.0, True)  # 5 segments reach ssthresh, 5 go to congestion avoidance
    assert (cc.cwnd, cc.cwnd_cnt) == (25, 5)
    cc.cong_avoid(19, 0.0, True)
    assert (cc.cwnd, cc.cwnd_cnt) == (25, 24)
    cc.cong_avoid(1, 0.0, True)  # a whole window of 25 acknowledged: one segment more
    assert (cc.cwnd, cc.cwnd_cnt) == (26, 0)
    cc.cong_avoid(2 * 26 + 3, 0.0, True)  # a stretch ACK of two windows: two more (tcp_cong_avoid_ai)
    assert (cc.cwnd, cc.cwnd_cnt) == (28, 3)


def test_the_window_grows_only_when_the_sender_used_it() -> None:
    """tcp_is_cwnd_limited: an application-limited sender does not inflate cwnd; in slow start
    cwnd may still grow to twice the most segments that were in flight."""
    cc = Reno(10)
    cc.cwnd_validate(False, 3, snd_una=1, snd_nxt=100)
    assert not cc.is_cwnd_limited and cc.max_packets_out == 3
    assert cc.cwnd_limited() is False  # 10 >= 2 * 3
    cc.cwnd_validate(False, 6, snd_una=1, snd_nxt=200)
    assert cc.cwnd_limited() is True  # 10 < 2 * 6
    cc.cwnd_validate(True, 10, snd_una=1, snd_nxt=300)
    assert cc.cwnd_limited() is True
    cc.ssthresh = 5
    cc.cwnd_validate(False, 2, snd_una=300, snd_nxt=400)  # a new window, not limited
    assert cc.cwnd_limited() is False  # in congestion avoidance only is_cwnd_limited counts
    before = cc.cwnd
    cc.cong_avoid(20, 0.0, cc.cwnd_limited())
    assert cc.cwnd == before


def test_loss_halves_cwnd_and_undo_restores_it() -> None:
    cc = Reno(10)
    cc.cwnd = 41
    assert cc.ssthresh_on_loss() == 20  # tcp_reno_ssthresh: cwnd >> 1
    cc.cwnd = 3
    assert cc.ssthresh_on_loss() == 2  # never below two
    cc.prior_cwnd, cc.cwnd = 41, 20
    assert cc.undo_cwnd() == 41  # tcp_reno_undo_cwnd: max(cwnd, prior_cwnd)


def test_restart_after_idle_halves_per_rto_down_to_the_restart_window() -> None:
    """tcp_cwnd_restart: ssthresh keeps 3/4 of cwnd (tcp_current_ssthresh), cwnd halves once per
    RTO of idleness beyond the first, not below min(initial window, cwnd)."""
    cc = Reno(10)
    cc.cwnd, cc.ssthresh = 80, 30
    cc.restart(idle=2.5, rto=1.0, init_cwnd=10)  # 1.5 and 0.5 RTO left: halved twice
    assert (cc.cwnd, cc.ssthresh) == (20, 60)
    cc.restart(idle=100.0, rto=1.0, init_cwnd=10)
    assert cc.cwnd == 10
    cc.cwnd = 4
    cc.restart(idle=100.0, rto=1.0, init_cwnd=10)
    assert cc.cwnd == 4  # a window already under the restart window stays


def test_a_window_unused_for_an_rto_decays_to_the_mean_of_cwnd_and_what_was_used() -> None:
    """Linux tcp_cwnd_validate / tcp_cwnd_application_limited (RFC 2861 section 3, RFC 7661):
    an application-limited sender keeps the most it had in flight (snd_cwnd_used); once the
    window has gone unused for an RTO (tcp_slow_start_after_idle), cwnd falls to the mean of
    cwnd and max(used, initial window), ssthresh keeping 3/4 of the old cwnd."""
    cc = Reno(10)
    cc.cwnd, cc.ssthresh = 40, 100
    cc.cwnd_validate(True, 40, snd_una=1, snd_nxt=100, now=1.0, rto=0.2, decay=True)
    assert (cc.cwnd_used, cc.cwnd_stamp) == (0, 1.0)  # fed fully: stamped
    cc.cwnd_validate(False, 12, snd_una=100, snd_nxt=200, now=1.1, rto=0.2, decay=True)
    assert (cc.cwnd, cc.cwnd_used) == (40, 12)  # starving, not for an RTO yet
    cc.cwnd_validate(False, 8, snd_una=150, snd_nxt=210, now=1.2, rto=0.2, decay=True)
    assert (cc.cwnd, cc.ssthresh, cc.cwnd_used, cc.cwnd_stamp) == (26, 100, 0, 1.2)  # (40 + 12) / 2
    # Used less than the initial window: the mean with the initial window (tcp_init_cwnd).
    cc.cwnd_validate(False, 3, snd_una=210, snd_nxt=220, now=1.4, rto=0.2, decay=True)
    assert cc.cwnd == (26 + 10) // 2
    # Not in a reduction, nor when the send buffer limited the sender (SOCK_NOSPACE), nor
    # without tcp_slow_start_after_idle.
    cc.set_ca_state(CaState.CWR, 1.5)
    cc.cwnd_validate(False, 3, snd_una=220, snd_nxt=230, now=1.8, rto=0.2, decay=True)
    assert cc.cwnd == 18
    cc.set_ca_state(CaState.OPEN, 1.9)
    cc.cwnd_validate(False, 3, snd_una=230, snd_nxt=240, now=2.5, rto=0.2, decay=True, nospace=True)
    cc.cwnd_validate(False, 3, snd_una=240, snd_nxt=250, now=3.5, rto=0.2, decay=False)
    assert cc.cwnd == 18
