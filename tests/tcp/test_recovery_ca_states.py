"""The congestion states recovery.Recovery moves the congestion-control part through (Linux
tcp_fastretrans_alert, tcp_enter_loss, tcp_enter_cwr), with Reno's window in segments."""

from __future__ import annotations

from minitcp.tcp.cc import CaState
from minitcp.tcp.cc.reno import Reno
from minitcp.tcp.knobs import Knobs
from minitcp.tcp.recovery import Recovery

ISS = 1000


def _recovery(cwnd: int = 20) -> tuple[Recovery, Reno]:
    cc = Reno(10)
    cc.cwnd = cwnd
    return Recovery(cc, ISS, Knobs()), cc


def test_three_duplicate_acks_halve_cwnd_then_inflate_and_a_full_ack_opens() -> None:
    rec, cc = _recovery(20)
    assert not rec.on_dupack(5000, 3, 1.0) and cc.ca_state == CaState.DISORDER
    assert not rec.on_dupack(5000, 3, 1.0)
    assert rec.on_dupack(5000, 3, 1.0)  # the third: fast retransmit (RFC 5681, RFC 6582)
    assert (cc.ca_state, cc.ssthresh, cc.cwnd, cc.prior_cwnd) == (CaState.RECOVERY, 10, 13, 20)
    rec.on_dupack(5000, 3, 1.1)
    assert cc.cwnd == 14  # inflated by one per duplicate ACK
    assert rec.on_ack(2, 3000, 12, 1.2)  # partial: deflate by 2, add 1
    assert cc.cwnd == 13 and cc.ca_state == CaState.RECOVERY
    assert not rec.on_ack(5, 5000, 0, 1.3)  # full: min(ssthresh, flight + 1)
    assert (cc.ca_state, cc.cwnd) == (CaState.OPEN, 1)


def test_a_timeout_reduces_once_per_episode_and_loss_ends_past_what_was_sent() -> None:
    rec, cc = _recovery(20)
    rec.on_rto(ISS + 1, 9000, 2.0)
    assert (cc.ca_state, cc.cwnd, cc.ssthresh) == (CaState.LOSS, 1, 10)
    rec.retransmits = 1
    rec.on_rto(ISS + 1, 9000, 3.0)  # the same loss backed off: ssthresh stays (tcp_enter_loss)
    assert (cc.cwnd, cc.ssthresh) == (1, 10)
    cc.cwnd_validate(True, 1, ISS + 1, 9000)  # the retransmission filled the window
    rec.on_ack(1, 2000, 5, 3.5)
    assert cc.ca_state == CaState.LOSS and cc.cwnd == 2  # slow start from 1, still in Loss
    rec.on_ack(5, 9000, 0, 3.6)
    assert cc.ca_state == CaState.OPEN


def test_ece_enters_cwr_once_per_window_without_growth_until_past_its_end() -> None:
    rec, cc = _recovery(20)
    rec.on_ack(1, 2000, 10, 1.0, ece_snd_max=20_000)
    assert (cc.ca_state, cc.ssthresh, cc.cwnd, rec.cwr_end) == (CaState.CWR, 10, 10, 20_000)
    rec.on_ack(1, 3000, 9, 1.1, ece_snd_max=21_000)  # the same window: no second reduction
    assert (cc.ssthresh, cc.cwnd, rec.cwr_end) == (10, 10, 20_000)
    rec.on_ack(1, 20_000, 0, 1.2)  # exactly the end: CWR holds (the CWR must be ACKed)
    assert cc.ca_state == CaState.CWR
    rec.on_ack(1, 21_000, 0, 1.3)
    assert cc.ca_state == CaState.OPEN and cc.cwnd == 10
    rec.on_dupack(30_000, 3, 1.4, ece=True)  # a duplicate ACK with ECE reduces too
    assert (cc.ca_state, cc.ssthresh) == (CaState.CWR, 5)
    rec.on_dupack(30_000, 3, 1.5)
    assert rec.on_dupack(30_000, 3, 1.6)  # recovery from CWR keeps the ECE's ssthresh
    assert (cc.ca_state, cc.ssthresh, cc.cwnd) == (CaState.RECOVERY, 5, 8)
