"""The loss bench's reordering spike in virtual time: four consecutive data segments held one
round trip (20 ms), eight times over the transfer, by the bench's own fault rules
(bench/loss.py `rules("reorder", ...)`, the 20 ms ACK delay included), the sender
application-limited as minitcp's is on TUN.

Linux 6.12 rules at work: RACK's reordering window starts at 0 (no reordering seen,
tcp_rack_reo_wnd), so the first spike's four segments are resent; each spike's D-SACKs then
widen the window one step of min_rtt/4 (tcp_rack_update_reo_wnd, one step per round trip of
deliveries), so spikes 2 and 3 (windows of 10 and 15 ms) are resent too, and from the fourth
on the window is min_rtt, the spike's whole delay: nothing is resent. Twelve retransmissions,
each D-SACKed, as the kernel sender made on a quiet machine."""

from __future__ import annotations

from minitcp.bench.loss import rules
from minitcp.faults import FaultInjector
from minitcp.tcp.pair import EnginePair

NBYTES = 2_000_000
RATE = 500_000  # bytes per second the application writes
STEP = 0.002  # seconds between writes


def test_a_reordering_spike_costs_retransmissions_until_racks_window_covers_it() -> None:
    p = EnginePair(latency=0.0001)
    FaultInjector(rules("reorder", "out", -(-NBYTES // 1448))).attach(p, "a")
    lst = p.b.listen(p.addr_b, 80, 5)
    client = p.a.connect(p.addr_a, 40000, p.addr_b, 80, p.now)
    p.run_for(0.1)
    server = lst.accept()
    assert server is not None
    data = bytes(range(256)) * (NBYTES // 256)
    sent, got = 0, b""
    while len(got) < len(data) and p.now < 30.0:
        if sent < len(data):
            sent += client.send(data[sent:sent + int(RATE * STEP)], p.now)
        p.run_for(STEP)
        got += server.recv(1 << 22, p.now) or b""
    assert got == data
    a, b = p.a.counters, p.b.counters
    assert a["RetransSegs"] == 12 and a["TCPFastRetrans"] == 12
    assert b["TCPDSACKOldSent"] + b["TCPDSACKOfoSent"] == 12  # every one spurious
    assert a["TCPTimeouts"] == 0 and a["TCPLossProbes"] == 0
    rack = client.recovery.rack
    assert rack.reo_wnd_steps == 4  # three D-SACK rounds widened it
    assert client.recovery.min_rtt is not None
    assert rack.min_rtt / 4 * rack.reo_wnd_steps >= 0.020  # it covers the spike's delay
