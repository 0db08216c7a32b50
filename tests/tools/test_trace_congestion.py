"""The congestion state in the views: a loss shows in the ladder as `ca Open → ...` with cwnd,
ssthresh and the scoreboard's counts, and in `ss -i` as `ca_state:...` beside lost and retrans."""

from __future__ import annotations

from minitcp.faults import FaultInjector
from minitcp.tcp.pair import EnginePair
from minitcp.trace.diagram import build_diagram
from minitcp.trace.events import CongestionEvent, SegmentEvent
from minitcp.trace.ladder import render_ladder
from minitcp.trace.recorder import Recorder
from minitcp.trace.ss import ss

from ..helpers.pairs import pair_connect


def _lossy_transfer() -> tuple[EnginePair, Recorder, list[str]]:
    rec = Recorder("client", timers=False)
    p = EnginePair()
    p.a.observer = rec.host("client")
    client, server = pair_connect(p)
    p.latency = 0.01  # a round trip of 20 ms from here on, for recovery to take place in
    FaultInjector(["drop:dir=out,nth=2"]).attach(p, "a")  # the second data segment of the write
    client.send(b"x" * 20 * 1448, p.now)
    seen: list[str] = []  # ss -i of the sender whenever it has left Open
    for _ in range(200):
        p.run_for(0.005)
        text = ss(p.a, info=True, listening=False)
        if "ca_state:" in text:
            seen.append(text)
    assert server.recv(100_000, p.now) == b"x" * 20 * 1448
    client.send(b"y" * 100, p.now)  # the next segment after recovery shows the state back to Open
    p.run_for(0.1)
    assert server.recv(1000, p.now) == b"y" * 100
    return p, rec, seen


def test_a_loss_shows_as_a_congestion_state_change_in_the_ladder() -> None:
    _, rec, _ = _lossy_transfer()
    changes = [e for e in rec.events if isinstance(e, CongestionEvent)]
    assert changes and changes[0].old == "Open"  # Disorder first on a SACK scoreboard's sender
    entry = next(e for e in changes if e.new in ("Recovery", "Loss"))
    assert entry.lost >= 1 and entry.ssthresh < 0x7FFFFFFF  # a segment marked lost, the window cut
    assert changes[-1].new == "Open"  # and recovery ended
    # Recorded right before the retransmission it caused.
    i = rec.events.index(entry)
    nxt = next(e for e in rec.events[i:] if isinstance(e, SegmentEvent) and e.direction == "out")
    assert nxt.retransmit
    text = render_ladder(rec)
    assert f"ca {entry.old} → {entry.new} cwnd={entry.cwnd} ssthresh={entry.ssthresh}" in text
    assert [r.kind for r in build_diagram(rec).rows if getattr(r, "kind", "") == "congestion"]


def test_ss_i_shows_the_congestion_state_while_recovering() -> None:
    _, _, seen = _lossy_transfer()
    assert seen, "ss -i never showed a congestion state"
    info = seen[0].splitlines()[-1].split()
    assert info[-1] in ("ca_state:Recovery", "ca_state:Loss", "ca_state:Disorder")
    assert any(part.startswith("cwnd:") for part in info)
