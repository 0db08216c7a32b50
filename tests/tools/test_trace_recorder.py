"""The trace recorder: every segment, state, timer, retransmission, drop and fault, per connection."""

from __future__ import annotations

import json

from minitcp.tcp.pair import EnginePair
from minitcp.trace.events import DropEvent, SegmentEvent, StateEvent, TimerEvent
from minitcp.trace.recorder import Recorder, merge
from minitcp.wire.segment import ACK, FIN, SYN

from ..helpers.pairs import full_life, pair_connect
from ..tcp.peer import LOCAL, RPORT, Peer

CLIENT = "198.18.0.1:40000"
SERVER = "198.18.0.2:80"


def segs(rec: Recorder, host: str, direction: str = "out") -> list[tuple[str, int, int | None, int]]:
    return [(e.flags, e.seq, e.ack, e.length) for e in rec.segments(host) if e.direction == direction]


def test_both_hosts_of_a_whole_connection_with_relative_numbers() -> None:
    p = EnginePair()
    rec = Recorder().watch(p)
    full_life(p)
    assert rec.hosts == ["client", "server"]
    assert segs(rec, "client") == [
        ("S", 0, None, 0), (".", 1, 1, 0), ("P.", 1, 1, 100), (".", 101, 301, 0), ("F.", 101, 301, 0),
        (".", 102, 302, 0),
    ]
    assert segs(rec, "server") == [
        ("S.", 0, 1, 0), (".", 1, 101, 0), ("P.", 1, 101, 300), (".", 301, 102, 0), ("F.", 301, 102, 0),
    ]
    # What one host sent is what the other took in (nothing was lost), with the same numbers.
    assert segs(rec, "server", "in") == segs(rec, "client")
    assert segs(rec, "client", "in") == segs(rec, "server")
    syn = rec.segments("client")[0]
    assert syn.local == CLIENT and syn.remote == SERVER and syn.src == CLIENT and syn.dst == SERVER
    assert syn.options["mss"] == 1460 and syn.options["sack_permitted"] is True and "wscale" in syn.options
    assert syn.abs_seq != 0 and syn.abs_ack is None and syn.window == 64240
    assert syn.label == "SYN seq=0"


def test_state_changes_per_host_in_order() -> None:
    p = EnginePair()
    rec = Recorder().watch(p)
    full_life(p)
    states = {h: [(e.old, e.new) for e in rec.select("state", host=h)] for h in rec.hosts}
    assert states["client"] == [
        ("CLOSED", "SYN_SENT"), ("SYN_SENT", "ESTABLISHED"), ("ESTABLISHED", "FIN_WAIT_1"),
        ("FIN_WAIT_1", "FIN_WAIT_2"), ("FIN_WAIT_2", "TIME_WAIT"), ("TIME_WAIT", "CLOSED"),
    ]
    assert states["server"] == [
        ("LISTEN", "SYN_RECEIVED"), ("SYN_RECEIVED", "ESTABLISHED"), ("ESTABLISHED", "CLOSE_WAIT"),
        ("CLOSE_WAIT", "LAST_ACK"), ("LAST_ACK", "CLOSED"),
    ]
    # The TIME_WAIT entry (not a Connection) still names its connection.
    tw_end = rec.select("state", host="client")[-1]
    assert isinstance(tw_end, StateEvent) and (tw_end.local, tw_end.remote) == (CLIENT, SERVER)


def test_conversations_group_both_views_of_one_connection() -> None:
    p = EnginePair()
    rec = Recorder().watch(p)
    full_life(p)
    convs = rec.conversations()
    assert list(convs) == [(CLIENT, SERVER)]
    assert {e.host for e in convs[(CLIENT, SERVER)]} == {"client", "server"}
    assert rec.select(conversation=(CLIENT, SERVER)) == convs[(CLIENT, SERVER)]


def test_timers_retransmissions_and_the_json_form() -> None:
    p = EnginePair()
    rec = Recorder().watch(p)
    client, _ = pair_connect(p)
    p.fault = lambda sender, seg, now: [] if sender == "a" and seg.flags & FIN else [0.0]  # lose every FIN
    client.close(p.now)
    p.run_for(0.5)
    fins = [e for e in rec.segments("client") if e.flags == "F."]
    # The loss probe at the RTO's time (a lone FIN), then the RTO one RTO later.
    assert [(f.retransmit, f.reason) for f in fins] == [(False, ""), (True, "TLP"), (True, "RTO")]
    rtx, _ = rec.select("retransmit")
    assert (rtx.host, rtx.flags, rtx.seq, rtx.reason) == ("client", "F.", 1, "TLP")
    timers = [(e.timer, e.action) for e in rec.select("timer", host="client") if isinstance(e, TimerEvent)]
    assert ("RTO", "set") in timers and ("RTO", "fire") in timers
    data = json.loads(rec.to_json())
    assert len(data) == len(rec.events)
    assert {d["kind"] for d in data} >= {"segment", "state", "timer", "retransmit"}
    seg = next(d for d in data if d["kind"] == "segment")
    assert set(seg) >= {"time", "host", "local", "remote", "direction", "flags", "seq", "ack", "length",
                        "window", "options", "retransmit"}
    assert "_seg" not in seg


def test_timers_can_be_left_out() -> None:
    p = EnginePair()
    rec = Recorder(timers=False).watch(p)
    pair_connect(p)
    assert rec.select("timer") == [] and rec.select("segment")


def test_one_engine_view_with_drops_and_their_reasons() -> None:
    peer = Peer()
    rec = Recorder("server")
    peer.eng.observer = rec
    conn = peer.accept()
    peer.feed(peer.seg(ACK, seq=10_000_000, payload=b"far away"), at=1.0)
    peer.lport = 81  # nothing listens there
    peer.feed(peer.seg(ACK, seq=1), at=2.0)
    drops = [e for e in rec.events if isinstance(e, DropEvent)]
    assert [d.reason for d in drops] == ["outside the receive window", "no socket on this port"]
    assert drops[0].local == f"198.18.0.2:{conn.lport}" and drops[0].remote == f"198.18.0.1:{RPORT}"
    assert drops[1].local == "198.18.0.2:81" and drops[1].segment == "ACK ack=1"
    ins = [e for e in rec.segments() if e.direction == "in"]
    assert (ins[0].flags, ins[0].seq) == ("S", 0)  # the peer's SYN is its seq 0
    synack = next(e for e in rec.segments() if e.direction == "out")
    assert (synack.flags, synack.seq, synack.ack) == ("S.", 0, 1)
    assert all(e.host == "server" for e in rec.events)
    assert LOCAL  # the engine under test is 198.18.0.2


def test_a_host_joining_mid_connection_counts_from_the_first_seq_it_sees() -> None:
    p = EnginePair()
    client, server = pair_connect(p)
    rec = Recorder("client")
    p.a.observer = rec
    client.send(b"abc", p.now)
    p.run_for(0.1)
    first = rec.segments()[0]
    assert (first.flags, first.seq, first.ack, first.length) == ("P.", 1, 1, 3)
    assert server.recv(10, p.now) == b"abc"


def test_two_recorders_merge_in_time_order() -> None:
    p = EnginePair()
    ra, rb = Recorder("client"), Recorder("server")
    p.a.observer, p.b.observer = ra, rb
    full_life(p)
    merged = merge(ra, rb)
    assert len(merged) == len(ra.events) + len(rb.events)
    assert [e.time for e in merged] == sorted(e.time for e in merged)
    one = Recorder().watch(p)
    assert one.events == []  # a fresh recorder starts empty
    first = merged[:3]
    assert isinstance(first[0], StateEvent) and isinstance(first[1], SegmentEvent)
    assert first[1].segment.flags == SYN
