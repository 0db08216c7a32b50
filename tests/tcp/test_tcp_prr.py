"""Proportional Rate Reduction (RFC 6937; Linux tcp_cwnd_reduction) on its own: what
`prr.Prr` lets a sender send per ACK during a window reduction."""

from __future__ import annotations

from minitcp.tcp.prr import Prr


def test_sending_is_proportional_to_delivery_down_to_ssthresh() -> None:
    # RFC 6937 section 3: cwnd 10 before the loss, ssthresh 7, one segment lost. Over the nine
    # deliveries of the rest of the window, PRR sends 7 segments (the retransmission first),
    # spread over the ACKs (never 0 then 7), and in flight ends at ssthresh.
    prr = Prr()
    prr.start()
    in_flight = 9
    sent = []
    for _ in range(9):
        in_flight -= 1  # one segment delivered
        cwnd = prr.cwnd(7, 10, in_flight, 1, 0, False)
        n = max(cwnd - in_flight, 0)
        prr.sent(n)
        in_flight += n
        sent.append(n)
    assert sum(sent) == 7 and in_flight == 7
    assert max(sent) == 1 and sent[0] == 1


def test_the_first_ack_forces_the_fast_retransmit() -> None:
    # Deep in flight over ssthresh, the proportional share of one delivery rounds to 0:
    # the first ACK of the episode still sends one (the fast retransmit).
    prr = Prr()
    prr.start()
    assert prr.cwnd(5, 100, 99, 1, 1, False) == 100
    prr.sent(1)
    assert prr.cwnd(5, 100, 98, 1, 0, False) == 98  # then nothing until its share adds up


def test_below_ssthresh_the_slow_start_reduction_bound_grows_back() -> None:
    # In flight 3 under ssthresh 7: what was delivered (2), one more on a cumulative ACK
    # without new losses, no further than ssthresh.
    prr = Prr()
    prr.start()
    assert prr.cwnd(7, 10, 3, 2, 0, True) == 3 + 3
    prr.start()
    assert prr.cwnd(7, 10, 3, 2, 1, True) == 3 + 2  # a new loss: no extra segment
    prr.start()
    assert prr.cwnd(7, 10, 6, 4, 0, True) == 7  # capped at ssthresh
