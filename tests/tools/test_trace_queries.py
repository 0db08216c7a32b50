"""What a test asks a `trace.Recorder`: state paths, drops, retransmissions, segments and packets.

The recorder is fed by hand here (observer calls with a stand-in connection), so these
questions are pinned without an engine; `ss_parse` reads `ss -tano` text.
"""

from __future__ import annotations

from minitcp.tcp.states import State
from minitcp.trace.recorder import Recorder
from minitcp.trace.ss_parse import SsRow, parse_ss
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, FIN, SYN, Segment
from minitcp.wire.tcp import build_tcp_packet

A, B = ip_int("198.18.0.1"), ip_int("198.18.0.2")


class Conn:
    """Stands in for a Connection: the recorder reads only `four_tuple`."""

    def __init__(self, lport: int, rport: int) -> None:
        self.four_tuple = (B, lport, A, rport)


def test_state_paths_by_object_and_by_ports() -> None:
    rec = Recorder("m")
    first, again = Conn(80, 40000), Conn(80, 40000)  # a later incarnation of the same four-tuple
    other = Conn(80, 40001)
    rec.on_state(first, State.LISTEN, State.SYN_RECEIVED, 0.0)
    rec.on_state(other, State.LISTEN, State.SYN_RECEIVED, 0.1)
    rec.on_state(first, State.SYN_RECEIVED, State.ESTABLISHED, 0.2)
    rec.on_state(again, State.CLOSED, State.SYN_SENT, 0.3)
    assert rec.state_path(first) == [State.LISTEN, State.SYN_RECEIVED, State.ESTABLISHED]
    assert rec.state_path(again) == [State.CLOSED, State.SYN_SENT]
    assert rec.state_path(lport=80, rport=40000) == [State.LISTEN, State.SYN_RECEIVED, State.ESTABLISHED,
                                                     State.SYN_SENT]
    assert rec.state_path(rport=40001) == [State.LISTEN, State.SYN_RECEIVED]
    assert rec.state_path(host="elsewhere") == []


def test_drops_retransmissions_and_segments_by_direction() -> None:
    rec = Recorder("m")
    conn = Conn(80, 40000)
    syn = Segment(A, B, 40000, 80, 1000, 0, SYN, 65535, b"")
    synack = Segment(B, A, 80, 40000, 5000, 1001, SYN | ACK, 65535, b"")
    rec.on_segment(conn, "in", syn, 0.0)
    rec.on_segment(conn, "out", synack, 0.0)
    rec.on_segment(conn, "out", synack, 1.0)
    rec.on_retransmit(conn, synack, 1.0)
    rec.on_drop(None, "bad_checksum", Segment(A, B, 40000, 80, 1001, 5001, FIN | ACK, 512, b""), 1.5)
    assert [e.flags for e in rec.segments("m", "in")] == ["S"]
    assert [(e.flags, e.retransmit) for e in rec.segments(direction="out")] == [("S.", False), ("S.", True)]
    assert [(e.flags, e.seq) for e in rec.retransmissions("m")] == [("S.", 0)]
    assert rec.drop_reasons() == ["bad_checksum"]
    assert rec.drops("m")[0].segment == "FIN seq=1 ack=1"


def test_whole_packets_from_the_stack_hook() -> None:
    rec = Recorder("m")
    packet = build_tcp_packet(Segment(A, B, 40000, 80, 1, 0, SYN, 65535, b""))
    rec.on_packet("in", memoryview(packet), 0.5)
    [event] = rec.packets("m", "in")
    assert (event.packet, event.length, event.local, event.remote) == (packet, len(packet), "198.18.0.2:80",
                                                                        "198.18.0.1:40000")
    assert rec.packets(direction="out") == [] and rec.segments() == []  # packets are not segments


def test_reading_ss_output() -> None:
    text = ("ESTAB      0      0      198.18.0.1:40000   198.18.0.2:80\n"
            "TIME-WAIT  0      0      198.18.0.1:40002   198.18.0.2:7    timer:(timewait,59sec,0)\n"
            "garbage\n")
    rows = parse_ss(text)
    assert rows == [SsRow("ESTAB", "198.18.0.1:40000", "198.18.0.2:80"),
                    SsRow("TIME-WAIT", "198.18.0.1:40002", "198.18.0.2:7", "timer:(timewait,59sec,0)")]
    assert [r.rfc_state for r in rows] == ["ESTABLISHED", "TIME_WAIT"]
    assert str(rows[1]) == "TIME-WAIT 198.18.0.1:40002 -> 198.18.0.2:7 timer:(timewait,59sec,0)"
