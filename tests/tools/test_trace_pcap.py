"""pcap files that tcpdump and Wireshark read, and tcpdump lines from a recorded trace."""

from __future__ import annotations

import io
import re
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from minitcp.faults import FaultInjector
from minitcp.tcp.pair import EnginePair
from minitcp.trace.hooks import tee
from minitcp.trace.lines import stamp, tcpdump_lines
from minitcp.trace.pcap import LINKTYPE_IPV4, LINKTYPE_RAW, PcapWriter, read_pcap, write_pcap
from minitcp.trace.recorder import Recorder
from minitcp.trace.tcpdump import RelativeSeq, describe_segment
from minitcp.wire.ipv4 import ip_int
from minitcp.wire.segment import ACK, Segment
from minitcp.wire.tcp import build_tcp_packet, parse_tcp_packet

from ..helpers.pairs import full_life

TCPDUMP = shutil.which("tcpdump")
needs_tcpdump = pytest.mark.skipif(TCPDUMP is None, reason="tcpdump is not installed here to read the file")


def parse_pcap(data: bytes) -> tuple[tuple[int, ...], list[tuple[int, int, int, int, bytes]]]:
    """The global header fields and each record, parsed here independently of minitcp.trace.pcap."""
    header = struct.unpack("<IHHiIII", data[:24])
    records = []
    pos = 24
    while pos < len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[pos : pos + 16])
        records.append((sec, usec, incl, orig, data[pos + 16 : pos + 16 + incl]))
        pos += 16 + incl
    assert pos == len(data), "the last record runs past the end of the file"
    return header, records


def recorded() -> Recorder:
    p = EnginePair()
    rec = Recorder().watch(p)
    full_life(p)
    return rec


def tcpdump(path: Path, *args: str) -> list[str]:
    assert TCPDUMP is not None
    run = subprocess.run([TCPDUMP, "-r", str(path), "-n", *args], capture_output=True, text=True, timeout=20,
                         check=True)
    # tcpdump names what it recognises in the payload (": HTTP" on port 80); the stack's lines do not.
    return [re.sub(r"(length \d+):.*$", r"\1", line) for line in run.stdout.splitlines()]


def test_file_layout_and_packets_read_back(tmp_path: Path) -> None:
    rec = recorded()
    path = tmp_path / "client.pcap"
    assert write_pcap(path, rec, "client") == 11
    header, records = parse_pcap(path.read_bytes())
    assert header == (0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RAW)
    segs = [e for e in rec.segments("client")]
    assert len(records) == len(segs)
    for (sec, usec, incl, orig, pkt), event in zip(records, segs, strict=True):
        assert incl == orig == len(pkt)
        assert sec + usec / 1e6 == pytest.approx(event.time, abs=1e-6)
        assert parse_tcp_packet(pkt) == event.segment  # every field, options and payload included
    linktype, packets = read_pcap(path)
    assert linktype == LINKTYPE_RAW and [p for _, p in packets] == [r[4] for r in records]


def test_wire_capture_has_every_segment_sent(tmp_path: Path) -> None:
    p = EnginePair()
    rec = Recorder().watch(p)
    FaultInjector(["drop:dir=out,flags=F,nth=1"], observer=rec.host("client")).attach(p)
    full_life(p)
    wire = tmp_path / "wire.pcap"
    host = tmp_path / "server.pcap"
    assert write_pcap(wire, rec, wire=True) == len(p.wire) == 12
    # The server never saw the lost FIN: its capture is one packet short in that direction.
    assert write_pcap(host, rec, "server") == 11
    wire_segs = [parse_tcp_packet(pkt) for _, pkt in read_pcap(wire)[1]]
    assert wire_segs == [e.seg for e in p.wire]


def test_snaplen_cuts_packets_but_keeps_their_length() -> None:
    buf = io.BytesIO()
    writer = PcapWriter(buf, snaplen=40, linktype=LINKTYPE_IPV4)
    seg = Segment(ip_int("198.18.0.1"), ip_int("198.18.0.2"), 1, 2, 100, 200, ACK, 1000, b"z" * 100)
    writer.write_segment(seg, 1.5)
    writer.close()
    header, [(sec, usec, incl, orig, pkt)] = parse_pcap(buf.getvalue())
    assert header[5:] == (40, LINKTYPE_IPV4)
    assert (sec, usec, incl, orig) == (1, 500_000, 40, 140) and pkt == build_tcp_packet(seg)[:40]


def test_writer_as_a_packet_hook() -> None:
    buf = io.BytesIO()
    writer = PcapWriter(buf, offset=1000.0)
    seen: list[str] = []
    hook = tee(writer, lambda d, pkt, now: seen.append(d), None)
    assert hook is not None and tee(None) is None and tee(writer) is writer
    pkt = build_tcp_packet(Segment(ip_int("198.18.0.1"), ip_int("198.18.0.2"), 1, 2, 3, 4, ACK, 5))
    hook("in", pkt, 0.25)
    hook("out", memoryview(pkt), 0.9999996)  # rounds up into the next second
    wall_buf = io.BytesIO()
    wall = PcapWriter(wall_buf, wall_clock=True)
    before = time.time()
    wall("out", pkt, 12.0)
    _, [(sec, usec, *_rest)] = parse_pcap(wall_buf.getvalue())
    assert before - 1 <= sec + usec / 1e6 <= time.time() + 1
    assert seen == ["in", "out"] and writer.count == 2
    _, packets = read_pcap(buf.getvalue())
    assert [t for t, _ in packets] == [1000.25, 1001.0]


def test_read_pcap_refuses_other_files() -> None:
    with pytest.raises(ValueError, match="not a pcap file"):
        read_pcap(b"\x0a\x0d\x0d\x0a" + bytes(40))
    with pytest.raises(ValueError, match="shorter than its header"):
        read_pcap(b"abc")


@needs_tcpdump
def test_tcpdump_reads_the_file(tmp_path: Path) -> None:
    rec = recorded()
    for linktype in (LINKTYPE_RAW, LINKTYPE_IPV4):
        path = tmp_path / f"client-{linktype}.pcap"
        write_pcap(path, rec, "client", linktype=linktype)
        lines = tcpdump(path)
        assert len(lines) == 11
        assert all(" IP 198.18.0." in line for line in lines)


@needs_tcpdump
def test_our_lines_are_tcpdumps_lines(tmp_path: Path) -> None:
    """tcpdump -tt on the pcap prints, line for line, what tcpdump_lines makes of the trace."""
    rec = recorded()
    path = tmp_path / "client.pcap"
    write_pcap(path, rec, "client")
    assert tcpdump(path, "-tt") == tcpdump_lines(rec, "client")
    assert tcpdump(path, "-tt", "-S") == tcpdump_lines(rec, "client", relative=False)
    wire = tmp_path / "wire.pcap"
    write_pcap(wire, rec, wire=True)
    assert tcpdump(wire, "-tt") == tcpdump_lines(rec, wire=True)


def test_relative_numbers_follow_tcpdumps_rule() -> None:
    rec = recorded()
    lines = tcpdump_lines(rec, "client")
    syn, synack, ack, data = lines[:4]
    assert syn.startswith("0.000000 ") and re.search(r"Flags \[S\], seq \d{4,}", syn)  # absolute
    assert re.search(r"Flags \[S\.\], seq \d{4,}, ack \d{4,}", synack)  # absolute, sets the bases
    assert "Flags [.], ack 1, win" in ack
    assert "Flags [P.], seq 1:101, ack 1, win" in data
    assert "Flags [F.], seq 101, ack 301," in lines[7]
    # SACK edges are the acked side's numbers, so relative to its base like ack.
    rel = RelativeSeq()
    a, b = ip_int("10.0.0.1"), ip_int("10.0.0.2")
    describe_segment(Segment(a, b, 1000, 80, 5000, 9001, ACK, 100), rel)
    line = describe_segment(Segment(b, a, 80, 1000, 9001, 5001, ACK, 100, sack=((5101, 5201),)), rel)
    assert "ack 1," in line and "sack 1 {101:201}" in line
    assert stamp(1.0000004) == "1.000000" and stamp(2.5) == "2.500000"
